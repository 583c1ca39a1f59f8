"""export --target nir --for PEER: the file each peer's NIR importer reads as snncli reads the graph.

Round trips snncli -> peer -> snncli: snncli writes the graph for the peer, the peer's own ``from_nir``
loads and runs it and must emit snncli's spikes, and snncli reading the file back (its metadata says how)
emits them too.  What a peer's importer cannot express is refused in one line with the node and the reason.
The models use weights on a 1/4 grid and decays 1/2, 3/4, so float32 peers and float64 snncli compute the
same numbers exactly and ties (v == threshold) are common: they test the firing rule, not rounding.
"""

import contextlib
import io
import warnings

import nir
import numpy as np
import pytest

from snncli.cli import main
from snncli.errors import SnnCliError
from snncli.hwsim.simulate import simulate
from snncli.nirgraph import read_nir, write_nir
from snncli.nirgraph.check import check_graph
from snncli.targets.float.lowering import lower_float
from snncli.targets.float.peers import for_peer

torch = pytest.importorskip("torch")
F, H, N_OUT, T, B = 10, 16, 5, 30, 3
DT = 1e-4


def _snncli_graph(kind: str):
    """A SpikingJelly model exported by snncli (reading spikingjelly: fires at v >= thr), weights on a 1/4 grid."""
    from spikingjelly.activation_based import layer, neuron

    from snncli.export.torch_to_nir import model_to_nir

    def nrn():
        if kind == "IF":
            return neuron.IFNode(v_threshold=1.0, step_mode="m")
        return neuron.LIFNode(tau=4.0, decay_input=False, v_threshold=1.0, step_mode="m")  # v = 3/4 v + x

    net = torch.nn.Sequential(
        layer.Linear(F, H, bias=False, step_mode="m"), nrn(), layer.Linear(H, N_OUT, bias=False, step_mode="m"), nrn()
    )
    rng = np.random.default_rng(1)
    with torch.no_grad():
        for m in (net[0], net[2]):
            m.weight.copy_(torch.tensor(rng.integers(-2, 5, tuple(m.weight.shape)) / 4.0))
    return model_to_nir(net, torch.zeros(T, 1, F), dt=DT)


def _input():
    return (np.random.default_rng(2).random((T, B, F)) < 0.3).astype(np.float64)


def _through_file(graph, reading, peer, tmp_path):
    """Write ``graph`` for ``peer``; return the raw NIR graph (what the peer loads) and snncli's spikes on it."""
    path = tmp_path / f"{peer}.nir"
    write_nir(for_peer(graph, reading, DT, peer), path)
    back = read_nir(path)
    ours_back = simulate(lower_float(back, back.metadata["dt"], back.metadata["reading"]), _input()).outputs
    return nir.read(str(path), type_check=False), ours_back


def _stepped(model, x, reset=None):
    """Run a nirtorch-style model (``out, state = model(x_t, state)``) over time; with ``reset``, one sample at
    a time from a fresh state (snnTorch's importer keeps its neurons' state inside the modules)."""
    if reset is not None:
        runs = []
        for b in range(B):
            reset(model)
            runs.append(_stepped(model, x[:, b]))
        return np.stack(runs, axis=1)
    state, outs = None, []
    with torch.no_grad():
        for t in range(len(x)):
            out, state = model(torch.tensor(x[t], dtype=torch.float32), state)
            outs.append(out.detach().numpy().reshape(np.shape(x[t])[:-1] + (-1,)))
    return np.stack(outs)


@pytest.mark.parametrize("kind", ["IF", "LIF"])
def test_round_trip_through_spikingjelly(kind, tmp_path):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    graph, x = _snncli_graph(kind), _input()
    ours = simulate(lower_float(graph, DT, "spikingjelly"), x).outputs
    raw, ours_back = _through_file(graph, "spikingjelly", "spikingjelly", tmp_path)
    model = import_from_nir(raw, dt=DT, step_mode="m")
    functional.reset_net(model)
    with torch.no_grad():
        theirs = model(torch.tensor(x, dtype=torch.float32))[0].numpy()
    assert ours.sum() > 10
    np.testing.assert_array_equal(theirs, ours)
    np.testing.assert_array_equal(ours_back, ours)


