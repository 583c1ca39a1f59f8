"""Export: a trained torch model -> NIR graph (:mod:`~snncli.export.torch_to_nir`).

Imports torch and SpikingJelly; NIR file I/O and the graph check live in
:mod:`snncli.nirgraph`, which needs neither.
"""
