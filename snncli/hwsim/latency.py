"""Latency per inference and per time step, from a Program and the counters hwsim measured on it.

The timing model of a chip is data keyed by the Program's target name (:data:`MODELS`);
hwsim imports no target, so a target adds its timing model here, beside the others.
A target without one (``float``, ``nir``, ``onnx``) gets what was *measured*: hwsim's
own wall time on the machine that ran it.

* ``loihi`` (Loihi 2, time-stepped, barrier-synchronised): SANA-FE's "simple" model
  (``src/schedule.cpp``, ``schedule_messages_timestep_simple``): in one step every core
  first receives its messages and performs its synaptic ops, and updates its neurons and
  sends their spikes; the step lasts as long as the busiest core, plus a barrier::

      t_step = max(max_c t_msg(c), max_c t_neuron(c)) + t_sync
      t_msg(c)    = events_in(c) * t_message_in + syn_ops(c) * t_syn_op
      t_neuron(c) = neurons(c) * (t_access + t_update) + spikes(c) * (t_spike_out + t_message_out)

  with a layer's work split evenly over the cores the Program's resource table gives it,
  and the per-step work the mean over the simulated steps.  One inference is
  ``T + latency_steps`` steps (every Dense delays one step, ``program.latency_steps``).
* ``speck`` (asynchronous, event-driven): an event crosses one core per layer; Richter et
  al. (2024) give 3.36 us for an event through 9 cores.  Input arrives in real time over
  the sample's window ``T * dt``; a result is ready the pipeline latency after the last
  input event, unless a core cannot keep up with its event rate::

      t_inference = max(T * dt, T * t_busy) + depth * t_core,
      t_busy = max_c events_in(c) per step * t_core
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

from snncli.core.program import SYNAPTIC, Program

# SANA-FE, sanafe/examples/loihi.yaml (github.com/SLAM-Lab/SANA-FE): Loihi 1 costs generated from
# Davies et al. 2018 and fitted against Intel's Nahuku board (Boyle et al., IEEE TCAD 44(8) 2025, Sec. VI:
# within 24.3 % of measured time-step latency).  Seconds.
LOIHI_TIMING = {
    "t_message_in": (16.0e-9, "loihi_in latency_message_in"),
    "t_syn_op": (3.8e-9, "loihi_dense_synapse latency_process_spike (conv 3.1 ns, sparse 4.7 ns)"),
    "t_access": (6.0e-9, "loihi_lif latency_access_neuron"),
    "t_update": (3.7e-9, "loihi_lif latency_update_neuron"),
    "t_spike_out": (30.0e-9, "loihi_lif latency_spike_out"),
    "t_message_out": (5.1e-9, "loihi_out latency_message_out"),
}
# latency_sync table of the same file: barrier time by tiles in use (4 cores per tile), seconds.
LOIHI_SYNC = ((1, 0.6e-6), (2, 1.0e-6), (4, 1.4e-6), (29, 1.8e-6))
LOIHI_SOURCES = (
    "SANA-FE sanafe/examples/loihi.yaml (Loihi 1 per-operation latencies fitted on Intel's Nahuku board; Boyle et "
    "al., IEEE TCAD 44(8) 2025) and src/schedule.cpp (timestep model: busiest core + barrier)",
    "Intel, 'Taking Neuromorphic Computing to the Next Level with Loihi 2', technology brief 2021 (up to 10x faster "
    "than Loihi 1)",
)
# Richter et al., "Speck: a smart event-based vision sensor with a low latency 327K neuron convolutional
# neuronal network processing pipeline", Neuromorphic Computing and Engineering 4 (2024): 3.36 us for an
# incoming event through 9 sCNN layers.
SPECK_EVENT_S = 3.36e-6
SPECK_CORES = 9


@dataclass(frozen=True)
class LayerWork:
    """One neuron layer's work per step (means over the simulated steps) and the cores it occupies."""

    name: str
    cores: int
    neurons: int
    syn_ops: float
    events_in: float
    spikes: float


