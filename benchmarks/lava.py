"""Speed and exactness: hwsim vs Intel Lava on the same Loihi Program and inputs.

    python -m benchmarks.lava [--quick]          (also part of ``python -m benchmarks``)

The network is the trainer's 64-500-10 LIF MLP on sklearn digits: the accuracy
benchmark's run when the suite passes it, else trained here (16 steps, direct input;
``--quick``: 3 epochs, else 15); lowered for ``loihi`` with the scale search on 200
training samples, and fed test digits (graded 8-bit input spikes) for its T steps plus
the Program's ``latency_steps`` flush steps.  Timed:

* hwsim: ``Simulator(program).run(x, record=True)`` (fan-out tables built inside the
  timing; the repeat with the least CPU time);
* Lava: the loihi target's ``reference(program, x)`` -- writes the netx HDF5, builds
  ``netx.hdf5.Network`` and runs every sample in ``Loihi2SimCfg(select_tag="fixed_pt")``
  (one compile, state reset between samples), reading every layer's spikes (the one-off
  Python import of lava/netx happens before the clock starts).

Recorded: both times in CPU seconds (Lava's worker processes included, once joined) and
wall seconds, their ratios, whether the spikes are identical in every layer and
step, spike counts, accuracy on these samples.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.clock import Timer


def trained_mlp(run_dir: Path, epochs: int, steps: int, samples: int):
    """(graph, calibration, test inputs, labels, extra) of a digits MLP: ``run_dir`` if it holds a run (the
    accuracy benchmark's), else one trained there."""
    from snncli.commands.run import Run
    from snncli.trainer.config import TrainConfig
    from snncli.trainer.train import train

    extra = {"run": str(run_dir)}
    if not (run_dir / "config.yaml").exists():
        summary = train(
            TrainConfig(dataset="digits", hidden=[500], time_steps=steps, epochs=epochs),
            run_dir,
            progress=False,
            log=None,
        )
        extra.update(trained_test_accuracy=summary["test_accuracy"], train_epochs=epochs)
    run = Run(run_dir)
    x, y = run.encoded("test", limit=samples)
    return run.graph(), run.encoded("train", limit=200)[0], x, y, extra


def run(quick: bool = False, run_dir: str | None = None) -> dict:
    from snncli.hwsim.simulate import Simulator, output_window, pad_for_latency
    from snncli.targets import get_target, lower, make_options
    from snncli.targets.loihi.lava_reference import import_netx, lava_problem

    problem = lava_problem()
    if problem is not None:
        return {"skipped": f"Lava cannot run here: {problem}"}
    samples, steps, repeats = (10, 16, 3) if quick else (20, 16, 5)
    loihi = get_target("loihi")
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(run_dir) if run_dir else Path(tmp) / "run"
        graph, calibration, x, y, extra = trained_mlp(where, 3 if quick else 15, steps, samples)
        program = lower(graph, "loihi", graph.metadata.get("dt", 1e-4), "nir", make_options(loihi, {}), calibration)
    window = output_window(program, x.shape[0])
    x = pad_for_latency(program, x)
    hw = []
    for _ in range(repeats):
        with Timer() as t:
            sim = Simulator(program).run(x, record=True)
        hw.append(t)
    t0 = time.perf_counter()
    import_netx()  # Python imports of lava/netx: once per process, not part of a run
    import_s = time.perf_counter() - t0
    marks: list[float] = []
    t0 = time.perf_counter()
    with Timer() as lava_t:
        lava = loihi.reference(program, x, progress=lambda n: marks.append(time.perf_counter()))
    layers, identical = {}, True
    for layer in program.neuron_layers:
        ours, theirs = (
            sim.records[layer.name]["out"],
            np.asarray(lava[layer.name]).reshape(sim.records[layer.name]["out"].shape),
        )
        same = bool(np.array_equal(ours, theirs))
        identical &= same
        layers[layer.name] = {
            "neurons": layer.size,
            "identical": same,
            "hwsim_spikes": int(ours.sum()),
            "lava_spikes": int(theirs.sum()),
        }
    best = min(hw, key=lambda t: t.cpu)
    return {
        "network": "trained 64-500-10 LIF MLP (digits), graded 8-bit input, loihi lowered with the scale search "
        "on 200 training samples",
        "samples": samples,
        "steps": int(x.shape[0]),
        "steps_note": f"{x.shape[0] - program.latency_steps} input steps + {program.latency_steps} latency (flush) steps",
        "clock": "CPU seconds of this process and the processes Lava started and joined (benchmarks/clock.py); "
        "wall seconds beside them",
        "hwsim_seconds": round(best.cpu, 6),
        "hwsim_seconds_wall": round(best.wall, 6),
        "hwsim_seconds_all_runs": [round(t.cpu, 6) for t in hw],
        "lava_seconds": round(lava_t.cpu, 3),
        "lava_seconds_wall": round(lava_t.wall, 3),
        "lava_import_seconds_not_counted": round(import_s, 3),
        "lava_seconds_to_first_sample": round(marks[0] - t0, 3) if marks else None,
        "speedup_hwsim_over_lava": round(lava_t.cpu / best.cpu, 1),
        "speedup_hwsim_over_lava_wall": round(lava_t.wall / best.wall, 1),
        "identical_spikes_every_layer_every_step": identical,
        "layers": layers,
        "hwsim_accuracy_on_these_samples": float(np.mean(sim.predictions(window) == y)),
        "lava_run": "netx HDF5 -> netx.hdf5.Network(input_message_bits=8, reset_interval=T, reset_offset=1), "
        "Loihi2SimCfg(select_tag='fixed_pt'), one compile, per-sample state reset; includes file writing and compile",
        **extra,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=1))
