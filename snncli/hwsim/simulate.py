"""Event-driven execution of a Program, counting what the chip would do.

Per time step, layers run in the Program's order.  A layer's input is the sum of
its sources' outputs of this step (``inputs``) and of the previous step
(``delayed_inputs``, recurrent edges).  Synaptic and pooling layers propagate
only the non-zero entries of their input through their fan-out tables
(:mod:`snncli.hwsim.synapses`); neuron layers call the pure step function of
their arithmetic (:mod:`snncli.hwsim.neurons`).  hwsim reads nothing but the
Program: no torch, no NIR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from snncli.errors import SnnCliError
from snncli.hwsim import neurons
from snncli.hwsim.counters import LayerCounters, totals
from snncli.hwsim.synapses import build_table
from snncli.targets.program import SYNAPTIC_OPS, Layer, Program


@dataclass
class SimResult:
    """Outputs ``[T, N, *shape]`` of the output layer, counters, optional records."""

    outputs: np.ndarray
    counters: list[LayerCounters]
    samples: int
    steps: int
    records: dict[str, dict[str, np.ndarray]] | None = None

    def predictions(self, window: tuple[int, int] | None = None) -> np.ndarray:
        """Class = argmax of the output summed over time (spike count, or summed voltage),
        over the steps ``window = (start, stop)`` (default: all)."""
        outputs = self.outputs if window is None else self.outputs[window[0] : window[1]]
        summed = outputs.sum(axis=0).reshape(self.samples, -1)
        return summed.argmax(axis=1)

    def layers(self) -> list[dict]:
        """Per-layer counters averaged per sample (the ``layers`` of the JSON reports)."""
        return [c.per_sample(self.samples, self.steps) for c in self.counters]

    def totals(self) -> dict:
        return totals(self.layers())


class Simulator:
    """Executes one Program; fan-out tables are built once and reused."""

    def __init__(self, program: Program):
        self.program = program
        inputs, outputs = program.input_layers, program.output_layers
        if len(inputs) != 1 or len(outputs) != 1:
            raise SnnCliError(
                f"hwsim runs graphs with exactly one Input and one Output node; this one has "
                f"{len(inputs)} inputs and {len(outputs)} outputs"
            )
        self.input, self.output = inputs[0], outputs[0]
        self.tables = {layer.name: build_table(layer) for layer in program.layers}
        self.fanout = {
            name: np.diff(table.indptr).astype(np.int64) for name, table in self.tables.items() if table is not None
        }
        self.models = {layer.name: neurons.get_model(layer.neuron) for layer in program.neuron_layers}

    def run(self, x: np.ndarray, batch_size: int = 256, record: bool = False, progress=None) -> SimResult:
        """Run ``x`` of shape ``[T, N, *input_shape]`` (spikes or currents).

        ``progress``: optional callable advanced by the number of samples done.
        """
        x = np.asarray(x)
        if x.ndim < 2 or tuple(x.shape[2:]) != tuple(self.input.out_shape):
            raise SnnCliError(
                f"input has shape {tuple(x.shape)}, the graph expects [time, batch, "
                f"{', '.join(map(str, self.input.out_shape))}]"
            )
        if not np.all(np.isfinite(x)):
            raise SnnCliError("input contains NaN or infinite values")
        steps, samples = x.shape[:2]
        counters = {
            layer.name: LayerCounters(
                layer.name,
                layer.op,
                neurons=layer.size if layer.op == "neuron" else 0,
                synapses=self.tables[layer.name].nnz if layer.op in SYNAPTIC_OPS else 0,
            )
            for layer in self.program.layers
        }
        outputs, records = [], {} if record else None
        for start in range(0, samples, batch_size):
            batch_out, batch_rec = self._run_batch(x[:, start : start + batch_size], counters, record)
            outputs.append(batch_out)
            if record:
                for name, rec in batch_rec.items():
                    for key, value in rec.items():
                        records.setdefault(name, {}).setdefault(key, []).append(value)
            if progress is not None:
                progress(min(batch_size, samples - start))
        if record:
            records = {n: {k: np.concatenate(v, axis=1) for k, v in r.items()} for n, r in records.items()}
        return SimResult(
            outputs=np.concatenate(outputs, axis=1),
            counters=[counters[layer.name] for layer in self.program.layers],
            samples=samples,
            steps=steps,
            records=records,
        )

    def _run_batch(self, x: np.ndarray, counters: dict, record: bool):
        steps, batch = x.shape[:2]
        layers = self.program.layers
        states = {
            layer.name: self.models[layer.name][0](layer.out_shape, batch, layer.params)
            for layer in self.program.neuron_layers
        }
        previous = {layer.name: np.zeros((batch, *layer.out_shape)) for layer in layers}
        out_steps = []
        rec = {layer.name: {"out": []} for layer in layers} if record else None
        if record:
            for layer in self.program.neuron_layers:
                rec[layer.name]["v"] = []
        for t in range(steps):
            current: dict[str, np.ndarray] = {}
            for layer in layers:
                if layer.op == "input":
                    out = self._encode_input(x[t], layer.params)
                else:
                    inp = self._gather(layer, current, previous, batch)
                    out = self._apply(layer, inp, states, counters[layer.name])
                current[layer.name] = out
                if record:
                    rec[layer.name]["out"].append(out)
                    if layer.op == "neuron":
                        rec[layer.name]["v"].append(states[layer.name]["v"])
            previous = current
            out_steps.append(current[self.output.name])
        if record:
            rec = {n: {k: np.stack(v) for k, v in r.items()} for n, r in rec.items()}
        return np.stack(out_steps), rec

    @staticmethod
    def _gather(layer: Layer, current: dict, previous: dict, batch: int) -> np.ndarray:
        total = None
        for src in layer.inputs:
            total = current[src] if total is None else total + current[src]
        for src in layer.delayed_inputs:
            total = previous[src] if total is None else total + previous[src]
        if total is None:
            return np.zeros((batch, *layer.in_shape))
        return total.reshape(batch, *layer.in_shape)

    def _apply(self, layer: Layer, inp: np.ndarray, states: dict, counter: LayerCounters) -> np.ndarray:
        batch = inp.shape[0]
        op, p = layer.op, layer.params
        table = self.tables[layer.name]
        if table is not None:
            flat = inp.reshape(batch, -1)
            out = np.asarray((sp.csr_matrix(flat) @ table).todense()).reshape(batch, *layer.out_shape)
            if op in SYNAPTIC_OPS:
                self._count_synaptic(layer.name, flat, counter)
                if "weight_exp" in p:
                    out = _shift(out, int(p["weight_exp"]))
                if "bias" in p:
                    bias = p["bias"]
                    out = out + (bias.reshape(-1, 1, 1) if op == "conv2d" else bias)
            return out
        if op == "neuron":
            init_step = self.models[layer.name]
            states[layer.name], out = init_step[1](states[layer.name], inp, p)
            n_states = sum(np.ndim(v) > 0 for v in states[layer.name].values())  # per-neuron variables
            updates = batch * layer.size
            counter.neuron_updates += updates
            counter.state_reads += updates * n_states
            counter.state_writes += updates * n_states
            if p.get("spiking", True):
                counter.spikes += int(np.count_nonzero(out))
            return out
        if op in ("output", "flatten"):
            return inp.reshape(batch, *layer.out_shape)
        if op == "scale":
            return inp * p["scale"]
        if op == "threshold":
            return (inp > p["threshold"]).astype(np.float64)
        raise SnnCliError(f"hwsim cannot execute layer {layer.name!r} of op {op!r}")

    @staticmethod
    def _encode_input(x: np.ndarray, p: dict) -> np.ndarray:
        """Input as the chip receives it: as is, or (``input_scale``, ``input_bits``)
        quantized to unsigned graded spikes ``clip(round(x * scale), 0, 2**bits - 1)``."""
        x = x.astype(np.float64, copy=False)
        if "input_scale" not in p:
            return x
        return np.clip(np.round(x * p["input_scale"]), 0, 2 ** int(p["input_bits"]) - 1)

    def _count_synaptic(self, name: str, flat: np.ndarray, counter: LayerCounters) -> None:
        active = flat != 0
        ops = active.astype(np.int64) @ self.fanout[name]  # per sample
        binary = np.all((flat == 0) | (flat == 1) | (flat == -1), axis=1)
        counter.sops += int(ops[binary].sum())
        counter.macs += int(ops[~binary].sum())
        counter.weight_reads += int(ops.sum())


def _shift(acc: np.ndarray, exp: int) -> np.ndarray:
    """Integer accumulator scaled by a weight exponent: ``acc << e`` or ``acc >> -e``
    (arithmetic shift, i.e. floor), on integers held exactly in float64."""
    return acc * float(2**exp) if exp >= 0 else np.floor(acc / float(2**-exp))


def pad_for_latency(program: Program, x: np.ndarray) -> np.ndarray:
    """Append the zero steps a pipelined chip needs to flush its last inputs to the
    output (``program.metadata["latency_steps"]``, one per synapse stage on Loihi)."""
    latency = int(program.metadata.get("latency_steps", 0))
    if latency <= 0:
        return x
    return np.concatenate([x, np.zeros((latency, *x.shape[1:]), dtype=x.dtype)])


def output_window(program: Program, steps: int) -> tuple[int, int]:
    """Output steps that correspond to the ``steps`` input steps once the pipeline
    latency is taken out (``[latency, latency + steps)``)."""
    latency = int(program.metadata.get("latency_steps", 0))
    return latency, latency + steps


def simulate(program: Program, x: np.ndarray, **kwargs) -> SimResult:
    """Convenience: ``Simulator(program).run(x, **kwargs)``."""
    return Simulator(program).run(x, **kwargs)
