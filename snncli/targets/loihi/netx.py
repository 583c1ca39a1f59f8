"""Write a Loihi Program as a lava-dl netx HDF5 file (``lava.lib.dl.netx.hdf5.Network``).

Layout netx reads (lava-dl 0.6.0, ``lava/lib/dl/netx/hdf5.py`` ``Network._create`` and
``utils.NetDict``)::

    /layer/<i>/type         b'input' | b'dense' | b'dense_rec' | b'conv' | b'flatten'  (S10, shape (1,))
    /layer/<i>/shape        int array, reversed by netx ([::-1]): we write C,H,W (dense: [N])
    /layer/<i>/weight       int [out, in] (dense), [C_out, C_in, kh, kw] (conv; read with .astype(int))
    /layer/<i>/weight_rec   int [out, out]  (dense_rec only)
    /layer/<i>/bias         int [out] (dense) or [C] (conv, per channel) -> LIF bias_mant, bias_exp = 6
    /layer/<i>/stride, padding, dilation   int [y, x] (conv; netx reverses them to Lava's x, y)
    /layer/<i>/groups       int scalar (conv)
    /layer/<i>/neuron/type  b'CUBA'; iDecay, vDecay, vThMant, refDelay, gradedSpike

Blocks: each neuron layer of the Program and the synapse(s) feeding it become one
block: ``dense`` (one Dense), ``dense_rec`` (a Dense from the previous block plus a
recurrent Dense from the block's own neurons, netx ``RecurrentDense``), ``conv``
(one Lava Conv).  A ``flatten`` entry precedes a dense block that reads a C,H,W
layer: netx then connects ``prev.out.transpose([2, 1, 0]).flatten()``, Lava's W,H,C
port read back in C,H,W order, i.e. torch's flatten order, so dense weights keep
their C,H,W column order.  The input layer's ``shape`` is informational for a first
dense block (Lava's input port is the Dense's own ``s_in``, flat).

Conv weights: netx flips the kernel and transposes it to Lava's (C_out, W, H, C_in);
``lava.proc.conv.utils.conv`` flips it back and calls torch's ``conv2d``
(cross-correlation), so the file holds the torch/NIR kernel unchanged.  Lava's
fixed-point Conv applies the weights as they are (no 8-bit clipping, no weight
exponent) and wraps its output to 24 bits; it computes in float32 (exact while
partial sums stay below 2**24, which the Loihi scales guarantee).

Neuron mapping (``Network.get_neuron_params``): ``du = iDecay - 1``, ``dv = vDecay``,
``vth = vThMant``, ``bias_exp = 6``.  So we write ``iDecay = du + 1``.

Dense weights: netx passes each matrix (``dense_rec``: ``[weight | weight_rec]``
together) through ``utils.optimize_weight_bits`` (shift left by ``s`` bits,
``weight_exp = -s``, ``num_weight_bits``) and then Lava's ``PyDenseModelBitAcc``
clips/truncates and shifts the sum back by ``s``.  :func:`netx_effective_weights`
reproduces that chain; :func:`write_netx` refuses a Program whose weights that
chain would alter, so the file means exactly what the Program means.  The file has
no weight exponent field netx would read (``wgtExp`` is never used by
``create_dense``/``create_conv``): the exponent netx picks cancels out exactly.

Resets: a Program whose neuron layers carry ``reset_step`` 1, 2, ... (one per block,
:mod:`snncli.targets.loihi.arithmetic`) runs as ``Network(..., reset_interval=T,
reset_offset=1)`` with T the steps per sample: netx then builds ``LIFReset`` neurons and
resets block i at step i + 1 of every T (``Network._create`` offsets each block by one).

An ``input`` layer is written with ``shape`` only (no neuron): the network's input
port then feeds the first synapse directly, as ``Network._create`` does.  Graded
(multi-bit) input needs ``Network(net_config, input_message_bits=8)``: netx has no
file field for it; the sidecar JSON written by ``snncli.targets.loihi.write`` says so.
"""

from __future__ import annotations

import io
import os

import numpy as np

from snncli.core.files import atomic_write
from snncli.core.program import Layer, Program
from snncli.errors import SnnCliError
from snncli.targets.loihi.arithmetic import LoihiCuba, dense_effective_weights


