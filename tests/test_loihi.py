"""Loihi 2 target: Lava-exact integer neuron/synapse, NIR-paper conformance, netx parity.

Lava-running tests skip where lava-nc/lava-dl are not installed
(``scripts/install_lava.sh``); in the project's venv they run.
"""

from __future__ import annotations

import numpy as np
import pytest
from nets import lower_loihi

from snncli.core.program import Dense, Input, Layer, Neuron, Output, Program
from snncli.errors import SnnCliError
from snncli.nirgraph import read_nir
from snncli.targets.loihi.arithmetic import (
    LoihiCuba,
    dense_accumulate,
    dense_effective_weights,
    loihi_cuba_init,
    loihi_cuba_step,
)
from snncli.targets.loihi.netx import netx_effective_weights, write_netx


@pytest.fixture
def csv(conformance):
    def load(name: str) -> np.ndarray:
        return np.loadtxt(conformance / name, delimiter=",")  # no header: 1000 rows of input, v, spike

    return load


@pytest.fixture
def paper_program(conformance) -> Program:
    return lower_loihi(read_nir(conformance / "lif_norse.nir"), dt=1e-4, preset="nir-paper")


def run_numpy(program: Program, x: np.ndarray):
    """Minimal reference driver (one sample): inputs, dense layers reading the
    previous step (Lava's Dense delay), loihi_cuba neurons, outputs.
    Returns ``({layer: out [T, *shape]}, {neuron layer: v [T, *shape]})``."""
    prev = {layer.name: np.zeros((1, *layer.out_shape), np.int64) for layer in program.layers}
    states = {n.name: loihi_cuba_init(n.out_shape, 1, n.neuron) for n in program.neuron_layers}
    outs = {layer.name: [] for layer in program.layers}
    volts = {n.name: [] for n in program.neuron_layers}
    for t in range(x.shape[0]):
        cur = {}
        for layer in program.layers:
            if layer.kind == "input":
                out = x[t].reshape(1, *layer.out_shape).astype(np.int64)
            elif layer.kind == "dense":
                assert not layer.inputs
                src = sum(prev[s] for s in layer.delayed_inputs)
                out = dense_accumulate(layer.op.weight, src)
            elif layer.kind == "neuron":
                states[layer.name], out = loihi_cuba_step(
                    states[layer.name], sum(cur[s] for s in layer.inputs), layer.neuron
                )
                volts[layer.name].append(states[layer.name]["v"][0])
            else:
                out = sum(cur[s] for s in layer.inputs)
            cur[layer.name] = out
            outs[layer.name].append(out[0])
        prev = cur
    return {k: np.array(v) for k, v in outs.items()}, {k: np.array(v) for k, v in volts.items()}


# --------------------------------------------------------------- integer rules
def test_cuba_step_integer_rules():
    p = LoihiCuba(du=4095, dv=100, vth=10, bias_mant=0, bias_exp=0)
    st = {"u": np.array([[1000, -1000]]), "v": np.array([[-1000, 639]])}
    st, s = loihi_cuba_step(st, np.array([[0, 2]]), p)
    # du = 4095 -> decay factor 4096 - 4096 = 0: no current carried over; input << 6
    assert st["u"].tolist() == [[0, 128]]
    # v decays by (4096-100)/4096 with truncation toward zero: -975 (floor would give -976)
    assert st["v"][0, 0] == -975
    # 639 * 3996 >> 12 = 623, + 128 = 751 > 10 << 6 = 640 -> spike, reset to 0
    assert s.tolist() == [[0, 1]] and st["v"][0, 1] == 0


def test_cuba_step_threshold_is_strict_and_bias_is_shifted():
    p = LoihiCuba(du=4095, dv=0, vth=1, bias_mant=1, bias_exp=6)
    st = loihi_cuba_init((1,), 1, p)
    st, s = loihi_cuba_step(st, np.zeros((1, 1)), p)
    assert st["v"][0, 0] == 64 and s[0, 0] == 0  # v == vth << 6 does not fire
    st, s = loihi_cuba_step(st, np.zeros((1, 1)), p)
    assert s[0, 0] == 1 and st["v"][0, 0] == 0


def test_cuba_step_24bit_wrap_and_saturation():
    p = LoihiCuba(du=0, dv=0, vth=(1 << 17) - 1, bias_mant=0, bias_exp=0)
    big = (1 << 23) - 100
    st = {"u": np.array([[big, -big]]), "v": np.array([[0, -((1 << 23) - 10)]])}
    st, s = loihi_cuba_step(st, np.array([[100, -10]]), p)
    u_dec = (big * 4095) >> 12  # du = 0 keeps 4095/4096 of the current
    # current past 2**23 wraps once (to negative); the other stays in range
    assert st["u"].tolist() == [[u_dec + 6400 - (1 << 24), -u_dec - 640]]
    # voltage saturates at -(2**23 - 1) instead of wrapping
    assert st["v"].tolist() == [[u_dec + 6400 - (1 << 24), -(1 << 23) + 1]] and not s.any()


