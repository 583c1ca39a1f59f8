"""Compiled loops: synaptic input through a fan-out table, event counting, and ``jit`` for the neuron models.

A synaptic layer's input for a whole time window is a matrix ``rows [R, n_in]`` (``R =
steps x batch``).  Each non-zero entry ``x = rows[r, j]`` is an event: it adds ``x * M[j, :]``
(the fan-out of input ``j``, synapses.py) to ``out[r, :]``.  :func:`propagate` does that one of
two ways, whichever :func:`sparse_is_cheaper` says costs less for the activity it measures
(the number of events):

* over the events only (compiled here): :func:`_events` lists them (and counts them), then
  :func:`_scatter_rows` adds whole contiguous fan-out rows (a fully connected layer, vectorised)
  or :func:`_scatter_csr` the stored synapses of a CSR table (a convolution, a pool), each output
  summing its events in increasing ``j`` -- work proportional to events x fan-out, as on a chip;
* one BLAS product ``rows @ M`` over every input (numpy), faster per synapse, wasted on zeros.

On integer-valued inputs and weights (every chip target) both are exact, so the choice cannot
change a spike; in float64 they sum in different orders, as the scipy product and BLAS of earlier
hwsim versions did.  The costs below were measured on the development machine (AMD EPYC, AVX-512,
one thread) by ``benchmarks.density.kernel_costs`` (recorded in benchmarks/results/density.json).

Why numba and not scipy: a scipy product converts the activity to a sparse matrix and the result
back to a dense one at every call; hwsim 0.1 spent 55-85 % of its time there.  numba is a
dependency already (snnTorch and NeuroBench need it).  ``jit`` compiles a function on its first
call and caches the machine code on disk (numba's ``cache=True``: ``__pycache__`` beside the
source when writable, else the user's cache directory, numba/core/caching.py ``_CacheLocator``),
so only the first process on a machine pays the compilation; numba itself (0.4 s to import) is
imported then too.
"""

from __future__ import annotations

import functools

import numpy as np

NS_PER_ROW_ELEMENT = 0.11  # _scatter_rows: per event and element of its (contiguous) fan-out row
NS_PER_CSR_SYNAPSE = 1.4  # _scatter_csr: per event and stored synapse, through the table's index list
NS_PER_BLAS_MAC = 0.041  # one-thread float64 BLAS (dgemm), per multiply-add


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


@jit
def _events(rows, fanout, idx, val, ptr):
    """The events of ``rows [R, n_in]`` as a CSR list (``ptr [R + 1]``, input ``idx``, value ``val``), and their
    counts ``(ACs of binary rows, MACs of other rows, sum x_j * fanout_j, min(0, smallest value))``."""
    acs = 0
    macs = 0
    weighted = 0.0
    lowest = 0.0
    p = 0
    for r in range(rows.shape[0]):
        ops = 0
        binary = True
        for j in range(rows.shape[1]):
            x = rows[r, j]
            if x == 0.0:
                continue
            idx[p] = j
            val[p] = x
            p += 1
            ops += fanout[j]
            weighted += x * fanout[j]
            lowest = min(lowest, x)
            if x != 1.0 and x != -1.0:
                binary = False
        ptr[r + 1] = p
        if binary:
            acs += ops
        else:
            macs += ops
    return acs, macs, weighted, lowest


@jit
def _count(rows, fanout):
    """The counts of :func:`_events` without the list (for the BLAS path)."""
    acs = 0
    macs = 0
    weighted = 0.0
    lowest = 0.0
    for r in range(rows.shape[0]):
        ops = 0
        binary = True
        for j in range(rows.shape[1]):
            x = rows[r, j]
            if x == 0.0:
                continue
            ops += fanout[j]
            weighted += x * fanout[j]
            lowest = min(lowest, x)
            if x != 1.0 and x != -1.0:
                binary = False
        if binary:
            acs += ops
        else:
            macs += ops
    return acs, macs, weighted, lowest


