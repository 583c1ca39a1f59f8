"""`snncli convert` through the CLI: the converted run exports to NIR and hwsim gives its accuracy."""

from __future__ import annotations

import json

from snncli.cli import main


def test_convert_then_export_and_simulate_give_the_same_accuracy(tmp_path):
    run, ann = tmp_path / "snn", tmp_path / "again"
    args = ["--time-steps", "16", "--set", "ann_epochs=2", "--set", "limit_train=600", "--no-progress"]
    assert main(["convert", "--run-dir", str(run), *args, "--json", str(tmp_path / "c.json")]) == 0
    converted = json.loads((tmp_path / "c.json").read_text())
    assert converted["ann_test_accuracy"] > 0.5 and converted["time_steps"] == 16
    assert main(["export", str(run), "--target", "nir", "-o", str(tmp_path / "c.nir")]) == 0
    assert main(["simulate", str(tmp_path / "c.nir"), "--json", str(tmp_path / "s.json")]) == 0
    simulated = json.loads((tmp_path / "s.json").read_text())
    assert abs(simulated["accuracy"] - converted["accuracy"]) <= 1 / 360  # one sample at most (float32 vs float64)
    # the ANN of the first conversion is reused: no training, the same network
    assert main(["convert", "--run-dir", str(ann), "--ann", str(run / "ann.pt"), *args,
                 "--json", str(tmp_path / "c2.json")]) == 0  # fmt: skip
    assert json.loads((tmp_path / "c2.json").read_text())["ann_test_accuracy"] == converted["ann_test_accuracy"]
