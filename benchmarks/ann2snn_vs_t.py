"""ANN-to-SNN conversion: accuracy of the converted SNN against the number of time steps T.

    python benchmarks/ann2snn_vs_t.py --datasets digits
    python benchmarks/ann2snn_vs_t.py --datasets fashion-mnist      # each under 10 minutes on 2 cores

For digits and Fashion-MNIST, models mlp (64-500-10 / 784-500-10) and cnn
(channels 16, 32), :func:`snncli.trainer.convert.convert` trains the ReLU network
once (``ann_epochs``), converts it with SpikingJelly's ``Converter`` for each
normalisation mode (``max`` and ``99.9%``: the ANN is reused through
``ann_checkpoint``), and writes each converted run.  Fashion-MNIST uses the first
``--fashion-train`` training images (ANN training and calibration) and the first
``--fashion-test`` test images, for time.  Each run is then reloaded
with ``load_trained`` and evaluated at every T in ``--steps`` in one pass of
``max(T)`` steps (:func:`accuracy_by_steps`: with direct encoding the first T
steps of a longer run are the run of T steps; the value at ``max(T)`` is checked
against what ``convert`` itself reported).  Writes
``benchmarks/results/ann2snn.json``; rows of the datasets run replace their
earlier rows there, others are kept.
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

from snncli.data import load_dataset
from snncli.trainer.config import ann2snn_mode, load_config
from snncli.trainer.convert import accuracy_by_steps, convert
from snncli.trainer.train import limit, load_trained

RESULT = Path(__file__).parent / "results" / "ann2snn.json"
MODES = ({"ann2snn_mode": "max"}, {"ann2snn_mode": "percentile", "ann2snn_value": 99.9})  # "max", "99.9%"


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo")
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if cpuinfo.exists()
        else platform.processor()
    )
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0)),
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def experiments(args) -> list[dict]:
    common = {"device": "cpu", "seed": 0, "bias": True, "hidden": [500], "channels": [16, 32]}
    per_dataset = {
        "digits": {"ann_epochs": args.digits_epochs, "batch_size": 32, "lr": 3e-3},
        "fashion-mnist": {
            "ann_epochs": args.fashion_epochs,
            "batch_size": 64,
            "lr": 2e-3,
            "limit_train": args.fashion_train,
            "limit_test": args.fashion_test,
        },
    }
    return [{**common, **per_dataset[d], "dataset": d, "model": m} for d in args.datasets for m in ("mlp", "cnn")]


def run_one(settings: dict, steps: list[int], workdir: Path) -> list[dict]:
    rows, ann_path = [], None
    for mode_keys in MODES:
        cfg = load_config(None, {**settings, "time_steps": max(steps), **mode_keys})
        mode = ann2snn_mode(cfg)  # SpikingJelly's spelling: "max", "99.9%"
        run = workdir / f"{settings['dataset']}_{settings['model']}_{str(mode).replace('%', 'pct')}"
        t0 = time.perf_counter()
        summary = convert(cfg, run, ann_checkpoint=ann_path, progress=True)
        ann_path = ann_path or summary["ann_checkpoint"]
        model, loaded, _ = load_trained(run)
        ds = limit(load_dataset(loaded.dataset, loaded.data_root, loaded.seed), loaded)
        by_steps, rates = accuracy_by_steps(model, ds.test_x, ds.test_y, steps, "cpu")
        if abs(by_steps[max(steps)] - summary["test_accuracy"]) > 1e-12:
            raise SystemExit(f"{run}: accuracy at T={max(steps)} differs between convert and the reloaded run")
        rows.append(
            {
                "dataset": loaded.dataset,
                "model": loaded.model,
                "recipe_mode": mode,
                "ann_epochs": settings["ann_epochs"],
                "ann_batch_size": settings["batch_size"],
                "ann_lr": settings["lr"],
                "ann_test_accuracy": summary["ann_test_accuracy"],
                "snn_test_accuracy": {str(t): acc for t, acc in sorted(by_steps.items())},
                "firing_rate": rates["mean"],
                "train_samples": len(ds.train_y),
                "test_samples": len(ds.test_y),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(
            json.dumps(
                {k: rows[-1][k] for k in ("dataset", "model", "recipe_mode", "ann_test_accuracy", "snn_test_accuracy")}
            ),
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--digits-epochs", type=int, default=30, help="ANN epochs on digits (1437 training images)")
    parser.add_argument("--fashion-epochs", type=int, default=3, help="ANN epochs on Fashion-MNIST")
    parser.add_argument(
        "--fashion-train",
        type=int,
        default=10000,
        help="train and calibrate on the first N of Fashion-MNIST's 60k training images (time)",
    )
    parser.add_argument(
        "--fashion-test",
        type=int,
        default=2000,
        help="evaluate the Fashion-MNIST SNNs on the first N of the 10k test images (time)",
    )
    parser.add_argument(
        "--datasets", nargs="+", default=["digits", "fashion-mnist"], choices=("digits", "fashion-mnist")
    )
    parser.add_argument("--output", default=str(RESULT))
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for settings in experiments(args):
            rows += run_one(settings, args.steps, Path(tmp))
    out = Path(args.output)
    previous = json.loads(out.read_text()) if out.is_file() else {}
    kept = [r for r in previous.get("results", []) if r["dataset"] not in args.datasets]
    runs = {
        **previous.get("runs", {}),
        **{
            d: {
                "command": " ".join(["python", *sys.argv]),
                "seconds": round(time.perf_counter() - t0, 1),
                "machine": machine(),
                "load_average_1min_at_end": os.getloadavg()[0],
            }
            for d in args.datasets
        },
    }
    result = {
        "what": "test accuracy of the converted SNN (IF, threshold 1, reset by subtraction, direct input) "
        "after T steps, vs the ReLU network it was converted from (argmax of its ReLU'd output)",
        "converter": "spikingjelly.activation_based.ann2snn.Converter(RateCodingRecipe(recipe_mode)), "
        "scales folded into the weights (snncli.trainer.convert); recipe_mode max is config "
        "ann2snn_mode max, 99.9% is ann2snn_mode percentile with ann2snn_value 99.9",
        "ann_training": "Adam, cosine schedule, ann_epochs/batch size/lr per row; the ANN is trained and "
        "calibrated on the rows' train_samples",
        "test_sets": "digits: its 360-image stratified test split (seed 0); Fashion-MNIST: the first "
        "test_samples of the official 10k test images",
        "results": kept + rows,
        "runs": runs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out} ({round(time.perf_counter() - t0, 1)} s)")


if __name__ == "__main__":
    main()
