"""NIR file reading, checking and atomic writing (snncli.nirgraph)."""

import errno
import os

import h5py
import nir
import numpy as np
import pytest

from snncli.errors import SnnCliError
from snncli.nirgraph import RESET_MODE_KEY, check_graph, read_nir, reset_mode, write_nir
from snncli.nirgraph import io as nir_io

PAPER_GRAPHS = [
    "braille_noDelay_bias_zero.nir",
    "braille_noDelay_noBias_subtract.nir",
    "cnn_sinabs.nir",
    "lif_norse.nir",
    "lif_rockpool.nir",
    "two_lif_neurons.nir",
]


def _warnings(graph) -> list[str]:
    return list(check_graph(graph).warnings)


def _raw_write(graph, path):
    """Write without validation, to produce broken files."""
    nir.write(path, graph, compression=None)
    return path


def _graph(*nodes_and_edges, metadata=None):
    nodes, edges = nodes_and_edges
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata or {}, type_check=False)


def _lif(n, **metadata):
    return nir.LIF(
        tau=np.full(n, 1e-3),
        r=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        v_reset=np.zeros(n),
        metadata=metadata,
    )


def _chain(w=None, in_shape=(2,), out_shape=(3,), lif_n=3):
    w = np.ones((3, 2)) if w is None else w
    return _graph(
        {
            "in": nir.Input(np.array(in_shape)),
            "fc": nir.Affine(w, np.zeros(w.shape[0])),
            "lif": _lif(lif_n),
            "out": nir.Output(np.array(out_shape)),
        },
        [("in", "fc"), ("fc", "lif"), ("lif", "out")],
    )


# ------------------------------------------------------- conformance graphs
def test_all_paper_graphs_are_present(conformance):
    assert sorted(p.name for p in conformance.glob("*.nir")) == PAPER_GRAPHS


@pytest.mark.parametrize("name", PAPER_GRAPHS)
def test_paper_graph_reads_and_round_trips(name, tmp_path, conformance):
    _checked = read_nir(conformance / name)
    graph, warnings = _checked.graph, list(_checked.warnings)
    assert any(isinstance(n, nir.Input) for n in graph.nodes.values())
    if name == "lif_rockpool.nir":  # Output declares [1, 1, 1]: a batch dim
        assert len(warnings) == 1 and "leading singleton" in warnings[0]
        np.testing.assert_array_equal(graph.nodes["output"].output_type["output"], [1])
    else:
        assert warnings == []
    write_nir(graph, tmp_path / name)
    _checked = read_nir(tmp_path / name)
    again, warnings = _checked.graph, list(_checked.warnings)
    assert warnings == [] and sorted(again.edges) == sorted(graph.edges)
    nir.read(tmp_path / name)  # nir's strict, type-checking reader accepts the rewrite


def test_sinabs_cnn_shapes_are_inferred(conformance):
    graph = read_nir(conformance / "cnn_sinabs.nir").graph
    np.testing.assert_array_equal(graph.nodes["4"].output_type["output"], [16, 8, 8])  # SumPool2d
    np.testing.assert_array_equal(graph.nodes["8"].output_type["output"], [128])  # Flatten


# ------------------------------------------------------------- bad files
def test_missing_file(tmp_path):
    with pytest.raises(SnnCliError, match="NIR file not found"):
        read_nir(tmp_path / "nope.nir")


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(SnnCliError, match="is a folder"):
        read_nir(tmp_path)


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.nir"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(SnnCliError, match="not an HDF5 file, or truncated or corrupt"):
        read_nir(path)


def test_truncated_file(tmp_path, conformance):
    data = (conformance / "cnn_sinabs.nir").read_bytes()
    path = tmp_path / "half.nir"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnnCliError, match="truncated or corrupt"):
        read_nir(path)


