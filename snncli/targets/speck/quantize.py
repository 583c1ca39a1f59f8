r"""Speck integers: a core's float parameters at a scale ``s`` (v_int = s * v_float).

Each core keeps its own scale (one common factor per layer, as Sinabs' ``discretize``
applies it, ``backend/dynapcnn/discretize.py`` 177-338)::

    W_int = clip(round(s W), -128, 127)            8-bit weights, one per input event
    b_int = clip(round(s b), -128, 127)            8-bit bias per channel (Sinabs' width)
    thr   = ceil(s thr_f)        (fire at v >= thr_f)    16-bit threshold_high
          = floor(s thr_f) + 1   (fire at v >  thr_f)
    floor = round(s floor_f), or -32768 (no floor)     min_v_mem (threshold_low)

The threshold rounds so that the integer rule ``v_int >= thr`` fires exactly when
the float rule does on an exact integer state (``v_int >= s thr_f`` holds for an
integer ``v_int`` iff ``v_int >= ceil(s thr_f)``).  Spike counts between the float
and the integer network then differ only by the rounding of the weights and, after
a subtractive reset, by ``thr - s thr_f`` (< 1 weight unit).

Scales
------
* :func:`rule_scale` (no calibration data): Sinabs' own discretization scale, the
  largest ``s`` that clips nothing: ``min(scale(W, 8), scale(b, 8), scale(thr, 16))``
  with ``scale`` as ``determine_discretization_scale`` (discretize.py 308-338), the
  threshold term over ``[floor, thr]`` where the layer has a floor.
* :func:`lattice_scale`: weights that lie on a lattice ``k * step`` with ``max |k| =
  127`` -- what ``snncli train --qat-bits 8`` makes (``snncli/trainer/qat.py``: one
  scale ``max|w| / 127`` per layer) -- get ``s = 1 / step``: every weight becomes its
  integer ``k`` exactly, and the integer network adds exactly what the float one does.
* :mod:`~snncli.targets.speck.scale_search`: with calibration samples.

Sinabs' ``discretize`` (the path to samna's configuration) leaves a layer unchanged
only if its own scale of the integers is exactly 1 (:func:`sinabs_neutral`): always
with ``min_v_mem = -32768`` (no floor), and with a floor only when a weight, bias or
the threshold reaches its range.  So layers with a floor use scales at or above the
rule's (clipping outliers), never below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snncli.targets.speck import arithmetic as ar
from snncli.targets.speck.structure import Core

LATTICE_TOLERANCE = 1e-3  # |w / step - k| on the lattice, in steps (float32 weights carry ~1e-7)


@dataclass
class Quantized:
    """One core's integers at scale ``scale``; ``clipped``: weights and biases clipped to 8 bits."""

    scale: float
    weight: np.ndarray
    bias: np.ndarray | None
    threshold: int
    min_v_mem: int
    clipped: int

    def neuron(self, core: Core, saturate: bool = True) -> ar.SpeckIAF:
        return ar.SpeckIAF(self.threshold, self.min_v_mem, self.bias, core.reset, multi_spike=True, saturate=saturate)


def quantize_core(core: Core, s: float) -> Quantized:
    """The integers of ``core`` at scale ``s`` (module docstring)."""
    w = np.round(s * core.weight)
    clipped = int(np.count_nonzero((w < ar.WEIGHT_MIN) | (w > ar.WEIGHT_MAX)))
    bias = None
    if core.bias is not None:
        b = np.round(s * core.bias)
        clipped += int(np.count_nonzero((b < ar.BIAS_MIN) | (b > ar.BIAS_MAX)))
        bias = np.clip(b, ar.BIAS_MIN, ar.BIAS_MAX).astype(np.int64)
    theta_f = s * core.threshold
    # 1e-9: s thr = 126.99999999997 (a lattice scale times a threshold of 1.0) is 127
    theta = math.ceil(theta_f * (1 - 1e-9)) if core.fire == ">=" else math.floor(theta_f * (1 + 1e-9)) + 1
    theta = int(np.clip(theta, 1, ar.STATE_MAX))
    floor = ar.DEFAULT_MIN_V_MEM if core.floor is None else int(np.clip(round(s * core.floor), ar.STATE_MIN, theta - 1))
    return Quantized(float(s), np.clip(w, ar.WEIGHT_MIN, ar.WEIGHT_MAX).astype(np.int64), bias, theta, floor, clipped)


def rule_scale(core: Core) -> float:
    """The largest scale that clips nothing: Sinabs' discretization scale of the float layer."""
    terms = [ar.discretization_scale(core.weight, ar.WEIGHT_BITS)]
    if core.bias is not None:
        terms.append(ar.discretization_scale(core.bias, ar.WEIGHT_BITS))
    thresholds = [core.threshold] if core.floor is None else [core.floor, core.threshold]
    terms.append(ar.discretization_scale(thresholds, ar.STATE_BITS))
    s = min(terms)
    return s if math.isfinite(s) else 1.0


def lattice_scale(core: Core) -> float | None:
    """``1 / step`` if the weights are ``k * step`` with integers ``|k| <= 127`` reaching 127
    (quantization-aware training's lattice), and that scale clips no bias; else None."""
    wmax = float(np.abs(core.weight).max(initial=0.0))
    if wmax == 0:
        return None
    s = ar.WEIGHT_MAX / wmax
    k = core.weight * s
    if float(np.abs(k - np.round(k)).max()) > LATTICE_TOLERANCE:
        return None
    if core.bias is not None and float(np.abs(s * core.bias).max()) > ar.WEIGHT_MAX:
        return None
    return s


def sinabs_neutral(q: Quantized) -> bool:
    """Whether Sinabs' ``discretize`` passes these integers unchanged (its scale is exactly 1)."""
    return ar.discretize_scale(q.weight, q.bias, q.threshold, q.min_v_mem) == 1.0
