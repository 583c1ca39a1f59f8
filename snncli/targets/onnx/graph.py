"""A float Program as an ONNX model of ONE time step, its neuron states as explicit inputs and outputs.

Streaming: feed ``x`` ``[N, *input_shape]`` for one step; every graph input ``state/...``
(zeros at the start of a sample) takes the output ``state/...:next`` of the previous step.
Outputs: ``y`` (the network's output this step), each neuron layer's output
``layer/<name>`` (its spikes), and the next states.  Per layer, exactly the float
target's arithmetic (:class:`snncli.targets.float.neuron.FloatLIF`, hwsim's layer rules):

* dense ``y = x W^T (+ b)``: ``MatMul`` (+ ``Add``);
* conv2d / sum and average pooling: in ``float64`` a ``MatMul`` with the unrolled fan-out
  table hwsim uses (:mod:`snncli.hwsim.synapses`), because ONNX Runtime has no double
  ``Conv`` or ``AveragePool`` kernel (1.32, CPU: "Could not find an implementation");
  in ``float32`` the native ``Conv`` / ``AveragePool`` (sum pooling: a depthwise ``Conv``
  of ones, exact for spike counts);
* neuron (``float_lif``): ``i = i_decay i + i_gain x``; ``v = v_decay v + v_gain i + v_bias``;
  ``s = v > v_threshold``; ``v = Where(s, v_reset | v - v_threshold, v)``; ``v = Max(v, v_min)``;
* a delayed (recurrent) edge reads ``delay/<source>``, the source's previous output.

The ANN twin (``ann_twin``): the same layers and weights with ``Relu`` in place of each
spiking neuron layer (a non-spiking one passes its input), no state, one pass per
inference: the baseline whose MACs the energy report counts.  Built with ``onnx.helper``
(:func:`onnx.helper.make_node` & co); checked with ``onnx.checker``.
"""

from __future__ import annotations

import json

import numpy as np

from snncli.core.program import Layer, Program
from snncli.errors import SnnCliError
from snncli.hwsim.synapses import build_table

OPSET = 17
MAX_UNROLLED = 1 << 24  # entries of a conv/pool layer unrolled into a float64 MatMul (128 MiB)
PRECISIONS = {"float64": np.float64, "float32": np.float32}


class _Builder:
    def __init__(self, program: Program, precision: str, ann_twin: bool):
        from onnx import TensorProto

        self.program, self.ann_twin = program, ann_twin
        self.dtype = PRECISIONS[precision]
        self.elem = TensorProto.DOUBLE if precision == "float64" else TensorProto.FLOAT
        self.nodes, self.inits, self.inputs, self.outputs, self.states = [], [], [], [], []
        self._n = 0

    def const(self, value: np.ndarray, hint: str, dtype=None) -> str:
        from onnx import numpy_helper

        self._n += 1
        name = f"const/{hint}/{self._n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype or self.dtype), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        from onnx import helper

        self._n += 1
        output = output or f"t/{op}/{self._n}"
        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def value(self, name: str, shape) -> object:
        from onnx import helper

        return helper.make_tensor_value_info(name, self.elem, ["N", *map(int, shape)])

    def reshape(self, tensor: str, shape) -> str:
        return self.node("Reshape", [tensor, self.const(np.array([-1, *shape]), "shape", np.int64)])

    def state(self, name: str, shape) -> tuple[str, str]:
        """A streamed state: (graph input, graph output name for the next step)."""
        self.inputs.append(self.value(name, shape))
        self.outputs.append(self.value(f"{name}:next", shape))
        self.states.append(name)
        return name, f"{name}:next"


