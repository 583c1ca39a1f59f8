"""Run Intel Lava's own CPU simulator (``Loihi2SimCfg(select_tag="fixed_pt")``) as the
reference for the ``loihi`` target.  Lava is optional: everything here imports it lazily.

Importing netx without torchvision and opencv
---------------------------------------------
``lava.lib.dl.netx.hdf5`` imports ``lava.lib.dl.slayer.neuron.rf`` (for RF neurons
only), and ``lava/lib/dl/slayer/__init__.py`` imports every slayer subpackage,
including ``object_detection``, whose ``boundingbox/utils.py`` does
``import cv2`` and ``from torchvision import ops``.  torchvision cannot be installed
beside the CPU torch 2.13 build, and opencv is 50 MB that netx never uses.  :func:`import_netx` therefore, *only when importing slayer the
normal way fails*, pre-registers ``lava.lib.dl.slayer`` as a bare package module
pointing at the real slayer directory (no code of slayer's ``__init__`` runs), so
that ``slayer.neuron.rf`` and what it needs (torch-only modules) import as usual.
No torchvision stub is created.  After netx is imported the bare module is removed
from ``sys.modules`` again, so a later ``import lava.lib.dl.slayer`` fails with the
genuine import error instead of returning a half-empty package.

Timing of Lava's fixed-point pipeline (what hwsim must reproduce)
-----------------------------------------------------------------
* ``RingBuffer`` (lava/proc/io/source.py) sends ``data[..., t-1]`` at step t = 1, 2, ...
* ``Dense`` (lava/proc/dense/models.py, run_spk) sends its buffer *before* reading its
  input: ``a_out(t) = W s_in(t-1)`` (``a_out(1) = 0``).  Every synapse adds one step.
* ``LIF`` integrates ``a_in(t)`` and sends ``s_out(t)`` in the same step.
* So in a netx chain input -> dense_1 -> ... -> dense_k, layer k at step t sees the
  input of step t-k; a recurrent synapse (``dense_rec``) also delays by one step.
* Monitors record the value after step t's ``run_spk``; row i of a trace is step i+1.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types

import numpy as np

from snncli.errors import SnnCliError

_SLAYER = "lava.lib.dl.slayer"


def lava_available() -> bool:
    """True when lava-nc (with the Python 3.11 fix) can be imported."""
    try:
        importlib.import_module("lava.magma.core.run_configs")
        return True
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False


def import_netx():
    """Import and return ``lava.lib.dl.netx`` (see the module docstring for the shim)."""
    if "lava.lib.dl.netx.hdf5" in sys.modules:
        return sys.modules["lava.lib.dl.netx"]
    try:
        spec = importlib.util.find_spec("lava.lib.dl")
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        raise SnnCliError("lava-dl is not installed: run scripts/install_lava.sh")
    shim = None
    if _SLAYER not in sys.modules:
        try:
            importlib.import_module(_SLAYER)
        except ImportError as exc:
            # slayer's __init__ imports object_detection, which needs torchvision and
            # opencv; netx needs neither (we install neither: see install_lava.sh)
            if getattr(exc, "name", None) not in ("torchvision", "cv2") and "torchvision" not in str(exc):
                raise
            for name in [m for m in sys.modules if m == _SLAYER or m.startswith(_SLAYER + ".")]:
                del sys.modules[name]  # drop what the failed import left behind
            path = os.path.join(list(spec.submodule_search_locations)[0], "slayer")
            shim = types.ModuleType(_SLAYER, "bare slayer package (snncli: no torchvision)")
            shim.__path__ = [path]
            shim.__spec__ = importlib.machinery.ModuleSpec(_SLAYER, None, is_package=True)
            shim.__spec__.submodule_search_locations = [path]
            sys.modules[_SLAYER] = shim
    try:
        netx = importlib.import_module("lava.lib.dl.netx")
    finally:
        if shim is not None and sys.modules.get(_SLAYER) is shim:
            del sys.modules[_SLAYER]
            parent = sys.modules.get("lava.lib.dl")
            if parent is not None and getattr(parent, "slayer", None) is shim:
                delattr(parent, "slayer")
    return netx


def _monitor_data(monitor) -> np.ndarray:
    data = monitor.get_data()
    (per_proc,) = data.values()
    (values,) = per_proc.values()
    return np.asarray(values)


def run_dense_lif(weight, lif: dict, inputs: np.ndarray, weight_exp: int = 0):
    """Lava RingBuffer -> Dense -> LIF in fixed point; returns ``(v, u, spikes)``, each [T, M].

    ``weight`` [M, N] integer; ``lif`` holds the LIF process parameters
    ``du, dv, vth, bias_mant, bias_exp``; ``inputs`` [T, N] binary spikes.
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    inputs = np.asarray(inputs)
    steps = inputs.shape[0]
    weight = np.asarray(weight, dtype=np.int32)
    src = RingBuffer(data=inputs.T.astype(float))
    dense = Dense(weights=weight, weight_exp=int(weight_exp))
    neuron = LIF(shape=(weight.shape[0],), **{k: lif[k] for k in ("du", "dv", "vth", "bias_mant", "bias_exp") if k in lif})
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(neuron.a_in)
    monitors = {name: Monitor() for name in ("v", "u", "s")}
    monitors["v"].probe(neuron.v, steps)
    monitors["u"].probe(neuron.u, steps)
    monitors["s"].probe(neuron.s_out, steps)
    try:
        neuron.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = {name: _monitor_data(m).astype(np.int64) for name, m in monitors.items()}
    finally:
        neuron.stop()
    return out["v"], out["u"], out["s"]


