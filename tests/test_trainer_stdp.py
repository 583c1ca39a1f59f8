"""STDP fine-tuning (SpikingJelly's STDPLearner) after surrogate-gradient training."""

from __future__ import annotations

import json

import pytest
import torch

from snncli.errors import SnnCliError
from snncli.trainer.config import load_config
from snncli.trainer.train import load_trained, train

TINY = {
    "hidden": [32],
    "time_steps": 4,
    "epochs": 1,
    "limit_train": 200,
    "limit_test": 64,
    "batch_size": 32,
    "lr": 0.01,
    "encoder": "poisson",
    "stdp_lr": 0.01,
}


def tiny(**kw):
    return load_config(None, {**TINY, **kw})


def _state(run, which):
    return torch.load(run / "checkpoints" / f"{which}.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def gradient_only(tmp_path_factory):
    """The same run without STDP: its best.pt is where every STDP phase below starts."""
    run = tmp_path_factory.mktemp("stdp") / "grad"
    train(tiny(), run, progress=False, log=None)
    return _state(run, "best")


def test_alone_changes_only_the_chosen_layer_and_records_before_after(tmp_path, gradient_only):
    run = tmp_path / "run"
    summary = train(tiny(stdp_epochs=2, stdp_layers=["fc1"]), run, progress=False, log=None)
    after = _state(run, "last")
    assert not torch.equal(after["fc1.weight"], gradient_only["fc1.weight"])
    for key in ("fc1.bias", "fc_out.weight", "fc_out.bias"):
        assert torch.equal(after[key], gradient_only[key]), key
    metrics = json.loads((run / "metrics.json").read_text())
    assert [m["phase"] for m in metrics["epochs"]] == ["gradient", "stdp", "stdp"]
    stdp = metrics["stdp"]
    assert stdp["layers"] == ["fc1"] and stdp["mode"] == "alone" and stdp["start_epoch"] == 1
    for when in ("before", "after"):
        assert 0 <= stdp[when]["val_acc"] <= 1 and 0 <= stdp[when]["test_acc"] <= 1
    assert stdp["before"]["val_acc"] == metrics["epochs"][0]["val_acc"]
    assert stdp["after"]["val_acc"] == metrics["epochs"][-1]["val_acc"]
    assert summary["stdp"] == stdp and "best validation accuracy over 3 epochs" in summary["selection"]
    model, cfg, _ = load_trained(run, "last")  # a normal run: same classes, no learner hooks left
    assert type(model.fc1).__name__ == "Linear" and not model.fc1._forward_pre_hooks
    assert cfg.stdp_layers == ["fc1"]


def test_mixed_trains_the_other_layers_by_gradient(tmp_path, gradient_only):
    run = tmp_path / "run"
    train(tiny(stdp_epochs=1, stdp_layers=["fc1"], stdp_mode="mixed", stdp_grad_lr=1e-3), run, progress=False, log=None)
    after = _state(run, "last")
    assert not torch.equal(after["fc1.weight"], gradient_only["fc1.weight"])
    assert not torch.equal(after["fc_out.weight"], gradient_only["fc_out.weight"])
    assert torch.equal(after["fc1.bias"], gradient_only["fc1.bias"])  # STDP updates weights, not biases


def test_resume_within_the_stdp_phase_matches_an_uninterrupted_run(tmp_path):
    cfg = tiny(stdp_epochs=2, stdp_layers=["fc1"])
    train(cfg, tmp_path / "straight", progress=False, log=None)

    def kill_after_first_stdp_epoch(entry):
        if entry["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed", progress=False, log=None, on_epoch=kill_after_first_stdp_epoch)
    train(cfg, tmp_path / "killed", resume=True, progress=False, log=None)
    a, b = _state(tmp_path / "straight", "last"), _state(tmp_path / "killed", "last")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("straight", "killed"))
    assert ma["stdp"] == mb["stdp"] and ma["test"] == mb["test"]


def test_stdp_only_on_an_init_from_run(tmp_path):
    train(tiny(), tmp_path / "source", progress=False, log=None)
    summary = train(
        tiny(epochs=0, stdp_epochs=1, init_from=str(tmp_path / "source")), tmp_path / "ft", progress=False, log=None
    )
    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert [m["phase"] for m in metrics["epochs"]] == ["stdp"] and metrics["stdp"]["layers"] == ["fc1"]
    assert summary["best_epoch"] in (0, 1)  # 0: the init_from weights themselves were better on validation


def test_bad_stdp_settings_fail_before_any_file(tmp_path):
    with pytest.raises(
        SnnCliError, match=r"stdp_layers 'fc9': not a weighted layer of this model; choose from fc1, fc_out"
    ):
        train(tiny(stdp_epochs=1, stdp_layers=["fc9"]), tmp_path / "run", progress=False, log=None)
    assert not (tmp_path / "run").exists()
    with pytest.raises(SnnCliError, match="init_from"):
        tiny(epochs=0, stdp_epochs=1)
    with pytest.raises(SnnCliError, match="qat_bits"):
        tiny(stdp_epochs=1, qat_bits=8)
    with pytest.raises(SnnCliError, match="stdp_mode"):
        tiny(stdp_mode="both")


def test_fast_linear_rule_is_spikingjellys():
    """The matrix-product STDP step gives SpikingJelly's stdp_linear_step (traces and delta_w)."""
    from spikingjelly.activation_based.functional.learning import stdp_linear_step

    from snncli.trainer.stdp import linear_stdp_step

    gen = torch.Generator().manual_seed(0)
    pre, post = torch.rand(16, 30, generator=gen), (torch.rand(16, 20, generator=gen) > 0.7).float()
    trace = (torch.rand(16, 30, generator=gen), torch.rand(16, 20, generator=gen))
    w = torch.randn(20, 30, generator=gen)
    opts = {
        "tau_pre": 2.0,
        "tau_post": 3.0,
        "f_pre": lambda x: 0.7 * x.clamp(-1, 1),
        "f_post": lambda x: x.clamp(-1, 1),
    }
    ours, (a_pre, a_post) = linear_stdp_step(pre, post, trace, w, **opts)
    ref, (r_pre, r_post) = stdp_linear_step(pre, post, trace, w, **opts)
    assert torch.allclose(ours, ref, atol=1e-5) and torch.equal(a_pre, r_pre) and torch.equal(a_post, r_post)
