"""Accuracy benchmark: float model vs its Speck program (hwsim, checked against Sinabs), on event data.

    python -m benchmarks.speck_accuracy [--work DIR] [--only NAME ...] [--reuse]

For each case: ``snncli train`` (or fine-tune with ``--init-from``: quantization-aware
training, ``--qat-bits 8``), then ``snncli parity RUN --target speck`` on the whole
test split (the Speck program lowered with the calibrated scale search: post-training
quantization, or the QAT lattice it detects), Sinabs' discretized DynapcnnNetwork on
the first 20 test samples.  The data are snncli's simulated DVS recordings
(``digits-dvs``: 1437 train / 360 test; ``fashion-mnist-dvs``: a 5000-image training
subset for time, the whole 10000-image test split), binned into 10 frames of event
counts.  Writes ``benchmarks/results/speck_accuracy.json``: per case the commands,
float and Speck accuracy, the drop in percentage points, prediction agreement, the
spike match per layer, how each layer's scale was chosen, and whether Sinabs' spikes
equal hwsim's, and an ablation: the accuracy of the same Program with one spike per step
(Sinabs' ``SingleSpike``, not what the chip does), which separates the MultiSpike rule's
share of the drop from the quantization's.  ``--reuse``: keep the trained runs, parity
results and configurations ``--work`` already holds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from snncli.cli import main as snncli

RESULT = Path(__file__).parent / "results" / "speck_accuracy.json"
# Speck-shaped CNN: conv 3x3 -> IF -> sum pool 2, twice, then a linear readout; IF neurons reset by
# subtraction (Speck's default), no biases (Speck discourages its leak unit); 10 (or 30) frames of events
CNN = ["--model", "cnn", "--neuron", "if", "--reset", "subtract", "--set", "bias=false"]
QAT = ["--qat-bits", "8", "--epochs", "3", "--lr", "5e-4"]
CASES = {
    "digits_dvs_cnn": ["--dataset", "digits-dvs", *CNN, "--time-steps", "10", "--epochs", "15", "--batch-size", "32"],
    "digits_dvs_cnn_qat": ("digits_dvs_cnn", QAT),
    "fashion_dvs_cnn": [
        "--dataset",
        "fashion-mnist-dvs",
        *CNN,
        "--time-steps",
        "10",
        "--set",
        "channels=[8, 16]",
        "--set",
        "limit_train=5000",
        "--epochs",
        "5",
        "--batch-size",
        "64",
    ],
    "fashion_dvs_cnn_qat": ("fashion_dvs_cnn", ["--qat-bits", "8", "--epochs", "2", "--lr", "5e-4"]),
    # 30 frames: fewer events per pixel and step, so fewer steps where a neuron holds several thresholds
    "fashion_dvs_cnn_t30": [
        "--dataset",
        "fashion-mnist-dvs",
        *CNN,
        "--time-steps",
        "30",
        "--set",
        "channels=[8, 16]",
        "--set",
        "limit_train=5000",
        "--epochs",
        "5",
        "--batch-size",
        "64",
    ],
    "fashion_dvs_cnn_t30_qat": ("fashion_dvs_cnn_t30", ["--qat-bits", "8", "--epochs", "2", "--lr", "5e-4"]),
}
REFERENCE_SAMPLES = 20


def _trained(run: Path) -> bool:
    """A finished run: its metrics hold the test accuracy of the selected checkpoint."""
    metrics = run / "metrics.json"
    return metrics.exists() and json.loads(metrics.read_text()).get("test") is not None


def _snncli(args: list[str], output: Path, reuse: bool) -> float:
    """Run ``snncli args`` (unless ``reuse`` and ``output`` exists); its wall time in seconds, 0 if reused."""
    if reuse and output.exists():
        return 0.0
    t0 = time.perf_counter()
    if snncli(args) == 2:  # 1: parity past its tolerance, recorded in its JSON
        raise SystemExit(f"snncli {' '.join(args)} failed")
    return time.perf_counter() - t0


def single_spike_accuracy(run: Path, program_path: Path) -> float:
    """Accuracy of the same Speck Program with one spike per step (Sinabs' SingleSpike) on the whole test
    split: how much of the drop the MultiSpike rule causes.  An ablation, not what the chip does."""
    from dataclasses import replace

    import snncli.targets  # noqa: F401  (registers the speck_iaf neuron model Program.load reads)
    from snncli.commands.run import Run
    from snncli.core.program import Layer, Neuron, Program
    from snncli.hwsim.simulate import Simulator

    program = Program.load(program_path)
    single = program.with_layers(
        [
            Layer(
                layer.name,
                Neuron(replace(layer.neuron, multi_spike=False)),
                layer.in_shape,
                layer.out_shape,
                layer.inputs,
                layer.delayed_inputs,
            )
            if layer.kind == "neuron"
            else layer
            for layer in program.layers
        ]
    )
    x, y = Run(run).encoded("test")
    return float(np.mean(Simulator(single).run(x).predictions() == y))


def run_case(name: str, work: Path, reuse: bool) -> dict:
    spec = CASES[name]
    run = work / name
    if isinstance(spec, tuple):
        source, extra = spec
        train_args = ["train", "--run-dir", str(run), "--init-from", str(work / source), *extra]
    else:
        train_args = ["train", "--run-dir", str(run), *spec]
    if not (reuse and _trained(run)):
        _snncli([*train_args, "--no-progress"], run / "metrics.json", False)
    metrics = json.loads((run / "metrics.json").read_text())
    parity_json, config_json = work / f"{name}.parity.json", work / f"{name}.speck.json"
    parity_args = [
        "parity",
        str(run),
        "--target",
        "speck",
        "--reference-limit",
        str(REFERENCE_SAMPLES),
        "--tolerance",
        "0.5",
        "--json",
        str(parity_json),
    ]
    parity_seconds = _snncli(parity_args, parity_json, reuse)
    export_args = ["export", str(run), "--target", "speck", "-o", str(config_json)]
    _snncli(export_args, config_json, reuse)
    result, config = json.loads(parity_json.read_text()), json.loads(config_json.read_text())
    search = config["notes"]["scale_search"]["layers"]
    return {
        "commands": ["snncli " + " ".join(train_args), "snncli " + " ".join(parity_args),
                     "snncli " + " ".join(export_args)],
        "train_seconds": round(sum(e["seconds"] for e in metrics["epochs"]), 1),  # the epochs, as the run logged them
        "parity_seconds": round(parity_seconds, 1) or "reused",
        "float_test_accuracy_at_training": metrics["test"]["test_acc"],
        "test_samples": result["samples"],
        "accuracy_float": result["accuracy"]["torch"],
        "accuracy_speck": result["accuracy"]["hwsim"],
        "drop_pp": round(result["accuracy_drop_pp"], 4),
        "within_0_5_pp": result["accuracy_drop_pp"] <= 0.5,
        "prediction_agreement": result["prediction_agreement"],
        "spike_match_per_layer": {layer["name"]: layer["spike_match_rate"] for layer in result["layers"]},
        "count_cosine_per_layer": {layer["name"]: layer["count_cosine"] for layer in result["layers"]},
        "scales": {name: {"method": entry["method"], "scale": entry["scale"], "threshold": entry.get("threshold")}
                   for name, entry in search.items()},
        "cores": config["layer_to_core"],
        "sinabs_identical_spikes": result["reference"]["identical_spikes"],
        "sinabs_samples": result["reference"]["samples"],
        "ablation_accuracy_single_spike": single_spike_accuracy(run, Path(str(config_json) + ".program.npz")),
        "warnings": result["warnings"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="directory for the runs (default: a temporary one)")
    parser.add_argument("--only", nargs="+", choices=list(CASES), help="run only these cases (default: all)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep what --work already holds: trained runs, parity results, exported configurations",
    )
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="speck-accuracy-"))
    for name in args.only or list(CASES):
        case = run_case(name, work, args.reuse)
        print(json.dumps({name: {k: case[k] for k in ("accuracy_float", "accuracy_speck", "drop_pp")}}))
        results = json.loads(RESULT.read_text())["cases"] if RESULT.exists() else {}  # other cases kept
        if case["parity_seconds"] == "reused":  # a reused step keeps the time it took when it ran
            case["parity_seconds"] = results.get(name, {}).get("parity_seconds", "reused")
        results[name] = case
        RESULT.parent.mkdir(exist_ok=True)
        RESULT.write_text(json.dumps({"benchmark": "speck_accuracy", "machine": machine(), "cases": results},
                                     indent=2) + "\n")  # fmt: skip
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
