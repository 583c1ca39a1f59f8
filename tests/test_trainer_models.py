"""The model zoo beyond mlp/cnn: parallel spiking neurons, the Spikformer, export refusals, CIFAR's binary reader."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional, neuron

from snncli.data import load_dataset
from snncli.data.cifar import CIFAR10, CIFAR100, read_cifar
from snncli.errors import SnnCliError
from snncli.trainer.config import PSN_NEURONS, load_config
from snncli.trainer.models import (
    FiringRates,
    build_model,
    export_refusal,
    set_masked_psn_lambda,
    spike_counts,
)
from snncli.trainer.spikformer import SpikformerClassifier
from snncli.trainer.train import load_trained, train

TINY_SPIKFORMER = {
    "model": "spikformer",
    "embed_dim": 32,
    "num_heads": 4,
    "depth": 1,
    "mlp_ratio": 2.0,
    "time_steps": 4,
    "beta": 0.5,
    "surrogate": "sigmoid",
}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _batch(ds, n=64, steps=8):
    x = torch.from_numpy(ds.train_x[:n])
    return x.unsqueeze(0).expand(steps, *x.shape), torch.from_numpy(ds.train_y[:n])


def _fit(net, x, y, steps, lr=5e-3):
    """``steps`` Adam steps on one batch; returns the losses and the parameters that never got a gradient."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses, touched = [], set()
    for _ in range(steps):
        loss = F.cross_entropy(spike_counts(net(x)), y)
        opt.zero_grad()
        loss.backward()
        touched |= {n for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        opt.step()
        functional.reset_net(net)
        losses.append(loss.item())
    return losses, {n for n, _ in net.named_parameters()} - touched


# ---------------------------------------------------------------- parallel spiking neurons

PSN_TYPES = {"psn": neuron.PSN, "masked-psn": neuron.MaskedPSN, "sliding-psn": neuron.SlidingPSN}


@pytest.mark.parametrize("kind", PSN_NEURONS)
def test_psn_layers_are_spikingjelly_modules_in_multi_step_mode_and_learn(kind, digits):
    x, y = _batch(digits)
    for model in ("cnn", "mlp"):
        cfg = load_config(
            None, {"model": model, "neuron": kind, "hidden": [64], "channels": [4, 8], "time_steps": 8, "psn_order": 3}
        )
        torch.manual_seed(0)
        net = build_model(cfg, digits.sample_shape, 10)
        layers = [m for m in net.modules() if isinstance(m, PSN_TYPES[kind])]
        assert len(layers) == (2 if model == "mlp" else 3)
        for m in layers:
            assert getattr(m, "step_mode", "m") == "m"
            if kind != "sliding-psn":
                assert m.T == 8 and m.weight.shape == (8, 8)
            else:
                assert m.k == 3
        if kind == "masked-psn":  # order k: step t sees steps t-2..t only
            assert torch.equal(layers[0].masked_weight() != 0, torch.tril(torch.triu(torch.ones(8, 8), -2)).bool())
        out = net(x)
        assert out.shape == (8, 64, 10) and set(out.unique().tolist()) <= {0.0, 1.0}
        functional.reset_net(net)
    # SpikingJelly starts a PSN silent (threshold B = 1): the surrogate gradient wakes it up
    losses, _ = _fit(net, x, y, 30, lr=1e-2)
    assert min(losses[-3:]) < losses[0] - 1.0


def test_psn_refuses_a_different_number_of_steps(digits):
    net = build_model(load_config(None, {"neuron": "psn", "hidden": [16], "time_steps": 8}), digits.sample_shape, 10)
    with pytest.raises(RuntimeError):
        net(torch.zeros(4, 2, 1, 8, 8))


def test_masked_psn_lambda_helper(digits):
    net = build_model(load_config(None, {"neuron": "masked-psn", "hidden": [16]}), digits.sample_shape, 10)
    assert set_masked_psn_lambda(net, 0.25) == 2
    assert all(float(m.lambda_) == 0.25 for m in net.modules() if isinstance(m, neuron.MaskedPSN))


def test_psn_run_trains_and_reloads(tmp_path):
    cfg = load_config(
        None,
        {
            "neuron": "sliding-psn",
            "hidden": [64],
            "time_steps": 8,
            "epochs": 2,
            "limit_train": 400,
            "limit_test": 200,
            "batch_size": 32,
            "lr": 0.01,
        },
    )
    summary = train(cfg, tmp_path / "run", progress=False, log=None)
    assert summary["test_accuracy"] > 0.4  # chance is 0.1
    model, loaded, _ = load_trained(tmp_path / "run")
    assert loaded.neuron == "sliding-psn" and isinstance(model.sliding_psn1, neuron.SlidingPSN)
    with FiringRates(model) as fr:
        model(torch.rand(8, 4, 1, 8, 8))
    assert list(fr.rates()) == ["sliding_psn1"]


# ---------------------------------------------------------------- export refusals


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"neuron": "psn"}, "no membrane state or reset"),
        ({"neuron": "masked-psn", "model": "cnn"}, "NIR has no primitive"),
        ({"neuron": "sliding-psn"}, "no chip"),
        (TINY_SPIKFORMER, "multiplies two spike tensors"),
    ],
)
def test_export_refusal_is_one_line_for_models_nir_cannot_hold(overrides, words):
    reason = export_refusal(load_config(None, overrides))
    assert words in reason and "\n" not in reason and len(reason) < 300


