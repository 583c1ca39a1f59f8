"""Lava runs in a process group of its own, so that Ctrl-C always stops it.

Lava's runtime waits for its worker processes on ``threading`` conditions, with
channel threads of its own beside the main thread.  A SIGINT may be delivered to one
of those threads, and then the main thread's wait is never interrupted: Ctrl-C was
ignored, and killing snncli left Lava's workers (hundreds of MB) orphaned.

:func:`in_own_process` runs a function in a forked child that first becomes the
leader of a new process group; Lava's workers and its resource tracker are forked
from that child, so they share its group.  The parent waits in short, interruptible
polls, forwards progress messages, and on any exit other than a result (Ctrl-C,
SIGTERM turned into KeyboardInterrupt, an error) kills the whole group and reaps the
child before re-raising.  Results and exceptions come back through a pipe.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import signal
import traceback

from snncli.errors import SnnCliError

POLL_SECONDS = 0.2


def _child(conn, fn, args, kwargs) -> None:
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent decides when to stop the group
    try:
        kwargs = dict(kwargs)
        if kwargs.get("progress") is not None:
            kwargs["progress"] = lambda n=1: conn.send(("progress", n))
        conn.send(("result", fn(*args, **kwargs)))
    except SnnCliError as exc:
        conn.send(("snncli-error", str(exc)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
        os._exit(0)  # skip the parent's atexit handlers and Lava's interpreter teardown


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def in_own_process(fn):
    """Decorator: run ``fn`` in a child process group (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        progress = kwargs.get("progress")
        parent, child = mp.get_context("fork").Pipe(duplex=False)
        proc = mp.get_context("fork").Process(target=_child, args=(child, fn, args, kwargs), daemon=False)
        proc.start()
        child.close()
        try:
            while True:
                if not parent.poll(POLL_SECONDS):
                    if not proc.is_alive() and not parent.poll(0):
                        raise SnnCliError(f"the Lava process died (exit code {proc.exitcode}) without an answer")
                    continue
                kind, value = parent.recv()
                if kind == "progress":
                    if progress is not None:
                        progress(value)
                    continue
                proc.join()
                if kind == "result":
                    return value
                if kind == "snncli-error":
                    raise SnnCliError(value)
                raise RuntimeError(f"the Lava process failed:\n{value}")
        finally:
            _kill_group(proc.pid)  # whatever happened: no Lava worker outlives the call
            proc.join(timeout=5)
            parent.close()

    return wrapper
