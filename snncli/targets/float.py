"""The ``float`` target: NIR semantics in float64, the ground truth for every chip.

``lower(graph, dt, reading)`` turns a NIR graph into a Program whose neuron
layers use the ``float_lif`` model of :mod:`snncli.hwsim.neurons` (forward Euler
with step ``dt``).  It has no chip limits, so ``write`` saves the Program itself
and there is no vendor ``reference``.

Readings of IF (DESIGN.md, "Semantics"): producers disagree on what an IF node
means, so the reading is explicit.

* ``nir`` (default, the spec): ``dv/dt = R I`` -> ``v += dt * r * I``.  This is
  what SpikingJelly means (it writes ``r = 1/dt``).
* ``sinabs``: ``v += r * I`` per step, reset by subtraction, state floored at
  ``-v_threshold`` (how Sinabs reads its own IF back, whatever ``v_reset`` says).
* ``norse``: ``v += r * I`` per step, reset to ``v_reset``.

``lower`` also looks at IF nodes whose parameters only make sense under a
per-step reading (``r * dt`` tiny, e.g. ``r = 1``) and says so in
``program.metadata["warnings"]`` instead of silently guessing.
"""

from __future__ import annotations

import nir
import numpy as np

from snncli.errors import SnnCliError
from snncli.export.nir_io import reset_mode
from snncli.targets.graph import GraphNode, conv_pair, conv_padding, ordered_nodes, param
from snncli.targets.program import Layer, Program

NAME = "float"
DEFAULT_DT = 1e-4
READINGS = ("nir", "sinabs", "norse")


def lower(graph: nir.NIRGraph, dt: float = DEFAULT_DT, reading: str = "nir") -> Program:
    """Lower ``graph`` to a float64 Program (NIR equations, forward Euler, step ``dt``)."""
    if reading not in READINGS:
        raise SnnCliError(f"unknown reading {reading!r}; choose one of {', '.join(READINGS)}")
    if not dt > 0:
        raise SnnCliError(f"dt must be positive, got {dt}")
    suspects: list[str] = []
    layers = [_lower_node(g, dt, reading, suspects) for g in ordered_nodes(graph)]
    warnings = [_merge(suspects)] if suspects else []
    return Program(
        target=NAME,
        dt=dt,
        layers=layers,
        metadata={"reading": reading, "warnings": warnings},
    )


def _layer(g: GraphNode, op: str, params=None, neuron=None) -> Layer:
    return Layer(
        name=g.name,
        op=op,
        in_shape=g.in_shape,
        out_shape=g.out_shape,
        inputs=list(g.inputs),
        delayed_inputs=list(g.delayed_inputs),
        params=params or {},
        neuron=neuron,
    )


def _f64(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _lower_node(g: GraphNode, dt: float, reading: str, warnings: list[str]) -> Layer:
    node = g.node
    if isinstance(node, nir.Input):
        return _layer(g, "input")
    if isinstance(node, nir.Output):
        return _layer(g, "output")
    if isinstance(node, nir.Affine):
        return _layer(g, "dense", {"weight": _f64(node.weight), "bias": _f64(node.bias)})
    if isinstance(node, nir.Linear):
        return _layer(g, "dense", {"weight": _f64(node.weight)})
    if isinstance(node, nir.Conv2d):
        weight = _f64(node.weight)
        params = {
            "weight": weight,
            "stride": conv_pair(node.stride),
            "padding": conv_padding(node, weight.shape[2:]),
            "dilation": conv_pair(node.dilation),
            "groups": int(node.groups),
        }
        if node.bias is not None and np.any(np.asarray(node.bias) != 0):
            params["bias"] = _f64(node.bias)
        return _layer(g, "conv2d", params)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        op = "sumpool2d" if isinstance(node, nir.SumPool2d) else "avgpool2d"
        params = {
            "kernel_size": conv_pair(node.kernel_size),
            "stride": conv_pair(node.stride),
            "padding": conv_pair(node.padding),
        }
        return _layer(g, op, params)
    if isinstance(node, nir.Flatten):
        return _layer(g, "flatten")
    if isinstance(node, nir.Scale):
        return _layer(g, "scale", {"scale": param(node, "scale", g.in_shape)})
    if isinstance(node, nir.Threshold):
        return _layer(g, "threshold", {"threshold": param(node, "threshold", g.in_shape)})
    return _layer(g, "neuron", _neuron_params(g, dt, reading, warnings), neuron="float_lif")


def _neuron_params(g: GraphNode, dt: float, reading: str, warnings: list[str]) -> dict:
    """Discrete-time coefficients of the ``float_lif`` model (see hwsim.neurons)."""
    node, shape = g.node, g.out_shape
    p = {"nir_type": type(node).__name__, "spiking": not isinstance(node, (nir.LI, nir.CubaLI))}
    if isinstance(node, nir.IF):
        r = param(node, "r", shape)
        per_step = reading != "nir"
        p.update(v_decay=np.ones(shape), v_gain=r if per_step else dt * r, v_bias=np.zeros(shape))
        if reading == "nir" and np.all(dt * r < 1e-2):
            warnings.append(_per_step_warning(g.name, r, dt))
    else:
        tau = param(node, "tau_mem" if hasattr(node, "tau_mem") else "tau", shape)
        a = dt / tau
        p.update(v_decay=1.0 - a, v_gain=a * param(node, "r", shape), v_bias=a * param(node, "v_leak", shape))
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        b = dt / param(node, "tau_syn", shape)
        p.update(has_current=True, i_decay=1.0 - b, i_gain=b * param(node, "w_in", shape))
    if p["spiking"]:
        p["v_threshold"] = param(node, "v_threshold", shape)
        p["v_reset"] = param(node, "v_reset", shape) if node.v_reset is not None else np.zeros(shape)
        p["reset_mode"] = reset_mode(node, g.name)
        if reading == "sinabs" and isinstance(node, nir.IF):
            p["reset_mode"] = "subtract"
            p["v_min"] = -p["v_threshold"]
    return p


def _per_step_warning(name: str, r: np.ndarray, dt: float) -> str:
    return f"{name!r} (r={_summary(r)}, so dt*r={_summary(dt * r)})"


def _merge(suspects: list[str]) -> str:
    return (
        f"IF nodes {', '.join(suspects)}: under the NIR spec (v += dt*r*I) each input moves v by only dt*r of "
        "itself. That looks like a Sinabs or Norse export, which write r=1 to mean v += I per step; if so, "
        "pass --reading sinabs (Sinabs: also subtractive reset, floor at -threshold) or --reading norse."
    )


def _summary(arr: np.ndarray) -> str:
    lo, hi = float(np.min(arr)), float(np.max(arr))
    return f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"
