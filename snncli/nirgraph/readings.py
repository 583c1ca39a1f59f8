"""Readings: the semantics a producer means by the NIR nodes it writes.

NIR leaves meanings open that producers fill in differently (DESIGN.md, "Semantics"),
so a graph is always run under a named *reading*: a frozen :class:`Reading` record
that says, for every neuron node, how the written parameters become one discrete
step.  With ``a`` the voltage decay and ``b`` the current decay of a step::

    tau_s  = tau                    (tau = "seconds": the NIR spec)
           = tau / dt               (tau = "dt*seconds": Norse 1.1.0 wrote dt * tau)
           = tau * dt               (tau = "steps": Sinabs wrote time constants in steps)
    a      = 1 - dt/tau_s           (decay = "euler", forward Euler)  |  exp(-dt/tau_s)  (decay = "exp")
    i[t]   = b i[t-1] + g_i w_in x  g_i = dt/tau_syn ("euler") | 1 ("one") | b ("decay": i = b (i + x))
    v[t]   = a v[t-1] + G i[t] + (1 - a) v_leak
                                    G = r dt/tau_s ("euler") | r (1 - a) ("norm") | 1 ("one": r is no gain)
    IF:      v[t] = v[t-1] + dt r x ("dt*r", the spec)  |  v[t-1] + r x ("r", per step)
    spikes:  n = [v > thr] or [v >= thr]; multi_spike: n = floor(v / thr) where v >= thr
    reset:   "node" (to v_reset, or by subtraction where the node's metadata says so),
             "subtract" (v -= n thr), snnTorch's "late-subtract", "stale-subtract", "late-zero"
             (see :class:`Reading`); floor: v = max(v, -thr); start: 0, v_reset or v_leak

The targets execute a reading exactly or refuse it in one line; a Program records the
name of the reading it was lowered with (``Program.reading``), and :func:`reading`
turns the name back into its record.  Which reading a graph means is detected from
its producer's fingerprints (:mod:`snncli.nirgraph.detect`).
"""

from __future__ import annotations

from dataclasses import dataclass

from snncli.errors import SnnCliError

TAU_UNITS = ("seconds", "dt*seconds", "steps")
DECAYS = ("euler", "exp")
VOLTAGE_GAINS = ("euler", "norm", "one")
CURRENT_GAINS = ("euler", "one", "decay")
FIRING = (">", ">=")
RESETS = ("node", "subtract", "late-subtract", "stale-subtract", "late-zero")
STARTS = ("zero", "v_reset", "v_leak")


@dataclass(frozen=True)
class Reading:
    """What a producer means by its neuron nodes, for one discrete step ``dt`` (module docstring).

    ``reset``:

    * ``node``: ``v <- v_reset`` right after a spike, or ``v <- v - thr`` where the node's
      ``metadata["reset_mode"]`` says ``subtract`` (the spec, plus snncli's key);
    * ``subtract``: ``v <- v - n thr`` for every spiking node (Sinabs, Rockpool);
    * ``late-subtract``: snnTorch's default (``reset_delay=True``): the spike of step
      ``t-1`` is subtracted at step ``t``, undecayed: ``v[t] = a v[t-1] + g x - thr s[t-1]``;
    * ``stale-subtract``: snnTorch ``reset_delay=False``: ``p = a v + g x``, ``s = [p - thr
      [v > thr] > thr]``, ``v = p - thr s`` (the spike test keeps a stale term);
    * ``late-zero``: snnTorch's ``'zero'`` with ``reset_delay=True``: a non-recurrent LIF
      (``Leaky``) is reset to 0 (``mem = a (1 - s) mem + x`` emits the same spikes), while
      CubaLIF (``Synaptic``) and a LIF in a loop (``RLeaky``/``RSynaptic``) lose the whole
      step after a spike: ``v[t] = (a v[t-1] + g x) (1 - s[t-1])``.

    ``dt``: the step the producer's exporter assumes whatever the user ran (snnTorch:
    1e-4 s); None where the graph, a flag or the producer's default gives it.
    ``sources``: the producer's files and lines this record follows.
    """

    name: str
    producer: str
    summary: str
    if_gain: str = "dt*r"
    tau: str = "seconds"
    decay: str = "euler"
    gain: str = "euler"  # LIF / CubaLIF voltage input
    li_gain: str = "euler"  # LI / CubaLI voltage input
    current: str = "euler"
    fire: str = ">"
    multi_spike: bool = False
    reset: str = "node"
    floor: bool = False
    start: str = "zero"
    dt: float | None = None
    sources: tuple[str, ...] = ()

    def __post_init__(self):
        for key, allowed in (
            ("tau", TAU_UNITS),
            ("decay", DECAYS),
            ("gain", VOLTAGE_GAINS),
            ("li_gain", VOLTAGE_GAINS),
            ("current", CURRENT_GAINS),
            ("fire", FIRING),
            ("reset", RESETS),
            ("start", STARTS),
            ("if_gain", ("dt*r", "r")),
        ):
            if getattr(self, key) not in allowed:
                raise ValueError(f"reading {self.name}: {key} must be one of {allowed}, got {getattr(self, key)!r}")

    @property
    def per_step(self) -> bool:
        """Whether IF nodes integrate ``r x`` per step (no ``dt``)."""
        return self.if_gain == "r"

    def describe(self) -> str:
        """One line: the rules that differ from the spec."""
        return f"{self.name} ({self.producer}): {self.summary}"


