"""``snncli train``: settings from defaults < config file < flags, then the trainer.

Fine-tuning (``init_from``) keeps the source run's settings unless flags say
otherwise.  Under ``torchrun`` every rank trains; the CLI reports from rank 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from snncli.core.files import one_line
from snncli.errors import SnnCliError


@dataclass(frozen=True)
class TrainRequest:
    run_dir: str
    config: str | None = None  # YAML file
    overrides: dict = field(default_factory=dict)  # config key -> value given by a flag (None: not given)
    set_items: tuple[str, ...] = ()  # KEY=VALUE strings (YAML values)
    resume: bool = False
    progress: bool = True


@dataclass
class TrainResult:
    summary: dict
    model: str
    dataset: str

    @property
    def accuracy(self) -> float:
        return self.summary.get("test_accuracy", self.summary.get("best_test_acc"))

    def to_json(self) -> dict:
        return {"command": "train", "accuracy": self.accuracy, **self.summary}


def parse_set(items: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` pairs, values parsed as YAML (safe loader: no tags run)."""
    import yaml

    values = {}
    for item in items:
        if "=" not in item:
            raise SnnCliError(f"--set expects KEY=VALUE, got {one_line(item, 60)!r}")
        key, value = item.split("=", 1)
        try:
            values[key.strip().replace("-", "_")] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise SnnCliError(f"--set {key.strip()}: the value is not valid YAML ({one_line(exc, 100)})") from None
    return values


def train(req: TrainRequest):
    from snncli.trainer.config import load_config
    from snncli.trainer.train import train as run_training

    overrides = {k: v for k, v in req.overrides.items() if v is not None}
    overrides.update(parse_set(req.set_items))
    config = req.config
    if config is None and overrides.get("init_from"):  # fine-tuning keeps the source run's settings
        config = Path(overrides["init_from"]) / "config.yaml"
        if not config.is_file():
            raise SnnCliError(f"--init-from {overrides['init_from']} is not a training run (no config.yaml); "
                              "pass a directory `snncli train` wrote")
    cfg = load_config(config, overrides)
    return TrainResult(run_training(cfg, req.run_dir, resume=req.resume, progress=req.progress), cfg.model, cfg.dataset)
