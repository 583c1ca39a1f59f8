"""Speed and exactness: hwsim vs Sinabs' DynapcnnNetwork on the same Speck Program and event inputs.

    python -m benchmarks.speck_vs_sinabs [--quick]

The network is the NIR paper's N-MNIST CNN (``shared/conformance/nir-paper/cnn_sinabs.nir``,
5 cores) read as Sinabs' NIR import reads it (``--reading sinabs-floor``) and lowered for
``speck`` with its scale rule; the inputs are snncli's simulated DVS recordings of test
digits (``digits-dvs``, 2x34x34, binned into event counts per step).  Timed as the rest of
the suite is (:mod:`benchmarks.clock`: CPU seconds, one thread for torch and BLAS, wall
seconds beside), interleaved (:func:`benchmarks.clock.interleaved`: each repeat once per
implementation, in an order rotated per repeat, after one untimed warm-up round), the same
inputs, each producing the network's output spikes:

* hwsim: ``Simulator(program).run(x)`` (the fan-out tables are built once, outside the
  clock, as Sinabs' network is);
* Sinabs: the forward pass of ``DynapcnnNetwork(..., discretize=True)`` built from the
  Program's integer layers (torch, CPU, ``torch.no_grad``;
  :func:`snncli.targets.speck.reference.run_reference` without its one-off network
  construction, which stays outside the clock).

The same rounds again with torch and BLAS on every core, wall clock (``all_threads``).
Then, outside the clock, one run of each with every layer's spikes captured (hwsim's
``record=True``, forward hooks on Sinabs' spiking layers) for the comparison.

Recorded: every repeat's CPU and wall time, the medians and their ratio (Sinabs / hwsim:
above 1 means hwsim is faster), the best times and their ratio, whether the spikes are identical in every layer and step, the spike and
event counts.  Writes ``benchmarks/results/speck_vs_sinabs.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import numpy as np

from benchmarks.clock import interleaved, reuse_freed_memory, single_thread

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "speck_vs_sinabs.json"
GRAPH = ROOT.parent / "shared" / "conformance" / "nir-paper" / "cnn_sinabs.nir"


def event_inputs(samples: int, steps: int) -> np.ndarray:
    """``[T, N, 2, 34, 34]`` event counts of the first ``samples`` digits-dvs test recordings."""
    from snncli.data import load_dataset

    data = load_dataset("digits-dvs", time_steps=steps)
    return np.ascontiguousarray(data.test_x[:samples].transpose(1, 0, 2, 3, 4)).astype(np.float64)


class SinabsForward:
    """Sinabs' discretized DynapcnnNetwork for a Speck Program, built once; ``__call__`` is the timed forward."""

    def __init__(self, program, batch: int, steps: int):
        import torch

        from snncli.targets.speck.program import integer_layers
        from snncli.targets.speck.reference import dynapcnn_network

        self.torch, self.layers = torch, integer_layers(program)
        self.net = dynapcnn_network(self.layers, batch=batch)
        self.spk = [self.net.dynapcnn_layers[i].spk for i in range(len(self.layers))]
        self.batch, self.steps = batch, steps

    def __call__(self, x: np.ndarray):
        """The network's output, ``[batch x steps, ...]`` (Sinabs' order)."""
        torch = self.torch
        for m in self.spk:
            m.reset_states()
        inp = torch.tensor(x, dtype=torch.float32).transpose(0, 1).reshape(self.batch * self.steps, *x.shape[2:])
        with torch.no_grad():
            return self.net(inp)

    def layer_spikes(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every spiking layer's output ``[T, batch, n]``, captured by forward hooks during one forward pass."""
        captured = {}
        hooks = [m.register_forward_hook(lambda _m, _i, out, k=k: captured.__setitem__(k, out.detach()))
                 for k, m in enumerate(self.spk)]  # fmt: skip
        try:
            self(x)
        finally:
            for h in hooks:
                h.remove()
        return {layer.name: captured[k].reshape(self.batch, self.steps, -1).transpose(0, 1).numpy()
                for k, layer in enumerate(self.layers)}  # fmt: skip


def _all_threads(walls: dict) -> dict:
    """The all-threads rounds: torch and BLAS on every core (hwsim's kernels stay on one), wall clock."""
    median = {k: statistics.median(v) for k, v in walls.items()}
    return {"threads": os.cpu_count(), "wall_seconds": {k: [round(t, 4) for t in v] for k, v in walls.items()},
            "median_wall_seconds": {k: round(v, 4) for k, v in median.items()},
            "ratio_sinabs_over_hwsim": round(median["sinabs"] / median["hwsim"], 3)}  # fmt: skip


def run(quick: bool = False) -> dict:
    import torch
    from threadpoolctl import threadpool_limits

    from snncli.hwsim.simulate import Simulator
    from snncli.nirgraph import read_nir
    from snncli.targets import get_target, lower, make_options
    from snncli.targets.speck.reference import sinabs_problem

    problem = sinabs_problem()
    if problem is not None:
        return {"skipped": f"Sinabs cannot run here: {problem}"}
    single_thread()
    reuse_freed_memory()
    samples, steps, repeats = (20, 30, 3) if quick else (100, 30, 7)
    program = lower(read_nir(GRAPH), "speck", 1e-4, "sinabs-floor", make_options(get_target("speck"), {}))
    x = event_inputs(samples, steps)
    simulator = Simulator(program)
    sinabs = SinabsForward(program, samples, steps)
    calls = {"hwsim": lambda: simulator.run(x, batch_size=samples), "sinabs": lambda: sinabs(x)}
    times, walls = interleaved(calls, repeats)
    torch.set_num_threads(os.cpu_count() or 1)
    with threadpool_limits(os.cpu_count() or 1):
        _, walls_all = interleaved(calls, repeats)
    torch.set_num_threads(1)
    ours, theirs = simulator.run(x, batch_size=samples, record=True), sinabs.layer_spikes(x)
    names = [layer.name for layer in program.neuron_layers]
    identical = all(np.array_equal(ours.records[n]["out"].reshape(steps, samples, -1), theirs[n]) for n in names)
    median = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    synaptic = [c for c in ours.counters if c.op in ("conv2d", "dense")]
    return {
        "network": f"{GRAPH.name} (NIR paper N-MNIST CNN, 5 Speck cores), reading sinabs-floor, scale rule",
        "inputs": f"digits-dvs test recordings, {samples} samples x {steps} steps of 2x34x34 event counts "
                  f"({int(x.sum())} events)",
        "samples": samples, "steps": steps, "repeats": repeats, "torch_threads": torch.get_num_threads(),
        "clock": "CPU seconds of this process, one thread for torch and BLAS",
        "seconds": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "wall_seconds": {k: [round(t, 4) for t in v] for k, v in walls.items()},
        "median_seconds": {k: round(v, 4) for k, v in median.items()},
        "ratio_sinabs_over_hwsim": round(median["sinabs"] / median["hwsim"], 3),
        "best_seconds": {k: round(v, 4) for k, v in best.items()},
        "ratio_of_best": round(best["sinabs"] / best["hwsim"], 3),  # less sensitive to other processes' load
        "all_threads": _all_threads(walls_all),
        "identical_spikes": bool(identical),
        "spikes_per_layer": {n: int(ours.records[n]["out"].sum()) for n in names},
        "synaptic_events": int(sum(c.sops for c in synaptic)),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 samples, 3 repeats")
    args = parser.parse_args()
    from benchmarks.machine import machine

    result = {"benchmark": "speck_vs_sinabs", "command": "python -m benchmarks.speck_vs_sinabs"
              + (" --quick" if args.quick else ""), "machine": machine(), **run(args.quick)}  # fmt: skip
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_seconds", "ratio_sinabs_over_hwsim", "ratio_of_best",
                                             "all_threads", "identical_spikes")
                      if k in result}))  # fmt: skip
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
