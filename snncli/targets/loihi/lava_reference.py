"""Run Intel Lava's own CPU simulator (``Loihi2SimCfg(select_tag="fixed_pt")``) as the
reference for the ``loihi`` target.  Lava is optional: everything here imports it lazily.

Importing netx
--------------
``from lava.lib.dl import netx``, as netx's users do.  lava-dl's ``slayer/__init__.py``
imports ``object_detection`` (torchvision, opencv) eagerly; torchvision's PyPI builds
do not import beside the CPU torch 2.13, so ``scripts/install_lava.sh`` makes that one
import lazy (``scripts/patch_lava.py``), and :func:`import_netx` names the script when
an installation was left unpatched.

Timing of Lava's fixed-point pipeline (what hwsim must reproduce)
-----------------------------------------------------------------
* ``RingBuffer`` (lava/proc/io/source.py) sends ``data[..., t-1]`` at step t = 1, 2, ...
* ``Dense`` (lava/proc/dense/models.py, run_spk) sends its buffer *before* reading its
  input: ``a_out(t) = W s_in(t-1)`` (``a_out(1) = 0``).  Every synapse adds one step.
* ``LIF`` integrates ``a_in(t)`` and sends ``s_out(t)`` in the same step.
* So in a netx chain input -> dense_1 -> ... -> dense_k, layer k at step t sees the
  input of step t-k; a recurrent synapse (``dense_rec``) also delays by one step.
* Monitors record the value after step t's ``run_spk``; row i of a trace is step i+1.
* ``Conv`` (lava/proc/conv/models.py, ``PyConvModelFixed``) delays the same way, computes
  in float32 through torch's ``conv2d`` and wraps its output to 24 bits.

Many samples (:func:`run_netx_samples`)
---------------------------------------
hwsim starts every sample from zero state.  Lava compiles a network in ~0.5-3 s and
then runs a step in about a millisecond, so the samples go through one network: a
ring buffer holds all of them back to back, ``run`` is called for ``T`` steps per
sample, and in between every state that carries over -- LIF ``u``, ``v`` and the
synapses' output buffers (Dense ``a_buff``, Conv ``a_buf``) -- is zeroed with
``Var.set``.  ``Var.set`` sends one message per element, so for large layers a fresh
network per sample is faster (``reset="compile"``; ``"auto"`` chooses).  Both give
the same spikes (``tests/test_loihi_lava.py``).  With ``layer_reset`` the network is
built with ``reset_interval=T, reset_offset=1`` (``LIFReset``: block i zeroed at step
i + 1 of each sample), the Program's ``reset_step``.

numpy 2.4 and Lava's ReshapePort
--------------------------------
netx connects a conv block to a dense one through ``out.transpose([2, 1, 0]).flatten()``,
a Lava ``ReshapePort`` whose transform is ``functools.partial(np.reshape,
newshape=...)``; numpy 2.4 removed the ``newshape`` keyword, so the Lava process
fails with a TypeError.  ``scripts/install_lava.sh`` patches Lava's ``ports.py`` to
pass the shape positionally (so the file loads in plain Lava too);
:func:`import_netx` refuses, naming that script, a Lava left unpatched.

Interrupts
----------
Every run happens in a process group of its own (:mod:`~snncli.targets.loihi.lava_process`),
which is killed as a whole when snncli is interrupted: no Lava worker outlives a command.

Errors inside Lava processes
----------------------------
An exception in a Lava ProcessModel makes ``run`` raise "1 Exception(s) occurred. See
output above" without the output, and a later ``stop`` waits forever.
:func:`_abort` collects the child tracebacks, kills the network's own Lava worker
processes and raises :class:`SnnCliError` with the message.
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from snncli.errors import SnnCliError
from snncli.targets.loihi.lava_process import in_own_process


def _runtime() -> None:
    """Lava's runtime sets the 'fork' start method at import, which fails once anything
    (tqdm, a DataLoader) has touched multiprocessing: import it through the forced path."""
    from snncli.targets.loihi.lava_runtime import import_lava_runtime

    import_lava_runtime()


def lava_problem() -> str | None:
    """Why Lava cannot run a netx file here (one line naming the fix), or None when it can."""
    try:
        import_netx()
        importlib.import_module("lava.magma.core.run_configs")
    except SnnCliError as exc:
        return str(exc)
    except Exception as exc:
        return f"Lava does not import ({type(exc).__name__}: {exc}); run scripts/install_lava.sh"
    return None


def _check_reshape_port() -> None:
    """numpy >= 2.4 has no ``np.reshape(..., newshape=)``, which unpatched Lava's ReshapePort uses."""
    from lava.magma.core.process.ports import ports

    try:
        np.reshape(np.zeros(1), newshape=(1,))
        return  # this numpy still takes newshape: Lava works as is
    except TypeError:
        pass
    if not hasattr(ports, "_reshape_to"):  # the helper install_lava.sh adds
        raise SnnCliError(
            f"Lava's ReshapePort calls np.reshape(newshape=), which numpy {np.__version__} removed; "
            "run scripts/install_lava.sh to patch it"
        )


