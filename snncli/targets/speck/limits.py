"""Speck (DynapCNN; Speck 2e/2f) chip limits as data, each with its source, and the checks.

Sources (Sinabs 3.1.3, paths relative to the installed ``sinabs/``, lines as in git
tag v3.1.3 of github.com/synsense/sinabs):

* [cores] ``backend/dynapcnn/chips/dynapcnn.py`` 298-332 ``get_constraints``: 9 cores,
  kernel memory 16/16/16/32/32/64/64/16/16 Ki words, neuron memory
  64/64/64/32/32/16/16/16/16 Ki words, bias memory 1024 per core; the same table
  as ``docs/_static/Overview/memory_constraints.png`` and the comment in
  ``validate_memory_speck.py`` 107-111.  Speck2EConfigBuilder and
  Speck2FConfigBuilder inherit it unchanged (``chips/speck2e.py``, ``speck2f.py``).
* [overview] ``docs/speck/overview.md``, "DYNAP-CNN Layer / Feature": max input
  128x128, max output feature map 64x64, max 1024 channels, 8-bit weights, 16-bit
  neuron state, kernel <= 16x16, stride 1, 2, 4, 8, padding 0..7, sum pooling
  1x1, 2x2, 4x4, fan-out 2; readout: "max 15 + 1 (no class) output".  samna's Speck
  2b feature list says the same and adds "independent in X/Y" for stride and
  padding (synsense-sys-int.gitlab.io/samna/models/speckSeries/speck2b.html).
* [validate] ``validate_memory_speck.py`` 24-53, 93-102 (``ValidateMapping``):
  kernel <= 16, <= 1024 output features, stride in {1, 2, 4, 8}, pooling 1, 2 or 4.
* [square] kernels and pooling must be square: ``dynapcnn_layer.py`` 113-120 and the
  config writer (``chips/dynapcnn.py`` 117-120: one ``kernel_size``; 176-183:
  ``collapse_pair(pool)``).  Pool stride must equal its kernel:
  ``dynapcnn_layer_utils.py`` 207-214.
* [discretize] ``discretize.py`` 10-11, 264-272, 308-338: weights and biases 8 bits,
  thresholds, ``min_v_mem`` and states 16 bits.
* snncli's own rules (no Sinabs check; the config cannot express anything else):
  dilation 1 (``chips/dynapcnn.py`` 97-121 writes no dilation), groups 1 (it writes
  the full ``[out, in, k, k]`` weight tensor, 123-129).

Sinabs itself checks none of the shape limits when it builds a ``DynapcnnNetwork``
(samna's ``validate_configuration`` does, ``config_builder.py`` 75-88, and it is not
available here); ``ValidateMapping`` is a helper a user calls.  snncli checks them
all, before mapping, with one-line messages naming the layer, the limit and the
numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from snncli.errors import SnnCliError
from snncli.targets.speck import arithmetic as ar
from snncli.targets.speck.layer import SpeckLayer

Ki = 1024


@dataclass(frozen=True)
class Limit:
    value: object
    source: str


LIMITS: dict[str, Limit] = {
    "cores": Limit(9, "chips/dynapcnn.py 298-332 (9 LayerConstraints); overview.md '9x DYNAP-CNN Layer'"),
    "kernel_memory_words": Limit(
        (16 * Ki, 16 * Ki, 16 * Ki, 32 * Ki, 32 * Ki, 64 * Ki, 64 * Ki, 16 * Ki, 16 * Ki),
        "chips/dynapcnn.py 301-311 weight_memory_size, per core 0..8; memory_constraints.png",
    ),
    "neuron_memory_words": Limit(
        (64 * Ki, 64 * Ki, 64 * Ki, 32 * Ki, 32 * Ki, 16 * Ki, 16 * Ki, 16 * Ki, 16 * Ki),
        "chips/dynapcnn.py 313-323 neurons_memory_size, per core 0..8; memory_constraints.png",
    ),
    "bias_memory_words": Limit((1024,) * 9, "chips/dynapcnn.py 324 bias_memory_size = [1024] * 9"),
    "kernel_size_max": Limit(16, "validate_memory_speck.py 46-47; overview.md 'Max convolutional kernel size 16x16'"),
    "strides": Limit((1, 2, 4, 8), "validate_memory_speck.py 93-102; overview.md 'Stride step:1,2,4,8'"),
    "padding_max": Limit(
        7, "overview.md 'Padding: [0,1,2,3,4,5,6,7]'; samna Speck 2b 'Padding [0..7] independent in X/Y'"
    ),
    "pool_sizes": Limit(
        (1, 2, 4),
        "validate_memory_speck.py 24-33; overview.md 'Sumpooling: 1x1, 2x2, 4x4'; "
        "faqs/available_algorithmic_operation.md 'pooling kernel size = [1, 2, 4]'",
    ),
    "channels_max": Limit(1024, "validate_memory_speck.py 49-50; overview.md 'Max channel number: 1024'"),
    "input_size_max": Limit((128, 128), "overview.md 'Max input dimension for the layer: 128x128'"),
    "output_size_max": Limit((64, 64), "overview.md 'Max output feature map size: 64x64'"),
    "weight_range": Limit((ar.WEIGHT_MIN, ar.WEIGHT_MAX), "discretize.py 10, 322-324: 8-bit signed"),
    "bias_range": Limit(
        (ar.BIAS_MIN, ar.BIAS_MAX),
        "discretize.py 267-269: Sinabs discretizes biases with the 8-bit weight precision "
        "(no SynSense document found gives the chip's bias register width)",
    ),
    "threshold_range": Limit((1, ar.STATE_MAX), "discretize.py 11, 270-272; chips/dynapcnn.py 164 threshold_high"),
    "min_v_mem_range": Limit((ar.STATE_MIN, ar.STATE_MAX), "discretize.py 11, 254-259; chips/dynapcnn.py 157-165"),
    "state_range": Limit((ar.STATE_MIN, ar.STATE_MAX), "discretize.py 11; overview.md '16bit int for neuron state'"),
    "fanout": Limit(2, "overview.md 'Fanout:2'; faqs/available_network_arch.md item 2"),
    "readout_classes": Limit(15, "overview.md 'Interrupt: 4 ouput pins encodes max 15 + 1(no class) ouput'"),
    "square_kernel": Limit(True, "dynapcnn_layer.py 113-116; chips/dynapcnn.py 117-120"),
    "square_pool": Limit(
        True,
        "dynapcnn_layer.py 118-120; chips/dynapcnn.py 176-183; pool stride = kernel: dynapcnn_layer_utils.py 207-214",
    ),  # fmt: skip
    "dilation": Limit(1, "snncli: the core config has no dilation field (chips/dynapcnn.py 97-121)"),
    "groups": Limit(1, "snncli: the config writes full [out, in, k, k] weights (chips/dynapcnn.py 123-129)"),
}


def _v(key: str):
    return LIMITS[key].value


def _hw(p: tuple[int, int]) -> str:
    return f"{p[0]}x{p[1]}"


def layer_errors(layer: SpeckLayer) -> list[str]:
    """Every limit ``layer`` breaks, as one-line messages (empty when it fits a core's shape rules)."""
    n, errors = layer.name, []
    kind = "linear layer" if layer.kind == "linear" else "layer"
    kh, kw = layer.kernel_size
    kmax = _v("kernel_size_max")
    if layer.kind == "linear" and (kh > kmax or kw > kmax or kh != kw):
        errors.append(
            f"linear layer {n!r} reads a {layer.in_shape[0]}x{kh}x{kw} map: on Speck it is a convolution with a "
            f"{kh}x{kw} kernel, which must be square and at most {kmax}x{kmax}; pool or stride the map down first"
        )
    else:
        if kh > kmax or kw > kmax:
            errors.append(f"{kind} {n!r}: kernel {kh}x{kw} exceeds Speck's {kmax}x{kmax} maximum")
        if kh != kw:
            errors.append(f"{kind} {n!r}: kernel {kh}x{kw} is not square; Speck kernels are k x k")
    strides = _v("strides")
    if any(s not in strides for s in layer.stride):
        errors.append(f"{kind} {n!r}: stride {_hw(layer.stride)}; Speck strides are {', '.join(map(str, strides))}")
    pmax = _v("padding_max")
    if max(layer.padding) > pmax:
        errors.append(f"{kind} {n!r}: padding {_hw(layer.padding)} exceeds Speck's maximum of {pmax}")
    pools = _v("pool_sizes")
    py, px = layer.pool
    if py != px or py not in pools:
        errors.append(f"{kind} {n!r}: {py}x{px} sum pooling; Speck pools 1x1, 2x2 or 4x4 (square, stride = kernel)")
    cmax = _v("channels_max")
    for what, c in (("output", layer.out_channels), ("input", layer.in_shape[0])):
        if c > cmax:
            errors.append(f"{kind} {n!r}: {c} {what} channels exceed Speck's {cmax}")
    ih, iw = _v("input_size_max")
    if layer.kind == "conv" and (layer.in_shape[1] > ih or layer.in_shape[2] > iw):
        errors.append(
            f"{kind} {n!r}: input map {layer.in_shape[1]}x{layer.in_shape[2]} exceeds Speck's {ih}x{iw} maximum"
        )
    oh, ow = _v("output_size_max")
    _, h, w = layer.neuron_shape
    if h > oh or w > ow:
        errors.append(f"{kind} {n!r}: output map {h}x{w} exceeds Speck's {oh}x{ow} maximum; use stride 2 or more")
    if layer.dilation != (1, 1):
        errors.append(f"{kind} {n!r}: dilation {_hw(layer.dilation)}; Speck convolutions have dilation 1")
    if layer.groups != 1:
        errors.append(f"{kind} {n!r}: groups={layer.groups}; Speck convolutions are dense (groups 1)")
    return errors


def layer_error(layer: SpeckLayer) -> str | None:
    """The first limit ``layer`` breaks (one line), or None: the shape counterpart of Sinabs'
    ``LayerConstraints.fits`` (mapping.py 13-25), which covers memory only."""
    errors = layer_errors(layer)
    return errors[0] if errors else None


def check_layer(layer: SpeckLayer) -> None:
    if (msg := layer_error(layer)) is not None:
        raise SnnCliError(msg)


def parameter_error(name: str, weight, bias, threshold, min_v_mem=None) -> str | None:
    """One line if a layer's integer values do not fit Speck's widths, else None."""
    w = np.asarray(weight)
    if w.dtype.kind == "f" and not np.array_equal(w, np.round(w)):
        return f"layer {name!r}: weights must be integers for Speck (quantize them first)"
    lo, hi = _v("weight_range")
    if w.size and (w.min() < lo or w.max() > hi):
        return f"layer {name!r}: weights span [{int(w.min())}, {int(w.max())}], Speck's 8-bit weights [{lo}, {hi}]"
    if bias is not None:
        b = np.asarray(bias)
        if b.dtype.kind == "f" and not np.array_equal(b, np.round(b)):
            return f"layer {name!r}: biases must be integers for Speck"
        lo, hi = _v("bias_range")
        if b.size and (b.min() < lo or b.max() > hi):
            return (
                f"layer {name!r}: biases span [{int(b.min())}, {int(b.max())}]; Sinabs' discretize keeps "
                f"biases in [{lo}, {hi}] (8 bits)"
            )
    lo, hi = _v("threshold_range")
    if not float(threshold).is_integer() or not lo <= threshold <= hi:
        return f"layer {name!r}: threshold {threshold} must be an integer in [{lo}, {hi}] (16 bits)"
    if min_v_mem is not None:
        lo, _ = _v("min_v_mem_range")
        if not float(min_v_mem).is_integer() or not lo <= min_v_mem < threshold:
            return (
                f"layer {name!r}: min_v_mem {min_v_mem} must be an integer in [{lo}, threshold - 1 = {threshold - 1}]"
            )
    return None


def chain_errors(layers: Sequence[SpeckLayer]) -> list[str]:
    """Limits of the network as a whole that are not memory (memory: :mod:`.mapping`)."""
    errors = []
    cores = _v("cores")
    if len(layers) > cores:
        errors.append(
            f"network has {len(layers)} layers; Speck has {cores} cores, one layer per core "
            f"(layers {', '.join(repr(layer.name) for layer in layers[cores:])} do not fit)"
        )
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        errors.append(f"layer names must be unique, got {names}")
    for prev, layer in zip(layers, layers[1:], strict=False):
        want = prev.out_shape
        got = layer.in_shape
        if got != want and not (layer.kind == "linear" and np.prod(got) == np.prod(want)):
            errors.append(
                f"layer {layer.name!r} reads {list(got)}, but {prev.name!r} sends {list(want)} (after its "
                f"{_hw(prev.pool)} pooling)"
            )
    return errors


def check_network(layers: Sequence[SpeckLayer]) -> None:
    """Raise the first shape or chain limit a network of Speck layers breaks (memory: :func:`.mapping.assign_cores`)."""
    for layer in layers:
        check_layer(layer)
    errors = chain_errors(layers)
    if errors:
        raise SnnCliError(errors[0])


def readout_error(layer: SpeckLayer) -> str | None:
    """The readout layer reports at most 15 classes (overview.md); None if ``layer`` can feed it."""
    classes = _v("readout_classes")
    if layer.neurons > classes:
        return (
            f"layer {layer.name!r} has {layer.neurons} outputs; Speck's readout layer reports at most {classes} "
            "classes (read the others from the monitor bus)"
        )
    return None
