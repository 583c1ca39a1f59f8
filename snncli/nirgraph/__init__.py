"""NIR graphs as snncli reads them: files in and out (:mod:`~snncli.nirgraph.io`) and the
one check every graph passes before a target lowers it (:mod:`~snncli.nirgraph.check`)."""

from snncli.nirgraph.check import (
    RESET_MODE_KEY,
    RESET_MODES,
    SUPPORTED_NODES,
    CheckedGraph,
    GraphNode,
    check_graph,
    reset_mode,
)
from snncli.nirgraph.io import read_nir, write_nir

__all__ = [
    "RESET_MODES",
    "RESET_MODE_KEY",
    "SUPPORTED_NODES",
    "CheckedGraph",
    "GraphNode",
    "check_graph",
    "read_nir",
    "reset_mode",
    "write_nir",
]
