"""The ``loihi`` target: NIR -> Program in Loihi 2 fixed point (Lava's CUBA LIF + Dense/Conv).

Interface (``snncli.targets`` convention)::

    lower(graph, dt=1e-4, preset="auto", calibration=None) -> Program
    write(program, path) -> [path, path + ".json"]     # lava-dl netx HDF5 + sidecar JSON
    reference(program, x, progress=None) -> {neuron layer: spikes [T, N, *shape]}   # Lava itself

Modules, in the order ``lower`` uses them:

* :mod:`~snncli.targets.loihi.structure` -- what the chip runs: the NIR graph as a
  chain of netx blocks, folds, and what is refused;
* :mod:`~snncli.targets.loihi.input_encoding` -- binary or graded input spikes;
* :mod:`~snncli.targets.loihi.quantize` -- scales and the integer parameters
  (the ``auto`` rule and the ``nir-paper`` preset);
* :mod:`~snncli.targets.loihi.scale_search` -- the accuracy-driven scale search on
  calibration data;
* :mod:`~snncli.targets.loihi.chip_resources` -- chip limits and the resource table;
* :mod:`~snncli.targets.loihi.lowering` -- ``lower`` and the Program it builds
  (timing, reset at arrival);
* :mod:`~snncli.targets.loihi.artifact` -- ``write`` and ``reference``;
* :mod:`~snncli.targets.loihi.stages` -- the intermediate form they share.
"""

from snncli.targets.loihi.artifact import reference, write
from snncli.targets.loihi.chip_resources import LIMITS, resources
from snncli.targets.loihi.lowering import DEFAULT_DT, NAME, NEURON, PRESETS, lower
from snncli.targets.loihi.structure import SUPPORTED

__all__ = ["DEFAULT_DT", "LIMITS", "NAME", "NEURON", "PRESETS", "SUPPORTED", "lower", "reference", "resources", "write"]
