"""The Speck oracle: Sinabs' DynapcnnNetwork (discretize=True) vs snncli's numpy forward, spike for spike.

Skips where Sinabs is not installed (``bash scripts/install_sinabs.sh``).  Inputs are
random integer event frames; every layer must spike (a silent network proves nothing).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_speck_nets import build_net, events, pooled_cnn

from snncli.errors import SnnCliError
from snncli.targets.speck.arithmetic import STATE_MAX, STATE_MIN
from snncli.targets.speck.network import IntegerLayer, run_network


@pytest.fixture(scope="module")
def reference():
    try:
        import sinabs  # noqa: F401
    except ImportError:
        pytest.skip("Sinabs is not installed (bash scripts/install_sinabs.sh): the Speck oracle tests need it")
    from snncli.targets.speck import reference as ref

    ref.import_dynapcnn()
    return ref


CASES = {"nir_paper_cnn": ((2, 34, 34), 0.08), "pooled_cnn": ((2, 32, 32), 0.15), "dvs_cnn": ((2, 128, 128), 0.05)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sinabs_and_numpy_spike_alike(reference, name, request):
    shape, p = CASES[name]
    layers = build_net(name, request)
    x = events(shape, steps=12, batch=2, p=p, seed=len(name))
    ref = reference.run_reference(layers, x, record_v=True)
    assert set(ref.discretize_scale.values()) == {1.0}  # discretize kept every integer
    mine = run_network(layers, x)  # saturating (the chip's 16 bits) ...
    for layer in layers:
        got, want = mine[layer.name], ref.spikes[layer.name]
        assert got.shape == want.shape == (12, 2, *layer.neuron_shape)
        assert np.array_equal(got, want), f"{name}/{layer.name}: {np.argwhere(got != want)[:3].tolist()}"
        assert got.sum() > 0, f"{name}/{layer.name} is silent"
        v = ref.v[layer.name]  # ... which these inputs never exceed, as in Sinabs
        assert v.min() >= STATE_MIN and v.max() <= STATE_MAX
    assert max(int(mine[layer.name].max()) for layer in layers) >= 2  # MultiSpike: several spikes in one step


def test_states_match_step_by_step(reference):
    """Membrane states after every step, not only spikes (record_v)."""
    from snncli.targets.speck import arithmetic as ar

    layers = pooled_cnn(seed=3)
    x = events((2, 32, 32), steps=8, batch=1, p=0.2, seed=9)
    ref = reference.run_reference(layers, x, record_v=True)
    state, a = None, None
    for t in range(8):
        a = x[t]
        for i, layer in enumerate(layers):
            syn = (
                ar.linear_int(a, layer.weight)
                if layer.kind == "linear"
                else ar.conv2d_int(a, layer.weight, layer.stride, layer.padding)
            )
            if t == 0 and i == 0:
                state = {lay.name: ar.speck_iaf_init(lay.spec.neuron_shape, 1, lay.neuron) for lay in layers}
            st, s = ar.speck_iaf_step(state[layer.name], syn.reshape(1, *layer.spec.neuron_shape), layer.neuron)
            state[layer.name] = st
            assert np.array_equal(st["v"].reshape(ref.v[layer.name][t].shape), ref.v[layer.name][t]), (t, layer.name)
            a = ar.sum_pool2d_int(s, layer.pool)


def test_discretize_that_changes_the_integers_is_refused(reference):
    """A floor of -theta with weights short of the 8-bit range: Sinabs scales by 127/60 and rounds."""
    rng = np.random.default_rng(0)
    w = rng.integers(-60, 61, (4, 2, 3, 3))
    w[0, 0, 0, 0] = 60
    layers = [IntegerLayer("soft", w, (2, 8, 8), 100, min_v_mem=-100, padding=1)]
    with pytest.raises(SnnCliError) as exc:
        reference.run_reference(layers, events((2, 8, 8), 3, 1, 0.3))
    msg = str(exc.value)
    assert "\n" not in msg and "'soft'" in msg and "2.11667" in msg and "min_v_mem = -32768" in msg


def test_discretize_by_an_exact_multiple_is_accepted(reference):
    """Ternary weights, threshold 2, floor -1: Sinabs multiplies everything by exactly 127."""
    rng = np.random.default_rng(1)
    w = rng.integers(-1, 2, (6, 2, 3, 3))
    w[0, 0, 0, 0] = 1
    layers = [
        IntegerLayer("t1", w, (2, 10, 10), 2, min_v_mem=-1, padding=1, pool=2),
        IntegerLayer("t2", rng.integers(-1, 2, (5, 6 * 5 * 5)), (6, 5, 5), 2),
    ]
    x = events((2, 10, 10), 10, 2, 0.4, seed=4)
    ref = reference.run_reference(layers, x, record_v=True)
    assert ref.discretize_scale["t1"] == 127.0
    mine = run_network(layers, x)
    for layer in layers:
        assert np.array_equal(mine[layer.name], ref.spikes[layer.name]) and mine[layer.name].sum() > 0


def test_bad_input_one_line(reference):
    layers = pooled_cnn()
    for bad, words in ((np.full((2, 1, 2, 32, 32), 0.5), "integer"), (-np.ones((2, 1, 2, 32, 32)), ">= 0"),
                       (np.zeros((2, 1, 3, 32, 32)), "does not match")):  # fmt: skip
        with pytest.raises(SnnCliError, match=words) as exc:
            reference.run_reference(layers, bad)
        assert "\n" not in str(exc.value)
