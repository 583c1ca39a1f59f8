"""Bad training input is one line on stderr and exit code 2, never a traceback or a half-made run;
an interrupted run can be restarted or resumed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snncli.errors import SnnCliError
from snncli.trainer.checkpoint import load_checkpoint
from snncli.trainer.config import EXPLICIT_NONE, load_config, parse_set_items, resolve_config, save_config
from snncli.trainer.train import prepare_run_dir, train

SNNCLI = [sys.executable, "-m", "snncli.cli"]
SMALL = [
    "--epochs",
    "1",
    "--set",
    "limit_train=64",
    "--set",
    "limit_test=32",
    "--set",
    "hidden=[16]",
    "--set",
    "time_steps=2",
]
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)


def _cli(*args, timeout=120, env=None):
    return subprocess.run([*SNNCLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def _cli_uses(name: str) -> bool:
    """Whether the command layer (being rewritten) calls ``name`` from snncli.trainer.config yet."""
    root = Path(__file__).resolve().parents[1] / "snncli"
    return any(name in p.read_text() for p in root.rglob("*.py") if "trainer" not in p.parts)


def _assert_one_line_error(done, *words):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(lines[0]) < 400, lines[0][:500]
    for word in words:
        assert word in lines[0], lines[0]


# ---------------------------------------------------------------- values: range, finiteness, spelling

BAD_VALUES = [
    ("lr", "nan", "'lr' must be a finite number > 0"),
    ("lr", "inf", "'lr' must be a finite number > 0"),
    ("lr", "0", "'lr' must be a finite number > 0"),
    ("lr", "-1e-3", "'lr' must be a finite number > 0"),
    ("v_threshold", ".inf", "'v_threshold' must be a finite number > 0"),
    ("beta", "1.5", "'beta' must be a finite number in (0.0, 1.0)"),
    ("beta", "0", "'beta'"),
    ("max_rate", "5", "'max_rate' must be a finite number in (0.0, 1.0]"),
    ("max_rate", "0", "'max_rate'"),
    ("seed", "-1", "'seed' must be an integer in [0, "),
    ("batch_size", "0", "'batch_size' must be an integer in [1, "),
    ("epochs", "-2", "'epochs' must be an integer in [0, "),
    ("limit_train", "0", "'limit_train' must be an integer in [1, "),
    ("limit_test", "-5", "'limit_test'"),
    ("time_steps", "0", "'time_steps' must be an integer in [1, 10000]"),
    ("val_fraction", "0.9", "'val_fraction' must be a finite number in [0.0, 0.5]"),
    ("weight_decay", "-0.1", "'weight_decay'"),
    ("stdp_tau_pre", "0.5", "'stdp_tau_pre'"),
    ("hidden", "[0]", "'hidden' must hold sizes"),
    ("epochs", "2.5", "'epochs' must be an integer"),
    ("model", "12", "'model' must be a string"),
]


@pytest.mark.parametrize("key, text, message", BAD_VALUES)
def test_bad_values_name_key_value_and_range(key, text, message):
    with pytest.raises(SnnCliError) as err:
        load_config(None, parse_set_items([f"{key}={text}"]))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("key, text, message", BAD_VALUES[::4])
def test_bad_values_in_a_config_file(tmp_path, key, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(f"{key}: {text}\n")
    with pytest.raises(SnnCliError, match=None) as err:
        load_config(path)
    assert message in str(err.value)


@pytest.mark.parametrize("text", ["1e-3", "1E-3", "+1e-3", "1.0e-3", "0.001", ".001", "1_0e-4"])
def test_floats_as_users_write_them(tmp_path, text):
    assert load_config(None, parse_set_items([f"lr={text}"])).lr == pytest.approx(1e-3)
    path = tmp_path / "c.yaml"
    path.write_text(f"lr: {text}\nbeta: .5\nv_threshold: 5.\nmax_rate: 1\n")
    cfg = load_config(path)
    assert (cfg.lr, cfg.beta, cfg.v_threshold, cfg.max_rate) == (pytest.approx(1e-3), 0.5, 5.0, 1.0)
    assert isinstance(cfg.max_rate, float)
    assert load_config(None, {"lr": text}).lr == pytest.approx(1e-3)  # a string from an older --set parser too


def test_strings_stay_strict():
    with pytest.raises(SnnCliError, match="'model' must be a string"):
        load_config(None, parse_set_items(["model=1e-3"]))
    with pytest.raises(SnnCliError, match="'epochs' must be an integer"):
        load_config(None, parse_set_items(["epochs=1e3"]))
    assert load_config(None, parse_set_items(["dataset=fashion-mnist"])).dataset == "fashion-mnist"


def test_set_items_refuse_empty_values_tags_and_aliases():
    for item, message in [
        ("model=", "--set model= has no value"),
        ("model=  ", "has no value"),
        ("model=null", "'model' needs a value"),
        ("lr", "expects KEY=VALUE"),
        ("lr=!!python/object/apply:os.system [echo hi]", "not a plain YAML value"),
        ("hidden=*a", "aliases (*name) are not allowed"),
        ("epoch=3", "did you mean 'epochs'"),
    ]:
        with pytest.raises(SnnCliError, match=None) as err:
            parse_set_items([item])
        assert message in str(err.value) and "\n" not in str(err.value), (item, str(err.value))
    assert parse_set_items(["limit_train=null"]) == {"limit_train": EXPLICIT_NONE}
    cfg = load_config(None, {"limit_train": 5})
    assert load_config(None, parse_set_items(["limit_train=null"]), base=cfg).limit_train is None
    assert parse_set_items(["stdp-layers=fc1,fc2", "hidden=[8, 4]"]) == {
        "stdp_layers": ["fc1", "fc2"],
        "hidden": [8, 4],
    }


def test_errors_never_echo_huge_values(tmp_path):
    with pytest.raises(SnnCliError) as err:
        load_config(None, {"model": "x" * 100_000})
    assert len(str(err.value)) < 300
    with pytest.raises(SnnCliError) as err:
        load_config(None, {"x" * 100_000: 1})
    assert len(str(err.value)) < 300


def test_alias_bomb_is_refused_without_expanding(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert path.stat().st_size < 400
    with pytest.raises(SnnCliError, match=r"aliases \(\*name\) are not allowed"):
        load_config(path)
    with pytest.raises(SnnCliError, match="aliases"):
        parse_set_items([f"hidden={BOMB}"])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not UTF-8 text"),
        (b"lr: 1\x00\x01\x02", "is not a plain YAML value"),
        (b"seed: !!python/object/apply:os.system ['echo pwned']\n", "is not a plain YAML value"),
        (b"model: !custom x\n", "is not a plain YAML value"),
        (b"- 1\n- 2\n", "must be a mapping"),
        (b"lr: [1\n", "is not a plain YAML value"),
        (b"x" * (2 << 20), "larger than"),
    ],
)
def test_bad_config_files(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(SnnCliError) as err:
        load_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SnnCliError, match="cannot read config"):
        load_config(tmp_path)  # a directory


def test_checkpoint_with_foreign_pickle_is_refused_without_unsafe_advice(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "x": Path("/etc")}, path)  # a pickled object weights_only refuses
    with pytest.raises(SnnCliError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "not a snncli checkpoint" in text and "will not unpickle" in text
    assert "weights_only" not in text and "\n" not in text


# ---------------------------------------------------------------- through the command line

CLI_CASES = [
    (["--set", "lr=nan"], "'lr'"),
    (["--set", "max_rate=5"], "'max_rate'"),
    (["--set", "seed=-1"], "'seed'"),
    (["--set", "beta=2"], "'beta'"),
    (["--set", "time_steps=0"], "'time_steps'"),
    (["--set", "lr=!!python/object/apply:os.system [true]"], "lr"),
    (["--set", "modle=mlp"], "did you mean 'model'"),
]


@pytest.mark.parametrize("args, word", CLI_CASES)
def test_cli_bad_values_exit_2_in_one_line_and_leave_nothing(tmp_path, args, word):
    run = tmp_path / "run"
    done = _cli("train", "--run-dir", str(run), *SMALL, *args)
    _assert_one_line_error(done, word)
    assert not run.exists()


def test_cli_accepts_exponent_floats(tmp_path):
    done = _cli("train", "--run-dir", str(tmp_path / "run"), *SMALL, "--set", "lr=1e-3", "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    assert load_config(tmp_path / "run" / "config.yaml").lr == 1e-3


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\xff\xfe\x00",
        b"lr: !!python/object/apply:os.system [true]\n",
        BOMB.encode(),
        b"lr: 1e-3\nmax_rate: 5\n",
    ],
)
def test_cli_bad_config_files(tmp_path, content):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    done = _cli("train", "--run-dir", str(tmp_path / "run"), "--config", str(path), *SMALL)
    _assert_one_line_error(done, str(path)) if b"max_rate" not in content else _assert_one_line_error(done, "max_rate")
    assert not (tmp_path / "run").exists()
    done = _cli("train", "--run-dir", str(tmp_path / "run"), "--config", str(tmp_path), *SMALL)  # a directory
    _assert_one_line_error(done, "cannot read config")


@pytest.mark.skipif(not _cli_uses("parse_set_items"), reason="the CLI does not call config.parse_set_items yet")
def test_cli_refuses_a_key_without_value(tmp_path):
    done = _cli("train", "--run-dir", str(tmp_path / "run"), *SMALL, "--set", "model=")
    _assert_one_line_error(done, "model")
    assert not (tmp_path / "run").exists()


def test_unwritable_run_dir_is_refused_before_training(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SnnCliError, match="is not a directory"):
        prepare_run_dir(load_config(), tmp_path / "file" / "run", False)
    with pytest.raises(SnnCliError, match="is a file"):
        prepare_run_dir(load_config(), tmp_path / "file", False)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(SnnCliError, match="cannot write"):
            prepare_run_dir(load_config(), locked / "run", False)


# ---------------------------------------------------------------- resume resolves the run's own settings


def test_resume_takes_the_runs_settings(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    save_config(load_config(None, {"dataset": "mnist-5k", "hidden": [32], "epochs": 3}), run / "config.yaml")
    cfg = resolve_config(run, None, {}, resume=True)
    assert (cfg.dataset, cfg.hidden, cfg.epochs) == ("mnist-5k", [32], 3)
    assert resolve_config(run, None, {"epochs": 5}, resume=True).epochs == 5  # runtime key: may grow
    assert resolve_config(run, None, {}, resume=False).dataset == "digits"
    source = tmp_path / "source"
    source.mkdir()
    save_config(load_config(None, {"neuron": "if", "qat_bits": 8}), source / "config.yaml")
    cfg = resolve_config(tmp_path / "ft", None, {"init_from": str(source), "epochs": 1})
    assert (cfg.neuron, cfg.qat_bits, cfg.init_from, cfg.epochs) == ("if", 8, str(source), 1)


# ---------------------------------------------------------------- interrupted runs

RUN_FLAGS = ["--set", "time_steps=8", "--epochs", "1", "--no-progress"]  # full digits: epoch 1 lasts seconds


def _interrupt_in_first_epoch(run: Path):
    proc = subprocess.Popen(
        [*SNNCLI, "train", "--run-dir", str(run), *RUN_FLAGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (run / "config.yaml").exists():  # written just before epoch 1 starts
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert not (run / "checkpoints" / "last.pt").exists() and not (run / "metrics.json").exists()


def test_a_run_interrupted_in_its_first_epoch_restarts_and_resumes(tmp_path):
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    _interrupt_in_first_epoch(fresh)
    _interrupt_in_first_epoch(resumed)
    again = _cli("train", "--run-dir", str(fresh), *RUN_FLAGS, timeout=300)
    assert again.returncode == 0 and "starting it again from scratch" in again.stderr, again.stderr[-2000:]
    # --resume alone takes the run's own settings once the CLI resolves them (config.resolve_config)
    flags = [] if _cli_uses("resolve_config") else RUN_FLAGS
    cont = _cli("train", "--run-dir", str(resumed), "--resume", *flags, timeout=300)
    assert cont.returncode == 0 and "starting it again from scratch" in cont.stderr, cont.stderr[-2000:]
    a, b = (torch.load(r / "checkpoints" / "best.pt", weights_only=True)["model"] for r in (fresh, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)  # same settings, same seed: same run
    done = _cli("train", "--run-dir", str(fresh), *RUN_FLAGS)  # a finished run still needs --resume
    _assert_one_line_error(done, "pass --resume")


def test_unstarted_run_dir_restarts_in_the_library(tmp_path):
    cfg = load_config(None, {"hidden": [16], "time_steps": 2, "epochs": 1, "limit_train": 64, "limit_test": 32})
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    assert prepare_run_dir(cfg, run, False)[0] == "restart"
    assert prepare_run_dir(cfg, run, True)[0] == "restart"
    train(cfg, run, progress=False, log=None)
    assert prepare_run_dir(cfg, run, True)[0] == "resume"
    with pytest.raises(SnnCliError, match="pass --resume"):
        prepare_run_dir(cfg, run, False)
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").mkdir()
    with pytest.raises(SnnCliError, match="holds no snncli run"):  # metrics.json of a finished run, no checkpoint
        prepare_run_dir(cfg, run, False)


# ---------------------------------------------------------------- logs and determinism


def test_log_to_a_file_is_one_line_per_epoch(tmp_path):
    log = tmp_path / "train.log"
    with open(log, "w") as f:
        done = subprocess.run(
            [*SNNCLI, "train", "--run-dir", str(tmp_path / "run"), *SMALL, "--epochs", "3"],
            stdout=f,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    text = log.read_text()
    assert done.returncode == 0, text[-2000:]
    assert "\r" not in text and text.count("epoch ") >= 3 and len(text) < 1500, text


def test_no_progress_still_prints_epochs(tmp_path, capsys):
    cfg = load_config(None, {"hidden": [16], "time_steps": 2, "epochs": 2, "limit_train": 64, "limit_test": 32})
    train(cfg, tmp_path / "run", progress=False)
    err = capsys.readouterr().err
    assert "epoch 1/2: loss" in err and "epoch 2/2: loss" in err and "selected best validation accuracy" in err


def _deterministic_weights(tmp_path, name, threads, deterministic):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    run = tmp_path / name
    flags = ["--set", "deterministic=true"] if deterministic else []
    done = _cli(
        "train",
        "--run-dir",
        str(run),
        "--epochs",
        "1",
        "--set",
        "limit_train=512",
        "--set",
        "limit_test=32",
        "--set",
        "hidden=[256]",
        "--no-progress",
        *flags,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


def test_deterministic_runs_are_bit_identical_across_thread_counts(tmp_path):
    a = _deterministic_weights(tmp_path, "one", 1, True)
    b = _deterministic_weights(tmp_path, "two", 2, True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
