"""snncli's benchmark suite: ``python -m benchmarks [--quick]`` (see ``benchmarks/__main__.py``).

Each module measures one thing against a peer run in the same process, and returns a
JSON-able dict: ``accuracy``, ``training``, ``lava``, ``density``, ``op_counts``.
"""