def netx_optimize_weight_bits(weight) -> tuple[np.ndarray, int, int, str]:
    """Numpy replica of ``lava.lib.dl.netx.utils.optimize_weight_bits``.

    Returns ``(shifted weights, num_weight_bits, weight_exponent, sign_mode)``.
    """
    w = np.asarray(weight, dtype=np.int64)
    wmax, wmin = int(w.max()), int(w.min())
    if (wmax > 254 and wmin < 0) or (wmin < -256 and wmax > 0):
        w = np.clip(w, -256, 254)
        wmax, wmin = int(w.max()), int(w.min())
    if wmax == 0 and wmin == 0:
        raise SnnCliError("netx cannot load an all-zero weight matrix (optimize_weight_bits divides by its maximum)")
    if wmax < 0:
        mode, signed, scale = "inhibitory", 0, -256 / wmin
    elif wmin >= 0:
        mode, signed, scale = "excitatory", 0, 255 / wmax
    else:
        mode, signed = "mixed", 1
        scale = min(127 / wmax if wmax else np.inf, -128 / wmin)
    scale_bits = int(np.floor(np.log2(scale))) + signed
    n = 8
    while n > 0 and np.sum(np.abs(w / 2**n - np.round(w / 2**n))) != 0:
        n -= 1
    n -= signed
    shifted = w << scale_bits if scale_bits >= 0 else w >> -scale_bits
    return shifted, 8 - scale_bits - n, -scale_bits, mode


def netx_effective_weights(weight) -> np.ndarray:
    """The integer weights Lava really applies to a netx ``weight`` matrix:
    optimize_weight_bits, then PyDenseModelBitAcc's clip/truncate (with the sign
    mode Lava's Dense re-derives itself), then the ``>> s`` of the accumulated sum
    (exact here, as every surviving weight is a multiple of ``2**s``)."""
    shifted, nwb, wexp, _ = netx_optimize_weight_bits(weight)
    eff = dense_effective_weights(shifted, num_weight_bits=nwb)
    s = -wexp
    if s > 0 and np.any(eff % (1 << s)):
        raise SnnCliError("netx weight chain is not per-weight exact for this matrix")
    return eff >> s if s >= 0 else eff << -s


def _str(group, key: str, value: str) -> None:
    group.create_dataset(key, (1,), "S10", [value.encode("ascii")])


def _neuron(group, params: LoihiCuba) -> None:
    if np.any(params.bias_mant) and params.bias_exp != 6:
        raise SnnCliError("netx fixes the bias exponent to 6; lower with bias_exp = 6")
    n = group.create_group("neuron")
    _str(n, "type", "CUBA")
    n.create_dataset("iDecay", data=params.du + 1)  # netx: du = iDecay - 1
    n.create_dataset("vDecay", data=params.dv)
    n.create_dataset("vThMant", data=params.vth)
    n.create_dataset("refDelay", data=1)
    n.create_dataset("gradedSpike", data=False)


def _synapses(program: Program, neuron: Layer) -> tuple:
    """(feed-forward synapse layer, recurrent synapse layer or None) of a neuron layer."""
    syns = [program.layer(s) for s in neuron.inputs]
    if neuron.delayed_inputs or any(s.kind not in ("dense", "conv2d") for s in syns):
        raise SnnCliError(f"netx: neuron layer {neuron.name!r} must read only dense/conv2d layers, in the same step")
    ff = [s for s in syns if s.delayed_inputs != (neuron.name,)]
    rec = [s for s in syns if s.delayed_inputs == (neuron.name,)]
    if len(ff) != 1 or len(rec) > 1:
        raise SnnCliError(
            f"netx: neuron layer {neuron.name!r} needs one feed-forward and at most one recurrent synapse"
        )
    return ff[0], (rec[0] if rec else None)


def netx_blocks(program: Program) -> list[tuple[str, str]]:
    """``(netx type, layer name)`` in file order: ``input`` (the input layer), ``flatten``
    (named after the dense layer that follows), and one ``dense``/``dense_rec``/``conv``
    block per neuron layer (named after the neuron layer).  Raises SnnCliError for a
    Program netx cannot describe (not a chain, or ops netx has no block for)."""
    if program.target != "loihi":
        raise SnnCliError(f"netx export needs a loihi program, got target {program.target!r}")
    inputs = program.input_layers
    if len(inputs) != 1:
        raise SnnCliError("netx: the program must have exactly one input layer")
    for layer in program.layers:
        if layer.kind not in ("input", "output", "dense", "conv2d", "neuron"):
            raise SnnCliError(f"netx writer does not support op {layer.kind!r} (layer {layer.name!r})")
        if layer.kind == "neuron" and not isinstance(layer.neuron, LoihiCuba):
            raise SnnCliError(f"netx: neuron layer {layer.name!r} uses model {layer.neuron.model!r}, not loihi_cuba")
    blocks = [("input", inputs[0].name)]
    previous = inputs[0]
    resets = [layer.neuron.reset_step for layer in program.neuron_layers]
    if any(r is not None for r in resets) and resets != list(range(1, len(resets) + 1)):
        raise SnnCliError(
            f"netx resets block i at step i + 1 (Network(reset_interval=T, reset_offset=1)); the program's "
            f"neuron layers reset at steps {resets}"
        )
    for neuron in program.neuron_layers:
        ff, rec = _synapses(program, neuron)
        if ff.delayed_inputs != (previous.name,) or ff.inputs:
            raise SnnCliError(
                f"netx describes a chain: synapse {ff.name!r} must read {previous.name!r} (one step delayed), "
                f"it reads {list(ff.inputs + ff.delayed_inputs)}"
            )
        if ff.kind == "conv2d":
            if rec is not None:
                raise SnnCliError(f"netx has no recurrent convolutional block ({neuron.name!r})")
            if len(previous.out_shape) != 3:
                raise SnnCliError(f"netx: conv {ff.name!r} needs a C,H,W input")
            blocks.append(("conv", neuron.name))
        else:
            if rec is not None and rec.kind != "dense":
                raise SnnCliError(f"netx: recurrent synapse {rec.name!r} must be dense")
            if len(previous.out_shape) > 1 and previous.kind != "input":
                blocks.append(("flatten", ff.name))
            blocks.append(("dense_rec" if rec is not None else "dense", neuron.name))
        previous = neuron
    outputs = program.output_layers
    if len(outputs) != 1 or outputs[0].inputs != (previous.name,):
        raise SnnCliError(f"netx: the output must read the last neuron layer {previous.name!r}")
    return blocks


