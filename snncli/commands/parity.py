"""``snncli parity``: the float torch model vs the exported program, in hwsim and in the vendor's simulator.

The same test inputs go through (1) the trained torch model on the fastest device
present (CUDA if available), (2) hwsim on the target's Program lowered from the
run's NIR graph, (3) the vendor's own simulator (the target's ``reference``, e.g.
Lava for ``loihi``) for the first ``reference_limit`` samples.  Reported: the
accuracy of each, the drop, how often predictions agree, and per neuron layer the
exact spike match rate over (sample, neuron, step) and the cosine similarity of
per-neuron spike counts.  The verdict: the drop stays within the tolerance, and
hwsim and the vendor agree on every spike.

Neuron layers are paired in order: the trainer's models are chains, and the
exporter keeps the order.  A pipelined chip (Loihi: one step per synapse stage)
emits layer k's spikes ``lag_k`` steps later than the float model; those lags come
from the Program's delayed edges and are taken out before comparing with torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from snncli.commands.console import Console
from snncli.commands.network import lower_graph
from snncli.commands.run import Run
from snncli.commands.simulate import warn_clipped
from snncli.core.physics import DEFAULT_DT
from snncli.core.program import Program
from snncli.errors import SnnCliError
from snncli.targets import default_target, get_target


@dataclass(frozen=True)
class ParityRequest:
    run: str
    target: str | None = None  # None: the default (float) arithmetic
    options: dict = field(default_factory=dict)
    reference_limit: int = 20
    tolerance: float = 1.0  # percentage points of accuracy drop allowed
    limit: int | None = None
    device: str | None = None
    checkpoint: str = "best"
    seed: int = 0
    dt: float = DEFAULT_DT
    batch_size: int = 256


@dataclass
class ParityResult:
    run: str
    target: str
    device: str
    samples: int
    accuracy: dict
    accuracy_drop_pp: float
    prediction_agreement: float
    spike_match_rate: float
    layers: list[dict]
    tolerance_pp: float
    reference: dict | None
    passed: bool
    verdict: str  # PASS, or FAIL and why
    advice: str | None  # what to try when it fails
    seconds: float
    warnings: list[str]
    notes: list[str]

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_json(self) -> dict:
        return {"command": "parity", **vars(self), "exit_code": self.exit_code}


def layer_lags(program: Program) -> dict[str, int]:
    """Steps by which each layer's output lags the input: the longest path from an input
    layer, a delayed edge counting one step, a same-step edge none.  A recurrent loop
    (layers that reach each other) shares one lag, set by the edges entering it: the
    loop adds none.  The execution order may list a synapse before the neuron it reads
    (Loihi), so this walks the edges."""
    edges = {layer.name: [(s, 0) for s in layer.inputs] + [(s, 1) for s in layer.delayed_inputs]
             for layer in program.layers}  # fmt: skip
    upstream: dict[str, set[str]] = {}  # every layer a layer reads from, directly or not

    def reach(name: str) -> set[str]:
        if name not in upstream:
            upstream[name] = seen = set()
            stack = [name]
            while stack:
                for src, _ in edges[stack.pop()]:
                    if src not in seen:
                        seen.add(src)
                        stack.append(src)
        return upstream[name]

    lags: dict[str, int] = {}

    def lag(name: str) -> int:
        if name not in lags:
            loop = {name} | {u for u in reach(name) if name in reach(u)}
            entering = [(s, d) for member in loop for s, d in edges[member] if s not in loop]
            value = max((lag(s) + d for s, d in entering), default=0)
            lags.update(dict.fromkeys(loop, value))
        return lags[name]

    for layer in program.layers:
        lag(layer.name)
    return lags


class Agreement:
    """Running exact-match and count-cosine statistics between two spike sources, per layer."""

    def __init__(self, names):
        self.names = list(names)
        self.match = np.zeros(len(names))
        self.pairs = np.zeros(len(names))
        self.counts = [[0.0, 0.0] for _ in names]

    def add(self, k: int, a: np.ndarray, b: np.ndarray) -> None:
        self.match[k] += np.count_nonzero(a == b)
        self.pairs[k] += a.size
        for j, arr in enumerate((a, b)):
            self.counts[k][j] = self.counts[k][j] + arr.sum(0).reshape(arr.shape[1], -1).sum(0)

    def layers(self, label_a: str, label_b: str) -> list[dict]:
        out = []
        for k, name in enumerate(self.names):
            a, b = (np.asarray(c, dtype=float) for c in self.counts[k])
            denom = np.linalg.norm(a) * np.linalg.norm(b)
            cosine = float(a @ b / denom) if denom > 0 else float(np.array_equal(a, b))
            out.append(
                {
                    "name": name,
                    "spike_match_rate": float(self.match[k] / max(self.pairs[k], 1)),
                    "count_cosine": cosine,
                    f"spikes_{label_a}": float(a.sum()),
                    f"spikes_{label_b}": float(b.sum()),
                }
            )
        return out

    def rate(self) -> float:
        return float(self.match.sum() / max(self.pairs.sum(), 1))


def _torch_spikes(model, x: torch.Tensor) -> tuple[np.ndarray, list[np.ndarray]]:
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.neuron import BaseNode

    captured = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: captured.append(out.detach().cpu().numpy()))
             for m in model.modules() if isinstance(m, BaseNode)]  # fmt: skip
    try:
        with torch.no_grad():
            functional.reset_net(model)
            out = model(x)
            functional.reset_net(model)
    finally:
        for h in hooks:
            h.remove()
    return out.detach().cpu().numpy(), captured


def parity(req: ParityRequest, console: Console | None = None) -> ParityResult:
    from snncli.hwsim.simulate import Simulator, output_window, pad_for_latency

    console = console or Console()
    if req.tolerance < 0 or not np.isfinite(req.tolerance):
        raise SnnCliError(f"--tolerance must be a finite number of percentage points >= 0, got {req.tolerance}")
    target = get_target(req.target or default_target())
    run = Run(req.run)
    device = req.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, _info = run.model(req.checkpoint, device=device)
    calibration = run.calibration() if target.needs_calibration else None
    program = lower_graph(
        run.graph(req.checkpoint, req.dt),
        target.name,
        console,
        req.options,
        req.dt,
        calibration=calibration,
        where=f"the run {run}",
    ).program
    simulator = Simulator(program)
    x_all, y_all = run.encoded("test", limit=req.limit, seed=req.seed)
    steps = x_all.shape[0]
    window = output_window(program, steps)
    neuron_layers = program.neuron_layers
    lags = layer_lags(program)
    vs_torch = Agreement([layer.name for layer in neuron_layers])
    pred_torch, pred_hw = [], []
    t0 = time.perf_counter()
    with console.progress("parity", total=x_all.shape[1]) as update:
        for start in range(0, x_all.shape[1], req.batch_size):
            xb = x_all[:, start : start + req.batch_size]
            out, spikes = _torch_spikes(model, torch.as_tensor(xb, dtype=torch.float32, device=device))
            if len(spikes) != len(neuron_layers):
                raise SnnCliError(f"the model has {len(spikes)} neuron layers, the program {len(neuron_layers)}")
            result = simulator.run(pad_for_latency(program, xb), batch_size=req.batch_size, record=True)
            warn_clipped(result, program, console)
            pred_torch.append(out.sum(0).argmax(-1))
            pred_hw.append(result.predictions(window))
            for k, layer in enumerate(neuron_layers):
                ours = result.records[layer.name]["out"][lags[layer.name] : lags[layer.name] + steps]
                vs_torch.add(k, spikes[k].reshape(ours.shape), ours)
            update(xb.shape[1])
    pred_torch, pred_hw = np.concatenate(pred_torch), np.concatenate(pred_hw)
    acc_torch, acc_hw = float(np.mean(pred_torch == y_all)), float(np.mean(pred_hw == y_all))
    drop = 100 * (acc_torch - acc_hw)
    reference = None
    if target.has_reference and req.reference_limit > 0:
        reference = _vendor_check(
            target,
            program,
            simulator,
            x_all[:, : req.reference_limit],
            y_all[: req.reference_limit],
            pred_hw[: req.reference_limit],
            window,
            console,
        )
    passed, text, advice = verdict(drop, req.tolerance, reference, target, str(run))
    return ParityResult(
        run=str(run), target=target.name, device=str(device), samples=int(len(y_all)),
        accuracy={"torch": acc_torch, "hwsim": acc_hw}, accuracy_drop_pp=drop,
        prediction_agreement=float(np.mean(pred_torch == pred_hw)), spike_match_rate=vs_torch.rate(),
        layers=vs_torch.layers("torch", "hwsim"), tolerance_pp=req.tolerance, reference=reference, passed=passed,
        verdict=text, advice=advice, seconds=time.perf_counter() - t0, warnings=console.warnings,
        notes=console.notes,
    )  # fmt: skip


def verdict(drop: float, tolerance: float, reference: dict | None, target, run: str) -> tuple[bool, str, str | None]:
    """``(passed, PASS or FAIL and why, what to try)``: any spike hwsim and the vendor disagree on
    fails, and so does an accuracy drop past the tolerance (percentage points)."""
    if reference is not None and not reference["identical_spikes"]:
        return False, "FAIL: hwsim and the vendor simulator disagree", None
    if drop > tolerance:
        return False, f"FAIL: accuracy drop exceeds the tolerance of {tolerance} pp", target.advice(run)
    return True, "PASS", None


def _vendor_check(target, program, simulator, x, y, pred_hw, window, console: Console) -> dict:
    """hwsim vs the vendor's simulator on the same Program: spikes must be identical."""
    from snncli.hwsim.simulate import pad_for_latency

    x = pad_for_latency(program, x)
    ours = simulator.run(x, record=True)
    with console.progress("vendor simulator", total=x.shape[1]) as update:
        theirs = target.reference(program, x, progress=update)
    names = [layer.name for layer in program.neuron_layers]
    agreement = Agreement(names)
    for k, name in enumerate(names):
        agreement.add(k, ours.records[name]["out"], np.asarray(theirs[name]).reshape(ours.records[name]["out"].shape))
    out_name = program.output_layers[0].inputs[0]
    vendor_pred = np.asarray(theirs[out_name])[window[0] : window[1]].sum(0).reshape(x.shape[1], -1).argmax(-1)
    return {
        "samples": int(x.shape[1]),
        "accuracy": {"vendor": float(np.mean(vendor_pred == y)), "hwsim": float(np.mean(pred_hw == y))},
        "identical_spikes": bool(agreement.rate() == 1.0),
        "spike_match_rate": agreement.rate(),
        "layers": agreement.layers("hwsim", "vendor"),
    }
