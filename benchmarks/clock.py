"""Time a piece of work by the CPU time it costs, besides the wall clock.

On a shared machine (this project's: 2 cores, load ~10 from other users) the wall time of
a single-threaded run mostly measures how often the scheduler ran it; the CPU time it
used (this process's CPU clock, and ``getrusage`` for the child processes it waited for)
measures the work.  Speed ratios in this suite are taken on CPU time, with one thread for
torch and BLAS (:func:`single_thread`), and the wall times are recorded beside them.  Memory
a framework frees is reused by its next call (:func:`reuse_freed_memory`), not handed back.
"""

from __future__ import annotations

import ctypes
import os
import resource
import time
from dataclasses import dataclass

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def single_thread() -> None:
    """One thread for torch and for the BLAS/OpenMP pools already loaded (threadpoolctl, which scikit-learn
    brings): every framework gets the same single core."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def reuse_freed_memory() -> None:
    """glibc's malloc keeps the memory a process frees for its next allocations instead of returning it (mallopt:
    no mmap below 1 GiB, no trimming).  By default a block above 128 kB-32 MB is mapped fresh at every allocation
    and pays a page fault per 4 kB when first written: a torch forward that allocates its activations on every call
    ran up to 2x slower (Sinabs on the Speck CNN, 0.44 s against 0.19-0.36 s), and by how much depended on what
    ran before it in the process (glibc raises the threshold as it frees).  hwsim reuses its arrays itself; with
    this, every framework is timed with warm memory.  Elsewhere than glibc, nothing changes."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 2**31 - 1)


def cpu_seconds() -> float:
    """This process (``CLOCK_PROCESS_CPUTIME_ID``, nanosecond accounting) + the children it waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class Timer:
    """``with Timer() as t: ...`` then ``t.cpu`` and ``t.wall`` (seconds)."""

    cpu: float = 0.0
    wall: float = 0.0

    def __enter__(self):
        self._cpu, self._wall = cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu, self.wall = cpu_seconds() - self._cpu, time.perf_counter() - self._wall


def interleaved(calls: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """CPU and wall seconds of each named call over ``repeats`` rounds, after one untimed warm-up round (numba's
    and torch's first calls); each round runs every call once, in an order rotated per round, so that all see
    the same machine load."""
    names = list(calls)
    cpu, wall = {name: [] for name in names}, {name: [] for name in names}
    for r in range(repeats + 1):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            with Timer() as t:
                calls[name]()
            if r:
                cpu[name].append(t.cpu)
                wall[name].append(t.wall)
    return cpu, wall
