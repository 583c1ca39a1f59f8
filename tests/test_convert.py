"""ANN-to-SNN conversion: the folded snncli model computes what SpikingJelly's converter graph computes,
and a converted run is an ordinary run."""

import json

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional

from snncli.data import load_dataset
from snncli.errors import SnnCliError
from snncli.export.torch_to_nir import model_to_nir
from snncli.trainer.config import ann2snn_mode, load_config
from snncli.trainer.convert import (
    accuracy_by_steps,
    build_ann,
    convert,
    convert_ann,
    converter_scales,
    fold_scales,
    snn_config,
)
from snncli.trainer.models import build_model, export_refusal
from snncli.trainer.train import load_trained

T = 24


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _graph_and_folded(cfg, ds, mode, channel_wise):
    """A ReLU net (random weights: conversion does not care how they were found), SpikingJelly's graph, our fold;
    all in float64 so that rounding cannot flip a spike."""
    torch.manual_seed(1)
    ann = build_ann(cfg, ds.sample_shape, 10).double()
    calibration = [torch.from_numpy(ds.train_x[i : i + 128]).double() for i in range(0, 512, 128)]
    graph = convert_ann(ann, calibration, mode, channel_wise, "cpu")
    scales = converter_scales(graph)
    snn = build_model(snn_config(cfg), ds.sample_shape, 10).double()
    fold_scales(ann, scales, snn)
    return graph, snn, scales


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("mode, channel_wise", [("99.9%", False), ("max", True), (0.5, False)])
def test_folded_model_spikes_exactly_like_the_converter_graph(model, mode, channel_wise, digits):
    cfg = load_config(None, {"model": model, "hidden": [48, 32], "channels": [4, 8]})
    graph, snn, scales = _graph_and_folded(cfg, digits, mode, channel_wise)
    x = torch.from_numpy(digits.test_x[:100]).double()
    with torch.no_grad():
        graph_sum = sum(graph(x) for _ in range(T))  # the converter's graph runs one step per call
        functional.reset_net(graph)
        counts = snn(x.unsqueeze(0).expand(T, *x.shape)).sum(0)
    out_scale = scales[-1].double().reshape(-1)
    assert counts.sum() > 50  # not a silent network
    torch.testing.assert_close(graph_sum / out_scale, counts, rtol=1e-9, atol=1e-9)
    # the folded network is an ordinary snncli model: IF neurons, threshold 1, reset by subtraction
    assert {type(m).__name__ for m in snn.modules()} >= {"IFNode", "Linear"}
    assert all(m.v_reset is None and m.v_threshold == 1.0 for m in snn.modules() if type(m).__name__ == "IFNode")


def test_accuracy_by_steps_is_the_accuracy_of_shorter_runs(digits):
    cfg = load_config(None, {"hidden": [48]})
    _, snn, _ = _graph_and_folded(cfg, digits, "99.9%", False)
    snn = snn.float()
    x, y = digits.test_x[:80], digits.test_y[:80]
    by_steps, rates = accuracy_by_steps(snn, x, y, [4, 16], "cpu")
    short, _ = accuracy_by_steps(snn, x, y, [4], "cpu")
    assert by_steps[4] == short[4] and set(by_steps) == {4, 16} and 0 < rates["mean"] < 1


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    run = tmp_path_factory.mktemp("conv") / "run"
    cfg = load_config(
        None,
        {
            "model": "cnn",
            "channels": [8, 16],
            "time_steps": 32,
            "ann_epochs": 10,
            "limit_train": 600,
            "limit_test": 200,
            "lr": 5e-3,
            "seed": 3,
            "device": "cpu",
        },
    )
    return cfg, run, convert(cfg, run, progress=False)


