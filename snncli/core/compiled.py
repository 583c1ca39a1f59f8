"""Compiled loops: numba, imported and compiling only when a loop first runs.

``jit`` compiles a function on its first call and caches the machine code on disk (numba's
``cache=True``: ``__pycache__`` beside the source when writable, else the user's cache directory,
numba/core/caching.py ``_CacheLocator``), so only the first process on a machine pays the
compilation; numba itself (0.4 s to import) is imported then too.  Used by hwsim's kernels, the
targets' neuron arithmetic and the trainer's CPU neurons alike.
"""

from __future__ import annotations

import functools


def jit(fn):
    """``fn`` compiled by numba on its first call (``njit(cache=True, nogil=True)``, numpy's error model:
    a float division by zero gives inf/nan as numpy does, not an exception).  numba is imported then, not
    at import time (0.4 s that commands which never simulate should not pay).  ``.py_func`` is ``fn``."""
    compiled = None

    @functools.wraps(fn)
    def call(*args):
        nonlocal compiled
        if compiled is None:
            import numba

            compiled = numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
        return compiled(*args)

    call.py_func = fn
    return call


def specialise(factory):
    """``factory(*settings)`` returns a function whose settings (flags, modes) are closure constants; the result,
    called with the settings, gives that variant compiled (once per settings, :func:`jit`).  numba reads closure
    variables as constants, so the branches the settings rule out are compiled away (the generic loop with the
    flags as arguments ran 7x slower); its disk cache keys a closure by their values (numba/core/caching.py
    ``_index_key``), so each variant is compiled once per machine."""

    @functools.cache
    def variant(*settings):
        return jit(factory(*settings))

    return variant
