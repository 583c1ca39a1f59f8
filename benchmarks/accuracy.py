"""Accuracy of every model-zoo entry on every offline dataset: the float model, and each target's Program.

    python -m benchmarks.accuracy [--quick] [--datasets digits ...]   (also part of ``python -m benchmarks``)

Per (entry, dataset): ``snncli train`` with the entry's recipe (``configs/``; fewer
epochs with ``--quick``), then ``snncli parity`` on the whole test split for every
registered target but ``nir`` (the float arithmetic again): torch's accuracy, the
target's accuracy in hwsim, the drop, how often predictions agree, and whether the
vendor's simulator (Lava, Sinabs, ONNX Runtime; the first samples) gave hwsim's spikes.
A model no chip can run (PSN, Spikformer) or a network a chip refuses is recorded with
the refusal's one line.  Datasets that cannot be loaded here are listed as such.
This folds in the former ``loihi_accuracy.py`` and ``train_fashion_mnist.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = ("digits", "mnist-5k", "fashion-mnist", "digits-dvs", "fashion-mnist-dvs")
# entry -> (recipe, settings for every run, settings added with --quick)
# the cnn is the Speck recipe on Poisson spikes (Speck takes events, not analog pixels); the mlp's LIF with
# reset to zero is what Loihi runs.
ZOO = {
    "mlp": ("digits_mlp.yaml", {}, {"epochs": 2, "limit_train": 800}),
    "cnn": ("speck_cnn_digits.yaml", {"encoder": "poisson"}, {"epochs": 2, "limit_train": 600}),
    "mlp-psn": ("digits_mlp.yaml", {"neuron": "psn"}, {"epochs": 3, "limit_train": 800}),
    "spikformer": (
        "spikformer_tiny.yaml",
        {},
        {"epochs": 1, "limit_train": 300, "time_steps": 2, "embed_dim": 32, "depth": 1, "num_heads": 2},
    ),
}
QUICK_TEST = 200  # --quick: parity on the first test samples
BIG = {"fashion-mnist": {"epochs": 6, "batch_size": 128}, "mnist-5k": {"epochs": 8}}  # full mode on larger sets
VENDOR_SAMPLES = {"loihi": 3, "speck": 3}  # vendor simulators are slow: the first N samples (others: all)


def _args(settings: dict) -> list[str]:
    from snncli.core.files import to_jsonable

    return [a for k, v in settings.items() for a in ("--set", f"{k}={json.dumps(to_jsonable(v))}")]


def _train(entry: str, dataset: str, run: Path, quick: bool) -> dict:
    from snncli.cli import main

    recipe, settings, fast = ZOO[entry]
    quick_settings = {**fast, "limit_test": QUICK_TEST}  # the test samples parity uses too
    settings = {**settings, "dataset": dataset, **(quick_settings if quick else BIG.get(dataset, {}))}
    argv = [
        "train",
        "--run-dir",
        str(run),
        "--config",
        str(ROOT / "configs" / recipe),
        "--no-progress",
        *_args(settings),
        "--json",
        str(run.parent / f"{run.name}.train.json"),
    ]
    t0 = time.perf_counter()
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    if code != 0:
        return {"command": "snncli " + " ".join(argv), "failed": err.getvalue().strip() or f"exit code {code}"}
    result = json.loads((run.parent / f"{run.name}.train.json").read_text())
    return {
        "command": "snncli " + " ".join(argv),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "float_test_accuracy": result["accuracy"],
    }


def _parity(run: Path, target: str, limit: int | None) -> dict:
    from snncli.commands.parity import ParityRequest, parity
    from snncli.errors import SnnCliError

    vendor = VENDOR_SAMPLES.get(target, 10**6)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            r = parity(ParityRequest(str(run), target, reference_limit=vendor, tolerance=100.0, limit=limit))
    except SnnCliError as exc:
        return {"refused": str(exc)}
    ref = r.reference or {}
    return {
        "accuracy_torch": r.accuracy["torch"],
        "accuracy_hwsim": r.accuracy["hwsim"],
        "drop_pp": round(r.accuracy_drop_pp, 3),
        "prediction_agreement": round(r.prediction_agreement, 4),
        "vendor_identical_spikes": ref.get("identical_spikes"),
        "vendor_samples": ref.get("samples"),
        "seconds": round(r.seconds, 1),
    }


def _available(dataset: str) -> str | None:
    from snncli.data import load_dataset
    from snncli.errors import SnnCliError

    try:
        load_dataset(dataset)
    except SnnCliError as exc:
        return str(exc)
    return None


def run(quick: bool = False, datasets: tuple[str, ...] | None = None, work: str | None = None) -> dict:
    from snncli.targets import TARGETS

    datasets = datasets or (("digits",) if quick else OFFLINE)
    targets = [name for name in TARGETS if name != "nir"]
    out: dict = {
        "targets": targets,
        "datasets": {},
        "work": None if work is None else str(work),
        "test_samples": f"the first {QUICK_TEST}" if quick else "all",
        "zoo": {k: {"recipe": f"configs/{r}", "settings": s, "quick": q} for k, (r, s, q) in ZOO.items()},
    }
    root = Path(work or tempfile.mkdtemp(prefix="snncli-accuracy-"))
    root.mkdir(parents=True, exist_ok=True)
    for dataset in datasets:
        missing = _available(dataset)
        if missing:
            out["datasets"][dataset] = {"unavailable": missing}
            continue
        rows = {}
        for entry in ZOO:
            run_dir = root / f"{dataset}-{entry}"
            row = _train(entry, dataset, run_dir, quick)
            if "failed" not in row:
                limit = QUICK_TEST if quick else None
                row["targets"] = {target: _parity(run_dir, target, limit) for target in targets}
            rows[entry] = row
            print(
                json.dumps(
                    {
                        dataset: {
                            entry: {
                                "float": row.get("float_test_accuracy"),
                                **{t: v.get("accuracy_hwsim", "refused") for t, v in row.get("targets", {}).items()},
                            }
                        }
                    }
                ),
                flush=True,
            )
        out["datasets"][dataset] = rows
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--datasets", nargs="+", choices=OFFLINE)
    parser.add_argument("--work", help="directory for the runs (default: a temporary one)")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, tuple(args.datasets or ()) or None, args.work), indent=1))