def test_round_trip_through_snntorch(tmp_path):
    pytest.importorskip("snntorch")
    from snntorch import utils
    from snntorch.import_nir import import_from_nir

    graph, x = _snncli_graph("LIF"), _input()
    ours = simulate(lower_float(graph, DT, "spikingjelly"), x).outputs
    raw, ours_back = _through_file(graph, "spikingjelly", "snntorch", tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        model = import_from_nir(raw)
    theirs = _stepped(model, x, reset=utils.reset)
    assert ours.sum() > 10
    np.testing.assert_array_equal(theirs, ours)  # v >= 1 met as v > the float32 number below 1
    np.testing.assert_array_equal(ours_back, ours)
    with pytest.raises(SnnCliError, match=r"node '_1' \(IF\).*snnTorch's import_from_nir reads LIF and CubaLIF"):
        for_peer(_snncli_graph("IF"), "spikingjelly", DT, "snntorch")


def test_round_trip_through_norse(tmp_path):
    nt = pytest.importorskip("norse.torch")
    graph, x = _snncli_graph("IF"), _input()
    ours = simulate(lower_float(graph, DT, "spikingjelly"), x).outputs
    raw, ours_back = _through_file(graph, "spikingjelly", "norse", tmp_path)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        theirs = _stepped(nt.from_nir(raw, dt=DT), x)
    assert ours.sum() > 10
    np.testing.assert_array_equal(theirs, ours)
    np.testing.assert_array_equal(ours_back, ours)
    with pytest.raises(SnnCliError, match="Norse's box cells ignore r"):  # LIF r = tau/dt: Norse drops r
        for_peer(_snncli_graph("LIF"), "spikingjelly", DT, "norse")


def _sinabs_dialect():
    """IF with r = 1 (Sinabs' export) on a 1/4 grid, read as sinabs-floor (what Sinabs' own importer means)."""
    rng = np.random.default_rng(3)
    w1, w2 = rng.integers(-2, 5, (H, F)) / 4.0, rng.integers(-2, 5, (N_OUT, H)) / 4.0
    return check_graph(
        nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type={"input": np.array([F])}),
                "0": nir.Linear(w1),
                "1": nir.IF(r=np.ones(H), v_threshold=np.full(H, 0.75)),
                "2": nir.Linear(w2),
                "3": nir.IF(r=np.ones(N_OUT), v_threshold=np.full(N_OUT, 0.75)),
                "output": nir.Output(output_type={"output": np.array([N_OUT])}),
            },
            edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")],
            type_check=False,
        )
    )


def test_round_trip_through_sinabs(tmp_path):
    sinabs = pytest.importorskip("sinabs")
    graph, x = _sinabs_dialect(), _input()
    ours = simulate(lower_float(graph, DT, "sinabs-floor"), x).outputs
    raw, ours_back = _through_file(graph, "sinabs-floor", "sinabs", tmp_path)
    model = sinabs.from_nir(raw, batch_size=B)
    flat = torch.tensor(x.transpose(1, 0, 2).reshape(B * T, F), dtype=torch.float32)
    with torch.no_grad():
        out = model(flat)
    theirs = (out[0] if isinstance(out, tuple) else out).numpy().reshape(B, T, N_OUT).transpose(1, 0, 2)
    assert ours.sum() > 10 and ours.max() > 1  # several spikes in a step: MultiSpike
    np.testing.assert_array_equal(theirs, ours)
    np.testing.assert_array_equal(ours_back, ours)
    with pytest.raises(SnnCliError, match="IAFSqueeze"):  # one spike per step, reset to v_reset: not Sinabs'
        for_peer(_snncli_graph("IF"), "spikingjelly", DT, "sinabs")


def test_export_for_a_peer_through_the_cli(tmp_path, capsys):
    path = tmp_path / "g.nir"
    write_nir(_snncli_graph("IF"), path)
    assert main(["export", str(path), "--target", "nir", "--for", "norse", "-o", str(tmp_path / "n.nir")]) == 0
    meta = read_nir(tmp_path / "n.nir").metadata
    assert meta["for_peer"] == "norse" and meta["reading"] == "nir" and meta["dt"] == DT
    capsys.readouterr()
    code = main(["export", str(path), "--target", "nir", "--for", "snntorch", "-o", str(tmp_path / "s.nir")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "import_from_nir" in err
    assert not (tmp_path / "s.nir").exists()
    assert main(["export", str(path), "--target", "nir", "-o", str(tmp_path / "own.nir")]) == 0
    assert read_nir(tmp_path / "own.nir").metadata["reading"] == "spikingjelly"  # snncli's dialect records it
