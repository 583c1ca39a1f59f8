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
