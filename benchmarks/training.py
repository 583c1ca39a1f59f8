"""Training speed: samples/s of snncli's MLP training step vs the same network in snnTorch and in plain
SpikingJelly multi-step mode, same CPU, same process, same batches, interleaved repeats.

The network is snncli's default recipe (``configs/digits_mlp.yaml``): 64-500-10, LIF
``v = 0.95 v + x``, threshold 1, reset to zero, ATan surrogate, T = 8 steps of direct
input, Adam 2e-3, cross-entropy on the output spike counts.  What is timed, per batch:
forward over T steps, loss, backward, optimiser step, state reset (no data loading).

* ``snncli``: ``snncli.trainer.models.build_model`` and the trainer's own step function
  (``snncli.trainer.train._gradient_step``, the function ``snncli train`` calls per
  batch; reached on purpose, it is what is measured);
* ``snntorch``: ``snn.Leaky(beta=0.95, reset_mechanism="zero")`` with ``surrogate.atan()``,
  stepped in a Python loop over T as snnTorch's tutorials do;
* ``spikingjelly``: ``layer.Linear`` + ``neuron.LIFNode(step_mode="m")`` written directly.
  snncli's model is built from the same modules, its LIF layers SpikingJelly's class with
  the CPU time loop compiled (``snncli/trainer/cpu_neurons.py``, bit-identical results).

Every batch runs through each framework in turn (order rotated), so load changes on a
shared machine hit all three alike; samples/s is the batch size over the median CPU time
of a batch, one thread each (:mod:`benchmarks.clock`), the wall-clock figure beside it.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks.clock import Timer, reuse_freed_memory, single_thread

STEPS, BATCH, HIDDEN, BETA, LR = 8, 64, 500, 0.95, 2e-3


def _data(batches: int, seed: int = 0):
    from snncli.data import load_dataset

    data = load_dataset("digits", seed=seed)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data.train_y), size=batches * BATCH, replace=len(data.train_y) < batches * BATCH)
    x = torch.as_tensor(np.asarray(data.train_x)[idx], dtype=torch.float32).reshape(batches, BATCH, 1, 8, 8)
    y = torch.as_tensor(np.asarray(data.train_y)[idx]).reshape(batches, BATCH)
    return x, y


def snncli_step():
    from snncli.trainer.config import TrainConfig
    from snncli.trainer.models import build_model
    from snncli.trainer.train import _gradient_step

    cfg = TrainConfig(hidden=[HIDDEN], beta=BETA, time_steps=STEPS, lr=LR, batch_size=BATCH)
    net = build_model(cfg, (1, 8, 8), 10)
    step = _gradient_step(net, torch.optim.Adam(net.parameters(), lr=LR), cfg, 0, 10**6)
    return lambda x, y: step(x.unsqueeze(0).repeat(STEPS, 1, 1, 1, 1), y)


def snntorch_step():
    import snntorch as snn
    from snntorch import surrogate

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(64, HIDDEN), nn.Linear(HIDDEN, 10)
            grad = surrogate.atan()
            self.lif1 = snn.Leaky(beta=BETA, spike_grad=grad, reset_mechanism="zero")
            self.lif2 = snn.Leaky(beta=BETA, spike_grad=grad, reset_mechanism="zero")

        def forward(self, x):
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            counts = 0
            x = x.flatten(1)
            for _ in range(STEPS):
                spk1, mem1 = self.lif1(self.fc1(x), mem1)
                spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                counts = counts + spk2
            return counts

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=LR)

    def step(x, y):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def spikingjelly_step():
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    def lif():
        return neuron.LIFNode(
            tau=1 / (1 - BETA),
            decay_input=False,
            v_reset=0.0,
            surrogate_function=surrogate.ATan(),
            detach_reset=True,
            step_mode="m",
        )

    net = nn.Sequential(
        layer.Flatten(step_mode="m"),
        layer.Linear(64, HIDDEN, step_mode="m"),
        lif(),
        layer.Linear(HIDDEN, 10, step_mode="m"),
        lif(),
    )
    opt = torch.optim.Adam(net.parameters(), lr=LR)

    def step(x, y):
        loss = F.cross_entropy(net(x.unsqueeze(0).repeat(STEPS, 1, 1, 1, 1)).sum(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        functional.reset_net(net)
        return loss.detach()

    return step


FRAMEWORKS = {"snncli": snncli_step, "snntorch": snntorch_step, "spikingjelly": spikingjelly_step}


def run(quick: bool = False) -> dict:
    single_thread()
    reuse_freed_memory()
    batches, repeats = (20, 3) if quick else (40, 5)
    torch.manual_seed(0)
    x, y = _data(batches + 2)
    steps = {name: make() for name, make in FRAMEWORKS.items()}
    for step in steps.values():  # warm-up: allocator, autograd graph, first-call overheads
        for b in range(2):
            step(x[b], y[b])
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    wall: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(repeats):  # interleaved batch by batch, the order rotated: load changes hit all alike
        for b in range(2, batches + 2):
            for name in names[(r + b) % len(names) :] + names[: (r + b) % len(names)]:
                with Timer() as t:
                    steps[name](x[b], y[b])
                seconds[name].append(t.cpu)
                wall[name].append(t.wall)
    rate = {name: BATCH / statistics.median(v) for name, v in seconds.items()}
    return {
        "network": f"64-{HIDDEN}-10 LIF (beta {BETA}, reset zero, ATan), T={STEPS} direct input, Adam, batch {BATCH}",
        "timed": "forward + loss + backward + optimiser step + reset, per batch; no data loading",
        "batches": batches * repeats,
        "interleaving": "each batch runs through every framework in turn, the order rotated per batch",
        "clock": "CPU time of the process (one thread for torch and BLAS), see benchmarks/clock.py",
        "samples_per_s": {name: round(v, 1) for name, v in rate.items()},
        "samples_per_s_wall": {name: round(BATCH / statistics.median(v), 1) for name, v in wall.items()},
        "samples_per_s_quartiles": {
            name: [round(BATCH / q, 1) for q in statistics.quantiles(v, n=4)[::-1]] for name, v in seconds.items()
        },
        "ratio_snncli_over_snntorch": round(rate["snncli"] / rate["snntorch"], 2),
        "ratio_snncli_over_spikingjelly": round(rate["snncli"] / rate["spikingjelly"], 2),
        "ratio_snncli_over_snntorch_wall": round(
            statistics.median(wall["snntorch"]) / statistics.median(wall["snncli"]), 2
        ),
        "torch_threads": torch.get_num_threads(),
    }
