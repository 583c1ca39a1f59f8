"""Every recipe in configs/ loads as a training config (no training here; accuracies: README "Recipes")."""

from __future__ import annotations

from pathlib import Path

import pytest

from snncli.trainer.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_the_recipes_are_there():
    names = {p.stem for p in CONFIGS}
    assert {"digits_mlp", "speck_cnn_digits", "snntorch_tutorial_mnist5k", "snntorch_tutorial_mnist"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_recipe_loads(path):
    cfg = load_config(path)
    assert cfg.epochs >= 1 and cfg.val_fraction > 0


def test_digits_mlp_recipe_is_the_default():
    assert load_config(Path(CONFIGS[0]).parent / "digits_mlp.yaml") == load_config()


def test_snntorch_recipe_matches_the_tutorial():
    cfg = load_config(Path(CONFIGS[0]).parent / "snntorch_tutorial_mnist5k.yaml")
    assert (cfg.dataset, cfg.hidden, cfg.neuron, cfg.beta, cfg.time_steps, cfg.optimizer) == (
        "mnist-5k",
        [500],
        "lif",
        0.95,
        25,
        "adam",
    )
    assert 5e-4 <= cfg.lr <= 1e-3
