"""Loihi artifacts: ``write`` (lava-dl netx HDF5 + sidecar JSON) and ``reference`` (the Program run in Lava)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from snncli.core.files import write_json
from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.targets.loihi.chip_resources import check_fits, resources
from snncli.targets.loihi.input_encoding import INPUT_BITS, quantize_input
from snncli.targets.loihi.lowering import NAME
from snncli.targets.loihi.netx import netx_blocks, write_netx


def write(program: Program, path) -> list[str]:
    """Write the netx HDF5 at ``path``, a sidecar JSON at ``path + '.json'`` and the Program
    at ``path + '.program.npz'`` (each atomic; nothing is left when one fails)."""
    if program.target != NAME:
        raise SnnCliError(f"the loihi writer needs a loihi program, got target {program.target!r}")
    table = resources(program)
    check_fits(table)
    blocks = netx_blocks(program)  # validates the chain before anything is written
    path = os.fspath(path)
    resets = any(layer.neuron.reset_step is not None for layer in program.neuron_layers)
    netx = program.notes.get("netx", {"input_message_bits": 0})
    sidecar = {
        "format": "snncli-loihi-netx",
        "version": 1,
        "netx_file": os.path.basename(path),
        "load_with": "from lava.lib.dl import netx; netx.hdf5.Network(net_config=path, input_message_bits="
        f"{netx.get('input_message_bits', 0)}"
        + (", reset_interval=T, reset_offset=1)  # T = steps per sample, latency_steps included" if resets else ")"),
        "netx": netx,
        "input": program.notes.get("input", {}),
        "dt": program.dt,
        "reading": program.reading,
        "latency_steps": program.latency_steps,
        "blocks": [{"index": i, "type": kind, "layer": name} for i, (kind, name) in enumerate(blocks)],
        "scales": program.scales,
        "folded": program.notes.get("folded", {}),
        "scale_search": program.notes.get("scale_search", {}),
        "resources": table,
        "warnings": program.warnings,
    }
    files = [path, path + ".json", path + ".program.npz"]
    try:
        write_netx(program, path)
        write_json(files[1], sidecar)
        program.save(files[2])
    except BaseException:
        for name in files:
            if os.path.exists(name):
                os.unlink(name)
        raise
    return files


def reference(program: Program, x: np.ndarray, progress=None) -> dict[str, np.ndarray]:
    """Run ``program`` in Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) from its netx file.

    ``x`` ``[T, N, *input_shape]`` as hwsim takes it (graded input is quantized by the
    same rule).  Returns, per neuron layer, Lava's spikes ``[T, N, *shape]``,
    aligned with hwsim's records of the same Program on the same ``x``.
    """
    from snncli.targets.loihi import lava_reference

    x = np.asarray(x)
    (inp,) = program.input_layers
    if x.ndim < 2 or tuple(x.shape[2:]) != tuple(inp.out_shape):
        want = ", ".join(map(str, inp.out_shape))
        raise SnnCliError(f"input has shape {tuple(x.shape)}, the program expects [time, batch, {want}]")
    scale = inp.op.scale
    xq = quantize_input(x, scale, int(inp.op.bits or INPUT_BITS))
    if scale is None and not np.all((xq == 0) | (xq == 1)):
        raise SnnCliError("this Loihi program takes binary input spikes; the input has other values")
    blocks = [
        (i, kind, name) for i, (kind, name) in enumerate(netx_blocks(program)) if kind not in ("input", "flatten")
    ]
    bits = int(program.notes.get("netx", {}).get("input_message_bits", 0))
    with tempfile.TemporaryDirectory(prefix="snncli-loihi-") as tmp:
        path = os.path.join(tmp, "net.h5")
        write_netx(program, path)
        layer_reset = any(layer.neuron.reset_step is not None for layer in program.neuron_layers)
        spikes = lava_reference.run_netx_samples(path, xq.astype(np.int64), input_message_bits=bits, progress=progress,
                                                 layer_reset=layer_reset)  # fmt: skip
    return {name: spikes[j] for j, (_, _, name) in enumerate(blocks)}
