"""hwsim vs Sinabs vs a dense torch forward on the same networks and inputs, across input event densities.

    python -m benchmarks.density [--quick]      (also part of ``python -m benchmarks``)

hwsim is event-driven: its time should follow the number of input events, while a dense
forward multiplies every input whatever its value.  Two networks with the same random
weights in every framework, integrate-and-fire neurons read per step (``v += W x``,
subtractive reset: Sinabs' IAF, snncli's ``sinabs`` reading; the spike rule -- one or
several spikes per step, floor -- is taken from the lowered Program, :func:`neuron_rule`):

* ``mlp``: 2x34x34 (an N-MNIST-sized event frame) -> 500 -> 10;
* ``cnn``: 2x34x34 -> conv 8 (3x3, pad 1) -> sum-pool 2 -> conv 16 -> sum-pool 2 -> 10
  (Speck-shaped, no bias).

Input: Bernoulli spikes at each density, ``[T, N, 2, 34, 34]``, the same array for all.
Timed in CPU seconds, one thread each (:mod:`benchmarks.clock`; wall time recorded too),
median of interleaved repeats: hwsim ``Simulator(program).run(x)`` on the float
Program (fan-out tables built once, outside the clock, like the other frameworks'
modules); Sinabs 3.1.3 ``IAFSqueeze`` layers (the same spike rule) on ``[N*T, ...]``;
and the same equations in plain torch, every layer a dense matmul or
convolution over all ``T*N`` inputs followed by the neuron loop.  Spike counts per
framework are recorded to show the three did the same work.

Reusable: :func:`measure` takes the network, the densities, steps, samples and repeats;
:class:`Peers` holds the three implementations and :func:`at_density` times one input.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks.clock import Timer, single_thread

SHAPE = (2, 34, 34)


def weights(network: str, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``[(kind, weight)]`` in order: ``dense`` [out, in], ``conv`` [co, ci, 3, 3], ``pool`` (sum 2x2)."""
    rng = np.random.default_rng(seed)
    if network == "mlp":
        n_in = int(np.prod(SHAPE))
        return [("dense", rng.normal(0.01, 0.1, (500, n_in))), ("dense", rng.normal(0.02, 0.2, (10, 500)))]
    return [
        ("conv", rng.normal(0.05, 0.4, (8, 2, 3, 3))),
        ("pool", None),
        ("conv", rng.normal(0.02, 0.3, (16, 8, 3, 3))),
        ("pool", None),
        ("dense", rng.normal(0.01, 0.15, (10, 16 * 8 * 8))),
    ]


