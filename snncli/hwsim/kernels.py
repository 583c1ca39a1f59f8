"""Compiled loops: synaptic input through a fan-out table, event counting, and ``jit`` for the neuron models.

A synaptic layer's input for a whole time window is a matrix ``rows [R, n_in]`` (``R =
steps x batch``).  Each non-zero entry ``x = rows[r, j]`` is an event: it adds ``x * M[j, :]``
(the fan-out of input ``j``, synapses.py) to ``out[r, :]``.  :func:`propagate` does that one of
two ways, whichever :func:`sparse_is_cheaper` says costs less for the activity it measures
(the number of events):

* over the events only (compiled here): :func:`_events` lists them (and counts them; where each
  row's events start comes from :func:`_row_events`, or from the neuron window that wrote the rows), then
  :func:`_scatter_rows` adds whole contiguous fan-out rows (a fully connected layer, vectorised),
  :func:`_scatter_runs` a convolution's runs of adjacent outputs (vectorised, into the output held
  channels-last) or :func:`_scatter_csr` the stored synapses of a CSR table (a pool), each output
  summing its events in increasing ``j`` -- work proportional to events x fan-out, as on a chip;
* one BLAS product ``rows @ M`` over every input (numpy), faster per synapse, wasted on zeros.

On integer-valued inputs and weights (every chip target) both are exact, so the choice cannot
change a spike; in float64 they sum in different orders, as the scipy product and BLAS of earlier
hwsim versions did.  The costs below were measured on the development machine (AMD EPYC, AVX-512,
one thread) by ``benchmarks.density.kernel_costs`` (recorded in benchmarks/results/density.json).

Why numba and not scipy: a scipy product converts the activity to a sparse matrix and the result
back to a dense one at every call; hwsim 0.1 spent 55-85 % of its time there.  numba is a
dependency already (snnTorch and NeuroBench need it).  :func:`snncli.core.compiled.jit` compiles a
function on its first call and caches the machine code on disk, so only the first process on a
machine pays the compilation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from snncli.core.compiled import jit

NS_PER_ROW_ELEMENT = 0.11  # _scatter_rows: per event and element of its (contiguous) fan-out row
NS_PER_CSR_SYNAPSE = 1.4  # _scatter_csr: per event and stored synapse, through the table's index list
NS_PER_RUN_SYNAPSE = 0.45  # _scatter_runs: per event and synapse, in runs of 46 (0.33) to 16 (0.58) outputs
NS_PER_CHANNELS_LAST_OUTPUT = 0.6  # _scatter_runs: per output of a row summed channels-last, beyond zeroing it
NS_PER_BLAS_MAC = 0.041  # one-thread float64 BLAS (dgemm), per multiply-add
MIN_RUN = 8  # a convolution's runs are used when they are this long on average (a depthwise one's are 1)
DENSE_SCAN_ABOVE = 0.02  # _events_dense past this activity (branchy: 0.8 ns per value at 1 %, 3.6 at 29 %; it: 1.0)


@jit
def _row_events(rows, ptr):
    """``ptr[r + 1] = ptr[r] + (non-zero values of row r)``: where each row's events start (a vectorised count)."""
    for r in range(rows.shape[0]):
        row = rows[r]
        n = 0
        for j in range(row.shape[0]):
            n += row[j] != 0.0
        ptr[r + 1] = ptr[r] + n


@jit
def _events(rows, fanout, ptr, idx, val):
    """The events of ``rows [R, n_in]`` into the CSR list ``(ptr, idx, val)`` (``ptr`` from :func:`_row_events`),
    and their operations ``(ACs of binary rows, MACs of the other rows)``.  A row without events is skipped; a
    row's scan stops at its last event and branches on each value (fast on sparse rows)."""
    acs = 0
    macs = 0
    for r in range(rows.shape[0]):
        p, end = ptr[r], ptr[r + 1]
        row = rows[r]
        ops = 0
        odd = False
        j = 0
        while p < end:
            x = row[j]
            if x != 0.0:
                idx[p] = j
                val[p] = x
                p += 1
                ops += fanout[j]
                odd |= (x != 1.0) & (x != -1.0)
            j += 1
        if odd:
            macs += ops
        else:
            acs += ops
    return acs, macs


