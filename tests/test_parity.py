"""``snncli.parity``: the per-layer lags that line a pipelined program up with the float model."""

from __future__ import annotations

import numpy as np
from nets import braille, cnn, lower, lower_loihi, mlp

from snncli.commands.parity import layer_lags
from snncli.hwsim.simulate import Simulator, pad_for_latency


def test_lags_follow_edges_not_the_list_order(conformance):
    # the Loihi Program lists every synapse before the neurons: the lags must still be the pipeline depth
    for graph in (mlp(), cnn(), braille(conformance)):
        program = lower_loihi(graph)
        lags = layer_lags(program)
        assert {n: lags[n] for n in program.notes["depth"]} == program.notes["depth"]
        assert lags[program.output_layers[0].name] == program.latency_steps


def test_float_program_has_no_lag_and_recurrent_edges_add_none(conformance):
    for graph in (cnn(), braille(conformance)):
        program = lower(graph)
        lags = layer_lags(program)
        assert {lags[layer.name] for layer in program.neuron_layers + program.output_layers} == {0}


def test_lagged_loihi_spikes_line_up_with_the_float_model():
    graph = cnn(encoder="poisson")
    rng = np.random.default_rng(0)
    x = (rng.random((12, 16, 1, 8, 8)) < 0.4).astype(np.float64)
    fres = Simulator(lower(graph)).run(x, record=True)
    program = lower_loihi(graph, calibration=x)
    lres = Simulator(program).run(pad_for_latency(program, x), record=True)
    lags = layer_lags(program)
    for layer in program.neuron_layers:
        ours = lres.records[layer.name]["out"][lags[layer.name] : lags[layer.name] + x.shape[0]]
        theirs = fres.records[layer.name]["out"]
        assert theirs.mean() > 0.01  # the layer is active
        assert np.mean(ours == theirs) > 0.95, layer.name
