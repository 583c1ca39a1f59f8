"""Loihi target, without Lava: lowering (pool folding, flatten order, graded input), scales,
resource table and refusals."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nets import braille, cnn, lower, lower_loihi, mlp

from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.hwsim.simulate import Simulator
from snncli.nirgraph import check_graph
from snncli.targets import loihi
from snncli.targets.loihi import structure


def _structure(graph):
    return structure.build_stages(check_graph(graph).nodes, 1e-4, "auto", [])


# --------------------------------------------------------------------- layout
def test_mlp_program_layout_graded_input_and_latency():
    program = lower_loihi(mlp())
    ops = [(layer.name, layer.kind) for layer in program.layers]
    assert ops == [("input", "input"), ("fc1", "dense"), ("fc2", "dense"), ("lif1", "neuron"), ("lif2", "neuron"),
                   ("output", "output")]  # fmt: skip
    assert program.layer("fc1").delayed_inputs == ("input",) and program.layer("fc1").in_shape == (64,)
    assert program.layer("fc2").delayed_inputs == ("lif1",) and program.layer("lif2").inputs == ("fc2",)
    inp = program.layer("input").op
    assert inp.bits == 8 and 1 <= inp.scale <= 255  # direct encoder: graded spikes
    assert program.notes["netx"] == {"input_message_bits": 8, "reset_interval": "steps per sample", "reset_offset": 1}
    assert [program.layer(n).neuron.reset_step for n in ("lif1", "lif2")] == [1, 2]  # LIFReset at arrival
    assert program.latency_steps == 2  # one step per Dense
    for layer in program.layers:
        if layer.kind == "dense":
            w = layer.op.weight
            assert w.dtype == np.int64 and w.min() >= -255 and w.max() <= 254
    lif = program.layer("lif1").neuron
    assert lif.du == 4095 and lif.dv == 205 and lif.bias_exp == 6  # dv = round(4096 / 20)
    assert 1 <= lif.vth <= (1 << 17) - 1 and np.abs(lif.bias_mant).max() <= 4095
    assert set(program.scales) == {"lif1", "lif2"}


def test_reset_step_zeroes_state_once_when_the_input_arrives():
    from snncli.targets.loihi.arithmetic import LoihiCuba, loihi_cuba_init, loihi_cuba_step

    p = LoihiCuba(du=4095, dv=0, vth=100, bias_mant=10, bias_exp=6, reset_step=2)
    state = loihi_cuba_init((1,), 1, p)
    volts = []
    for _ in range(5):
        state, _ = loihi_cuba_step(state, np.zeros((1, 1)), p)
        volts.append(int(state["v"][0, 0]))
    assert volts == [640, 1280, 640, 1280, 1920] and int(state["t"]) == 5  # bias 10 << 6 per step; reset at t=2


def test_binary_input_without_scale_and_analog_input_refused_by_hwsim():
    program = lower_loihi(mlp(encoder="poisson"))
    assert program.layer("input").op.scale is None
    assert program.notes["netx"]["input_message_bits"] == 0
    x = (np.random.default_rng(0).random((6, 2, 1, 8, 8)) < 0.3).astype(float)
    Simulator(program).run(x)  # binary spikes: fine
    with pytest.raises(SnnCliError, match="non-integer synaptic input"):
        Simulator(program).run(x * 0.37)


def test_program_save_load_roundtrip_runs_identically(tmp_path):
    program = lower_loihi(cnn())
    program.save(tmp_path / "p.npz")
    loaded = Program.load(tmp_path / "p.npz")
    x = np.random.default_rng(1).random((5, 3, 1, 8, 8))
    a, b = Simulator(program).run(x, record=True), Simulator(loaded).run(x, record=True)
    for layer in program.neuron_layers:
        np.testing.assert_array_equal(a.records[layer.name]["out"], b.records[layer.name]["out"])


# --------------------------------------------------------------------- folding
def test_sumpool_folded_into_conv_is_exact():
    """SumPool2d(2) -> Conv2d(k3, p1) equals one Conv2d(k6, s2, p2) with each weight replicated 2x2."""
    _, stages, _ = _structure(cnn(seed=3))
    syn = stages[1].ff
    assert syn.name == "conv2" and syn.source == "if1" and syn.folded == ["pool1"]
    assert syn.weight.shape == (8, 4, 6, 6) and syn.conv["stride"] == (2, 2) and syn.conv["padding"] == (2, 2)
    w = torch.from_numpy(np.asarray(cnn(seed=3).nodes["conv2"].weight, dtype=np.float64))
    x = torch.from_numpy((np.random.default_rng(0).random((5, 4, 8, 8)) < 0.4).astype(np.float64))
    reference = F.conv2d(F.avg_pool2d(x, 2) * 4, w, stride=1, padding=1)
    folded = F.conv2d(x, torch.from_numpy(syn.weight), stride=2, padding=2)
    torch.testing.assert_close(folded, reference, rtol=0, atol=1e-12)


def test_pool_and_flatten_folded_into_linear_keep_torch_flatten_order():
    graph = cnn(seed=4, pool="avg")
    _, stages, _ = _structure(graph)
    syn = stages[2].ff
    assert (
        syn.name == "fc" and syn.source == "if2" and syn.folded == ["flat", "pool2"] and syn.weight.shape == (10, 128)
    )
    w = torch.from_numpy(np.asarray(graph.nodes["fc"].weight, dtype=np.float64))
    x = torch.from_numpy((np.random.default_rng(1).random((6, 8, 4, 4)) < 0.5).astype(np.float64))
    reference = F.avg_pool2d(x, 2).flatten(1) @ w.T  # torch's C,H,W flatten
    torch.testing.assert_close(x.flatten(1) @ torch.from_numpy(syn.weight).T, reference, rtol=0, atol=1e-12)


def test_loihi_cnn_tracks_the_float_model():
    graph = cnn(seed=5)
    x = np.random.default_rng(2).random((10, 40, 1, 8, 8))
    program = lower_loihi(graph)
    lat = program.latency_steps
    assert lat == 3
    ours = Simulator(program).run(np.concatenate([x, np.zeros((lat, *x.shape[1:]))]), record=True)
    ref = Simulator(lower(graph)).run(x, record=True)
    for name in ("if1", "if2", "if_out"):  # spike counts per neuron agree closely (pipeline lag flushed)
        a = ours.records[name]["out"].sum(0).reshape(40, -1)
        b = ref.records[name]["out"].sum(0).reshape(40, -1)
        assert b.sum() > 50 and np.abs(a - b).mean() < 0.1 * max(1.0, b.mean()), name


def test_odd_sized_pool_before_padded_conv_is_refused():
    graph = cnn(shape=(1, 7, 7))  # the 7x7 map loses its last row/column in pool1, conv2 pads
    with pytest.raises(SnnCliError, match="drops the last rows"):
        lower_loihi(graph)


# --------------------------------------------------------------------- scales
def test_rule_scale_cannot_overflow_the_24_bit_current():
    program = lower_loihi(mlp(seed=7))
    scale, levels = program.layer("input").op.scale, 2**8 - 1
    w = program.layer("fc1").op.weight
    x_max = min(levels, round(1.0 * scale))  # x in [0, 1] for the direct encoder
    worst = max(np.clip(w, 0, None).sum(1).max(), -np.clip(w, None, 0).sum(1).min()) * x_max
    assert worst < 2**17  # a << 6 stays inside Lava's 24-bit u for ANY input
    w2 = program.layer("fc2").op.weight
    assert np.abs(w2).max() == 254  # spikes in: the weight range binds, fully used


def test_calibration_search_picks_scales_and_reports_what_hwsim_sees():
    graph = mlp(seed=2)
    rng = np.random.default_rng(3)
    calib = np.repeat(rng.random((1, 120, 1, 8, 8)), 8, axis=0)  # the direct encoder repeats the frame
    program = lower_loihi(graph, calibration=calib)
    search = program.notes["scale_search"]
    assert set(search["layers"]) == {"lif1", "lif2"} and len(search["input_scales"]) >= 7
    assert program.notes["input"]["decided_by"] == "calibration data"
    # the search's own integer evaluation agrees with hwsim on the chosen program
    lat = program.latency_steps
    ours = Simulator(program).run(np.concatenate([calib, np.zeros((lat, *calib.shape[1:]))]))
    ref = Simulator(lower(graph)).run(calib)
    steps = calib.shape[0]  # the search scores the output window [latency, latency + T)
    pred = ours.outputs[lat : lat + steps].sum(0).argmax(1)
    assert np.mean(pred == ref.predictions()) == pytest.approx(search["prediction_agreement"])
    assert search["prediction_agreement"] >= 0.8


def test_calibration_with_binary_spikes_gives_a_binary_input_program():
    calib = (np.random.default_rng(4).random((8, 64, 1, 8, 8)) < 0.3).astype(float)
    program = lower_loihi(mlp(encoder="direct"), calibration=calib)  # the data decide, not the metadata
    assert program.layer("input").op.scale is None
    with pytest.raises(SnnCliError, match="calibration data has shape"):
        lower_loihi(mlp(), calibration=calib[:, :, 0])


# --------------------------------------------------------------------- recurrent
def test_recurrent_cubalif_becomes_dense_plus_recurrent_dense(conformance):
    program = lower_loihi(braille(conformance))
    rec = program.layer("lif1.w_rec")
    assert rec.kind == "dense" and rec.delayed_inputs == ("lif1.lif",)
    assert program.layer("lif1.lif").inputs == ("fc1", "lif1.w_rec")
    p = program.layer("lif1.lif").neuron
    assert p.du == round(4096 * 1e-4 / 2.2222e-4) - 1 and p.dv == 410  # tau_syn 0.22 ms, tau_mem 1 ms
    assert program.latency_steps == 2  # the recurrent edge adds no pipeline stage
    assert any("steady-state" in w for w in program.warnings)  # CubaLIF bias goes to v


def test_calibration_search_on_the_recurrent_network_matches_hwsim(conformance):
    calib = (np.random.default_rng(8).random((30, 64, 12)) < 0.25).astype(float)
    program = lower_loihi(braille(conformance), calibration=calib)
    lat, steps = program.latency_steps, calib.shape[0]
    ours = Simulator(program).run(np.concatenate([calib, np.zeros((lat, *calib.shape[1:]))]))
    ref = Simulator(lower(braille(conformance))).run(calib)
    pred = ours.outputs[lat : lat + steps].sum(0).argmax(1)
    assert np.mean(pred == ref.predictions()) == pytest.approx(program.notes["scale_search"]["prediction_agreement"])


# --------------------------------------------------------------------- limits and refusals
def test_resource_table_counts_neurons_synapses_cores():
    program = lower_loihi(cnn())
    res = program.resources
    assert res["per_layer"]["if1"]["neurons"] == 4 * 8 * 8
    w = program.layer("conv1").op.weight
    table = Simulator(program).tables["conv1"]
    assert res["per_layer"]["if1"]["synapses"] == table.nnz  # unrolled, as hwsim's fan-out table
    assert res["per_layer"]["if1"]["fan_out_of_source"]["conv1"] == int(np.diff(table.indptr).max())
    folded = Simulator(program).tables["conv2"]  # stride 2 after the pool fold: counted per stride phase
    assert res["per_layer"]["if2"]["synapses"] == folded.nnz
    assert res["per_layer"]["if2"]["fan_out_of_source"]["conv2"] == int(np.diff(folded.indptr).max())
    assert res["per_layer"]["if2"]["fan_in"] == int(np.diff(folded.tocsc().indptr).max())
    assert res["per_layer"]["if1"]["fan_in"] == int(np.count_nonzero(w.reshape(4, -1), axis=1).max())
    assert res["cores"] == 3 and res["chips_needed"] == 1 and res["cores_per_chip"] == 128
    for key in ("cores_per_chip", "neurons_per_core", "synaptic_memory_bytes_per_core"):
        assert res["limits"][key]["source"]


def test_network_too_large_for_one_chip_is_refused_with_one_line(tmp_path):
    shape = (16, 128, 128)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array(shape)),
            "conv": nir.Conv2d(
                input_shape=shape[1:],
                weight=np.ones((128, 16, 3, 3)),
                stride=1,
                padding=1,
                dilation=1,
                groups=1,
                bias=np.zeros(128),
            ),  # fmt: skip
            "if1": nir.IF(
                r=np.full((128, 128, 128), 1e4), v_threshold=np.ones((128, 128, 128)), v_reset=np.zeros((128, 128, 128))
            ),  # fmt: skip
            "output": nir.Output(output_type=np.array((128, 128, 128))),
        },
        edges=[("input", "conv"), ("conv", "if1"), ("if1", "output")],
    )
    with pytest.raises(SnnCliError) as err:
        lower_loihi(graph)
    message = str(err.value)
    assert "\n" not in message and "chips" in message and "'if1'" in message and "128 cores" in message
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_a_program_over_the_limits_and_writes_nothing(tmp_path, monkeypatch):
    program = lower_loihi(mlp())
    monkeypatch.setitem(loihi.LIMITS["cores_per_chip"], "value", 1)  # a 2-core network on a 1-core "chip"
    with pytest.raises(SnnCliError, match="network needs 2 chips"):
        loihi.LoihiTarget().write(program, None, str(tmp_path / "net.h5"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "mutate, match",
    [
        (
            lambda g: g.nodes.__setitem__("lif2", nir.LI(tau=np.full(10, 2e-3), r=np.ones(10), v_leak=np.zeros(10))),
            r"node 'lif2' \(LI\).*non-spiking",
        ),
        (lambda g: setattr(g.nodes["lif1"], "metadata", {"reset_mode": "subtract"}), r"'lif1'.*not by subtraction"),
        (lambda g: setattr(g.nodes["lif1"], "v_reset", np.full(40, 0.1)), r"'lif1'.*resets to 0"),
        (lambda g: setattr(g.nodes["lif1"], "tau", np.linspace(1e-3, 2e-3, 40)), r"'lif1'.*one tau per layer"),
        (lambda g: g.nodes.__setitem__("flat", nir.Scale(scale=np.ones(64))), r"node 'flat' \(Scale\)"),
    ],
)
def test_what_loihi_cannot_run_is_refused_naming_the_node(mutate, match, tmp_path):
    graph = mlp()
    mutate(graph)
    with pytest.raises(SnnCliError, match=match) as err:
        lower_loihi(graph)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_branches_and_skip_connections_are_refused():
    graph = mlp()
    graph.nodes["fc_skip"] = nir.Linear(weight=np.ones((10, 40)))
    graph.edges += [("lif1", "fc_skip"), ("fc_skip", "lif2")]
    with pytest.raises(SnnCliError, match=r"'lif2' has 2 feed-forward"):
        lower_loihi(graph)
    graph = mlp()
    graph.nodes["fc3"] = nir.Linear(weight=np.ones((10, 10)))
    graph.nodes["lif3"] = graph.nodes.pop("lif2").__class__(
        **{k: v for k, v in vars(mlp().nodes["lif2"]).items() if k not in ("input_type", "output_type", "metadata")}
    )
    graph.nodes["lif2"] = mlp().nodes["lif2"]
    graph.nodes["fc_skip"] = nir.Linear(weight=np.ones((10, 40)))
    graph.edges = [e for e in graph.edges if e != ("lif2", "output")]
    graph.edges += [("lif2", "fc3"), ("fc3", "lif3"), ("lif1", "fc_skip"), ("fc_skip", "lif3"), ("lif3", "output")]
    with pytest.raises(SnnCliError, match=r"'lif3' has 2 feed-forward"):
        lower_loihi(graph)


def test_cuba_step_shortcuts_equal_the_plain_integer_rules():
    """loihi_cuba_step skips wraps/decays that are identities; fuzz it against the rules written out plainly."""
    from snncli.targets.loihi import arithmetic as ln

    def plain(state, x, p):
        a = ln.i32(np.asarray(x, dtype=np.int64))
        if p.in_wrap_bits:
            a = (a + 2**23) % 2**24 - 2**23

        def decay(z, d):
            prod = z * (4096 - d)
            return np.sign(prod) * (np.abs(prod) >> 12)

        u = ln.i32(decay(state["u"], p.du + 1) + ln.i32(a << 6))
        u = np.where(u > 2**23, u - 2**24, np.where(u <= -(2**23), u + 2**24, u))
        v = ln.i32(decay(state["v"], p.dv) + u + ln.effective_bias(p.bias_mant, p.bias_exp))
        v = np.clip(v, -(2**23) + 1, 2**23 - 1)
        s = v > (p.vth << 6)
        return {"u": u, "v": np.where(s, 0, v)}, s.astype(np.int64)

    rng = np.random.default_rng(0)
    for _ in range(120):
        p = ln.LoihiCuba(
            du=int(rng.choice([0, 100, 2047, 4095])),
            dv=int(rng.choice([0, 205, 4095])),
            vth=int(rng.integers(1, 2**17)),
            bias_mant=rng.integers(-4096, 4096, 30),
            bias_exp=int(rng.integers(0, 8)),
            in_wrap_bits=24 if rng.random() < 0.3 else None,
        )
        fast = ln.loihi_cuba_init((30,), 2, p)
        slow = {k: v.copy() for k, v in fast.items()}
        scale = int(rng.choice([10, 2**10, 2**17, 2**24, 2**30, 2**40]))
        for _ in range(12):
            x = rng.integers(-scale, scale, (2, 30))
            fast, s1 = ln.loihi_cuba_step(fast, x, p)
            slow, s2 = plain(slow, x, p)
            for key in ("u", "v"):
                np.testing.assert_array_equal(fast[key], slow[key])
            np.testing.assert_array_equal(s1, s2)
