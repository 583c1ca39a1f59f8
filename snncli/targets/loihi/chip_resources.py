"""Loihi resources: the chip's limits, the per-layer resource table, and the check that a network fits.

Chip limits (checked in ``lower``; too large -> :class:`SnnCliError`, see
:data:`LIMITS` for the numbers and their sources): neurons per core, synaptic
memory per core (8-bit weights, unrolled convolutions, no weight sharing assumed:
conservative), fan-in per neuron, cores per chip.  ``program.resources`` is the
table: per layer neurons, synapses, fan-in, fan-out, cores; totals; chips needed.
"""

from __future__ import annotations

import math

import numpy as np

from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.targets.loihi.stages import Stage

# Loihi 2 limits used by the resource check.  Sources:
# [brief] Intel Labs, "Taking Neuromorphic Computing to the Next Level with Loihi 2",
#         technology brief, 2021 (Loihi 2 vs Loihi table): 128 neuromorphic cores per
#         chip, up to 8,192 neurons per core, up to 1 million neurons and 120 million
#         synapses per chip.
# [davies] M. Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip
#         Learning", IEEE Micro 38(1), 2018: 128 KB synaptic memory per core (Loihi 1);
#         Loihi 2 shares its core memory flexibly between neuron state and synapses,
#         we budget the same ~128 KB for synapses, one byte per 8-bit weight.
LIMITS = {
    "cores_per_chip": {
        "value": 128,
        "source": "Intel Loihi 2 technology brief (2021): 128 neuromorphic cores per chip",
    },
    "neurons_per_core": {
        "value": 8192,
        "source": "Intel Loihi 2 technology brief (2021): up to 8,192 neurons per core",
    },
    "synaptic_memory_bytes_per_core": {
        "value": 128 * 1024,
        "source": "~128 KB synaptic memory per core (Davies et al., IEEE Micro 2018, Loihi 1; Loihi 2 core memory "
        "is shared flexibly, we budget the same); 1 byte per 8-bit weight, dense storage, convolutions unrolled",
    },
    "fan_in_per_neuron": {
        "value": 128 * 1024,
        "source": "a neuron's synapses live in its core's synaptic memory (1 byte each)",
    },
    "neurons_per_chip": {
        "value": 1_000_000,
        "source": "Intel Loihi 2 technology brief (2021): up to 1M neurons per chip",
    },
    "synapses_per_chip": {
        "value": 120_000_000,
        "source": "Intel Loihi 2 technology brief (2021): up to 120M synapses per chip",
    },
    "chips": {"value": 1, "source": "snncli deploys on one Loihi 2 chip"},
}


