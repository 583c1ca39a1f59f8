"""A training run directory, opened once: config, models per checkpoint, graph, dataset splits.

Every command that starts from a run (export, simulate a run's graph, parity) reads it
through one :class:`Run`, which loads each piece on first use and keeps it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from snncli.core.physics import DEFAULT_DT, check_dt
from snncli.errors import SnnCliError
from snncli.nirgraph.check import CheckedGraph

CHECKPOINTS = ("best", "last")
CALIBRATION_SAMPLES = 256


class Run:
    """The directory ``snncli train`` wrote (``config.yaml``, ``checkpoints/``, ``metrics.json``)."""

    def __init__(self, path: str | Path):
        from snncli.trainer.config import load_config

        self.path = Path(path)
        if not self.path.is_dir():
            raise SnnCliError(f"run directory not found: {self.path} (train one with `snncli train --run-dir DIR`)")
        if not (self.path / "config.yaml").is_file():
            raise SnnCliError(
                f"{self.path} is not a training run (no config.yaml); pass the directory `snncli train` wrote"
            )
        self.config = load_config(self.path / "config.yaml")
        self._models: dict = {}
        self._graphs: dict = {}
        self._data = None

    def __str__(self) -> str:
        return str(self.path)

    def model(self, which: str = "best", device: str | torch.device = "cpu"):
        """``(torch model in eval mode, dataset info)`` of checkpoint ``which``."""
        from snncli.trainer.train import load_trained

        if which not in CHECKPOINTS:
            raise SnnCliError(f"checkpoint {which!r} does not exist; choose best or last")
        key = (which, str(device))
        if key not in self._models:
            model, _cfg, info = load_trained(self.path, which=which, device=device)
            self._models[key] = (model, info)
        return self._models[key]

    def graph(self, which: str = "best", dt: float = DEFAULT_DT) -> CheckedGraph:
        """The run's NIR graph, recording ``dt`` and how its input is encoded in ``metadata['snncli']``;
        a model NIR cannot express (PSN, Spikformer: the trainer says why) is refused before any work."""
        from snncli.export.torch_to_nir import model_to_nir
        from snncli.trainer.models import export_refusal

        reason = export_refusal(self.config)
        if reason:
            raise SnnCliError(reason)
        dt = check_dt(dt)
        key = (which, dt)
        if key not in self._graphs:
            model, info = self.model(which)
            cfg = self.config
            steps = info.get("time_steps") or cfg.time_steps
            metadata = {
                "dataset": cfg.dataset,
                "encoder": "frames" if info.get("time_steps") else cfg.encoder,
                "encoder_options": cfg.encoder_options(),
                "split_seed": cfg.seed,  # digits / mnist-5k draw their test split with the run's seed
                "time_steps": int(steps),
                "model": cfg.model,
                "num_classes": int(info["num_classes"]),
                "dt": dt,
                "reading": "spikingjelly",  # SpikingJelly's models fire at v >= v_threshold, start at v_reset
            }
            example = torch.zeros(int(steps), 1, *info["sample_shape"])
            self._graphs[key] = model_to_nir(model, example, dt=dt, metadata=metadata)
        return self._graphs[key]

    def dataset(self):
        from snncli.data import load_dataset

        if self._data is None:
            cfg = self.config
            self._data = load_dataset(cfg.dataset, data_root=cfg.data_root, seed=cfg.seed, time_steps=cfg.time_steps)
        return self._data

    def encoded(self, split: str = "test", limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(x [T, N, *shape] float64, labels)``: samples of the run's dataset, encoded as in training."""
        from snncli.data import encode_split

        cfg = self.config
        return encode_split(self.dataset(), split, cfg.encoder, cfg.time_steps, cfg.encoder_options(), limit, seed)

    def calibration(self) -> np.ndarray:
        """Encoded training samples for a target's scale search."""
        return self.encoded("train", limit=CALIBRATION_SAMPLES)[0]
