"""Export: torch <-> NIR, NIR file I/O and validation.

``read_nir``/``write_nir``/``validate_graph``/``reset_mode`` need only nir and
h5py; ``model_to_nir`` imports torch and SpikingJelly on first use.
"""

from snncli.export.nir_io import (
    RESET_MODE_KEY,
    SUPPORTED_NODES,
    ReadResult,
    read_nir,
    reset_mode,
    validate_graph,
    write_nir,
)

__all__ = [
    "RESET_MODE_KEY",
    "SUPPORTED_NODES",
    "ReadResult",
    "model_to_nir",
    "read_nir",
    "reset_mode",
    "validate_graph",
    "write_nir",
]


def __getattr__(name):
    if name == "model_to_nir":
        from snncli.export.torch_to_nir import model_to_nir

        return model_to_nir
    raise AttributeError(f"module 'snncli.export' has no attribute {name!r}")
