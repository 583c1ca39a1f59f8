"""Run the one-step ONNX model over a whole input window in ONNX Runtime, carrying the states between steps."""

from __future__ import annotations

import json

import numpy as np

from snncli.errors import SnnCliError


class Stepper:
    """An ``onnxruntime.InferenceSession`` over a model :func:`snncli.targets.onnx.graph.build_model` wrote."""

    def __init__(self, model):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no notes about unused initializers on stderr
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        meta = json.loads({p.key: p.value for p in model.metadata_props}["snncli"])
        self.states: list[str] = meta["states"]
        self.dtype = np.float64 if meta["precision"] == "float64" else np.float32
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.shapes = {i.name: i.shape[1:] for i in self.session.get_inputs()}

    def run(self, x: np.ndarray, progress=None) -> dict[str, np.ndarray]:
        """``x`` ``[T, N, *input_shape]`` -> every non-state output over time ``[T, N, ...]`` (states start at zero)."""
        x = np.asarray(x, dtype=self.dtype)
        if tuple(x.shape[2:]) != tuple(self.shapes["x"]):
            raise SnnCliError(
                f"input has shape {list(x.shape)}, the ONNX model takes [time, batch, "
                f"{', '.join(map(str, self.shapes['x']))}]"
            )
        batch = x.shape[1]
        state = {name: np.zeros((batch, *self.shapes[name]), dtype=self.dtype) for name in self.states}
        keep = [name for name in self.outputs if not name.endswith(":next")]
        series: dict[str, list] = {name: [] for name in keep}
        for t in range(x.shape[0]):
            values = dict(zip(self.outputs, self.session.run(self.outputs, {"x": x[t], **state})))
            state = {name: values[f"{name}:next"] for name in self.states}
            for name in keep:
                series[name].append(values[name])
        if progress is not None:
            progress(batch)
        return {name: np.stack(v) for name, v in series.items()}
