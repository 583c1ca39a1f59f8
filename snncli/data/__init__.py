"""Datasets and input encoders, shared by the trainer and the simulator's CLI."""

from __future__ import annotations

from snncli.data.datasets import EVENT_DATASETS, Dataset, list_datasets, load_dataset, load_events
from snncli.data.encoders import ENCODERS, encoder_is_binary, make_encoder

__all__ = ["Dataset", "EVENT_DATASETS", "ENCODERS", "encode_split", "encoder_is_binary", "list_datasets",
           "load_dataset", "load_events", "make_encoder"]


def encode_split(data: Dataset, split: str, encoder: str, time_steps: int, options: dict | None = None,
                 limit: int | None = None, seed: int = 0):
    """``(x [T, N, *shape] float64, labels)``: the first ``limit`` samples of a split,
    encoded with a generator seeded by ``seed``; event datasets pass as frames."""
    import numpy as np
    import torch

    x, y = (data.train_x, data.train_y) if split == "train" else (data.test_x, data.test_y)
    x, y = x[:limit], y[:limit]
    if data.time_steps:
        encode = make_encoder("frames", int(data.time_steps))
    else:
        encode = make_encoder(encoder, int(time_steps), **(options or {}))
    encoded = encode(torch.as_tensor(x), torch.Generator().manual_seed(seed))
    return encoded.numpy().astype(np.float64), y
