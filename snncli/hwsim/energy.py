"""Energy profiles and the SNN-vs-ANN-twin energy estimate.

Energy = the deployed Program's event counters x a named profile (pJ per event):

    E_snn = sops * e_ac + macs * e_mac
            + weight_reads * e_weight_read + (state_reads + state_writes) * e_state
            + neuron_updates * e_neuron + spikes * e_spike
    E_ann = twin_macs * (e_mac + e_weight_read)          (the network's ANN twin, MACs once per
                                                          inference: snncli.nirgraph.twin)

The break-even firing rate is the input spike rate r (spikes per input per step, the
same in every spike-driven layer) at which E_snn(r) = E_ann, all other counts held at
their measured values (accumulates outside synaptic layers too, e.g. a Spikformer's
attention products counted on the torch model): a spike-driven layer with ``synapses`` synapses performs
``r * steps * synapses`` accumulates at rate r, so

    r* = (E_ann - E_fixed) / sum_{spike-driven layers} steps * synapses * (e_ac + e_weight_read)

where E_fixed is E_snn without its accumulate part.  Profiles are small records with
their sources; a figure that could not be sourced is marked ``estimate`` with the
reasoning.  Users add their own from YAML (:func:`load_profile_file`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from snncli.errors import SnnCliError

KINDS = {  # kind of operation -> (counter keys, profile field)
    "accumulate (AC)": (("sops",), "e_ac"),
    "multiply-accumulate (MAC)": (("macs",), "e_mac"),
    "weight read": (("weight_reads",), "e_weight_read"),
    "state read/write": (("state_reads", "state_writes"), "e_state"),
    "neuron update": (("neuron_updates",), "e_neuron"),
    "spike routed": (("spikes",), "e_spike"),
}


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
    estimate: bool = False  # True: not a published per-operation figure (see reasoning)
    reasoning: str = ""  # how an estimate was derived
    targets: tuple[str, ...] = ()  # snncli targets whose chip this profile describes


_LOIHI1_SOURCE = (
    "Davies et al., IEEE Micro 38(1) 2018, Table 2 (Loihi, 14 nm, measured): synaptic spike op "
    "23.6 pJ, neuron update 52 pJ, spike within a tile 1.7 pJ"
)
BUILTIN = (
    # Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: fp32 add 0.9 pJ, fp32 mult 3.7 pJ
    # (MAC 4.6 pJ); the convention of Spikformer and most SNN papers.
    Profile(
        "horowitz45",
        "Horowitz ISSCC 2014, 45 nm fp32 (AC 0.9 pJ, MAC 4.6 pJ)",
        0.9,
        4.6,
        targets=("float", "nir", "onnx"),
    ),
    # Same paper, 8-bit integers: add 0.03 pJ, mult 0.2 pJ (MAC 0.23 pJ): what an int8 ANN accelerator
    # pays per operation (accumulators wider than 8 bits would cost more: Horowitz's 32-bit add is 0.1 pJ).
    Profile(
        "horowitz45-int8",
        "Horowitz ISSCC 2014, 45 nm int8 (AC = add 0.03 pJ, MAC = mult 0.2 + add 0.03 pJ)",
        0.03,
        0.23,
    ),
    # Memory-aware variant in the spirit of Lemaire et al., "An analytical estimation of spiking neural
    # networks energy efficiency" (ICONIP 2022): each synaptic op also fetches its 32-bit weight and each
    # neuron update reads and writes its state, from an 8 kB SRAM (Horowitz 2014: 10 pJ per 64-bit access
    # -> 5 pJ per 32-bit word).
    Profile(
        "horowitz45-memory",
        "Horowitz ISSCC 2014 ops + 8 kB SRAM 5 pJ/32-bit word (Lemaire et al. 2022 method)",
        0.9,
        4.6,
        e_weight_read=5.0,
        e_state=5.0,
    ),
    # Loihi 1 has no MAC unit: graded inputs are charged as synaptic ops.
    Profile("loihi1", _LOIHI1_SOURCE, 23.6, 23.6, e_neuron=52.0, e_spike=1.7),
    Profile(
        "loihi2",
        _LOIHI1_SOURCE + " (Loihi 1 figures used for Loihi 2)",
        23.6,
        23.6,
        e_neuron=52.0,
        e_spike=1.7,
        estimate=True,
        targets=("loihi",),
        reasoning="Intel has published no per-operation energy for Loihi 2 (Intel 4 process; the 2021 brief "
        "gives speed factors, not energies), so these are Loihi 1's measured figures. Loihi 2 is built in a "
        "smaller process and should not exceed them: read the SNN energy as an upper bound.",
    ),
    # Yao et al., "Spike-based dynamic computing with asynchronous sensing-computing neuromorphic chip",
    # Nature Communications 15, 4464 (2024), Table 1, Speck running Input-32C3S1-32C3S2-32C3S1-AP4-32FC on
    # DVS Gesture: total power 9.5 mW, resting power 0.42 mW, 1.0e6 spikes per sample.
    Profile(
        "speck",
        "Yao et al., Nature Communications 15:4464 (2024), Table 1 (Speck, DVS Gesture): 9.5 mW total, "
        "0.42 mW resting, 1.0e6 spikes per sample",
        17.0,
        17.0,
        estimate=True,
        targets=("speck",),
        reasoning="No per-operation figure is published for Speck. Dynamic power (9.5 - 0.42) mW over the "
        "540 ms sample window is 4.9 mJ for 1.0e6 spikes, 4.9 nJ per spike; with each spike driving a "
        "3x3x32 convolution fan-out (288 synaptic ops, the network's largest) that is 17 pJ per synaptic op, "
        "neuron updates included (so e_neuron = e_spike = 0). The other two tasks of the table give 10 and "
        "26 pJ; spikes with a smaller fan-out would mean more per op, so 17 pJ is a low estimate. Speck has "
        "no multiplier: an input of n events is n synaptic ops, so charging a MAC as one op is a lower bound.",
    ),
)
PROFILES: dict[str, Profile] = {p.name: p for p in BUILTIN}
RENAMED = {"loihi": "loihi1"}


def get_profile(name: str, extra: dict[str, Profile] | None = None) -> Profile:
    known = {**PROFILES, **(extra or {})}
    if name in RENAMED:
        raise SnnCliError(
            f"energy profile {name!r} is now {RENAMED[name]!r} (Loihi 1, Davies et al. 2018); the loihi "
            "target's chip is profile 'loihi2'"
        )
    if name not in known:
        raise SnnCliError(
            f"unknown energy profile {name!r}; choose one of {', '.join(known)}, or add one with --profile-file P.yaml"
        )
    return known[name]


def profile_for_target(target: str, profiles: list[Profile]) -> Profile | None:
    """The profile among ``profiles`` that describes ``target``'s chip (first match), or None."""
    return next((p for p in profiles if target in p.targets), None)


