"""Third-party NIR graphs from the NIR paper load, lower and simulate; lif_norse matches Norse."""

import nir
import numpy as np
import pytest
from nets import lower

from snncli.hwsim.simulate import simulate
from snncli.nirgraph import read_nir
from snncli.nirgraph.detect import detect

GRAPHS = [
    "braille_noDelay_bias_zero.nir",
    "braille_noDelay_noBias_subtract.nir",
    "cnn_sinabs.nir",
    "lif_norse.nir",
    "lif_rockpool.nir",
    "two_lif_neurons.nir",
]


def read(path):
    return read_nir(str(path))


def lif_trace(conformance, name):
    data = np.loadtxt(conformance / name, delimiter=",")
    return data[:, 0].reshape(-1, 1, 1), data[:, 1], data[:, 2]


@pytest.mark.parametrize("name", GRAPHS)
def test_every_conformance_graph_simulates(conformance, name):
    program = lower(read(conformance / name))
    shape = program.input_layers[0].out_shape
    x = (np.random.default_rng(0).random((20, 3, *shape)) < 0.3).astype(float)
    result = simulate(program, x)
    assert result.outputs.shape[:2] == (20, 3)
    assert all(c.neuron_updates > 0 for c in result.counters if c.op == "neuron")


@pytest.mark.parametrize("csv", ["lif_norse.csv", "lif_exact.csv"])
def test_lif_norse_spike_times_match(conformance, csv):
    x, voltage, spikes = lif_trace(conformance, csv)
    result = simulate(lower(read(conformance / "lif_norse.nir")), x, record=True)
    ours = result.outputs[:, 0, 0]
    assert spikes.sum() == 4
    np.testing.assert_array_equal(np.flatnonzero(ours), np.flatnonzero(spikes))
    if csv == "lif_norse.csv":  # plain Euler at dt = 1e-4 is what Norse computes
        v = result.records["1"]["v"][:, 0, 0]
        assert np.max(np.abs(v - voltage)) < 3e-8


def test_sinabs_cnn_reading_is_detected_and_selectable(conformance):
    graph = read(conformance / "cnn_sinabs.nir")
    found = detect(graph)
    assert found.producer == "sinabs" and found.reading == "sinabs"  # Sinabs' layer defaults, with a warning
    assert "--reading sinabs-floor" in found.message  # Sinabs' own from_nir: IAFSqueeze(min_v_mem=-threshold)
    spec, sinabs, floor = (lower(graph, reading=r) for r in ("nir", "sinabs", "sinabs-floor"))
    first_if = sinabs.layer("1").neuron
    assert first_if.reset == "subtract" and first_if.multi_spike and first_if.fire == ">=" and first_if.v_min is None
    assert np.all(floor.layer("1").neuron.v_min == -first_if.v_threshold)
    x = (np.random.default_rng(0).random((10, 2, 2, 34, 34)) < 0.2).astype(float)
    fired = {c.name: c.spikes for c in simulate(sinabs, x).counters if c.op == "neuron"}
    fired_spec = {c.name: c.spikes for c in simulate(spec, x).counters if c.op == "neuron"}
    assert fired["1"] > 0 and fired_spec["1"] == 0  # r = 1 only makes sense per step


def test_braille_recurrent_edges_are_delayed(conformance):
    program = lower(read(conformance / "braille_noDelay_noBias_subtract.nir"))
    assert program.layer("lif1.lif").delayed_inputs == ("lif1.w_rec",)
    assert program.layer("lif1.lif").neuron.i_decay is not None
    biased = lower(read(conformance / "braille_noDelay_bias_zero.nir"))  # the delay sits before the biased synapse
    assert (
        biased.layer("lif1.w_rec").delayed_inputs == ("lif1.lif",) and "lif1.w_rec" in biased.layer("lif1.lif").inputs
    )


def test_braille_is_snntorch_and_its_reset_is_asked(conformance):
    for name in ("braille_noDelay_bias_zero.nir", "braille_noDelay_noBias_subtract.nir"):
        found = detect(read(conformance / name))
        assert found.producer == "snntorch" and found.reading is None
        assert "--reading snntorch-subtract-nodelay" in found.message


def test_braille_subtract_matches_norse_with_reset_by_subtraction(conformance):
    """Norse's from_nir(reset_method=reset_subtract) at dt = 1e-4 is the spec with v -= thr: --reading nir-subtract
    (snnTorch's reset_delay=False keeps a stale term in its spike test, snntorch-subtract-nodelay, and differs)."""
    torch = pytest.importorskip("torch")
    norse = pytest.importorskip("norse.torch")
    from norse.torch.functional.reset import reset_subtract

    path = conformance / "braille_noDelay_noBias_subtract.nir"
    model = norse.from_nir(nir.read(str(path), type_check=False), dt=1e-4, reset_method=reset_subtract).double()
    x = (np.random.default_rng(0).random((100, 4, 12)) < 0.3).astype(np.float64)
    state, expected = None, []
    for t in range(len(x)):
        y, state = model(torch.tensor(x[t]), state)
        expected.append(y.detach().numpy())
    expected = np.stack(expected)
    assert expected.sum() > 50
    got = simulate(lower(read(path), reading="nir-subtract"), x).outputs
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(simulate(lower(read(path), reading="nir"), x).outputs, expected)


def test_lif_rockpool_matches_rockpools_spike_times(conformance):
    """Rockpool's LIFNeuronTorch (what lif_rockpool.nir was exported from) spikes at 450, 500, 710, 760 on the
    paper's input (Rockpool 3.1.0); snncli reads the graph as Rockpool (detected) and agrees."""
    x, _, _ = lif_trace(conformance, "lif_norse.csv")
    graph = read(conformance / "lif_rockpool.nir")
    found = detect(graph)
    assert found.reading == "rockpool" and found.dt == pytest.approx(1e-4)
    ours = np.flatnonzero(simulate(lower(graph, dt=found.dt, reading="rockpool"), x).outputs[:, 0, 0])
    np.testing.assert_array_equal(ours, [450, 500, 710, 760])
    rockpool = pytest.importorskip("rockpool.nn.modules")
    torch = pytest.importorskip("torch")
    lin, lif = graph.graph.nodes["0_LinearTorch"], graph.graph.nodes["1_LIFNeuronTorch"]
    linear = rockpool.LinearTorch((1, 1), weight=torch.tensor(np.asarray(lin.weight, float).T), has_bias=False).double()
    neuron = rockpool.LIFNeuronTorch(
        (1,),
        tau_mem=torch.tensor(np.asarray(lif.tau, float)),
        threshold=torch.tensor(np.asarray(lif.v_threshold, float)),
        dt=found.dt,
    )
    spikes, _, _ = neuron(linear(torch.tensor(x.reshape(1, -1, 1)))[0])
    np.testing.assert_array_equal(np.flatnonzero(spikes.detach().numpy().reshape(-1)), ours)
