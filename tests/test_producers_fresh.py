"""Fresh graphs of the corpus' kinds: small models built in each installed producer with seeded random
weights, sizes, thresholds, time constants and T, run in the producer, exported with its exporter.

snncli's output must equal the producer's with the reading it detects, or with the reading its one-line
warning or refusal names, and that reading must be the one the model's settings mean: snncli passes because
it implements the semantics, not because it recognises the corpus files.  Each producer is skipped where it
is not installed (scripts/install_peers.sh installs Norse and Rockpool).
"""

import contextlib
import io
import re
import warnings

import numpy as np
import pytest

from snncli.hwsim.simulate import simulate
from snncli.nirgraph import read_nir
from snncli.nirgraph.detect import detect, implied_dt
from snncli.targets.float.lowering import lower_float

torch = pytest.importorskip("torch")
SEED = 20261204


def _sizes(rng):
    return (int(v) for v in (rng.integers(8, 20), rng.integers(10, 30), rng.integers(4, 12), rng.integers(20, 40), 4))


def _spikes(rng, steps, batch, features):
    return (rng.random((steps, batch, features)) < 0.3).astype(np.float64)


def _f32(values):
    return torch.tensor(values, dtype=torch.float32)


def _scale_linears(modules, factor):
    with torch.no_grad():
        for m in modules:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(factor)


# ------------------------------------------------------------------ one builder per producer
def _snntorch(rng, cls, reset, delay):
    snn = pytest.importorskip("snntorch")
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    features, hidden, out, steps, batch = _sizes(rng)

    def neuron(n):
        kw = dict(
            beta=_f32(rng.uniform(0.75, 0.95, n)),
            threshold=_f32(rng.uniform(0.6, 1.4, n)),
            init_hidden=True,
            reset_mechanism=reset,
            reset_delay=delay,
        )
        return snn.Synaptic(alpha=_f32(rng.uniform(0.5, 0.9, n)), **kw) if cls == "Synaptic" else snn.Leaky(**kw)

    net = torch.nn.Sequential(
        torch.nn.Linear(features, hidden), neuron(hidden), torch.nn.Linear(hidden, out), neuron(out)
    )
    _scale_linears(net, 3.0)
    x = _spikes(rng, steps, batch, features)
    utils.reset(net)
    with torch.no_grad():
        y = np.stack([net(_f32(x[t])).numpy() for t in range(steps)])
        utils.reset(net)
        with contextlib.redirect_stdout(io.StringIO()):
            graph = export_to_nir(net, _f32(x[0]), ignore_dims=[0])
    return graph, x, y


def _spikingjelly(rng, kind):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    features, hidden, out, steps, batch = _sizes(rng)
    mode = "s" if kind == "CUBALIF" else "m"

    def nrn():
        thr = float(rng.uniform(0.5, 1.2))
        if kind == "IF":
            return neuron.IFNode(v_threshold=thr, step_mode=mode)
        if kind == "LIF-decay":
            return neuron.LIFNode(tau=float(rng.uniform(1.5, 4)), v_threshold=thr, step_mode=mode)
        if kind == "LIF-nodecay":
            return neuron.LIFNode(
                tau=float(rng.uniform(1.5, 20)),
                decay_input=False,
                v_threshold=thr,
                v_reset=float(rng.uniform(-0.4, 0)),
                step_mode=mode,
            )
        return neuron.CUBALIFNode(
            v_threshold=thr, c_decay=float(rng.uniform(0.5, 0.9)), v_decay=float(rng.uniform(0.5, 0.9))
        )

    net = torch.nn.Sequential(
        layer.Linear(features, hidden, step_mode=mode), nrn(), layer.Linear(hidden, out, step_mode=mode), nrn()
    ).double()
    _scale_linears(net, 6.0 if kind == "LIF-decay" else 3.0)
    x = _spikes(rng, steps, batch, features)
    functional.reset_net(net)
    with torch.no_grad():
        y = net(torch.tensor(x)).numpy() if mode == "m" else np.stack([net(torch.tensor(xt)).numpy() for xt in x])
    functional.reset_net(net)
    return export_to_nir(net, torch.tensor(x[:, :1] if mode == "m" else x[0, :1])), x, y


