"""Per-layer activity counters, counted by hwsim from the events it processed.

Definitions follow NeuroBench's ``SynapticOperations`` so that the numbers can be
cross-checked with it (``tests/test_counters_crosscheck.py``):

* a synaptic layer (dense, conv2d) receiving input ``x`` at one step for one sample
  performs ``sum_j [x_j != 0] * fanout_j`` operations, where ``fanout_j`` counts the
  non-zero weights of input ``j`` (bias not counted);
* they are accumulates (``sops``, ACs) when every ``x_j`` is in {-1, 0, 1} and
  multiply-accumulates (``macs``) otherwise (e.g. analog pixels, pooled counts);
* event counts: a synaptic layer whose only consumer is an event-driven neuron layer
  (``params.event_driven``, e.g. Speck's IAF) receives events, and a value ``x_j = n``
  is ``n`` events, each accumulating its fan-out once: ``sum_j x_j * fanout_j`` ACs
  (the chip processes the ``n`` events one by one; no MACs);
* ``neuron_updates``: on a clocked chip every neuron of a neuron layer, every step;
  on an event-driven one one state update per event and target neuron (the ACs
  delivered to the layer), plus what the model's ``updates`` hook adds for updates
  no event causes (Speck: with a bias, every neuron once per slow-clock tick);
* ``spikes``: spikes emitted by a spiking neuron layer;
* ``weight_reads`` = one per synaptic operation; ``state_reads`` and ``state_writes`` =
  one per neuron update per state variable, for the memory-aware energy profile.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FIELDS = ("sops", "macs", "neuron_updates", "spikes", "weight_reads", "state_reads", "state_writes")


@dataclass
class LayerCounters:
    name: str
    op: str
    neurons: int = 0
    synapses: int = 0  # stored non-zero weights: the MACs of this layer run once as an ANN
    sops: int = 0
    macs: int = 0
    neuron_updates: int = 0
    spikes: int = 0
    weight_reads: int = 0
    state_reads: int = 0
    state_writes: int = 0

    def per_sample(self, samples: int, steps: int) -> dict:
        """Counts averaged per sample, plus the firing rate (spikes per neuron per step)."""
        out = asdict(self)
        for key in FIELDS:
            out[key] = getattr(self, key) / max(samples, 1)
        out["ann_macs"] = self.synapses
        out["firing_rate"] = self.spikes / max(samples * steps * self.neurons, 1) if self.neurons else 0.0
        return out


def totals(layers: list[dict]) -> dict:
    return {key: sum(layer[key] for layer in layers) for key in FIELDS}
