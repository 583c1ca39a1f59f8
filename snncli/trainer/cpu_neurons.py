"""SpikingJelly's LIF and IF neurons with their time loop compiled for CPU training.

On the CPU, SpikingJelly 2.0's multi-step LIF/IF runs as a Python loop over the time steps
with autograd recording every step's tensor operations (``spikingjelly/_ops/lif/reference.py``
``multi_step``: about ten operations per step forward and more backward, each a pass over the
layer); its compiled kernels (native CUDA, Triton) are GPU-only.  For the default MLP that loop
was most of a CPU training step.  Here it runs as one compiled pass forward and one backward
(:mod:`snncli.core.compiled`) with the same float32 operations in the same order, so spikes,
voltages and gradients are bit-identical to SpikingJelly's (``tests/test_cpu_neurons.py``)::

    h[t] = v[t-1] - (v[t-1] - v_reset) / tau + x[t]   (LIF, decay_input=False; v_reset 0 when subtracting)
    h[t] = v[t-1] + x[t]                              (IF)
    s[t] = [h[t] >= v_th]
    v[t] = h[t] - s[t] v_th                           (v_reset=None: reset by subtraction)
         = s[t] v_reset + (1 - s[t]) h[t]             (reset to v_reset)

Backward (``detach_reset``: no gradient through the reset), with ``g = dS/dh`` the ATan
surrogate ``(alpha/2) / (1 + (pi/2 alpha (h - v_th))^2)`` and ``c`` the gradient carried
from step ``t+1`` into ``v[t]`` (``c[T-1] = dL/dv[T-1]``)::

    dL/dh[t] = dL/ds[t] g[t] + c[t] dv[t]/dh[t],  dv/dh = 1 - s[t] (reset to v_reset) or 1 (subtraction)
    dL/dx[t] = dL/dh[t];   c[t-1] = dL/dh[t] - dL/dh[t] / tau   (IF: c[t-1] = dL/dh[t])

Anything else (a CUDA tensor, another dtype or surrogate, gradients through the reset,
``decay_input=True``, ``store_v_seq``) runs SpikingJelly's own code.  The classes are
SpikingJelly's with that fast path, so checkpoints, ``functional.reset_net`` and the NIR
export treat them alike.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from spikingjelly.activation_based import neuron, surrogate

from snncli.core.compiled import specialise


def _forward_kernel(leak: bool, subtract: bool):
    def kernel(x, v, tau, v_reset, v_th, spikes, charged):
        """``x``, ``spikes``, ``charged`` ``[T, N]``; ``v`` ``[N]`` is the state, updated in place."""
        one = np.float32(1.0)
        for t in range(x.shape[0]):
            for i in range(x.shape[1]):
                h = v[i] - (v[i] - v_reset) / tau + x[t, i] if leak else v[i] + x[t, i]
                s = np.float32(h >= v_th)
                spikes[t, i] = s
                charged[t, i] = h
                v[i] = h - s * v_th if subtract else s * v_reset + (one - s) * h

    return kernel


def _backward_kernel(leak: bool, subtract: bool):
    def kernel(grad_spikes, charged, carry, tau, v_th, alpha, grad_x):
        """``carry`` ``[N]`` enters as dL/dv[T-1] and leaves as dL/dv[-1] (the initial state's gradient)."""
        one = np.float32(1.0)
        half_alpha = np.float32(alpha / 2)
        k = np.float32(math.pi / 2 * alpha)
        for t in range(charged.shape[0] - 1, -1, -1):
            for i in range(charged.shape[1]):
                h = charged[t, i]
                z = (h - v_th) * k
                g = half_alpha * (one / (one + z * z))  # torch's scalar / tensor is reciprocal(tensor) * scalar
                dv = one if subtract else one - np.float32(h >= v_th)
                gh = grad_spikes[t, i] * g + carry[i] * dv
                grad_x[t, i] = gh
                carry[i] = gh - gh / tau if leak else gh

    return kernel


_forward = specialise(_forward_kernel)
_backward = specialise(_backward_kernel)


class _CompiledLoop(torch.autograd.Function):
    """``(x [T, ...], v0 [...]) -> (spikes [T, ...], v [...])`` through the compiled kernels."""

    @staticmethod
    def forward(ctx, x, v0, tau, v_reset, v_th, alpha, leak, subtract):
        steps = x.shape[0]
        flat = x.detach().reshape(steps, -1).contiguous().numpy()
        v = v0.detach().reshape(-1).clone().numpy()
        spikes, charged = np.empty_like(flat), np.empty_like(flat)
        f32 = np.float32
        _forward(leak, subtract)(flat, v, f32(tau), f32(v_reset), f32(v_th), spikes, charged)
        ctx.save_for_backward(torch.from_numpy(charged))
        ctx.settings = (tau, v_th, alpha, leak, subtract, x.shape, v0.shape)
        return torch.from_numpy(spikes).reshape(x.shape), torch.from_numpy(v).reshape(v0.shape)

    @staticmethod
    def backward(ctx, grad_spikes, grad_v):
        (charged,) = ctx.saved_tensors
        tau, v_th, alpha, leak, subtract, x_shape, v_shape = ctx.settings
        gs = grad_spikes.reshape(x_shape[0], -1).contiguous().numpy()  # autograd gives zeros for unused outputs
        carry = grad_v.reshape(-1).clone().numpy()
        grad_x = np.empty_like(gs)
        f32 = np.float32
        _backward(leak, subtract)(gs, charged.numpy(), carry, f32(tau), f32(v_th), f32(alpha), grad_x)
        return (torch.from_numpy(grad_x).reshape(x_shape), torch.from_numpy(carry).reshape(v_shape), *[None] * 6)


def _run_compiled(node: neuron.BaseNode, x_seq: torch.Tensor, leak: bool):
    """The compiled loop where it computes what SpikingJelly would, else ``None``."""
    if not (
        x_seq.device.type == "cpu"
        and x_seq.dtype == torch.float32
        and type(node.surrogate_function) is surrogate.ATan
        and node.surrogate_function.spiking
        and isinstance(node.surrogate_function.alpha, (int, float))
        and node.detach_reset
        and not node.store_v_seq
        and node._neuron_precision is None
        and isinstance(node.v_threshold, float)
        and (not leak or (not node.decay_input and isinstance(node.tau, float)))
    ):
        return None
    (v0,) = node.materialize_states((x_seq,), tuple(node._memories.values()), "m")
    if v0.dtype != torch.float32:
        return None
    subtract = node.v_reset is None
    spikes, v = _CompiledLoop.apply(
        x_seq,
        v0,
        node.tau if leak else 1.0,
        0.0 if subtract else float(node.v_reset),
        node.v_threshold,
        float(node.surrogate_function.alpha),
        leak,
        subtract,
    )
    node._memories["v"] = v
    node.v_seq = None
    return spikes


class _CompiledTimeLoop:
    """Multi-step on a CPU float32 tensor runs the compiled loop where it applies (module docstring), else
    the SpikingJelly class this is mixed into.  ``leak``: LIF (True) or IF (False)."""

    leak: bool

    def multi_step_forward(self, x_seq: torch.Tensor, *args, **kwargs):
        spikes = None if args or kwargs else _run_compiled(self, x_seq, self.leak)
        return super().multi_step_forward(x_seq, *args, **kwargs) if spikes is None else spikes


class LIFNode(_CompiledTimeLoop, neuron.LIFNode):
    """SpikingJelly's ``LIFNode`` with the compiled CPU time loop."""

    leak = True


class IFNode(_CompiledTimeLoop, neuron.IFNode):
    """SpikingJelly's ``IFNode`` with the compiled CPU time loop."""

    leak = False