def _sinabs(rng, kind, spike, floor):
    sinabs = pytest.importorskip("sinabs")
    import sinabs.layers as sl
    from sinabs.activation import MultiSpike, SingleSpike

    features, hidden, out, steps, batch = _sizes(rng)

    def nrn(n, last):
        thr = _f32(rng.uniform(0.6, 1.4, n)) if kind == "LIF" else float(rng.uniform(0.6, 1.4))
        kw = dict(
            batch_size=batch,
            spike_threshold=thr,
            spike_fn=SingleSpike if spike == "single" else MultiSpike,
            min_v_mem=-thr if floor else None,
        )
        if kind == "LIF":
            return sl.LIFSqueeze(tau_mem=_f32(rng.uniform(5, 30, n)), **kw)
        if kind == "ExpLeak" and last:
            return sl.ExpLeakSqueeze(tau_mem=_f32(rng.uniform(5, 20, n)), batch_size=batch)
        return sl.IAFSqueeze(**kw)

    net = torch.nn.Sequential(
        torch.nn.Linear(features, hidden), nrn(hidden, False), torch.nn.Linear(hidden, out), nrn(out, True)
    )
    _scale_linears(net, 30.0 if kind == "LIF" else 3.0)
    x = _spikes(rng, steps, batch, features)
    flat = _f32(x.transpose(1, 0, 2).reshape(batch * steps, features))
    with torch.no_grad():
        y = net(flat).numpy().reshape(batch, steps, out).transpose(1, 0, 2)
    for m in net:
        if hasattr(m, "reset_states"):
            m.reset_states()
    graph = sinabs.to_nir(net, flat)
    graph.infer_types()  # Sinabs leaves Linear/Flatten types None (corpus README, case 24)
    return graph, x, y


def _norse(rng, kind, dt):
    nt = pytest.importorskip("norse.torch")
    features, hidden, out, steps, batch = _sizes(rng)

    def nrn(n, last):
        th, inv, zeros = _f32(rng.uniform(0.6, 1.4, n)), _f32(rng.uniform(100, 200, n)), torch.zeros(n)
        if kind == "IAF" or (kind == "IAF-LI" and not last):
            return nt.IAFCell(nt.IAFParameters(v_th=th))
        if kind == "IAF-LI":
            return nt.LIBoxCell(nt.LIBoxParameters(tau_mem_inv=inv, v_leak=zeros), dt=dt)
        if kind == "LIF":
            return nt.LIFCell(
                nt.LIFParameters(tau_syn_inv=_f32(rng.uniform(150, 300, n)), tau_mem_inv=inv, v_th=th, v_leak=zeros),
                dt=dt,
            )
        return nt.LIFBoxCell(nt.LIFBoxParameters(tau_mem_inv=inv, v_th=th, v_leak=_f32(rng.uniform(0, 0.4, n))), dt=dt)

    net = nt.SequentialState(
        torch.nn.Linear(features, hidden), nrn(hidden, False), torch.nn.Linear(hidden, out), nrn(out, True)
    )
    _scale_linears(net, {"LIF": 30.0, "LIFBox": 25.0 * 1e-3 / dt}.get(kind, 3.0))
    x = _spikes(rng, steps, batch, features)
    state, ys = None, []
    with torch.no_grad():
        for t in range(steps):
            y, state = net(_f32(x[t]), state)
            ys.append(y.numpy())
    return nt.to_nir(net, _f32(x[0][:1]), dt=dt), x, np.stack(ys)


def _rockpool(rng, kind, dt):
    pytest.importorskip("rockpool")
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFNeuronTorch, LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    features, hidden, out, steps, batch = _sizes(rng)

    def nrn(n):
        tau, thr = _f32(rng.uniform(0.01, 0.04, n)), _f32(rng.uniform(0.6, 1.4, n))
        if kind == "LIF":
            return LIFTorch(n, tau_mem=tau, tau_syn=_f32(rng.uniform(0.004, 0.02, n)), threshold=thr, dt=dt)
        return LIFNeuronTorch(n, tau_mem=tau, threshold=thr, dt=dt)

    net = Sequential(
        LinearTorch((features, hidden), has_bias=False),
        nrn(hidden),
        LinearTorch((hidden, out), has_bias=False),
        nrn(out),
    )
    x = _spikes(rng, steps, batch, features)
    y, _, _ = net(_f32(x.transpose(1, 0, 2)))
    net.reset_state()
    return to_nir(net), x, y.detach().numpy().transpose(1, 0, 2)


