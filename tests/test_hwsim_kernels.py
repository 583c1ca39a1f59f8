"""hwsim's compiled paths against the plain rules they replace, bit for bit.

* every neuron model's compiled ``window`` against its pure numpy ``step`` called T times: outputs, final
  states and every recorded state equal (``np.array_equal``, no tolerance), on inputs that hit the
  thresholds exactly and, for Loihi, push every wrap and saturation; windows split in two carry the state;
* the synaptic kernels (:mod:`snncli.hwsim.kernels`) against a plain accumulation in the same order, and
  their counts against the counters' definitions written out in numpy;
* whole programs (float, Loihi, Speck; feed-forward and recurrent) with the compiled windows against the
  same programs run through ``step``: spikes, records and counters equal;
* streaming batches equal one run; records narrow spikes to bool/small ints and states to the chip's width.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import nir
import numpy as np
import pytest
import scipy.sparse as sp
from nets import braille, chain, cnn, lower, lower_loihi, mlp

from snncli.errors import SnnCliError
from snncli.hwsim import kernels
from snncli.hwsim.simulate import Simulator, spike_record
from snncli.hwsim.synapses import conv2d_runs, conv2d_table
from snncli.targets.float.neuron import RESETS, FloatLIF
from snncli.targets.float.neuron import _coefficients as float_coefficients
from snncli.targets.float.neuron import init as float_init
from snncli.targets.float.neuron import step as float_step
from snncli.targets.float.neuron import window as float_window
from snncli.targets.loihi.arithmetic import LoihiCuba, loihi_cuba_init, loihi_cuba_step, loihi_cuba_window
from snncli.targets.speck.arithmetic import SpeckIAF, speck_iaf_init, speck_iaf_step, speck_iaf_window


def _stepped(step, state, x, params):
    """``step`` T times: (final state, outputs [T, ...], every per-neuron state after each step)."""
    outs, recs = [], {}
    for t in range(x.shape[0]):
        state, out = step(state, x[t], params)
        outs.append(out)
        for key, value in state.items():
            if np.ndim(value) > 0:
                recs.setdefault(key, []).append(value)
    return state, np.stack(outs), {k: np.stack(v) for k, v in recs.items()}


def _assert_window_is_step(init, step, window, params, x, shape, split=None):
    """The window (in two pieces at ``split``) equals the step loop exactly."""
    start = init(shape, x.shape[1], params)
    state, outs, recs = _stepped(step, start, x, params)
    cut = x.shape[0] // 2 if split is None else split
    mid, first, rec1 = window(start, x[:cut], params, True)
    end, second, rec2 = window(mid, x[cut:], params, True)
    np.testing.assert_array_equal(np.concatenate([first, second]), outs)
    assert sorted(end) == sorted(state)
    for key in state:
        np.testing.assert_array_equal(end[key], state[key], err_msg=key)
    assert sorted(rec1) == sorted(recs)
    for key in recs:
        np.testing.assert_array_equal(np.concatenate([rec1[key], rec2[key]]), recs[key], err_msg=key)
    _, plain, none = window(start, x, params, False)
    np.testing.assert_array_equal(plain, outs)
    assert none is None
    rows = x.shape[0] * x.shape[1]
    events = np.full(rows + 1, -1, dtype=np.int64)
    window(start, x, params, False, None, events)  # where each row's non-zero outputs start, counted as written
    np.testing.assert_array_equal(events, np.concatenate([[0], np.cumsum(np.count_nonzero(outs.reshape(rows, -1), 1))]))
    return outs


# ------------------------------------------------------------------ neuron windows
FLOAT_CASES = [  # every reset x firing rule x spike count, with the current, floor and start toggled across them
    (reset, fire, multi, (k % 2 == 0), (k % 3 == 0), (k % 4 == 1))
    for k, (reset, fire, multi) in enumerate(itertools.product(RESETS, (">", ">="), (False, True)))
]


@pytest.mark.parametrize("uniform", [False, True], ids=["per-neuron", "uniform"])
@pytest.mark.parametrize("reset,fire,multi,current,floor,start", FLOAT_CASES)
def test_float_window_is_its_step(reset, fire, multi, current, floor, start, uniform):
    rng = np.random.default_rng(len(FLOAT_CASES) * RESETS.index(reset) + multi)
    shape = (3, 5)

    def pick(values):  # per neuron, or one value for the layer (the kernel's uniform variant)
        return np.full(shape, rng.choice(values)) if uniform else rng.choice(values, shape)

    params = FloatLIF(
        v_decay=pick([0.5, 0.75, 1.0]), v_gain=np.full(shape, 0.5), v_bias=pick([0.0, 0.25]),
        i_decay=np.full(shape, 0.5) if current else None, i_gain=np.ones(shape) if current else None,
        v_threshold=pick([0.5, 1.0]), v_reset=np.full(shape, -0.25) if reset == "zero" else None,
        reset=reset, fire=fire, multi_spike=multi, v_min=np.full(shape, -0.5) if floor else None,
        v_init=rng.choice([0.0, 0.5], shape) if start else None,
    )  # fmt: skip
    assert float_coefficients(params, shape)[1] == uniform
    x = rng.choice([0.0, 0.5, 1.0, 2.0, -1.0, 4.0], (30, 4, *shape))  # binary fractions: thresholds hit exactly
    outs = _assert_window_is_step(float_init, float_step, float_window, params, x, shape, split=7)
    assert 0 < np.count_nonzero(outs) < outs.size


def test_float_window_of_a_non_spiking_layer():
    shape = (6,)
    params = FloatLIF(v_decay=np.full(shape, 0.9), v_gain=np.ones(shape), v_bias=np.zeros(shape),
                      i_decay=np.full(shape, 0.8), i_gain=np.ones(shape), v_min=np.full(shape, -0.1))  # fmt: skip
    x = np.random.default_rng(5).normal(size=(12, 3, *shape))
    outs = _assert_window_is_step(float_init, float_step, float_window, params, x, shape)
    assert outs.min() < -0.1  # a non-spiking layer has no floor (step returns before it): the window agrees


@pytest.mark.parametrize("seed", range(12))
def test_loihi_window_is_its_step_through_every_wrap(seed):
    rng = np.random.default_rng(seed)
    shape = (2, 3, 4)
    params = LoihiCuba(du=int(rng.choice([0, 1, 100, 2048, 4094, 4095])), dv=int(rng.choice([0, 7, 4095])),
                       vth=int(rng.choice([1, 100, 100_000])), bias_mant=rng.integers(-4096, 4096, shape),
                       bias_exp=int(rng.integers(-3, 10)), reset_step=[None, 0, 3, 9][seed % 4],
                       in_wrap_bits=24 if seed % 3 == 0 else None)  # fmt: skip
    scale = [1, 1 << 20, 1 << 26, 1 << 33][seed % 4]  # past 24 bits (Conv wrap), 32 bits (a_in), the u/v ranges
    x = rng.integers(-scale, scale, (16, 5, *shape)).astype(np.float64)
    _assert_window_is_step(loihi_cuba_init, loihi_cuba_step, loihi_cuba_window, params, x, shape, split=5)


@pytest.mark.parametrize("seed", range(12))
def test_speck_window_is_its_step_saturation_floors_and_bias(seed):
    rng = np.random.default_rng(seed)
    shape = (3, 2, 4)
    params = SpeckIAF(threshold=int([1, 5, 100, 30000][seed % 4]), min_v_mem=[-32768, -10, 0][seed % 3],
                      bias=rng.integers(-50, 50, 3) if seed % 2 else None, reset=["subtract", "zero"][seed // 6],
                      multi_spike=seed % 4 < 2, saturate=seed % 3 > 0)  # fmt: skip
    scale = [3, 100, 40_000, 1 << 20][seed % 4]
    x = rng.integers(-scale, scale, (14, 5, *shape)).astype(np.float64)
    _assert_window_is_step(speck_iaf_init, speck_iaf_step, speck_iaf_window, params, x, shape, split=6)


@pytest.mark.parametrize("init,window,params", [
    (loihi_cuba_init, loihi_cuba_window, LoihiCuba(du=0, dv=0, vth=1, bias_mant=np.zeros(4, dtype=int))),
    (speck_iaf_init, speck_iaf_window, SpeckIAF(threshold=2)),
])  # fmt: skip
@pytest.mark.parametrize("bad", [0.5, np.nan, np.inf])
def test_windows_refuse_non_integer_input_as_the_step_does(init, window, params, bad):
    x = np.zeros((3, 2, 4))
    x[2, 1, 3] = bad
    with pytest.raises(SnnCliError, match="non-integer synaptic input"):
        window(init((4,), 2, params), x, params)


def test_recorded_states_have_the_chips_width():
    x = np.ones((2, 1, 3))
    _, _, loihi = loihi_cuba_window(
        loihi_cuba_init((3,), 1, LoihiCuba(du=1, dv=1, vth=9, bias_mant=np.zeros(3))),
        x,
        LoihiCuba(du=1, dv=1, vth=9, bias_mant=np.zeros(3)),
        True,
    )
    assert loihi["u"].dtype == loihi["v"].dtype == np.int32  # 24-bit states
    speck = SpeckIAF(threshold=4)
    assert speck_iaf_window(speck_iaf_init((3,), 1, speck), x, speck, True)[2]["v"].dtype == np.int16
    wide = SpeckIAF(threshold=4, saturate=False)  # Sinabs' unbounded state
    assert speck_iaf_window(speck_iaf_init((3,), 1, wide), x, wide, True)[2]["v"].dtype == np.int64


# ------------------------------------------------------------------ synaptic kernels
def _plain(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``rows @ table`` accumulated input by input in increasing order: the kernels' order."""
    out = np.zeros((rows.shape[0], table.shape[1]))
    for r, j in zip(*np.nonzero(rows)):
        out[r] = out[r] + rows[r, j] * table[j]
    return out


