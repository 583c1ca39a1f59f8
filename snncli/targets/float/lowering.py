"""Float lowering: a checked NIR graph -> a float64 Program, under a reading, step dt.

The reading (:mod:`snncli.nirgraph.readings`) says what each producer means by a node;
this module turns a node and the reading into the coefficients of one step of the
``float_lif`` model (:class:`~snncli.targets.float.neuron.FloatLIF`)::

    tau_s = tau | tau/dt | tau*dt     (reading.tau: seconds | dt*seconds | steps)
    a     = 1 - dt/tau_s | exp(-dt/tau_s)                     (reading.decay)
    LIF, LI:   v_decay = a, v_bias = (1 - a) v_leak,
               v_gain = r dt/tau_s ("euler") | r (1 - a) ("norm") | 1 ("one")
    CubaLIF:   the same with tau_mem, and i_decay = b (decay of tau_syn),
               i_gain = w_in dt/tau_syn_s ("euler") | w_in ("one") | b w_in ("decay")
    IF:        v_decay = 1, v_gain = dt r (the spec) | r (per step), v_bias = 0

The firing rule, spikes per step, reset, floor and initial state come from the reading;
``reset = "node"`` keeps the node's own (``v_reset``, or subtraction where its
``metadata["reset_mode"]`` says so).
"""

from __future__ import annotations

from dataclasses import replace

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
from snncli.nirgraph.check import CheckedGraph, GraphNode, conv1d_as_2d, conv_padding
from snncli.nirgraph.fingerprints import loop_nodes
from snncli.nirgraph.readings import Reading
from snncli.nirgraph.readings import reading as get_reading
from snncli.targets.float.neuron import FloatLIF


def lower_float(graph: CheckedGraph, dt: float, reading: str, target: str = "float") -> Program:
    """Lower ``graph`` to a float64 Program named after ``target``."""
    rules = get_reading(reading)
    looped = loop_nodes(graph)
    layers = [
        Layer(g.name, _op(g, dt, rules, g.name in looped), *_shapes(g), g.inputs, g.delayed_inputs) for g in graph.nodes
    ]
    return Program(target=target, dt=dt, layers=delay_before_biased_synapses(layers), reading=reading)


def delay_before_biased_synapses(layers: list[Layer]) -> list[Layer]:
    """Put the delay of a recurrent edge that leaves a synapse with a bias before that synapse.

    A recurrent Affine carries ``W s[t-1] + b``; at step 0 that is ``b`` (``s[-1] = 0``, as
    snnTorch's RLeaky computes ``recurrent(spk)`` from ``spk = 0``).  A delayed edge reads
    nothing at step 0, so delaying the synapse's *output* would drop ``b`` there; delaying
    its *input* keeps it (the synapse then runs before the layers it feeds).  Used only
    where every consumer of the synapse reads it delayed.
    """
    order = list(layers)
    for syn in [layer for layer in layers if layer.kind in ("dense", "conv2d")]:
        users = [layer for layer in order if syn.name in (*layer.inputs, *layer.delayed_inputs)]
        bias = getattr(syn.op, "bias", None)
        if (
            bias is None
            or not np.any(bias)
            or syn.delayed_inputs
            or not users
            or any(syn.name in u.inputs for u in users)
        ):
            continue
        order.remove(syn)
        moved = replace(syn, inputs=(), delayed_inputs=syn.inputs)
        for user in users:
            i = order.index(user)
            order[i] = replace(
                user,
                inputs=(*user.inputs, syn.name),
                delayed_inputs=tuple(s for s in user.delayed_inputs if s != syn.name),
            )
        order.insert(min(order.index(next(o for o in order if o.name == u.name)) for u in users), moved)
    return order


