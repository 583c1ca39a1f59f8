"""Speck (SynSense DynapCNN: Speck 2e/2f) target pieces, not yet registered as a target.

Modules (each importable on its own; none imports Sinabs except ``reference``,
lazily):

* :mod:`.arithmetic` -- the integer IAF neuron (:class:`~.arithmetic.SpeckIAF`,
  ``speck_iaf_init`` / ``speck_iaf_step``), integer conv / linear / sum pooling,
  and Sinabs' ``discretize`` scale, each rule with its Sinabs source;
* :mod:`.layer` -- :class:`~.layer.SpeckLayer`, the shapes of one core's layer;
* :mod:`.limits` -- every chip limit as data with its source, and the checks;
* :mod:`.mapping` -- kernel/neuron/bias memory and the core assignment, Sinabs'
  formulas and matching algorithm re-implemented;
* :mod:`.network` -- :class:`~.network.IntegerLayer` and the numpy forward;
* :mod:`.reference` -- the oracle: Sinabs' ``DynapcnnNetwork`` (optional install,
  ``scripts/install_sinabs.sh``; samna is not needed, see that module).
"""
