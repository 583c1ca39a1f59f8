"""The registered speck target: lowering, Program round trip, event-driven counters, the chip
configuration against Sinabs' own config writer, and hwsim == Sinabs' discretized DynapcnnNetwork
spike for spike on every layer and step (two CNNs, one with pooling, and the NIR paper's
``cnn_sinabs.nir`` driven by simulated DVS events).

Sinabs-dependent tests skip where Sinabs is not installed (``bash scripts/install_sinabs.sh``).
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
from nets import DT, chain, cnn, lower
from test_speck_nets import events

from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.hwsim.simulate import Simulator
from snncli.nirgraph import read_nir
from snncli.targets import get_target
from snncli.targets.speck import config
from snncli.targets.speck.program import integer_layers


@pytest.fixture(scope="module")
def reference():
    try:
        import sinabs  # noqa: F401
    except ImportError:
        pytest.skip("Sinabs is not installed (bash scripts/install_sinabs.sh): the Speck oracle tests need it")
    from snncli.targets.speck import reference as ref

    ref.import_dynapcnn()
    return ref


@pytest.fixture(scope="module")
def dvs_frames():
    """Simulated DVS event counts [T=30, N, 2, 34, 34] of 12 digits (snncli.data.dvs: saccades, log intensity)."""
    from snncli.data import load_dataset

    data = load_dataset("digits-dvs", limit=60, time_steps=30)
    return np.ascontiguousarray(data.test_x[:12].transpose(1, 0, 2, 3, 4)).astype(np.float64)


def strided_cnn(seed: int = 3) -> nir.NIRGraph:
    """No pooling: Conv2d(2->6, k3, s2, p1, bias) -> IF (reset zero) -> Conv2d(6->8, k3, s2) -> IF
    (subtract) -> Flatten -> Affine(72->10) -> IF, SpikingJelly's IF export (r = 1/dt)."""
    rng = np.random.default_rng(seed)

    def if_(shape, reset="zero"):
        node = nir.IF(r=np.full(shape, 1 / DT), v_threshold=np.ones(shape), v_reset=np.zeros(shape))
        node.metadata = {"reset_mode": reset}
        return node

    return chain(
        nir.Conv2d(input_shape=(12, 12), weight=rng.normal(0.1, 0.4, (6, 2, 3, 3)), stride=2, padding=1, dilation=1,
                   groups=1, bias=rng.normal(0, 0.05, 6)),
        if_((6, 6, 6)),
        nir.Conv2d(input_shape=(6, 6), weight=rng.normal(0.0, 0.3, (8, 6, 3, 3)), stride=2, padding=0, dilation=1,
                   groups=1, bias=np.zeros(8)),
        if_((8, 2, 2), "subtract"),
        nir.Flatten(input_type={"input": np.array((8, 2, 2))}, start_dim=0, end_dim=-1),
        nir.Affine(weight=rng.normal(0.0, 0.3, (10, 32)), bias=np.zeros(10)),
        if_((10,), "subtract"),
        input_shape=(2, 12, 12),
    )  # fmt: skip


def _per_step(graph: nir.NIRGraph) -> nir.NIRGraph:
    """IF nodes as Sinabs writes them (r = 1: v += I per step)."""
    for node in graph.nodes.values():
        if isinstance(node, nir.IF):
            node.r = np.ones_like(node.r)
    return graph


def _frames_graph(graph: nir.NIRGraph) -> nir.NIRGraph:
    graph.metadata = {"snncli": {"encoder": "frames"}}
    return graph


def _assert_identical(program: Program, x: np.ndarray) -> dict[str, np.ndarray]:
    ours = Simulator(program).run(x, record=True).records
    theirs = get_target("speck").reference(program, x)
    for layer in program.neuron_layers:
        got = ours[layer.name]["out"]
        assert got.sum() > 0, f"layer {layer.name} is silent: the comparison would prove nothing"
        np.testing.assert_array_equal(got, theirs[layer.name].reshape(got.shape), err_msg=layer.name)
    return ours


# ------------------------------------------------------------- lowering
def test_lowered_program_shape_and_round_trip(tmp_path):
    program = lower(_frames_graph(cnn(shape=(2, 16, 16))), "speck")
    assert [layer.kind for layer in program.layers] == [
        "input", "conv2d", "neuron", "sumpool2d", "conv2d", "neuron", "sumpool2d", "flatten", "dense", "neuron",
        "output"]  # fmt: skip
    assert program.latency_steps == 0 and program.reading == "nir"
    for layer in program.layers:
        if layer.kind in ("conv2d", "dense"):
            w = layer.op.weight
            assert w.dtype.kind == "i" and w.min() >= -128 and w.max() <= 127 and layer.op.bias is None
            assert max(w.max(), -w.min()) >= 127  # the rule scale reaches the 8-bit range
    program.save(tmp_path / "p.npz")
    again = Program.load(tmp_path / "p.npz")
    x = events((2, 16, 16), 6, 3, 0.2)
    np.testing.assert_array_equal(Simulator(program).run(x).outputs, Simulator(again).run(x).outputs)
    assert [layer.neuron for layer in again.neuron_layers][0].threshold == program.neuron_layers[0].neuron.threshold


