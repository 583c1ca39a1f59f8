"""The command line end to end, and its behaviour on bad input (exit 2, one line, no partial file)."""

import json
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

from snncli.cli import main

TINY = [
    "--epochs",
    "4",
    "--hidden",
    "64",
    "--time-steps",
    "4",
    "--no-progress",
    "--set",
    "limit_train=800",
    "--set",
    "limit_test=100",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    assert main(["train", "--run-dir", str(root / "run"), *TINY, "--json", str(root / "train.json")]) == 0
    return root


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_export_simulate_report(trained, capsys, tmp_path):
    root = trained
    assert json.loads((root / "train.json").read_text())["accuracy"] > 0.3
    code, out, _ = run_cli(capsys, "export", str(root / "run"), "--target", "nir", "-o", str(tmp_path / "m.nir"))
    assert code == 0 and (tmp_path / "m.nir").exists()
    code, out, _ = run_cli(
        capsys,
        "simulate",
        str(tmp_path / "m.nir"),
        "--limit",
        "50",
        "--json",
        str(tmp_path / "sim.json"),
        "--record",
        str(tmp_path / "rec.npz"),
    )
    assert code == 0
    sim = json.loads((tmp_path / "sim.json").read_text())
    assert sim["samples"] == 50 and sim["steps"] == 4 and 0 <= sim["accuracy"] <= 1
    assert {"name", "sops", "macs", "neuron_updates", "spikes"} <= set(sim["layers"][0])
    assert sim["totals"]["neuron_updates"] == sum(layer["neuron_updates"] for layer in sim["layers"])
    rec = np.load(tmp_path / "rec.npz")
    neuron = [k for k in rec.files if k.endswith("/v")]
    assert neuron and rec[neuron[0]].shape[:2] == (4, 50)
    code, out, _ = run_cli(
        capsys, "report", str(tmp_path / "sim.json"), "-o", str(tmp_path / "rep"), "--json", str(tmp_path / "rep.json")
    )
    assert code == 0
    rep = json.loads((tmp_path / "rep.json").read_text())
    e = rep["energy"]["horowitz45"]
    t = sim["totals"]
    assert e["snn_pj"] == pytest.approx(0.9 * t["sops"] + 4.6 * t["macs"])
    assert e["ann_pj"] == pytest.approx(4.6 * sum(layer["ann_macs"] for layer in sim["layers"]))
    for kind in ("json", "md", "png"):
        assert (tmp_path / "rep" / f"report.{kind}").stat().st_size > 0


def test_parity_float_is_exact(trained, capsys, tmp_path):
    code, out, _ = run_cli(capsys, "parity", str(trained / "run"), "--json", str(tmp_path / "p.json"))
    result = json.loads((tmp_path / "p.json").read_text())
    assert code == 0 and result["passed"]
    assert result["prediction_agreement"] >= 0.995
    assert all(layer["spike_match_rate"] >= 0.999 for layer in result["layers"])


def test_simulate_with_own_input_array(conformance, capsys, tmp_path):
    data = np.loadtxt(conformance / "lif_norse.csv", delimiter=",")
    np.save(tmp_path / "x.npy", data[:, 0].reshape(-1, 1, 1))
    code, _, _ = run_cli(
        capsys,
        "simulate",
        str(conformance / "lif_norse.nir"),
        "--input",
        str(tmp_path / "x.npy"),
        "--record",
        str(tmp_path / "rec.npz"),
    )
    assert code == 0
    rec = np.load(tmp_path / "rec.npz")
    np.testing.assert_array_equal(np.flatnonzero(rec["1/out"][:, 0, 0]), np.flatnonzero(data[:, 2]))


def _assert_clean_error(code, err, *words):
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


def _graph(weight):
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "fc": nir.Linear(weight=weight),
            "output": nir.Output(output_type={"output": np.array([weight.shape[0]])}),
        },
        edges=[("input", "fc"), ("fc", "output")],
        type_check=False,
    )


