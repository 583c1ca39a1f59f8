"""hwsim's event-driven execution against direct computation (torch / numpy)."""

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nets import chain, lower

from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.hwsim.simulate import execution_groups, simulate


@pytest.mark.parametrize(
    "stride,padding,dilation,groups",
    [((1, 1), (1, 1), (1, 1), 1), ((2, 2), (1, 0), (1, 1), 1), ((1, 2), (2, 2), (2, 1), 2)],
)
def test_conv2d_fanout_table_equals_torch(stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(6, 4 // groups, 3, 3))
    weight[rng.random(weight.shape) < 0.3] = 0
    bias = rng.normal(size=6)
    x = (rng.random((3, 5, 4, 9, 11)) < 0.2) * rng.integers(1, 3, (3, 5, 4, 9, 11))
    conv = nir.Conv2d(
        input_shape=(9, 11), weight=weight, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias
    )
    result = simulate(lower(chain(conv, input_shape=(4, 9, 11))), x)
    expected = F.conv2d(
        torch.as_tensor(x.reshape(15, 4, 9, 11), dtype=torch.float64),
        torch.as_tensor(weight),
        torch.as_tensor(bias),
        stride,
        padding,
        dilation,
        groups,
    ).numpy()
    np.testing.assert_allclose(result.outputs.reshape(expected.shape), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "node,torch_fn",
    [
        (
            nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
            lambda x: F.avg_pool2d(x, 2, 2) * 4,
        ),
        (
            nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]), padding=np.array([1, 1])),
            lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True),
        ),
    ],
)
def test_pooling_equals_torch(node, torch_fn):
    x = np.random.default_rng(1).integers(0, 2, (2, 3, 4, 8, 8)).astype(float)
    result = simulate(lower(chain(node, input_shape=(4, 8, 8))), x)
    expected = torch_fn(torch.as_tensor(x.reshape(6, 4, 8, 8))).numpy()
    np.testing.assert_allclose(result.outputs.reshape(expected.shape), expected, rtol=0, atol=1e-12)


def test_recurrent_edge_has_one_step_delay():
    """x -> W_in -> LIF <-> W_rec: hwsim equals a numpy loop with s[t-1] fed back."""
    rng = np.random.default_rng(3)
    n_in, n = 5, 7
    w_in, w_rec = rng.normal(size=(n, n_in)), rng.normal(size=(n, n)) * 0.5
    tau, thr, dt = np.full(n, 5e-4), np.full(n, 0.3), 1e-4
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n_in])}),
            "w_in": nir.Linear(weight=w_in),
            "lif": nir.LIF(tau=tau, r=np.ones(n), v_leak=np.zeros(n), v_threshold=thr, v_reset=np.zeros(n)),
            "w_rec": nir.Linear(weight=w_rec),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )
    program = lower(graph, dt=dt)
    assert program.layer("lif").delayed_inputs == ("w_rec",)
    assert [[layer.name for layer in g] for g in execution_groups(program)] == [
        ["input"],
        ["w_in"],
        ["lif", "w_rec"],
        ["output"],
    ]
    x = (rng.random((30, 2, n_in)) < 0.4).astype(float)
    result = simulate(program, x)
    v, s = np.zeros((2, n)), np.zeros((2, n))
    expected = []
    for t in range(30):
        i = x[t] @ w_in.T + s @ w_rec.T
        v = v + dt / tau * (-v + i)
        s = (v > thr).astype(float)
        v = np.where(s > 0, 0.0, v)
        expected.append(s)
    np.testing.assert_array_equal(result.outputs, np.stack(expected))
    assert result.outputs.sum() > 0


def test_subtractive_reset_from_metadata():
    node = nir.IF(r=np.full(1, 1e4), v_threshold=np.ones(1), v_reset=np.zeros(1))
    node.metadata["reset_mode"] = "subtract"
    x = np.full((4, 1, 1), 0.7)
    rec = simulate(lower(chain(node, input_shape=(1,))), x, record=True).records["n0"]
    # v: 0.7; 1.4 -> spike, 0.4 (subtracted, not zeroed); 1.1 -> spike, 0.1; 0.8
    np.testing.assert_array_equal(rec["out"][:, 0, 0], [0, 1, 1, 0])
    np.testing.assert_allclose(rec["v"][:, 0, 0], [0.7, 0.4, 0.1, 0.8], atol=1e-9)


def test_program_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    graph = chain(
        nir.Affine(weight=rng.normal(size=(6, 3)), bias=rng.normal(size=6)),
        nir.LIF(
            tau=np.full(6, 1e-3), r=np.ones(6), v_leak=np.zeros(6), v_threshold=np.full(6, 0.2), v_reset=np.zeros(6)
        ),
        input_shape=(3,),
    )
    program = lower(graph)
    program.save(tmp_path / "p.npz")
    loaded = Program.load(tmp_path / "p.npz")
    x = rng.random((10, 4, 3))
    np.testing.assert_array_equal(simulate(program, x).outputs, simulate(loaded, x).outputs)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in program.layers]


def test_input_of_wrong_shape_is_a_clear_error():
    graph = chain(nir.Linear(weight=np.ones((2, 3))), input_shape=(3,))
    with pytest.raises(SnnCliError, match=r"expects \[time, batch, 3\]"):
        simulate(lower(graph), np.zeros((4, 2, 5)))


def test_counters_of_a_known_network():
    """Two spikes into a 3->2 Linear with one zero weight: SOPs = fan-out of the spiking inputs."""
    weight = np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 1.0]])
    graph = chain(
        nir.Linear(weight=weight),
        nir.IF(r=np.full(2, 1e4), v_threshold=np.full(2, 1.5), v_reset=np.zeros(2)),
        input_shape=(3,),
    )
    x = np.zeros((2, 1, 3))
    x[0, 0, 1] = 1  # input 1: fan-out 1 (weight to output 0 is zero)
    x[1, 0, 2] = 1  # input 2: fan-out 2
    result = simulate(lower(graph), x)
    count = {c.name: c for c in result.counters}
    assert (count["n0"].sops, count["n0"].macs, count["n0"].synapses) == (3, 0, 5)
    assert count["n1"].neuron_updates == 2 * 2
    assert count["n1"].spikes == 2  # v0: 0 -> 2 (spike); v1: 1 -> 2 (spike)