def import_netx():
    """Import and return ``lava.lib.dl.netx`` the documented way; a Lava left unpatched is named with its fix."""
    _runtime()
    try:
        from lava.lib.dl import netx
    except ModuleNotFoundError as exc:
        if exc.name in ("lava", "lava.lib", "lava.lib.dl"):
            raise SnnCliError("lava-dl is not installed: run scripts/install_lava.sh") from None
        if exc.name in ("torchvision", "cv2"):
            raise SnnCliError(
                f"lava-dl's slayer imports {exc.name} eagerly (object detection only): run "
                "scripts/install_lava.sh, which makes that import lazy"
            ) from None
        raise
    _check_reshape_port()
    return netx


def _abort(proc, exc: BaseException) -> SnnCliError:
    """After a failed ``run``: collect the Lava workers' tracebacks, kill those workers
    (the processes this run started, by their Process objects) and return an error."""
    messages = []
    runtime = getattr(proc, "_runtime", None)
    infra = getattr(runtime, "_messaging_infrastructure", None)
    for actor in list(getattr(infra, "actors", []) or []):
        try:
            err = actor.exception
        except (ValueError, OSError, EOFError):
            err = None
        if err:
            messages.append(str(err[1]).strip().splitlines()[-1])
        try:
            if actor.is_alive():
                actor.kill()
        except (ValueError, AssertionError):
            pass  # already joined and closed
    try:
        infra.smm.shutdown()
    except Exception:
        pass
    detail = "; ".join(dict.fromkeys(messages)) or str(exc)
    return SnnCliError(f"Lava failed while running the network: {detail}")


def _monitor_data(monitor) -> np.ndarray:
    data = monitor.get_data()
    (per_proc,) = data.values()
    (values,) = per_proc.values()
    return np.asarray(values)


@in_own_process
def run_dense_lif(weight, lif, inputs: np.ndarray, weight_exp: int = 0):
    """Lava RingBuffer -> Dense -> LIF in fixed point; returns ``(v, u, spikes)``, each [T, M].

    ``weight`` [M, N] integer; ``lif`` a :class:`~snncli.targets.loihi.arithmetic.LoihiCuba`
    (the LIF process parameters ``du, dv, vth, bias_mant, bias_exp``); ``inputs`` [T, N] binary spikes.
    """
    _runtime()
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
    neuron = LIF(
        shape=(weight.shape[0],), du=lif.du, dv=lif.dv, vth=lif.vth, bias_mant=lif.bias_mant, bias_exp=lif.bias_exp
    )
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(neuron.a_in)
    monitors = {name: Monitor() for name in ("v", "u", "s")}
    monitors["v"].probe(neuron.v, steps)
    monitors["u"].probe(neuron.u, steps)
    monitors["s"].probe(neuron.s_out, steps)
    try:
        neuron.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    except Exception as exc:
        raise _abort(neuron, exc) from None
    try:
        out = {name: _monitor_data(m).astype(np.int64) for name, m in monitors.items()}
    finally:
        neuron.stop()
    return out["v"], out["u"], out["s"]


@in_own_process
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
    except Exception as exc:
        raise _abort(net, exc) from None
    try:
        result = {}
        for key, monitors in probes.items():
            result[key] = {}
            for i, mon in enumerate(monitors):
                data = _monitor_data(mon).astype(np.int64)  # [steps, *xyz]
                result[key][i] = np.transpose(data, (0, *range(data.ndim - 1, 0, -1)))
    finally:
        net.stop()
    return (result["s"], result["v"]) if voltages else result["s"]


def _to_lava(x: np.ndarray, port_shape: tuple) -> np.ndarray:
    """Samples ``[T, *shape]`` (Program order: C,H,W or N) -> Lava data ``[*port_shape, T]``
    (W,H,C for a conv input port; a flat port takes the C,H,W-flattened vector)."""
    steps = x.shape[0]
    if len(port_shape) == 1:
        data = x.reshape(steps, -1)
    else:
        data = np.transpose(x, (0, *range(x.ndim - 1, 0, -1)))  # T, W, H, C
    data = np.moveaxis(data, 0, -1)
    if tuple(data.shape[:-1]) != tuple(port_shape):
        raise SnnCliError(f"input of shape {list(x.shape[1:])} does not fit the network input port {list(port_shape)}")
    return data


def _from_lava(data: np.ndarray) -> np.ndarray:
    """Monitor data ``[steps, *xyz]`` -> ``[steps, *zyx]`` (C,H,W, as the Program)."""
    return np.transpose(data, (0, *range(data.ndim - 1, 0, -1)))


