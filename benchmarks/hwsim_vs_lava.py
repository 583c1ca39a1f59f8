"""Speed and exactness: hwsim vs Intel Lava on the same Loihi program and inputs.

    python benchmarks/hwsim_vs_lava.py [--samples 20] [--steps 16] [--weights trained|random] [--repeat 5]

The network is the trainer's 64-500-10 LIF MLP (``--weights trained``: trained here on
sklearn digits in ~10 s with the default config; ``random``: seeded random weights),
lowered with ``snncli.targets.loihi.lower`` (calibrated on 200 training samples), fed
``--samples`` test digits through the direct encoder (graded 8-bit input spikes) for
``--steps`` steps plus the program's ``latency_steps`` zero steps.  Timed:

* hwsim: ``Simulator(program).run(x, record=True)`` (fan-out tables built inside the
  timing; best of ``--repeat`` runs);
* Lava: ``snncli.targets.loihi.reference(program, x)`` -- writes the netx HDF5,
  builds ``netx.hdf5.Network`` and runs every sample in ``Loihi2SimCfg(select_tag=
  "fixed_pt")`` (one compile, state reset between samples), reading every layer's spikes
  (the one-off Python import of lava/netx is done before the clock starts).

Writes ``benchmarks/results/hwsim_vs_lava.json``: both times, their ratio, whether the
spikes are identical in every layer and step, spike counts, the machine, the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

RESULT = Path(__file__).parent / "results" / "hwsim_vs_lava.json"


def machine() -> dict:
    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)  # fmt: skip
    versions = {}
    for pkg in ("numpy", "scipy", "torch", "lava-nc", "lava-dl", "nir"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"platform": platform.platform(), "cpu": cpu, "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "versions": versions}  # fmt: skip


def trained_mlp(tmp: Path, steps: int, samples: int):
    """(graph, calibration, test inputs, labels) of a freshly trained digits MLP."""
    from snncli.export.run import encoded_samples, run_to_nir
    from snncli.trainer.config import TrainConfig
    from snncli.trainer.train import train

    cfg = TrainConfig(dataset="digits", hidden=[500], time_steps=steps)
    summary = train(cfg, tmp / "run", progress=False)
    graph = run_to_nir(str(tmp / "run"))
    calib, _ = encoded_samples(str(tmp / "run"), "train", limit=200)
    x, y = encoded_samples(str(tmp / "run"), "test", limit=samples)
    return graph, calib, x, y, {"trained_test_accuracy": summary["best_test_acc"], "train_seconds": summary["seconds"]}


def random_mlp(steps: int, samples: int, seed: int = 0):
    import nir

    rng = np.random.default_rng(seed)
    dt, tau = 1e-4, 20.0
    lif = lambda n: nir.LIF(tau=np.full(n, tau * dt), r=np.full(n, tau), v_leak=np.zeros(n),  # noqa: E731
                            v_threshold=np.ones(n), v_reset=np.zeros(n))  # fmt: skip
    nodes = {
        "input": nir.Input(input_type=np.array([1, 8, 8])),
        "flat": nir.Flatten(input_type={"input": np.array([1, 8, 8])}, start_dim=0, end_dim=-1),
        "fc1": nir.Affine(weight=rng.normal(0, 0.25, (500, 64)), bias=rng.normal(0, 0.02, 500)),
        "lif1": lif(500),
        "fc2": nir.Affine(weight=rng.normal(0, 0.12, (10, 500)), bias=np.zeros(10)),
        "lif2": lif(10),
        "output": nir.Output(output_type=np.array([10])),
    }
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))
    graph.metadata = {"snncli": {"encoder": "direct"}}
    frames = rng.random((1, samples + 200, 1, 8, 8))
    x = np.repeat(frames, steps, axis=0)
    return graph, x[:, samples:], x[:, :samples], None, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--weights", choices=["trained", "random"], default="trained")
    parser.add_argument("--repeat", type=int, default=5, help="hwsim timing: best of this many runs")
    parser.add_argument("--output", default=str(RESULT))
    args = parser.parse_args()

    from snncli.hwsim.simulate import Simulator
    from snncli.targets import loihi

    with tempfile.TemporaryDirectory() as tmp:
        if args.weights == "trained":
            graph, calib, x, y, extra = trained_mlp(Path(tmp), args.steps, args.samples)
        else:
            graph, calib, x, y, extra = random_mlp(args.steps, args.samples)
    program = loihi.lower(graph, calibration=calib)
    lat = program.metadata["latency_steps"]
    x = np.concatenate([x, np.zeros((lat, *x.shape[1:]))])

    hw_times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        sim = Simulator(program).run(x, record=True)
        hw_times.append(time.perf_counter() - t0)
    from snncli.targets.lava_reference import import_netx

    t0 = time.perf_counter()
    import_netx()  # Python imports of lava/netx: once per process, not part of a run
    import_s = time.perf_counter() - t0
    marks = []
    t0 = time.perf_counter()
    lava = loihi.reference(program, x, progress=lambda n: marks.append(time.perf_counter()))
    lava_s = time.perf_counter() - t0
    first = marks[0] - t0 if marks else None  # file + Network build + compile + first sample
    rest = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else None

    layers = {}
    identical = True
    for layer in program.neuron_layers:
        ours, theirs = sim.records[layer.name]["out"], lava[layer.name]
        same = bool(ours.shape == theirs.shape and np.array_equal(ours, theirs))
        identical &= same
        layers[layer.name] = {"neurons": layer.size, "identical": same, "hwsim_spikes": int(ours.sum()),
                              "lava_spikes": int(theirs.sum())}  # fmt: skip
    hw_s = min(hw_times)
    result = {
        "command": " ".join(["python", *sys.argv]),
        "network": f"{args.weights} 64-500-10 LIF MLP (digits), graded 8-bit input, loihi.lower(calibration=200 samples)",
        "samples": args.samples,
        "steps": int(x.shape[0]),
        "steps_note": f"{args.steps} input steps + {lat} latency (flush) steps",
        "hwsim_seconds": round(hw_s, 6),
        "hwsim_seconds_all_runs": [round(t, 6) for t in hw_times],
        "lava_seconds": round(lava_s, 3),
        "lava_import_seconds_not_counted": round(import_s, 3),
        "lava_seconds_to_first_sample": None if first is None else round(first, 3),
        "lava_seconds_per_later_sample": None if rest is None else round(rest, 4),
        "hwsim_seconds_per_sample": round(hw_s / args.samples, 6),
        "speedup_hwsim_over_lava": round(lava_s / hw_s, 1),
        "identical_spikes_every_layer_every_step": identical,
        "layers": layers,
        "lava_run": "netx HDF5 -> netx.hdf5.Network(input_message_bits=8, reset_interval=T, reset_offset=1), "
        "Loihi2SimCfg(select_tag='fixed_pt'), one compile, per-sample state reset; includes file writing and compile",
        **extra,
        "machine": machine(),
    }
    if y is not None:
        preds = sim.outputs[lat:].sum(0).argmax(1)
        result["hwsim_accuracy_on_these_samples"] = float(np.mean(preds == y))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("hwsim_seconds", "lava_seconds", "speedup_hwsim_over_lava",
                                             "identical_spikes_every_layer_every_step")}))  # fmt: skip


if __name__ == "__main__":
    main()
