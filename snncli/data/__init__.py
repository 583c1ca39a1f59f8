"""Datasets and input encoders, shared by the trainer and the simulator's CLI."""

from __future__ import annotations

from snncli.data.datasets import EVENT_DATASETS, Dataset, list_datasets, load_dataset, load_events
from snncli.data.encoders import ENCODERS, PoissonEncoder, encoder_is_binary, make_encoder

__all__ = [
    "Dataset",
    "EVENT_DATASETS",
    "ENCODERS",
    "encode_batches",
    "encode_split",
    "encoder_is_binary",
    "list_datasets",
    "load_dataset",
    "load_events",
    "make_encoder",
]


def encode_split(
    data: Dataset,
    split: str,
    encoder: str,
    time_steps: int,
    options: dict | None = None,
    limit: int | None = None,
    seed: int = 0,
):
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


def encode_batches(
    data: Dataset,
    split: str,
    encoder: str,
    time_steps: int,
    options: dict | None = None,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
):
    """``(batches, labels)``: :func:`encode_split`'s samples, equal value for value, as an iterator of arrays
    ``[T, b, *shape]`` (``b <= batch_size``, float32 as the encoder gives them) so that a whole split never
    exists encoded in float64 (10k Fashion-MNIST samples at T = 25: 1.6 GB).

    An encoder that draws (Poisson) draws in encode_split's order -- one generator, ``[T, N, ...]`` filled
    step by step (torch's CPU ``rand`` fills a tensor element by element, so step-wise draws give the same
    values) -- and keeps the spikes as bits (1/64 of float64); the others encode each batch on its own."""
    import numpy as np
    import torch

    x, y = (data.train_x, data.train_y) if split == "train" else (data.test_x, data.test_y)
    x, y = x[:limit], y[:limit]
    if data.time_steps:
        encode = make_encoder("frames", int(data.time_steps))
    else:
        encode = make_encoder(encoder, int(time_steps), **(options or {}))
    starts = range(0, len(y), max(1, int(batch_size)))
    if not isinstance(encode, PoissonEncoder):
        return (encode(torch.as_tensor(x[s : s + batch_size])).numpy() for s in starts), y
    values = torch.as_tensor(x)
    generator = torch.Generator().manual_seed(seed)
    rate = (encode.max_rate * values).clamp(0, 1)  # encoders.poisson: s = [u < clamp(max_rate x)]
    bits = np.stack(
        [
            np.packbits(
                (torch.rand(values.shape, generator=generator, dtype=values.dtype) < rate).numpy().reshape(len(y), -1),
                axis=1,
            )
            for _ in range(encode.time_steps)
        ]
    )
    size, dtype = int(np.prod(values.shape[1:])), values.numpy().dtype

    def unpack(s: int):
        spikes = np.unpackbits(bits[:, s : s + batch_size], axis=2, count=size)
        return spikes.reshape(encode.time_steps, -1, *values.shape[1:]).astype(dtype)

    return (unpack(s) for s in starts), y
