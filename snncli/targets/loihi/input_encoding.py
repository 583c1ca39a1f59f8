"""Loihi input: binary spikes or graded (8-bit) spikes, decided from calibration data or graph metadata.

Input
-----
Binary spikes (poisson/latency encoders, event data) enter netx blocks as 1-bit
events.  Analog input (the ``direct`` encoder) enters as graded spikes: the input
layer carries ``input_scale``/``input_bits`` (8), hwsim quantizes
``clip(round(x * input_scale), 0, 255)`` and Lava receives the same integers through
``netx.hdf5.Network(..., input_message_bits=8)``, whose first Dense/Conv then
computes ``W . x`` (``PyDenseModelBitAcc`` with ``num_message_bits > 0``:
``weights.dot(s_in)``).  The sidecar JSON records ``input_message_bits``.
"""

from __future__ import annotations

import numpy as np

from snncli.nirgraph.check import CheckedGraph, metadata_value

INPUT_BITS = 8  # graded input spikes: Network(input_message_bits=8)


def input_encoding(graph: CheckedGraph, calibration, warnings: list[str]) -> dict:
    """Binary or graded input, and (without calibration) its scale."""
    encoder = metadata_value(graph.metadata, "encoder")
    if calibration is not None:
        binary = bool(np.all((calibration == 0) | (calibration == 1)))
        x_max = float(calibration.max(initial=0.0))
        if not binary and calibration.min(initial=0.0) < 0:
            warnings.append(
                f"calibration input has negative values (min {calibration.min():g}); Loihi graded spikes are "
                "unsigned, negative inputs are clipped to 0"
            )
        return {"graded": not binary, "scale": None, "x_max": x_max if x_max > 0 else 1.0, "encoder": encoder,
                "source": "calibration data"}  # fmt: skip
    if encoder == "direct":
        return {"graded": True, "scale": 255.0, "x_max": 1.0, "encoder": encoder,
                "source": "graph metadata: direct encoder, x in [0, 1] assumed"}  # fmt: skip
    if encoder == "frames":
        return {"graded": True, "scale": 1.0, "x_max": 255.0, "encoder": encoder,
                "source": "graph metadata: event frames, integer counts up to 255 sent as graded spikes"}  # fmt: skip
    if encoder not in ("poisson", "latency"):
        warnings.append(
            "input assumed to be binary spikes (the graph does not say how its input is encoded); lower with "
            "calibration data to detect analog input"
        )
    return {"graded": False, "scale": None, "x_max": 1.0, "encoder": encoder,
            "source": f"graph metadata: {encoder} encoder" if encoder else "assumed"}  # fmt: skip


def lattice_base(x: np.ndarray) -> int | None:
    """The smallest integer m <= 255 that maps every calibration value to an integer, if any."""
    values = np.unique(x)
    values = values[values > 0]
    if values.size == 0 or values.size > 4096:
        return None
    for m in range(1, 256):
        y = values * m
        if np.allclose(y, np.round(y), rtol=0, atol=1e-6):
            return m if round(float(values.max()) * m) <= 255 else None
    return None


def quantize_input(x: np.ndarray, scale: float | None, bits: int = INPUT_BITS) -> np.ndarray:
    """hwsim's input quantization (simulate.Simulator._encode_input), float64 integers."""
    x = np.asarray(x, dtype=np.float64)
    if scale is None:
        return x
    return np.clip(np.round(x * scale), 0, 2**bits - 1)