def _counts(rows: np.ndarray, fanout: np.ndarray) -> tuple:
    """The counters' definitions (counters.py) in plain numpy."""
    ops = (rows != 0).astype(np.int64) @ fanout
    binary = np.all((rows == 0) | (rows == 1) | (rows == -1), axis=1)
    return int(ops[binary].sum()), int(ops[~binary].sum()), float((rows @ fanout).sum()), min(0.0, rows.min())


@pytest.mark.parametrize("density", [0.0, 0.02, 0.3, 0.9])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_propagate_is_the_ordered_sum_and_counts_the_events(kind, density):
    rng = np.random.default_rng(7)
    if kind == "dense":
        table = rng.normal(size=(40, 23))
        table[:, 3] = 0.0  # zero weights store no synapse
    else:
        table = np.where(rng.random((40, 60)) < 0.1, rng.normal(size=(40, 60)), 0.0)
    rows = np.where(rng.random((50, 40)) < density, rng.choice([1.0, 1.0, 1.0, 2.0, -1.0, 0.5], (50, 40)), 0.0)
    rows[:10] = rows[:10] != 0  # some binary rows, some not
    fan = kernels.FanOut(sp.csr_matrix(table), dense_entries=1 << 20)
    assert fan.contiguous == (kind == "dense")
    out, counts = kernels.propagate(fan, rows, events_in=True)
    events = np.count_nonzero(rows)
    if kernels.sparse_is_cheaper(fan, rows.shape[0], events):
        np.testing.assert_array_equal(out, _plain(rows, table))  # same roundings, same order
    else:
        np.testing.assert_allclose(out, rows @ table, rtol=1e-12, atol=1e-12)  # one BLAS product
    acs, macs, weighted, lowest = _counts(rows, np.count_nonzero(table, axis=1))
    assert (counts.acs, counts.macs, counts.lowest) == (acs, macs, lowest)
    assert counts.weighted == pytest.approx(weighted)
    if density:
        assert acs > 0 and macs > 0
    assert kernels.propagate(fan, rows)[1] == (acs, macs, 0.0, 0.0)  # sums of events only where they are wanted


