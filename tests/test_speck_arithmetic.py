"""Speck integer arithmetic: the IAF step, the synapse rules and Sinabs' discretize.

The oracle is Sinabs' own DynapCNN backend (``IAFSqueeze`` inside a discretized
``DynapcnnLayer``, which sets the spike function, reset and ``min_v_mem`` the chip
configuration is made from).  Sinabs-dependent tests skip where Sinabs is not
installed (``bash scripts/install_sinabs.sh``); installed but not importable is an
error.  Inputs are random integers.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest

from snncli.errors import SnnCliError
from snncli.targets.speck import arithmetic as ar
from snncli.targets.speck.arithmetic import SpeckIAF, speck_iaf_init, speck_iaf_step


@pytest.fixture(scope="module")
def dyn():
    try:
        import sinabs  # noqa: F401
    except ImportError:
        pytest.skip("Sinabs is not installed (bash scripts/install_sinabs.sh): the Speck oracle tests need it")
    from snncli.targets.speck.reference import import_dynapcnn

    return import_dynapcnn()


def _run(params: SpeckIAF, xs: np.ndarray):
    """Step through xs [T, B, ...]: spikes and v after every step."""
    state = speck_iaf_init(xs.shape[2:], xs.shape[1], params)
    spikes, vs = [], []
    for x in xs:
        state, s = speck_iaf_step(state, x, params)
        spikes.append(s)
        vs.append(state["v"])
    return np.stack(spikes), np.stack(vs)


# ---------------------------------------------------------------- by hand
def test_multispike_subtract_floor_by_hand():
    p = SpeckIAF(threshold=10, min_v_mem=-15)
    xs = np.array([9, 1, 35, -3, -40, 0, 26]).reshape(-1, 1, 1)
    spikes, v = _run(p, xs)
    # v: 9 | 10 -> 1 spike, 0 | 35 -> 3 spikes, 5 | 2 | -38 -> floor -15 | -15 | 11 -> 1 spike, 1
    assert spikes.ravel().tolist() == [0, 1, 3, 0, 0, 0, 1]
    assert v.ravel().tolist() == [9, 0, 5, 2, -15, -15, 1]


def test_single_spike_and_reset_to_zero():
    xs = np.array([35, 0, 0]).reshape(-1, 1, 1)
    s, v = _run(SpeckIAF(10, multi_spike=False), xs)
    assert s.ravel().tolist() == [1, 1, 1] and v.ravel().tolist() == [25, 15, 5]
    s, v = _run(SpeckIAF(10, reset="zero"), xs)  # MultiSpike + MembraneReset: 3 spikes, then v = 0
    assert s.ravel().tolist() == [3, 0, 0] and v.ravel().tolist() == [0, 0, 0]


def test_bias_per_channel_and_saturation():
    p = SpeckIAF(threshold=30000, bias=np.array([2, -1]))
    state = speck_iaf_init((2, 1, 1), 1, p)
    state, s = speck_iaf_step(state, np.array([[[[32760]], [[-5]]]]), p)
    assert state["v"].ravel().tolist() == [32762 - 30000, -6] and s.ravel().tolist() == [1, 0]
    state, s = speck_iaf_step({"v": np.array([[[[30000]], [[0]]]])}, np.array([[[[20000]], [[0]]]]), p)
    assert state["v"].ravel()[0] == 32767 - 30000  # clipped to 16 bits before firing
    unsat = replace(p, saturate=False)
    state, s = speck_iaf_step({"v": np.array([[[[30000]], [[0]]]])}, np.array([[[[20000]], [[0]]]]), unsat)
    assert state["v"].ravel()[0] == 50002 - 30000 and s.ravel()[0] == 1  # Sinabs' float state: no clip


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"threshold": 0}, "threshold 0"),
        ({"threshold": 40000}, "threshold 40000"),
        ({"threshold": 10, "min_v_mem": 10}, "min_v_mem 10"),
        ({"threshold": 2.5}, "must be an integer"),
        ({"threshold": 10, "reset": "to_zero"}, "reset"),
        ({"threshold": 10, "bias": np.array([0.5])}, "bias"),
    ],
)
def test_bad_parameters_one_line(kwargs, words):
    with pytest.raises(SnnCliError) as exc:
        SpeckIAF(**kwargs)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_non_integer_input_refused():
    p = SpeckIAF(5)
    with pytest.raises(SnnCliError, match="non-integer"):
        speck_iaf_step(speck_iaf_init((3,), 1, p), np.array([[0.5, 0, 0]]), p)


def test_conv_pool_linear_against_plain_loops():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 3, (2, 3, 7, 6))
    w = rng.integers(-128, 128, (4, 3, 3, 3))
    for stride, pad in (((1, 1), (0, 0)), ((2, 2), (1, 1)), ((1, 2), (2, 1))):
        got = ar.conv2d_int(s, w, stride, pad)
        sp = np.pad(s, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
        ho, wo = (sp.shape[2] - 3) // stride[0] + 1, (sp.shape[3] - 3) // stride[1] + 1
        want = np.zeros((2, 4, ho, wo), dtype=np.int64)
        for i in range(ho):
            for j in range(wo):
                patch = sp[:, :, i * stride[0] : i * stride[0] + 3, j * stride[1] : j * stride[1] + 3]
                want[:, :, i, j] = np.einsum("bcuv,ocuv->bo", patch, w)
        assert np.array_equal(got, want)
    pooled = ar.sum_pool2d_int(s, 2)  # 7x6 -> 3x3, the last row dropped (floor)
    assert pooled.shape == (2, 3, 3, 3) and pooled[0, 0, 0, 0] == s[0, 0, :2, :2].sum()
    assert np.array_equal(
        ar.linear_int(s, np.ones((5, 3 * 7 * 6), dtype=int)), np.repeat(s.reshape(2, -1).sum(1, keepdims=True), 5, 1)
    )


def test_discretize_scale_by_hand():
    w = np.array([[[[50, -20]]]])
    assert ar.discretize_scale(w, None, 100) == 1.0  # min_v_mem None -> -32768: the threshold term is exactly 1
    assert ar.discretize_scale(w, None, 100, -32768) == 1.0
    assert ar.discretize_scale(w, None, 100, -100) == pytest.approx(127 / 50)  # weights now bound s
    assert ar.discretize_scale(np.array([[[[127, -3]]]]), None, 100, -100) == 1.0
    assert ar.discretize_scale(np.array([[[[100, -128]]]]), None, 100, -100) == 1.0
    assert ar.discretize_scale(w, np.array([-128, 5]), 100, -100) == 1.0  # a bias at the 8-bit limit
    assert ar.discretize_scale(w, np.array([-128]), 100) == pytest.approx(127 / 128)  # one value: the max side wins
    assert ar.discretize_scale(w, np.array([1000]), 100) == pytest.approx(127 / 1000)  # bias too wide: scaled down


# ------------------------------------------------------------ vs Sinabs
def _dynapcnn_spk(dyn, threshold, min_v_mem, reset, multi, channels, batch):
    """The IAFSqueeze a discretized DynapcnnLayer holds (weights 127: Sinabs keeps the integers)."""
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike, SingleSpike
    from torch import nn

    conv = nn.Conv2d(channels, channels, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(127 * torch.eye(channels).reshape(channels, channels, 1, 1))
    spk = sl.IAFSqueeze(batch_size=batch, spike_threshold=torch.tensor(float(threshold)), min_v_mem=min_v_mem,
                        spike_fn=MultiSpike if multi else SingleSpike,
                        reset_fn=MembraneSubtract() if reset == "subtract" else MembraneReset())  # fmt: skip
    layer = dyn.DynapcnnLayer(conv, spk, (channels, 3, 4), pool=[[1, 1]], discretize=True)
    assert float(layer.spk.spike_threshold) == threshold  # discretize left the layer as it is
    return layer.spk


@pytest.mark.parametrize(
    "threshold, min_v_mem, reset, multi",
    [
        (37, None, "subtract", True),
        (200, -50, "subtract", True),
        (64, 0, "zero", True),
        (500, -300, "subtract", False),
        (3, -32768, "zero", False),
    ],  # fmt: skip
)
def test_step_matches_sinabs_iafsqueeze(dyn, threshold, min_v_mem, reset, multi):
    import torch

    batch, channels, steps = 3, 2, 60
    spk = _dynapcnn_spk(dyn, threshold, min_v_mem, reset, multi, channels, batch)
    floor = int(spk.min_v_mem)  # None becomes -32768 in discretize
    assert floor == (-32768 if min_v_mem is None else min_v_mem)
    rng = np.random.default_rng(threshold)
    xs = rng.integers(-3 * threshold - 40, 5 * threshold + 40, (steps, batch, channels, 3, 4))
    xs[rng.random(xs.shape) < 0.3] = 0
    xs[steps - 5] = -40000  # deep below the floor, near the end
    p = SpeckIAF(threshold, floor, reset=reset, multi_spike=multi)
    mine_s, mine_v = _run(p, xs)
    spk.reset_states()
    nonsilent = 0
    for t in range(steps):
        with torch.no_grad():
            out = spk(torch.tensor(xs[t], dtype=torch.float32))
        assert np.array_equal(out.numpy(), mine_s[t]), f"spikes differ at step {t}"
        assert np.array_equal(spk.v_mem.numpy(), mine_v[t]), f"v differs at step {t}"
        nonsilent += int(out.sum() > 0)
    assert nonsilent > steps // 2 and mine_s.max() >= (2 if multi else 1)
    assert (mine_v == floor).any()  # the floor was reached


def test_state_width_sinabs_does_not_saturate(dyn):
    """Beyond 16 bits Sinabs keeps counting (float32); ``saturate=False`` follows it, the default clips."""
    import torch

    spk = _dynapcnn_spk(dyn, 30000, None, "subtract", True, 1, 1)
    xs = np.array([25000, 25000, 25000, -90000, 70000]).reshape(-1, 1, 1, 1, 1) * np.ones((1, 1, 1, 3, 4), int)
    sinabs_s, sinabs_v = [], []
    spk.reset_states()
    for x in xs:
        with torch.no_grad():
            sinabs_s.append(spk(torch.tensor(x, dtype=torch.float32)).numpy())
        sinabs_v.append(spk.v_mem.numpy().copy())
    sinabs_s, sinabs_v = np.stack(sinabs_s), np.stack(sinabs_v)
    s, v = _run(SpeckIAF(30000, saturate=False), xs)
    assert np.array_equal(s, sinabs_s) and np.array_equal(v, sinabs_v)
    assert sinabs_v[:, 0, 0, 0, 0].tolist() == [25000, 20000, 15000, -32768, 7232]  # 45000 and 70000 unclipped
    s, v = _run(SpeckIAF(30000), xs)  # saturating: 25000 + 25000 -> 32767 before firing
    assert v[:, 0, 0, 0, 0].tolist() == [25000, 2767, 27767, -32768, 2767]
    assert s[:, 0, 0, 0, 0].tolist() == [0, 1, 0, 0, 1] and sinabs_s[:, 0, 0, 0, 0].tolist() == [0, 1, 1, 0, 1]


def test_dynapcnn_layer_conv_bias_pool_matches(dyn):
    """A whole discretized DynapcnnLayer (conv + bias -> IAFSqueeze -> sum pool 2) vs conv2d_int + step + pool."""
    import sinabs.layers as sl
    import torch
    from torch import nn

    rng = np.random.default_rng(7)
    batch, steps, c_in, c_out = 2, 15, 3, 4
    w = rng.integers(-128, 128, (c_out, c_in, 3, 3))
    w[0, 0, 0, 0] = 127
    b = rng.integers(-9, 12, c_out)
    conv = nn.Conv2d(c_in, c_out, 3, stride=1, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(w, dtype=torch.float32))
        conv.bias.copy_(torch.tensor(b, dtype=torch.float32))
    spk = sl.IAFSqueeze(batch_size=batch, spike_threshold=torch.tensor(150.0), min_v_mem=-400.0)
    layer = dyn.DynapcnnLayer(conv, spk, (c_in, 8, 8), pool=[[2, 2]], discretize=True)
    assert torch.equal(layer.conv.weight, torch.tensor(w, dtype=torch.float32))
    x = rng.integers(0, 3, (steps, batch, c_in, 8, 8)) * (rng.random((steps, batch, c_in, 8, 8)) < 0.3)
    with torch.no_grad():
        pooled = layer(torch.tensor(x, dtype=torch.float32).transpose(0, 1).reshape(batch * steps, c_in, 8, 8))
    pooled = pooled.reshape(batch, steps, c_out, 4, 4).transpose(0, 1).numpy()
    p = SpeckIAF(150, -400, bias=b)
    state = speck_iaf_init((c_out, 8, 8), batch, p)
    total = 0
    for t in range(steps):
        state, s = speck_iaf_step(state, ar.conv2d_int(x[t], w, 1, 1), p)
        assert np.array_equal(ar.sum_pool2d_int(s, 2), pooled[t]), f"step {t}"
        total += int(s.sum())
    assert total > 50


def test_discretization_scale_formula_matches_sinabs(dyn):
    import torch
    from sinabs.backend.dynapcnn.discretize import determine_discretization_scale

    rng = np.random.default_rng(11)
    cases = [np.zeros(4), np.full(3, -128.0), np.array([-1.0, -1.0]), np.array([5.0, -5.0]), np.array([127.0, -128.0])]
    cases += [rng.normal(0, rng.uniform(0.01, 300), rng.integers(1, 50)) for _ in range(200)]
    for values in cases:
        for bits in (8, 16):
            want = float(determine_discretization_scale(torch.tensor(values, dtype=torch.float32), bits))
            assert ar.discretization_scale(values, bits) == want or (
                np.isinf(want) and np.isinf(ar.discretization_scale(values, bits))
            )


def test_discretize_keeps_integers_iff_scale_is_one(dyn):
    """What DynapcnnLayer(discretize=True) does to integer layers: unchanged iff s == 1, else round(s * .)."""
    import sinabs.layers as sl
    import torch
    from torch import nn

    rng = np.random.default_rng(5)
    seen = {True: 0, False: 0}
    for trial in range(60):
        hi = int(rng.choice([127, 90, 40]))
        w = rng.integers(-hi, hi + 1, (3, 2, 3, 3))
        b = rng.integers(-10, 11, 3) if trial % 3 == 0 else None
        theta = int(rng.integers(1, 2000))
        floor = [None, -32768, -theta, 0][trial % 4]
        conv = nn.Conv2d(2, 3, 3, bias=b is not None)
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(w, dtype=torch.float32))
            if b is not None:
                conv.bias.copy_(torch.tensor(b, dtype=torch.float32))
        spk = sl.IAFSqueeze(batch_size=1, spike_threshold=torch.tensor(float(theta)), min_v_mem=floor)
        layer = dyn.DynapcnnLayer(conv, spk, (2, 5, 5), pool=[[1, 1]], discretize=True)
        s = ar.discretize_scale(w, b, theta, floor)
        got = layer.conv.weight.detach().numpy()
        unchanged = np.array_equal(got, w) and float(layer.spk.spike_threshold) == theta
        assert unchanged == (s == 1.0), (trial, s)
        assert np.array_equal(got, np.round(np.float32(s) * w.astype(np.float32)))
        seen[unchanged] += 1
    assert seen[True] > 10 and seen[False] > 10


def test_samna_stand_in(dyn):
    """sinabs.backend.dynapcnn imported, no samna left behind; the samna-only paths fail in one line."""
    from snncli.targets.speck.reference import SamnaUnavailable

    assert "samnagui" not in sys.modules
    assert "samna" not in sys.modules or not str(getattr(sys.modules["samna"], "__doc__", "")).startswith("snncli")
    from sinabs.backend.dynapcnn.chips.speck2f import Speck2FConfigBuilder

    with pytest.raises(SamnaUnavailable) as exc:
        Speck2FConfigBuilder.get_default_config()
    assert "samna" in str(exc.value) and "\n" not in str(exc.value)
    assert isinstance(exc.value, SnnCliError)
    with pytest.raises(SamnaUnavailable):
        _ = Speck2FConfigBuilder.get_samna_module().validate_configuration