def test_firing_rule_of_the_reading_is_exact():
    """NIR fires at v > thr, Sinabs at v >= thr: on an exact integer state each maps to one integer threshold."""

    def graph(r):  # v += 0.25 per step under both readings (the spec: dt * r = 1; Sinabs: r = 1 per step)
        return _frames_graph(chain(nir.Linear(weight=np.full((1, 1), 0.25)),
                                   nir.IF(r=np.array([r]), v_threshold=np.array([1.0]), v_reset=np.zeros(1)),
                                   input_shape=(1,)))  # fmt: skip

    x = np.ones((8, 1, 1))
    nir_spikes = Simulator(lower(graph(1 / DT), "speck")).run(x).outputs[:, 0, 0]
    sinabs_spikes = Simulator(lower(graph(1.0), "speck", reading="sinabs")).run(x).outputs[:, 0, 0]
    assert sinabs_spikes.tolist() == [0, 0, 0, 1, 0, 0, 0, 1]  # v = 1.0 fires, subtract
    assert nir_spikes.tolist() == [0, 0, 0, 0, 1, 0, 0, 0]  # v = 1.0 does not, v = 1.25 does; reset to 0


def test_qat_lattice_runs_like_the_float_model():
    """Weights on the QAT lattice k * max|w|/127 are lowered exactly (W_int = k); with reset to zero and
    no step bringing a neuron a whole threshold (so one spike per step, as the float model), the Speck
    program spikes exactly as the float target, step for step."""
    rng = np.random.default_rng(0)
    step = 1 / 512  # the threshold 1.0 is 512 steps; four inputs of at most 127 steps stay below it
    w1 = rng.integers(-60, 100, (4, 16)) * step
    w1[0, 0] = 127 * step
    w2 = rng.integers(-40, 127, (3, 4)) * step
    w2[1, 1] = -127 * step
    ifs = [nir.IF(r=np.full(n, 1 / DT), v_threshold=np.ones(n), v_reset=np.zeros(n)) for n in (4, 3)]
    graph = _frames_graph(chain(nir.Linear(weight=w1), ifs[0], nir.Linear(weight=w2), ifs[1], input_shape=(16,)))
    program = lower(graph, "speck")
    assert [e["method"] for e in program.notes["scale_search"]["layers"].values()] == ["qat-lattice"] * 2
    dense = [layer for layer in program.layers if layer.kind == "dense"]
    np.testing.assert_array_equal(dense[0].op.weight, np.round(w1 / step))
    np.testing.assert_array_equal(dense[1].op.weight, np.round(w2 / step))
    x = np.zeros((60, 20, 16))
    for t in range(60):  # three active inputs per step and sample
        for n in range(20):
            x[t, n, rng.choice(16, 3, replace=False)] = 1
    ours = Simulator(program).run(x, record=True).records
    flt = Simulator(lower(graph, "float")).run(x, record=True).records
    for layer in program.neuron_layers:
        assert flt[layer.name]["out"].sum() > 0
        np.testing.assert_array_equal(ours[layer.name]["out"], flt[layer.name]["out"], err_msg=layer.name)


def test_calibrated_search_logs_and_stays_sinabs_neutral():
    graph = _frames_graph(_per_step(cnn(shape=(2, 16, 16), seed=2)))
    x = events((2, 16, 16), 8, 80, 0.15, seed=4).astype(np.float64)
    program = lower(graph, "speck", reading="sinabs-floor", calibration=x)
    log = program.notes["scale_search"]
    assert log["method"] == "search" and log["samples"] == 80
    for name, entry in log["layers"].items():
        assert entry["candidates"] and entry["scale"] == program.scales[name]
    from snncli.targets.speck.arithmetic import discretize_scale

    for layer in integer_layers(program):  # every layer has a floor (sinabs-floor): Sinabs must keep it as is
        assert layer.min_v_mem > -32768
        assert discretize_scale(layer.conv_weight, layer.bias, layer.threshold, layer.min_v_mem) == 1.0


