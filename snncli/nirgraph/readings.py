"""Readings: which producer's semantics a graph's nodes are read with.

NIR leaves meanings open that producers fill in differently (DESIGN.md, "Semantics").
``nir`` is the spec: ``v += dt * r * I`` for IF, forward Euler for the rest.  The
per-step readings take IF nodes as ``v += r * I`` per step: ``sinabs`` (also reset
by subtraction, state floored at ``-v_threshold``) and ``norse`` (reset to ``v_reset``).
"""

READINGS = ("nir", "sinabs", "norse")
DEFAULT_READING = "nir"
