"""The speck target through the command line: what the chip cannot run is one line on stderr,
exit code 2 and no file; what it can runs through export, simulate and parity with no
target named in the CLI or the commands."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
from nets import DT, chain, cnn

from snncli.cli import main
from snncli.core.program import Program
from snncli.hwsim.synapses import build_table
from snncli.nirgraph import write_nir


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _events_graph(graph: nir.NIRGraph) -> nir.NIRGraph:
    graph.metadata = {"snncli": {"encoder": "frames", "time_steps": 6}}
    return graph


def _conv_if(c_in: int, c_out: int, hw: int, rng) -> list:
    return [nir.Conv2d(input_shape=(hw, hw), weight=rng.normal(0, 0.5, (c_out, c_in, 3, 3)), stride=1, padding=1,
                       dilation=1, groups=1, bias=np.zeros(c_out)),
            nir.IF(r=np.full((c_out, hw, hw), 1 / DT), v_threshold=np.ones((c_out, hw, hw)),
                   v_reset=np.zeros((c_out, hw, hw)))]  # fmt: skip


def too_many_layers() -> nir.NIRGraph:
    """Ten small conv layers: one more than Speck's 9 cores."""
    rng = np.random.default_rng(0)
    nodes = _conv_if(2, 4, 8, rng)
    for _ in range(9):
        nodes += _conv_if(4, 4, 8, rng)
    return chain(*nodes, input_shape=(2, 8, 8))


def pool_5x5() -> nir.NIRGraph:
    rng = np.random.default_rng(1)
    return chain(*_conv_if(2, 4, 20, rng), nir.SumPool2d(kernel_size=np.array([5, 5]), stride=np.array([5, 5]),
                                                          padding=np.array([0, 0])),
                 nir.Flatten(input_type={"input": np.array((4, 4, 4))}, start_dim=0, end_dim=-1),
                 nir.Linear(weight=rng.normal(0, 0.5, (10, 64))), nir.IF(r=np.full(10, 1 / DT),
                                                                          v_threshold=np.ones(10),
                                                                          v_reset=np.zeros(10)),
                 input_shape=(2, 20, 20))  # fmt: skip


def leaky() -> nir.NIRGraph:
    graph = cnn(shape=(2, 16, 16))
    shape = (4, 16, 16)
    graph.nodes["if1"] = nir.LIF(tau=np.full(shape, 20 * DT), r=np.full(shape, 20.0), v_leak=np.zeros(shape),
                                 v_threshold=np.ones(shape), v_reset=np.zeros(shape))  # fmt: skip
    return graph


@pytest.mark.parametrize("build, words", [
    (too_many_layers, "Speck has 9 cores"),
    (pool_5x5, "5x5 sum pooling; Speck pools 1x1, 2x2 or 4x4"),
    (leaky, "leaky LIF"),
])  # fmt: skip
def test_what_the_chip_cannot_run_is_refused(tmp_path, capsys, build, words):
    path = tmp_path / "g.nir"
    write_nir(_events_graph(build()), path)
    out = tmp_path / "cfg.json"
    code, _, err = run_cli(capsys, "export", path, "--target", "speck", "-o", out)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.nir"]  # no file, not even a partial one
    code, _, err = run_cli(capsys, "simulate", path, "--target", "speck", "--input", tmp_path / "none.npy")
    assert code == 2 and words in err


def test_leak_removal_when_asked(tmp_path, capsys):
    path = tmp_path / "g.nir"
    write_nir(_events_graph(leaky()), path)
    out = tmp_path / "cfg.json"
    code, stdout, _ = run_cli(capsys, "export", path, "--target", "speck", "-o", out, "--allow-leak-removal")
    assert code == 0 and "'if1'" in stdout and "decay" in stdout
    cfg = json.loads(out.read_text())
    assert "removed" in cfg["notes"]["cores"][0]["leak_removed"]
    assert any("'if1'" in w for w in cfg["warnings"])
    code, _, err = run_cli(capsys, "export", path, "--target", "loihi", "-o", tmp_path / "l.h5", "--allow-leak-removal")
    assert code == 2 and "--allow-leak-removal applies to target speck" in err


def test_export_and_simulate_a_nir_file(tmp_path, capsys):
    path = tmp_path / "g.nir"
    write_nir(_events_graph(cnn(shape=(2, 16, 16))), path)
    code, _, _ = run_cli(capsys, "export", path, "--target", "speck", "-o", tmp_path / "cfg.json")
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert code == 0 and cfg["format"] == "snncli-speck-config" and len(cfg["cores"]) == 3
    assert [c["core"] for c in cfg["cores"]] == list(cfg["layer_to_core"].values())
    assert cfg["cores"][0]["destinations"] == [{"layer": cfg["cores"][1]["core"], "enable": True, "pooling": 2}]
    assert "rule" in cfg["notes"]["scale_search"]["method"]
    rng = np.random.default_rng(0)
    x = ((rng.random((6, 5, 2, 16, 16)) < 0.2) * rng.integers(1, 3, (6, 5, 2, 16, 16))).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    conv1 = Program.load(tmp_path / "cfg.json.program.npz").layer("conv1")
    fanout = np.diff(build_table(conv1).indptr)
    for source in (path, tmp_path / "cfg.json.program.npz"):
        extra = ["--target", "speck"] if source == path else []
        code, _, _ = run_cli(capsys, "simulate", source, *extra, "--input", tmp_path / "x.npy", "--json",
                             tmp_path / "sim.json")  # fmt: skip
        sim = json.loads((tmp_path / "sim.json").read_text())
        assert code == 0 and sim["target"] == "speck" and sim["samples"] == 5
        layers = {layer["name"]: layer for layer in sim["layers"]}
        # a count n at a pixel is n events, each reaching the pixel's fan-out: ACs, no MACs
        assert layers["conv1"]["sops"] == pytest.approx((x.reshape(6, 5, -1) @ fanout).sum() / 5)
        assert layers["conv1"]["macs"] == 0 and layers["conv1"]["sops"] > 0
        assert layers["if1"]["neuron_updates"] == layers["conv1"]["sops"]  # event-driven: one update per event


def test_parity_and_export_of_a_trained_run(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, _ = run_cli(
        capsys,
        "train",
        "--run-dir",
        run,
        "--dataset",
        "digits-dvs",
        "--model",
        "cnn",
        "--neuron",
        "if",
        "--reset",
        "subtract",
        "--set",
        "bias=false",
        "--set",
        "channels=[4, 8]",
        "--time-steps",
        "4",
        "--epochs",
        "1",
        "--set",
        "limit_train=120",
        "--no-progress",
    )
    assert code == 0
    code, _, err = run_cli(
        capsys,
        "parity",
        run,
        "--target",
        "speck",
        "--limit",
        "30",
        "--reference-limit",
        "5",
        "--tolerance",
        "100",
        "--json",
        tmp_path / "p.json",
    )
    result = json.loads((tmp_path / "p.json").read_text())
    assert code == 0, err
    assert result["target"] == "speck" and result["samples"] == 30
    assert result["reference"]["identical_spikes"] and result["reference"]["samples"] == 5
    code, _, _ = run_cli(capsys, "export", run, "--target", "speck", "-o", tmp_path / "cfg.json")
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert code == 0 and cfg["notes"]["scale_search"]["method"] == "search"
    assert cfg["source"]["dataset"] == "digits-dvs" and cfg["reading"]
