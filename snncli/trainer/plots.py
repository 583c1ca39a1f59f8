"""Training curves as a PNG (matplotlib's object API: no pyplot, no global backend switch)."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_training_curves(metrics: list[dict], path: Path, test: dict | None = None) -> None:
    """Loss (left) and train/validation accuracy (right) against epoch; ``test``: the selected
    checkpoint's test accuracy, one point at its epoch."""
    epochs = [m["epoch"] for m in metrics]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [m["loss"] for m in metrics], marker="o", label="train")
    val_loss = [(m["epoch"], m["val_loss"]) for m in metrics if m.get("val_loss") is not None]
    if val_loss:
        loss_ax.plot(*zip(*val_loss), marker="o", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="loss (cross-entropy on spike counts)")
    loss_ax.legend()
    acc_ax.plot(epochs, [100 * m["train_acc"] for m in metrics], marker="o", label="train")
    val_acc = [(m["epoch"], 100 * m["val_acc"]) for m in metrics if m.get("val_acc") is not None]
    if val_acc:
        acc_ax.plot(*zip(*val_acc), marker="o", label="validation")
    if test is not None and test.get("test_acc") is not None:
        acc_ax.plot(
            [test["epoch"]],
            [100 * test["test_acc"]],
            marker="*",
            markersize=12,
            linestyle="none",
            label="test (selected checkpoint)",
        )
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)")
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)  # atomic: a viewer never sees half a PNG
