"""What the chip targets' scale searches share: the sample budget, the float model's
spike counts on the calibration samples, and the greedy walk over a grid of scales.

A chip target quantizes each neuron layer at one scale ``q`` (integer = round(q *
float)).  Both searches (:mod:`snncli.targets.loihi.scale_search`,
:mod:`snncli.targets.speck.scale_search`) start at a base scale the layer's ranges
allow and walk the grid ``base * 2**(k/2)`` while the layer's integer spike counts
get closer to the float model's, which the float target (the NIR equations,
float64) computes once on the calibration samples with hwsim.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from snncli.hwsim.simulate import Simulator
from snncli.targets.float.lowering import lower_float

SEARCH_ELEMENTS = 1 << 21  # samples x neurons of the largest layer simulated per candidate
K_RANGE = (-6, 2)  # candidate scales: base * 2**(k/2)


def calibration_samples(total: int, largest_layer: int) -> int:
    """How many of ``total`` calibration samples a search simulates: at least 64, at most
    :data:`SEARCH_ELEMENTS` samples x neurons of the largest layer."""
    return int(min(total, max(64, SEARCH_ELEMENTS // max(int(largest_layer), 1))))


def float_spike_counts(graph, dt: float, reading: str, x: np.ndarray, names) -> dict[str, np.ndarray]:
    """Per neuron layer in ``names``: the float model's spikes summed over the steps of ``x``
    ``[T, N, *input_shape]``, as ``[N, neurons]`` (hwsim running the float target)."""
    result = Simulator(lower_float(graph, dt, reading)).run(x, record=True)
    return {name: result.records[name]["out"].sum(0).reshape(x.shape[1], -1) for name in names}


def grid_scale(base: float, k: int) -> float:
    """The ``k``-th scale of the grid: ``base * 2**(k/2)``."""
    return base * 2 ** (k / 2)


def walk_grid(evaluate: Callable[[int], tuple], allowed: Callable[[int], bool], k_range=K_RANGE) -> int:
    """Greedy walk over ``k``: score ``k = 0``, then walk up (1, 2, ...) while each step scores
    higher than the best so far; if the first step up does not, walk down (-1, -2, ...) the
    same way.  ``evaluate(k)`` returns a comparable score (higher is better; the caller
    caches), ``allowed(k)`` whether ``k`` may be tried.  Returns the best ``k``."""
    best = 0
    evaluate(0)
    for direction in (1, -1):
        k, moved = best + direction, False
        while k_range[0] <= k <= k_range[1] and allowed(k):
            if evaluate(k) > evaluate(best):
                best, moved = k, True
                k += direction
            else:
                break
        if moved:
            break
    return best
