"""STDP fine-tuning of chosen layers with SpikingJelly's ``STDPLearner``.

After the surrogate-gradient epochs (or on the weights of an ``init_from`` run),
``stdp_epochs`` more epochs change the weights of ``stdp_layers`` by
spike-timing-dependent plasticity.  Per step ``t``, with pre activity ``s_i``
(the layer's input: spikes, or analog pixels for a first layer fed by the
``direct`` encoder) and post spikes ``s_j`` (the neuron layer after it),
SpikingJelly's ``functional.learning.stdp_linear_step`` (and its conv twin) does::

    tr_pre[t]  = tr_pre[t-1]  (1 - 1/tau_pre)  + s_i[t]
    tr_post[t] = tr_post[t-1] (1 - 1/tau_post) + s_j[t]
    dw_ji     += f_post(w) tr_pre_i[t] s_j[t]  -  f_pre(w) tr_post_j[t] s_i[t]

summed over the batch and the T steps of one sample, weights held fixed within
the batch.  ``f_pre(w) = a_pre clamp(w, -1, 1)`` and ``f_post(w) = a_post clamp(w, -1, 1)``
(the weight dependence of SpikingJelly's STDP tutorial).  The learner writes
``-dw`` into ``weight.grad`` (``step(on_grad=True)``, scaled by 1/batch) and a plain SGD
step with ``stdp_lr`` applies it: ``w += stdp_lr * dw / batch``.

Modes (SpikingJelly's "STDP + gradient descent" recipe, tutorial ``stdp``):

* ``alone``: forward passes without gradients; only the STDP layers' weights
  change, every other parameter (and the STDP layers' biases) stays as it is.
* ``mixed``: each batch also back-propagates the loss; the STDP layers' gradient
  is discarded and replaced by the STDP update, every other parameter takes an
  Adam step with ``stdp_grad_lr``.

Speed: SpikingJelly's ``stdp_linear_step`` forms the ``[batch, out, in]`` products
before summing over the batch (~10 s per batch for Fashion-MNIST's 784-500 layer,
T = 8, batch 128, on 2 cores).  For Linear layers :class:`_FastLinearSTDP` (a
``STDPLearner`` subclass) computes the same rule as two ``[out, batch] @ [batch, in]``
products; a test checks it against SpikingJelly's function.  Conv layers use
SpikingJelly's own step.

The model keeps its classes (plain Linear/Conv2d + neurons), so a fine-tuned run
exports and deploys like any other.  STDP traces live only within a batch
(reset after each), so a resumed run continues exactly.
"""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from spikingjelly.activation_based import functional

from snncli.errors import SnnCliError
from snncli.trainer.config import TrainConfig
from snncli.trainer.models import NEURON_CLASSES, spike_counts


def _import_learning():
    """``spikingjelly.activation_based.learning``, which imports ``monitor``, which imports
    ``torch.utils.tensorboard`` at module level for a GPU monitor we never use.  Where
    tensorboard is not installed, that import gets a stub for the duration of this
    import only (its ``SummaryWriter`` raises if anyone constructs it)."""
    try:
        from spikingjelly.activation_based import learning

        return learning
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("tensorboard"):
            raise
    stub = types.ModuleType("torch.utils.tensorboard")

    class SummaryWriter:
        def __init__(self, *args, **kwargs):
            raise ImportError("tensorboard is not installed")

    stub.SummaryWriter = SummaryWriter
    had = sys.modules.get("torch.utils.tensorboard")
    sys.modules["torch.utils.tensorboard"] = stub
    try:
        from spikingjelly.activation_based import learning
    finally:
        if had is None:
            sys.modules.pop("torch.utils.tensorboard", None)
        else:
            sys.modules["torch.utils.tensorboard"] = had
    return learning


def linear_stdp_step(pre, post, trace, weight, *, tau_pre, tau_post, f_pre, f_post):
    """SpikingJelly's ``functional.learning.stdp_linear_step`` (same traces, same ``delta_w``),
    its batch sum done by matrix products instead of a ``[batch, out, in]`` tensor::

        tr_pre  <- tr_pre  - tr_pre / tau_pre   + pre        [batch, in]
        tr_post <- tr_post - tr_post / tau_post + post       [batch, out]
        dw = f_post(w) * (post^T tr_pre) - f_pre(w) * (tr_post^T pre)
    """
    trace_pre, trace_post = trace
    trace_pre = trace_pre - trace_pre / tau_pre + pre
    trace_post = trace_post - trace_post / tau_post + post
    delta = f_post(weight) * (post.transpose(0, 1) @ trace_pre) - f_pre(weight) * (trace_post.transpose(0, 1) @ pre)
    return delta, (trace_pre, trace_post)