@pytest.mark.parametrize("overrides", [{}, {"model": "cnn"}, {"neuron": "if", "reset": "subtract"}, {"neuron": "plif"}])
def test_exportable_models_have_no_refusal(overrides):
    assert export_refusal(load_config(None, overrides)) is None


# ---------------------------------------------------------------- Spikformer


def test_tiny_spikformer_learns_and_every_parameter_gets_a_gradient(digits):
    cfg = load_config(None, TINY_SPIKFORMER)
    torch.manual_seed(0)
    net = build_model(cfg, digits.sample_shape, 10)
    assert isinstance(net, SpikformerClassifier)
    x, y = _batch(digits, 32, 4)
    losses, untouched = _fit(net, x, y, 10, lr=3e-3)
    assert not untouched
    assert losses[-1] < losses[0] - 0.1


def test_spikformer_output_summed_over_t_is_the_papers_mean_head(digits):
    net = build_model(load_config(None, TINY_SPIKFORMER), digits.sample_shape, 10).eval()
    x, _ = _batch(digits, 8, 4)
    with torch.no_grad():
        summed = net(x).sum(0)
        functional.reset_net(net)
        paper = net.net.head(net.net.forward_features(x).mean(0))  # Zhou et al.: head(x.mean(0))
    torch.testing.assert_close(summed, paper, rtol=1e-5, atol=1e-6)


def test_spikformer_neurons_follow_beta_and_the_paper():
    net = build_model(load_config(None, {**TINY_SPIKFORMER, "beta": 0.75}), (1, 8, 8), 10)
    lifs = [m for m in net.modules() if isinstance(m, neuron.LIFNode)]
    assert len(lifs) == 5 + 3 + 2  # patch splitting (4 stages + position), attention (qkv, product, proj), MLP
    assert all(m.tau == 4.0 and m.decay_input and m.v_reset == 0.0 for m in lifs)
    assert sorted({float(m.v_threshold) for m in lifs}) == [0.5, 1.0]  # 0.5 after the attention product


def test_spikformer_paper_configs_build_spikformer_4_384():
    for name, classes in (("cifar10", 10), ("cifar100", 100)):
        cfg = load_config(f"configs/spikformer_{name}.yaml")
        assert (cfg.dataset, cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.time_steps, cfg.patch_size) == (
            name,
            384,
            4,
            12,
            4,
            4,
        )
        params = sum(p.numel() for p in build_model(cfg, (3, 32, 32), classes).parameters())
        assert abs(params / 1e6 - 9.32) < 0.04  # the paper's 9.32 M (bias-free 1x1 convs here)
    assert load_config("configs/spikformer_tiny.yaml").dataset in ("digits", "fashion-mnist")


def test_spikformer_run_trains_and_reloads(tmp_path):
    cfg = load_config(None, {**TINY_SPIKFORMER, "epochs": 1, "limit_train": 128, "limit_test": 64, "batch_size": 32})
    summary = train(cfg, tmp_path / "run", progress=False, log=None)
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and 0.0 <= summary["firing_rate"] <= 1.0
    model, loaded, info = load_trained(tmp_path / "run")
    assert loaded.model == "spikformer" and not model.training and info["sample_shape"] == [1, 8, 8]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"neuron": "if"}, "paper's LIF neurons"),
        ({"reset": "subtract"}, "reset zero"),
        ({"embed_dim": 36}, "divisible by 8"),
        ({"num_heads": 3}, "divisible by 8 .* and by num_heads"),
        ({"patch_size": 8}, "4, 16"),
        ({"qat_bits": 8}, "chip export"),
    ],
)
def test_spikformer_config_refusals(overrides, message):
    with pytest.raises(SnnCliError, match=message):
        load_config(None, {**TINY_SPIKFORMER, **overrides})


def test_spikformer_needs_images():
    with pytest.raises(SnnCliError, match=r"image samples \[C, H, W\]"):
        build_model(load_config(None, TINY_SPIKFORMER), (700,), 20)


