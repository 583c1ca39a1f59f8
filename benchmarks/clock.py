"""Time a piece of work by the CPU time it costs, besides the wall clock.

On a shared machine (this project's: 2 cores, load ~10 from other users) the wall time of
a single-threaded run mostly measures how often the scheduler ran it; the CPU time it
used (this process's CPU clock, and ``getrusage`` for the child processes it waited for)
measures the work.  Speed ratios in this suite are taken on CPU time, with one thread for
torch and BLAS (:func:`single_thread`), and the wall times are recorded beside them.
"""

from __future__ import annotations

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
