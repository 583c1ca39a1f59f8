"""Training curves as a PNG (matplotlib's object API: no pyplot, no global backend switch)."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_training_curves(metrics: list[dict], path: Path) -> None:
    """Loss (left) and train/test accuracy (right) against epoch."""
    epochs = [m["epoch"] for m in metrics]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [m["loss"] for m in metrics], marker="o")
    loss_ax.set(xlabel="epoch", ylabel="training loss (cross-entropy on spike counts)")
    acc_ax.plot(epochs, [100 * m["train_acc"] for m in metrics], marker="o", label="train")
    acc_ax.plot(epochs, [100 * m["test_acc"] for m in metrics], marker="o", label="test")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)")
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)  # atomic: a viewer never sees half a PNG
