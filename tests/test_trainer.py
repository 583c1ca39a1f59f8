"""Config, models and the training loop (tiny runs on a digits subset)."""

import json

import pytest
import torch
import yaml
from spikingjelly.activation_based import functional, layer, neuron

from snncli.data import load_dataset
from snncli.errors import SnnCliError
from snncli.trainer.config import TrainConfig, load_config, save_config
from snncli.trainer.layers import SumPool2d
from snncli.trainer.models import FiringRates, build_model, predict
from snncli.trainer.train import evaluate, limit, load_trained, train

TINY = {
    "hidden": [64],
    "time_steps": 4,
    "epochs": 2,
    "limit_train": 256,
    "limit_test": 128,
    "batch_size": 32,
    "lr": 0.01,
}


def tiny(**kw) -> TrainConfig:
    return load_config(None, {**TINY, **kw})


# ---------------------------------------------------------------- config


def test_defaults_and_overrides(tmp_path):
    assert load_config().to_dict() == TrainConfig().to_dict()
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\nhidden: [100, 50]\nlr: 1\n")
    cfg = load_config(path, {"epochs": 5, "seed": None})  # flags beat the file; None = flag not given
    assert (cfg.epochs, cfg.hidden, cfg.lr, cfg.seed) == (5, [100, 50], 1.0, 0)


def test_unknown_key_suggests_closest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epoch: 3\n")
    with pytest.raises(SnnCliError, match=r"unknown config key 'epoch'.*did you mean 'epochs'"):
        load_config(path)
    with pytest.raises(SnnCliError, match="did you mean 'time_steps'"):
        load_config(None, {"timesteps": 4})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epochs": -1}, r"'epochs' must be an integer in \[0, 100000\], got -1"),
        ({"epochs": "ten"}, "'epochs' must be an integer"),
        ({"hidden": [10, "a"]}, "list of integers"),
        ({"neuron": "izhikevich"}, "lif, if, plif"),
        ({"surrogate": "tanh"}, "atan"),
        ({"encoder": "rate"}, "poisson"),
        ({"model": "resnet"}, "mlp, cnn"),
        ({"dataset": "imagenet"}, "digits"),
        ({"beta": 1.0}, r"\(0.0, 1.0\)"),
        ({"dataset": "nmnist", "encoder": "poisson"}, "frames"),
        ({"qat_bits": 1}, r"'qat_bits' must be an integer in \[2, 16\]"),
    ],
)
def test_invalid_values_name_the_key(overrides, message):
    with pytest.raises(SnnCliError, match=message):
        load_config(None, overrides)


def test_event_dataset_selects_frames_encoder():
    assert load_config(None, {"dataset": "shd"}).encoder == "frames"


def test_save_config_round_trips(tmp_path):
    cfg = tiny(neuron="plif", reset="subtract", data_root="/x")
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["neuron"] == "plif"


# ---------------------------------------------------------------- models

EXPORTABLE = (
    layer.Linear,
    layer.Conv2d,
    layer.Flatten,
    neuron.IFNode,
    neuron.LIFNode,
    neuron.ParametricLIFNode,
    SumPool2d,
)


def test_mlp_and_cnn_are_plain_sequentials_of_exportable_modules():
    for cfg in (tiny(), tiny(model="cnn", channels=[4, 8], bias=False, neuron="if")):
        net = build_model(cfg, (1, 8, 8), 10)
        assert isinstance(net, torch.nn.Sequential)
        assert all(isinstance(m, EXPORTABLE) and m.step_mode == "m" for m in net)
        out = net(torch.rand(cfg.time_steps, 3, 1, 8, 8))
        assert out.shape == (cfg.time_steps, 3, 10) and set(out.unique().tolist()) <= {0.0, 1.0}
        functional.reset_net(net)
    assert [type(m).__name__ for m in net] == [
        "Conv2d",
        "IFNode",
        "SumPool2d",
        "Conv2d",
        "IFNode",
        "SumPool2d",
        "Flatten",
        "Linear",
        "IFNode",
    ]
    assert all(getattr(m, "bias", None) is None for m in net if isinstance(m, (layer.Conv2d, layer.Linear)))


