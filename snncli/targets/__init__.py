"""Targets: chip families that lower a checked NIR graph to a Program (see :mod:`snncli.targets.base`).

Importing this package registers the built-in targets: ``float`` and ``nir`` (the
NIR equations in float64), ``loihi`` (Intel Loihi 2 via Lava / lava-dl netx), ``onnx``
(the float network as a one-step ONNX model, run by ONNX Runtime) and ``speck``
(SynSense Speck / DynapCNN, Sinabs' arithmetic).
"""

from snncli.targets import float as _float  # noqa: F401  (registers float, nir)
from snncli.targets import loihi as _loihi  # noqa: F401  (registers loihi)
from snncli.targets import onnx as _onnx  # noqa: F401  (registers onnx)
from snncli.targets import speck as _speck  # noqa: F401  (registers speck)
from snncli.targets.base import (
    TARGETS,
    Target,
    default_target,
    get_target,
    lower,
    make_options,
    register,
    source_of,
)

__all__ = ["TARGETS", "Target", "default_target", "get_target", "lower", "make_options", "register", "source_of"]
