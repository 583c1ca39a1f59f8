"""Synapse tables: every weighted or pooling layer as an input -> output fan-out list.

A neuromorphic core does not multiply matrices; each incoming event looks up the
list of (target neuron, weight) pairs of its source and accumulates them.  We store
that list as a sparse matrix ``M`` of shape ``[n_in, n_out]`` (row ``j`` = fan-out of
input ``j``) so that a step is ``y = x_events @ M``: work proportional to the events
times their fan-out, as on a chip.  Zero weights are not stored (a chip stores no
synapse for them), which is also what NeuroBench counts as an effective synaptic
operation.  Convolutions and pools are unrolled into the same form.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from snncli.core.program import Layer


def dense_table(weight: np.ndarray) -> sp.csr_matrix:
    """``y[o] = sum_j W[o, j] x[j]`` as a fan-out table ``M[j, o] = W[o, j]``."""
    table = sp.csr_matrix(np.asarray(weight, dtype=np.float64).T)
    table.eliminate_zeros()
    return table


def conv2d_table(weight, in_shape, out_shape, stride, padding, dilation, groups) -> sp.csr_matrix:
    """Fan-out table of a 2-D convolution (cross-correlation, zero padding, as torch).

    ``y[co, oy, ox] = sum_{ci in group(co), ky, kx} W[co, ci, ky, kx] x[ci, oy*s - p + ky*d, ox*s - p + kx*d]``
    """
    weight = np.asarray(weight, dtype=np.float64)
    c_out, c_in_g, kh, kw = weight.shape
    c_in, height, width = in_shape
    _, out_h, out_w = out_shape
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation
    c_out_g = c_out // groups
    oy, ox = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    oy, ox = oy.ravel(), ox.ravel()
    rows, cols, vals = [], [], []
    for co in range(c_out):
        group = co // c_out_g
        for cig in range(c_in_g):
            ci = group * c_in_g + cig
            for ky in range(kh):
                iy = oy * sy - py + ky * dy
                for kx in range(kw):
                    w = weight[co, cig, ky, kx]
                    if w == 0:
                        continue
                    ix = ox * sx - px + kx * dx
                    ok = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
                    rows.append((ci * height + iy[ok]) * width + ix[ok])
                    cols.append((co * out_h + oy[ok]) * out_w + ox[ok])
                    vals.append(np.full(int(ok.sum()), w))
    n_in, n_out = c_in * height * width, c_out * out_h * out_w
    if not rows:
        return sp.csr_matrix((n_in, n_out), dtype=np.float64)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_in, n_out))


class Runs(NamedTuple):
    """A convolution's fan-out as contiguous runs into its output stored channels-last (``[oy, ox, c]``, where
    one position's output channels are adjacent): input ``j``'s runs are ``ptr[j] .. ptr[j + 1]``, run ``k``
    adds ``x * weights[src[k] : src[k] + length[k]]`` to ``out_cl[dst[k] : dst[k] + length[k]]``.  Channel-first
    element ``c * positions + p`` is channels-last ``p * channels + c``."""

    ptr: np.ndarray
    dst: np.ndarray
    src: np.ndarray
    length: np.ndarray
    weights: np.ndarray  # [c_in, kh, kw (reversed), c_out / groups], flat
    channels: int


def conv2d_runs(weight, in_shape, out_shape, stride, padding, dilation, groups) -> Runs:
    """The runs of a 2-D convolution (same sum as :func:`conv2d_table`).  Input ``(ci, iy, ix)`` reaches position
    ``(oy, ox) = ((iy + p - ky d) / s, (ix + p - kx d) / s)`` where that divides and lies inside, through the weights
    ``W[group's c_out, ci, ky, kx]``: a run of ``c_out / groups`` channels.  Along x, with stride and dilation 1 and
    one group, the next position is the next ``c_out`` outputs and, with the kernel's x reversed, the next weights:
    the runs of one kernel row join into one (``kw x c_out`` long).  Kernel positions whose weights are all zero
    store no run, as the table stores no zero synapse."""
    weight = np.asarray(weight, dtype=np.float64)
    c_out, c_in_g, kh, kw = weight.shape
    c_in, height, width = in_shape
    _, out_h, out_w = out_shape
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation
    c_out_g = c_out // groups
    ci = np.arange(c_in)
    group = ci // c_in_g
    # weights[ci, ky, kw - 1 - kx, :] = W[group * c_out_g : ..., ci - group * c_in_g, ky, kx]
    per_group = weight.reshape(groups, c_out_g, c_in_g, kh, kw)
    compact = per_group[group, :, ci - group * c_in_g].transpose(0, 2, 3, 1)[:, :, ::-1, :]
    ci, iy, ix, ky, kx = np.meshgrid(
        ci, np.arange(height), np.arange(width), np.arange(kh), np.arange(kw), indexing="ij"
    )
    ny, nx = iy + py - ky * dy, ix + px - kx * dx
    oy, ox = ny // sy, nx // sx
    ok = (ny >= 0) & (ny == oy * sy) & (oy < out_h) & (nx >= 0) & (nx == ox * sx) & (ox < out_w)
    ok &= np.any(compact != 0, axis=-1)[ci, ky, kw - 1 - kx]
    j = ((ci * height + iy) * width + ix)[ok]
    dst = ((oy * out_w + ox) * c_out + (ci // c_in_g) * c_out_g)[ok]
    src = (((ci * kh + ky) * kw + kw - 1 - kx) * c_out_g)[ok]
    order = np.lexsort((dst, j))
    j, dst, src = j[order], dst[order], src[order]
    joins = (j[1:] == j[:-1]) & (dst[1:] == dst[:-1] + c_out_g) & (src[1:] == src[:-1] + c_out_g)
    starts = np.flatnonzero(np.concatenate([[True], ~joins])) if j.size else np.zeros(0, np.int64)
    length = np.diff(np.append(starts, j.size)) * c_out_g
    ptr = np.concatenate([[0], np.cumsum(np.bincount(j[starts], minlength=c_in * height * width))])
    as_int = {"dtype": np.int64}
    return Runs(ptr.astype(**as_int), dst[starts].astype(**as_int), src[starts].astype(**as_int),
                length.astype(**as_int), np.ascontiguousarray(compact).ravel(), c_out)  # fmt: skip


def pool2d_table(in_shape, out_shape, kernel_size, stride, padding, average: bool) -> sp.csr_matrix:
    """Sum (or average, zero padding counted) pooling as a depthwise convolution of ones."""
    channels = in_shape[0]
    kh, kw = kernel_size
    weight = np.full((channels, 1, kh, kw), 1.0 / (kh * kw) if average else 1.0)
    return conv2d_table(weight, in_shape, out_shape, stride, padding, (1, 1), channels)


def build_table(layer: Layer) -> sp.csr_matrix | None:
    """The fan-out table of a layer, or None for layers without synapses."""
    op = layer.op
    if layer.kind == "dense":
        return dense_table(op.weight)
    if layer.kind == "conv2d":
        return conv2d_table(op.weight, layer.in_shape, layer.out_shape, op.stride, op.padding, op.dilation, op.groups)
    if layer.kind in ("sumpool2d", "avgpool2d"):
        return pool2d_table(
            layer.in_shape, layer.out_shape, op.kernel_size, op.stride, op.padding, layer.kind == "avgpool2d"
        )
    return None


def build_runs(layer: Layer) -> Runs | None:
    """The runs of a convolution (:class:`Runs`), or None for other layers (a pool's runs are single outputs)."""
    op = layer.op
    if layer.kind != "conv2d":
        return None
    return conv2d_runs(op.weight, layer.in_shape, layer.out_shape, op.stride, op.padding, op.dilation, op.groups)
