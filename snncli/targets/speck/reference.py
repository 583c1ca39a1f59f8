"""The vendor-stack oracle for Speck: Sinabs' own DynapCNN network, run in torch.

Given an integer network (a list of :class:`~snncli.targets.speck.network.IntegerLayer`)
and input event counts ``[T, N, C, H, W]``, :func:`run_reference` builds the
equivalent Sinabs network (``nn.Sequential`` of ``Conv2d`` / ``Flatten`` + ``Linear``,
``IAFSqueeze`` and ``SumPool2d``), wraps it in Sinabs' ``DynapcnnNetwork`` with
``discretize=True`` -- the code path that prepares a chip configuration -- runs it
on CPU and returns every layer's spikes per step.  :func:`sinabs_mapping` returns
Sinabs' own memory figures and core assignment for comparison with
:mod:`~snncli.targets.speck.mapping`.

Sinabs is optional (``scripts/install_sinabs.sh``) and imported lazily, here only.

samna, and what is stubbed
--------------------------
``sinabs.backend.dynapcnn`` imports SynSense's ``samna`` at module level, and
every ``samna`` on PyPI is a stub that runs pip against a vendor index when
imported: snncli never imports it.  To import the backend without it,
:func:`import_dynapcnn` registers, *only for the duration of that import*, stand-in
modules in ``sys.modules`` holding exactly the names the backend reads at import
time, and removes them afterwards (the imported Sinabs modules keep their
reference to the stand-ins):

* ``samna`` (package) with ``samna.speck2e``, ``samna.speck2f``, ``samna.device``:
  ``import samna`` in ``config_builder.py`` 4, ``dynapcnn_network.py`` 6,
  ``io.py`` 8, ``dynapcnn_visualizer.py`` 5, ``chips/speck2e.py`` 3, ``speck2f.py`` 3;
* ``samna.speck2e.configuration.SpeckConfiguration`` and
  ``samna.speck2f.configuration.SpeckConfiguration``: ``from ... import`` in
  ``chips/speck2e.py`` 4 and ``chips/speck2f.py`` 4;
* ``samna.device.DeviceInfo``: an annotation evaluated when ``io.py`` 149 defines
  ``is_device_type``;
* ``samnagui`` (empty): ``import samnagui`` in ``io.py`` 9.

Everything else on the stand-ins -- constructing a ``SpeckConfiguration``, any
other ``samna.*`` attribute -- raises :class:`SamnaUnavailable`, so the paths that
really need samna (``make_config``, ``to("speck2fdevkit")``, the visualizer, the
I/O helpers) fail loudly with one line instead of doing anything.  What runs is
pure torch: graph extraction, ``DynapcnnLayer`` construction with
``discretize_conv_spike_``, the forward pass, ``memory_summary`` and the core
assignment (``ConfigBuilder.map_layers_to_cores`` -> ``get_valid_mapping``, which
needs only ``get_constraints``).  If a real ``samna`` is already imported in the
process, it is used and nothing is stubbed.

Discretization
--------------
``DynapcnnLayer(discretize=True)`` multiplies each layer by ``s = min(scale(W, 8),
scale(b, 8), scale([min_v_mem, theta], 16))`` and rounds (see
:mod:`~snncli.targets.speck.arithmetic`).  Found: an integer layer comes out
unchanged exactly when ``s == 1`` -- always for an in-range layer whose floor is
Sinabs' default ``min_v_mem = -32768``, and otherwise only when its weights (or
biases) reach the 8-bit limit.  Any other ``s`` scales and rounds the integers, and
the Sinabs network is no longer the integer network.  :func:`run_reference`
therefore compares every discretized layer with its integer original: unchanged,
or an exact common multiple (spikes are then identical; states are divided back)
is accepted; anything else raises a one-line error naming the layer and ``s``.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from snncli.errors import SnnCliError
from snncli.targets.speck.arithmetic import discretize_scale
from snncli.targets.speck.layer import SpeckLayer
from snncli.targets.speck.network import IntegerLayer, check_chain, input_counts


class SamnaUnavailable(SnnCliError, AttributeError):
    """A samna feature was used through snncli's import stand-in (the real samna is not installed)."""


