"""Diagnostic: is post-training quantization at its limit?  Scan per-layer Loihi scales.

    python benchmarks/loihi_scale_scan.py RUN [--steps 2]

Lowers RUN's NIR graph with the calibrated scale search (256 training samples, as
``snncli export`` does), then rebuilds the program with every combination of
per-layer scales ``q * 2**(k/4)``, ``|k| <= steps``, and scores each against the
float model on the calibration samples, on the other training samples and on the
test split.  Writes ``benchmarks/results/loihi_scale_scan.json``: every combination,
the search's pick, and the correlations between those scores.  Reaches into the
Loihi target's internals (its stages and ``_quantize``) on purpose: it audits them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from train_fashion_mnist import machine  # noqa: E402

from snncli.export.run import encoded_samples, run_to_nir  # noqa: E402
from snncli.hwsim.simulate import Simulator, output_window, pad_for_latency  # noqa: E402
from snncli.targets import float as float_target  # noqa: E402
from snncli.targets import loihi  # noqa: E402
from snncli.targets.graph import ordered_nodes  # noqa: E402
from snncli.targets.loihi.input_encoding import _input_encoding  # noqa: E402
from snncli.targets.loihi.lowering import _build_program  # noqa: E402
from snncli.targets.loihi.quantize import _quantize  # noqa: E402
from snncli.targets.loihi.structure import _structure  # noqa: E402

RESULT = Path(__file__).parent / "results" / "loihi_scale_scan.json"
CALIBRATION = 256


def predictions(program, x):
    steps = x.shape[0]
    result = Simulator(program).run(pad_for_latency(program, x))
    return result.predictions(output_window(program, steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory written by `snncli train`")
    parser.add_argument("--steps", type=int, default=2, help="quarter-octave steps each way per layer (default 2)")
    args = parser.parse_args()

    graph = run_to_nir(args.run)
    x_train, y_train = encoded_samples(args.run, "train", limit=None)
    x_test, y_test = encoded_samples(args.run, "test", limit=None)
    calibration = x_train[:, :CALIBRATION]
    searched = loihi.lower(graph, calibration=calibration)
    dt = searched.dt
    float_program = float_target.lower(graph, dt=dt)
    f_train, f_test = predictions(float_program, x_train), predictions(float_program, x_test)
    input_node, stages, output_node = _structure(ordered_nodes(graph), dt, "auto", [])
    encoding = _input_encoding(graph, calibration, [])
    input_scale = searched.metadata["input"]["input_scale"]
    sigma = {input_node.name: input_scale or 1.0}
    q_pick = {st.name: searched.scales[st.name] / 64 for st in stages}

    rows = []
    ks = range(-args.steps, args.steps + 1)
    for combo in itertools.product(ks, repeat=len(stages)):
        quant = {st.name: _quantize(st, q_pick[st.name] * 2 ** (k / 4), sigma) for st, k in zip(stages, combo)}
        program = _build_program(input_node, stages, output_node, quant, input_scale, dt, "auto", encoding, [], {})
        p_train, p_test = predictions(program, x_train), predictions(program, x_test)
        rows.append({
            "k": list(combo),
            "agreement_calibration": float(np.mean(p_train[:CALIBRATION] == f_train[:CALIBRATION])),
            "agreement_heldout_train": float(np.mean(p_train[CALIBRATION:] == f_train[CALIBRATION:])),
            "agreement_test": float(np.mean(p_test == f_test)),
            "accuracy_test": float(np.mean(p_test == y_test)),
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    keys = ["agreement_calibration", "agreement_heldout_train", "agreement_test", "accuracy_test"]
    table = np.array([[row[k] for k in keys] for row in rows])
    pick = next(row for row in rows if not any(row["k"]))
    result = {
        "benchmark": "loihi_scale_scan",
        "machine": machine(),
        "command": f"python benchmarks/loihi_scale_scan.py {args.run} --steps {args.steps}",
        "run": str(args.run),
        "float_accuracy_test": float(np.mean(f_test == y_test)),
        "samples": {"calibration": CALIBRATION, "heldout_train": int(x_train.shape[1] - CALIBRATION),
                    "test": int(x_test.shape[1])},
        "search_pick": pick,
        "pick_rank_by_heldout_agreement": 1 + sum(row["agreement_heldout_train"] > pick["agreement_heldout_train"]
                                                  for row in rows),
        "range": {k: [float(table[:, i].min()), float(table[:, i].max())] for i, k in enumerate(keys)},
        "correlation": {f"{a} ~ {b}": float(np.corrcoef(table[:, i], table[:, j])[0, 1])
                        for i, a in enumerate(keys) for j, b in enumerate(keys) if i < j},
        "combinations": rows,
    }  # fmt: skip
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