@jit
def _scatter_rows(ptr, idx, val, table, out):
    """``out[r] += x * table[j]`` over the events ``(r, j, x)`` in increasing ``j``: contiguous rows, vectorised.
    Four events per pass, ``o = (((o + w1) + w2) + w3) + w4`` -- the same roundings in the same order as four
    passes, with a quarter of the stores (1.5x faster; row views, not flat indices: those ran 5x slower)."""
    for r in range(out.shape[0]):
        o = out[r]
        q = ptr[r]
        end = ptr[r + 1]
        while q + 4 <= end:
            w1, w2, w3, w4 = table[idx[q]], table[idx[q + 1]], table[idx[q + 2]], table[idx[q + 3]]
            x1, x2, x3, x4 = val[q], val[q + 1], val[q + 2], val[q + 3]
            if x1 == 1.0 and x2 == 1.0 and x3 == 1.0 and x4 == 1.0:
                for k in range(o.shape[0]):
                    o[k] = o[k] + w1[k] + w2[k] + w3[k] + w4[k]
            else:
                for k in range(o.shape[0]):
                    o[k] = o[k] + x1 * w1[k] + x2 * w2[k] + x3 * w3[k] + x4 * w4[k]
            q += 4
        while q < end:
            w1, x1 = table[idx[q]], val[q]
            for k in range(o.shape[0]):
                o[k] = o[k] + x1 * w1[k]
            q += 1


@jit
def _scatter_csr(ptr, idx, val, indptr, indices, data, out):
    """``out[r, indices[k]] += x * data[k]`` over the events ``(r, j, x)`` in increasing ``j`` and the stored
    synapses ``k`` of ``j`` (a CSR fan-out table)."""
    for r in range(out.shape[0]):
        o = out[r]
        for q in range(ptr[r], ptr[r + 1]):
            j = idx[q]
            x = val[q]
            if x == 1.0:
                for k in range(indptr[j], indptr[j + 1]):
                    o[indices[k]] += data[k]
            else:
                for k in range(indptr[j], indptr[j + 1]):
                    o[indices[k]] += x * data[k]


class Counts:
    """What one call delivered: ``acs`` (binary rows), ``macs`` (other rows), ``weighted`` (``sum x fanout``,
    the events into event-driven neurons), ``lowest`` (the smallest input value, for their check)."""

    __slots__ = ("acs", "macs", "weighted", "lowest")

    def __init__(self, acs=0, macs=0, weighted=0.0, lowest=0.0):
        self.acs, self.macs, self.weighted, self.lowest = int(acs), int(macs), float(weighted), float(lowest)


class FanOut:
    """One layer's fan-out table ready for the kernels: CSR arrays, the dense table when it is small enough,
    and the fan-out per input (stored non-zero weights)."""

    def __init__(self, table, dense_entries: int):
        self.shape = table.shape
        self.indptr = table.indptr.astype(np.int64)
        self.indices = table.indices.astype(np.int64)
        self.data = table.data.astype(np.float64)
        self.fanout = np.diff(self.indptr)
        self.nnz = int(table.nnz)
        entries = table.shape[0] * table.shape[1]
        # a dense copy for BLAS and whole-row adds: a fully connected table, or a small one (a convolution's
        # unrolled table is mostly zeros: BLAS over it pays off only for inputs denser than ~80 %)
        keep = self.nnz and entries <= dense_entries and (self.nnz >= 0.25 * entries or entries <= 1 << 20)
        self.dense = np.ascontiguousarray(table.toarray()) if keep else None
        # events add whole contiguous rows (vectorised) when most weights are there; else the CSR list
        self.contiguous = self.dense is not None and self.nnz >= 0.5 * entries


def sparse_is_cheaper(table: FanOut, rows: int, events: int) -> bool:
    """Whether visiting the ``events`` costs less than one BLAS product over every input of ``rows`` rows
    (the costs at the top of the module; a table kept only as CSR has no BLAS path)."""
    if table.dense is None:
        return True
    if table.contiguous:
        sparse = events * table.shape[1] * NS_PER_ROW_ELEMENT
    else:
        sparse = events * (table.nnz / max(table.shape[0], 1)) * NS_PER_CSR_SYNAPSE
    return sparse < rows * table.shape[0] * table.shape[1] * NS_PER_BLAS_MAC


def propagate(table: FanOut, rows: np.ndarray) -> tuple[np.ndarray, Counts]:
    """``rows @ M`` (``rows [R, n_in]``) and the counts of its events, the cheaper way for this activity
    (module doc)."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    events = np.count_nonzero(rows)
    if table.dense is not None and not sparse_is_cheaper(table, rows.shape[0], events):
        return rows @ table.dense, Counts(*_count(rows, table.fanout))
    idx, val = np.empty(events, dtype=np.int64), np.empty(events)
    ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    counts = Counts(*_events(rows, table.fanout, idx, val, ptr))
    out = np.zeros((rows.shape[0], table.shape[1]))
    if events and table.contiguous:
        _scatter_rows(ptr, idx, val, table.dense, out)
    elif events and table.nnz:
        _scatter_csr(ptr, idx, val, table.indptr, table.indices, table.data, out)
    return out, counts