def _learner_class(learning):
    """``STDPLearner`` with :func:`linear_stdp_step` for Linear synapses (everything else: SpikingJelly's)."""

    class _FastLinearSTDP(learning.STDPLearner):
        def _single_step(self, pre, post):
            if not isinstance(self.synapse, nn.Linear) or pre.ndim != 2:
                return super()._single_step(pre, post)
            trace = tuple(
                t if isinstance(t, torch.Tensor) else torch.zeros_like(ref)
                for t, ref in ((self.trace_pre, pre), (self.trace_post, post))
            )
            delta, (self.trace_pre, self.trace_post) = linear_stdp_step(
                pre,
                post,
                trace,
                self.synapse.weight.detach(),
                tau_pre=self.tau_pre,
                tau_post=self.tau_post,
                f_pre=self.f_pre,
                f_post=self.f_post,
            )
            return delta

    return _FastLinearSTDP


def _weighted(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_children() if isinstance(m, (nn.Linear, nn.Conv2d))]


def stdp_layers(model: nn.Module, cfg: TrainConfig) -> list[str]:
    """The layer names STDP trains: ``cfg.stdp_layers``, or every weighted layer but the output."""
    names = _weighted(model)
    chosen = list(cfg.stdp_layers) or names[:-1]
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise SnnCliError(
            f"stdp_layers {', '.join(map(repr, unknown))[:120]}: not a weighted layer of this model; "
            f"choose from {', '.join(names)}"
        )
    if not chosen:
        raise SnnCliError(f"stdp_layers is empty and the model has no hidden layer; name one of {', '.join(names)}")
    return chosen


def _neuron_after(model: nn.Module, name: str) -> nn.Module:
    children = list(model.named_children())
    index = [n for n, _ in children].index(name)
    for _, module in children[index + 1 :]:
        if isinstance(module, NEURON_CLASSES):
            return module
    raise SnnCliError(f"stdp layer {name!r} has no spiking neuron after it")


class StdpFineTuner:
    """One STDP learner per chosen layer, and the optimisers of one mode; use as a context manager
    (closing removes the learners' hooks, leaving a plain model)."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, distributed: bool = False):
        learner_cls = _learner_class(_import_learning())
        self.model, self.cfg, self.distributed = model, cfg, distributed
        self.layers = stdp_layers(model, cfg)
        a_pre, a_post = cfg.stdp_a_pre, cfg.stdp_a_post
        self.learners = [
            learner_cls(
                "m",
                getattr(model, name),
                _neuron_after(model, name),
                cfg.stdp_tau_pre,
                cfg.stdp_tau_post,
                f_pre=lambda w: a_pre * torch.clamp(w, -1.0, 1.0),
                f_post=lambda w: a_post * torch.clamp(w, -1.0, 1.0),
            )
            for name in self.layers
        ]
        self.weights = [getattr(model, name).weight for name in self.layers]
        ids = {id(w) for w in self.weights}
        stdp_biases = {id(getattr(model, n).bias) for n in self.layers if getattr(model, n).bias is not None}
        self.others = [p for p in model.parameters() if id(p) not in ids and id(p) not in stdp_biases]
        self.stdp_optimizer = torch.optim.SGD(self.weights, lr=cfg.stdp_lr, momentum=0.0)
        self.grad_optimizer = (
            torch.optim.Adam(self.others, lr=cfg.stdp_grad_lr) if cfg.stdp_mode == "mixed" and self.others else None
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        for learner in self.learners:
            learner.close()

    @contextmanager
    def paused(self):
        """No recording (evaluation passes must not feed the learners)."""
        for learner in self.learners:
            learner.reset()
            learner.disable()
        try:
            yield
        finally:
            for learner in self.learners:
                learner.enable()

    def state_dict(self) -> dict:
        return {"grad_optimizer": self.grad_optimizer.state_dict() if self.grad_optimizer else None}

    def load_state_dict(self, state: dict) -> None:
        if self.grad_optimizer is not None and state.get("grad_optimizer"):
            self.grad_optimizer.load_state_dict(state["grad_optimizer"])

    def step(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor):
        """One batch: forward, the STDP update of the chosen layers (and in ``mixed`` a gradient
        step of the others).  Returns ``(loss, output spikes)``."""
        mixed = self.grad_optimizer is not None
        with torch.set_grad_enabled(mixed):
            out = net(x)
            loss = F.cross_entropy(spike_counts(out), y)
        if mixed:
            self.grad_optimizer.zero_grad(set_to_none=True)
            loss.backward()
        self.stdp_optimizer.zero_grad(set_to_none=True)  # the chosen layers learn from STDP only
        for learner in self.learners:
            learner.step(on_grad=True, scale=1.0 / len(y))
        if self.distributed:
            for w in self.weights:
                if w.grad is not None:
                    dist.all_reduce(w.grad)
                    w.grad /= dist.get_world_size()
        self.stdp_optimizer.step()
        if mixed:
            self.grad_optimizer.step()
        for learner in self.learners:
            learner.reset()
        functional.reset_net(self.model)
        return loss.detach(), out.detach()
