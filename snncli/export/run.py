"""``snncli export RUN``: a trained run -> NIR graph (or the float Program lowered from it)."""

from __future__ import annotations

from pathlib import Path

import torch

from snncli.errors import SnnCliError
from snncli.export.nir_io import write_nir
from snncli.export.torch_to_nir import model_to_nir


def run_to_nir(run_dir: str, dt: float = 1e-4, checkpoint: str = "best"):
    """The NIR graph of a trained run, with how its input is encoded in ``metadata['snncli']``."""
    from snncli.trainer.train import load_trained

    model, cfg, info = load_trained(run_dir, which=checkpoint)
    steps = info.get("time_steps") or cfg.time_steps
    example = torch.zeros(int(steps), 1, *info["sample_shape"])
    metadata = {
        "dataset": cfg.dataset,
        "encoder": "frames" if info.get("time_steps") else cfg.encoder,
        "encoder_options": cfg.encoder_options(),
        "split_seed": cfg.seed,  # digits / mnist-5k draw their test split with the run's seed
        "time_steps": int(steps),
        "model": cfg.model,
        "num_classes": int(info["num_classes"]),
        "dt": dt,
    }
    return model_to_nir(model, example, dt=dt, metadata=metadata)


def encoded_samples(run_dir: str, split: str = "train", limit: int | None = 256, seed: int = 0):
    """``(x [T, N, *shape] float64, labels)``: samples of the run's dataset, encoded as in training."""
    from snncli.data import encode_split, load_dataset
    from snncli.trainer.config import load_config

    cfg = load_config(Path(run_dir) / "config.yaml")
    data = load_dataset(cfg.dataset, data_root=cfg.data_root, seed=cfg.seed, time_steps=cfg.time_steps)
    return encode_split(data, split, cfg.encoder, cfg.time_steps, cfg.encoder_options(), limit, seed)


def lower_run(run_dir: str, target: str, dt: float = 1e-4, checkpoint: str = "best", preset: str = "auto"):
    """``(graph, Program)``: the run's NIR graph lowered for ``target``; quantized targets
    calibrate their scales on encoded training samples."""
    from snncli.targets import lower

    graph = run_to_nir(run_dir, dt=dt, checkpoint=checkpoint)
    if target == "float":
        return graph, lower(graph, "float", dt)
    calibration, _ = encoded_samples(run_dir, "train")
    return graph, lower(graph, target, dt, preset=preset, calibration=calibration)


def export_run(run_dir: str, output: str, target: str = "nir", dt: float = 1e-4, checkpoint: str = "best",
               preset: str = "auto") -> dict:
    if target == "nir":
        graph = run_to_nir(run_dir, dt=dt, checkpoint=checkpoint)
        write_nir(graph, output)
        files = [str(output)]
    elif target == "float":
        graph, program = lower_run(run_dir, "float", dt, checkpoint)
        program.save(output)
        files = [str(output)]
    elif target == "loihi":
        from snncli.targets import loihi

        graph, program = lower_run(run_dir, "loihi", dt, checkpoint, preset)
        files = list(loihi.write(program, output))
        program.save(f"{output}.program.npz")
        files.append(f"{output}.program.npz")
    else:
        raise SnnCliError(f"unknown export target {target!r}")
    return {"run": str(run_dir), "output": str(output), "files": files, "target": target,
            "nodes": len(graph.nodes), "dt": dt}
