"""Loihi artifacts: ``write`` (lava-dl netx HDF5 + sidecar JSON) and ``reference`` (the Program run in Lava)."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from snncli.errors import SnnCliError
from snncli.targets.loihi.chip_resources import _check_fits, resources
from snncli.targets.loihi.input_encoding import INPUT_BITS, _quantize_input
from snncli.targets.loihi.lowering import NAME
from snncli.targets.program import Program, atomic_write


def write(program: Program, path) -> list[str]:
    """Write the netx HDF5 at ``path`` and a sidecar JSON at ``path + '.json'`` (atomic; nothing on failure)."""
    from snncli.targets.netx import _readable, netx_blocks, write_netx

    if program.target != NAME:
        raise SnnCliError(f"the loihi writer needs a loihi program, got target {program.target!r}")
    table = resources(program)
    _check_fits(table)
    blocks = netx_blocks(program)  # validates the chain before anything is written
    path = os.fspath(path)
    resets = any(layer.params.get("reset_step") is not None for layer in program.neuron_layers)
    sidecar = {
        "format": "snncli-loihi-netx",
        "version": 1,
        "netx_file": os.path.basename(path),
        "load_with": "lava.lib.dl.netx.hdf5.Network(net_config=path, input_message_bits="
        f"{program.metadata.get('netx', {}).get('input_message_bits', 0)}"
        + (", reset_interval=T, reset_offset=1)  # T = steps per sample, latency_steps included" if resets else ")"),
        "netx": program.metadata.get("netx", {"input_message_bits": 0}),
        "input": program.metadata.get("input", {}),
        "dt": program.dt,
        "latency_steps": program.metadata.get("latency_steps"),
        "blocks": [{"index": i, "type": kind, "layer": name} for i, (kind, name) in enumerate(blocks)],
        "scales": program.scales,
        "folded": program.metadata.get("folded", {}),
        "resources": table,
        "warnings": program.metadata.get("warnings", []),
    }
    from snncli.targets.program import to_jsonable

    text = json.dumps(to_jsonable(sidecar), indent=2).encode()
    write_netx(program, path)
    try:
        atomic_write(path + ".json", lambda f: f.write(text))
        _readable(path + ".json")
    except BaseException:
        os.unlink(path)
        raise
    return [path, path + ".json"]


def reference(program: Program, x: np.ndarray, progress=None) -> dict[str, np.ndarray]:
    """Run ``program`` in Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) from its netx file.

    ``x`` ``[T, N, *input_shape]`` as hwsim takes it (graded input is quantized by the
    same rule).  Returns, per neuron layer, Lava's spikes ``[T, N, *shape]``,
    aligned with hwsim's records of the same Program on the same ``x``.
    """
    from snncli.targets import lava_reference
    from snncli.targets.netx import netx_blocks, write_netx

    x = np.asarray(x)
    (inp,) = program.input_layers
    if x.ndim < 2 or tuple(x.shape[2:]) != tuple(inp.out_shape):
        want = ", ".join(map(str, inp.out_shape))
        raise SnnCliError(f"input has shape {tuple(x.shape)}, the program expects [time, batch, {want}]")
    scale = inp.params.get("input_scale")
    xq = _quantize_input(x, scale, int(inp.params.get("input_bits", INPUT_BITS)))
    if scale is None and not np.all((xq == 0) | (xq == 1)):
        raise SnnCliError("this Loihi program takes binary input spikes; the input has other values")
    blocks = [(i, kind, name) for i, (kind, name) in enumerate(netx_blocks(program)) if kind not in ("input", "flatten")]
    bits = int(program.metadata.get("netx", {}).get("input_message_bits", 0))
    with tempfile.TemporaryDirectory(prefix="snncli-loihi-") as tmp:
        path = os.path.join(tmp, "net.h5")
        write_netx(program, path)
        layer_reset = any(layer.params.get("reset_step") is not None for layer in program.neuron_layers)
        spikes = lava_reference.run_netx_samples(path, xq.astype(np.int64), input_message_bits=bits, progress=progress,
                                                 layer_reset=layer_reset)  # fmt: skip
    return {name: spikes[j] for j, (_, _, name) in enumerate(blocks)}