def nir_graph(layers):
    import nir

    nodes, shape, prev, edges = {"input": nir.Input(input_type=np.array(SHAPE))}, SHAPE, "input", []
    for i, (kind, w) in enumerate(layers):
        if kind == "dense":
            if len(shape) > 1:
                nodes[f"flat{i}"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
                edges.append((prev, f"flat{i}"))
                prev, shape = f"flat{i}", (int(np.prod(shape)),)
            nodes[f"syn{i}"] = nir.Linear(weight=w)
            shape = (w.shape[0],)
        elif kind == "conv":
            nodes[f"syn{i}"] = nir.Conv2d(
                input_shape=shape[1:], weight=w, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(w.shape[0])
            )
            shape = (w.shape[0], *shape[1:])
        else:
            nodes[f"syn{i}"] = nir.SumPool2d(
                kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
            )
            shape = (shape[0], shape[1] // 2, shape[2] // 2)
        edges.append((prev, f"syn{i}"))
        prev = f"syn{i}"
        if kind != "pool":
            nodes[f"if{i}"] = nir.IF(r=np.ones(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape))
            edges.append((prev, f"if{i}"))
            prev = f"if{i}"
    nodes["output"] = nir.Output(output_type=np.array(shape))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def neuron_rule(program) -> dict:
    """How the Program's IF layers fire (snncli's ``sinabs`` reading): several spikes per step or one, floor."""
    p = program.neuron_layers[0].neuron
    floor = None if p.v_min is None else float(np.min(p.v_min))
    return {"multi_spike": bool(getattr(p, "multi_spike", False)), "fire": getattr(p, "fire", ">"), "floor": floor}


def sinabs_net(layers, batch: int, rule: dict) -> nn.Module:
    import sinabs.layers as sl
    from sinabs.activation import MultiSpike, SingleSpike

    mods: list[nn.Module] = []
    for kind, w in layers:
        if kind == "pool":
            mods.append(sl.SumPool2d(2))
            continue
        if kind == "dense":
            mods += [nn.Flatten(), nn.Linear(w.shape[1], w.shape[0], bias=False)]
        else:
            mods.append(nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1, bias=False))
        with torch.no_grad():
            mods[-1].weight.copy_(torch.as_tensor(w))
        spike_fn = MultiSpike if rule["multi_spike"] else SingleSpike
        mods.append(sl.IAFSqueeze(batch_size=batch, spike_fn=spike_fn, min_v_mem=rule["floor"]))
    return nn.Sequential(*mods).eval()


def torch_dense(layers, x: torch.Tensor, rule: dict) -> list[torch.Tensor]:
    """The same network in plain torch: each layer over all T*N inputs at once, then the IF recursion."""
    steps, batch = x.shape[:2]
    h, spikes = x.reshape(steps * batch, *SHAPE), []
    for kind, w in layers:
        if kind == "pool":
            h = F.avg_pool2d(h, 2) * 4
            continue
        wt = torch.as_tensor(w, dtype=torch.float32)
        h = h.flatten(1) @ wt.T if kind == "dense" else F.conv2d(h, wt, padding=1)
        cur = h.reshape(steps, batch, *h.shape[1:])
        v, out = torch.zeros_like(cur[0]), torch.empty_like(cur)
        for t in range(steps):
            v = v + cur[t]
            fired = v >= 1.0 if rule["fire"] == ">=" else v > 1.0
            out[t] = torch.where(fired, torch.floor(v), 0.0) if rule["multi_spike"] else fired.to(v.dtype)
            v = v - out[t] if rule["floor"] is None else torch.clamp(v - out[t], min=rule["floor"])
        spikes.append(out)
        h = out.reshape(steps * batch, *out.shape[2:])
    return spikes


class Peers:
    """The three implementations of one network, ready to run an input ``x`` ``[T, N, *SHAPE]``."""

    def __init__(self, network: str, samples: int, seed: int = 0):
        from snncli.hwsim.simulate import Simulator
        from snncli.nirgraph import check_graph
        from snncli.targets import lower

        self.layers = weights(network, seed)
        program = lower(check_graph(nir_graph(self.layers)), "float", 1e-4, "sinabs")
        t0 = time.perf_counter()
        self.sim = Simulator(program)
        self.build_s = time.perf_counter() - t0
        self.rule = neuron_rule(program)
        self.net = sinabs_net(self.layers, samples, self.rule)
        self.emitted = 0.0  # Sinabs' spikes, summed by forward hooks on its IAF layers
        for m in self.net.modules():
            if type(m).__name__ == "IAFSqueeze":
                m.register_forward_hook(self._count)

    def _count(self, module, inputs, out) -> None:
        self.emitted += float(out.sum())

    def hwsim(self, x: np.ndarray) -> float:
        return float(sum(c.spikes for c in self.sim.run(x, batch_size=x.shape[1]).counters))

    def sinabs(self, x: np.ndarray) -> float:
        steps, samples = x.shape[:2]
        for m in self.net.modules():
            if hasattr(m, "reset_states"):
                m.reset_states()
        self.emitted = 0.0
        with torch.no_grad():  # Sinabs takes [(batch, time), ...]
            self.net(torch.as_tensor(x, dtype=torch.float32).transpose(0, 1).reshape(samples * steps, *SHAPE))
        return self.emitted

    def torch(self, x: np.ndarray) -> float:
        with torch.no_grad():
            return float(
                sum(s.sum() for s in torch_dense(self.layers, torch.as_tensor(x, dtype=torch.float32), self.rule))
            )


PEERS = ("hwsim", "sinabs", "torch")


def at_density(peers: Peers, x: np.ndarray, repeats: int) -> dict:
    """Median seconds per peer over interleaved repeats (one warm-up round), and the spikes each emitted."""
    seconds: dict[str, list[float]] = {name: [] for name in PEERS}
    wall: dict[str, list[float]] = {name: [] for name in PEERS}
    spikes: dict[str, float] = {}
    for r in range(repeats + 1):
        for name in PEERS[r % 3 :] + PEERS[: r % 3]:
            with Timer() as t:
                spikes[name] = getattr(peers, name)(x)
            if r:
                seconds[name].append(t.cpu)
                wall[name].append(t.wall)
    med = {name: statistics.median(v) for name, v in seconds.items()}
    events = int(x.sum())
    return {
        "input_events": events,
        "seconds": {name: round(v, 5) for name, v in med.items()},
        "seconds_wall": {name: round(statistics.median(v), 5) for name, v in wall.items()},
        "spikes": spikes,
        "speedup_hwsim_over_sinabs": round(med["sinabs"] / med["hwsim"], 2),
        "speedup_hwsim_over_torch": round(med["torch"] / med["hwsim"], 2),
        "hwsim_us_per_input_event": round(1e6 * med["hwsim"] / max(events, 1), 3),
    }


def measure(
    network: str = "mlp", densities=(0.01, 0.1), steps: int = 20, samples: int = 32, repeats: int = 3, seed: int = 0
) -> dict:
    """Seconds per framework and density (median over interleaved repeats), events and spikes."""
    peers = Peers(network, samples, seed)
    rows = {}
    for density in densities:
        x = (np.random.default_rng(seed + 1).random((steps, samples, *SHAPE)) < density).astype(np.float64)
        rows[str(density)] = at_density(peers, x, repeats)
    first, last = rows[str(densities[0])], rows[str(densities[-1])]
    return {
        "network": network,
        "neuron": {"model": "IF, v += W x per step, subtractive reset (snncli reading 'sinabs')", **peers.rule},
        "layers": [kind for kind, _ in peers.layers],
        "steps": steps,
        "samples": samples,
        "repeats": repeats,
        "hwsim_table_build_s": round(peers.build_s, 4),
        "by_density": rows,
        "time_ratio_last_over_first": {
            name: round(last["seconds"][name] / first["seconds"][name], 2) for name in PEERS
        },
        "event_ratio_last_over_first": round(last["input_events"] / max(first["input_events"], 1), 2),
    }


def run(quick: bool = False) -> dict:
    single_thread()
    densities = (0.01, 0.1) if quick else (0.003, 0.01, 0.03, 0.1, 0.3)
    repeats = 3 if quick else 5
    steps, samples = (20, 32) if quick else (20, 64)
    return {net: measure(net, densities, steps, samples, repeats) for net in ("mlp", "cnn")}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=1))
