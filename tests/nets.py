"""Nets the tests share: small NIR graphs (MLP, CNN with sum pools, chains, the recurrent
Braille net) and one way to lower them."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from snncli.nirgraph import CheckedGraph, check_graph, read_nir
from snncli.targets import get_target, make_options
from snncli.targets import lower as lower_checked

DT = 1e-4


def lower(graph, target: str = "float", dt: float = DT, reading: str = "nir", calibration=None, **options):
    """``graph`` (a NIR graph or a checked one) lowered for ``target`` with its options by name."""
    checked = graph if isinstance(graph, CheckedGraph) else check_graph(graph)
    return lower_checked(checked, target, dt, reading, make_options(get_target(target), options), calibration)


def chain(*nodes, input_shape) -> nir.NIRGraph:
    """Input -> nodes in a row -> Output (the Output's shape left to inference)."""
    names = [f"n{i}" for i in range(len(nodes))]
    graph_nodes = {"input": nir.Input(input_type={"input": np.array(input_shape)})}
    graph_nodes.update(dict(zip(names, nodes)))
    graph_nodes["output"] = nir.Output(output_type={"output": None})
    seq = ["input", *names, "output"]
    return nir.NIRGraph(nodes=graph_nodes, edges=list(zip(seq[:-1], seq[1:])), type_check=False)


def _lif(n, tau_steps=20.0):
    """SpikingJelly's LIF export: tau_nir = tau * dt, r = tau (v <- (1 - 1/tau) v + x)."""
    shape = n if isinstance(n, tuple) else (n,)
    return nir.LIF(tau=np.full(shape, tau_steps * DT), r=np.full(shape, tau_steps), v_leak=np.zeros(shape),
                   v_threshold=np.ones(shape), v_reset=np.zeros(shape))  # fmt: skip


def _if(shape):
    """SpikingJelly's IF export: r = 1/dt (v <- v + x)."""
    shape = shape if isinstance(shape, tuple) else (shape,)
    return nir.IF(r=np.full(shape, 1 / DT), v_threshold=np.ones(shape), v_reset=np.zeros(shape))


def mlp(seed=0, shape=(1, 8, 8), hidden=40, classes=10, neuron="lif", bias=True, encoder="direct") -> nir.NIRGraph:
    """Input -> Flatten -> Affine -> LIF/IF -> Affine -> LIF/IF -> Output (the trainer's MLP)."""
    rng = np.random.default_rng(seed)
    n_in = int(np.prod(shape))
    make = _lif if neuron == "lif" else _if
    nodes = {
        "input": nir.Input(input_type=np.array(shape)),
        "flat": nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1),
        "fc1": nir.Affine(weight=rng.normal(0, 0.5, (hidden, n_in)), bias=rng.normal(0, 0.05, hidden) * bias),
        "lif1": make(hidden),
        "fc2": nir.Affine(weight=rng.normal(0, 0.5, (classes, hidden)), bias=rng.normal(0, 0.05, classes) * bias),
        "lif2": make(classes),
        "output": nir.Output(output_type=np.array([classes])),
    }
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))
    graph.metadata = {"snncli": {"encoder": encoder}}
    return graph


def cnn(seed=0, shape=(1, 8, 8), channels=(4, 8), classes=10, encoder="direct", pool="sum") -> nir.NIRGraph:
    """The trainer's CNN: (Conv2d k3 p1, no bias -> IF -> SumPool2d(2)) x 2 -> Flatten -> Linear -> IF."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    nodes = {"input": nir.Input(input_type=np.array(shape))}
    pool_cls = nir.SumPool2d if pool == "sum" else nir.AvgPool2d
    for i, co in enumerate(channels, 1):
        nodes[f"conv{i}"] = nir.Conv2d(input_shape=(h, w), weight=rng.normal(0, 0.6, (co, c, 3, 3)), stride=1,
                                       padding=1, dilation=1, groups=1, bias=np.zeros(co))  # fmt: skip
        nodes[f"if{i}"] = _if((co, h, w))
        nodes[f"pool{i}"] = pool_cls(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
        c, h, w = co, h // 2, w // 2
    nodes["flat"] = nir.Flatten(input_type={"input": np.array((c, h, w))}, start_dim=0, end_dim=-1)
    nodes["fc"] = nir.Linear(weight=rng.normal(0, 0.4, (classes, c * h * w)))
    nodes["if_out"] = _if(classes)
    nodes["output"] = nir.Output(output_type=np.array([classes]))
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))
    graph.metadata = {"snncli": {"encoder": encoder}}
    return graph


def braille(nir_paper: Path) -> CheckedGraph:
    """The NIR paper's recurrent Braille network (snnTorch): Input -> fc1 -> CubaLIF <-> w_rec, -> fc2 -> CubaLIF."""
    return read_nir(nir_paper / "braille_noDelay_bias_zero.nir")


def lower_loihi(graph, dt: float = DT, preset: str = "auto", calibration=None):
    """``graph`` lowered for Loihi 2 (scale rule without calibration, or the search with it)."""
    return lower(graph, "loihi", dt, calibration=calibration, preset=preset)