def test_bad_inputs_give_one_line_errors(capsys, tmp_path, trained):
    out = tmp_path / "out.json"
    code, _, err = run_cli(capsys, "simulate", str(tmp_path / "missing.nir"), "--json", str(out))
    _assert_clean_error(code, err, "not found")
    (tmp_path / "garbage.nir").write_bytes(b"this is not hdf5" * 10)
    code, _, err = run_cli(capsys, "simulate", str(tmp_path / "garbage.nir"), "--json", str(out))
    _assert_clean_error(code, err, "garbage.nir")
    good = tmp_path / "good.nir"
    nir.write(str(good), _graph(np.ones((2, 3))))
    (tmp_path / "trunc.nir").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, _, err = run_cli(capsys, "simulate", str(tmp_path / "trunc.nir"), "--json", str(out))
    _assert_clean_error(code, err, "trunc.nir")
    nan = np.ones((2, 3))
    nan[0, 1] = np.nan
    nir.write(str(tmp_path / "nan.nir"), _graph(nan))
    code, _, err = run_cli(capsys, "simulate", str(tmp_path / "nan.nir"), "--json", str(out))
    _assert_clean_error(code, err, "fc", "NaN")
    np.save(tmp_path / "x.npy", np.zeros((4, 2, 5)))
    code, _, err = run_cli(capsys, "simulate", str(good), "--input", str(tmp_path / "x.npy"), "--json", str(out))
    _assert_clean_error(code, err, "shape")
    (tmp_path / "typo.yaml").write_text("epohcs: 3\n")
    code, _, err = run_cli(
        capsys, "train", "--run-dir", str(tmp_path / "r"), "--config", str(tmp_path / "typo.yaml"), "--json", str(out)
    )
    _assert_clean_error(code, err, "epohcs", "epochs")
    code, _, err = run_cli(capsys, "export", str(tmp_path / "nope"), "--target", "nir", "-o", str(tmp_path / "x.nir"))
    _assert_clean_error(code, err)
    assert not out.exists() and not (tmp_path / "x.nir").exists() and not (tmp_path / "r").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_unknown_node_type_is_named(capsys, tmp_path):
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "delay": nir.Delay(delay=np.ones(3)),
            "output": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("input", "delay"), ("delay", "output")],
        type_check=False,
    )
    nir.write(str(tmp_path / "delay.nir"), graph)
    code, _, err = run_cli(capsys, "simulate", str(tmp_path / "delay.nir"), "--input", str(tmp_path / "none.npy"))
    _assert_clean_error(code, err, "delay", "Delay")


def test_console_script_help_and_error_exit_code(tmp_path):
    help_text = subprocess.run(
        [sys.executable, "-m", "snncli.cli", "simulate", "--help"], capture_output=True, text=True
    )
    assert help_text.returncode == 0 and "--record" in help_text.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "snncli.cli", "simulate", str(tmp_path / "none.nir")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "not found" in bad.stderr


def test_corrupt_or_foreign_checkpoint_is_a_clean_error(trained, capsys, tmp_path):
    import shutil

    import torch

    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    best = run / "checkpoints" / "best.pt"
    payload = torch.load(best, weights_only=True)
    payload["model"] = {f"renamed.{k}": v for k, v in payload["model"].items()}
    torch.save(payload, best)
    code, _, err = run_cli(capsys, "export", str(run), "--target", "nir", "-o", str(tmp_path / "m.nir"))
    _assert_clean_error(code, err, "does not fit")
    best.write_bytes(best.read_bytes()[:100])
    code, _, err = run_cli(capsys, "export", str(run), "--target", "nir", "-o", str(tmp_path / "m.nir"))
    _assert_clean_error(code, err, "corrupt")
    assert not (tmp_path / "m.nir").exists()


