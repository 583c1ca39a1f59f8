"""Operation counts on a float torch model, for networks no chip runs (PSN neurons, Spikformer attention, ...).

The definitions are hwsim's (NeuroBench's ``SynapticOperations``, :mod:`snncli.hwsim.counters`),
applied with forward hooks to the trained model's own modules:

* ``Linear`` / ``Conv1d`` / ``Conv2d`` on input ``x`` (one row per step and sample):
  ``ops = sum_j [x_j != 0] * fanout_j`` with ``fanout_j`` the non-zero weights input ``j``
  reaches (computed exactly as ``conv((x != 0), (W != 0))`` summed); ACs where the row is in
  {-1, 0, 1}, MACs otherwise; ``synapses`` = the unrolled layer's non-zero weights, the
  layer's ANN-twin MACs (:mod:`snncli.nirgraph.twin`'s definition);
* spiking neurons (SpikingJelly nodes): every neuron every step is one update, spikes
  counted; a parallel spiking neuron (PSN family) also mixes its T inputs through a T x T
  matrix: ``nnz(W_eff)`` MACs per neuron per sample (``psn.py``: ``torch.addmm(bias, W, x)``);
* Spikformer's spiking self-attention (SpikingJelly ``layer/attention.py``,
  ``SpikingSelfAttention._ssa_kernel_torch``: ``A = V K^T``, ``out = A Q``) on the spikes of
  ``qkv_lif``: ``ops = sum [v != 0][k != 0]`` over the contraction for ``V K^T`` and
  ``sum [A != 0][q != 0]`` for ``A Q``, both accumulates (one operand is a spike); its ANN
  twin computes both products densely, ``2 * C * (C / heads) * L`` MACs.

Not counted (as NeuroBench): batch norm (folded into the layer before it at inference),
pooling, residual additions.  The result has the fields of ``snncli simulate --json``
and ``counted_on`` says they come from the float model, not a deployed Program.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from snncli.commands.run import Run


class _Row:
    def __init__(self, name: str, op: str):
        self.name, self.op = name, op
        self.neurons = self.synapses = self.twin = 0
        self.sops = self.macs = self.neuron_updates = self.spikes = 0.0

    def per_sample(self, samples: int, steps: int) -> dict:
        n = max(samples, 1)
        ops = self.sops + self.macs
        return {
            "name": self.name,
            "op": self.op,
            "neurons": self.neurons,
            "synapses": self.synapses,
            "sops": self.sops / n,
            "macs": self.macs / n,
            "neuron_updates": self.neuron_updates / n,
            "spikes": self.spikes / n,
            "weight_reads": ops / n,
            "state_reads": self.neuron_updates / n,
            "state_writes": self.neuron_updates / n,
            "ann_macs": self.twin,
            "firing_rate": self.spikes / max(n * steps * self.neurons, 1) if self.neurons else 0.0,
        }


def _rows_and_ops(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(ops per row, binary per row, synapses)`` of one synaptic module on input ``x``."""
    nz_w = (module.weight != 0).to(torch.float64)
    if isinstance(module, nn.Linear):
        rows = x.reshape(-1, module.in_features)
        ops = (rows != 0).to(torch.float64) @ nz_w.sum(0)
        synapses = int(nz_w.sum())
    else:
        conv = F.conv2d if isinstance(module, nn.Conv2d) else F.conv1d
        rows = x.reshape(-1, *x.shape[-(nz_w.ndim - 1) :])
        args = (None, module.stride, module.padding, module.dilation, module.groups)
        ops = conv((rows != 0).to(torch.float64), nz_w, *args).flatten(1).sum(1)
        synapses = int(conv(torch.ones_like(rows[:1], dtype=torch.float64), nz_w, *args).sum())
        rows = rows.flatten(1)
    binary = ((rows == 0) | (rows == 1) | (rows == -1)).all(1)
    return ops, binary, synapses


