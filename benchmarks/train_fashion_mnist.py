"""Accuracy benchmark: spiking MLP 784-500-10 on Fashion-MNIST (official 60k/10k split).

    python benchmarks/train_fashion_mnist.py [--run-dir DIR]

Trains with ``snncli.trainer.train`` and writes
``benchmarks/results/fashion_mnist_mlp.json``: command, resolved config, the
validation split, the selected checkpoint (best validation accuracy) with its
validation and test accuracy (the test split is evaluated once, on that
checkpoint), training time and the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from snncli.trainer.config import load_config
from snncli.trainer.train import train

CONFIG = {
    "dataset": "fashion-mnist",
    "model": "mlp",
    "hidden": [500],
    "neuron": "lif",
    "beta": 0.95,
    "reset": "subtract",
    "encoder": "direct",
    "time_steps": 8,
    "epochs": 15,
    "batch_size": 128,
    "lr": 2e-3,
}
RESULT = Path(__file__).parent / "results" / "fashion_mnist_mlp.json"


def machine() -> dict:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", help="where the run goes (default: a temporary directory, deleted afterwards)")
    args = parser.parse_args()
    cfg = load_config(None, CONFIG)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = train(cfg, Path(args.run_dir or Path(tmp) / "run"))
        wall = time.perf_counter() - t0
    result = {
        "command": " ".join(["python", *sys.argv]),
        "config": cfg.to_dict(),
        "test_accuracy": summary["test_accuracy"],
        "val_accuracy": summary["val_accuracy"],
        "selection": summary["selection"],
        "validation": summary["validation"],
        "train_seconds": round(summary["seconds"], 1),
        "wall_seconds": round(wall, 1),
        "firing_rate": summary["firing_rate"],
        "parameters": summary["parameters"],
        "machine": machine(),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(
        json.dumps(
            {k: result[k] for k in ("test_accuracy", "val_accuracy", "selection", "train_seconds", "wall_seconds")}
        )
    )


if __name__ == "__main__":
    main()
