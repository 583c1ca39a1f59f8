"""torch DDP on CPU (gloo): two ranks train one model and end with the same weights."""

from __future__ import annotations

import os
import subprocess
import sys

import torch


def test_two_cpu_ranks_end_with_identical_weights(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "snncli.cli",
        "train",
        "--run-dir",
        str(tmp_path / "run"),
        "--epochs",
        "2",
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        "hidden=[32]",
        "--set",
        "time_steps=4",
        "--set",
        "limit_train=400",
        "--set",
        "limit_test=64",
        "--set",
        "encoder=poisson",
    ]  # poisson: each rank draws its own spikes
    env = {**os.environ, "SNNCLI_TEST_DUMP_WEIGHTS": str(dump), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = (torch.load(dump / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert r0.keys() == r1.keys() == last.keys()
    assert all(torch.equal(r0[k], r1[k]) and torch.equal(r0[k], last[k]) for k in r0)
    # and they trained: the weights moved away from the seed's initialisation
    torch.manual_seed(0)
    from snncli.trainer.config import load_config
    from snncli.trainer.models import build_model

    init = build_model(load_config(None, {"hidden": [32]}), (1, 8, 8), 10).state_dict()
    assert not torch.equal(init["fc1.weight"], r0["fc1.weight"])