_NO_SAMNA = (
    "this needs SynSense's samna, which snncli does not install (PyPI's samna is a stub); snncli only "
    "imports sinabs.backend.dynapcnn through a stand-in for it"
)


def _stub(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name, f"snncli stand-in for {name} (snncli.targets.speck.reference)")

    def __getattr__(attr):  # PEP 562: only names not set below reach here
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise SamnaUnavailable(f"{name}.{attr}: {_NO_SAMNA}")

    mod.__getattr__ = __getattr__
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


def _unavailable_class(qualname: str) -> type:
    def __init__(self, *args, **kwargs):
        raise SamnaUnavailable(f"{qualname}(): {_NO_SAMNA}")

    return type(qualname.rsplit(".", 1)[-1], (), {"__init__": __init__, "__module__": qualname.rsplit(".", 1)[0]})


def _samna_stand_ins() -> dict[str, types.ModuleType]:
    """The modules ``sinabs.backend.dynapcnn`` reads at import time (module docstring), nothing more."""
    mods: dict[str, types.ModuleType] = {}
    for chip in ("speck2e", "speck2f"):
        cfg = _stub(
            f"samna.{chip}.configuration",
            SpeckConfiguration=_unavailable_class(f"samna.{chip}.configuration.SpeckConfiguration"),
        )
        mods[cfg.__name__] = cfg
        mods[f"samna.{chip}"] = _stub(f"samna.{chip}", configuration=cfg)
    mods["samna.device"] = _stub("samna.device", DeviceInfo=_unavailable_class("samna.device.DeviceInfo"))
    mods["samna"] = _stub("samna", speck2e=mods["samna.speck2e"], speck2f=mods["samna.speck2f"],
                          device=mods["samna.device"])  # fmt: skip
    mods["samnagui"] = _stub("samnagui")
    return mods


def import_dynapcnn():
    """``sinabs.backend.dynapcnn``, imported without samna (module docstring); SnnCliError if Sinabs is missing."""
    name = "sinabs.backend.dynapcnn"
    if name in sys.modules:
        return sys.modules[name]
    try:
        import sinabs  # noqa: F401
    except ImportError as exc:
        raise SnnCliError(
            f"Sinabs is not installed ({exc}); the Speck reference needs it: bash scripts/install_sinabs.sh"
        ) from None
    if "samna" in sys.modules:  # a real samna, imported by the user: use it
        return importlib.import_module(name)
    added = {k: m for k, m in _samna_stand_ins().items() if k not in sys.modules}
    sys.modules.update(added)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise SnnCliError(f"sinabs.backend.dynapcnn does not import here: {exc}") from None
    finally:
        for key, mod in added.items():
            if sys.modules.get(key) is mod:
                del sys.modules[key]


# ------------------------------------------------------------ network build
def _torch():
    import torch

    return torch


def sinabs_sequential(layers: Sequence[IntegerLayer], batch: int = 1):
    """The plain Sinabs network for ``layers``: per layer ``[Flatten,] Conv2d | Linear``,
    ``IAFSqueeze`` (MultiSpike or SingleSpike, MembraneSubtract or MembraneReset, the layer's
    threshold and ``min_v_mem``), ``[SumPool2d]``; float32 parameters equal to the integers."""
    torch = _torch()
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike, SingleSpike
    from torch import nn

    check_chain(layers)
    modules: list = []
    flat = False  # is the running activation a vector (after a linear layer)?
    for layer in layers:
        w = torch.tensor(layer.weight, dtype=torch.float32)
        b = None if layer.bias is None else torch.tensor(layer.bias, dtype=torch.float32)
        if layer.kind == "linear":
            if not flat:
                modules.append(nn.Flatten())
            syn = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
            flat = True
        else:
            syn = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=layer.stride,
                            padding=layer.padding, bias=b is not None)  # fmt: skip
        with torch.no_grad():
            syn.weight.copy_(w)
            if b is not None:
                syn.bias.copy_(b)
        modules.append(syn)
        modules.append(
            sl.IAFSqueeze(
                batch_size=batch,
                spike_threshold=torch.tensor(float(layer.threshold)),
                min_v_mem=float(layer.min_v_mem),
                spike_fn=MultiSpike if layer.multi_spike else SingleSpike,
                reset_fn=MembraneSubtract() if layer.reset == "subtract" else MembraneReset(),
            )
        )
        if layer.pool != (1, 1):
            modules.append(sl.SumPool2d(layer.pool[0]))
    return nn.Sequential(*modules)


