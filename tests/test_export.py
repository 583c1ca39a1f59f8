"""SpikingJelly -> NIR export, checked against NIR's own semantics.

The oracle is a tiny float64 numpy simulator of the NIR equations, forward
Euler with step dt (DESIGN.md, "Semantics"), run on the exported graph after a
write/read round trip.  SpikingJelly runs in float32 and fires at
``v >= threshold`` where NIR fires at ``v > threshold``; both differences only
matter when ``v`` sits exactly on the threshold, hence the 99.9 % bar.
"""

import nir
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from spikingjelly.activation_based import functional, layer, neuron

from snncli.errors import SnnCliError
from snncli.export.torch_to_nir import model_to_nir
from snncli.nirgraph import RESET_MODE_KEY, read_nir, reset_mode, write_nir
from snncli.trainer.layers import SumPool2d

DT = 1e-4
NEURON_TYPES = (neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode)


# ----------------------------------------------------------- numpy oracle
def _conv2d(x, w, b, stride, padding):
    """x [B, C, H, W] float64, w [O, C, kh, kw]; groups 1, dilation 1."""
    p, s = np.broadcast_to(padding, 2), np.broadcast_to(stride, 2)
    x = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    win = sliding_window_view(x, w.shape[2:], axis=(2, 3))[:, :, :: s[0], :: s[1]]
    return np.einsum("bchwij,ocij->bohw", win, w) + b[None, :, None, None]


def _sumpool2d(x, node):
    p, s = np.asarray(node.padding), np.asarray(node.stride)
    x = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    win = sliding_window_view(x, tuple(node.kernel_size), axis=(2, 3))[:, :, :: s[0], :: s[1]]
    return win.sum(axis=(-2, -1))


def nir_euler(graph: nir.NIRGraph, x: np.ndarray, dt: float) -> dict[str, np.ndarray]:
    """Run a feed-forward NIR graph on ``x [T, B, *shape]``; spikes per neuron
    node ``[T, B, *shape]``, in topological order."""
    preds = {name: [a for a, b in graph.edges if b == name] for name in graph.nodes}
    order, done = [], set()
    while len(order) < len(graph.nodes):
        for name in graph.nodes:
            if name not in done and all(p in done for p in preds[name]):
                order.append(name)
                done.add(name)
    v = {n: 0.0 for n in order if isinstance(graph.nodes[n], (nir.IF, nir.LIF))}
    spikes = {n: [] for n in v}
    for xt in x.astype(np.float64):
        out = {}
        for name in order:
            node = graph.nodes[name]
            i = xt if isinstance(node, nir.Input) else sum(out[p] for p in preds[name])
            if isinstance(node, nir.Affine):
                out[name] = i @ node.weight.T.astype(np.float64) + node.bias
            elif isinstance(node, nir.Linear):
                out[name] = i @ node.weight.T.astype(np.float64)
            elif isinstance(node, nir.Conv2d):
                assert node.groups == 1 and tuple(node.dilation) == (1, 1)
                out[name] = _conv2d(i, node.weight.astype(np.float64), node.bias, node.stride, node.padding)
            elif isinstance(node, nir.SumPool2d):
                out[name] = _sumpool2d(i, node)
            elif isinstance(node, nir.Flatten):
                assert (node.start_dim, node.end_dim) == (0, -1)
                out[name] = i.reshape(i.shape[0], -1)
            elif isinstance(node, (nir.IF, nir.LIF)):
                if isinstance(node, nir.IF):
                    vn = v[name] + dt * node.r * i
                else:
                    vn = v[name] + dt / node.tau * (node.v_leak - v[name] + node.r * i)
                z = vn > node.v_threshold
                after = vn - node.v_threshold if reset_mode(node) == "subtract" else node.v_reset
                v[name] = np.where(z, after, vn)
                out[name] = z.astype(np.float64)
                spikes[name].append(z)
            else:  # Input, Output
                out[name] = i
    return {n: np.stack(s) for n, s in spikes.items()}


# ----------------------------------------------------------------- models
def mlp(v_reset):
    return torch.nn.Sequential(
        layer.Flatten(step_mode="m"),
        layer.Linear(64, 32, step_mode="m"),
        neuron.LIFNode(tau=20.0, decay_input=False, v_reset=v_reset, step_mode="m"),
        layer.Linear(32, 10, step_mode="m"),
        neuron.LIFNode(tau=20.0, decay_input=False, v_reset=v_reset, step_mode="m"),
    )