def test_hdf5_that_is_not_nir(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(SnnCliError, match="HDF5 file but not a NIR graph"):
        read_nir(path)


def _retype(path, node, new_type):
    with h5py.File(path, "r+") as f:
        group = f["node/nodes"][node]
        del group["type"]
        group.create_dataset("type", data=new_type, dtype=h5py.string_dtype())


def test_unknown_node_type_names_node_and_lists_supported(tmp_path):
    path = _raw_write(_chain(), tmp_path / "g.nir")
    _retype(path, "lif", "Delay")
    with pytest.raises(
        SnnCliError, match=r"node 'lif' has type 'Delay'.*supported node types: Input, Output, Affine.*Threshold"
    ):
        read_nir(path)


def test_nested_graph_is_rejected(tmp_path):
    path = _raw_write(_chain(), tmp_path / "g.nir")
    _retype(path, "lif", "NIRGraph")
    with pytest.raises(SnnCliError, match="node 'lif' is a nested NIRGraph"):
        read_nir(path)


def test_malformed_node_is_named(tmp_path):
    path = _raw_write(_chain(), tmp_path / "g.nir")
    with h5py.File(path, "r+") as f:
        del f["node/nodes/lif/tau"]
    with pytest.raises(SnnCliError, match=r"node 'lif' \(LIF\) .* is malformed"):
        read_nir(path)


# ------------------------------------------------------------ bad graphs
def _read_error(graph, tmp_path):
    with pytest.raises(SnnCliError) as info:
        read_nir(_raw_write(graph, tmp_path / "g.nir"))
    return str(info.value)


def test_edge_to_missing_node(tmp_path):
    graph = _chain()
    graph.edges.append(("lif", "ghost"))
    assert "names node 'ghost', which is not in the graph" in _read_error(graph, tmp_path)


@pytest.mark.parametrize("kind", ["Input", "Output"])
def test_graph_without_input_or_output(kind, tmp_path):
    graph = _chain()
    name = "in" if kind == "Input" else "out"
    del graph.nodes[name]
    graph.edges = [e for e in graph.edges if name not in e]
    assert f"has no {kind} node" in _read_error(graph, tmp_path)


def test_nan_parameter_names_node_and_field(tmp_path):
    graph = _chain()
    graph.nodes["lif"].v_threshold[1] = np.nan
    assert "node 'lif' (LIF) field 'v_threshold' contains NaN or inf" in _read_error(graph, tmp_path)


def test_inf_weight_is_rejected(tmp_path):
    graph = _chain()
    graph.nodes["fc"].weight[0, 0] = np.inf
    assert "node 'fc' (Affine) field 'weight' contains NaN or inf" in _read_error(graph, tmp_path)


def test_affine_columns_mismatch_names_both_nodes(tmp_path):
    graph = _chain(in_shape=(4,))
    message = _read_error(graph, tmp_path)
    assert "node 'in' (Input) outputs [4] but node 'fc' (Affine) takes [2]" in message
    assert "2 columns" in message


def test_neuron_size_mismatch(tmp_path):
    graph = _chain(lif_n=5, out_shape=(5,))
    assert "node 'fc' (Affine) outputs [3] but node 'lif' (LIF) takes [5]" in _read_error(graph, tmp_path)


def _conv_graph(input_shape):
    conv = nir.Conv2d(input_shape, np.ones((4, 3, 3, 3)), 1, 1, 1, 1, np.zeros(4))
    return _graph(
        {"in": nir.Input(np.array([2, 8, 8])), "conv": conv, "out": nir.Output(np.array([4, 8, 8]))},
        [("in", "conv"), ("conv", "out")],
    )


def test_conv_channel_mismatch(tmp_path):
    message = _read_error(_conv_graph((8, 8)), tmp_path)
    assert "node 'in' (Input) outputs [2, 8, 8] but node 'conv' (Conv2d) takes [3, 8, 8]" in message
    with pytest.raises(SnnCliError) as declared_or_not:  # one set of rules: the same message without input_shape
        _warnings(_conv_graph(None))
    assert str(declared_or_not.value) == message


def test_output_shape_mismatch(tmp_path):
    graph = _chain(out_shape=(2,))
    assert "Output node 'out' declares shape [2] but node 'lif' (LIF) gives it [3]" in _read_error(graph, tmp_path)


def test_leading_singleton_dims_on_input_are_squeezed(tmp_path):
    _checked = read_nir(_raw_write(_chain(in_shape=(1, 1, 2)), tmp_path / "g.nir"))
    graph, warnings = _checked.graph, list(_checked.warnings)
    assert len(warnings) == 1 and "Input node 'in' declares shape [1, 1, 2]" in warnings[0]
    np.testing.assert_array_equal(graph.nodes["in"].output_type["output"], [2])


def test_recurrent_graph_validates():
    graph = _chain()
    graph.nodes["rec"] = nir.Linear(np.eye(3))
    graph.edges += [("lif", "rec"), ("rec", "lif")]
    assert _warnings(graph) == []


def test_unreachable_node_is_an_error():
    graph = _chain()
    graph.nodes["a"] = nir.Linear(np.eye(3))
    graph.nodes["b"] = nir.Linear(np.eye(3))
    graph.edges += [("a", "b"), ("b", "a"), ("b", "out")]
    with pytest.raises(SnnCliError, match="node 'a' \\(Linear\\) is not reachable from any Input"):
        _warnings(graph)


# ------------------------------------------------------------ reset mode
def test_reset_mode_key_values():
    assert reset_mode(_lif(1)) == "zero"
    assert reset_mode(_lif(1, **{RESET_MODE_KEY: "subtract"})) == "subtract"
    assert reset_mode(_lif(1, **{RESET_MODE_KEY: b"zero"})) == "zero"
    with pytest.raises(SnnCliError, match="node 'x' has metadata reset_mode='floor'"):
        reset_mode(_lif(1, **{RESET_MODE_KEY: "floor"}), "x")


def test_reset_mode_survives_file_and_bad_value_is_rejected(tmp_path):
    graph = _chain()
    graph.nodes["lif"].metadata[RESET_MODE_KEY] = "subtract"
    write_nir(graph, tmp_path / "ok.nir")
    assert reset_mode(read_nir(tmp_path / "ok.nir").graph.nodes["lif"]) == "subtract"
    graph.nodes["lif"].metadata[RESET_MODE_KEY] = "sideways"
    assert "node 'lif' has metadata reset_mode='sideways'" in _read_error(graph, tmp_path)


# ----------------------------------------------------------------- write
def _no_temp_files(folder):
    return not [p for p in os.listdir(folder) if p.startswith(".tmp-")]


def test_failing_serializer_leaves_no_file(tmp_path, monkeypatch):
    real = nir.write

    def broken(target, graph, **kwargs):
        real(target, graph, **kwargs)
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(nir, "write", broken)
    with pytest.raises(SnnCliError, match="cannot write .*simulated I/O error"):
        write_nir(_chain(), tmp_path / "g.nir")
    assert not (tmp_path / "g.nir").exists() and _no_temp_files(tmp_path)


def test_failure_mid_file_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "g.nir"
    write_nir(_chain(), target)
    before = target.read_bytes()

    def half_then_disk_full(graph, fileobj):
        fileobj.write(before[: len(before) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nir_io, "_dump", half_then_disk_full)
    with pytest.raises(SnnCliError, match="No space left on device"):
        write_nir(_chain(w=2 * np.ones((3, 2))), target)
    assert target.read_bytes() == before and _no_temp_files(tmp_path)


def test_invalid_graph_is_not_written(tmp_path):
    graph = _chain()
    graph.nodes["fc"].bias[0] = np.nan
    with pytest.raises(SnnCliError, match="'bias' contains NaN"):
        write_nir(graph, tmp_path / "g.nir")
    assert not (tmp_path / "g.nir").exists()


def test_unstorable_metadata_is_named(tmp_path):
    graph = _chain()
    graph.metadata = {"snncli": {"encoder": None}}
    with pytest.raises(SnnCliError, match="graph metadata 'snncli' 'encoder' holds a NoneType"):
        write_nir(graph, tmp_path / "g.nir")
    assert not (tmp_path / "g.nir").exists()


def test_write_fills_shapes_nir_needs(tmp_path):
    """A Conv2d without input_shape (allowed in memory) cannot be serialized by
    nir as is; validation fills it in from the graph."""
    conv = nir.Conv2d(None, np.ones((4, 2, 3, 3)), 1, 1, 1, 1, np.zeros(4))
    pool = nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0]))
    graph = _graph(
        {"in": nir.Input(np.array([2, 8, 8])), "conv": conv, "pool": pool, "out": nir.Output(np.array([4, 4, 4]))},
        [("in", "conv"), ("conv", "pool"), ("pool", "out")],
    )
    write_nir(graph, tmp_path / "g.nir")
    again = nir.read(tmp_path / "g.nir")  # strict reader
    np.testing.assert_array_equal(again.nodes["conv"].input_shape, [8, 8])