def test_converted_run_is_an_ordinary_run(converted):
    cfg, run, summary = converted
    for f in ("config.yaml", "checkpoints/best.pt", "checkpoints/last.pt", "metrics.json", "ann.pt"):
        assert (run / f).is_file(), f
    model, loaded, info = load_trained(run)
    assert (loaded.model, loaded.neuron, loaded.reset, loaded.v_threshold, loaded.encoder, loaded.time_steps) == (
        "cnn",
        "if",
        "subtract",
        1.0,
        "direct",
        32,
    )
    assert export_refusal(loaded) is None
    graph = model_to_nir(model, torch.zeros(32, 1, *info["sample_shape"]))  # what `snncli export` does with it
    assert any(getattr(n, "metadata", {}).get("reset_mode") == "subtract" for n in graph.graph.nodes.values())
    metrics = json.loads((run / "metrics.json").read_text())
    conversion = metrics["conversion"]
    assert conversion["converted_from_ann"] and conversion["ann2snn_mode"] == "percentile"
    assert conversion["ann2snn_value"] == 99.9 and conversion["recipe_mode"] == "99.9%"
    assert conversion["ann_test_acc"] == summary["ann_test_accuracy"] > 0.8
    assert metrics["test"]["test_acc"] == summary["test_accuracy"] > 0.6
    assert len(metrics["epochs"]) == 10 and metrics["epochs"][0]["phase"] == "ann"
    ckpt = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["conversion"]["ann_test_acc"] == conversion["ann_test_acc"]


def test_convert_from_an_ann_checkpoint_reproduces_the_run(converted, tmp_path):
    cfg, run, summary = converted
    again = convert(cfg, tmp_path / "again", ann_checkpoint=str(run / "ann.pt"), progress=False)
    assert again["ann_test_accuracy"] == summary["ann_test_accuracy"]
    assert again["test_accuracy"] == summary["test_accuracy"]
    assert not (tmp_path / "again" / "ann.pt").exists()
    a, b = (torch.load(r / "checkpoints" / "best.pt", weights_only=True)["model"] for r in (run, tmp_path / "again"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"model": "spikformer", "embed_dim": 32, "num_heads": 4}, "mlp or cnn"),
        ({"encoder": "poisson"}, "encoder direct"),
        ({"qat_bits": 8}, "convert first"),
    ],
)
def test_convert_refuses_what_it_cannot_produce(overrides, message, tmp_path):
    with pytest.raises(SnnCliError, match=message):
        convert(load_config(None, overrides), tmp_path / "r", progress=False)


def test_convert_refuses_a_used_directory_and_a_foreign_ann(converted, tmp_path):
    cfg, run, _ = converted
    with pytest.raises(SnnCliError, match="not empty"):
        convert(cfg, run, progress=False)
    other = load_config(None, {"model": "mlp", "hidden": [20], "limit_train": 100, "limit_test": 50})
    with pytest.raises(SnnCliError, match="does not fit a ReLU network"):
        convert(other, tmp_path / "x", ann_checkpoint=str(run / "ann.pt"), progress=False)
    with pytest.raises(SnnCliError, match="no ANN checkpoint"):
        convert(other, tmp_path / "y", ann_checkpoint=str(tmp_path / "missing.pt"), progress=False)


@pytest.mark.parametrize(
    "overrides, recipe_mode",
    [
        ({}, "99.9%"),
        ({"ann2snn_mode": "max"}, "max"),
        ({"ann2snn_value": 99.99}, "99.99%"),
        ({"ann2snn_mode": "fraction", "ann2snn_value": 0.5}, 0.5),
    ],
)
def test_config_keys_give_spikingjelly_recipe_modes(overrides, recipe_mode):
    assert ann2snn_mode(load_config(None, overrides)) == recipe_mode


def test_output_scale_is_positive_so_counts_rank_like_the_ann(digits):
    cfg = load_config(None, {"hidden": [32]})
    _, _, scales = _graph_and_folded(cfg, digits, "max", False)
    assert all(float(np.min(s.numpy())) > 0 for s in scales)