def plif(v_reset):
    return torch.nn.Sequential(
        layer.Flatten(step_mode="m"),
        layer.Linear(64, 32, step_mode="m"),
        neuron.ParametricLIFNode(init_tau=3.0, v_reset=v_reset, step_mode="m"),
        layer.Linear(32, 10, step_mode="m"),
        neuron.LIFNode(tau=2.0, v_reset=v_reset, step_mode="m"),
    )


def cnn(v_reset):
    return torch.nn.Sequential(
        layer.Conv2d(2, 8, 3, padding=1, bias=False, step_mode="m"),
        neuron.IFNode(v_reset=v_reset, step_mode="m"),
        SumPool2d(2, step_mode="m"),
        layer.Conv2d(8, 8, 3, padding=1, step_mode="m"),
        neuron.IFNode(v_reset=v_reset, step_mode="m"),
        SumPool2d(2, step_mode="m"),
        layer.Flatten(step_mode="m"),
        layer.Linear(8 * 3 * 3, 10, step_mode="m"),
        neuron.IFNode(v_reset=v_reset, step_mode="m"),
    )


CASES = {  # model, input [T, B, *shape], weight gain for lively activity
    "mlp": (mlp, lambda: torch.rand(16, 4, 1, 8, 8), 3.0),
    "plif": (plif, lambda: torch.rand(16, 4, 1, 8, 8), 8.0),
    "cnn": (cnn, lambda: (torch.rand(12, 4, 2, 12, 12) < 0.3).float(), 3.0),
}


def _build(kind, v_reset):
    torch.manual_seed(0)
    make, data, gain = CASES[kind]
    net = make(v_reset)
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim > 1:
                p.mul_(gain)
    return net, data()


def _sj_spikes(net, x):
    spikes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: spikes.append(o.detach().numpy() > 0))
        for m in net
        if isinstance(m, NEURON_TYPES)
    ]
    functional.reset_net(net)
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return spikes


