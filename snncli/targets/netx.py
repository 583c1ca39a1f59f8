"""Write a Loihi Program as a lava-dl netx HDF5 file (``lava.lib.dl.netx.hdf5.Network``).

Layout netx reads (lava-dl 0.6.0, ``lava/lib/dl/netx/hdf5.py`` ``Network._create`` and
``utils.NetDict``)::

    /layer/<i>/type         b'input' | b'dense' | b'dense_rec' | b'conv' | b'flatten'  (S10, shape (1,))
    /layer/<i>/shape        int array, reversed by netx ([::-1]): we write C,H,W (dense: [N])
    /layer/<i>/weight       int [out, in]   (read with .astype(int))
    /layer/<i>/weight_rec   int [out, out]  (dense_rec only)
    /layer/<i>/bias         int [out]       -> LIF bias_mant, with bias_exp fixed to 6 by netx
    /layer/<i>/neuron/type  b'CUBA'; iDecay, vDecay, vThMant, refDelay, gradedSpike

Neuron mapping (``Network.get_neuron_params``): ``du = iDecay - 1``, ``dv = vDecay``,
``vth = vThMant``, ``bias_exp = 6``.  So we write ``iDecay = du + 1``.

Weights: netx passes each matrix through ``utils.optimize_weight_bits`` (shift left
by ``s`` bits, ``weight_exp = -s``, ``num_weight_bits``) and then Lava's
``PyDenseModelBitAcc`` clips/truncates and shifts the sum back by ``s``.
:func:`netx_effective_weights` reproduces that chain; :func:`write_netx` refuses a
Program whose weights that chain would alter, so the file means exactly what the
Program means.

An ``input`` layer is written with ``shape`` only (no neuron): the network's input
port then feeds the first synapse directly, as ``Network._create`` does.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from snncli.errors import SnnCliError
from snncli.hwsim.loihi_neuron import dense_effective_weights
from snncli.targets.program import Program


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


def _neuron(group, params: dict) -> None:
    for key in ("du", "dv", "vth", "bias_exp"):
        if np.ndim(params[key]) != 0:
            raise SnnCliError(f"netx CUBA neurons share one {key} per layer; got an array")
    if params.get("bias_mant") is not None and np.any(params["bias_mant"]) and int(params["bias_exp"]) != 6:
        raise SnnCliError("netx fixes the bias exponent to 6; lower with bias_exp = 6")
    n = group.create_group("neuron")
    _str(n, "type", "CUBA")
    n.create_dataset("iDecay", data=int(params["du"]) + 1)  # netx: du = iDecay - 1
    n.create_dataset("vDecay", data=int(params["dv"]))
    n.create_dataset("vThMant", data=int(params["vth"]))
    n.create_dataset("refDelay", data=1)
    n.create_dataset("gradedSpike", data=False)


def netx_layers(program: Program) -> list[tuple[str, str]]:
    """``(netx type, neuron layer name)`` in file order: each synaptic layer is
    fused with the single neuron layer it feeds (a netx block = synapse + neuron)."""
    blocks = []
    consumers: dict[str, list] = {}
    for layer in program.layers:
        for src in (*layer.inputs, *layer.delayed_inputs):
            consumers.setdefault(src, []).append(layer)
    for layer in program.layers:
        if layer.op == "input":
            blocks.append(("input", layer.name))
        elif layer.op == "flatten":
            blocks.append(("flatten", layer.name))
        elif layer.op == "dense":
            nxt = consumers.get(layer.name, [])
            if len(nxt) != 1 or nxt[0].op != "neuron" or nxt[0].neuron != "loihi_cuba":
                raise SnnCliError(f"netx: dense layer {layer.name!r} must feed exactly one loihi_cuba neuron layer")
            blocks.append(("dense", nxt[0].name))
        elif layer.op in ("neuron", "output"):
            continue
        else:
            raise SnnCliError(f"netx writer does not support op {layer.op!r} yet (layer {layer.name!r})")
    return blocks


def write_netx(program: Program, path: str | os.PathLike) -> None:
    """Write ``program`` (target ``loihi``) as a netx HDF5 file, atomically."""
    import h5py

    if program.target != "loihi":
        raise SnnCliError(f"netx export needs a loihi program, got target {program.target!r}")
    blocks = netx_layers(program)

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SnnCliError(f"output folder does not exist: {directory}")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".h5")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as h5:
            root = h5.create_group("layer")
            for i, (kind, name) in enumerate(blocks):
                g = root.create_group(str(i))
                layer = program.layer(name)
                _str(g, "type", kind)
                if kind == "input":
                    g.create_dataset("shape", data=np.array(layer.out_shape, dtype=np.int64))  # C,H,W; netx reverses
                    continue
                if kind == "flatten":
                    g.create_dataset("shape", data=np.array(layer.out_shape, dtype=np.int64))
                    continue
                # dense: synapse = the dense layer feeding this neuron layer
                dense = [program.layer(s) for s in (*layer.inputs, *layer.delayed_inputs) if program.layer(s).op == "dense"]
                if len(dense) != 1:
                    raise SnnCliError(f"netx: neuron layer {name!r} needs exactly one dense input")
                weight = np.asarray(dense[0].params["weight"], dtype=np.int64)
                eff = netx_effective_weights(weight)
                if not np.array_equal(eff, weight):
                    bad = np.argwhere(eff != weight)[0]
                    raise SnnCliError(
                        f"netx would change weight {tuple(bad)} of {dense[0].name!r} from {weight[tuple(bad)]} "
                        f"to {eff[tuple(bad)]}; quantize to the netx-exact range first"
                    )
                g.create_dataset("shape", data=np.array([layer.size], dtype=np.int64))
                g.create_dataset("weight", data=weight)
                bias = layer.params.get("bias_mant")
                if bias is not None and np.any(bias):
                    g.create_dataset("bias", data=np.broadcast_to(np.asarray(bias, dtype=np.int64), (layer.size,)).copy())
                _neuron(g, layer.params)
        os.replace(tmp, path)  # atomic: a failure never leaves a half-written file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