def test_dense_weight_rules_and_delay_free_accumulate():
    w = np.array([[255, -256, 3], [7, 0, -1]])
    eff = dense_effective_weights(w)  # mixed sign: 1 low bit dropped at 8 bits
    assert eff.tolist() == [[254, -256, 2], [6, 0, -2]]
    a = dense_accumulate(np.array([[3, 5]]), np.array([[1, 1]]), weight_exp=-1)
    assert a.tolist() == [[4]]
    assert dense_accumulate(np.array([[-3]]), np.array([[1]]), weight_exp=-1).tolist() == [[-2]]  # floor


# ------------------------------------------------------- NIR paper conformance
def test_nir_paper_preset_uses_the_papers_constants(paper_program):
    program = paper_program
    dense = [layer for layer in program.layers if layer.kind == "dense"]
    (neuron,) = program.neuron_layers
    assert len(dense) == 1 and dense[0].op.weight.tolist() == [[10]]  # int(256 * 1 * 1e-4/2.5e-3)
    assert dense[0].delayed_inputs == ("input",) and not dense[0].inputs
    assert (neuron.neuron.du, neuron.neuron.dv, neuron.neuron.vth) == (4095, 163, 25)
    assert not np.any(neuron.neuron.bias_mant)


def test_numpy_reproduces_lava_cpu_fixed_trace(csv, paper_program):
    ref = csv("lif_lava_cpu_fixed.csv")
    program = paper_program
    outs, volts = run_numpy(program, ref[:, :1])
    (neuron,) = program.neuron_layers
    np.testing.assert_array_equal(volts[neuron.name][:, 0], ref[:, 1])
    np.testing.assert_array_equal(outs["output"][:, 0], ref[:, 2])
    assert ref[:, 2].sum() == 4


def test_numpy_reproduces_loihi_chip_trace_except_at_spikes(csv, paper_program):
    chip = csv("lif_lava_loihi_fixed.csv")
    program = paper_program
    outs, volts = run_numpy(program, chip[:, :1])
    (neuron,) = program.neuron_layers
    v = volts[neuron.name][:, 0]
    spikes = outs["output"][:, 0]
    np.testing.assert_array_equal(spikes, chip[:, 2])
    differ = np.flatnonzero(v != chip[:, 1])
    assert differ.tolist() == np.flatnonzero(spikes).tolist() == [461, 511, 711, 761]
    assert np.all(chip[differ, 1] == 128) and np.all(v[differ] == 0)


def test_hwsim_executor_runs_the_lowered_paper_program(csv, paper_program):
    from snncli.hwsim import simulate

    ref = csv("lif_lava_cpu_fixed.csv")
    program = paper_program
    result = simulate.simulate(program, ref[:, None, :1], record=True)
    (neuron,) = program.neuron_layers
    np.testing.assert_array_equal(result.outputs[:, 0, 0], ref[:, 2])
    np.testing.assert_array_equal(result.records[neuron.name]["v"][:, 0, 0], ref[:, 1])


# ------------------------------------------------------------- real Lava runs


def test_lava_reproduces_cpu_fixed_trace(lava, csv, paper_program):
    ref = csv("lif_lava_cpu_fixed.csv")
    program = paper_program
    (dense,) = [layer for layer in program.layers if layer.kind == "dense"]
    (neuron,) = program.neuron_layers
    v, u, s = lava.run_dense_lif(dense.op.weight, neuron.neuron, ref[:, :1])
    np.testing.assert_array_equal(v[:, 0], ref[:, 1])
    np.testing.assert_array_equal(s[:, 0], ref[:, 2])


def test_effective_weight_replicas_match_lava(lava):
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(1)
    cases = [rng.integers(lo, hi, size=(6, 5)) for lo, hi in [(-256, 256), (0, 256), (-255, 0), (-40, 90), (-3, 4)]]
    cases += [np.array([[255, -3]]), np.array([[-256, -2]]), np.array([[1, 0]])]
    for w in cases:
        mode = determine_sign_mode(w)
        lava_eff = truncate_weights(clip_weights(w, mode, num_bits=8), mode, 8)
        np.testing.assert_array_equal(dense_effective_weights(w), lava_eff)
        shifted, nwb, wexp, _ = optimize_weight_bits(w.copy())
        mode = determine_sign_mode(shifted)
        eff = truncate_weights(clip_weights(shifted, mode, num_bits=8), mode, nwb)
        ones = np.ones(w.shape[1], dtype=np.int64)
        for col in range(w.shape[1]):  # Lava shifts the accumulated sum: compare per input and all inputs
            for s in (np.eye(w.shape[1], dtype=np.int64)[col], ones):
                lava_a = eff @ s >> -wexp if wexp <= 0 else eff @ s << wexp
                np.testing.assert_array_equal(netx_effective_weights(w) @ s, lava_a)


