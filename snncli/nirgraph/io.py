"""NIR files: read any producer's ``.nir`` into a checked graph, write one atomically.

* :func:`read_nir` reads without nir's own type check (nir >= 1.0.7 rejects graphs
  that carry a batch dimension, such as Rockpool's ``Output [1, 1, 1]``), bounding
  what it reads by the sizes the file declares before reading any array, then checks
  the graph (:func:`snncli.nirgraph.check.check_graph`).
* :func:`write_nir` checks, then writes in memory with ``compression=None`` (nir's
  default gzip fails on 0-d arrays) and renames the bytes into place: an error never
  leaves a partial file and never clobbers an existing one.
"""

from __future__ import annotations

import io
import os
from typing import Any

import h5py
import nir
import numpy as np
from nir.serialization import hdf2dict

from snncli.core.files import atomic_write, one_line
from snncli.errors import SnnCliError
from snncli.nirgraph.check import SUPPORTED_NODES, CheckedGraph, check_graph, check_node_type

MAX_DECLARED_BYTES = 8 << 30  # never inflate more than this from one file
MAX_INFLATION = 1000  # ... nor more than this many times the file's own size (beyond 64 MiB)


def read_nir(path: str | os.PathLike) -> CheckedGraph:
    """Read and check a ``.nir`` file.

    Raises :class:`SnnCliError` (never a raw h5py/nir exception) for a missing,
    non-HDF5, truncated or corrupt file, an HDF5 file that is no NIR graph, arrays
    declared far larger than the file could hold, an unsupported node type (nested
    graphs included), and every problem :func:`check_graph` finds.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SnnCliError(f"NIR file not found: {path}")
    if os.path.isdir(path):
        raise SnnCliError(f"{path} is a folder, not a NIR file")
    try:
        with h5py.File(path, "r") as f:
            graph = _graph_from_hdf5(f, path)
    except SnnCliError:
        raise
    except Exception as exc:  # h5py/nir raise OSError, KeyError, TypeError, ...
        raise SnnCliError(
            f"cannot read {path}: not an HDF5 file, or truncated or corrupt ({one_line(exc)}); re-export or re-download it"
        ) from None
    return check_graph(graph)


def _declared_bytes(group: h5py.Group) -> int:
    total = 0

    def visit(_name, obj):
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += int(obj.size) * int(obj.dtype.itemsize)

    group.visititems(visit)
    return total


def _graph_from_hdf5(f: h5py.File, path: str) -> nir.NIRGraph:
    root = f.get("node")
    if not isinstance(root, h5py.Group) or _h5_str(root.get("type")) != "NIRGraph":
        raise SnnCliError(f"{path} is an HDF5 file but not a NIR graph (no top-level 'node' NIRGraph group)")
    if not isinstance(root.get("nodes"), h5py.Group) or "edges" not in root:
        raise SnnCliError(f"{path} is not a valid NIR graph: its 'node' group lacks 'nodes' or 'edges'")
    declared, size = _declared_bytes(f), os.path.getsize(path)
    if declared > min(MAX_DECLARED_BYTES, max(64 << 20, MAX_INFLATION * size)):
        raise SnnCliError(
            f"{path} declares {declared / 2**20:,.0f} MiB of arrays in a {size / 2**10:,.0f} KiB file; snncli does not "
            "inflate a file that much (a truncated or hostile file?); re-export the graph"
        )
    for name, group in root["nodes"].items():  # check types before nir sees them
        check_node_type(name, _h5_str(group.get("type")) if isinstance(group, h5py.Group) else None)
    data = hdf2dict(root)
    nodes = {}
    for name, node_dict in data["nodes"].items():
        try:
            nodes[name] = nir.dict2NIRNode(node_dict)
        except Exception as exc:
            raise SnnCliError(
                f"node {name!r} ({node_dict.get('type')}) in {path} is malformed: {one_line(exc)}; re-export the graph"
            ) from None
        nodes[name].metadata = _plain(nodes[name].metadata)
    return nir.NIRGraph(
        nodes=nodes, edges=_edges(data["edges"], path), metadata=_plain(data.get("metadata", {})), type_check=False
    )


def _edges(raw: Any, path: str) -> list[tuple[str, str]]:
    arr = np.asarray(raw, dtype=object)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise SnnCliError(f"{path}: the graph's edges are not a list of (source, target) pairs")
    return [(_to_str(a), _to_str(b)) for a, b in arr]


def _h5_str(dataset: Any) -> str | None:
    if not isinstance(dataset, h5py.Dataset):
        return None
    return _to_str(dataset[()])


def _to_str(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _plain(value: Any) -> Any:
    """Metadata as read from HDF5 -> plain Python: numpy scalars -> int/float/bool,
    byte strings -> str, arrays of strings -> lists of str."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [_plain(v) for v in value.tolist()]
    return value


# --------------------------------------------------------------------- write
def write_nir(graph: nir.NIRGraph | CheckedGraph, path: str | os.PathLike) -> list[str]:
    """Check ``graph`` (which records the inferred shapes nir needs to serialize it),
    then write it atomically.  Returns the check's warnings."""
    checked = graph if isinstance(graph, CheckedGraph) else check_graph(graph)
    _check_storable(checked.graph.metadata, "graph metadata")
    for name, node in checked.graph.nodes.items():
        _check_storable(node.metadata, f"metadata of node {name!r}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SnnCliError(f"{path} is a folder; give a file name such as model.nir")
    try:
        atomic_write(path, lambda f: _dump(checked.graph, f))
    except OSError as exc:
        raise SnnCliError(f"cannot write {path}: {exc.strerror or exc}") from None
    return list(checked.warnings)


def _dump(graph: nir.NIRGraph, fileobj) -> None:
    buf = io.BytesIO()
    try:
        nir.write(buf, graph, compression=None)
    except (TypeError, ValueError) as exc:
        raise SnnCliError(f"nir could not serialize the graph: {one_line(exc)}") from None
    fileobj.write(buf.getbuffer())


def _check_storable(value: Any, where: str) -> None:
    """Only what nir.write stores and nir.read gives back: str, bool, int, float,
    numeric arrays, lists of numbers or of strings, dicts of these."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or "/" in key:
                raise SnnCliError(f"{where}: key {one_line(repr(key), 60)} must be a non-empty string without '/'")
            _check_storable(item, f"{where} {key!r}")
        return
    if isinstance(value, (str, bytes, bool, int, float, np.number, np.bool_)):
        return
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return
    if isinstance(value, (list, tuple)) and (
        all(isinstance(v, str) for v in value) or all(isinstance(v, (bool, int, float, np.number)) for v in value)
    ):
        return
    raise SnnCliError(
        f"{where} holds a {type(value).__name__} ({one_line(repr(value), 60)}), which a NIR file cannot store; "
        "use str, numbers, lists of numbers or strings, or dicts of these"
    )


__all__ = ["SUPPORTED_NODES", "read_nir", "write_nir"]