# ---------------------------------------------------------------- user profiles (YAML)
_NUMBERS = tuple(f.name for f in fields(Profile) if f.name.startswith("e_"))
_REQUIRED = ("name", "source", "e_ac", "e_mac")


def load_profile_file(path: str) -> list[Profile]:
    """Profiles from a YAML file: one mapping with the :class:`Profile` fields, or ``profiles:`` with a list of
    them.  ``name``, ``source``, ``e_ac`` and ``e_mac`` are required (pJ, finite, >= 0); ``estimate: true``
    needs a ``reasoning``.  Anything else is a one-line error naming the file and the key."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise SnnCliError(f"profile file not found: {path}") from None
    except IsADirectoryError:
        raise SnnCliError(f"--profile-file {path} is a folder; give a YAML file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SnnCliError(f"{path} is not readable YAML ({str(exc).splitlines()[0][:120]})") from None
    entries = data["profiles"] if isinstance(data, dict) and set(data) == {"profiles"} else [data]
    if not isinstance(entries, list) or not entries:
        raise SnnCliError(f"{path}: 'profiles' must be a non-empty list of profiles")
    out = [
        _profile_from(entry, f"{path}: profile {i + 1}" if len(entries) > 1 else path)
        for i, entry in enumerate(entries)
    ]
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise SnnCliError(f"{path}: two profiles are named {next(n for n in names if names.count(n) > 1)!r}")
    return out


def _profile_from(entry, where: str) -> Profile:
    if not isinstance(entry, dict):
        raise SnnCliError(f"{where}: a profile is a mapping with keys {', '.join(_REQUIRED)} (and optional ones)")
    known = [f.name for f in fields(Profile)]
    unknown = sorted(set(map(str, entry)) - set(known))
    if unknown:
        raise SnnCliError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise SnnCliError(f"{where}: missing {', '.join(missing)} (pJ per event for the e_ keys)")
    values = dict(entry)
    for key in ("name", "source", "reasoning"):
        if key in values and (not isinstance(values[key], str) or (key != "reasoning" and not values[key].strip())):
            raise SnnCliError(f"{where}: {key} must be a non-empty string")
    if values["name"] in PROFILES or values["name"] in RENAMED:
        raise SnnCliError(f"{where}: profile name {values['name']!r} is built in; give yours another name")
    for key in _NUMBERS:
        if key in values:
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise SnnCliError(f"{where}: {key} must be a finite number of pJ >= 0, got {str(value)[:40]!r}")
            values[key] = float(value)
    if not isinstance(values.get("estimate", False), bool):
        raise SnnCliError(f"{where}: estimate must be true or false")
    if values.get("estimate") and not values.get("reasoning"):
        raise SnnCliError(f"{where}: an estimate needs its reasoning (key 'reasoning')")
    targets = values.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise SnnCliError(f"{where}: targets must be a list of target names")
    values["targets"] = tuple(targets)
    return Profile(**values)


# ---------------------------------------------------------------- the estimate
def layer_energy(layer: dict, p: Profile) -> float:
    """pJ per sample for one layer's counters (averaged per sample)."""
    return sum(by_kind([layer], p).values())