def test_lif_is_beta_leak_with_chosen_reset():
    """One LIF neuron, constant input 0.3: v[t] = 0.9 v[t-1] + 0.3, spike when v >= 1, then reset."""
    for reset in ("zero", "subtract"):
        cfg = tiny(beta=0.9, reset=reset)
        node = build_model(cfg, (1,), 1)[-1]
        spikes = node(torch.full((12, 1, 1), 0.3)).flatten().tolist()
        v, expected = 0.0, []
        for _ in range(12):
            v = 0.9 * v + 0.3
            expected.append(float(v >= 1.0))
            if v >= 1.0:
                v = 0.0 if reset == "zero" else v - 1.0
        assert spikes == expected, reset
        assert sum(expected) >= 2


def test_cnn_rejects_non_image_samples():
    with pytest.raises(SnnCliError, match="mlp"):
        build_model(tiny(model="cnn"), (700,), 20)


def test_predict_and_firing_rates():
    out = torch.zeros(4, 2, 3)
    out[:, 0, 2] = 1
    out[:2, 1, 1] = 1
    assert predict(out).tolist() == [2, 1]
    net = build_model(tiny(hidden=[16, 8]), (1, 8, 8), 10)
    with FiringRates(net) as fr:
        net(torch.rand(4, 5, 1, 8, 8))
    assert list(fr.rates()) == ["lif1", "lif2"]  # the two hidden layers, not the output
    assert 0.0 <= fr.mean() <= 1.0


# ---------------------------------------------------------------- training