def build_model(program: Program, precision: str = "float64", ann_twin: bool = False):
    """The ONNX model of ``program`` (see the module docstring)."""
    from onnx import helper

    if precision not in PRECISIONS:
        raise SnnCliError(f"unknown ONNX precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    b = _Builder(program, precision, ann_twin)
    tensors: dict[str, str] = {}
    delayed = {src for layer in program.layers for src in layer.delayed_inputs}
    if ann_twin and delayed:
        raise SnnCliError("the ANN twin of a recurrent network is not defined here: its delayed edges need time steps")
    delay_in = {src: b.state(f"delay/{src}", program.layer(src).out_shape) for src in sorted(delayed)}
    for layer in program.layers:
        if layer.kind == "input":
            b.inputs.append(b.value("x", layer.out_shape))
            tensors[layer.name] = "x"
            continue
        x = _gathered(b, layer, program, tensors, delay_in)
        tensors[layer.name] = _layer(b, layer, x)
        if layer.name in delay_in:
            b.node("Identity", [tensors[layer.name]], delay_in[layer.name][1])
    out = program.output_layers[0]
    b.node("Identity", [tensors[out.name]], "y")
    b.outputs.insert(0, b.value("y", out.out_shape))
    if not ann_twin:
        for layer in program.neuron_layers:
            b.outputs.append(b.value(f"layer/{layer.name}", layer.out_shape))
            b.node("Identity", [tensors[layer.name]], f"layer/{layer.name}")
    graph = helper.make_graph(
        b.nodes, f"snncli-{'ann-twin' if ann_twin else 'snn'}-step", b.inputs, b.outputs, initializer=b.inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snncli")
    helper.set_model_props(
        model,
        {
            "snncli": json.dumps(
                {
                    "kind": "ann twin (one pass per inference)" if ann_twin else "snn, one time step per call",
                    "dt": program.dt,
                    "reading": program.reading,
                    "precision": precision,
                    "states": b.states,
                    "time_steps": program.source.time_steps,
                    "encoder": program.source.encoder,
                    "dataset": program.source.dataset,
                    "streaming": "call once per step; feed each output 'NAME:next' to the input 'NAME' of the next step "
                    "(zeros at the start of a sample); the class is the argmax of y summed over the steps",
                }
            )
        },
    )
    return model


def _gathered(b: _Builder, layer: Layer, program: Program, tensors: dict, delay_in: dict) -> str:
    """The sum of a layer's same-step inputs and its delayed inputs (the source's previous output)."""
    parts = [
        tensors[src] if program.layer(src).out_shape == layer.in_shape else b.reshape(tensors[src], layer.in_shape)
        for src in layer.inputs
    ]
    for src in layer.delayed_inputs:
        prev = delay_in[src][0]
        parts.append(prev if program.layer(src).out_shape == layer.in_shape else b.reshape(prev, layer.in_shape))
    total = parts[0]
    for part in parts[1:]:
        total = b.node("Add", [total, part])
    return total


def _layer(b: _Builder, layer: Layer, x: str) -> str:
    kind, op = layer.kind, layer.op
    if kind == "output":
        return x
    if kind == "flatten":
        return b.reshape(x, layer.out_shape)
    if kind == "scale":
        return b.node("Mul", [x, b.const(op.scale, "scale")])
    if kind == "threshold":
        return b.node("Cast", [b.node("Greater", [x, b.const(op.threshold, "theta")])], to=b.elem)
    if kind == "dense":
        flat = x if len(layer.in_shape) == 1 else b.reshape(x, (int(np.prod(layer.in_shape)),))
        y = b.node("MatMul", [flat, b.const(np.asarray(op.weight).T, "weight")])
        return b.node("Add", [y, b.const(op.bias, "bias")]) if op.bias is not None else y
    if kind in ("conv2d", "sumpool2d", "avgpool2d"):
        return _unrolled(b, layer, x) if b.dtype == np.float64 else _native(b, layer, x)
    if kind == "neuron":
        return _neuron(b, layer, x)
    raise SnnCliError(f"the onnx target cannot write layer {layer.name!r} of op {kind!r}")


def _unrolled(b: _Builder, layer: Layer, x: str) -> str:
    """conv2d / pooling as a MatMul with hwsim's fan-out table (float64: ONNX Runtime has no double Conv)."""
    n_in, n_out = int(np.prod(layer.in_shape)), int(np.prod(layer.out_shape))
    if n_in * n_out > MAX_UNROLLED:
        raise SnnCliError(
            f"layer {layer.name!r} unrolls to a {n_in} x {n_out} matrix ({n_in * n_out / 1e6:.1f}M "
            "entries), too large for the float64 ONNX graph (ONNX Runtime has no double Conv): export "
            "with --precision float32"
        )
    y = b.node("MatMul", [b.reshape(x, (n_in,)), b.const(build_table(layer).toarray(), "unrolled")])
    y = b.reshape(y, layer.out_shape)
    if layer.kind == "conv2d" and layer.op.bias is not None:
        y = b.node("Add", [y, b.const(np.asarray(layer.op.bias).reshape(-1, 1, 1), "bias")])
    return y


def _native(b: _Builder, layer: Layer, x: str) -> str:
    op = layer.op
    if layer.kind == "avgpool2d":
        return b.node(
            "AveragePool",
            [x],
            kernel_shape=list(op.kernel_size),
            strides=list(op.stride),
            pads=[*op.padding, *op.padding],
            count_include_pad=1,
        )
    if layer.kind == "sumpool2d":
        channels = layer.in_shape[0]
        weight, bias = np.ones((channels, 1, *op.kernel_size)), None
        stride, padding, dilation, groups = op.stride, op.padding, (1, 1), channels
    else:
        weight, bias, stride, padding = op.weight, op.bias, op.stride, op.padding
        dilation, groups = op.dilation, op.groups
    inputs = [x, b.const(weight, "weight")] + ([b.const(bias, "bias")] if bias is not None else [])
    return b.node(
        "Conv",
        inputs,
        strides=list(stride),
        pads=[*padding, *padding],
        dilations=list(dilation),
        group=int(groups),
        kernel_shape=list(np.shape(weight)[2:]),
    )


WRITTEN_RESETS = ("zero", "subtract")


def _neuron(b: _Builder, layer: Layer, x: str) -> str:
    p = layer.neuron
    if getattr(type(p), "model", None) != "float_lif":
        raise SnnCliError(f"the onnx target writes float_lif neurons; layer {layer.name!r} is {type(p).model}")
    if b.ann_twin:
        return b.node("Relu", [x]) if p.spiking else x
    _check_written(layer.name, p)
    shape = layer.out_shape
    c = lambda value, hint: b.const(np.broadcast_to(value, shape), hint)
    if p.i_decay is not None:
        i_prev, i_next = b.state(f"state/{layer.name}/i", shape)
        decayed = b.node("Mul", [i_prev, c(p.i_decay, "i_decay")])
        x = b.node("Add", [decayed, b.node("Mul", [x, c(p.i_gain, "i_gain")])], i_next)
    v_prev, v_next = b.state(f"state/{layer.name}/v", shape)
    decayed = b.node("Mul", [v_prev, c(p.v_decay, "v_decay")])
    v = b.node("Add", [b.node("Add", [decayed, b.node("Mul", [x, c(p.v_gain, "v_gain")])]), c(p.v_bias, "v_bias")])
    if not p.spiking:
        b.node("Identity", [v], v_next)
        return v
    thr = c(p.v_threshold, "v_threshold")
    fired = b.node("GreaterOrEqual" if getattr(p, "fire", ">") == ">=" else "Greater", [v, thr])
    if getattr(p, "multi_spike", False):  # floor(v / thr) spikes where the test holds
        s = b.node("Where", [fired, b.node("Floor", [b.node("Div", [v, thr])]), c(0.0, "zero")])
    else:
        s = b.node("Cast", [fired], to=b.elem)
    after = b.node("Sub", [v, b.node("Mul", [s, thr])]) if p.reset == "subtract" else c(p.v_reset, "v_reset")
    v = b.node("Where", [fired, after, v])
    if p.v_min is not None:
        v = b.node("Max", [v, c(p.v_min, "v_min")])
    b.node("Identity", [v], v_next)
    return s


def _check_written(name: str, p) -> None:
    """Refuse what this writer does not implement (states start at zero; resets zero and subtract)."""
    if p.reset not in WRITTEN_RESETS:
        raise SnnCliError(
            f"layer {name!r}: the onnx target writes resets {', '.join(WRITTEN_RESETS)}, not "
            f"{p.reset!r}; read the graph with a reading that resets so, or use the float target"
        )
    if getattr(p, "v_init", None) is not None and np.any(p.v_init != 0):
        raise SnnCliError(
            f"layer {name!r} starts from a non-zero voltage, and the ONNX model's states start at zero; "
            "use the float target for this reading"
        )