def test_loihi_refusals_through_the_cli(capsys, tmp_path):
    """Too large for one chip, and a neuron Loihi cannot run: one line, exit 2, no file."""
    shape = (16, 128, 128)
    big = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array(shape)),
            "conv": nir.Conv2d(
                input_shape=shape[1:],
                weight=np.ones((128, 16, 3, 3)),
                stride=1,
                padding=1,
                dilation=1,
                groups=1,
                bias=np.zeros(128),
            ),
            "if1": nir.IF(
                r=np.full((128, 128, 128), 1e4), v_threshold=np.ones((128, 128, 128)), v_reset=np.zeros((128, 128, 128))
            ),
            "output": nir.Output(output_type=np.array((128, 128, 128))),
        },
        edges=[("input", "conv"), ("conv", "if1"), ("if1", "output")],
    )
    nir.write(str(tmp_path / "big.nir"), big)
    np.save(tmp_path / "x.npy", np.zeros((2, 1, *shape)))
    code, _, err = run_cli(
        capsys,
        "simulate",
        str(tmp_path / "big.nir"),
        "--target",
        "loihi",
        "--input",
        str(tmp_path / "x.npy"),
        "--json",
        str(tmp_path / "sim.json"),
    )
    _assert_clean_error(code, err, "chips")
    run = tmp_path / "subtract"
    assert main(["train", "--run-dir", str(run), *TINY, "--reset", "subtract"]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "export", str(run), "--target", "loihi", "-o", str(tmp_path / "net.h5"))
    _assert_clean_error(code, err, "subtract")
    assert not any(p.name.startswith(("net.h5", ".tmp", "sim.json")) for p in tmp_path.iterdir())


def test_export_and_parity_on_loihi(trained, capsys, tmp_path):
    pytest.importorskip("lava.magma.core.run_configs")
    code, out, _ = run_cli(capsys, "export", str(trained / "run"), "--target", "loihi", "-o", str(tmp_path / "net.h5"))
    assert code == 0
    sidecar = json.loads((tmp_path / "net.h5.json").read_text())
    assert sidecar["resources"]["chips_needed"] == 1 and sidecar["resources"]["cores"] >= 2
    code, _, _ = run_cli(
        capsys, "simulate", str(tmp_path / "net.h5.program.npz"), "--limit", "30", "--json", str(tmp_path / "sim.json")
    )
    assert code == 0 and json.loads((tmp_path / "sim.json").read_text())["target"] == "loihi"
    code, out, _ = run_cli(
        capsys,
        "parity",
        str(trained / "run"),
        "--target",
        "loihi",
        "--limit",
        "60",
        "--reference-limit",
        "3",
        "--tolerance",
        "100",
        "--json",
        str(tmp_path / "p.json"),
    )
    result = json.loads((tmp_path / "p.json").read_text())
    assert code == 0 and result["reference"]["identical_spikes"] is True
    assert result["reference"]["samples"] == 3 and result["samples"] == 60