def _two_layer_program(rng) -> Program:
    n0, n1, n2 = 12, 8, 5
    w1 = rng.integers(-100, 200, size=(n1, n0))
    w2 = rng.integers(-120, 254, size=(n2, n1))
    p1 = LoihiCuba(du=3000, dv=400, vth=300, bias_mant=np.zeros(n1, np.int64), bias_exp=6)
    p2 = LoihiCuba(du=4095, dv=100, vth=200, bias_mant=np.arange(n2) * 3, bias_exp=6)
    layers = [
        Layer("in", Input(), (n0,), (n0,)),
        Layer("fc1", Dense(w1), (n0,), (n1,), delayed_inputs=["in"]),
        Layer("fc2", Dense(w2), (n1,), (n2,), delayed_inputs=["lif1"]),
        Layer("lif1", Neuron(p1), (n1,), (n1,), inputs=["fc1"]),
        Layer("lif2", Neuron(p2), (n2,), (n2,), inputs=["fc2"]),
        Layer("out", Output(), (n2,), (n2,), inputs=["lif2"]),
    ]
    return Program("loihi", 1e-3, layers)


def test_netx_file_in_lava_equals_numpy_every_layer_every_step(lava, tmp_path):
    rng = np.random.default_rng(0)
    program = _two_layer_program(rng)
    path = tmp_path / "net.h5"
    write_netx(program, path)
    steps = 40
    x = (rng.random((steps, 12)) < 0.4).astype(np.int64)
    lava_spikes, lava_v = lava.run_netx(path, x, steps, voltages=True)
    outs, volts = run_numpy(program, x)
    assert sorted(lava_spikes) == [0, 1]
    for index, name in enumerate(["lif1", "lif2"]):
        np.testing.assert_array_equal(lava_spikes[index], outs[name])
        np.testing.assert_array_equal(lava_v[index], volts[name])
    assert (volts["lif1"] < 0).any()  # negative voltages exercise the rounding toward zero
    assert outs["lif1"].sum() > 20 and outs["lif2"].sum() > 10  # a trace with activity, not all zeros
    assert not outs["lif2"][:2].any()  # two synapses: layer 2 cannot fire before step 2


def test_write_netx_layout_and_refusals(tmp_path):
    h5py = pytest.importorskip("h5py")
    program = _two_layer_program(np.random.default_rng(0))
    path = tmp_path / "net.h5"
    write_netx(program, path)
    with h5py.File(path, "r") as f:
        assert [f["layer"][str(i)]["type"][0].decode() for i in range(3)] == ["input", "dense", "dense"]
        assert f["layer/1/neuron/iDecay"][()] == 3001  # netx: du = iDecay - 1
        assert f["layer/2/bias"][()].tolist() == [0, 3, 6, 9, 12]
    bad = _two_layer_program(np.random.default_rng(0))
    bad.layer("fc1").op.weight[0, 0] = 255  # mixed signs: netx clips 255 to 254
    with pytest.raises(SnnCliError, match="netx would change weight"):
        write_netx(bad, tmp_path / "bad.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.h5"]  # no partial file left


def test_auto_preset_fits_the_chip_and_tracks_float(conformance, csv):
    g = read_nir(conformance / "lif_norse.nir")
    program = lower_loihi(g, dt=1e-4, preset="auto")
    (neuron,) = program.neuron_layers
    (dense,) = [layer for layer in program.layers if layer.kind == "dense"]
    assert dense.op.weight.tolist() == [[254]]
    assert neuron.neuron.vth <= (1 << 17) - 1 and neuron.neuron.dv == 164
    ref = csv("lif_norse.csv")  # float Euler trace of the same graph (spikes in column 3)
    outs, _ = run_numpy(program, ref[:, :1])
    # same 4 spikes as the float Euler trace, one step later: Lava's Dense delay
    assert np.flatnonzero(outs["output"][:, 0]).tolist() == (np.flatnonzero(ref[:, 2]) + 1).tolist()


def test_lower_rejects_what_loihi_cannot_do(conformance):
    g = read_nir(conformance / "lif_norse.nir")
    with pytest.raises(SnnCliError, match="preset"):
        lower_loihi(g, preset="fast")
    g.graph.nodes["1"].v_reset = np.array([0.05], dtype=np.float32)
    with pytest.raises(SnnCliError, match="resets to 0"):
        lower_loihi(g)
