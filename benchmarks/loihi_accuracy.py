"""Accuracy benchmark: float model vs its Loihi 2 program (hwsim, checked against Lava).

    python benchmarks/loihi_accuracy.py [--work DIR] [--only NAME ...]

For each case: ``snncli train`` (or fine-tune with ``--init-from``), then ``snncli
parity RUN --target loihi`` on the whole test split, Lava on the first 10 test
samples.  Writes ``benchmarks/results/loihi_accuracy.json``: per case the commands,
float and Loihi accuracy, the drop in percentage points, prediction agreement,
per-layer spike match, and whether Lava's spikes equal hwsim's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_fashion_mnist import machine  # noqa: E402

from snncli.cli import main as snncli  # noqa: E402

RESULT = Path(__file__).parent / "results" / "loihi_accuracy.json"
CNN = ["--model", "cnn", "--neuron", "if", "--set", "bias=false"]
# name -> (train arguments after --run-dir, or ("init_from", source case, arguments))
CASES = {
    "digits_mlp": [],
    "digits_cnn": CNN,
    "digits_cnn_qat": ("digits_cnn", ["--qat-bits", "8", "--epochs", "3", "--lr", "5e-4"]),
    "fashion_mlp": ["--dataset", "fashion-mnist", "--epochs", "8", "--batch-size", "128"],
    "fashion_cnn": ["--dataset", "fashion-mnist", *CNN, "--set", "channels=[8, 16]", "--set", "limit_train=10000",
                    "--epochs", "6", "--batch-size", "64"],
}


def run_case(name: str, work: Path) -> dict:
    spec = CASES[name]
    run = work / name
    if isinstance(spec, tuple):
        source, extra = spec
        train_args = ["train", "--run-dir", str(run), "--init-from", str(work / source), *extra]
    else:
        train_args = ["train", "--run-dir", str(run), *spec]
    t0 = time.perf_counter()
    if snncli([*train_args, "--no-progress"]) != 0:
        raise SystemExit(f"training {name} failed")
    seconds = time.perf_counter() - t0
    parity_args = ["parity", str(run), "--target", "loihi", "--reference-limit", "10", "--tolerance", "0.5",
                   "--json", str(work / f"{name}.parity.json")]
    code = snncli(parity_args)
    result = json.loads((work / f"{name}.parity.json").read_text())
    return {
        "commands": ["snncli " + " ".join(train_args), "snncli " + " ".join(parity_args)],
        "train_seconds": round(seconds, 1),
        "test_samples": result["samples"],
        "accuracy_float": result["accuracy"]["torch"],
        "accuracy_loihi": result["accuracy"]["hwsim"],
        "drop_pp": round(result["accuracy_drop_pp"], 4),
        "within_0_5_pp": code == 0,
        "prediction_agreement": result["prediction_agreement"],
        "spike_match_per_layer": {layer["name"]: layer["spike_match_rate"] for layer in result["layers"]},
        "lava_identical_spikes": result["reference"]["identical_spikes"],
        "lava_samples": result["reference"]["samples"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="directory for the runs (default: a temporary one)")
    parser.add_argument("--only", nargs="+", choices=list(CASES), help="run only these cases (default: all)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="loihi-accuracy-"))
    names = args.only or list(CASES)
    results = json.loads(RESULT.read_text())["cases"] if RESULT.exists() else {}
    for name in names:
        results[name] = run_case(name, work)
        print(json.dumps({name: {k: results[name][k] for k in ("accuracy_float", "accuracy_loihi", "drop_pp")}}))
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps({"benchmark": "loihi_accuracy", "machine": machine(), "cases": results}, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
