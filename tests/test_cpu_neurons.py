"""The trainer's CPU neurons compute exactly what SpikingJelly's do: spikes, voltages and gradients bit for bit."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional, neuron, surrogate

from snncli.trainer import cpu_neurons
from snncli.trainer.config import TrainConfig
from snncli.trainer.models import build_model

CASES = [(kind, v_reset) for kind in ("lif", "if") for v_reset in (0.0, None, -0.25)]


def _pair(kind: str, v_reset, detach: bool = True, alpha: float = 2.0):
    common = dict(
        v_threshold=0.8,
        v_reset=v_reset,
        surrogate_function=surrogate.ATan(alpha=alpha),
        detach_reset=detach,
        step_mode="m",
    )
    if kind == "lif":
        common.update(tau=1 / (1 - 0.95), decay_input=False)
        return neuron.LIFNode(**common), cpu_neurons.LIFNode(**common)
    return neuron.IFNode(**common), cpu_neurons.IFNode(**common)


def _run(node, x_chunks, weights):
    """Two chunks in a row without a reset (the state carries over), then a loss on spikes and final voltage."""
    xs = [x.clone().requires_grad_() for x in x_chunks]
    spikes = [node(x) for x in xs]
    loss = sum((s * w).sum() for s, w in zip(spikes, weights)) + (node.v * 0.3).sum()
    loss.backward()
    out = [s.detach() for s in spikes], node.v.detach().clone(), [x.grad for x in xs]
    functional.reset_net(node)
    return out


@pytest.mark.parametrize("kind,v_reset", CASES)
def test_spikes_voltages_and_gradients_equal_spikingjelly_bit_for_bit(kind, v_reset):
    torch.manual_seed(0)
    chunks = [torch.randn(6, 4, 3, 5, 5) * 0.6 for _ in range(2)]
    weights = [torch.randn(6, 4, 3, 5, 5) for _ in range(2)]
    theirs, ours = _pair(kind, v_reset, alpha=3.0)
    assert "_CompiledLoopBackward" in ours(chunks[0].clone().requires_grad_()).grad_fn.name()
    functional.reset_net(ours)
    (s1, v1, g1), (s2, v2, g2) = _run(theirs, chunks, weights), _run(ours, chunks, weights)
    assert any(s.sum() > 0 for s in s1) and any((s == 0).any() for s in s1)  # both branches taken
    for a, b in zip(s1, s2):
        assert torch.equal(a, b)
    assert torch.equal(v1, v2)
    for a, b in zip(g1, g2):
        assert torch.equal(a, b), (a - b).abs().max()


def test_the_default_model_takes_the_compiled_loop_on_cpu_and_trains_like_spikingjelly():
    cfg = TrainConfig(hidden=[32], time_steps=5)
    torch.manual_seed(1)
    ours = build_model(cfg, (1, 8, 8), 10)
    theirs = build_model(cfg, (1, 8, 8), 10)
    for name, module in list(theirs.named_children()):  # the same network with SpikingJelly's own classes
        if isinstance(module, cpu_neurons.LIFNode):
            base = neuron.LIFNode(
                tau=module.tau,
                decay_input=False,
                v_threshold=module.v_threshold,
                v_reset=module.v_reset,
                surrogate_function=surrogate.ATan(),
                detach_reset=module.detach_reset,
                step_mode="m",
            )
            setattr(theirs, name, base)
    theirs.load_state_dict(ours.state_dict())
    x = torch.rand(5, 16, 1, 8, 8) * 2
    out = ours(x)
    assert "_CompiledLoopBackward" in out.grad_fn.name()
    ref = theirs(x)
    assert "_CompiledLoop" not in ref.grad_fn.name()
    assert torch.equal(out, ref)
    out.sum().backward()
    ref.sum().backward()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.equal(a.grad, b.grad), name


def test_what_the_loop_does_not_cover_runs_spikingjelly_own_operator():
    node = cpu_neurons.LIFNode(tau=2.0, surrogate_function=surrogate.Sigmoid(), step_mode="m")
    x = torch.rand(4, 3, 7, requires_grad=True)
    assert "_CompiledLoop" not in node(x).grad_fn.name()
    node = cpu_neurons.LIFNode(tau=2.0, decay_input=True, step_mode="m")
    functional.reset_net(node)
    assert "_CompiledLoop" not in node(x).grad_fn.name()
    node = cpu_neurons.IFNode(step_mode="m")
    assert "_CompiledLoop" not in node(x.double()).grad_fn.name()
    node = cpu_neurons.IFNode(step_mode="m", detach_reset=False)  # SpikingJelly composes that gradient per step
    assert "_CompiledLoop" not in node(x).grad_fn.name()
