"""Energy profiles and the SNN-vs-ANN energy estimate.

Energy = counters x a named profile (pJ per event):

    E_snn = sops * e_ac + macs * e_mac
            + weight_reads * e_weight_read + (state_reads + state_writes) * e_state
            + neuron_updates * e_neuron + spikes * e_spike
    E_ann = ann_macs * e_mac (+ ann_macs * e_weight_read)      (the same layers as an ANN,
                                                                MACs once per inference)

``ann_macs`` of a synaptic layer is its number of synapses (every input active
once).  The break-even firing rate is the input spike rate r (spikes per
neuron per step, the same in every spiking-input layer) at which E_snn(r)
equals E_ann, all other counts held at their measured values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    e_ac: float  # pJ per accumulate (synaptic op on a spike)
    e_mac: float  # pJ per multiply-accumulate
    e_weight_read: float = 0.0  # pJ per synaptic weight fetched from memory
    e_state: float = 0.0  # pJ per neuron-state word read or written
    e_neuron: float = 0.0  # pJ per neuron update
    e_spike: float = 0.0  # pJ per spike routed


PROFILES = {
    p.name: p
    for p in (
        # Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: fp32 add 0.9 pJ,
        # fp32 mult 3.7 pJ (MAC 4.6 pJ); the convention of Spikformer and most SNN papers.
        Profile("horowitz45", "Horowitz ISSCC 2014, 45 nm fp32 (AC 0.9 pJ, MAC 4.6 pJ)", 0.9, 4.6),
        # Memory-aware variant in the spirit of Lemaire et al., "An analytical estimation
        # of spiking neural networks energy efficiency" (ICONIP 2022): each synaptic op
        # also fetches its 32-bit weight and each neuron update reads and writes its state,
        # from an 8 kB SRAM (Horowitz 2014: 10 pJ per 64-bit access -> 5 pJ per 32-bit word).
        Profile(
            "horowitz45-memory",
            "Horowitz ISSCC 2014 ops + 8 kB SRAM 5 pJ/32-bit word (Lemaire et al. 2022 method)",
            0.9, 4.6, e_weight_read=5.0, e_state=5.0,
        ),
        # Loihi (Davies et al., IEEE Micro 38(1) 2018, Table 2, 14 nm): synaptic spike op
        # 23.6 pJ, neuron update 52 pJ (active), spike within a tile 1.7 pJ.  No MAC unit:
        # graded inputs are charged as synaptic ops.
        Profile("loihi", "Davies et al. IEEE Micro 2018 (Loihi, 14 nm): SOP 23.6 pJ, neuron update 52 pJ, spike 1.7 pJ",
                23.6, 23.6, e_neuron=52.0, e_spike=1.7),
    )
}


def get_profile(name: str) -> Profile:
    from snncli.errors import SnnCliError

    if name not in PROFILES:
        raise SnnCliError(f"unknown energy profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def layer_energy(layer: dict, p: Profile) -> float:
    """pJ per sample for one layer's counters (averaged per sample)."""
    return (
        layer["sops"] * p.e_ac
        + layer["macs"] * p.e_mac
        + layer["weight_reads"] * p.e_weight_read
        + (layer["state_reads"] + layer["state_writes"]) * p.e_state
        + layer["neuron_updates"] * p.e_neuron
        + layer["spikes"] * p.e_spike
    )


def estimate(layers: list[dict], steps: int, p: Profile) -> dict:
    """SNN and ANN-twin energy per inference (pJ), their ratio, the break-even rate and a verdict.

    Each layer dict carries the per-sample counters plus ``ann_macs`` (its synapses).
    """
    snn = sum(layer_energy(layer, p) for layer in layers)
    ann_macs = sum(layer.get("ann_macs", 0) for layer in layers)
    ann = ann_macs * (p.e_mac + p.e_weight_read)
    # Energy that scales with the input spike rate: the AC-driven part of each layer.
    per_rate = sum(
        layer.get("ann_macs", 0) * steps * (p.e_ac + p.e_weight_read) for layer in layers if layer["sops"] > 0
    )
    rate_part = sum(layer["sops"] * (p.e_ac + p.e_weight_read) for layer in layers)
    fixed = snn - rate_part
    break_even = (ann - fixed) / per_rate if per_rate > 0 else None
    if break_even is None:
        note = "no layer is driven by spikes, so no firing rate makes the SNN cheaper"
    elif break_even <= 0:
        note = (f"the part that does not scale with spikes ({fixed / 1e3:.1f} nJ: MACs on non-binary inputs, "
                "neuron updates, state traffic) alone exceeds the ANN twin: no firing rate breaks even")
        if sum(layer["macs"] for layer in layers) * p.e_mac > ann:
            note += (" (analog inputs are multiplied at every step; a spike encoder, --encoder poisson or "
                     "latency, turns those MACs into ACs)")
        break_even = None
    else:
        note = f"the SNN is cheaper than its ANN twin while the input firing rate stays below {break_even:.4f}"
    ratio = snn / ann if ann > 0 else None
    if ratio is None:
        verdict = "no ANN twin to compare (no synaptic layers)"
    elif ratio < 1:
        verdict = f"SNN uses {1 / ratio:.2f}x less energy than its ANN twin: low-power claim holds under {p.name}"
    else:
        verdict = f"SNN uses {ratio:.2f}x MORE energy than its ANN twin: low-power claim refuted under {p.name}"
    return {
        "profile": asdict(p),
        "snn_pj": snn,
        "ann_pj": ann,
        "snn_over_ann": ratio,
        "break_even_firing_rate": break_even,
        "break_even_note": note,
        "verdict": verdict,
        "per_layer_pj": {layer["name"]: layer_energy(layer, p) for layer in layers},
    }