def test_event_driven_counters_by_hand():
    """Counts n at an input are n events: ACs = sum(n * fan-out); neuron updates = events delivered
    (+ every neuron per step with a bias, the leak clock)."""
    w = np.array([[0.5, 0.0, -0.25], [0.25, 0.5, 0.0]])
    for bias in (np.zeros(2), np.array([0.0, 0.125])):
        neurons = nir.IF(r=np.full(2, 1 / DT), v_threshold=np.ones(2), v_reset=np.zeros(2))
        graph = _frames_graph(chain(nir.Affine(weight=w, bias=bias), neurons, input_shape=(3,)))
        program = lower(graph, "speck")
        x = np.array([[[2, 0, 1]], [[0, 3, 0]], [[0, 0, 0]]], dtype=np.float64)  # [T=3, N=1, 3]
        counters = {c.name: c for c in Simulator(program).run(x).counters}
        syn, neu = counters[program.layers[1].name], counters[program.neuron_layers[0].name]
        fanout = np.count_nonzero(w, axis=0)  # [2, 1, 1]
        assert syn.sops == 2 * fanout[0] + 1 * fanout[2] + 3 * fanout[1] == 8 and syn.macs == 0
        clock = 2 * 3 if bias.any() else 0
        assert neu.neuron_updates == 8 + clock


def test_refusals_one_line():
    base = cnn(shape=(2, 16, 16))
    base.nodes["if1"] = nir.LIF(tau=np.full((4, 16, 16), 20 * DT), r=np.full((4, 16, 16), 20.0),
                                v_leak=np.zeros((4, 16, 16)), v_threshold=np.ones((4, 16, 16)),
                                v_reset=np.zeros((4, 16, 16)))  # fmt: skip
    with pytest.raises(SnnCliError, match="leaky LIF.*--allow-leak-removal") as exc:
        lower(_frames_graph(base), "speck")
    assert "\n" not in str(exc.value)
    program = lower(_frames_graph(base), "speck", allow_leak_removal=True)
    assert any("'if1'" in w and "decay" in w for w in program.warnings)
    assert "leak_removed" in program.notes["cores"][0]
    with pytest.raises(SnnCliError, match="analog"):
        lower(cnn(shape=(2, 16, 16), encoder="direct"), "speck")
    with pytest.raises(SnnCliError, match="cannot execute reading 'snntorch-subtract'") as exc:
        lower(_frames_graph(cnn(shape=(2, 16, 16))), "speck", reading="snntorch-subtract")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("seed", [1, 2])
def test_hwsim_equals_the_plain_numpy_forward(seed):
    """hwsim's layer-major run of a Speck Program == network.run_network, the rules written plainly step by
    step (no Sinabs needed), including saturation of the 16-bit state."""
    from snncli.targets.speck.network import run_network

    for graph, reading in ((cnn(shape=(2, 16, 16), seed=seed), "nir"), (_per_step(strided_cnn(seed)), "sinabs-floor")):
        program = lower(_frames_graph(graph), "speck", reading=reading)
        x = events(tuple(graph.nodes["input"].input_type["input"]), 12, 5, 0.3, seed=seed, max_count=4)
        ours = Simulator(program).run(x.astype(np.float64), record=True).records
        plain = run_network(integer_layers(program), x)
        for layer in program.neuron_layers:
            got = ours[layer.name]["out"]
            assert got.sum() > 0
            np.testing.assert_array_equal(got, plain[layer.name].reshape(got.shape))


# ------------------------------------------------ hwsim == Sinabs, spike for spike
@pytest.mark.parametrize("build, reading", [(lambda: cnn(shape=(2, 16, 16), seed=1), "nir"),
                                            (lambda: _per_step(cnn(shape=(2, 16, 16), seed=5, pool="avg")), "sinabs"),
                                            (strided_cnn, "nir")])  # fmt: skip
def test_hwsim_equals_sinabs_on_cnns(reference, build, reading):
    graph = _frames_graph(build())
    shape = tuple(graph.nodes["input"].input_type["input"])
    x = events(shape, 10, 6, 0.25, seed=7, max_count=3).astype(np.float64)
    program = lower(graph, "speck", reading=reading)
    _assert_identical(program, x)
    calibrated = lower(graph, "speck", reading=reading, calibration=events(shape, 10, 64, 0.25, seed=8, max_count=3))
    _assert_identical(calibrated, x)


def test_cnn_sinabs_driven_by_dvs_events(reference, conformance, dvs_frames):
    graph = read_nir(conformance / "cnn_sinabs.nir")
    program = lower(graph, "speck", reading="sinabs-floor")
    _assert_identical(program, dvs_frames)
    calibrated = lower(graph, "speck", reading="sinabs-floor", calibration=dvs_frames[:, :8])
    _assert_identical(calibrated, dvs_frames)


