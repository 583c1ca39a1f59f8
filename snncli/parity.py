"""``snncli parity``: the float torch model vs the exported program in hwsim.

Same test inputs through (1) the trained torch model on the fastest device
present (CUDA if available) and (2) hwsim on the target's Program lowered from
the exported NIR graph.  Reports the accuracy of each, the drop, how often the
predicted classes agree, and per neuron layer the exact spike match rate over
(sample, neuron, step) and the cosine similarity of per-neuron spike counts.

Neuron layers are paired in order: the trainer's models are chains, and the
exporter keeps the order (shapes are checked, a mismatch is an error).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from snncli.errors import SnnCliError


def _torch_spikes(model, x: torch.Tensor) -> tuple[np.ndarray, list[np.ndarray]]:
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.neuron import BaseNode

    captured = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: captured.append(out.detach().cpu().numpy()))
             for m in model.modules() if isinstance(m, BaseNode)]
    try:
        with torch.no_grad():
            functional.reset_net(model)
            out = model(x)
            functional.reset_net(model)
    finally:
        for h in hooks:
            h.remove()
    return out.detach().cpu().numpy(), captured


def check(run_dir: str, target: str = "float", limit: int | None = None, batch_size: int = 256,
          seed: int = 0, device: str | None = None, checkpoint: str = "best", progress=None) -> dict:
    from snncli.data.datasets import load_dataset
    from snncli.data.encoders import make_encoder
    from snncli.export.run import run_to_nir
    from snncli.hwsim.simulate import Simulator
    from snncli.targets import get_target
    from snncli.trainer.train import load_trained

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, cfg, info = load_trained(run_dir, which=checkpoint, device=device)
    graph = run_to_nir(run_dir, checkpoint=checkpoint)
    program = get_target(target).lower(graph, dt=graph.metadata["snncli"]["dt"])
    simulator = Simulator(program)
    data = load_dataset(cfg.dataset, data_root=cfg.data_root, seed=cfg.seed)
    x_all, y_all = data.test_x[:limit], data.test_y[:limit]
    encoder_name = "frames" if data.time_steps else cfg.encoder
    encoder = make_encoder(encoder_name, int(data.time_steps or cfg.time_steps))
    generator = torch.Generator().manual_seed(seed)

    neuron_layers = program.neuron_layers
    match = np.zeros(len(neuron_layers))
    pairs = np.zeros(len(neuron_layers))
    counts_torch = [0.0] * len(neuron_layers)
    counts_hw = [0.0] * len(neuron_layers)
    pred_torch, pred_hw = [], []
    t0 = time.perf_counter()
    for start in range(0, len(x_all), batch_size):
        xb = encoder(torch.as_tensor(x_all[start : start + batch_size]), generator)
        out, spikes = _torch_spikes(model, xb.to(device))
        if len(spikes) != len(neuron_layers):
            raise SnnCliError(f"the model has {len(spikes)} neuron layers, the program {len(neuron_layers)}")
        result = simulator.run(xb.numpy().astype(np.float64), batch_size=batch_size, record=True)
        pred_torch.append(out.sum(0).argmax(-1))
        pred_hw.append(result.predictions())
        for k, layer in enumerate(neuron_layers):
            ours = result.records[layer.name]["out"]
            theirs = spikes[k].reshape(ours.shape)
            match[k] += np.count_nonzero(ours == theirs)
            pairs[k] += ours.size
            counts_torch[k] = counts_torch[k] + theirs.sum(0).reshape(theirs.shape[1], -1).sum(0)
            counts_hw[k] = counts_hw[k] + ours.sum(0).reshape(ours.shape[1], -1).sum(0)
        if progress is not None:
            progress(len(xb[0]))
    pred_torch, pred_hw = np.concatenate(pred_torch), np.concatenate(pred_hw)
    acc_torch = float(np.mean(pred_torch == y_all))
    acc_hw = float(np.mean(pred_hw == y_all))
    layers = []
    for k, layer in enumerate(neuron_layers):
        a, b = np.asarray(counts_torch[k], float), np.asarray(counts_hw[k], float)
        denom = np.linalg.norm(a) * np.linalg.norm(b)
        cosine = float(a @ b / denom) if denom > 0 else float(np.array_equal(a, b))
        layers.append({"name": layer.name, "spike_match_rate": float(match[k] / pairs[k]),
                       "count_cosine": cosine, "spikes_torch": float(a.sum()), "spikes_hwsim": float(b.sum())})
    return {
        "run": str(run_dir),
        "target": target,
        "device": str(device),
        "samples": int(len(y_all)),
        "accuracy": {"torch": acc_torch, "hwsim": acc_hw},
        "accuracy_drop_pp": 100 * (acc_torch - acc_hw),
        "prediction_agreement": float(np.mean(pred_torch == pred_hw)),
        "spike_match_rate": float(match.sum() / pairs.sum()),
        "layers": layers,
        "seconds": time.perf_counter() - t0,
    }
