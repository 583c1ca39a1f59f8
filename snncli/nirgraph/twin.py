"""The ANN twin of a network, counted on its NIR graph: one network, one twin, whatever the target.

The twin is the same architecture run once as an ANN (the convention of Spikformer and
most SNN energy papers: MACs once per inference, not per step).  It is counted on the
graph's own nodes, before any target folds, pads or splits them (the Loihi target folds
a pooling into the convolution after it, which would change the count), so the verdicts
for one network differ between targets only through the SNN side.  Per synaptic node:

* ``Affine`` / ``Linear`` with weight ``W [out, in]``: ``MACs = nnz(W)``;
* ``Conv2d`` with weight ``W [co, ci/groups, kh, kw]``, stride ``s``, padding ``p``,
  dilation ``d`` on an ``H x W`` input: every non-zero weight is used once per output
  position whose tap lands inside the input,
  ``MACs = sum_{W[co,ci,ky,kx] != 0} Ny(ky) * Nx(kx)``, with
  ``Ny(ky) = #{oy : 0 <= oy*s_y - p_y + ky*d_y < H}`` (likewise x).  Taps on the zero
  padding multiply a constant zero and are not counted, so the count equals the
  synapses of the unrolled layer, and an SNN whose every input spikes at every one of
  ``T`` steps performs exactly ``T`` times the twin's operations; ``Conv1d`` likewise, as
  a ``Conv2d`` over a ``[C, 1, L]`` input;
* pooling, flatten, scale and neuron nodes cost no MACs (an ANN pools with additions
  or comparisons, uncounted here as in the papers); biases are not counted (NeuroBench).
"""

from __future__ import annotations

import nir
import numpy as np

from snncli.core.program import AnnTwin, TwinLayer, pair
from snncli.nirgraph.check import CheckedGraph, GraphNode, conv1d_as_2d, conv_padding


def ann_twin(graph: CheckedGraph) -> AnnTwin:
    """The ANN twin of ``graph`` (see the module docstring)."""
    layers = []
    for g in graph.nodes:
        if isinstance(g.node, (nir.Affine, nir.Linear)):
            weights = int(np.count_nonzero(g.node.weight))
            layers.append(TwinLayer(g.name, "dense", weights, weights))
        elif isinstance(g.node, (nir.Conv1d, nir.Conv2d)):
            layers.append(TwinLayer(g.name, "conv2d", conv_macs(g), int(np.count_nonzero(g.node.weight))))
    return AnnTwin(tuple(layers), "the NIR graph (pools not folded, zero-padding taps not counted)")


def conv_macs(g: GraphNode) -> int:
    """MACs of one pass of a Conv2d node over its input (module docstring)."""
    weight = np.asarray(g.node.weight)
    in_hw, out_hw = g.in_shape[1:], g.out_shape[1:]
    if isinstance(g.node, nir.Conv1d):
        kernel, stride, padding, dilation = conv1d_as_2d(g.node)
        weight, in_hw, out_hw = weight[:, :, None, :], (1, *in_hw), (1, *out_hw)
    else:
        kernel = weight.shape[2:]
        stride = pair(g.node.stride, "stride", 1)
        dilation = pair(g.node.dilation, "dilation", 1)
        padding = conv_padding(g.node, kernel)
    used = [
        _positions(in_hw[axis], out_hw[axis], kernel[axis], stride[axis], padding[axis], dilation[axis])
        for axis in (0, 1)
    ]
    per_tap = np.outer(used[0], used[1])  # [kh, kw]: output positions that use each tap
    return int(((weight != 0) * per_tap).sum())


def _positions(size: int, out: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """For each kernel offset ``0..k-1``: the output positions whose tap falls inside ``[0, size)``."""
    at = np.arange(out)[None, :] * s - p + np.arange(k)[:, None] * d
    return ((at >= 0) & (at < size)).sum(axis=1)