def _conv_synapse_stats(weight: np.ndarray, in_shape, out_shape, conv) -> tuple[int, int, int]:
    """(synapses, max fan-in, max fan-out) of an unrolled convolution, without building it."""
    weight = np.asarray(weight)
    co, cig, kh, kw = weight.shape
    _, h, w = in_shape
    _, oh, ow = out_shape
    (sy, sx), (py, px), (dy, dx) = conv["stride"], conv["padding"], conv["dilation"]
    oy, ox = np.arange(oh), np.arange(ow)
    vy = np.array([np.count_nonzero((oy * sy - py + ky * dy >= 0) & (oy * sy - py + ky * dy < h)) for ky in range(kh)])
    vx = np.array([np.count_nonzero((ox * sx - px + kx * dx >= 0) & (ox * sx - px + kx * dx < w)) for kx in range(kw)])
    nz = weight != 0
    synapses = int((nz * (vy[:, None] * vx[None, :])).sum())
    fan_in = int(nz.reshape(co, -1).sum(1).max(initial=0))
    # fan-out of an interior input: the taps (over output channels) whose offset ky*dy (kx*dx) falls in one
    # residue class of the stride, best class
    groups = int(conv["groups"])
    taps = nz.reshape(groups, co // groups, cig, kh, kw).sum(axis=1)  # [groups, cig, kh, kw]
    fan_out = 0
    for ry in range(sy):
        my = (np.arange(kh) * dy) % sy == ry
        for rx in range(sx):
            mx = (np.arange(kw) * dx) % sx == rx
            fan_out = max(fan_out, int(taps[:, :, my][:, :, :, mx].sum(axis=(2, 3)).max(initial=0)))
    return synapses, fan_in, fan_out


def _layer_usage(name: str, n: int, syns: list[tuple[str, int, int, int]]) -> dict:
    limit_n = LIMITS["neurons_per_core"]["value"]
    mem = LIMITS["synaptic_memory_bytes_per_core"]["value"]
    synapses = sum(s[1] for s in syns)
    fan_in = sum(s[2] for s in syns)
    cores = max(1, math.ceil(n / limit_n), math.ceil(synapses / mem))
    return {
        "neurons": int(n),
        "synapses": int(synapses),
        "synaptic_memory_bytes": int(synapses),
        "fan_in": int(fan_in),
        "fan_out_of_source": {s[0]: int(s[3]) for s in syns},
        "cores": int(cores),
        "synapse_layers": [s[0] for s in syns],
    }


def resource_table(stages: list[Stage]) -> dict:
    """The table from the float structure (an upper bound: quantization only removes synapses)."""
    per_layer = {}
    for st in stages:
        syns = []
        for s in st.synapses:
            w = s.weight
            if s.op == "dense":
                nz = w != 0
                syns.append((s.name, int(nz.sum()), int(nz.sum(1).max(initial=0)), int(nz.sum(0).max(initial=0))))
            else:
                n, fi, fo = _conv_synapse_stats(w, s.src_shape, s.out_shape, s.conv)
                syns.append((s.name, n, fi, fo))
        per_layer[st.name] = _layer_usage(st.name, st.size, syns)
    return _totals(per_layer)


def resources(program: Program) -> dict:
    """The resource table of a lowered Loihi program (integer weights: zero weights store no synapse)."""
    per_layer = {}
    for layer in program.neuron_layers:
        syns = []
        for name in layer.inputs:
            s = program.layer(name)
            w = np.asarray(s.op.weight)
            if s.kind == "dense":
                nz = w != 0
                syns.append((s.name, int(nz.sum()), int(nz.sum(1).max(initial=0)), int(nz.sum(0).max(initial=0))))
            else:
                conv = {k: getattr(s.op, k) for k in ("stride", "padding", "dilation", "groups")}
                n, fi, fo = _conv_synapse_stats(w, s.in_shape, s.out_shape, conv)
                syns.append((s.name, n, fi, fo))
        per_layer[layer.name] = _layer_usage(layer.name, layer.size, syns)
    return _totals(per_layer)


def _totals(per_layer: dict) -> dict:
    cores = sum(v["cores"] for v in per_layer.values())
    per_chip = LIMITS["cores_per_chip"]["value"]
    return {
        "per_layer": per_layer,
        "neurons": int(sum(v["neurons"] for v in per_layer.values())),
        "synapses": int(sum(v["synapses"] for v in per_layer.values())),
        "cores": int(cores),
        "cores_per_chip": per_chip,
        "chips_needed": int(max(1, math.ceil(cores / per_chip))),
        "limits": LIMITS,
        "notes": "cores per layer = max(neurons / 8192, synaptic bytes / 128 KiB), layers do not share cores; "
        "input spikes come from the host (no neuromorphic core)",
    }


def check_fits(table: dict) -> None:
    """Raise SnnCliError naming the layer, what it needs and the limit, when the network does not fit one chip."""
    fan_limit = LIMITS["fan_in_per_neuron"]["value"]
    for name, row in table["per_layer"].items():
        if row["fan_in"] > fan_limit:
            raise SnnCliError(
                f"layer {name!r}: a neuron has {row['fan_in']} synapses, more than one Loihi 2 core holds "
                f"({fan_limit} 8-bit weights in 128 KiB)"
            )
    per_chip = table["cores_per_chip"]
    if table["cores"] > per_chip * LIMITS["chips"]["value"]:
        name, row = max(table["per_layer"].items(), key=lambda kv: kv[1]["cores"])
        raise SnnCliError(
            f"network needs {table['chips_needed']} chips ({table['cores']} cores); snncli deploys on one Loihi 2 chip "
            f"({per_chip} cores): layer {name!r} alone needs {row['cores']} cores ({row['neurons']} neurons, "
            f"{row['synapses']} synapses; a core holds 8192 neurons and 128 KiB of 8-bit weights)"
        )
    for key, total in (("neurons_per_chip", table["neurons"]), ("synapses_per_chip", table["synapses"])):
        if total > LIMITS[key]["value"]:
            raise SnnCliError(f"network has {total} {key.split('_')[0]}; one Loihi 2 chip holds {LIMITS[key]['value']}")
