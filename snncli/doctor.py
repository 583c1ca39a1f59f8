"""``snncli doctor``: which backends, datasets and devices this machine has."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

PACKAGES = {
    "torch": "training, float model",
    "spikingjelly": "neurons, surrogates, NIR export",
    "nir": "graph format",
    "nirtorch": "graph tracing",
    "tonic": "event datasets",
    "neurobench": "cross-check of operation counts",
    "lava-nc": "Loihi reference simulation",
    "lava-dl": "Loihi netx artifacts",
    "sinabs": "Speck semantics",
    "samna": "SynSense devices (optional)",
    "onnx": "ONNX export",
    "onnxruntime": "ONNX execution",
}


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def collect() -> dict[str, dict[str, str]]:
    from snncli.data.datasets import available_datasets
    from snncli.targets import TARGETS

    packages = {name: f"{_version(name)}  ({use})" for name, use in PACKAGES.items()}
    devices = {"python": platform.python_version(), "cpu cores": str(os.cpu_count())}
    try:
        import torch

        if torch.cuda.is_available():
            devices["cuda"] = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        else:
            devices["cuda"] = "none (training and parity run on the CPU)"
    except ImportError:
        devices["cuda"] = "torch not installed"
    return {
        "devices": devices,
        "packages": packages,
        "datasets": available_datasets(),
        "targets": {name: "available" for name in TARGETS},
    }
