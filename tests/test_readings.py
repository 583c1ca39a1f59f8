"""Readings: the records, the float neuron step they drive, detection on hand-made graphs, dt sanity."""

import nir
import numpy as np
import pytest
from nets import chain, lower

from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.hwsim.simulate import simulate
from snncli.nirgraph import check_graph
from snncli.nirgraph.detect import detect, implied_dt, unstable_steps
from snncli.nirgraph.fingerprints import loop_nodes, rockpool_dt
from snncli.nirgraph.readings import READINGS, reading
from snncli.targets.float.neuron import FloatLIF, init, step


def test_every_reading_is_a_documented_record():
    assert list(READINGS)[0] == "nir"
    for name, rules in READINGS.items():
        assert rules.name == name and rules.summary and rules.sources
    with pytest.raises(SnnCliError, match="unknown reading 'snntorch'; choose one of nir, "):
        reading("snntorch")  # snnTorch's reset is a choice, never a default


def _run(p: FloatLIF, xs):
    state, out = init((1,), 1, p), []
    for x in xs:
        state, s = step(state, np.array([[x]], dtype=float), p)
        out.append((float(s[0, 0]), float(state["v"][0, 0])))
    return out


def _leaky(**kw):
    return FloatLIF(
        v_decay=np.array([0.5]), v_gain=np.array([1.0]), v_bias=np.array([0.0]), v_threshold=np.array([1.0]), **kw
    )


@pytest.mark.parametrize(
    "reset, expected",
    [
        # snnTorch Leaky (leaky.py:209-247), mem = 0.5 mem + x, thr 1, x = 1.2, 0.2, 0.9, 0
        ("late-subtract", [(1, 1.2), (0, -0.2), (0, 0.8), (0, 0.4)]),  # mem - thr s[t-1], undecayed
        ("late-zero", [(1, 1.2), (0, 0.0), (0, 0.9), (0, 0.45)]),  # the whole step after a spike is lost
        ("stale-subtract", [(1, 0.2), (0, 0.3), (1, 0.05), (0, 0.025)]),  # pre = u - thr [v > thr]
        ("zero", [(1, 0.0), (0, 0.2), (0, 1.0), (0, 0.5)]),  # 0.2*0.5 + 0.9 = 1.0 is no spike under '>'
        ("subtract", [(1, 0.2), (0, 0.3), (1, 0.05), (0, 0.025)]),
    ],
)
def test_resets_follow_the_producers_rules(reset, expected):
    got = _run(_leaky(reset=reset), [1.2, 0.2, 0.9, 0.0])
    assert [s for s, _ in got] == [s for s, _ in expected]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], atol=1e-12)


def test_firing_at_equality_multiple_spikes_floor_and_start():
    assert _run(_leaky(fire=">="), [0.5, 0.75])[1][0] == 1  # 0.25 + 0.75 == 1 fires
    assert _run(_leaky(), [0.5, 0.75])[1][0] == 0
    multi = _run(_leaky(reset="subtract", fire=">=", multi_spike=True), [3.5])  # Rockpool lif_torch.py:43
    assert multi == [(3.0, 0.5)]
    floored = _run(_leaky(reset="subtract", v_min=np.array([-1.0])), [-5.0])
    assert floored[0][1] == -1.0
    started = FloatLIF(
        v_decay=np.array([1.0]),
        v_gain=np.array([1.0]),
        v_bias=np.array([0.0]),
        v_threshold=np.array([1.0]),
        v_reset=np.array([-0.3]),
        v_init=np.array([-0.3]),
        fire=">=",
    )
    assert _run(started, [1.3]) == [(1.0, -0.3)]  # SpikingJelly: from v_reset, -0.3 + 1.3 >= 1


def _lif(tau, r, **kw):
    shape = np.shape(tau) or (3,)
    return nir.LIF(
        tau=np.asarray(tau, float),
        r=np.asarray(r, float),
        v_leak=np.zeros(shape),
        v_threshold=np.ones(shape),
        v_reset=np.zeros(shape),
        **kw,
    )


def _graph(*nodes, n=3):
    return check_graph(chain(nir.Affine(np.eye(n), np.zeros(n)), *nodes, input_shape=[n]))


def test_coefficients_per_reading():
    tau = np.array([2e-3, 4e-3, 8e-3])
    graph = _graph(_lif(tau, np.ones(3)))
    neuron = {r: lower(graph, dt=1e-4, reading=r).neuron_layers[0].neuron for r in ("nir", "rockpool", "norse")}
    np.testing.assert_allclose(neuron["nir"].v_decay, 1 - 1e-4 / tau)
    np.testing.assert_allclose(neuron["rockpool"].v_decay, np.exp(-1e-4 / tau))
    np.testing.assert_allclose(neuron["rockpool"].v_gain, 1.0)
    np.testing.assert_allclose(neuron["norse"].v_decay, 1 - 1e-4 * 1e-4 / tau)  # tau written as dt * tau_true
    steps = _graph(_lif(np.array([5.0, 10.0, 20.0]), np.ones(3)))
    sinabs = lower(steps, reading="sinabs").neuron_layers[0].neuron  # tau in steps, norm_input
    a = np.exp(-1 / np.array([5.0, 10.0, 20.0]))
    np.testing.assert_allclose(sinabs.v_decay, a)
    np.testing.assert_allclose(sinabs.v_gain, 1 - a)
    assert sinabs.multi_spike and sinabs.fire == ">=" and sinabs.reset == "subtract" and sinabs.v_min is None