class Counter:
    """Forward hooks on a model's synaptic, neuron and attention modules, accumulating :class:`_Row` counts."""

    def __init__(self, model: nn.Module, steps: int):
        from spikingjelly.activation_based.layer.attention import SpikingSelfAttention
        from spikingjelly.activation_based.neuron import BaseNode

        from snncli.trainer.models import PSN_CLASSES

        self.steps, self.rows, self.handles = steps, {}, []
        for name, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                self._hook(m, name, "dense" if isinstance(m, nn.Linear) else "conv", self._synaptic)
            elif isinstance(m, PSN_CLASSES):
                self._hook(m, name, "neuron (parallel spiking)", self._psn)
            elif isinstance(m, BaseNode):
                self._hook(m, name, "neuron", self._neuron)
            if isinstance(m, SpikingSelfAttention):
                self._hook(m.qkv_lif, f"{name}.attention", "attention (spike matmul)", self._attention(m.num_heads))

    def _hook(self, module, name, op, fn):
        row = self.rows.setdefault(name, _Row(name, op))
        self.handles.append(module.register_forward_hook(lambda m, inp, out: fn(row, m, inp[0], out)))

    def _synaptic(self, row, m, x, out):
        ops, binary, row.synapses = _rows_and_ops(m, x.detach())
        row.twin = row.synapses
        row.sops += float(ops[binary].sum())
        row.macs += float(ops[~binary].sum())

    def _neuron(self, row, m, x, out):
        out = out.detach()
        per_step_sample = out[0, 0].numel()
        row.neurons = per_step_sample
        row.neuron_updates += out.numel()
        row.spikes += float(out.sum())

    def _psn(self, row, m, x, out):
        self._neuron(row, m, x, out)
        t = out.shape[0]
        weight = (
            m.weight
            if type(m).__name__ == "PSN"
            else (m.masked_weight() if hasattr(m, "masked_weight") else m.gen_gemm_weight(t))
        )
        row.macs += float((weight.detach() != 0).sum()) * out[0].numel()  # nnz(W_eff) MACs per neuron and sample

    def _attention(self, heads: int):
        def count(row, m, x, qkv):
            t, n, c3, length = qkv.shape
            q, k, v = (
                s.squeeze(2)
                for s in (qkv.detach() != 0)
                .to(torch.float64)
                .reshape(t, n, 3, heads, c3 // 3 // heads, length)
                .chunk(3, dim=2)
            )
            a = v @ k.transpose(-2, -1)
            row.sops += float(a.sum()) + float(((a != 0).to(torch.float64) @ q).sum())
            cph = c3 // 3 // heads
            row.twin = 2 * (c3 // 3) * cph * length

        return count

    def close(self):
        for h in self.handles:
            h.remove()

    def layers(self, samples: int) -> list[dict]:
        return [row.per_sample(samples, self.steps) for row in self.rows.values()]


def count_run(
    run: Run,
    checkpoint: str = "best",
    limit: int | None = 200,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
) -> dict:
    """The run's model on its encoded test split, counted by :class:`Counter`: a dict shaped like
    ``snncli simulate --json`` (``layers``, ``steps``, ``twin``, ``latency``, ``counted_on``)."""
    from spikingjelly.activation_based import functional

    from snncli.hwsim.latency import machine_line
    from snncli.trainer.models import export_refusal

    model, _info = run.model(checkpoint, device=device)
    x_all, y_all = run.encoded("test", limit=limit, seed=seed)
    steps = int(x_all.shape[0])
    counter = Counter(model, steps)
    preds = []
    start = time.perf_counter()
    try:
        with torch.no_grad():
            for i in range(0, x_all.shape[1], batch_size):
                functional.reset_net(model)
                out = model(torch.as_tensor(x_all[:, i : i + batch_size], dtype=torch.float32, device=device))
                preds.append(out.sum(0).argmax(-1).cpu().numpy())
        functional.reset_net(model)
    finally:
        counter.close()
    seconds = time.perf_counter() - start
    samples = int(x_all.shape[1])
    layers = counter.layers(samples)
    twin_rows = [
        {"name": r["name"], "op": r["op"], "macs": int(r["ann_macs"]), "weights": None} for r in layers if r["ann_macs"]
    ]
    reason = export_refusal(run.config)
    per_inference = seconds / max(samples, 1)
    return {
        "source": str(run),
        "target": "float",
        "samples": samples,
        "steps": steps,
        "seconds": seconds,
        "accuracy": float(np.mean(np.concatenate(preds) == y_all)),
        "counted_on": "the float torch model (forward hooks on its layers, NeuroBench definitions), not a deployed "
        "Program" + (f": {reason}" if reason else ""),
        "layers": layers,
        "totals": {key: sum(r[key] for r in layers) for key in ("sops", "macs", "spikes")},
        "twin": {
            "source": "the torch model's layers (Linear/Conv unrolled, attention products dense)",
            "macs": sum(r["macs"] for r in twin_rows),
            "layers": twin_rows,
        },
        "latency": {
            "target": "float",
            "model": f"measured: torch forward ({device}) on this machine",
            "estimate": False,
            "per_inference_s": per_inference,
            "per_step_s": per_inference / steps,
            "steps_per_inference": steps,
            "pipeline_latency_s": 0.0,
            "breakdown_s": {"measured_total": seconds},
            "per_layer_s": {},
            "constants_s": {},
            "sources": ["measured by snncli report"],
            "assumptions": [
                f"wall time of the torch model over {samples} samples in batches of {batch_size}, "
                "hooks counting included",
                f"machine: {machine_line()}",
            ],
        },
        "warnings": [],
    }
