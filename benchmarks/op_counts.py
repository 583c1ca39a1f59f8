"""Operation counts: hwsim's counters vs NeuroBench's SynapticOperations and SpikingJelly's op_counter.

A 20-32-5 LIF network (SpikingJelly, exported through NIR) with dyadic weights and
tau = 2, so that torch (float32) and hwsim (float64) compute the same spikes: any
difference is a difference in counting.  Counted on spike input and on analog input
(MACs in the first layer).  SpikingJelly's ``SynOpCounter`` charges every weight a spike
touches, zero weights included (the dense fan-out); hwsim, like NeuroBench, counts only
stored (non-zero) synapses: both figures are given, with hwsim's events times the dense
fan-out for the comparison with op_counter.  The same checks run as tests
(``tests/test_counters_crosscheck.py``).
"""

from __future__ import annotations

import numpy as np
import torch

T, B, IN, HID, OUT = 6, 16, 20, 32, 5
THR = 0.5 + 2.0**-20  # never equal to a dyadic v: SpikingJelly (>=) and NIR (>) agree


def dyadic_mlp(seed: int = 0):
    import torch.nn as nn
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(seed)

    def lif():
        return neuron.LIFNode(tau=2.0, decay_input=False, v_reset=0.0, v_threshold=THR, step_mode="m")

    net = nn.Sequential(
        layer.Linear(IN, HID, bias=False, step_mode="m"),
        lif(),
        layer.Linear(HID, OUT, bias=False, step_mode="m"),
        lif(),
    )
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                w = torch.randint(-64, 96, m.weight.shape) / 256.0
                w[torch.rand(w.shape) < 0.2] = 0.0
                m.weight.copy_(w)
    return net


def hwsim_counts(net, x):
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir

    from snncli.hwsim.simulate import simulate
    from snncli.nirgraph import check_graph
    from snncli.targets import lower

    graph = export_to_nir(net, torch.zeros(T, 1, IN))
    functional.reset_net(net)
    return simulate(lower(check_graph(graph), "float", 1e-4), x)


def neurobench_counts(net, x) -> dict:
    import torch.nn as nn
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import SynapticOperations
    from neurobench.models import TorchModel
    from spikingjelly.activation_based import functional
    from torch.utils.data import DataLoader, TensorDataset

    class TimeFirst(nn.Module):  # NeuroBench feeds [batch, time, ...]
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, v):
            functional.reset_net(self.inner)
            return self.inner(v.transpose(0, 1)).sum(0)

    data = TensorDataset(torch.as_tensor(x, dtype=torch.float32).transpose(0, 1), torch.zeros(x.shape[1]))
    bench = Benchmark(TorchModel(TimeFirst(net)), DataLoader(data, batch_size=B), [], [], [[], [SynapticOperations]])
    return bench.run(quiet=True)["SynapticOperations"]


def op_counter_total(net, x) -> int:
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter

    counter = SynOpCounter()
    with torch.no_grad(), DispatchCounterMode([counter]):
        net(torch.as_tensor(x, dtype=torch.float32))
    return int(counter.get_total())


def run(quick: bool = False) -> dict:
    rng = np.random.default_rng(1)
    inputs = {
        "spikes": (rng.random((T, B, IN)) < 0.3).astype(np.float64),
        "analog": np.round(rng.random((T, B, IN)) * 64) / 64,
    }
    out = {"network": f"{IN}-{HID}-{OUT} LIF tau=2, dyadic weights (20 % zero), T={T}, {B} samples"}
    for kind, x in inputs.items():
        result = hwsim_counts(dyadic_mlp(), x)
        totals = result.totals()
        nb = neurobench_counts(dyadic_mlp(), x)
        row = {
            "per_sample": {
                "hwsim": {"ACs": totals["sops"], "MACs": totals["macs"]},
                "neurobench": {"ACs": float(nb["Effective_ACs"]), "MACs": float(nb["Effective_MACs"])},
            }
        }
        row["hwsim_equals_neurobench"] = bool(
            np.isclose(totals["sops"], nb["Effective_ACs"], rtol=0, atol=1e-9)
            and np.isclose(totals["macs"], nb["Effective_MACs"], rtol=0, atol=1e-9)
        )
        if kind == "spikes":
            counts = {c.name: c for c in result.counters}
            events = [int((x != 0).sum()), counts["_1"].spikes]
            dense = events[0] * HID + events[1] * OUT
            row["all_samples"] = {
                "spikingjelly_op_counter": op_counter_total(dyadic_mlp(), x),
                "hwsim_events_times_dense_fanout": dense,
                "hwsim_nonzero_synapses": int(totals["sops"] * B),
            }
            row["hwsim_equals_op_counter_dense"] = row["all_samples"]["spikingjelly_op_counter"] == dense
        out[kind] = row
    out["all_equal"] = all(
        v for row in (out["spikes"], out["analog"]) for k, v in row.items() if k.startswith("hwsim_equals")
    )
    return out
