"""hwsim's operation counts equal NeuroBench's SynapticOperations and SpikingJelly's op_counter.

The model uses dyadic weights and tau = 2 (v = v/2 + x) so that torch (float32)
and hwsim (float64) compute bit-identical spike trains: any difference in the
counts is then a difference in counting, not in simulation.
"""

import numpy as np
import pytest
import torch
import torch.nn as nn
from nets import lower
from spikingjelly.activation_based import functional, layer, neuron
from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir
from torch.utils.data import DataLoader, TensorDataset

from snncli.hwsim.simulate import simulate

T, B, IN, HID, OUT = 6, 16, 20, 32, 5
# v is a multiple of 2**-14 after <= 6 halvings: it never equals THR, so that
# SpikingJelly (fires at v >= thr) and NIR (v > thr) agree.
THR = 0.5 + 2.0**-20


def dyadic_mlp(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(
        layer.Linear(IN, HID, bias=False, step_mode="m"),
        neuron.LIFNode(tau=2.0, decay_input=False, v_reset=0.0, v_threshold=THR, step_mode="m"),
        layer.Linear(HID, OUT, bias=False, step_mode="m"),
        neuron.LIFNode(tau=2.0, decay_input=False, v_reset=0.0, v_threshold=THR, step_mode="m"),
    )
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                w = torch.randint(-64, 96, m.weight.shape) / 256.0
                w[torch.rand(w.shape) < 0.2] = 0.0  # some absent synapses
                m.weight.copy_(w)
    return net


class TimeFirst(nn.Module):
    """NeuroBench feeds [batch, time, ...]; SpikingJelly multi-step wants [time, batch, ...]."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        functional.reset_net(self.net)
        return self.net(x.transpose(0, 1)).sum(0)


def neurobench_ops(net, x):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import SynapticOperations
    from neurobench.models import TorchModel

    data = TensorDataset(torch.as_tensor(x, dtype=torch.float32).transpose(0, 1), torch.zeros(x.shape[1]))
    bench = Benchmark(TorchModel(TimeFirst(net)), DataLoader(data, batch_size=B), [], [], [[], [SynapticOperations]])
    return bench.run(quiet=True)["SynapticOperations"]


def hwsim_ops(net, x):
    graph = export_to_nir(net, torch.zeros(T, 1, IN))
    functional.reset_net(net)
    result = simulate(lower(graph), x)
    return result.totals(), result


@pytest.mark.parametrize("encoding", ["spikes", "analog"])
def test_synaptic_operations_match_neurobench(encoding):
    rng = np.random.default_rng(1)
    if encoding == "spikes":
        x = (rng.random((T, B, IN)) < 0.3).astype(np.float64)
    else:
        x = np.round(rng.random((T, B, IN)) * 64) / 64  # analog pixels, exact in float32
    totals, _ = hwsim_ops(dyadic_mlp(), x)
    nb = neurobench_ops(dyadic_mlp(), x)
    assert totals["sops"] + totals["macs"] > 0
    assert totals["sops"] == pytest.approx(nb["Effective_ACs"], rel=0, abs=1e-9)
    assert totals["macs"] == pytest.approx(nb["Effective_MACs"], rel=0, abs=1e-9)
    if encoding == "analog":
        assert totals["macs"] > 0  # the first layer multiplies analog inputs


def test_synaptic_operations_match_spikingjelly_op_counter():
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter

    rng = np.random.default_rng(2)
    x = (rng.random((T, B, IN)) < 0.3).astype(np.float64)
    net = dyadic_mlp()
    counter = SynOpCounter()
    with torch.no_grad(), DispatchCounterMode([counter]):
        net(torch.as_tensor(x, dtype=torch.float32))
    _, result = hwsim_ops(dyadic_mlp(), x)
    # op_counter charges every weight a spike touches, zero weights included (the
    # dense fan-out); hwsim, like NeuroBench, counts only stored (non-zero) synapses.
    # So compare op_counter with hwsim's events times the dense fan-out...
    count = {c.name: c for c in result.counters}
    events_in = [int((x != 0).sum()), count["_1"].spikes]  # into Linear _0 and Linear _2
    dense_sops = events_in[0] * HID + events_in[1] * OUT
    assert counter.get_total() == dense_sops
    # ...and check hwsim's own count is exactly the non-zero part of that fan-out.
    net = dyadic_mlp()
    nonzero_fanout = (net[0].weight != 0).sum(0).numpy()
    assert count["_0"].sops == int(((x != 0) * nonzero_fanout).sum())
    assert count["_0"].sops + count["_2"].sops < dense_sops