def test_cnn_sinabs_fits_and_maps_as_sinabs_maps_it(reference, conformance):
    """snncli's memory figures and cores for cnn_sinabs.nir equal Sinabs' own: its NIR importer
    (sinabs.from_nir), its DynapcnnNetwork, its memory_summary and its core mapping."""
    import sinabs
    import torch
    from sinabs.backend.dynapcnn.chips.speck2f import Speck2FConfigBuilder

    program = lower(read_nir(conformance / "cnn_sinabs.nir"), "speck", reading="sinabs-floor")
    table = program.resources["per_layer"]
    assert program.resources["cores_used"] == 5 <= program.resources["cores"] == 9
    graph = nir.read(str(conformance / "cnn_sinabs.nir"), type_check=False)
    executor = dict(sinabs.from_nir(graph, batch_size=1).named_children())
    order = [str(i) for i in range(13)]
    for name in order:  # Sinabs' importer writes one threshold per neuron; its DynapCNN backend takes one per layer
        module = executor[name]
        if isinstance(module, sinabs.layers.IAFSqueeze):
            for key in ("spike_threshold", "min_v_mem"):
                setattr(module, key, torch.nn.Parameter(getattr(module, key).flatten()[0].clone(), requires_grad=False))
    dyn = reference.import_dynapcnn()
    net = dyn.DynapcnnNetwork(torch.nn.Sequential(*[executor[n] for n in order]), input_shape=(2, 34, 34),
                              discretize=True)  # fmt: skip
    summary = net.memory_summary()
    cores = Speck2FConfigBuilder.map_layers_to_cores(net.dynapcnn_layers)
    synapses = [c["synapse"] for c in program.notes["cores"]]
    assert synapses == ["0", "2", "5", "9", "11"]
    for i, name in enumerate(synapses):
        ours = table[name]
        assert (ours["kernel_words"], ours["neuron_words"], ours["bias_words"]) == (
            summary["kernel"][i],
            summary["neuron"][i],
            summary["bias"][i],
        ), name
        assert ours["core"] == cores[i], name


def test_config_equals_sinabs_config_dict(reference, conformance):
    """Every core record holds what Sinabs' get_dynapcnn_layer_config_dict writes for the same integer layer."""
    from sinabs.backend.dynapcnn.chips.dynapcnn import DynapcnnConfigBuilder

    for graph, reading in ((read_nir(conformance / "cnn_sinabs.nir"), "sinabs-floor"),
                           (_frames_graph(strided_cnn()), "nir")):  # fmt: skip
        program = lower(graph, "speck", reading=reading)
        ours = config.chip_config(program)
        net = reference.dynapcnn_network(integer_layers(program))
        layer_to_core = {i: rec["core"] for i, rec in enumerate(ours["cores"])}
        for i, rec in enumerate(ours["cores"]):
            dests = [i + 1] if i + 1 < len(ours["cores"]) else []
            theirs = DynapcnnConfigBuilder.get_dynapcnn_layer_config_dict(net.dynapcnn_layers[i], layer_to_core, dests)
            theirs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in theirs.items()}
            for key, value in theirs.items():
                if key == "monitor_enable":
                    continue  # Sinabs sets it later, from make_config's monitor_layers (default: the last layer)
                assert rec[key] == value, (i, key)


def test_write_all_or_nothing(tmp_path, monkeypatch):
    program = lower(_frames_graph(cnn(shape=(2, 16, 16))), "speck")
    files = get_target("speck").write(program, None, str(tmp_path / "cfg.json"))
    assert [f.split("/")[-1] for f in files] == ["cfg.json", "cfg.json.program.npz"]
    assert Program.load(files[1]).target == "speck"

    def fail(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(Program, "save", fail)
    with pytest.raises(OSError):
        get_target("speck").write(program, None, str(tmp_path / "b.json"))
    assert not list(tmp_path.glob("b.json*"))


def test_readout_widens_the_last_core():
    """--readout: the last core holds class i on channel 4 i (Speck 2e/2f errata, Sinabs' extend_readout_layer)."""
    program = lower(_frames_graph(cnn(shape=(2, 16, 16))), "speck", readout=True)
    cfg = config.chip_config(program)
    last, weight = cfg["cores"][-1], program.layer("fc").op.weight
    wide = np.asarray(last["weights"])
    assert wide.shape[0] == 37 and last["dimensions"]["output_shape"]["feature_count"] == 37
    for i in range(10):
        np.testing.assert_array_equal(np.swapaxes(wide[4 * i], 1, 2).reshape(-1), weight[i])
    assert not np.any(np.delete(wide, np.arange(0, 37, 4), axis=0))
    assert cfg["readout"]["channel_of_class"] == [4 * i for i in range(10)]
    assert program.resources["readout"] and program.resources["per_layer"]["fc"]["bias_words"] in (0, 37)
    with pytest.raises(SnnCliError, match="at most 15"):
        lower(_frames_graph(cnn(shape=(2, 16, 16), classes=20)), "speck", readout=True)
