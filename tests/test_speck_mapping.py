"""Speck limits, memory figures and core assignment, against Sinabs' own DynapCNN mapping.

Networks: the NIR paper's N-MNIST CNN (``cnn_sinabs.nir``), a CNN with 4x4 and 2x2
pooling and biases, and a 128x128-input CNN (``test_speck_nets``).  Sinabs-dependent
tests skip where Sinabs is not installed (``bash scripts/install_sinabs.sh``).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_speck_nets import build_net, dvs_cnn, nir_paper_cnn

from snncli.errors import SnnCliError
from snncli.targets.speck import mapping
from snncli.targets.speck.layer import SpeckLayer
from snncli.targets.speck.limits import LIMITS, chain_errors, check_network, layer_error, layer_errors, readout_error

NETS = ("nir_paper_cnn", "pooled_cnn", "dvs_cnn")


@pytest.fixture(scope="module")
def reference():
    try:
        import sinabs  # noqa: F401
    except ImportError:
        pytest.skip("Sinabs is not installed (bash scripts/install_sinabs.sh): the Speck oracle tests need it")
    from snncli.targets.speck import reference as ref

    ref.import_dynapcnn()
    return ref


def _one_line(exc) -> str:
    msg = str(exc.value if hasattr(exc, "value") else exc)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------- by hand
def test_nir_paper_cnn_memory_by_hand(conformance):
    specs = [layer.spec for layer in nir_paper_cnn(conformance)]
    mem = [mapping.layer_memory(s) for s in specs]
    # kernel = c * 2**(ceil log2(k*k) + ceil log2(f)); neuron = f * 2**(ceil log2 h + ceil log2 w)
    assert [m.kernel for m in mem] == [
        2 * 2 ** (5 + 4),
        16 * 2 ** (4 + 4),
        16 * 2 ** (4 + 3),
        8 * 2 ** (4 + 8),
        256 * 2**4,
    ]
    assert [m.neuron for m in mem] == [16 * 256, 16 * 256, 8 * 64, 256, 10]
    assert [m.bias for m in mem] == [16, 16, 8, 256, 10]
    assert mapping.assign_cores(specs) == {"conv0": 0, "conv2": 1, "conv5": 2, "fc9": 3, "fc11": 4}
    assert mapping.core_candidates(mem[3]) == [3, 4, 5, 6]  # 32Ki kernel words: the 32Ki and 64Ki cores


def test_overview_example_does_not_fit():
    """docs/speck/overview.md: Conv2d(16, 32, 3, padding 1) on 64x64 needs 8Ki kernel and 128Ki neuron words."""
    big = SpeckLayer("big", (16, 64, 64), 32, 3, padding=1)
    assert mapping.layer_memory(big) == mapping.Memory(8 * 1024, 128 * 1024, 0)
    assert layer_error(big) is None  # its shapes are legal: only memory fails
    with pytest.raises(SnnCliError) as exc:
        mapping.assign_cores([big])
    msg = _one_line(exc)
    assert "'big'" in msg and "131072 neuron-memory words" in msg and "64Ki" in msg


def test_ceil_log2_is_exact():
    for n in range(1, 5000):
        assert mapping.ceil_log2(n) == int(np.ceil(np.log2(n)))


def test_resource_table_per_core():
    layers = [layer.spec for layer in dvs_cnn()]
    table = mapping.resource_table(layers)
    assert table["cores_used"] == 5 and table["cores"] == 9
    used = [row for row in table["per_core"] if row["layer"]]
    assert sorted(row["layer"] for row in used) == sorted(s.name for s in layers)
    for row in table["per_core"]:
        core = row["core"]
        assert row["kernel_words_available"] == LIMITS["kernel_memory_words"].value[core]
        assert row["neuron_words_available"] == LIMITS["neuron_memory_words"].value[core]
        assert (
            row["kernel_words"] <= row["kernel_words_available"]
            and row["neuron_words"] <= row["neuron_words_available"]
        )
    d1 = table["per_layer"]["d1"]
    assert d1["neuron_words"] == 8 * 64 * 64 and d1["candidate_cores"] == [0, 1, 2, 3, 4]  # 32Ki neurons
    assert table["per_layer"]["d4"]["kernel_words"] == 32 * 2 ** (4 + 6)  # linear 512->64 = a 4x4 conv


# ------------------------------------------------------------- limits
def _err(layer: SpeckLayer) -> str:
    msg = layer_error(layer)
    assert msg is not None and "\n" not in msg and repr(layer.name) in msg
    return msg


@pytest.mark.parametrize(
    "layer, words",
    [
        (SpeckLayer("wide", (8, 16, 16), 1025, 3, padding=1), ["1025 output channels", "1024"]),
        (SpeckLayer("deep_in", (2048, 4, 4), 8, 3, padding=1), ["2048 input channels", "1024"]),
        (SpeckLayer("pool5", (8, 20, 20), 8, 3, padding=1, pool=5), ["5x5 sum pooling", "2x2 or 4x4"]),
        (SpeckLayer("pool3", (8, 18, 18), 8, 3, padding=1, pool=3), ["3x3 sum pooling"]),
        (SpeckLayer("pool_rect", (8, 16, 16), 8, 3, padding=1, pool=(2, 4)), ["2x4 sum pooling"]),
        (SpeckLayer("k17", (2, 40, 40), 4, 17, stride=2), ["kernel 17x17", "16x16"]),
        (SpeckLayer("k_rect", (2, 32, 32), 4, (3, 5), stride=2, padding=1), ["kernel 3x5", "not square"]),
        (SpeckLayer("s3", (2, 30, 30), 4, 3, stride=3), ["stride 3x3", "1, 2, 4, 8"]),
        (SpeckLayer("pad8", (2, 32, 32), 4, 16, stride=2, padding=8), ["padding 8x8", "7"]),
        (SpeckLayer("in129", (2, 129, 129), 4, 3, stride=4), ["input map 129x129", "128x128"]),
        (SpeckLayer("out126", (2, 128, 128), 4, 3), ["output map 126x126", "64x64"]),
        (SpeckLayer("dil", (2, 32, 32), 4, 3, stride=2, dilation=2), ["dilation 2x2"]),
        (SpeckLayer.linear("fc_big", (8, 20, 20), 10), ["8x20x20 map", "20x20 kernel", "16x16"]),
    ],
    ids=lambda v: v.name if isinstance(v, SpeckLayer) else "",
)
def test_each_broken_limit_is_one_line(layer, words):
    msg = _err(layer)
    for w in words:
        assert w in msg, msg
    with pytest.raises(SnnCliError) as exc:
        check_network([layer])
    assert _one_line(exc) == msg


def test_legal_extremes_pass():
    for layer in (
        SpeckLayer("edge", (1024, 16, 16), 1024, 16, stride=8, padding=7, pool=4),
        SpeckLayer("dvs", (2, 128, 128), 8, 2, stride=2, pool=2),
        SpeckLayer.linear("fc", (32, 16, 16), 10),
    ):
        assert layer_errors(layer) == [], layer_errors(layer)
    assert readout_error(SpeckLayer.linear("out", (64,), 10)) is None
    assert "15 classes" in readout_error(SpeckLayer.linear("out", (64,), 20))


def test_chain_shape_mismatch():
    a = SpeckLayer("a", (2, 16, 16), 8, 3, padding=1, pool=2)
    b = SpeckLayer("b", (8, 16, 16), 8, 3, padding=1)
    (msg,) = chain_errors([a, b])
    assert "'b' reads [8, 16, 16]" in msg and "[8, 8, 8]" in msg and "2x2 pooling" in msg


def test_too_many_layers_for_nine_cores():
    layers = [SpeckLayer(f"l{i}", (4, 8, 8), 4, 3, padding=1) for i in range(10)]
    (msg,) = chain_errors(layers)
    assert "10 layers" in msg and "9 cores" in msg and "'l9'" in msg
    with pytest.raises(SnnCliError) as exc:
        mapping.assign_cores(layers)
    assert "10 layers" in _one_line(exc)


def _three_64ki_kernels() -> list[SpeckLayer]:
    """Three layers of 64Ki kernel words (c=64, f=64, 3x3): only cores 5 and 6 hold them."""
    return [SpeckLayer(f"k{i}", (64, 4, 4), 64, 3, padding=1) for i in range(3)]


def test_network_too_large_for_the_cores():
    layers = _three_64ki_kernels()
    assert all(mapping.layer_memory(s).kernel == 64 * 1024 for s in layers)
    with pytest.raises(SnnCliError) as exc:
        mapping.assign_cores(layers)
    msg = _one_line(exc)
    assert "'k0'" in msg and "'k1'" in msg and "'k2'" in msg and "[5, 6]" in msg and "2 cores for 3 layers" in msg


# ------------------------------------------------------------- vs Sinabs
@pytest.mark.parametrize("net", sorted(NETS))
def test_memory_and_cores_match_sinabs(reference, net, request):
    layers = build_net(net, request)
    specs = [layer.spec for layer in layers]
    got = reference.sinabs_mapping(layers)
    assert got["error"] is None
    for s in specs:
        m = mapping.layer_memory(s)
        assert got["memory"][s.name] == {"kernel": m.kernel, "neuron": m.neuron, "bias": m.bias}, s.name
    assert got["cores"] == mapping.assign_cores(specs)


def test_readout_widening_matches_sinabs(reference, conformance):
    specs = [layer.spec for layer in nir_paper_cnn(conformance)]
    got = reference.sinabs_mapping(nir_paper_cnn(conformance), readout=True)
    last = mapping.layer_memory(specs[-1], readout=True)
    assert mapping.readout_channels(10) == 37
    assert got["memory"]["fc11"] == {"kernel": last.kernel, "neuron": last.neuron, "bias": last.bias}
    assert got["cores"] == mapping.assign_cores(specs, readout=True)


def test_sinabs_agrees_on_networks_that_do_not_fit(reference):
    for layers in (_three_64ki_kernels(), [SpeckLayer("big", (16, 64, 64), 32, 3, padding=1)]):
        got = reference.sinabs_mapping(layers)
        assert got["cores"] is None and "No valid mapping found" in got["error"]
        with pytest.raises(SnnCliError):
            mapping.assign_cores(layers)


def test_matching_matches_sinabs_edmonds(reference):
    """match_cores == Sinabs' make_flow_graph -> edmonds -> recover_mapping on random candidate lists."""
    from sinabs.backend.dynapcnn.mapping import edmonds, make_flow_graph, recover_mapping

    rng = np.random.default_rng(0)
    failures = successes = 0
    for _ in range(400):
        n_layers = int(rng.integers(1, 10))
        cands = [sorted(rng.choice(9, size=int(rng.integers(1, 10)), replace=False).tolist()) for _ in range(n_layers)]
        if rng.random() < 0.3:  # crowd a few cores
            cands = [[c for c in cand if c in (5, 6, 7)] or [5] for cand in cands]
        mine = mapping.match_cores(cands, 9)
        graph = edmonds(make_flow_graph(cands, 9), 0, len(make_flow_graph(cands, 9)) - 1)
        try:
            theirs = recover_mapping(graph, n_layers)
        except ValueError:
            assert None in mine
            failures += 1
            continue
        assert mine == theirs, cands
        successes += 1
    assert failures > 20 and successes > 200