_SNNTORCH_SOURCES = (
    "snntorch/export_nir.py:67-83 (Leaky -> LIF: dt = 1e-4, tau = dt/(1-beta), r = tau/dt, v_reset = 0; "
    "the reset mechanism is not written)",
    "snntorch/export_nir.py:94-117 (Synaptic -> CubaLIF: tau_syn = dt/(1-alpha), w_in = tau_syn/dt)",
    "snntorch/_neurons/leaky.py:209-250 (reset = [mem[t-1] > thr]; _base_sub, _base_zero; reset_delay=False)",
    "snntorch/_neurons/synaptic.py:235-289, rleaky.py:394-408, rsynaptic.py:436-448 ('zero' wipes the step)",
)

_READINGS = (
    Reading(
        "nir",
        "the NIR spec",
        "forward Euler of the NIR equations at dt (IF: v += dt*r*I), fire at v > thr once per step, "
        "reset to v_reset (or by subtraction where the node's metadata says so), states start at 0",
        sources=("nir/ir/neuron.py (nir 1.0.8): the continuous-time equations of IF, LIF, LI, CubaLIF, CubaLI",),
    ),
    Reading(
        "nir-subtract",
        "the NIR spec with reset by subtraction",
        "the spec's Euler step, v -= thr right after a spike (what Norse's from_nir(reset_method=reset_subtract) "
        "and the NIR paper's subtract models compute)",
        reset="subtract",
        sources=(
            "norse/torch/functional/reset.py:22-25 (reset_subtract: v - z thr)",
            "norse/torch/utils/import_nir.py:97-118 (CubaLIF: Euler synapse and LIF box at dt)",
        ),
    ),
    Reading(
        "spikingjelly",
        "SpikingJelly 2.0.0 (and snncli's own graphs)",
        "the spec's Euler step, but fire at v >= thr and start at v_reset",
        fire=">=",
        start="v_reset",
        sources=(
            "spikingjelly/activation_based/nir_exchange/to_nir.py (IF: r = 1/dt; LIF: tau*dt, r = tau or 1, "
            "v_leak = v_reset)",
            "spikingjelly/activation_based/neuron/ (neuronal_fire: heaviside(v - v_threshold), H(0) = 1; "
            "v starts at v_reset)",
        ),
    ),
    Reading(
        "snntorch-subtract",
        "snnTorch 1.0.0, reset_mechanism='subtract' (its default), reset_delay=True",
        "beta = 1 - 1e-4/tau, fire at mem > thr, the spike of step t-1 subtracted at step t, undecayed",
        reset="late-subtract",
        dt=1e-4,
        sources=_SNNTORCH_SOURCES,
    ),
    Reading(
        "snntorch-zero",
        "snnTorch 1.0.0, reset_mechanism='zero', reset_delay=True",
        "beta = 1 - 1e-4/tau, fire at mem > thr; Leaky resets to 0, Synaptic/RLeaky/RSynaptic lose the "
        "whole step after a spike",
        reset="late-zero",
        dt=1e-4,
        sources=_SNNTORCH_SOURCES,
    ),
    Reading(
        "snntorch-subtract-nodelay",
        "snnTorch 1.0.0, reset_mechanism='subtract', reset_delay=False",
        "beta = 1 - 1e-4/tau, subtract in the same step, the spike test keeping snnTorch's stale term",
        reset="stale-subtract",
        dt=1e-4,
        sources=_SNNTORCH_SOURCES,
    ),
)

