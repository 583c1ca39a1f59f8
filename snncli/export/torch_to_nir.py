"""SpikingJelly model -> NIR graph.

Built on SpikingJelly's own exporter (``spikingjelly.activation_based.
nir_exchange.to_nir``), extended for what our models use and it lacks:

* our :class:`snncli.trainer.layers.SumPool2d` -> ``nir.SumPool2d``;
* reset by subtraction (SpikingJelly ``v_reset=None``) for IF, LIF,
  ParametricLIF (and CUBALIF): NIR 1.0.8 has no field for it, so the node gets
  ``v_reset = 0`` and ``metadata[RESET_MODE_KEY] = "subtract"``
  (see :mod:`snncli.nirgraph.check`);
* graph-level ``metadata["snncli"]`` (producer, the reading it means, dt, encoder,
  time steps, ...).

Meaning of the exported parameters (SpikingJelly's mapping, checked against
forward Euler with step ``dt`` in ``tests/test_export.py``):

* ``LIFNode(tau, decay_input=False)``: ``v <- v (1 - 1/tau) + x`` becomes
  ``tau_nir = tau * dt``, ``r = tau``, ``v_leak = v_reset``: Euler
  ``v += dt/tau_nir (v_leak - v + r x)`` gives the same update.
  ``decay_input=True`` gives ``r = 1`` (``v += (x - v)/tau``).
* ``ParametricLIFNode``: as LIF with ``tau = 1 / sigmoid(w)``.
* ``IFNode``: ``v <- v + x`` becomes ``r = 1/dt``, so Euler ``v += dt r x``
  is ``v += x`` (the NIR spec reading; Sinabs and Norse write ``r = 1``).

Firing and start: SpikingJelly fires at ``v >= v_threshold`` (NIR's spec: ``v >
v_threshold``) and its neurons start at ``v_reset`` (the spec: 0).  The graph records
this as ``metadata["snncli"]["reading"] = "spikingjelly"``
(:mod:`snncli.nirgraph.readings`), so every target executes what the model computes,
ties on quantized weights included.
"""

from __future__ import annotations

import contextlib
import io

import nir
import nirtorch
import numpy as np
import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron
from spikingjelly.activation_based.nir_exchange.to_nir import _ModuleMapper

from snncli.errors import SnnCliError
from snncli.nirgraph.check import RESET_MODE_KEY, CheckedGraph, check_graph
from snncli.trainer import cpu_neurons
from snncli.trainer.layers import SumPool2d

PRODUCER = "snncli/spikingjelly"
READING = "spikingjelly"  # what our SpikingJelly models mean (snncli.nirgraph.readings)
_NEURONS = (neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode, neuron.CUBALIFNode)
_COMPILED_NEURONS = {cpu_neurons.LIFNode: neuron.LIFNode, cpu_neurons.IFNode: neuron.IFNode}


class _SnnCliMapper(_ModuleMapper):
    """SpikingJelly's module mapper plus SumPool2d and reset by subtraction.

    We subclass SpikingJelly's *private* ``_ModuleMapper`` because SpikingJelly
    2.0.0 has no hook to register extra modules or change how resets are
    mapped; ``export_to_nir`` builds its mapper internally.  The subclass only
    extends ``map_dict`` and ``_hard_reset``; if a SpikingJelly upgrade changes
    them, ``tests/test_export.py`` fails.
    """

    @property
    def map_dict(self) -> dict:
        mapping = dict(super().map_dict)
        mapping[SumPool2d] = self.map_sumpool2d
        for cls in _NEURONS:
            mapping[cls] = _tag_reset(mapping[cls])
        for cls, base in _COMPILED_NEURONS.items():  # SpikingJelly's classes with a CPU fast path
            mapping[cls] = mapping[base]
        return mapping

    @staticmethod
    def _hard_reset(module: neuron.BaseNode) -> float:
        # SpikingJelly raises for v_reset=None (soft reset); we export 0 and tag
        # the node with RESET_MODE_KEY="subtract" in _tag_reset.
        return 0.0 if module.v_reset is None else float(module.v_reset)

    def map_sumpool2d(self, module: SumPool2d) -> nir.SumPool2d:
        return nir.SumPool2d(
            kernel_size=np.array(module.kernel_size),
            stride=np.array(module.stride),
            padding=np.array(module.padding),
        )


def _tag_reset(map_fn):
    def mapped(module: neuron.BaseNode) -> nir.NIRNode:
        node = map_fn(module)
        if module.v_reset is None:
            node.metadata = {**(node.metadata or {}), RESET_MODE_KEY: "subtract"}
        return node

    return mapped


def model_to_nir(
    model: nn.Module,
    example_input: torch.Tensor,
    dt: float = 1e-4,
    metadata: dict | None = None,
) -> CheckedGraph:
    """Convert a SpikingJelly model to a checked NIR graph.

    ``example_input`` has the model's input layout (``[T, B, *shape]`` for
    multi-step models); only its shape matters and the model's state is left as
    it was.  ``metadata`` (encoder, time_steps, dataset, ...) is stored as
    ``graph.metadata["snncli"]`` together with ``producer`` and ``dt``.
    Unsupported modules or configurations raise :class:`SnnCliError`.
    """
    if not dt > 0:
        raise SnnCliError(f"dt must be a positive number of seconds, got {dt!r}")
    meta = {"producer": PRODUCER, "reading": READING, **(metadata or {})}
    if "dt" in meta and meta["dt"] != dt:
        raise SnnCliError(f"metadata says dt={meta['dt']!r} but the export uses dt={dt!r}; pass one value")
    meta["dt"] = float(dt)
    if type(model) in _supported_modules():  # nirtorch returns a bare node for a lone leaf
        model = nn.Sequential(model)
    _check_modules(model)
    try:
        # torch's ShapeProp prints a traceback before re-raising; keep it quiet.
        with contextlib.redirect_stderr(io.StringIO()):
            mapper = _SnnCliMapper(model, example_input, dt=dt)
        graph = nirtorch.torch_to_nir(model, mapper.map_dict, type_check=True)
    except (NotImplementedError, ValueError) as exc:
        raise SnnCliError(f"cannot export the model to NIR: {exc}") from None
    except RuntimeError as exc:  # shape propagation: the input does not fit the model
        reason = " ".join(str(exc.__cause__ or exc).split())[:200]
        raise SnnCliError(
            f"example input of shape {list(example_input.shape)} does not fit the model "
            f"({reason}); multi-step models take [T, B, *shape]"
        ) from None
    graph.metadata = {**(graph.metadata or {}), "snncli": meta}
    return check_graph(graph)


def _supported_modules() -> set[type]:
    # An uninitialised mapper is enough to list its keys (no tracing needed).
    return set(object.__new__(_SnnCliMapper).map_dict) | {nn.Linear}


def _check_modules(model: nn.Module) -> None:
    """Name the first module no mapping covers (nirtorch would raise KeyError)."""
    supported = _supported_modules()

    def walk(module: nn.Module, prefix: str) -> None:
        if type(module) in supported:
            return
        children = list(module.named_children())
        if not children:
            names = sorted({cls.__name__ for cls in supported})
            raise SnnCliError(
                f"cannot export module {prefix or '<root>'!r} ({type(module).__name__}) to NIR; "
                f"supported modules: {', '.join(names)}"
            )
        for name, child in children:
            walk(child, f"{prefix}.{name}" if prefix else name)

    walk(model, "")