def _state_vars(net) -> list:
    """(Var, shape) of every state that carries over between steps: LIF u, v and the
    synapses' output buffers (Dense ``a_buff``, Conv ``a_buf``)."""
    out = []
    for layer in net.layers:
        neuron = layer.neuron
        out += [neuron.u, neuron.v]
        for attr in ("synapse", "synapse_rec"):
            syn = getattr(layer, attr, None)
            if syn is None:
                continue
            buf = getattr(syn, "a_buff", None)
            if buf is None:
                buf = getattr(syn, "a_buf", None)
            if buf is not None:
                out.append(buf)
    return out


@in_own_process
def run_netx_samples(
    path,
    x: np.ndarray,
    input_message_bits: int = 0,
    progress=None,
    steps: int | None = None,
    reset: str = "auto",
    layer_reset: bool = False,
) -> list[np.ndarray]:
    """Run a netx HDF5 file in Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) on many samples.

    ``x`` ``[T, N, *shape]`` integers (binary spikes, or graded values with
    ``input_message_bits > 0``), shape in Program order.  Every sample starts from
    zero state, as hwsim's runs do.  Returns, per neuron block of ``net.layers``,
    spikes ``[T, N, *shape]``.

    ``reset``: ``"compile"`` builds and runs one Lava network per sample (~0.5 s of
    compile/start each); ``"set"`` compiles once, runs ``T`` steps per sample from one
    ring buffer holding all samples, and zeroes every state Var (LIF ``u``, ``v``,
    synapse buffers) between samples through the runtime (``Var.set``, one message
    per element: slow for large layers); ``"auto"`` picks ``"set"`` when the
    network has at most 4096 state elements.

    ``layer_reset``: build ``Network(..., reset_interval=T, reset_offset=1)`` (``LIFReset``
    neurons, block i reset at step i + 1 of each sample; the Program's ``reset_step``).
    """
    netx = import_netx()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    x = np.asarray(x)
    steps_x, samples = x.shape[:2]
    steps = int(steps or steps_x)
    if steps_x < steps:
        x = np.concatenate([x, np.zeros((steps - steps_x, *x.shape[1:]), dtype=x.dtype)])
    x = x[:steps]
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    probe = netx.hdf5.Network(net_config=os.fspath(path), input_message_bits=int(input_message_bits))
    kwargs = {}
    if layer_reset:
        if steps > len(probe.layers):
            kwargs = {"reset_interval": steps, "reset_offset": 1}
        else:  # block i would reset at step (i + 1) mod T, hwsim never: run each sample fresh, no reset in reach
            kwargs = {"reset_interval": steps + len(probe.layers) + 1, "reset_offset": 1}
            reset = "compile"

    def build(data):
        net = netx.hdf5.Network(net_config=os.fspath(path), input_message_bits=int(input_message_bits), **kwargs)
        src = RingBuffer(data=data.astype(np.int32))
        src.s_out.connect(net.inp)
        monitors = []
        for layer in net.layers:
            mon = Monitor()
            mon.probe(layer.neuron.s_out, data.shape[-1])
            monitors.append(mon)
        return net, monitors

    port = tuple(probe.inp.shape)
    n_state = sum(
        int(np.prod(layer.neuron.u.shape)) * 2 + int(np.prod(layer.neuron.a_in.shape)) for layer in probe.layers
    )
    if reset == "auto":
        reset = "set" if n_state <= 4096 else "compile"
    results: list[list[np.ndarray]] = []
    if reset == "set":
        data = np.concatenate([_to_lava(x[:, i], port) for i in range(samples)], axis=-1)
        net, monitors = build(data)
        zeros = None
        try:
            for i in range(samples):
                if i:
                    if zeros is None:
                        zeros = [(var, np.zeros(var.shape, dtype=np.int32)) for var in _state_vars(net)]
                    for var, z in zeros:
                        var.set(z)
                net.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
                if progress is not None:
                    progress(1)
        except Exception as exc:
            raise _abort(net, exc) from None
        try:
            traces = [_from_lava(_monitor_data(m).astype(np.int64)) for m in monitors]  # [N*T, ...]
        finally:
            net.stop()
        return [t.reshape(samples, steps, *t.shape[1:]).swapaxes(0, 1).copy() for t in traces]
    if reset != "compile":
        raise ValueError(f"unknown reset mode {reset!r}")
    for i in range(samples):
        net, monitors = build(_to_lava(x[:, i], port))
        try:
            net.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        except Exception as exc:
            raise _abort(net, exc) from None
        try:
            results.append([_from_lava(_monitor_data(m).astype(np.int64)) for m in monitors])
        finally:
            net.stop()
        if progress is not None:
            progress(1)
    return [np.stack([r[j] for r in results], axis=1) for j in range(len(results[0]))]
