"""Float lowering: a checked NIR graph -> a float64 Program (NIR equations, forward Euler, step dt).

Readings of IF (DESIGN.md, "Semantics"): producers disagree on what an IF node
means, so the reading is explicit.

* ``nir`` (default, the spec): ``dv/dt = R I`` -> ``v += dt * r * I``.  This is what
  SpikingJelly means (it writes ``r = 1/dt``).
* ``sinabs``: ``v += r * I`` per step, reset by subtraction, state floored at
  ``-v_threshold`` (how Sinabs reads its own IF back, whatever ``v_reset`` says).
* ``norse``: ``v += r * I`` per step, reset to ``v_reset``.

IF nodes whose parameters only make sense under a per-step reading (``r * dt``
tiny, e.g. ``r = 1``) are named in ``program.warnings`` instead of silently guessed.
"""

from __future__ import annotations

import nir
import numpy as np

from snncli.core.program import (
    AvgPool2d,
    Conv2d,
    Dense,
    Flatten,
    Input,
    Layer,
    Neuron,
    Output,
    Program,
    Scale,
    SumPool2d,
    Threshold,
    pair,
)
from snncli.errors import SnnCliError
from snncli.nirgraph.check import CheckedGraph, GraphNode, conv_padding
from snncli.nirgraph.readings import READINGS
from snncli.targets.float.neuron import FloatLIF



def lower_float(graph: CheckedGraph, dt: float, reading: str, target: str = "float") -> Program:
    """Lower ``graph`` to a float64 Program named after ``target``."""
    if reading not in READINGS:
        raise SnnCliError(f"unknown reading {reading!r}; choose one of {', '.join(READINGS)}")
    suspects: list[str] = []
    layers = [Layer(g.name, _op(g, dt, reading, suspects), g.in_shape, g.out_shape, g.inputs, g.delayed_inputs)
              for g in graph.nodes]  # fmt: skip
    return Program(target=target, dt=dt, layers=layers, reading=reading, warnings=[_merge(suspects)] if suspects else [])


def _f64(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _op(g: GraphNode, dt: float, reading: str, suspects: list[str]):
    node = g.node
    if isinstance(node, nir.Input):
        return Input()
    if isinstance(node, nir.Output):
        return Output()
    if isinstance(node, nir.Affine):
        return Dense(_f64(node.weight), _f64(node.bias))
    if isinstance(node, nir.Linear):
        return Dense(_f64(node.weight))
    if isinstance(node, nir.Conv2d):
        weight = _f64(node.weight)
        bias = None
        if node.bias is not None and np.any(np.asarray(node.bias) != 0):
            bias = np.broadcast_to(_f64(node.bias), (weight.shape[0],)).copy()
        return Conv2d(weight, bias, pair(node.stride, "stride", 1), conv_padding(node, weight.shape[2:]),
                      pair(node.dilation, "dilation", 1), int(node.groups))
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        cls = SumPool2d if isinstance(node, nir.SumPool2d) else AvgPool2d
        return cls(node.kernel_size, node.stride, node.padding)
    if isinstance(node, nir.Flatten):
        return Flatten()
    if isinstance(node, nir.Scale):
        return Scale(g.param("scale"))
    if isinstance(node, nir.Threshold):
        return Threshold(g.param("threshold"))
    return Neuron(_neuron(g, dt, reading, suspects))


def _neuron(g: GraphNode, dt: float, reading: str, suspects: list[str]) -> FloatLIF:
    """Discrete-time coefficients of the ``float_lif`` model (see FloatLIF)."""
    node, shape = g.node, g.out_shape
    p: dict = {"nir_type": g.kind}
    if isinstance(node, nir.IF):
        r = g.param("r")
        per_step = reading != "nir"
        p.update(v_decay=np.ones(shape), v_gain=r if per_step else dt * r, v_bias=np.zeros(shape))
        if reading == "nir" and np.all(dt * r < 1e-2):
            suspects.append(f"{g.name!r} (r={_summary(r)}, so dt*r={_summary(dt * r)})")
    else:
        a = dt / g.param("tau_mem" if hasattr(node, "tau_mem") else "tau")
        p.update(v_decay=1.0 - a, v_gain=a * g.param("r"), v_bias=a * g.param("v_leak"))
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        b = dt / g.param("tau_syn")
        p.update(i_decay=1.0 - b, i_gain=b * g.param("w_in"))
    if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)):
        p["v_threshold"] = g.param("v_threshold")
        p["v_reset"] = g.param("v_reset") if node.v_reset is not None else np.zeros(shape)
        p["reset"] = g.reset_mode()
        if reading == "sinabs" and isinstance(node, nir.IF):
            p["reset"] = "subtract"
            p["v_min"] = -p["v_threshold"]
    return FloatLIF(**p)


def _merge(suspects: list[str]) -> str:
    return (
        f"IF nodes {', '.join(suspects)}: under the NIR spec (v += dt*r*I) each input moves v by only dt*r of "
        "itself. That looks like a Sinabs or Norse export, which write r=1 to mean v += I per step; if so, "
        "pass --reading sinabs (Sinabs: also subtractive reset, floor at -threshold) or --reading norse."
    )


def _summary(arr: np.ndarray) -> str:
    lo, hi = float(np.min(arr)), float(np.max(arr))
    return f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"
