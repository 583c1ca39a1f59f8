"""Ctrl-C stops the whole command: no Lava worker outlives `snncli parity --target loihi`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snncli.cli import main


def _processes() -> dict[int, tuple[int, str]]:
    """Live (non-zombie) processes: pid -> (parent pid, state), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state != "Z":
            table[int(entry.name)] = (int(ppid), state)
    return table


def _descendants(pid: int) -> set[int]:
    table, found, todo = _processes(), set(), [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, _) in table.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    pytest.importorskip("lava.magma.core.run_configs")
    root = tmp_path_factory.mktemp("interrupt")
    args = ["train", "--run-dir", str(root / "run"), "--epochs", "1", "--hidden", "32", "--no-progress"]
    assert main(args) == 0
    return root / "run"


def test_sigint_during_a_lava_reference_run_leaves_no_child(run_dir):
    cmd = [sys.executable, "-m", "snncli.cli", "parity", str(run_dir), "--target", "loihi", "--reference-limit", "300"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        while len(seen) < 3:  # Lava forks a process per process model once the reference run starts
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "Lava never started"
            seen |= _descendants(proc.pid)
            time.sleep(0.2)
        time.sleep(1)
        seen |= _descendants(proc.pid)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)  # to snncli only, as `kill -INT` does; a terminal sends it to the group
        out, err = proc.communicate(timeout=30)
        stopped = time.monotonic() - started
        left = seen & set(_processes())
        for _ in range(50):  # every process it started is gone within seconds
            if not left:
                break
            time.sleep(0.1)
            left = seen & set(_processes())
        assert proc.returncode == 130 and "interrupted" in err, (proc.returncode, err[-1000:])
        assert "Traceback" not in err
        assert not left, f"processes left behind: {sorted(left)} of {sorted(seen)}"
        assert stopped < 15, stopped
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in seen & set(_processes()):
            os.kill(pid, signal.SIGKILL)