def test_qat_fine_tuning_from_a_run_keeps_its_settings_and_runs_exactly_on_loihi(capsys, tmp_path):
    """--init-from takes the source run's config (flags override); an IF CNN fine-tuned with
    --qat-bits 8 exports to a Loihi program that matches the float model spike for spike."""
    cnn = [
        "--model",
        "cnn",
        "--neuron",
        "if",
        "--set",
        "bias=false",
        "--set",
        "channels=[4, 8]",
        "--epochs",
        "2",
        "--time-steps",
        "4",
        "--no-progress",
        "--set",
        "limit_train=400",
        "--set",
        "limit_test=60",
    ]
    assert main(["train", "--run-dir", str(tmp_path / "float"), *cnn]) == 0
    code, out, _ = run_cli(
        capsys,
        "train",
        "--run-dir",
        str(tmp_path / "qat"),
        "--init-from",
        str(tmp_path / "float"),
        "--qat-bits",
        "8",
        "--epochs",
        "1",
        "--lr",
        "5e-4",
        "--no-progress",
    )
    assert code == 0 and "trained cnn on digits" in out
    from snncli.trainer.config import load_config

    cfg = load_config(tmp_path / "qat" / "config.yaml")
    assert (cfg.model, cfg.neuron, cfg.channels, cfg.time_steps, cfg.limit_train) == ("cnn", "if", [4, 8], 4, 400)
    assert (cfg.qat_bits, cfg.epochs, cfg.init_from) == (8, 1, str(tmp_path / "float"))
    code, out, _ = run_cli(
        capsys,
        "parity",
        str(tmp_path / "qat"),
        "--target",
        "loihi",
        "--reference-limit",
        "0",
        "--tolerance",
        "0",
        "--json",
        str(tmp_path / "p.json"),
    )
    result = json.loads((tmp_path / "p.json").read_text())
    assert code == 0 and result["accuracy_drop_pp"] == 0 and result["prediction_agreement"] == 1
    assert [layer["spike_match_rate"] for layer in result["layers"]] == [1.0, 1.0, 1.0]
    code, _, err = run_cli(capsys, "parity", str(tmp_path / "float"), "--target", "loihi", "--tolerance", "-1")
    assert code == 2 and err.count("\n") == 1 and "--tolerance: must be >= 0" in err
    from snncli.commands.parity import verdict
    from snncli.targets import get_target

    passed, text, advice = verdict(0.8, 0.5, None, get_target("loihi"), str(tmp_path / "float"))
    assert not passed and "exceeds the tolerance" in text  # a failing parity points at the fix
    assert f"--init-from {tmp_path / 'float'} --qat-bits 8" in advice
    code, _, err = run_cli(capsys, "train", "--run-dir", str(tmp_path / "x"), "--init-from", str(tmp_path / "nope"))
    _assert_clean_error(code, err, "init_from", "not a training run")
    assert not (tmp_path / "x").exists()


def test_doctor_reports_packages_datasets_and_targets(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "doctor", "--json", str(tmp_path / "d.json"))
    report = json.loads((tmp_path / "d.json").read_text())
    assert code == 0 and "digits" in out
    assert report["packages"]["torch"].split()[0].startswith("2.")
    assert report["datasets"]["digits"] == "available (1437 train / 360 test)"
    assert report["targets"]["float"] == "available"
    from snncli.targets.loihi.lava_reference import lava_problem

    lava = lava_problem()
    assert report["targets"]["loihi"].startswith("available; Lava reference: ")
    assert ("ok" in report["targets"]["loihi"]) == (lava is None)


def test_torchrun_ddp_on_cpu_trains_once_and_reports_once(tmp_path):
    """torch DDP (gloo on CPU): two ranks train one model; only rank 0 prints and writes --json."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561",
           "-m", "snncli.cli", "train", "--run-dir", str(tmp_path / "run"), *TINY, "--epochs", "1", "--qat-bits", "8",
           "--device", "cpu", "--json", str(tmp_path / "t.json")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained mlp on digits") == 1 and done.stdout.count("wrote ") == 1
    summary = json.loads((tmp_path / "t.json").read_text())
    assert summary["epochs"] == 1 and (tmp_path / "run" / "checkpoints" / "best.pt").is_file()


def _stderr_on_a_terminal(argv: list[str]) -> str:
    """Run the CLI with stderr on a pseudo-terminal (where tqdm draws its bars) and return what it drew."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    # a fresh pseudo-terminal is 0 columns wide, and tqdm draws nothing there: make it 40 x 100
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    snncli = Path(sys.executable).with_name("snncli")
    proc = subprocess.run([str(snncli), *argv], stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.returncode == 0
    return b"".join(chunks).decode(errors="replace")


def test_no_progress_silences_the_bars_a_terminal_would_show(tmp_path):
    from nets import mlp

    from snncli.nirgraph import write_nir

    path = tmp_path / "m.nir"
    write_nir(mlp(), path)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((4, 16, 1, 8, 8)))
    argv = ["simulate", str(path), "--input", str(tmp_path / "x.npy")]
    assert "hwsim" in _stderr_on_a_terminal(argv)
    assert _stderr_on_a_terminal([*argv, "--no-progress"]) == ""
