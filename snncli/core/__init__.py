"""Neutral ground at the bottom of snncli: what every stage above agrees on.

* :mod:`~snncli.core.program`: the Program (a network lowered for one target) and its
  typed op and neuron-parameter records; the registry of neuron models.
* :mod:`~snncli.core.physics`: the numbers that change what a network computes
  (``dt``, reading, encoder, time steps), their defaults and how a recorded value
  and a command-line flag are reconciled.
* :mod:`~snncli.core.files`: atomic writes and JSON helpers.
* :mod:`~snncli.core.compiled`: numba loops compiled on first use (``jit``, ``specialise``).

Nothing here imports torch, NIR or any other snncli package but :mod:`snncli.errors`
(numba only when a compiled loop first runs).
"""
