"""Execution of a Program with the target's arithmetic, counting what the chip would do.

Layers run in *groups*, in dependency order (every edge, same-step or delayed):

* a layer outside any loop runs over the whole time window at once (layer-major):
  a synaptic layer's input for all ``T`` steps goes through its fan-out table in one
  call (a compiled kernel over the events when few inputs are active, one BLAS
  product when many are: :mod:`snncli.hwsim.kernels`), then a neuron layer's
  recursion runs over time in one compiled loop (the model's ``window``, bit for bit
  its ``step``; ``step`` T times for a model without one);
* a recurrent loop (layers that reach each other through delayed edges) runs step
  by step (step-major), as it must.

A delayed edge reads its source's previous step (zero at step 0).  Spikes and
voltages do not depend on the grouping: each layer computes exactly what a
step-by-step run computes.  The counters count events (what the chip does), not
the work hwsim does; the kernels count them in the pass that delivers them.
Batches run one after another (:meth:`Simulator.stream`: a dataset encoded batch by
batch never exists whole).  Records keep spikes as bool (counts as small integers)
and states in the width the model gives them (the chip's).  hwsim reads nothing but
the Program: no torch, no NIR.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from snncli.core.program import SYNAPTIC, Layer, Program, neuron_model
from snncli.errors import SnnCliError
from snncli.hwsim.counters import LayerCounters, totals
from snncli.hwsim.kernels import Counts, FanOut, propagate
from snncli.hwsim.synapses import build_runs, build_table

WINDOW_BYTES = 1 << 26  # one layer's [T, batch, *shape] float64 output stays below this: the batch shrinks
DENSE_ENTRIES = 1 << 24  # a fan-out table this small is also kept as a dense matrix (rows to add, or BLAS)


@dataclass
class SimResult:
    """Outputs ``[T, N, *shape]`` of the output layer, counters, optional records."""

    outputs: np.ndarray
    counters: list[LayerCounters]
    samples: int
    steps: int
    records: dict[str, dict[str, np.ndarray]] | None = None
    clipped_inputs: int = 0  # input values outside what a graded input layer carries (clipped to its range)

    def predictions(self, window: tuple[int, int] | None = None) -> np.ndarray:
        """Class = argmax of the output summed over time (spike count, or summed voltage),
        over the steps ``window = (start, stop)`` (default: all)."""
        outputs = self.outputs if window is None else self.outputs[window[0] : window[1]]
        return outputs.sum(axis=0).reshape(self.samples, -1).argmax(axis=1)

    def layers(self) -> list[dict]:
        """Per-layer counters averaged per sample (the ``layers`` of the JSON reports)."""
        return [c.per_sample(self.samples, self.steps) for c in self.counters]

    def totals(self) -> dict:
        return totals(self.layers())


def execution_groups(program: Program) -> list[list[Layer]]:
    """The Program's layers grouped for execution: each recurrent loop (a strongly
    connected set over same-step and delayed edges) is one group, every other layer a
    group of its own; groups in dependency order, ties in the Program's order."""
    layers = program.layers
    index = {layer.name: i for i, layer in enumerate(layers)}
    reads = {layer.name: [*layer.inputs, *layer.delayed_inputs] for layer in layers}
    component = _strongly_connected(layers, reads)
    members: dict[int, list[Layer]] = {}
    for layer in layers:
        members.setdefault(component[layer.name], []).append(layer)
    needs = {c: {component[s] for m in ms for s in reads[m.name]} - {c} for c, ms in members.items()}
    done, groups = set(), []
    while len(groups) < len(members):
        ready = [c for c in members if c not in done and needs[c] <= done]
        if not ready:
            raise SnnCliError("program layers depend on each other without a delayed edge: it cannot run")
        c = min(ready, key=lambda k: index[members[k][0].name])
        done.add(c)
        groups.append(members[c])
    return groups