def by_kind(layers: list[dict], p: Profile) -> dict[str, float]:
    """pJ per sample by kind of operation (:data:`KINDS`), summed over ``layers``."""
    return {
        kind: sum(layer[key] for layer in layers for key in keys) * getattr(p, attr)
        for kind, (keys, attr) in KINDS.items()
    }


def spike_driven(layer: dict) -> bool:
    """A synaptic layer whose inputs are spikes: it accumulated, or it has synapses and multiplied nothing
    (a silent layer's input is still spikes)."""
    return layer["sops"] > 0 or (layer.get("synapses", 0) > 0 and layer["macs"] == 0)


def estimate(layers: list[dict], steps: int, p: Profile, twin_macs: int) -> dict:
    """SNN and ANN-twin energy per inference (pJ), their ratio, the break-even rate and a verdict.

    ``layers``: the per-sample counters of the deployed Program (``synapses`` per layer);
    ``twin_macs``: the MACs of the network's ANN twin (see the module docstring).
    """
    kinds = by_kind(layers, p)
    snn = sum(kinds.values())
    ann = twin_macs * (p.e_mac + p.e_weight_read)
    per_rate = sum(layer["synapses"] * steps * (p.e_ac + p.e_weight_read) for layer in layers if spike_driven(layer))
    rate_part = sum(layer["sops"] * (p.e_ac + p.e_weight_read) for layer in layers if layer.get("synapses", 0) > 0)
    fixed = snn - rate_part
    break_even = (ann - fixed) / per_rate if per_rate > 0 else None
    if break_even is None:
        note = "no synaptic layer is driven by spikes, so no firing rate makes the SNN cheaper"
    elif break_even <= 0:
        note = (
            f"the part that does not scale with spikes ({fixed / 1e3:.1f} nJ: MACs on non-binary inputs, "
            "neuron updates, state traffic) alone exceeds the ANN twin: no firing rate breaks even"
        )
        if sum(layer["macs"] for layer in layers) * p.e_mac > ann:
            note += (
                " (analog inputs are multiplied at every step; a spike encoder, --encoder poisson or "
                "latency, turns those MACs into ACs)"
            )
        break_even = None
    else:
        note = f"the SNN is cheaper than its ANN twin while the input firing rate stays below {break_even:.4f}"
    ratio = snn / ann if ann > 0 else None
    qualifier = " (an estimate)" if p.estimate else ""
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
        "verdict": verdict + qualifier,
        "by_kind_pj": kinds,
        "snn_fixed_pj": fixed,  # E_snn(r) = snn_fixed_pj + r * snn_pj_per_unit_rate
        "snn_pj_per_unit_rate": per_rate,
        "input_rate": rate_part / per_rate if per_rate > 0 else None,  # the measured r
        "matches_targets": list(p.targets),
        "per_layer_pj": {layer["name"]: layer_energy(layer, p) for layer in layers},
    }
