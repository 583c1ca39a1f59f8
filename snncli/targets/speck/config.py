"""Speck artifacts: the chip configuration as JSON (+ the Program beside it), and ``reference``.

The configuration
-----------------
One record per core with the fields Sinabs writes into samna's ``CNNLayerConfig``
(``DynapcnnConfigBuilder.get_dynapcnn_layer_config_dict``,
``sinabs/backend/dynapcnn/chips/dynapcnn.py`` 76-193), in samna's conventions:

* ``dimensions``: input ``size`` {x, y} and ``feature_count``, output ``size`` and
  ``feature_count`` (the neurons, before pooling), ``padding`` and ``stride`` {x, y},
  ``kernel_size`` (square); a linear layer is a convolution over its whole input map
  (``dynapcnn_layer.py`` 17-52);
* ``weights`` ``[out, in, kx, ky]`` (Sinabs transposes torch's ``[out, in, ky, kx]``:
  "Need this to match samna convention", line 126), ``biases`` per output channel,
  ``leak_enable`` (any bias non-zero);
* ``return_to_zero`` (reset to 0, else subtract), ``threshold_high`` (the threshold),
  ``threshold_low`` (``min_v_mem``), ``monitor_enable``, ``neurons_initial_value``
  ``[f, x, y]`` (zeros);
* ``destinations``: ``[{layer: core, enable, pooling}]`` -- the next core and the sum
  pooling applied on the way (an exit layer has none, line 173-192).

Around them: ``core`` and the NIR layers each core holds, the input (shape and the
core it enters), the readout, the core assignment and memory table (Sinabs'
formulas, :mod:`~snncli.targets.speck.mapping`), and the physics (dt, reading,
scales, source, warnings).  The writer is plain Python because Sinabs is an optional
install whose config path needs torch and its own network objects; the tests compare
every core's record with Sinabs' ``get_dynapcnn_layer_config_dict`` on the same
network.

With SynSense's real ``samna`` installed (a compiled package; PyPI's ``samna`` is a
stub that is never imported here), :func:`write` also asks Sinabs for samna's own
configuration and stores it beside (:func:`write_samna`; not exercised here, as no
real samna exists on this machine).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

import numpy as np

from snncli.core.files import to_jsonable, write_json, write_text
from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.targets.speck.mapping import readout_channels
from snncli.targets.speck.program import ProgramCore, integer_layers, program_cores

FORMAT = "snncli-speck-config"
VERSION = 1


def core_record(c: ProgramCore, core: int, destination: int | None, readout: bool = False) -> dict:
    """One core's configuration, after Sinabs' ``get_dynapcnn_layer_config_dict`` (module docstring)."""
    op, p = c.synapse.op, c.neuron.neuron
    out = int(op.weight.shape[0])
    weight = op.weight if c.synapse.kind == "conv2d" else op.weight.reshape(out, *c.map_shape)
    bias = p.bias if p.bias is not None else np.zeros(out, dtype=np.int64)
    if readout:  # Speck 2e/2f errata: class i on channel 4 i (sinabs utils.extend_readout_layer, 210-248)
        wide = readout_channels(out)
        weight = _widen(weight, wide)
        bias = _widen(bias, wide)
    f = int(weight.shape[0])
    fy, fx = c.neuron.out_shape[1:] if c.synapse.kind == "conv2d" else (1, 1)
    stride = op.stride if c.synapse.kind == "conv2d" else (1, 1)
    padding = op.padding if c.synapse.kind == "conv2d" else (0, 0)
    channels, in_y, in_x = c.map_shape
    return {
        "core": core,
        "layers": {"synapse": c.synapse.name, "neurons": c.neuron.name, "pool": c.pool.name if c.pool else None},
        "dimensions": {
            "input_shape": {"size": {"x": int(in_x), "y": int(in_y)}, "feature_count": int(channels)},
            "output_shape": {"feature_count": f, "size": {"x": int(fx), "y": int(fy)}},
            "padding": {"x": int(padding[1]), "y": int(padding[0])},
            "stride": {"x": int(stride[1]), "y": int(stride[0])},
            "kernel_size": int(weight.shape[2]),
        },
        "weights": np.swapaxes(weight, 2, 3).astype(np.int64).tolist(),
        "biases": np.asarray(bias, dtype=np.int64).tolist(),
        "leak_enable": bool(np.any(bias)),
        "return_to_zero": p.reset == "zero",
        "threshold_high": int(p.threshold),
        "threshold_low": int(p.min_v_mem),
        "monitor_enable": destination is None,
        "neurons_initial_value": np.zeros((f, int(fx), int(fy)), dtype=np.int64).tolist(),
        "destinations": [] if destination is None else [{"layer": destination, "enable": True,
                                                         "pooling": c.pool_size}],
    }  # fmt: skip


def _widen(values: np.ndarray, wide: int) -> np.ndarray:
    out = np.zeros((wide, *np.shape(values)[1:]), dtype=np.int64)
    out[::4] = values
    return out


def chip_config(program: Program) -> dict:
    """The configuration record of a Speck Program (module docstring)."""
    cores = program_cores(program)
    assignment = [int(program.resources["per_layer"][c.synapse.name]["core"]) for c in cores]
    readout = bool(program.notes.get("readout"))
    records = [core_record(c, assignment[i], assignment[i + 1] if i + 1 < len(cores) else None,
                           readout and i == len(cores) - 1) for i, c in enumerate(cores)]  # fmt: skip
    (inp,) = program.input_layers
    last = cores[-1]
    return {
        "format": FORMAT,
        "version": VERSION,
        "chip": "SynSense Speck 2e / 2f (DynapCNN cores), as Sinabs 3.1.3 configures it",
        "input": {"layer": inp.name, "shape": list(inp.out_shape), "destination_core": assignment[0],
                  "events": "one event per count and pixel per time step (polarity = feature)"},
        "cores": records,
        "output": {"core": assignment[-1], "layer": last.neuron.name, "classes": int(last.neuron.size),
                   "read_from": "the readout layer (class i on channel 4 i, Speck 2e/2f errata)" if readout
                   else "the monitor bus (monitor_enable of the last core)"},
        "readout": {"enabled": readout, "channel_of_class": [4 * i for i in range(last.neuron.size)] if readout
                    else None},
        "layer_to_core": {c.synapse.name: a for c, a in zip(cores, assignment, strict=True)},
        "resources": program.resources,
        "dt": program.dt,
        "reading": program.reading,
        "latency_steps": program.latency_steps,
        "source": to_jsonable(vars(program.source)),
        "scales": program.scales,
        "notes": program.notes,
        "warnings": program.warnings,
    }  # fmt: skip


def write(program: Program, path) -> list[str]:
    """The configuration JSON at ``path`` and the Program at ``path + '.program.npz'`` (and samna's
    configuration at ``path + '.samna.json'`` where a real samna is installed): all or nothing."""
    path = os.fspath(path)
    config = chip_config(program)  # validates the Program before anything is written
    files = [path, path + ".program.npz"]
    try:
        write_json(files[0], config)
        program.save(files[1])
        if real_samna():
            files.append(write_samna(program, path + ".samna.json"))
    except BaseException:
        for name in files:
            if os.path.exists(name):
                os.unlink(name)
        raise
    return files


def real_samna() -> bool:
    """Whether SynSense's real samna is installed (a compiled extension), without importing it:
    PyPI's samna is a stub that runs pip when imported."""
    if "samna" in sys.modules and not getattr(sys.modules["samna"], "__doc__", "").startswith("snncli stand-in"):
        return True
    try:
        files = importlib.metadata.files("samna") or []
    except importlib.metadata.PackageNotFoundError:
        return False
    return any(str(f).endswith((".so", ".pyd")) for f in files)


def write_samna(program: Program, path: str) -> str:
    """samna's configuration of the Program, made by Sinabs (``DynapcnnNetwork.make_config`` on the
    integer layers, the Program's cores), written with samna's own JSON serializer."""
    import samna  # noqa: F401  (the real one: real_samna() said so)

    from snncli.targets.speck.reference import dynapcnn_network

    layers = integer_layers(program)
    cores = [int(program.resources["per_layer"][c.synapse.name]["core"]) for c in program_cores(program)]
    config = dynapcnn_network(layers).make_config(chip_layers_ordering=cores, device="speck2fdevkit")
    to_json = getattr(config, "to_json", None)
    if to_json is None:
        raise SnnCliError("samna's configuration object has no to_json(); this samna version cannot be saved by snncli")
    write_text(path, to_json())
    return path
