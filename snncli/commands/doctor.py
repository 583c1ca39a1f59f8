"""``snncli doctor``: which packages, datasets, targets and devices this machine has."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
from dataclasses import dataclass

PACKAGES = {
    "torch": "training, the trained model",
    "spikingjelly": "neurons, surrogates, NIR export",
    "nir": "graph format",
    "nirtorch": "graph tracing",
    "tonic": "event datasets",
    "neurobench": "cross-check of operation counts",
}  # plus what each target declares it uses


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
    """Each registered target and whether it can lower, write and reference-check here."""
    from snncli.targets import TARGETS

    status = {}
    for name, target in TARGETS.items():
        try:
            status[name] = target.status()
        except ImportError as exc:
            status[name] = f"unavailable: {exc}"
    return status


@dataclass
class DoctorResult:
    sections: dict[str, dict[str, str]]

    def to_json(self) -> dict:
        return {"command": "doctor", **self.sections}


def doctor() -> DoctorResult:
    from snncli.targets import TARGETS

    wanted = dict(PACKAGES)
    for target in TARGETS.values():
        wanted.update({name: f"{target.name}: {use}" for name, use in target.packages.items()})
    packages = {name: f"{_version(name)}  ({use})" for name, use in wanted.items()}
    devices = {"python": platform.python_version(), "cpu cores": str(os.cpu_count())}
    try:
        import torch

        if torch.cuda.is_available():
            devices["cuda"] = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        else:
            devices["cuda"] = "none (training and parity run on the CPU)"
    except ImportError:
        devices["cuda"] = "torch not installed"
    return DoctorResult({"devices": devices, "packages": packages, "datasets": datasets(), "targets": targets()})