def test_both_synaptic_paths_agree_exactly_on_integers():
    """Chip programs are integers: the event kernel and BLAS give the same sums whichever is chosen."""
    rng = np.random.default_rng(8)
    table = rng.integers(-128, 128, (300, 200)).astype(np.float64)
    rows = (rng.random((64, 300)) < 0.5) * rng.integers(1, 4, (64, 300)).astype(np.float64)
    fan = kernels.FanOut(sp.csr_matrix(table), dense_entries=1 << 20)
    assert not kernels.sparse_is_cheaper(fan, 64, np.count_nonzero(rows))  # BLAS at this density ...
    blas, _ = kernels.propagate(fan, rows)
    np.testing.assert_array_equal(blas, _plain(rows, table))  # ... and the event order: the same integers


CONV_GEOMETRIES = [  # c_in, c_out, (h, w), (kh, kw), stride, padding, dilation, groups; whether runs are used
    ((2, 16, (9, 11), (5, 5), (2, 2), (1, 1), (1, 1), 1), True),  # the NIR-paper CNN's first layer, smaller
    ((16, 16, (8, 8), (3, 3), (1, 1), (1, 1), (1, 1), 1), True),  # kernel rows join into runs of kw x c_out
    ((4, 8, (7, 6), (3, 2), (1, 2), (0, 1), (2, 1), 1), True),  # dilation and unequal strides: runs of c_out
    ((4, 16, (6, 6), (3, 3), (1, 1), (1, 1), (1, 1), 2), True),  # groups: one group's 8 channels per run
    ((3, 9, (5, 5), (1, 1), (1, 1), (0, 0), (1, 1), 1), True),  # 1x1
    ((6, 6, (6, 6), (3, 3), (2, 2), (1, 1), (1, 1), 6), False),  # depthwise: runs of 1, the stored synapses
]