def _check_dense(name: str, weight: np.ndarray, label: str) -> None:
    eff = netx_effective_weights(weight)
    if not np.array_equal(eff, weight):
        bad = tuple(np.argwhere(eff != weight)[0])
        raise SnnCliError(
            f"netx would change weight {bad} of {label} from {weight[bad]} to {eff[bad]}; "
            "quantize to the netx-exact range first"
        )


def _bias(g, layer, per_channel: bool) -> None:
    bias = layer.neuron.bias_mant
    if not np.any(bias):
        return
    bias = np.broadcast_to(np.asarray(bias, dtype=np.int64), layer.out_shape)
    if per_channel:
        flat = bias.reshape(bias.shape[0], -1)
        if np.all(flat == flat[:, :1]):
            g.create_dataset("bias", data=flat[:, 0].copy())
        else:  # netx accepts a full W,H,C array too
            g.create_dataset("bias", data=np.transpose(bias, (2, 1, 0)).copy())
    else:
        g.create_dataset("bias", data=bias.reshape(-1).copy())


def write_netx(program: Program, path: str | os.PathLike) -> list[tuple[str, str]]:
    """Write ``program`` (target ``loihi``) as a netx HDF5 file, atomically; returns its blocks."""
    blocks = netx_blocks(program)
    buf = io.BytesIO()
    _write_blocks(program, blocks, buf)
    atomic_write(path, lambda f: f.write(buf.getbuffer()))
    return blocks


def _write_blocks(program: Program, blocks: list[tuple[str, str]], fileobj) -> None:
    import h5py

    with h5py.File(fileobj, "w") as h5:
        root = h5.create_group("layer")
        for i, (kind, name) in enumerate(blocks):
            g = root.create_group(str(i))
            layer = program.layer(name)
            _str(g, "type", kind)
            if kind == "input":
                g.create_dataset("shape", data=np.array(layer.out_shape, dtype=np.int64))  # C,H,W; netx reverses
                continue
            if kind == "flatten":
                g.create_dataset("shape", data=np.array(layer.in_shape, dtype=np.int64))
                continue
            ff, rec = _synapses(program, layer)
            weight = np.asarray(ff.op.weight, dtype=np.int64)
            if (kind == "conv") != (layer.neuron.in_wrap_bits == 24):
                raise SnnCliError(
                    f"neuron layer {name!r}: in_wrap_bits must be 24 exactly when a Lava Conv feeds it "
                    "(PyConvModelFixed wraps its output to 24 bits)"
                )
            if kind == "conv":
                if weight.min(initial=0) < -256 or weight.max(initial=0) > 255:
                    raise SnnCliError(f"conv {ff.name!r}: weights must be 8-bit mantissas in [-256, 255]")
                g.create_dataset("shape", data=np.array(layer.out_shape, dtype=np.int64))
                g.create_dataset("weight", data=weight)
                for key in ("stride", "padding", "dilation"):
                    g.create_dataset(key, data=np.array(getattr(ff.op, key), dtype=np.int64).reshape(2))
                g.create_dataset("groups", data=int(ff.op.groups))
                _bias(g, layer, per_channel=True)
            else:
                g.create_dataset("shape", data=np.array([layer.size], dtype=np.int64))
                if rec is None:
                    _check_dense(ff.name, weight, repr(ff.name))
                    g.create_dataset("weight", data=weight)
                else:
                    w_rec = np.asarray(rec.op.weight, dtype=np.int64)
                    _check_dense(ff.name, np.hstack([weight, w_rec]), f"[{ff.name!r} | {rec.name!r}]")
                    g.create_dataset("weight", data=weight)
                    g.create_dataset("weight_rec", data=w_rec)
                _bias(g, layer, per_channel=False)
            _neuron(g, layer.neuron)
