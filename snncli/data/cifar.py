"""CIFAR-10 and CIFAR-100 from their binary versions, read with numpy (no pickle, no torchvision).

Format (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"): fixed-size
records, no header.  CIFAR-10: ``<1 byte label><3072 bytes pixels>``; CIFAR-100:
``<1 byte coarse label><1 byte fine label><3072 bytes pixels>`` (snncli uses the
100 fine labels).  The pixels are the red, then green, then blue 32x32 plane, each
row-major, so a record's pixels reshape to ``[3, 32, 32]`` as they are.

Where the files go: ``--data-root DIR`` with the archive unpacked into it::

    DIR/cifar-10-batches-bin/data_batch_1.bin ... data_batch_5.bin, test_batch.bin
    DIR/cifar-100-binary/train.bin, test.bin

(``DIR`` may also be the ``cifar-10-batches-bin`` / ``cifar-100-binary`` folder itself.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncli.errors import SnnCliError

PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR binary version lives and how its records look."""

    name: str
    folder: str  # the folder the archive unpacks to
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_bytes: int  # bytes before the pixels; the last of them is the label snncli uses
    num_classes: int
    url: str

    @property
    def record_bytes(self) -> int:
        return self.label_bytes + PIXELS


CIFAR10 = CifarLayout(
    "cifar10",
    "cifar-10-batches-bin",
    tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    ("test_batch.bin",),
    1,
    10,
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
)
CIFAR100 = CifarLayout(
    "cifar100",
    "cifar-100-binary",
    ("train.bin",),
    ("test.bin",),
    2,
    100,
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
)


def read_records(path: Path, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    """One binary file -> ``(uint8 pixels [N, 3, 32, 32], int64 labels [N])``."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % layout.record_bytes:
        raise SnnCliError(
            f"{path} is {raw.size} bytes, not a whole number of {layout.name} records of "
            f"{layout.record_bytes} bytes; download it again from {layout.url}"
        )
    records = raw.reshape(-1, layout.record_bytes)
    labels = records[:, layout.label_bytes - 1].astype(np.int64)
    if labels.max() >= layout.num_classes:
        raise SnnCliError(
            f"{path} holds label {labels.max()}, but {layout.name} has {layout.num_classes} classes; "
            f"is it the other CIFAR? Download {layout.url}"
        )
    return records[:, layout.label_bytes :].reshape(-1, 3, 32, 32), labels


def find_root(layout: CifarLayout, data_root: str | None) -> Path:
    """The folder holding all of ``layout``'s files, or an error that says where to put which files."""
    wanted = layout.train_files + layout.test_files
    listed = ", ".join(wanted) if len(wanted) < 4 else f"{wanted[0]} ... {wanted[-2]}, {wanted[-1]}"
    archive = layout.url.rsplit("/", 1)[1]
    if not data_root:
        raise SnnCliError(
            f"dataset {layout.name} needs --data-root DIR with DIR/{layout.folder}/ holding {listed}: "
            f"download {layout.url} and unpack it with `tar xzf {archive} -C DIR`"
        )
    folder = Path(data_root) / layout.folder
    for root in (folder, Path(data_root)):
        if all((root / f).is_file() for f in wanted):
            return root
    missing = [f for f in wanted if not (folder / f).is_file()]
    what = (
        f"holds no {layout.name} binary files ({listed})"
        if len(missing) == len(wanted)
        else f"lacks {', '.join(missing)} of {listed}"
    )
    raise SnnCliError(
        f"dataset {layout.name}: {folder} {what}; "
        f"download {layout.url} and unpack it with `tar xzf {archive} -C {data_root}`"
    )


def read_cifar(
    layout: CifarLayout, data_root: str | None
) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(root, train_x, train_y, test_x, test_y)``: float32 pixels in [0, 1], ``[N, 3, 32, 32]``, official split."""
    root = find_root(layout, data_root)

    def split(files):
        parts = [read_records(root / f, layout) for f in files]
        x = np.concatenate([p[0] for p in parts]).astype(np.float32) / np.float32(255.0)
        return x, np.concatenate([p[1] for p in parts])

    (tx, ty), (vx, vy) = split(layout.train_files), split(layout.test_files)
    return root, tx, ty, vx, vy


def _load(layout: CifarLayout, data_root, seed, time_steps):
    # datasets.py imports this module to fill its table of loaders: import its Dataset type here, not above
    from snncli.data.datasets import Dataset

    root, tx, ty, vx, vy = read_cifar(layout, data_root)
    return Dataset(
        layout.name,
        f"{layout.name.upper()} (Krizhevsky 2009), binary version, official {len(ty)}/{len(vy)} split, from {root}",
        tx,
        ty,
        vx,
        vy,
        (3, 32, 32),
        layout.num_classes,
    )


def load_cifar10(data_root=None, seed=0, time_steps=None):
    """CIFAR-10 (50k/10k, 10 classes) from ``data_root``; ``seed`` and ``time_steps`` do not apply."""
    return _load(CIFAR10, data_root, seed, time_steps)


def load_cifar100(data_root=None, seed=0, time_steps=None):
    """CIFAR-100 (50k/10k, 100 fine classes) from ``data_root``; ``seed`` and ``time_steps`` do not apply."""
    return _load(CIFAR100, data_root, seed, time_steps)
