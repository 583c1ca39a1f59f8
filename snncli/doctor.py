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


def datasets() -> dict[str, str]:
    """Each dataset with whether it can be loaded here (offline ones are tried for real)."""
    from snncli.data.datasets import EVENT_DATASETS, list_datasets, load_dataset
    from snncli.errors import SnnCliError

    status = {}
    for name, description in list_datasets().items():
        if name in ("digits", "fashion-mnist", "mnist-5k"):
            try:
                data = load_dataset(name)
                status[name] = f"available ({len(data.train_y)} train / {len(data.test_y)} test)"
            except SnnCliError as exc:
                status[name] = f"missing: {exc}"
        else:
            needs = "tonic" if name in EVENT_DATASETS else "torchvision"
            status[name] = f"download with --data-root (needs internet and {needs}): {description}"
    return status


def targets() -> dict[str, str]:
    """Each target's module imports; the Loihi one also needs a working Lava for ``reference``."""
    import importlib

    from snncli.targets import TARGETS
    from snncli.targets.lava_reference import lava_problem

    status = {}
    for name, module in TARGETS.items():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            status[name] = f"unavailable: {exc}"
            continue
        status[name] = "available"
        if name == "loihi":
            problem = lava_problem()
            status[name] += "; Lava reference: " + ("ok (parity checks against Lava)" if problem is None else problem)
    return status


def collect() -> dict[str, dict[str, str]]:
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
        "datasets": datasets(),
        "targets": targets(),
    }