def _strongly_connected(layers: list[Layer], reads: dict[str, list[str]]) -> dict[str, int]:
    """Tarjan's algorithm (iterative): layer name -> component id."""
    counter, stack, on_stack = [0], [], set()
    low, number, component = {}, {}, {}
    for root in (layer.name for layer in layers):
        if root in number:
            continue
        work = [(root, iter(reads[root]))]
        number[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            name, it = work[-1]
            src = next(it, None)
            if src is not None:
                if src not in number:
                    number[src] = low[src] = counter[0]
                    counter[0] += 1
                    stack.append(src)
                    on_stack.add(src)
                    work.append((src, iter(reads[src])))
                elif src in on_stack:
                    low[name] = min(low[name], number[src])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[name])
            if low[name] == number[name]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = number[name]
                    if member == name:
                        break
    return component


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
        self.groups = execution_groups(program)
        self.tables = {layer.name: build_table(layer) for layer in program.layers}  # scipy CSR, or None
        self._fanouts = {layer.name: FanOut(self.tables[layer.name], DENSE_ENTRIES, build_runs(layer))
                         for layer in program.layers if self.tables[layer.name] is not None}  # fmt: skip
        self.models = {layer.name: neuron_model(layer.neuron.model) for layer in program.neuron_layers}
        self.event_inputs = _event_inputs(program)
        self._delivered: dict[str, int] = {}  # events delivered to an event-driven neuron layer, not yet counted
        self._clipped = 0
        self._arena: dict[tuple, np.ndarray] = {}  # one output array per layer and shape, rewritten every batch

    # ------------------------------------------------------------------ running
    def run(self, x: np.ndarray, batch_size: int = 256, record: bool = False, progress=None) -> SimResult:
        """Run ``x`` of shape ``[T, N, *input_shape]`` (spikes or currents), ``batch_size`` samples at a time.

        ``progress``: optional callable advanced by the number of samples done.
        """
        x = check_input(self.program, x)
        size = self.batch_limit(x.shape[0], batch_size)
        return self._stream((x[:, start : start + size] for start in range(0, x.shape[1], size)), record, progress)

    def batch_limit(self, steps: int, batch_size: int) -> int:
        """``batch_size``, lowered so that one layer's output over the window stays below :data:`WINDOW_BYTES`."""
        largest = max(layer.size for layer in self.program.layers)
        return max(1, min(int(batch_size), WINDOW_BYTES // (8 * steps * largest)))

    def stream(self, batches: Iterable[np.ndarray], record: bool = False, progress=None, sink=None) -> SimResult:
        """Run ``batches`` (arrays ``[T, n, *input_shape]``, the same ``T``) one after another, as one run:
        counters summed, outputs (and records) joined along the sample axis.  A dataset encoded batch by
        batch goes through without ever existing whole.  ``sink``: a callable that receives each batch's
        records (``{layer: {key: [T, n, ...]}}``) instead of the result keeping them all."""
        return self._stream((check_input(self.program, batch) for batch in batches), record, progress, sink)

    def _stream(self, batches: Iterable[np.ndarray], record: bool, progress, sink=None) -> SimResult:
        record = record or sink is not None
        counters = {
            layer.name: LayerCounters(layer.name, layer.kind, neurons=layer.size if layer.kind == "neuron" else 0,
                                      synapses=self.tables[layer.name].nnz if layer.kind in SYNAPTIC else 0)
            for layer in self.program.layers
        }  # fmt: skip
        outputs, records, steps = [], {}, None
        self._clipped = 0
        for batch in batches:
            if steps is not None and batch.shape[0] != steps:
                raise SnnCliError(f"a batch has {batch.shape[0]} steps, the ones before it {steps}: one run has one T")
            steps = batch.shape[0]
            size = self.batch_limit(steps, batch.shape[1])
            for start in range(0, batch.shape[1], size):
                outs, states = self._run_batch(batch[:, start : start + size], counters, record)
                outputs.append(outs[self.output.name].copy())  # the arena is rewritten by the next batch
                if sink is not None:
                    sink(self._records(outs, states))
                elif record:
                    for name, rec in self._records(outs, states).items():
                        for key, value in rec.items():
                            records.setdefault(name, {}).setdefault(key, []).append(value)
                if progress is not None:
                    progress(min(size, batch.shape[1] - start))
        if steps is None:
            raise SnnCliError("no input to simulate: the data has no samples")
        joined = {n: {k: np.concatenate(v, axis=1) for k, v in r.items()} for n, r in records.items()}
        output = np.concatenate(outputs, axis=1)
        return SimResult(
            output,
            [counters[layer.name] for layer in self.program.layers],
            output.shape[1],
            steps,
            joined if record and sink is None else None,
            self._clipped,
        )

    def _records(self, outs: dict, states: dict) -> dict[str, dict[str, np.ndarray]]:
        """One batch's records: every layer's output (spikes narrowed, :func:`spike_record`) and its states as the
        model gives them; copies, not the arena's arrays."""
        records = {}
        for layer in self.program.layers:
            out = outs[layer.name]
            spiking = layer.kind == "neuron" and getattr(layer.neuron, "spiking", True)
            kept = spike_record(out) if spiking else out
            records[layer.name] = {"out": kept.copy() if kept is out else kept, **states.get(layer.name, {})}
        return records

    def _run_batch(self, x: np.ndarray, counters: dict, record: bool):
        steps, batch = x.shape[:2]
        outs: dict[str, np.ndarray] = {}
        states = {layer.name: self.models[layer.name].init(layer.out_shape, batch, layer.neuron)
                  for layer in self.program.neuron_layers}  # fmt: skip
        recorded: dict[str, dict[str, list]] | None = {} if record else None
        events: dict[str, np.ndarray] = {}  # layer -> where each row of its whole-window output has its events
        for group in self.groups:
            if len(group) == 1 and group[0].name not in group[0].delayed_inputs:
                layer = group[0]
                inp = x if layer.kind == "input" else self._gather(layer, outs, 0, steps, batch)
                outs[layer.name] = self._apply(layer, inp, states, counters[layer.name], recorded, events)
                continue
            for layer in group:  # a recurrent loop: step by step
                outs[layer.name] = np.zeros((steps, batch, *layer.out_shape))
            for t in range(steps):
                for layer in group:
                    inp = self._gather(layer, outs, t, t + 1, batch)
                    outs[layer.name][t] = self._apply(layer, inp, states, counters[layer.name], recorded)[0]
        joined = {name: {key: np.concatenate(v) for key, v in rec.items()} for name, rec in (recorded or {}).items()}
        return outs, joined

    def _buffer(self, name: str, shape: tuple) -> np.ndarray:
        """A float64 array of ``shape`` for layer ``name``'s output, the same one every batch (a fresh array
        costs its page faults: about 3x writing one already mapped)."""
        key = (name, tuple(shape))
        if key not in self._arena:
            self._arena[key] = np.empty(shape)
        return self._arena[key]

    @staticmethod
    def _gather(layer: Layer, outs: dict, start: int, stop: int, batch: int) -> np.ndarray:
        """Input of steps ``[start, stop)``: the sum of the same-step sources' outputs and of the
        delayed sources' outputs one step earlier (nothing at step 0).  One same-step source: its
        output itself (a view, no copy)."""
        shape = (stop - start, batch, *layer.in_shape)
        if len(layer.inputs) == 1 and not layer.delayed_inputs:
            return outs[layer.inputs[0]][start:stop].reshape(shape)
        total = np.zeros(shape)
        for src in layer.inputs:
            total += outs[src][start:stop].reshape(shape)
        for src in layer.delayed_inputs:
            lo = max(start - 1, 0)
            total[lo + 1 - start :] += outs[src][lo : stop - 1].reshape(-1, batch, *layer.in_shape)
        return total

    def _apply(
        self, layer: Layer, inp: np.ndarray, states: dict, counter: LayerCounters, recorded, events=None
    ) -> np.ndarray:
        """The layer's output over the steps of ``inp`` ``[t, batch, *in_shape]``.  ``events`` (layer-major runs):
        layer -> where each row of its output has its events, as a neuron window counted them; a layer whose
        input is one such output (or its reshape) reads them there instead of scanning the input again."""
        kind, op = layer.kind, layer.op
        steps, batch = inp.shape[:2]
        counted = None
        if events is not None and len(layer.inputs) == 1 and not layer.delayed_inputs:
            counted = events.get(layer.inputs[0])
        if kind == "input":
            x = inp
            if inp.dtype != np.float64:
                x = self._buffer(layer.name, inp.shape)
                np.copyto(x, inp)
            if op.scale is None:
                return x
            levels = np.round(x * op.scale)
            top = 2 ** int(op.bits) - 1
            self._clipped += int(np.count_nonzero((levels < 0) | (levels > top)))
            return np.clip(levels, 0, top)
        if kind == "neuron":
            return self._neurons(layer, inp, states, counter, recorded, events)
        table = self._fanouts.get(layer.name)
        if table is not None:
            out, counts = propagate(
                table,
                inp.reshape(steps * batch, -1),
                layer.name in self.event_inputs,
                self._buffer(layer.name, (steps * batch, table.shape[1])),
                counted,
            )
            if kind in SYNAPTIC:
                self._count_synaptic(layer.name, counts, counter)
            out = out.reshape(steps, batch, *layer.out_shape)
            if kind in SYNAPTIC and op.bias is not None:
                out += op.bias.reshape(-1, 1, 1) if kind == "conv2d" else op.bias
            return out
        if kind in ("output", "flatten"):
            if counted is not None:
                events[layer.name] = counted  # the same rows, reshaped
            return inp.reshape(steps, batch, *layer.out_shape)
        if kind == "scale":
            return inp * op.scale
        if kind == "threshold":
            return (inp > op.threshold).astype(np.float64)
        raise SnnCliError(f"hwsim cannot execute layer {layer.name!r} of op {kind!r}")

    def _neurons(
        self, layer: Layer, inp: np.ndarray, states: dict, counter: LayerCounters, recorded, events=None
    ) -> np.ndarray:
        """The neuron recursion over the steps of ``inp``, from the layer's carried state; with
        ``recorded``, every per-neuron state variable after each step (``v``, ``i``, ``u``, ...); with
        ``events``, where each row of the output has its events (the window counts them as it writes)."""
        model, params = self.models[layer.name], layer.neuron
        ptr = None
        if model.window is not None:
            out = self._buffer(layer.name, inp.shape)
            ptr = np.empty(inp.shape[0] * inp.shape[1] + 1, dtype=np.int64)
            state, out, rec = model.window(states[layer.name], inp, params, recorded is not None, out, ptr)
            if events is not None:
                events[layer.name] = ptr
        else:
            state, out, rec = _step_by_step(model, states[layer.name], inp, params, recorded is not None)
        states[layer.name] = state
        if recorded is not None:
            for key, value in rec.items():
                recorded.setdefault(layer.name, {}).setdefault(key, []).append(value)
        if model.updates is None:
            updates = inp.size
        else:
            updates = sum(int(model.updates(inp[t], params)) for t in range(inp.shape[0]))
        updates += self._delivered.pop(layer.name, 0)  # event-driven: one state update per event and target
        n_states = sum(np.ndim(v) > 0 for v in state.values())  # per-neuron state variables
        counter.neuron_updates += updates
        counter.state_reads += updates * n_states
        counter.state_writes += updates * n_states
        if getattr(params, "spiking", True):  # one spike per event the window counted, where the record says so
            binary = ptr is not None and not getattr(params, "multi_spike", True)
            counter.spikes += int(ptr[-1]) if binary else int(out.sum())
        return out

    def _count_synaptic(self, name: str, counts: Counts, counter: LayerCounters) -> None:
        target = self.event_inputs.get(name)
        if target is not None:  # event counts: n events at an input cost n x its fan-out accumulates
            if counts.lowest < 0:
                raise SnnCliError(
                    f"layer {name!r} feeds event-driven neurons and received a negative value; "
                    "its input must be event counts (integers >= 0)"
                )
            ops = int(counts.weighted)
            counter.sops += ops
            counter.weight_reads += ops
            self._delivered[target] = self._delivered.get(target, 0) + ops
            return
        counter.sops += counts.acs
        counter.macs += counts.macs
        counter.weight_reads += counts.acs + counts.macs


def _step_by_step(model, state: dict, inp: np.ndarray, params, record: bool):
    """``model.step`` over the steps of ``inp``: the window of a model without a compiled one."""
    out = np.empty(inp.shape)
    rec: dict[str, list] = {}
    for t in range(inp.shape[0]):
        state, out[t] = model.step(state, inp[t], params)
        if record:
            for key, value in state.items():
                if np.ndim(value) > 0:
                    rec.setdefault(key, []).append(value)
    return state, out, {key: np.stack(v) for key, v in rec.items()}


def spike_record(spikes: np.ndarray) -> np.ndarray:
    """Spikes as bool when each is 0 or 1, counts in the narrowest signed integer type that holds them, else
    unchanged (records of a long run stay small; bool and signed types do not wrap silently in arithmetic)."""
    if spikes.size == 0:
        return spikes
    lo, hi = spikes.min(), spikes.max()
    for dtype, top in ((np.bool_, 1), (np.int8, 127), (np.int16, 32767), (np.int32, 2**31 - 1)):
        if lo >= 0 and hi <= top:
            narrow = spikes.astype(dtype)
            return narrow if np.array_equal(narrow, spikes) else spikes
    return spikes


def _event_inputs(program: Program) -> dict[str, str]:
    """Synaptic layer -> the event-driven neuron layer that is its only consumer (``params.event_driven``):
    its input values are event counts (counters.py)."""
    consumers: dict[str, list[Layer]] = {}
    for layer in program.layers:
        for src in (*layer.inputs, *layer.delayed_inputs):
            consumers.setdefault(src, []).append(layer)
    out = {}
    for layer in program.layers:
        users = consumers.get(layer.name, [])
        if (
            layer.kind in SYNAPTIC
            and len(users) == 1
            and users[0].kind == "neuron"
            and getattr(users[0].neuron, "event_driven", False)
        ):
            out[layer.name] = users[0].name
    return out


def check_input(program: Program, x) -> np.ndarray:
    """``x`` as an array ``[time, batch, *input_shape]`` of finite numbers, or a one-line error."""
    x = np.asarray(x)
    (inp,) = program.input_layers
    if x.ndim < 2 or tuple(x.shape[2:]) != tuple(inp.out_shape):
        raise SnnCliError(
            f"input has shape {tuple(x.shape)}, the graph expects [time, batch, {', '.join(map(str, inp.out_shape))}]"
        )
    if x.dtype.kind not in "biuf":
        raise SnnCliError(f"input must be numeric, got {x.dtype}")
    if x.size == 0:
        raise SnnCliError(f"input has no data (shape {tuple(x.shape)}): it needs at least one step and one sample")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise SnnCliError("input contains NaN or infinite values")
    return x


def pad_for_latency(program: Program, x: np.ndarray) -> np.ndarray:
    """Append the zero steps a pipelined chip needs to flush its last inputs to the
    output (``program.latency_steps``, one per synapse stage on Loihi)."""
    if program.latency_steps <= 0:
        return x
    return np.concatenate([x, np.zeros((program.latency_steps, *x.shape[1:]), dtype=x.dtype)])


def output_window(program: Program, steps: int) -> tuple[int, int]:
    """Output steps that correspond to the ``steps`` input steps once the pipeline
    latency is taken out (``[latency, latency + steps)``)."""
    return program.latency_steps, program.latency_steps + steps


def simulate(program: Program, x: np.ndarray, **kwargs) -> SimResult:
    """Convenience: ``Simulator(program).run(x, **kwargs)``."""
    return Simulator(program).run(x, **kwargs)
