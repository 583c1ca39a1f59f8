"""Integer Speck networks for the Speck tests: the NIR paper's N-MNIST CNN and two others.

Inputs are random integer event frames (the tests check arithmetic, mapping and
bit-exactness, not accuracy): no dataset is involved.  The NIR paper's network is read
from the conformance folder, which tests reach only through the ``conformance``
fixture (:func:`build_net`).
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

from snncli.targets.speck.network import IntegerLayer


def _q8(w: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale to the full 8-bit range (max |w| -> 127) and round: the integer weights and the scale."""
    s = 127.0 / float(np.abs(w).max())
    return np.round(w * s).astype(np.int64), s


def nir_paper_cnn(conformance: Path) -> list[IntegerLayer]:
    """``cnn_sinabs.nir`` (README section 02) with integer weights: per layer the weights scaled
    to 127 and the thresholds (1.0) by the same factor, rounded down; the all-zero biases kept
    (they use bias memory, as in Sinabs); ``min_v_mem`` Sinabs' default (-32768).

    Conv2d(2->16, k5, s2, p1) -> IAF -> Conv2d(16->16, k3, p1) -> IAF -> SumPool2d(2) -> Conv2d(16->8,
    k3, p1) -> IAF -> SumPool2d(2) -> Flatten -> Linear(128->256) -> IAF -> Linear(256->10) -> IAF."""
    path = conformance / "cnn_sinabs.nir"
    if not path.exists():
        pytest.skip(f"conformance file {path} not present")
    g = nir.read(str(path), type_check=False)
    edges = dict(g.edges)
    layers: list[IntegerLayer] = []
    shape: tuple[int, ...] = tuple(int(s) for s in g.nodes["input"].input_type["input"])
    node = edges["input"]
    while node != "output":
        syn = g.nodes[node]
        neuron_key = edges[node]
        neuron = g.nodes[neuron_key]
        assert isinstance(neuron, nir.IF), neuron_key
        w, s = _q8(np.asarray(syn.weight, dtype=np.float64))
        theta = int(np.floor(float(np.unique(neuron.v_threshold)[0]) * s))
        bias = np.round(np.asarray(syn.bias) * s)
        nxt, pool = edges[neuron_key], 1
        if isinstance(g.nodes[nxt], nir.SumPool2d):
            pool = int(np.asarray(g.nodes[nxt].kernel_size).reshape(-1)[0])
            nxt = edges[nxt]
        if isinstance(g.nodes[nxt], nir.Flatten):
            nxt = edges[nxt]
        if isinstance(syn, nir.Conv2d):
            layer = IntegerLayer(f"conv{node}", w, shape, theta, bias, stride=tuple(syn.stride),
                                 padding=tuple(syn.padding), pool=pool)  # fmt: skip
            assert layer.spec.neuron_shape == tuple(int(v) for v in syn.output_type["output"]), node
            shape = layer.spec.out_shape
        else:
            layer = IntegerLayer(f"fc{node}", w, shape, theta, bias)
            shape = (w.shape[0],)
        layers.append(layer)
        node = nxt
    return layers


def _w(rng, shape, lo=-64, hi=127) -> np.ndarray:
    """Random integer weights in [lo, hi], one of them 127 (so Sinabs' discretize leaves them as they are)."""
    w = rng.integers(lo, hi + 1, size=shape)
    w.reshape(-1)[0] = 127
    return w


def pooled_cnn(seed: int = 0) -> list[IntegerLayer]:
    """2x32x32 -> conv 2->8 k3 p1 (+bias) -> IAF -> pool 4 -> conv 8->16 k3 s2 p1 (+bias, reset to zero,
    floor -200) -> IAF -> pool 2 -> linear 64->10 (single spike per step).  Weights reach 127, so Sinabs'
    discretize keeps every layer (also the one with its own floor)."""
    rng = np.random.default_rng(seed)
    return [
        IntegerLayer("c1", _w(rng, (8, 2, 3, 3), -80), (2, 32, 32), 300, rng.integers(-8, 9, 8), padding=1, pool=4),
        IntegerLayer(
            "c2",
            _w(rng, (16, 8, 3, 3), -127),
            (8, 8, 8),
            1500,
            rng.integers(-20, 5, 16),
            min_v_mem=-200,
            stride=2,
            padding=1,
            pool=2,
            reset="zero",
        ),  # fmt: skip
        IntegerLayer("fc", _w(rng, (10, 64), -127), (16, 2, 2), 3000, min_v_mem=-1000, multi_spike=False),
    ]


def dvs_cnn(seed: int = 1) -> list[IntegerLayer]:
    """The full Speck input, 2x128x128 -> conv 2->8 k4 s2 p1 (64x64, the largest output map) -> pool 2 ->
    conv 8->16 k3 p1 -> pool 4 -> conv 16->32 k3 p1 -> pool 2 -> linear 512->64 (a 4x4 kernel on chip,
    32Ki kernel words) -> linear 64->10."""
    rng = np.random.default_rng(seed)
    return [
        IntegerLayer("d1", _w(rng, (8, 2, 4, 4), -60), (2, 128, 128), 250, stride=2, padding=1, pool=2),
        IntegerLayer("d2", _w(rng, (16, 8, 3, 3), -40, 40), (8, 32, 32), 800, padding=1, pool=4),
        IntegerLayer("d3", _w(rng, (32, 16, 3, 3), -20, 20), (16, 8, 8), 600, padding=1, pool=2),
        IntegerLayer("d4", _w(rng, (64, 512), -12, 12), (32, 4, 4), 400),
        IntegerLayer("d5", _w(rng, (10, 64), -30, 30), (64,), 300),
    ]


def events(shape, steps: int, batch: int, p: float, seed: int = 0, max_count: int = 2) -> np.ndarray:
    """Random integer event frames [T, N, *shape]: each pixel carries 1..max_count events with probability p."""
    rng = np.random.default_rng(seed)
    full = (steps, batch, *shape)
    return (rng.random(full) < p) * rng.integers(1, max_count + 1, size=full)


def build_net(name: str, request) -> list[IntegerLayer]:
    """The test network ``name``; the NIR paper's through the ``conformance`` fixture."""
    if name == "nir_paper_cnn":
        return nir_paper_cnn(request.getfixturevalue("conformance"))
    return {"pooled_cnn": pooled_cnn, "dvs_cnn": dvs_cnn}[name]()


def test_nir_paper_cnn_matches_its_description(conformance):
    layers = nir_paper_cnn(conformance)
    specs = [layer.spec for layer in layers]
    assert [layer.kind for layer in layers] == ["conv", "conv", "conv", "linear", "linear"]
    assert [s.neuron_shape for s in specs] == [(16, 16, 16), (16, 16, 16), (8, 8, 8), (256, 1, 1), (10, 1, 1)]
    assert [s.pool for s in specs] == [(1, 1), (2, 2), (2, 2), (1, 1), (1, 1)]
    assert specs[0].kernel_size == (5, 5) and specs[0].stride == (2, 2) and specs[0].padding == (1, 1)
    assert specs[3].in_shape == (8, 4, 4) and specs[3].kernel_size == (4, 4)  # Linear(128->256) as a 4x4 conv
    for layer in layers:
        assert np.abs(layer.weight).max() == 127 and layer.bias is not None and not layer.bias.any()


def test_example_networks_chain(conformance):
    from snncli.targets.speck.limits import check_network
    from snncli.targets.speck.network import check_chain

    for net in (nir_paper_cnn(conformance), pooled_cnn(), dvs_cnn()):
        check_chain(net)
        check_network([layer.spec for layer in net])