def _expanded(runs, n_in: int, n_out: int) -> np.ndarray:
    """The runs as a dense ``[n_in, n_out]`` channel-first table."""
    positions = n_out // runs.channels
    table = np.zeros((n_in, n_out))
    for j in range(n_in):
        for k in range(runs.ptr[j], runs.ptr[j + 1]):
            for c in range(runs.length[k]):
                p, ch = divmod(runs.dst[k] + c, runs.channels)
                assert table[j, ch * positions + p] == 0.0  # each synapse once
                table[j, ch * positions + p] = runs.weights[runs.src[k] + c]
    return table


@pytest.mark.parametrize(
    "geometry,uses_runs", CONV_GEOMETRIES, ids=[f"{g[0]}x{g[1]}-k{g[3]}-s{g[4]}-g{g[7]}" for g, _ in CONV_GEOMETRIES]
)
def test_convolution_runs_are_its_table_and_sum_in_its_order(geometry, uses_runs):
    """A convolution's runs hold exactly its table's synapses; both row paths of the runs kernel (channels-last runs,
    and the stored synapses of a row with few events) give the plain ordered sum bit for bit."""
    c_in, c_out, (h, w), (kh, kw), stride, padding, dilation, groups = geometry
    rng = np.random.default_rng(c_in * c_out)
    weight = rng.normal(size=(c_out, c_in // groups, kh, kw))
    if kh * kw > 1:
        weight[:, :, 0, -1] = 0.0  # a kernel position without synapses stores no run
    out_h = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    args = (weight, (c_in, h, w), (c_out, out_h, out_w), stride, padding, dilation, groups)
    table, runs = conv2d_table(*args), conv2d_runs(*args)
    dense = table.toarray()
    np.testing.assert_array_equal(_expanded(runs, *table.shape), dense)
    fan = kernels.FanOut(table, dense_entries=0, runs=runs)
    assert (fan.runs is not None) == uses_runs
    density = np.linspace(0.0, 0.6, 40)[:, None]  # rows from empty to 60 % active
    rows = np.where(
        rng.random((40, table.shape[0])) < density, rng.choice([1.0, 1.0, 2.0, -1.0, 0.5], (40, table.shape[0])), 0.0
    )
    want = _plain(rows, dense)
    for above in (-1, 10**9, None):  # every row channels-last, every row through the synapses, the cost rule
        if above is not None and uses_runs:
            fan.runs_above = above
        else:
            fan = kernels.FanOut(table, dense_entries=0, runs=runs)
        out = np.full((40, table.shape[1]), np.nan)  # every row is written
        got, counts = kernels.propagate(fan, rows, out=out)
        np.testing.assert_array_equal(got, want)
        assert (counts.acs, counts.macs) == _counts(rows, np.diff(table.indptr))[:2]


# ------------------------------------------------------------------ whole programs
def _stepwise(program) -> Simulator:
    """A simulator whose neuron models run ``step`` T times (their plain rule), not their compiled window."""
    sim = Simulator(program)
    sim.models = {name: replace(model, window=None) for name, model in sim.models.items()}
    return sim


def _assert_same_run(program, x):
    fast, plain = Simulator(program).run(x, record=True), _stepwise(program).run(x, record=True)
    np.testing.assert_array_equal(fast.outputs, plain.outputs)
    assert [vars(c) for c in fast.counters] == [vars(c) for c in plain.counters]
    for name, rec in plain.records.items():
        assert sorted(fast.records[name]) == sorted(rec), name
        for key, value in rec.items():
            np.testing.assert_array_equal(fast.records[name][key], value, err_msg=f"{name}/{key}")
    assert sum(c.spikes for c in fast.counters) > 0
    return fast


def test_float_programs_compiled_equal_stepwise(conformance):
    from snncli.nirgraph import read_nir

    rng = np.random.default_rng(9)
    cnn_paper = lower(read_nir(str(conformance / "cnn_sinabs.nir")), reading="sinabs")
    _assert_same_run(cnn_paper, (rng.random((12, 2, 2, 34, 34)) < 0.1).astype(float))
    _assert_same_run(lower(mlp(seed=3)), rng.random((10, 3, 1, 8, 8)))
    recurrent = lower(braille(conformance))  # step-major loop: windows of one step
    _assert_same_run(recurrent, (rng.random((15, 2, *recurrent.input_layers[0].out_shape)) < 0.3).astype(float))


def test_chip_programs_compiled_equal_stepwise():
    rng = np.random.default_rng(10)
    loihi = lower_loihi(mlp(seed=1))
    _assert_same_run(loihi, np.repeat(rng.random((1, 3, 1, 8, 8)), 12, axis=0))
    speck = lower(cnn(shape=(2, 16, 16), encoder="frames"), "speck")
    _assert_same_run(speck, rng.integers(0, 3, (10, 2, 2, 16, 16)).astype(float))


def test_streamed_batches_are_one_run():
    program = lower(mlp(seed=4))
    x = np.random.default_rng(11).random((8, 10, 1, 8, 8))
    whole = Simulator(program).run(x, record=True)
    parts = Simulator(program).stream([x[:, :3], x[:, 3:4], x[:, 4:]], record=True)
    np.testing.assert_array_equal(parts.outputs, whole.outputs)
    assert parts.samples == 10 and parts.steps == 8
    assert [vars(c) for c in parts.counters] == [vars(c) for c in whole.counters]
    for name, rec in whole.records.items():
        for key, value in rec.items():
            np.testing.assert_array_equal(parts.records[name][key], value)
    with pytest.raises(SnnCliError, match="one run has one T"):
        Simulator(program).stream([x[:, :3], x[:4, 3:]])


def test_a_multi_spike_layer_counts_every_spike_not_its_events():
    graph = chain(nir.IF(r=np.full(3, 1e4), v_threshold=np.ones(3), v_reset=np.zeros(3)), input_shape=(3,))
    run = Simulator(lower(graph, reading="sinabs")).run(np.full((4, 2, 3), 0.6), record=True)
    out = run.records["n0"]["out"]
    assert out.max() > 1  # several spikes per neuron and step: more spikes than events
    assert next(c for c in run.counters if c.name == "n0").spikes == int(out.sum()) > np.count_nonzero(out)


def test_records_keep_spikes_small():
    program = lower(chain(nir.IF(r=np.full(3, 1e4), v_threshold=np.ones(3), v_reset=np.zeros(3)), input_shape=(3,)))
    rec = Simulator(program).run(np.full((4, 2, 3), 0.6), record=True).records["n0"]
    assert rec["out"].dtype == np.bool_ and rec["v"].dtype == np.float64
    assert spike_record(np.array([0.0, 3.0, 200.0])).dtype == np.int16
    assert spike_record(np.array([0.0, 1.5])).dtype == np.float64  # not counts: kept as they are
    assert spike_record(np.array([-1.0, 1.0])).dtype == np.float64