@pytest.mark.parametrize("v_reset", [0.0, None], ids=["zero", "subtract"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_spikes_match_nir_euler_reference(kind, v_reset, tmp_path):
    net, x = _build(kind, v_reset)
    graph = model_to_nir(net, x, dt=DT).graph
    write_nir(graph, tmp_path / "m.nir")
    _checked = read_nir(tmp_path / "m.nir")
    graph, warnings = _checked.graph, list(_checked.warnings)
    assert warnings == []

    expected = _sj_spikes(net, x)
    ref = nir_euler(graph, x.numpy(), DT)
    neuron_nodes = list(ref)  # topological order == module order
    assert len(neuron_nodes) == len(expected)
    agree = total = 0
    for name, sj in zip(neuron_nodes, expected):
        assert ref[name].shape == sj.shape
        assert 0.01 < sj.mean() < 0.9, f"{kind}/{name}: firing rate {sj.mean():.3f} makes a weak test"
        agree += int((ref[name] == sj).sum())
        total += sj.size
    assert agree / total >= 0.999, f"{total - agree} of {total} (neuron, step) pairs differ"


def test_lif_mapping_is_forward_euler_of_spikingjelly():
    """LIFNode(tau=20, decay_input=False): v <- v (1 - 1/tau) + x (snnTorch
    beta = 0.95) must be NIR's Euler step with tau_nir = tau*dt, r = tau."""
    net = torch.nn.Sequential(
        layer.Linear(3, 5, step_mode="m"), neuron.LIFNode(tau=20.0, decay_input=False, step_mode="m")
    )
    lif = model_to_nir(net, torch.rand(2, 1, 3), dt=DT).graph.nodes["_1"]
    np.testing.assert_allclose(lif.tau, 20.0 * DT)
    np.testing.assert_allclose(lif.r, 20.0)
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    v, x = np.random.default_rng(0).normal(size=(2, 5))
    euler = v + DT / lif.tau * (lif.v_leak - v + lif.r * x)
    np.testing.assert_allclose(euler, v * 0.95 + x, rtol=1e-12)


def test_if_mapping_integrates_one_input_per_step():
    net = torch.nn.Sequential(layer.Linear(3, 4, step_mode="m"), neuron.IFNode(step_mode="m"))
    node = model_to_nir(net, torch.rand(2, 1, 3), dt=DT).graph.nodes["_1"]
    assert isinstance(node, nir.IF)
    np.testing.assert_allclose(DT * node.r, 1.0)


@pytest.mark.parametrize("cls", NEURON_TYPES)
def test_reset_by_subtraction_is_tagged_in_metadata(cls):
    for v_reset, mode in ((None, "subtract"), (0.0, "zero")):
        net = torch.nn.Sequential(layer.Linear(3, 4, step_mode="m"), cls(v_reset=v_reset, step_mode="m"))
        node = model_to_nir(net, torch.rand(2, 1, 3)).graph.nodes["_1"]
        assert reset_mode(node) == mode
        assert (RESET_MODE_KEY in node.metadata) == (mode == "subtract")
        np.testing.assert_array_equal(node.v_reset, 0.0)


def test_sumpool_becomes_nir_sumpool_with_array_fields():
    net = torch.nn.Sequential(layer.Conv2d(1, 2, 3, step_mode="m"), SumPool2d(2, stride=2, padding=1, step_mode="m"))
    node = model_to_nir(net, torch.rand(2, 1, 1, 9, 9)).graph.nodes["_1"]
    assert isinstance(node, nir.SumPool2d)
    for field, want in (("kernel_size", [2, 2]), ("stride", [2, 2]), ("padding", [1, 1])):
        assert isinstance(getattr(node, field), np.ndarray)
        np.testing.assert_array_equal(getattr(node, field), want)
    np.testing.assert_array_equal(node.output_type["output"], [2, 4, 4])


def test_graph_metadata_survives_write_and_read(tmp_path):
    net, x = _build("mlp", None)
    meta = {"encoder": "rate", "time_steps": 16, "dataset": "digits", "gain": 0.5, "classes": ["a", "b"]}
    write_nir(model_to_nir(net, x, dt=2e-4, metadata=meta), tmp_path / "m.nir")
    _checked = read_nir(tmp_path / "m.nir")
    graph, _ = _checked.graph, list(_checked.warnings)
    assert graph.metadata["snncli"] == {
        **meta,
        "producer": "snncli/spikingjelly",
        "reading": "spikingjelly",
        "dt": 2e-4,
    }
    assert reset_mode(graph.nodes["_2"]) == "subtract"
    plain = nir.read(tmp_path / "m.nir")  # nir's own strict reader accepts our files
    assert plain.metadata["snncli"]["encoder"] == "rate"


def test_lone_layer_exports_as_a_graph():
    graph = model_to_nir(layer.Linear(3, 2, step_mode="m"), torch.rand(2, 1, 3)).graph
    assert [type(n).__name__ for n in graph.nodes.values()].count("Affine") == 1
    assert len(graph.inputs) == 1 and len(graph.outputs) == 1


def test_unsupported_module_is_named():
    net = torch.nn.Sequential(layer.Linear(4, 4, step_mode="m"), torch.nn.Dropout())
    with pytest.raises(SnnCliError, match=r"module '1' \(Dropout\)"):
        model_to_nir(net, torch.rand(2, 1, 4))


def test_wrong_example_input_is_a_clear_error():
    net, _ = _build("cnn", 0.0)
    with pytest.raises(SnnCliError, match=r"example input of shape \[2, 1, 3, 12, 12\] does not fit"):
        model_to_nir(net, torch.rand(2, 1, 3, 12, 12))


def test_nan_weight_is_rejected_with_node_and_field():
    net, x = _build("mlp", 0.0)
    with torch.no_grad():
        net[3].weight[0, 0] = float("nan")
    with pytest.raises(SnnCliError, match=r"node '_3' \(Affine\) field 'weight' contains NaN"):
        model_to_nir(net, x)


def test_bad_dt_is_rejected():
    net, x = _build("mlp", 0.0)
    with pytest.raises(SnnCliError, match="dt must be a positive"):
        model_to_nir(net, x, dt=0.0)
    with pytest.raises(SnnCliError, match="metadata says dt"):
        model_to_nir(net, x, dt=1e-4, metadata={"dt": 1e-3})