def test_train_writes_run_dir(tmp_path):
    run = tmp_path / "run"
    summary = train(tiny(), run, progress=False)
    for f in ("config.yaml", "checkpoints/last.pt", "checkpoints/best.pt", "metrics.json", "training_curves.png"):
        assert (run / f).is_file(), f
    metrics = json.loads((run / "metrics.json").read_text())
    epochs = metrics["epochs"]
    assert [m["epoch"] for m in epochs] == [1, 2]
    for m in epochs:
        assert {"loss", "train_acc", "val_loss", "val_acc", "firing_rate", "seconds"} <= set(m)
        assert not any(k.startswith("test") for k in m)  # the test split is not looked at per epoch
        assert 0 <= m["val_acc"] <= 1 and 0 <= m["firing_rate"] <= 1 and m["loss"] > 0
    best = max(epochs, key=lambda m: m["val_acc"])
    assert summary["epochs"] == 2 and summary["best_epoch"] == best["epoch"] == metrics["test"]["epoch"]
    assert summary["val_accuracy"] == best["val_acc"]
    assert summary["accuracy"] == summary["test_accuracy"] == summary["best_test_acc"] == metrics["test"]["test_acc"]
    assert (
        summary["selection"] == metrics["selection"] == f"best validation accuracy over 2 epochs, epoch {best['epoch']}"
    )
    assert metrics["validation"]["size"] == summary["validation"]["size"] == round(0.1 * 256)
    assert summary["test_accuracy"] > 0.3  # chance is 0.1: it learned something in 2 tiny epochs
    assert load_config(run / "config.yaml") == tiny()
    assert (run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"

    model, cfg, info = load_trained(run, "best")
    assert info["sample_shape"] == [1, 8, 8] and info["num_classes"] == 10
    assert evaluate(model, limit(load_dataset("digits"), cfg), cfg) == pytest.approx(summary["best_test_acc"])


def _weights(run):
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    cfg = tiny(encoder="poisson", epochs=3)  # poisson: the encoder's random draws must line up too
    train(cfg, tmp_path / "straight", progress=False)

    def kill_after_first_epoch(entry):
        if entry["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed", progress=False, on_epoch=kill_after_first_epoch)
    assert len(json.loads((tmp_path / "killed" / "metrics.json").read_text())["epochs"]) == 1
    train(cfg, tmp_path / "killed", resume=True, progress=False)

    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "killed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("straight", "killed"))
    assert [(m["loss"], m["val_acc"]) for m in ma["epochs"]] == [(m["loss"], m["val_acc"]) for m in mb["epochs"]]
    assert ma["validation"] == mb["validation"] and ma["test"] == mb["test"]


def test_seed_reproducibility(tmp_path):
    cfg = tiny(epochs=1)
    train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    train(tiny(epochs=1, seed=1), tmp_path / "c", progress=False)
    a, b, c = (_weights(tmp_path / r) for r in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc1.weight"], c["fc1.weight"])


def test_run_dir_guards(tmp_path, capsys):
    cfg = tiny(epochs=1)
    train(cfg, tmp_path / "new", resume=True, progress=False)  # nothing to resume: starts, and says so
    assert "nothing to resume" in capsys.readouterr().err
    train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(SnnCliError, match="holds a run with checkpoints; pass --resume"):
        train(cfg, tmp_path / "run", progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SnnCliError, match="holds no snncli run"):
        train(cfg, tmp_path / "other", progress=False)
    with pytest.raises(SnnCliError, match=r"config differs \(lr: 0.01 -> 0.02\)"):
        train(tiny(epochs=1, lr=0.02), tmp_path / "run", resume=True, progress=False)
    with pytest.raises(SnnCliError, match="no config.yaml"):
        load_trained(tmp_path / "nope")


# ---------------------------------------------------------------- quantization-aware training


def test_fake_quantize_is_an_n_bit_lattice_with_straight_through_gradient():
    from snncli.trainer.qat import FakeQuantize

    w = torch.randn(20, 30, requires_grad=True)
    wq = FakeQuantize(4)(w)
    step = w.detach().abs().max() / 7
    k = wq.detach() / step
    assert torch.allclose(k, k.round(), atol=1e-4) and k.abs().max().round() == 7  # 15 levels, max|w| kept
    assert 0 < (wq.detach() - w.detach()).abs().max() <= step / 2 + 1e-6
    (wq * torch.arange(30.0)).sum().backward()
    assert torch.equal(w.grad, torch.arange(30.0).expand(20, 30))  # gradient passes unchanged


def test_qat_run_exports_quantized_weights_and_resumes(tmp_path):
    from snncli.commands.run import Run

    cfg = tiny(model="cnn", channels=[4], neuron="if", qat_bits=4, epochs=2)
    train(cfg, tmp_path / "run", progress=False)
    model, _, _ = load_trained(tmp_path / "run", "last")
    assert not any("parametrizations" in name for name in model.state_dict())  # baked: plain modules
    graph = Run(tmp_path / "run").graph("last")
    weights = [node.weight for node in graph.graph.nodes.values() if hasattr(node, "weight")]
    assert len(weights) == 2
    for w in weights:
        k = w / (abs(w).max() / 7)
        assert abs(k - k.round()).max() < 1e-4 and len(set(k.round().ravel())) <= 15
    # a killed QAT run resumes: the checkpoint holds the latent weights under the parametrization
    train(
        load_config(None, {**TINY, "model": "cnn", "channels": [4], "neuron": "if", "qat_bits": 4, "epochs": 3}),
        tmp_path / "run",
        resume=True,
        progress=False,
    )
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]) == 3


def test_init_from_fine_tunes_a_trained_run_with_qat(tmp_path):
    from snncli.trainer.qat import FakeQuantize

    train(tiny(epochs=1), tmp_path / "float", progress=False)
    source, _, _ = load_trained(tmp_path / "float")
    # lr ~ 0: the fine-tuned weights are the source's, quantized
    train(tiny(epochs=1, qat_bits=4, lr=1e-12, init_from=str(tmp_path / "float")), tmp_path / "qat", progress=False)
    tuned, cfg, _ = load_trained(tmp_path / "qat", "last")
    assert cfg.init_from == str(tmp_path / "float")
    for name in ("fc1", "fc_out"):
        w = getattr(source, name).weight.detach()
        assert torch.allclose(getattr(tuned, name).weight, FakeQuantize(4)(w), atol=1e-6)
        assert not torch.allclose(getattr(tuned, name).weight, w, atol=1e-4)
    with pytest.raises(SnnCliError, match=r"init_from .*does not fit this config"):
        train(tiny(hidden=[32], init_from=str(tmp_path / "float")), tmp_path / "other", progress=False)
    assert not (tmp_path / "other").exists()  # nothing written