@jit
def _events_dense(rows, fanout, ptr, idx, val):
    """:func:`_events` without the branch on each value (faster past a few % activity, where it is mispredicted):
    every value is written and only an event advances, so the list needs one spare slot at its end; the
    operations are counted in a second, vectorised pass over the row (together 1 ns per value instead of 3.6
    at 29 %)."""
    acs = 0
    macs = 0
    for r in range(rows.shape[0]):
        if ptr[r] == ptr[r + 1]:
            continue
        p = ptr[r]
        row = rows[r]
        for j in range(row.shape[0]):
            x = row[j]
            idx[p] = j
            val[p] = x
            p += x != 0.0
        ops = 0
        odd = False
        for j in range(row.shape[0]):
            x = row[j]
            event = x != 0.0
            ops += fanout[j] * event
            odd |= event & (x != 1.0) & (x != -1.0)
        if odd:
            macs += ops
        else:
            acs += ops
    return acs, macs


@jit
def _count(rows, fanout):
    """The operations of :func:`_events` without the list (for the BLAS path; a vectorised loop)."""
    acs = 0
    macs = 0
    for r in range(rows.shape[0]):
        ops = 0
        odd = False
        for j in range(rows.shape[1]):
            x = rows[r, j]
            event = x != 0.0
            ops += fanout[j] * event
            odd |= event & (x != 1.0) & (x != -1.0)
        if odd:
            macs += ops
        else:
            acs += ops
    return acs, macs


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


@jit
def _scatter_runs(ptr, idx, val, runs_ptr, dst, src, length, weights, channels, above, indptr, indices, data, scratch,
                  out):  # fmt: skip
    """:func:`_scatter_csr` for a convolution, writing every row of ``out``.  A row with more than ``above`` events
    sums into ``scratch``, stored channels-last, through the layer's runs (synapses.Runs: a vectorised add of
    ``c_out`` or more adjacent outputs per run, against one indexed add per synapse), then is written back
    channel-first; a row with fewer events is not worth that copy and takes the stored synapses.  Each output
    sums its events in increasing ``j`` either way: the same roundings."""
    positions = out.shape[1] // channels
    for r in range(out.shape[0]):
        o = out[r]
        if ptr[r + 1] - ptr[r] <= above:
            o[:] = 0.0
            for q in range(ptr[r], ptr[r + 1]):
                j = idx[q]
                x = val[q]
                for k in range(indptr[j], indptr[j + 1]):
                    o[indices[k]] += x * data[k]
            continue
        scratch[:] = 0.0
        for q in range(ptr[r], ptr[r + 1]):
            j = idx[q]
            x = val[q]
            if x == 1.0:
                for k in range(runs_ptr[j], runs_ptr[j + 1]):
                    s, w = scratch[dst[k] : dst[k] + length[k]], weights[src[k] : src[k] + length[k]]
                    for c in range(length[k]):
                        s[c] += w[c]
            else:
                for k in range(runs_ptr[j], runs_ptr[j + 1]):
                    s, w = scratch[dst[k] : dst[k] + length[k]], weights[src[k] : src[k] + length[k]]
                    for c in range(length[k]):
                        s[c] += x * w[c]
        for c in range(channels):
            oc = o[c * positions : (c + 1) * positions]
            for p in range(positions):
                oc[p] = scratch[p * channels + c]


class Counts(NamedTuple):
    """What one call delivered: ``acs`` (operations of binary rows), ``macs`` (of the other rows), and for a layer
    feeding event-driven neurons ``weighted`` (``sum x_j fanout_j``: n events at an input are n x its fan-out)
    and ``lowest`` (``min(0, smallest value)``, which must not be negative there)."""

    acs: int
    macs: int
    weighted: float = 0.0
    lowest: float = 0.0