def layer_work(program: Program, layers: list[dict], steps: int) -> list[LayerWork]:
    """Per neuron layer: the synaptic ops and input events of the synaptic layers feeding it, per step.

    Input events are estimated from the ops as ``ops / mean fan-out`` (``mean fan-out =
    synapses / inputs``), exact for uniform fan-out."""
    counts = {layer["name"]: layer for layer in layers}
    per_layer = (program.resources or {}).get("per_layer", {})
    work = []
    for neuron in program.neuron_layers:
        feeding = [program.layer(name) for name in (*neuron.inputs, *neuron.delayed_inputs)]
        feeding = [s for s in feeding if s.kind in SYNAPTIC]
        ops = sum(counts[s.name]["sops"] + counts[s.name]["macs"] for s in feeding)
        events = 0.0
        for s in feeding:
            synapses = counts[s.name]["synapses"]
            if synapses:
                fan_out = synapses / max(1, int(_size(s.in_shape)))
                events += (counts[s.name]["sops"] + counts[s.name]["macs"]) / fan_out
        cores = int(per_layer.get(neuron.name, {}).get("cores", 1))
        work.append(
            LayerWork(
                neuron.name,
                max(1, cores),
                neuron.size,
                ops / steps,
                events / steps,
                counts[neuron.name]["spikes"] / steps,
            )
        )
    return work


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def loihi2(program: Program, layers: list[dict], steps: int, measured_s: float, samples: int) -> dict:
    c = {k: v for k, (v, _) in LOIHI_TIMING.items()}
    work = layer_work(program, layers, steps)
    msg = {w.name: (w.events_in * c["t_message_in"] + w.syn_ops * c["t_syn_op"]) / w.cores for w in work}
    neu = {
        w.name: (w.neurons * (c["t_access"] + c["t_update"]) + w.spikes * (c["t_spike_out"] + c["t_message_out"]))
        / w.cores
        for w in work
    }
    cores = sum(w.cores for w in work)
    tiles = -(-cores // 4)
    sync = next((t for n, t in LOIHI_SYNC if tiles <= n), LOIHI_SYNC[-1][1])
    busiest = max(max(msg.values(), default=0.0), max(neu.values(), default=0.0))
    per_step = busiest + sync
    input_steps = steps - program.latency_steps
    return {
        "model": "Loihi 2 time-stepped: busiest core + barrier (SANA-FE simple model, Loihi 1 per-op latencies)",
        "estimate": True,
        "per_step_s": per_step,
        "per_inference_s": per_step * steps,
        "steps_per_inference": steps,
        "pipeline_latency_s": per_step * program.latency_steps,
        "breakdown_s": {
            "busiest_core_messages": max(msg.values(), default=0.0),
            "busiest_core_neurons": max(neu.values(), default=0.0),
            "barrier": sync,
        },
        "per_layer_s": {w.name: {"cores": w.cores, "messages": msg[w.name], "neurons": neu[w.name]} for w in work},
        "assumptions": [
            f"one inference = {input_steps} input steps + {program.latency_steps} flush steps (one per Dense delay, "
            "program.latency_steps), each step as long as the busiest core plus the barrier",
            "per-step work = the mean over the simulated steps; a layer's work is split evenly over its cores "
            "(the Program's resource table); input events = synaptic ops / mean fan-out",
            f"barrier {sync * 1e6:.1f} us for {tiles} tile(s) of 4 cores (SANA-FE latency_sync table read by tiles "
            "in use)",
            "Loihi 1 per-operation latencies: Intel states Loihi 2 is up to 10x faster, so read this as an upper "
            "bound; host I/O and the first input's transfer are not included",
        ],
        "constants_s": {k: {"value": v, "source": src} for k, (v, src) in LOIHI_TIMING.items()},
        "sources": list(LOIHI_SOURCES),
    }


def speck(program: Program, layers: list[dict], steps: int, measured_s: float, samples: int) -> dict:
    t_core = SPECK_EVENT_S / SPECK_CORES
    work = layer_work(program, layers, steps)
    depth = len(work)
    busy = max((w.events_in / w.cores * t_core for w in work), default=0.0)
    window = program.dt * steps
    per_inference = max(window, steps * busy) + depth * t_core
    return {
        "model": "Speck event-driven pipeline: real-time input window + one core per layer",
        "estimate": True,
        "per_step_s": max(program.dt, busy),
        "per_inference_s": per_inference,
        "steps_per_inference": steps,
        "pipeline_latency_s": depth * t_core,
        "breakdown_s": {"input_window": window, "busiest_core_per_step": busy, "pipeline": depth * t_core},
        "per_layer_s": {
            w.name: {"cores": w.cores, "events_per_step": w.events_in, "busy": w.events_in * t_core} for w in work
        },
        "assumptions": [
            f"every core adds {t_core * 1e9:.0f} ns per event (3.36 us through 9 cores, Richter et al. 2024, split "
            "evenly)",
            f"input events arrive in real time, {steps} steps of dt = {program.dt:g} s; the result is ready the "
            "pipeline latency after the last event unless a core cannot keep up (busy time per step > dt)",
            "a core accepts one event per core latency; input events per step = synaptic ops / mean fan-out",
        ],
        "constants_s": {
            "t_core_event": {
                "value": t_core,
                "source": "Richter et al., Neuromorph. Comput. Eng. 4 "
                "(2024): 3.36 us for an event through 9 sCNN layers",
            }
        },
        "sources": [
            "Richter et al., 'Speck: A smart event-based vision sensor with a low latency 327K neuron "
            "convolutional neuronal network processing pipeline', Neuromorph. Comput. Eng. 4 (2024)"
        ],
    }


def measured(program: Program, layers: list[dict], steps: int, measured_s: float, samples: int) -> dict:
    """What hwsim took on this machine (the float arithmetic has no chip to model)."""
    per_inference = measured_s / max(samples, 1)
    return {
        "model": f"measured: hwsim ({program.target} arithmetic, float64) on this machine",
        "estimate": False,
        "per_step_s": per_inference / max(steps, 1),
        "per_inference_s": per_inference,
        "steps_per_inference": steps,
        "pipeline_latency_s": 0.0,
        "breakdown_s": {"measured_total": measured_s},
        "per_layer_s": {},
        "assumptions": [
            f"wall time of hwsim over {samples} samples run in batches, divided per sample and step: "
            "batching hides per-sample overhead, and hwsim is a simulator, not a tuned runtime",
            f"machine: {machine_line()}",
        ],
        "constants_s": {},
        "sources": ["measured by snncli simulate"],
    }


MODELS = {"loihi": loihi2, "speck": speck}
"""Timing model per target name; any other target is measured."""


def latency(program: Program, layers: list[dict], steps: int, measured_s: float, samples: int) -> dict:
    """Latency per inference and per step for ``program`` (see the module docstring), with its assumptions."""
    model = MODELS.get(program.target, measured)
    return {"target": program.target, **model(program, layers, steps, measured_s, samples)}


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {len(os.sched_getaffinity(0))} CPUs, {platform.system()} {platform.release()}"