def _f64(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _bias(node, channels: int) -> np.ndarray | None:
    if node.bias is None or not np.any(np.asarray(node.bias) != 0):
        return None
    return np.broadcast_to(_f64(node.bias), (channels,)).copy()


def _shapes(g: GraphNode) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A Conv1d runs as a Conv2d over ``[C, 1, L]`` (hwsim reshapes between layers of equal size)."""
    if g.kind == "Conv1d":
        return (g.in_shape[0], 1, g.in_shape[1]), (g.out_shape[0], 1, g.out_shape[1])
    return g.in_shape, g.out_shape


def _op(g: GraphNode, dt: float, rules: Reading, looped: bool):
    node = g.node
    if isinstance(node, nir.Input):
        return Input()
    if isinstance(node, nir.Output):
        return Output()
    if isinstance(node, nir.Affine):
        return Dense(_f64(node.weight), _f64(node.bias))
    if isinstance(node, nir.Linear):
        return Dense(_f64(node.weight))
    if isinstance(node, nir.Conv1d):
        _kernel, stride, padding, dilation = conv1d_as_2d(node)
        return Conv2d(
            _f64(node.weight)[:, :, None, :],
            _bias(node, node.weight.shape[0]),
            stride,
            padding,
            dilation,
            int(node.groups),
        )
    if isinstance(node, nir.Conv2d):
        weight = _f64(node.weight)
        return Conv2d(
            weight,
            _bias(node, weight.shape[0]),
            pair(node.stride, "stride", 1),
            conv_padding(node, weight.shape[2:]),
            pair(node.dilation, "dilation", 1),
            int(node.groups),
        )
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        cls = SumPool2d if isinstance(node, nir.SumPool2d) else AvgPool2d
        return cls(node.kernel_size, node.stride, node.padding)
    if isinstance(node, nir.Flatten):
        return Flatten()
    if isinstance(node, nir.Scale):
        return Scale(g.param("scale"))
    if isinstance(node, nir.Threshold):
        return Threshold(g.param("threshold"))
    return Neuron(neuron_record(g, dt, rules, looped))


def tau_seconds(tau: np.ndarray, dt: float, rules: Reading) -> np.ndarray:
    """A written time constant in seconds under ``rules`` (module docstring)."""
    return {"seconds": tau, "dt*seconds": tau / dt, "steps": tau * dt}[rules.tau]


def decay(tau: np.ndarray, dt: float, rules: Reading) -> np.ndarray:
    """The per-step decay of a written time constant: ``1 - dt/tau_s`` or ``exp(-dt/tau_s)``."""
    ratio = dt / tau_seconds(tau, dt, rules)
    return 1.0 - ratio if rules.decay == "euler" else np.exp(-ratio)


def neuron_record(g: GraphNode, dt: float, rules: Reading, looped: bool = False) -> FloatLIF:
    """The ``float_lif`` record of neuron node ``g`` under ``rules`` (``looped``: the node is in a recurrent loop)."""
    node, shape = g.node, g.out_shape
    p: dict = {"nir_type": g.kind}
    if isinstance(node, nir.IF):
        r = g.param("r")
        p.update(v_decay=np.ones(shape), v_gain=r if rules.per_step else dt * r, v_bias=np.zeros(shape))
    else:
        tau = g.param("tau_mem" if hasattr(node, "tau_mem") else "tau")
        a = decay(tau, dt, rules)
        gain = rules.li_gain if isinstance(node, (nir.LI, nir.CubaLI)) else rules.gain
        r = g.param("r")
        p.update(
            v_decay=a,
            v_bias=(1.0 - a) * g.param("v_leak"),
            v_gain={"euler": r * dt / tau_seconds(tau, dt, rules), "norm": r * (1.0 - a), "one": np.ones(shape)}[gain],
        )
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        tau_syn = g.param("tau_syn")
        b = decay(tau_syn, dt, rules)
        w_in = g.param("w_in")
        p.update(
            i_decay=b,
            i_gain={"euler": w_in * dt / tau_seconds(tau_syn, dt, rules), "one": w_in, "decay": b * w_in}[
                rules.current
            ],
        )
    if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)):
        p.update(_spiking(g, rules, looped))
    if rules.start != "zero" and getattr(node, rules.start, None) is not None:
        p["v_init"] = g.param(rules.start)
    return FloatLIF(**p)


def _spiking(g: GraphNode, rules: Reading, looped: bool) -> dict:
    """Threshold, reset, firing rule, spikes per step and floor of a spiking node."""
    threshold = g.param("v_threshold")
    reset = {
        "node": g.reset_mode(),
        "subtract": "subtract",
        "late-subtract": "late-subtract",
        "stale-subtract": "stale-subtract",
        "late-zero": "late-zero",
    }[rules.reset]
    v_reset = g.param("v_reset") if g.node.v_reset is not None else np.zeros(g.out_shape)
    if reset == "late-zero" and isinstance(g.node, nir.LIF) and not looped:
        reset, v_reset = "zero", np.zeros(g.out_shape)  # snnTorch's Leaky: mem = beta (1 - s) mem + x (Reading)
    return dict(
        v_threshold=threshold,
        v_reset=v_reset,
        reset=reset,
        fire=rules.fire,
        multi_spike=rules.multi_spike,
        v_min=-threshold if rules.floor else None,
    )