def dynapcnn_network(layers: Sequence[IntegerLayer], batch: int = 1, discretize: bool = True):
    """Sinabs' ``DynapcnnNetwork`` for ``layers`` (``discretize=True``: the chip-configuration path).
    Its ``dynapcnn_layers[i]`` is ``layers[i]`` (checked)."""
    dyn = import_dynapcnn()
    seq = sinabs_sequential(layers, batch)
    try:
        net = dyn.DynapcnnNetwork(seq, input_shape=tuple(layers[0].in_shape), batch_size=batch, discretize=discretize)
    except SamnaUnavailable:
        raise
    except Exception as exc:  # Sinabs' own refusals (InvalidGraphStructure, ValueError, ...)
        raise SnnCliError(f"Sinabs' DynapcnnNetwork refused the network: {type(exc).__name__}: {exc}") from None
    dls = net.dynapcnn_layers
    if sorted(dls) != list(range(len(layers))):
        raise SnnCliError(f"internal: Sinabs made DynapCNN layers {sorted(dls)} from {len(layers)} layers")
    for i, layer in enumerate(layers):
        got = (dls[i].conv.out_channels, tuple(dls[i].in_shape))
        if got != (layer.weight.shape[0], tuple(layer.in_shape)):
            raise SnnCliError(f"internal: Sinabs' DynapCNN layer {i} is {got}, expected layer {layer.name!r}")
    return net


def _discretized_scale(layer: IntegerLayer, dl) -> float:
    """The factor Sinabs' discretize applied to ``layer`` (1.0: unchanged); SnnCliError if not a common multiple."""
    torch = _torch()
    thr = float(dl.spk.spike_threshold)
    s = thr / layer.threshold
    pairs = [
        (dl.conv.weight.detach(), torch.tensor(layer.conv_weight, dtype=torch.float32)),
        (dl.spk.min_v_mem.detach() if torch.is_tensor(dl.spk.min_v_mem) else torch.tensor(float(dl.spk.min_v_mem)),
         torch.tensor(float(layer.min_v_mem))),
        (torch.tensor(thr), torch.tensor(float(layer.threshold))),
    ]  # fmt: skip
    if layer.bias is not None:
        pairs.append((dl.conv.bias.detach(), torch.tensor(layer.bias, dtype=torch.float32)))
    if all(torch.equal(got.reshape(-1), (want * s).reshape(-1)) for got, want in pairs):
        return s
    predicted = discretize_scale(layer.conv_weight, layer.bias, layer.threshold, layer.min_v_mem)
    raise SnnCliError(
        f"layer {layer.name!r}: Sinabs' discretize scales it by {predicted:.6g} and rounds, so the Sinabs network "
        f"is not this integer layer; make the scale 1 (min_v_mem = -32768, or weights reaching 127 or -128)"
    )


@dataclass
class ReferenceRun:
    """Sinabs' result: per layer (by name) spike counts ``[T, N, *shape]`` (int64), membrane states
    after each step (if recorded, in the integer layer's units) and the discretize factor applied."""

    spikes: dict[str, np.ndarray]
    v: dict[str, np.ndarray] | None
    discretize_scale: dict[str, float]