_SINABS_SOURCES = (
    "sinabs/nir.py:156-177 (IAF -> IF with r = 1; LIF -> LIF and ExpLeak -> LI with tau in steps, r = 1)",
    "sinabs/layers/functional/lif.py:24-44 (v = alpha v + (1 - alpha) x with norm_input (LIF's default), "
    "alpha = exp(-1/tau); reset, then v = relu(v - min_v_mem) + min_v_mem)",
    "sinabs/activation/spike_generation.py:39-41 (MultiSpike, the default: (v > 0) trunc(v/thr)), "
    "122 (SingleSpike: v - thr >= 0); reset_mechanism.py (MembraneSubtract, the default)",
)


def _sinabs(name: str, multi: bool, floor: bool, what: str) -> Reading:
    return Reading(
        name,
        f"Sinabs 3.1.3, {what}",
        f"per step (r = 1: v += I; tau in steps, v = exp(-1/tau) v + (1 - exp(-1/tau)) I for LIF, + I for LI), "
        f"{'floor(v/thr) spikes' if multi else 'one spike'} at v >= thr, subtractive reset"
        f"{', v floored at -thr' if floor else ', no floor'}",
        if_gain="r",
        tau="steps",
        decay="exp",
        gain="norm",
        li_gain="one",
        fire=">=",
        multi_spike=multi,
        reset="subtract",
        floor=floor,
        sources=_SINABS_SOURCES,
    )


_READINGS += (
    _sinabs("sinabs", True, False, "layer defaults (MultiSpike, min_v_mem=None)"),
    _sinabs("sinabs-floor", True, True, "MultiSpike with min_v_mem = -threshold (how Sinabs' from_nir reads IF)"),
    _sinabs("sinabs-single", False, False, "SingleSpike, min_v_mem=None"),
    _sinabs("sinabs-single-floor", False, True, "SingleSpike with min_v_mem = -threshold"),
    Reading(
        "norse",
        "Norse 1.1.0",
        "IF per step (v += I); LIF/LI/CubaLIF written with tau = dt * tau_true, Euler at dt with the true tau; "
        "the input jumps the synaptic current; fire at v > thr, reset to v_reset, v starts at v_leak",
        if_gain="r",
        tau="dt*seconds",
        current="one",
        start="v_leak",
        sources=(
            "norse/torch/utils/export_nir.py:27-52 (tau = dt / tau_inv, r = 1; w_in and v_reset not written)",
            "norse/torch/functional/lif_box.py:95-101 (dv = dt tau_inv (x + v_leak - v); z = H(v - v_th), "
            "H(0) = 0; reset to v_reset)",
            "norse/torch/functional/lif.py (lif_feed_forward_step: i jumps by the input, decays after the voltage "
            "step); iaf.py:93 (v += x); states start at v_leak",
        ),
    ),
    Reading(
        "rockpool",
        "Rockpool 3.1.0",
        "exact exponential decays at dt (r = tau exp(-dt/tau)/dt is not a gain: input enters with gain 1, "
        "into the current for CubaLIF), floor(v/thr) spikes at v >= thr, subtractive reset",
        decay="exp",
        gain="one",
        li_gain="one",
        current="decay",
        fire=">=",
        multi_spike=True,
        reset="subtract",
        sources=(
            "rockpool/nn/modules/torch/nir.py:245-296 (r = tau exp(-dt/tau)/dt, w_in and dt not written)",
            "rockpool/nn/modules/torch/lif_torch.py:43 (n = (v >= thr) floor(v/thr)); evolve: isyn = beta "
            "(isyn + x), vmem = alpha vmem + isyn, vmem -= n thr",
            "rockpool/nn/modules/torch/lif_neuron_torch.py:253-272 (vmem = alpha vmem + x, vmem -= n thr)",
        ),
    ),
)

READINGS: dict[str, Reading] = {r.name: r for r in _READINGS}
"""Every reading by name (the ``--reading`` choices), the spec first."""
DEFAULT_READING = "nir"
SNNTORCH_READINGS = ("snntorch-subtract", "snntorch-zero", "snntorch-subtract-nodelay")
SINABS_READINGS = ("sinabs", "sinabs-floor", "sinabs-single", "sinabs-single-floor")


def reading(name: str) -> Reading:
    """The reading called ``name``, or a one-line error listing them."""
    try:
        return READINGS[name]
    except KeyError:
        raise SnnCliError(f"unknown reading {name!r}; choose one of {', '.join(READINGS)}") from None


__all__ = ["DEFAULT_READING", "READINGS", "Reading", "SINABS_READINGS", "SNNTORCH_READINGS", "reading"]