def run_netx(path, inputs: np.ndarray, steps: int | None = None, voltages: bool = False):
    """Run a netx HDF5 file in Lava (fixed point, CPU) on one sample.

    ``inputs`` [T, *shape] binary spikes (shape C,H,W or N, as in the Program);
    it is zero-padded to ``steps``.  Returns ``{block index in net.layers: spikes
    [steps, *shape]}`` with shapes in C,H,W (or N) order; with ``voltages=True``
    also the neurons' integer ``v`` the same way: ``(spikes, v)``.
    """
    netx = import_netx()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    inputs = np.asarray(inputs)
    steps = int(steps or inputs.shape[0])
    if inputs.shape[0] < steps:
        pad = np.zeros((steps - inputs.shape[0], *inputs.shape[1:]), dtype=inputs.dtype)
        inputs = np.concatenate([inputs, pad])
    inputs = inputs[:steps]
    net = netx.hdf5.Network(net_config=os.fspath(path))
    # Lava shapes are x,y,z (W,H,C): reverse the Program's C,H,W, time last
    data = np.transpose(inputs, tuple(range(inputs.ndim - 1, 0, -1)) + (0,)).astype(float)
    if tuple(data.shape[:-1]) != tuple(net.inp.shape):
        raise SnnCliError(f"input shape {inputs.shape[1:]} does not match the network input {net.inp.shape[::-1]}")
    src = RingBuffer(data=data)
    src.s_out.connect(net.inp)
    probes = {"s": [], "v": []}
    for layer in net.layers:
        for key, port in (("s", layer.neuron.s_out), ("v", layer.neuron.v)):
            if key == "s" or voltages:
                mon = Monitor()
                mon.probe(port, steps)
                probes[key].append(mon)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        result = {}
        for key, monitors in probes.items():
            result[key] = {}
            for i, mon in enumerate(monitors):
                data = _monitor_data(mon).astype(np.int64)  # [steps, *xyz]
                result[key][i] = np.transpose(data, (0, *range(data.ndim - 1, 0, -1)))
    finally:
        net.stop()
    return (result["s"], result["v"]) if voltages else result["s"]