def run_reference(layers: Sequence[IntegerLayer], x, record_v: bool = False) -> ReferenceRun:
    """Run ``layers`` on input counts ``x`` [T, N, C, H, W] in Sinabs' DynapcnnNetwork (discretize=True)."""
    torch = _torch()
    counts = input_counts(x, layers[0])
    t_steps, batch = counts.shape[:2]
    net = dynapcnn_network(layers, batch=batch)
    dls = net.dynapcnn_layers
    scales = {layer.name: _discretized_scale(layer, dls[i]) for i, layer in enumerate(layers)}
    captured: dict[int, list] = {i: [] for i in range(len(layers))}
    hooks = []
    for i in range(len(layers)):
        spk = dls[i].spk
        spk.record_states = record_v
        spk.reset_states()
        hooks.append(spk.register_forward_hook(lambda m, inp, out, i=i: captured[i].append(out.detach())))
    # IAFSqueeze reads its (N*T) input batch-major: sample n's steps are rows n*T .. n*T + T-1
    inp = torch.tensor(counts, dtype=torch.float32).transpose(0, 1).reshape(batch * t_steps, *layers[0].in_shape)
    try:
        with torch.no_grad():
            net(inp, return_complete=True)
    finally:
        for h in hooks:
            h.remove()
    spikes, v = {}, ({} if record_v else None)
    for i, layer in enumerate(layers):
        (out,) = captured[i]
        arr = out.reshape(batch, t_steps, *layer.neuron_shape).transpose(0, 1).numpy()
        if not np.array_equal(arr, np.round(arr)):
            raise SnnCliError(f"internal: Sinabs layer {layer.name!r} produced non-integer spike counts")
        spikes[layer.name] = arr.astype(np.int64)
        if record_v:
            rec = dls[i].spk.recordings["v_mem"].detach() / scales[layer.name]
            v[layer.name] = rec.reshape(batch, t_steps, *layer.neuron_shape).transpose(0, 1).numpy().astype(np.int64)
    return ReferenceRun(spikes, v, scales)


# ----------------------------------------------------------------- mapping
def _placeholder(spec: SpeckLayer) -> IntegerLayer:
    """An IntegerLayer with ``spec``'s shapes (weights 1, threshold 1) for Sinabs' memory figures."""
    if spec.kind == "linear":
        w = np.ones((spec.out_channels, int(np.prod(spec.in_shape))), dtype=np.int64)
        return IntegerLayer(spec.name, w, spec.in_shape, 1, np.zeros(spec.out_channels) if spec.has_bias else None)
    w = np.ones((spec.out_channels, spec.in_shape[0], *spec.kernel_size), dtype=np.int64)
    bias = np.zeros(spec.out_channels) if spec.has_bias else None
    return IntegerLayer(spec.name, w, spec.in_shape, 1, bias, stride=spec.stride, padding=spec.padding, pool=spec.pool)


def sinabs_mapping(layers: Sequence[IntegerLayer | SpeckLayer], readout: bool = False) -> dict:
    """Sinabs' own figures: ``{"memory": {name: {"kernel", "neuron", "bias"}}, "cores": {name: core} | None,
    "error": str | None}`` from ``DynapcnnNetwork.memory_summary()`` and
    ``Speck2FConfigBuilder.map_layers_to_cores`` (Speck 2e gives the same: one constraint table).
    ``readout``: after ``utils.extend_readout_layer`` (the last layer widened for the readout errata)."""
    ints = [layer if isinstance(layer, IntegerLayer) else _placeholder(layer) for layer in layers]
    net = dynapcnn_network(ints, batch=1)
    if readout:
        from sinabs.backend.dynapcnn.utils import extend_readout_layer

        net = extend_readout_layer(net)
    summary = net.memory_summary()
    memory = {
        layer.name: {key: int(summary[key][i]) for key in ("kernel", "neuron", "bias")} for i, layer in enumerate(ints)
    }
    from sinabs.backend.dynapcnn.chips.speck2e import Speck2EConfigBuilder
    from sinabs.backend.dynapcnn.chips.speck2f import Speck2FConfigBuilder

    cores, error = None, None
    try:
        by_index = Speck2FConfigBuilder.map_layers_to_cores(net.dynapcnn_layers)
        if Speck2EConfigBuilder.map_layers_to_cores(net.dynapcnn_layers) != by_index:
            raise SnnCliError("internal: Sinabs maps the network differently on Speck 2e and 2f")
        cores = {layer.name: int(by_index[i]) for i, layer in enumerate(ints)}
    except ValueError as exc:  # mapping.py 226-230: "No valid mapping found."
        error = str(exc)
    return {"memory": memory, "cores": cores, "error": error}


def sinabs_problem() -> str | None:
    """None if Sinabs' DynapCNN backend imports here (without samna), else one line why not (``snncli doctor``)."""
    try:
        import_dynapcnn()
    except SnnCliError as exc:
        return str(exc)
    return None
