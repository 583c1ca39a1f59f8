"""Third-party NIR graphs from the NIR paper load, lower and simulate; lif_norse matches Norse."""

import numpy as np
import pytest

from nets import lower

from snncli.hwsim.simulate import simulate
from snncli.nirgraph import read_nir

GRAPHS = ["braille_noDelay_bias_zero.nir", "braille_noDelay_noBias_subtract.nir", "cnn_sinabs.nir",
          "lif_norse.nir", "lif_rockpool.nir", "two_lif_neurons.nir"]


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


def test_sinabs_cnn_reading_is_flagged_and_selectable(conformance):
    graph = read(conformance / "cnn_sinabs.nir")
    spec = lower(graph, reading="nir")
    assert any("looks like a Sinabs or Norse export" in w for w in spec.warnings)
    sinabs = lower(graph, reading="sinabs")
    assert sinabs.warnings == []
    first_if = sinabs.layer("1").neuron
    assert first_if.reset == "subtract" and np.all(first_if.v_min == -first_if.v_threshold)
    x = (np.random.default_rng(0).random((10, 2, 2, 34, 34)) < 0.2).astype(float)
    fired = {c.name: c.spikes for c in simulate(sinabs, x).counters if c.op == "neuron"}
    fired_spec = {c.name: c.spikes for c in simulate(spec, x).counters if c.op == "neuron"}
    assert fired["1"] > 0 and fired_spec["1"] == 0  # r = 1 only makes sense per step


def test_braille_recurrent_edges_are_delayed(conformance):
    program = lower(read(conformance / "braille_noDelay_bias_zero.nir"))
    assert program.layer("lif1.lif").delayed_inputs == ("lif1.w_rec",)
    assert program.layer("lif1.lif").neuron.i_decay is not None
