"""The onnx target: one time step with explicit states, checked by onnx.checker, run in ONNX Runtime.

Oracles: hwsim on the float Program (the same arithmetic: spikes must be identical in
float64), the trained torch model (predictions), and numpy for the ANN twin.
"""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from nets import braille, cnn, lower, mlp  # noqa: E402

from snncli.cli import main  # noqa: E402
from snncli.errors import SnnCliError  # noqa: E402
from snncli.hwsim.simulate import simulate  # noqa: E402
from snncli.nirgraph.readings import READINGS  # noqa: E402
from snncli.targets import get_target  # noqa: E402
from snncli.targets.onnx.graph import build_model  # noqa: E402
from snncli.targets.onnx.runtime import Stepper  # noqa: E402


def _drive(shape, steps=12, batch=16, seed=0, rate=0.5):
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, *shape)) < rate) * rng.integers(1, 4, (steps, batch, *shape)).astype(float)


def _spikes_equal_hwsim(program, x):
    ours = simulate(program, x, record=True)
    theirs = get_target("onnx").reference(program, x)
    assert set(theirs) == {layer.name for layer in program.neuron_layers}
    total = 0
    for name, spikes in theirs.items():
        np.testing.assert_array_equal(spikes, ours.records[name]["out"], err_msg=name)
        total += spikes.sum()
    assert total > 0  # a silent network would pass trivially


@pytest.mark.parametrize(
    "graph",
    [mlp(), mlp(neuron="if", bias=False), cnn(), cnn(pool="avg")],
    ids=["mlp-lif", "mlp-if", "cnn-sumpool", "cnn-avgpool"],
)
def test_float64_onnx_spikes_equal_hwsim(graph):
    program = lower(graph, "onnx")
    _spikes_equal_hwsim(program, _drive(program.input_layers[0].out_shape))


@pytest.mark.parametrize("reading", list(READINGS))
def test_every_reading_is_written_exactly_or_refused_in_one_line(reading):
    """Several spikes per step and firing at >= (Sinabs, Rockpool) are written; what the writer does not
    implement (snnTorch's late resets, a non-zero initial voltage) is refused, never approximated."""
    try:
        program = lower(mlp(neuron="if"), "onnx", reading=reading)
    except SnnCliError:
        pytest.skip(f"the float target does not lower this graph under {reading}")
    try:
        build_model(program)
    except SnnCliError as exc:
        assert "onnx target" in str(exc) or "ONNX" in str(exc)
        return
    x = _drive(program.input_layers[0].out_shape) * 1e-4  # r = 1/dt: per-step readings integrate x / dt
    _spikes_equal_hwsim(program, x)


def test_recurrent_net_streams_its_delayed_edge_as_a_state(conformance):
    program = lower(braille(conformance), "onnx")
    model = build_model(program)
    states = [i.name for i in model.graph.input if i.name != "x"]
    assert any(name.startswith("delay/") for name in states) and any(name.endswith("/i") for name in states)
    x = (np.random.default_rng(1).random((30, 4, *program.input_layers[0].out_shape)) < 0.3).astype(float)
    _spikes_equal_hwsim(program, x)


def test_written_file_passes_the_checker_and_states_are_inputs_and_outputs(tmp_path):
    program = lower(cnn(), "onnx")
    path = tmp_path / "m.onnx"
    assert get_target("onnx").write(program, None, str(path)) == [str(path)]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    inputs = {i.name for i in model.graph.input}
    outputs = {o.name for o in model.graph.output}
    for layer in program.neuron_layers:
        assert f"state/{layer.name}/v" in inputs and f"state/{layer.name}/v:next" in outputs
        assert f"layer/{layer.name}" in outputs
    assert "x" in inputs and "y" in outputs
    meta = json.loads({p.key: p.value for p in model.metadata_props}["snncli"])
    assert meta["precision"] == "float64" and meta["dt"] == program.dt
    assert {n.op_type for n in model.graph.node}.isdisjoint({"Conv", "AveragePool"})  # unrolled in float64


def test_float32_uses_native_conv_and_agrees_closely():
    program = lower(cnn(), "onnx", precision="float32")
    model = build_model(program, precision="float32")
    assert "Conv" in {n.op_type for n in model.graph.node}
    x = _drive(program.input_layers[0].out_shape, batch=32)
    ours = simulate(program, x, record=True)
    theirs = Stepper(model).run(x)
    for layer in program.neuron_layers:
        same = np.mean(theirs[f"layer/{layer.name}"] == ours.records[layer.name]["out"])
        assert same > 0.999, (layer.name, same)


def test_ann_twin_is_the_relu_network():
    graph = mlp(neuron="if", bias=True)
    program = lower(graph, "onnx", ann_twin=True)
    model = build_model(program, ann_twin=True)
    assert [i.name for i in model.graph.input] == ["x"] and [o.name for o in model.graph.output] == ["y"]
    assert "Relu" in {n.op_type for n in model.graph.node}
    x = np.random.default_rng(2).random((1, 8, 1, 8, 8))
    y = Stepper(model).run(x)["y"][0]
    fc1, fc2 = program.layer("fc1").op, program.layer("fc2").op
    h = np.maximum(x[0].reshape(8, -1) @ fc1.weight.T + fc1.bias, 0)
    np.testing.assert_allclose(y, np.maximum(h @ fc2.weight.T + fc2.bias, 0), rtol=1e-12)


def test_too_large_a_float64_convolution_names_the_remedy():
    program = lower(cnn(shape=(2, 64, 64), channels=(64, 8)), "onnx")
    with pytest.raises(Exception, match="--precision float32"):
        build_model(program)


TINY = ["--epochs", "3", "--hidden", "64", "--time-steps", "4", "--no-progress", "--set", "limit_train=600"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    assert main(["train", "--run-dir", str(root / "run"), *TINY]) == 0
    return root / "run"


def test_export_and_parity_through_the_cli(run, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export", str(run), "--target", "onnx", "-o", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    code = main(
        ["parity", str(run), "--target", "onnx", "--reference-limit", "360", "--json", str(tmp_path / "p.json")]
    )
    result = json.loads((tmp_path / "p.json").read_text())
    assert code == 0 and result["passed"], result["verdict"]
    assert result["reference"]["identical_spikes"] and result["reference"]["samples"] == result["samples"]
    # onnxruntime's spikes equal hwsim's, so its predictions agree with torch exactly where hwsim's do
    assert result["prediction_agreement"] >= 0.999


def test_onnxruntime_predictions_agree_with_torch(run):
    import torch

    from snncli.commands.parity import _torch_spikes
    from snncli.commands.run import Run

    r = Run(run)
    x, _ = r.encoded("test")
    model, _ = r.model()
    torch_pred = _torch_spikes(model, torch.as_tensor(x, dtype=torch.float32))[0].sum(0).argmax(-1)
    program = lower(r.graph(), "onnx")
    onnx_pred = Stepper(build_model(program)).run(x)["y"].sum(0).argmax(-1)
    assert np.mean(onnx_pred == torch_pred) >= 0.999


def test_ann_twin_has_no_spikes_for_parity(run, capsys):
    code = main(["parity", str(run), "--target", "onnx", "--ann-twin", "--limit", "20"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "ANN-twin" in err[0]