def test_new_config_keys_are_checked():
    with pytest.raises(SnnCliError, match="ann2snn_mode"):
        load_config(None, {"ann2snn_mode": "99.9%"})
    with pytest.raises(SnnCliError, match=r"ann2snn_value.*\(0, 1\]"):
        load_config(None, {"ann2snn_mode": "fraction", "ann2snn_value": 2.0})
    with pytest.raises(SnnCliError, match="STDP"):
        load_config(None, {"neuron": "psn", "stdp_epochs": 1, "init_from": "x", "epochs": 0})
    with pytest.raises(SnnCliError, match="psn_order"):
        load_config(None, {"psn_order": 0})


# ---------------------------------------------------------------- CIFAR binary version


def _records(rng, n, label_bytes, classes):
    labels = rng.integers(0, classes, (n, label_bytes), dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return labels, pixels, np.concatenate([labels, pixels], axis=1)


def test_cifar10_binary_records_are_read_as_rgb_planes(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    written = {}
    for name in CIFAR10.train_files + CIFAR10.test_files:
        written[name] = _records(rng, 3, 1, 10)
        written[name][2].tofile(folder / name)
    root, tx, ty, vx, vy = read_cifar(CIFAR10, str(tmp_path))
    assert root == folder and tx.shape == (15, 3, 32, 32) and vx.shape == (3, 3, 32, 32) and tx.dtype == np.float32
    labels, pixels, _ = written["data_batch_2.bin"]
    assert ty[3:6].tolist() == labels[:, 0].tolist()
    # record 4 (second file, first record): byte 1 + c*1024 + row*32 + col is channel c, pixel (row, col)
    np.testing.assert_array_equal(tx[3, 1, 2, 5] * 255, np.float32(pixels[0, 1024 + 2 * 32 + 5]))
    np.testing.assert_array_equal(np.rint(vx[2] * 255).astype(np.uint8).reshape(-1), written["test_batch.bin"][1][2])
    ds = load_dataset("cifar10", str(tmp_path))  # through the dataset table
    assert ds.sample_shape == (3, 32, 32) and ds.num_classes == 10 and len(ds.train_y) == 15


def test_cifar100_uses_the_fine_label(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    labels, _, raw = _records(rng, 4, 2, 100)
    raw.tofile(folder / "train.bin")
    raw[:2].tofile(folder / "test.bin")
    _, _, ty, _, vy = read_cifar(CIFAR100, str(folder))  # the folder itself also works
    assert ty.tolist() == labels[:, 1].tolist() and vy.tolist() == labels[:2, 1].tolist()


def test_cifar_missing_or_corrupt_data_says_where_to_put_which_files(tmp_path):
    with pytest.raises(SnnCliError, match=r"cifar-10-batches-bin.*data_batch_1.bin.*cifar-10-binary.tar.gz"):
        load_dataset("cifar10", str(tmp_path))
    with pytest.raises(
        SnnCliError,
        match=r"--data-root DIR.*cifar-100-binary/.*train.bin.*"
        r"https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    ):
        load_dataset("cifar100")
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    (folder / "train.bin").write_bytes(b"\0" * 3000)
    with pytest.raises(SnnCliError, match=r"lacks test.bin"):
        load_dataset("cifar100", str(tmp_path))
    (folder / "test.bin").write_bytes(b"\0" * 3000)
    with pytest.raises(SnnCliError, match=r"not a whole number of cifar100 records of 3074 bytes"):
        load_dataset("cifar100", str(tmp_path))


def test_masked_psn_mask_ramps_during_training_and_is_full_when_evaluated(tmp_path, monkeypatch):
    """psn_mask_ramp: lambda rises 0 -> 1 over that fraction of the steps; validation, test and the
    reloaded checkpoint all see lambda = 1."""
    seen = []
    forward = neuron.MaskedPSN.forward

    def spy(self, *args, **kwargs):
        seen.append((self.training, float(self.lambda_)))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(neuron.MaskedPSN, "forward", spy)
    cfg = load_config(None, {"neuron": "masked-psn", "epochs": 2, "limit_train": 200, "limit_test": 40,
                             "batch_size": 20, "hidden": [16], "psn_mask_ramp": 0.5})  # fmt: skip
    train(cfg, tmp_path / "run", progress=False)
    training = [lam for is_training, lam in seen if is_training][::2]  # two MaskedPSN layers per forward
    assert training[0] == 0.0 and training[-1] == 1.0 and np.all(np.diff(training) >= 0)
    assert 0.4 < np.mean(np.array(training) < 1.0) < 0.6  # the ramp takes half of the steps
    assert all(lam == 1.0 for is_training, lam in seen if not is_training)
    model, _, _ = load_trained(tmp_path / "run")
    assert all(m.lambda_ == 1.0 for m in model.modules() if isinstance(m, neuron.MaskedPSN))
