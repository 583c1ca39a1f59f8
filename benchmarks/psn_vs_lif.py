"""Training speed: parallel spiking neurons (PSN, masked PSN, sliding PSN) vs LIF, against T.

    python benchmarks/psn_vs_lif.py [--device cpu|cuda] [--steps 8 16 32 64] [--batches 5] [--repeats 3]

The same network (snncli's ``mlp``, Fashion-MNIST 784-500-10 by default, direct
encoding) is built with each neuron (``build_model``; only the neuron layers
differ) and trained for ``--batches`` Adam steps of ``--batch-size`` samples
(forward over T steps, cross-entropy on spike counts, backward, step, reset),
after ``--warmup`` untimed steps.  Measurements are interleaved: every repeat
times every (T, neuron) pair once, the neuron order rotating between repeats, so
a machine that slows down or speeds up affects all of them alike.  Reported per
repeat: samples per wall-clock second and, on CPU, samples per CPU second of this
process (``time.process_time``: what other processes on a shared machine take
does not count); their medians, and the medians' ratio to LIF's at the same T.
``--threads`` sets torch's CPU threads (1 makes CPU seconds plain work).

LIF is SpikingJelly's ``LIFNode`` in multi-step mode (a loop over T on CPU; on CUDA
SpikingJelly picks its fused kernel); the PSNs are one ``[T, T] x [T, N]`` matrix
product each (SpikingJelly's ``neuron.psn``).  Writes
``benchmarks/results/psn_vs_lif.json`` (``--output``) with the machine and device.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional

from snncli.data import load_dataset
from snncli.trainer.config import load_config
from snncli.trainer.models import build_model, spike_counts

RESULT = Path(__file__).parent / "results" / "psn_vs_lif.json"
NEURONS = ("lif", "psn", "masked-psn", "sliding-psn")


def machine(device: torch.device) -> dict:
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
    import spikingjelly

    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "spikingjelly": getattr(spikingjelly, "__version__", "2.0.0"),
        "python": platform.python_version(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "load_average_1min_at_start": os.getloadavg()[0],
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(
    cfg, x: torch.Tensor, y: torch.Tensor, batches: int, warmup: int, device: torch.device
) -> tuple[float, float]:
    """Samples per wall-clock second and per CPU second of ``batches`` training steps of ``cfg``'s model
    (after ``warmup`` steps)."""
    torch.manual_seed(0)
    net = build_model(cfg, x.shape[1:], 10).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = len(x) // (batches + warmup)

    def step(i: int) -> None:
        xb, yb = x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
        out = net(xb.unsqueeze(0).expand(cfg.time_steps, *xb.shape))
        loss = F.cross_entropy(spike_counts(out), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        functional.reset_net(net)

    for i in range(warmup):
        step(i)
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(warmup, warmup + batches):
        step(i)
    _sync(device)
    samples = batches * batch
    return samples / (time.perf_counter() - t0), samples / (time.process_time() - c0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dataset", default="fashion-mnist", choices=("fashion-mnist", "digits"))
    parser.add_argument("--model", default="mlp", choices=("mlp", "cnn"))
    parser.add_argument("--hidden", type=int, nargs="+", default=[500])
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--neurons", nargs="+", default=list(NEURONS), choices=NEURONS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=5, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps before each measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--psn-order", type=int, default=4, help="k of masked-psn and sliding-psn")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--output", default=str(RESULT))
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"--device {args.device}: this torch sees no CUDA GPU")
    if args.threads:
        torch.set_num_threads(args.threads)
    start_machine = machine(device)

    ds = load_dataset(args.dataset)
    n = args.batch_size * (args.batches + args.warmup)
    x = torch.from_numpy(ds.train_x[:n]).to(device)
    y = torch.from_numpy(ds.train_y[:n]).to(device)
    base = {
        "model": args.model,
        "hidden": args.hidden,
        "channels": args.channels,
        "encoder": "direct",
        "psn_order": args.psn_order,
        "dataset": args.dataset,
        "device": args.device,
    }
    speed: dict[tuple[int, str], list[float]] = {(t, k): [] for t in args.steps for k in args.neurons}
    cpu_speed: dict[tuple[int, str], list[float]] = {(t, k): [] for t in args.steps for k in args.neurons}
    t_start = time.perf_counter()
    for r in range(args.repeats):
        order = args.neurons[r % len(args.neurons) :] + args.neurons[: r % len(args.neurons)]
        for t in args.steps:
            for kind in order:
                cfg = load_config(None, {**base, "neuron": kind, "time_steps": t})
                wall, cpu = time_training(cfg, x, y, args.batches, args.warmup, device)
                speed[(t, kind)].append(wall)
                cpu_speed[(t, kind)].append(cpu)
                print(
                    f"repeat {r + 1}/{args.repeats} T={t:3d} {kind:12s} {wall:9.1f} samples/s {cpu:9.1f} samples/CPU-s",
                    flush=True,
                )

    rows = []
    for t in args.steps:
        lif = statistics.median(speed[(t, "lif")]) if "lif" in args.neurons else None
        lif_cpu = statistics.median(cpu_speed[(t, "lif")]) if "lif" in args.neurons else None
        for kind in args.neurons:
            med, med_cpu = statistics.median(speed[(t, kind)]), statistics.median(cpu_speed[(t, kind)])
            rows.append(
                {
                    "time_steps": t,
                    "neuron": kind,
                    "samples_per_s": [round(v, 1) for v in speed[(t, kind)]],
                    "median_samples_per_s": round(med, 1),
                    "speedup_vs_lif": round(med / lif, 2) if lif else None,
                    "samples_per_cpu_s": [round(v, 1) for v in cpu_speed[(t, kind)]],
                    "median_samples_per_cpu_s": round(med_cpu, 1),
                    "cpu_speedup_vs_lif": round(med_cpu / lif_cpu, 2) if lif_cpu else None,
                }
            )
    result = {
        "command": " ".join(["python", *sys.argv]),
        "what": "training samples/s (forward over T + backward + Adam step), same network per row, "
        "interleaved repeats; median over repeats",
        "network": {
            **base,
            "parameters_lif": sum(
                p.numel()
                for p in build_model(
                    load_config(None, {**base, "time_steps": args.steps[0]}), x.shape[1:], 10
                ).parameters()
            ),
        },
        "batch_size": args.batch_size,
        "timed_batches": args.batches,
        "warmup_batches": args.warmup,
        "repeats": args.repeats,
        "results": rows,
        "seconds": round(time.perf_counter() - t_start, 1),
        "machine": {**start_machine, "load_average_1min_at_end": os.getloadavg()[0]},
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    for row in rows:
        print(
            f"T={row['time_steps']:3d} {row['neuron']:12s} {row['median_samples_per_s']:9.1f} samples/s "
            f"x{row['speedup_vs_lif']} vs lif; {row['median_samples_per_cpu_s']:9.1f} samples/CPU-s "
            f"x{row['cpu_speedup_vs_lif']}"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