class FanOut:
    """One layer's fan-out table ready for the kernels: CSR arrays, the dense table when it is small enough,
    and the fan-out per input (stored non-zero weights)."""

    def __init__(self, table, dense_entries: int, runs=None):
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
        # a convolution's runs (synapses.Runs), used by rows with more than runs_above events: below that, the
        # row's channels-last copy costs more than the vectorised runs save over the stored synapses
        self.runs = runs if runs is not None and self.nnz and runs.length.mean() >= MIN_RUN else None
        if self.runs is not None:
            saved = (self.nnz / max(self.shape[0], 1)) * (NS_PER_CSR_SYNAPSE - NS_PER_RUN_SYNAPSE)
            self.runs_above = int(self.shape[1] * NS_PER_CHANNELS_LAST_OUTPUT / saved)
            self.scratch = np.empty(self.shape[1])


def sparse_is_cheaper(table: FanOut, rows: int, events: int) -> bool:
    """Whether visiting the ``events`` costs less than one BLAS product over every input of ``rows`` rows
    (the costs at the top of the module; a table kept only as CSR has no BLAS path)."""
    if table.dense is None:
        return True
    if table.contiguous:
        sparse = events * table.shape[1] * NS_PER_ROW_ELEMENT
    else:
        per_synapse = NS_PER_CSR_SYNAPSE if table.runs is None else NS_PER_RUN_SYNAPSE
        sparse = events * (table.nnz / max(table.shape[0], 1)) * per_synapse
    return sparse < rows * table.shape[0] * table.shape[1] * NS_PER_BLAS_MAC


def propagate(
    table: FanOut,
    rows: np.ndarray,
    events_in: bool = False,
    out: np.ndarray | None = None,
    ptr: np.ndarray | None = None,
):
    """``(rows @ M, Counts)`` for ``rows [R, n_in]``, the cheaper way for this activity (module doc); ``events_in``:
    the values are event counts (``Counts.weighted`` and ``lowest`` wanted); ``out``: a float64 ``[R, n_out]``
    array to write into (hwsim reuses one per layer: fresh pages cost 3x a rewrite); ``ptr``: where each row's
    events start (``[R + 1]``, :func:`_row_events`), when the layer that wrote ``rows`` counted them already."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    out = np.empty((rows.shape[0], table.shape[1])) if out is None else out
    if ptr is None:
        ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        _row_events(rows, ptr)
    events = int(ptr[-1])
    if table.dense is not None and not sparse_is_cheaper(table, rows.shape[0], events):
        acs, macs = _count(rows, table.fanout)
        extra = (float((rows @ table.fanout).sum()), min(0.0, float(rows.min()))) if events_in else ()
        return np.matmul(rows, table.dense, out=out), Counts(int(acs), int(macs), *extra)
    idx, val = np.empty(events + 1, dtype=np.int64), np.empty(events + 1)
    scan = _events_dense if events > DENSE_SCAN_ABOVE * rows.size else _events
    acs, macs = scan(rows, table.fanout, ptr, idx, val)
    idx, val = idx[:events], val[:events]
    extra = (float(val @ table.fanout[idx]), min(0.0, float(val.min(initial=0.0)))) if events_in else ()
    if events and table.runs is not None:  # writes every row
        runs = table.runs
        _scatter_runs(ptr, idx, val, runs.ptr, runs.dst, runs.src, runs.length, runs.weights, runs.channels,
                      table.runs_above, table.indptr, table.indices, table.data, table.scratch, out)  # fmt: skip
        return out, Counts(int(acs), int(macs), *extra)
    out.fill(0.0)
    if events and table.contiguous:
        _scatter_rows(ptr, idx, val, table.dense, out)
    elif events and table.nnz:
        _scatter_csr(ptr, idx, val, table.indptr, table.indices, table.data, out)
    return out, Counts(int(acs), int(macs), *extra)
