"""``snncli export RUN``: a trained run -> NIR graph (or the float Program lowered from it)."""

from __future__ import annotations

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
        "time_steps": int(steps),
        "model": cfg.model,
        "num_classes": int(info["num_classes"]),
        "dt": dt,
    }
    return model_to_nir(model, example, dt=dt, metadata=metadata)


def export_run(run_dir: str, output: str, target: str = "nir", dt: float = 1e-4, checkpoint: str = "best") -> dict:
    graph = run_to_nir(run_dir, dt=dt, checkpoint=checkpoint)
    if target == "nir":
        write_nir(graph, output)
    elif target == "float":
        from snncli.targets import float as float_target

        float_target.lower(graph, dt=dt).save(output)
    else:
        raise SnnCliError(f"unknown export target {target!r}")
    return {"run": str(run_dir), "output": str(output), "target": target, "nodes": len(graph.nodes), "dt": dt}