# kind -> (builder, its arguments, the reading the model's settings mean, output compared as voltage)
CASES = {
    "snntorch-leaky-subtract": (_snntorch, ("Leaky", "subtract", True), "snntorch-subtract", False),
    "snntorch-leaky-zero": (_snntorch, ("Leaky", "zero", True), "snntorch-zero", False),
    "snntorch-leaky-subtract-nodelay": (_snntorch, ("Leaky", "subtract", False), "snntorch-subtract-nodelay", False),
    "snntorch-synaptic-zero": (_snntorch, ("Synaptic", "zero", True), "snntorch-zero", False),
    "snntorch-synaptic-subtract": (_snntorch, ("Synaptic", "subtract", True), "snntorch-subtract", False),
    "spikingjelly-if": (_spikingjelly, ("IF",), "spikingjelly", False),
    "spikingjelly-lif-decay-input": (_spikingjelly, ("LIF-decay",), "spikingjelly", False),
    "spikingjelly-lif-vreset": (_spikingjelly, ("LIF-nodecay",), "spikingjelly", False),
    "spikingjelly-cubalif": (_spikingjelly, ("CUBALIF",), "spikingjelly", False),
    "sinabs-iaf-defaults": (_sinabs, ("IAF", "multi", False), "sinabs", False),
    "sinabs-iaf-single-floor": (_sinabs, ("IAF", "single", True), "sinabs-single-floor", False),
    "sinabs-lif": (_sinabs, ("LIF", "multi", False), "sinabs", False),
    "sinabs-iaf-expleak": (_sinabs, ("ExpLeak", "multi", False), "sinabs", True),
    "norse-lifbox": (_norse, ("LIFBox", 1e-3), "norse", False),
    "norse-lifbox-dt1e-4": (_norse, ("LIFBox", 1e-4), "norse", False),
    "norse-lif": (_norse, ("LIF", 1e-3), "norse", False),
    "norse-iaf": (_norse, ("IAF", 1e-3), "norse", False),
    "norse-iaf-libox": (_norse, ("IAF-LI", 1e-3), "norse", True),
    "rockpool-liftorch": (_rockpool, ("LIF", 1e-3), "rockpool", False),
    "rockpool-lifneurontorch": (_rockpool, ("LIFNeuron", 1e-3), "rockpool", False),
}


def _equal(got, expected, voltage: bool) -> bool:
    if voltage:
        return bool(np.allclose(got, expected, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(expected).max())))
    return bool(np.array_equal(got, expected))


@pytest.mark.parametrize("kind", list(CASES))
def test_fresh_graph_reads_as_its_producer_computes(kind, tmp_path):
    import nir

    build, args, meant, voltage = CASES[kind]
    rng = np.random.default_rng([SEED, list(CASES).index(kind)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph_nir, x, expected = build(rng, *args)
    assert np.any(expected != 0), f"{kind}: the producer's model is silent; the comparison would prove nothing"
    nir.write(tmp_path / "g.nir", graph_nir, compression=None)  # 0-d parameters cannot be gzipped (corpus README)
    graph = read_nir(tmp_path / "g.nir")
    found = detect(graph)
    named = re.findall(r"--reading ([a-z-]+)", found.message or "")
    assert found.reading == meant or meant in named, f"{kind}: {meant} is neither applied nor named: {found.message}"
    assert len(named) <= 3 + (found.reading is not None)
    dt = found.dt or implied_dt(graph, meant)[0] or 1e-4
    got = simulate(lower_float(graph, dt, meant), x).outputs.reshape(expected.shape)
    assert _equal(got, expected, voltage), f"{kind}: {np.mean(got != expected):.2%} of the entries differ"
    if found.reading != meant:  # a default applied, or a refusal: never silent, and it names what is meant
        assert found.message and meant in named