def test_program_with_every_reading_round_trips(tmp_path):
    graph = _graph(_lif(np.full(3, 1e-3), np.full(3, 10.0)))
    for name in READINGS:
        program = lower(graph, dt=1e-4, reading=name)
        program.save(tmp_path / "p.npz")
        back = Program.load(tmp_path / "p.npz")
        a, b = program.neuron_layers[0].neuron, back.neuron_layers[0].neuron
        assert back.reading == name and (a.reset, a.fire, a.multi_spike) == (b.reset, b.fire, b.multi_spike)


def test_detection_from_fingerprints():
    snntorch = _graph(_lif(np.array([4e-4, 6e-4, 9e-4]), np.array([4.0, 6.0, 9.0])))
    found = detect(snntorch)  # r = tau / 1e-4 and names 0, 1, ...: the reset mechanism is asked
    assert found.reading is None and found.readings[0] == "snntorch-subtract"
    spec = _graph(_lif(np.full(3, 2e-3), np.ones(3)))
    assert detect(spec).reading == "nir" and detect(spec).message is None  # a spec LIF: no fingerprint
    rock_tau = np.array([0.01, 0.02, 0.04])
    rockpool = _graph(_lif(rock_tau, rock_tau * np.exp(-1e-3 / rock_tau) / 1e-3))  # rockpool nir.py:288
    assert detect(rockpool).reading == "rockpool"
    assert implied_dt(rockpool, "rockpool")[0] == pytest.approx(1e-3)
    np.testing.assert_allclose(rockpool_dt(rock_tau, rock_tau * np.exp(-2.5e-4 / rock_tau) / 2.5e-4), 2.5e-4)


def test_names_and_batch_dimension_are_evidence():
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([1, 3])}),
            "0": nir.Affine(np.eye(3), np.zeros(3)),
            "1": nir.IF(r=np.ones(3), v_threshold=np.ones(3)),
            "output": nir.Output(output_type={"output": np.array([1, 3])}),
        },
        edges=[("input", "0"), ("0", "1"), ("1", "output")],
        type_check=False,
    )
    assert detect(check_graph(graph)).reading == "norse"  # IF r = 1 with a batch dimension: Norse
    graph.nodes["input"] = nir.Input(input_type={"input": np.array([3])})
    graph.nodes["output"] = nir.Output(output_type={"output": np.array([3])})
    assert detect(check_graph(graph)).reading == "sinabs"  # without: Sinabs (its exporter drops the batch)


def test_loops_and_recurrent_bias_at_step_zero():
    n = 2
    graph = check_graph(
        nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type={"input": np.array([n])}),
                "fc": nir.Linear(np.eye(n)),
                "lif": nir.IF(r=np.full(n, 1e4), v_threshold=np.full(n, 10.0)),
                "rec": nir.Affine(np.zeros((n, n)), np.full(n, 0.5)),
                "output": nir.Output({"output": np.array([n])}),
            },
            edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
            type_check=False,
        )
    )
    assert loop_nodes(graph) == {"lif", "rec"}
    result = simulate(lower(graph, dt=1e-4), np.zeros((3, 1, n)), record=True)
    np.testing.assert_allclose(result.records["lif"]["v"][:, 0, 0], [0.5, 1.0, 1.5])  # W s[-1] + b = b at step 0


def test_dt_at_or_above_tau_is_an_exploding_euler_step():
    graph = _graph(_lif(np.array([1e-5, 1e-3, 1e-3]), np.ones(3)))
    assert unstable_steps(graph, "nir", 1e-4) == ["'n1' tau 1e-05 s"]
    assert unstable_steps(graph, "rockpool", 1e-4) == []  # exact exponential decays never explode
    assert unstable_steps(graph, "nir", 1e-6) == []


def test_loihi_fires_at_equality_with_the_threshold_one_integer_lower():
    from snncli.targets.loihi.quantize import quantize_stage
    from snncli.targets.loihi.structure import build_stages

    graph = _graph(nir.IF(r=np.full(3, 1e4), v_threshold=np.full(3, 0.75)))
    stages = build_stages(graph.nodes, 1e-4, "auto", [])[1]
    for fire, q in ((">", 40.0), (">=", 40.0), (">=", 40.1)):
        stage = stages[0].__class__(**{**vars(stages[0]), "fire": fire})
        vth = quantize_stage(stage, q, {}).params.vth
        for v_int in range(60):
            assert (v_int > vth) == ((v_int >= q * 0.75) if fire == ">=" else (v_int > q * 0.75)), (fire, q, v_int)
