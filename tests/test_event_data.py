"""Event data: the simulated DVS sets (digits-dvs, fashion-mnist-dvs) and real recordings.

The real N-MNIST sample comes from tonic 1.6.0's source archive (``test/test_data/``,
GPL-3): it is fetched with ``pip download`` into pytest's cache at test time, never
committed, and the tests that need it skip when it cannot be had.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest

from snncli.data import EVENT_DATASETS, dvs, load_dataset, load_events
from snncli.data.datasets import FASHION_MNIST_DIR, _digits_28
from snncli.errors import SnnCliError

T = 8  # frames per sample, as the trainer's default time_steps
LIMIT = 150  # digits converted by most tests (the full 1797 take a few seconds)
SENSOR = (34, 34)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("dvs-cache")


@pytest.fixture(scope="module")
def digits(cache):
    return load_dataset("digits-dvs", data_root=str(cache), time_steps=T, limit=LIMIT)


@pytest.fixture(scope="module")
def digit_events(cache, digits):  # the same cache file the dataset was binned from
    return load_events("digits-dvs", data_root=str(cache), limit=LIMIT)["all"]


def _samples(events, offsets):
    return [events[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def _bursts(t_us: np.ndarray) -> tuple[list, list]:
    """Peaks of activity in the three saccades and the dips at the two turns (10 ms bins).

    Real N-MNIST turns near 100 ms and 200-220 ms; windows are wide enough for both.
    """
    h, _ = np.histogram(t_us, bins=np.arange(0, 330_001, 10_000))
    peaks = [h[:8].max(), h[10:19].max(), h[21:].max()]
    dips = [h[7:13].min(), h[17:25].min()]
    return peaks, dips


def _assert_three_saccades(t_us):
    (p1, p2, p3), (d1, d2) = _bursts(t_us)
    assert d1 < 0.3 * min(p1, p2) and d2 < 0.3 * min(p2, p3), (p1, p2, p3, d1, d2)


# ---------------------------------------------------------------- digits-dvs


def test_digits_dvs_shapes_dtype_and_split(digits, cache):
    from sklearn.model_selection import train_test_split

    assert "digits-dvs" in EVENT_DATASETS and "fashion-mnist-dvs" in EVENT_DATASETS
    n_test = len(digits.test_y)
    assert digits.train_x.shape == (LIMIT - n_test, T, 2, *SENSOR) and digits.test_x.shape == (n_test, T, 2, *SENSOR)
    assert digits.train_x.dtype == np.uint8 and digits.train_y.dtype == np.int64
    assert digits.sample_shape == (2, 34, 34) and digits.time_steps == T and digits.num_classes == 10
    assert "SIMULATED" in digits.description
    # labels: the source's, split 80/20 stratified by the seed as the `digits` loader does
    _, source = _digits_28()
    _, expect = train_test_split(source[:LIMIT], test_size=0.2, stratify=source[:LIMIT], random_state=0)
    assert np.array_equal(digits.test_y, expect)
    assert np.array_equal(
        np.bincount(np.concatenate([digits.train_y, digits.test_y]), minlength=10),
        np.bincount(source[:LIMIT], minlength=10),
    )
    other = load_dataset("digits-dvs", data_root=str(cache), seed=1, time_steps=T, limit=LIMIT)
    assert not np.array_equal(other.test_y, digits.test_y)  # the split follows seed (same cached events)


def test_digits_dvs_frames_keep_counts(digits, digit_events):
    events, offsets, _ = digit_events
    x = np.concatenate([digits.train_x, digits.test_x])
    assert x.max() > 1  # counts, not 0/1: Speck takes n events in a step as n input events
    # every event lands in a frame, bar the last few microseconds tonic's ToFrame leaves out
    assert 0.99 * len(events) <= int(x.sum(dtype=np.int64)) <= len(events)
    frames = dvs.to_frames(events, offsets, T)
    assert frames.shape == (LIMIT, T, 2, *SENSOR) and frames.dtype == np.uint8


def test_digit_events_look_like_nmnist(digit_events):
    events, offsets, labels = digit_events
    assert events.dtype.names == ("x", "y", "t", "p") and len(labels) == LIMIT
    counts = np.diff(offsets)
    assert counts.min() > 1500 and counts.max() < 10_000 and 3000 < counts.mean() < 6000  # N-MNIST: ~4000
    for ev in _samples(events, offsets)[:20]:
        assert ev["x"].max() <= 33 and ev["y"].max() <= 33
        assert np.all(np.diff(ev["t"].astype(np.int64)) >= 0)  # sorted by time
        assert 250_000 < int(ev["t"][-1]) - int(ev["t"][0]) <= dvs.DVSSensor().duration_us  # ~315 ms, in us
        on = ev["p"].mean()
        assert 0.35 < on < 0.65  # ON and OFF events in every sample
        _assert_three_saccades(ev["t"])


def test_conversion_is_seeded_and_independent_of_chunking():
    images = _digits_28()[0][:12]
    a, oa = dvs.convert(images, seed=0, chunk=5, workers=2)
    b, ob = dvs.convert(images, seed=0, chunk=12, workers=1)
    c, oc = dvs.convert(images, seed=1)
    assert np.array_equal(a, b) and np.array_equal(oa, ob)
    assert not np.array_equal(oa, oc) or not np.array_equal(a, c)
    # a different noise stream (train vs test) differs too; the same image gives a similar count
    d, od = dvs.convert(images, seed=0, stream=1)
    assert not np.array_equal(a, d)
    assert np.all(np.abs(np.diff(od) - np.diff(oa)) < 0.2 * np.diff(oa))


def test_cache_is_reused_not_reconverted(tmp_path, monkeypatch):
    first = load_dataset("digits-dvs", data_root=str(tmp_path), time_steps=4, limit=50)
    (path,) = (tmp_path / "dvs").glob("digits-dvs-*-seed0-first50.npz")
    mtime = path.stat().st_mtime_ns

    def refuse(*a, **k):
        raise AssertionError("converted again although the cache file exists")

    monkeypatch.setattr(dvs, "convert", refuse)
    again = load_dataset("digits-dvs", data_root=str(tmp_path), time_steps=6, limit=50)  # other T: same events
    assert path.stat().st_mtime_ns == mtime
    assert again.train_x.shape[1] == 6 and np.array_equal(again.train_y, first.train_y)
    # the same events, binned again: per-sample totals agree up to the few tonic leaves past the last bin
    assert np.allclose(first.train_x.sum(axis=(1, 2, 3, 4)), again.train_x.sum(axis=(1, 2, 3, 4)), rtol=0.01)
    with pytest.raises(AssertionError, match="converted again"):  # a new sensor seed is a new event set
        load_dataset("digits-dvs", data_root=str(tmp_path), time_steps=4, limit=50, sensor_seed=1)
    assert not list(tmp_path.glob("dvs/.*.tmp"))  # nothing half-written left behind


def test_sensor_seed_changes_events_same_seed_reproduces(tmp_path):
    a = load_events("digits-dvs", data_root=str(tmp_path / "a"), limit=10, sensor_seed=3)["all"]
    b = load_events("digits-dvs", data_root=str(tmp_path / "b"), limit=10, sensor_seed=3)["all"]
    c = load_events("digits-dvs", data_root=str(tmp_path / "a"), limit=10, sensor_seed=4)["all"]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert np.array_equal(a[2], c[2])  # same images and labels


def test_corrupt_cache_is_converted_again(tmp_path):
    load_events("digits-dvs", data_root=str(tmp_path), limit=5)
    (path,) = (tmp_path / "dvs").glob("*.npz")
    good = path.read_bytes()
    path.write_bytes(good[:100])
    events, offsets, labels = load_events("digits-dvs", data_root=str(tmp_path), limit=5)["all"]
    assert len(labels) == 5 and path.read_bytes() == good


def test_default_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCLI_CACHE", str(tmp_path / "c"))
    assert dvs.cache_root(None) == tmp_path / "c"
    assert dvs.cache_root(str(tmp_path / "d")) == tmp_path / "d"  # --data-root wins
    monkeypatch.delenv("SNNCLI_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert dvs.cache_root(None) == tmp_path / "x" / "snncli"


def test_options_are_checked(tmp_path):
    with pytest.raises(SnnCliError, match="does not take option"):
        load_dataset("digits", limit=5)
    with pytest.raises(SnnCliError, match="limit, sensor_seed"):
        load_dataset("digits-dvs", limt=5)
    with pytest.raises(SnnCliError, match="positive integer"):
        load_dataset("digits-dvs", limit=0)
    with pytest.raises(SnnCliError, match="limit >= 50"):
        load_dataset("digits-dvs", data_root=str(tmp_path), limit=12)
    with pytest.raises(SnnCliError, match="simulated event set"):
        load_events("digits")


# ---------------------------------------------------------------- fashion-mnist-dvs


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
    reason="dataset-fashion-mnist not installed (/usr/share/datasets/fashion-mnist)",
)
def test_fashion_mnist_dvs_subset(tmp_path):
    from snncli.data.datasets import _read_idx

    n = 40
    ds = load_dataset("fashion-mnist-dvs", data_root=str(tmp_path), time_steps=T, limit=n)
    assert ds.train_x.shape == (n, T, 2, *SENSOR) and ds.test_x.shape == (n, T, 2, *SENSOR)
    assert ds.train_x.dtype == np.uint8 and ds.time_steps == T and "SIMULATED" in ds.description
    # the official split's first n labels, in order
    assert np.array_equal(ds.train_y, _read_idx(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz", 2049)[:n])
    assert np.array_equal(ds.test_y, _read_idx(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz", 2049)[:n])
    counts = ds.train_x.reshape(n, -1).sum(1, dtype=np.int64)
    assert counts.min() > 1000 and counts.mean() < 15_000
    assert ds.train_x[:, :, 0].sum() > 0 and ds.train_x[:, :, 1].sum() > 0
    assert (tmp_path / "dvs").is_dir()  # cached under --data-root


def test_fashion_mnist_dvs_missing_source_says_what_to_do(tmp_path, monkeypatch):
    import snncli.data.datasets as datasets

    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(SnnCliError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist-dvs", data_root=str(tmp_path), limit=3)


# ---------------------------------------------------------------- real recordings (tonic 1.6.0's test data)

TONIC_SDIST = "tonic==1.6.0"


@pytest.fixture(scope="session")
def tonic_test_data(request, tmp_path_factory):
    """``test/test_data/`` of tonic 1.6.0's source archive, fetched once into pytest's cache."""
    cache = getattr(request.config, "cache", None)
    root = Path(cache.mkdir("tonic-1.6.0-sdist")) if cache else tmp_path_factory.mktemp("tonic-sdist")
    data = root / "test_data"
    if (data / "sample_nmnist.bin").is_file():
        return data
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        why = "pip download failed"
        for extra in (["--no-build-isolation"], []):  # without isolation pip needs no build backend download
            try:
                r = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--no-binary",
                        ":all:",
                        "--no-deps",
                        *extra,
                        TONIC_SDIST,
                        "-d",
                        str(work),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                why = f"pip download: {e}"
                continue
            if r.returncode == 0:
                break
            why = "pip download: " + (r.stderr.strip().splitlines() or ["no output"])[-1]
        archives = list(work.glob("tonic-1.6.0.tar.gz"))
        if not archives:
            pytest.skip(f"could not fetch tonic 1.6.0's source archive, which holds the real N-MNIST sample ({why})")
        out = work / "test_data"
        out.mkdir()
        with tarfile.open(archives[0]) as tar:
            for m in tar.getmembers():
                if m.isfile() and "/test/test_data/" in m.name:
                    (out / Path(m.name).name).write_bytes(tar.extractfile(m).read())
        try:
            os.rename(out, data)
        except OSError:  # another worker got there first
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not (data / "sample_nmnist.bin").is_file():
        pytest.skip("tonic 1.6.0's source archive has no test/test_data/sample_nmnist.bin")
    return data


@pytest.fixture(scope="session")
def nmnist_sample(tonic_test_data):
    import tonic.io
    from tonic.datasets import NMNIST

    return tonic.io.read_mnist_file(str(tonic_test_data / "sample_nmnist.bin"), dtype=NMNIST.dtype)


def test_real_nmnist_sample_looks_like_nmnist(nmnist_sample):
    ev = nmnist_sample
    assert ev.dtype.names == ("x", "y", "t", "p") and 2000 < len(ev) < 10_000
    assert ev["x"].min() >= 0 and ev["x"].max() <= 33 and ev["y"].min() >= 0 and ev["y"].max() <= 33
    assert set(np.unique(ev["p"])) == {0, 1}
    assert np.all(np.diff(ev["t"]) >= 0)
    assert 250_000 < ev["t"][-1] - ev["t"][0] < 350_000  # microseconds: ~300 ms for three saccades
    _assert_three_saccades(ev["t"])


def test_real_nmnist_and_digits_dvs_bin_alike(nmnist_sample, digit_events):
    real = dvs.to_frames(nmnist_sample, np.array([0, len(nmnist_sample)]), T)[0]
    events, offsets, _ = digit_events
    sim = dvs.to_frames(events, offsets[:2], T)[0]
    assert real.shape == sim.shape == (T, 2, 34, 34) and real.dtype == sim.dtype == np.uint8
    for frames, ev in ((real, nmnist_sample), (sim, events[offsets[0] : offsets[1]])):
        assert frames[:, 0].sum() > 0 and frames[:, 1].sum() > 0  # both polarities
        assert 0.3 < ev["p"].mean() < 0.7
        per_bin = frames.reshape(T, -1).sum(1)
        assert per_bin.min() > 0  # activity throughout, as both move for ~300 ms
    # comparable amounts of activity: events per sample, and pixels that ever fire
    counts = np.diff(offsets)
    assert 0.5 < counts.mean() / len(nmnist_sample) < 2
    active = lambda f: int((f.sum(axis=(0, 1)) > 0).sum())
    assert 0.5 < active(sim) / active(real) < 2


def test_nmnist_loader_reads_a_real_recording(tonic_test_data, tmp_path, monkeypatch):
    """``--dataset nmnist`` end to end on the real sample, laid out as tonic expects (no download)."""
    from tonic.datasets import NMNIST

    for folder in ("Train", "Test"):
        d = tmp_path / "NMNIST" / folder / "7"
        d.mkdir(parents=True)
        shutil.copy(tonic_test_data / "sample_nmnist.bin", d / "00001.bin")
    monkeypatch.setattr(NMNIST, "_check_exists", lambda self: True)  # tonic wants all 10000+ files
    ds = load_dataset("nmnist", data_root=str(tmp_path), time_steps=T)
    assert ds.train_x.shape == (1, T, 2, 34, 34) and ds.test_y.tolist() == [7]
    assert set(np.unique(ds.train_x)) == {0, 1}  # the real recordings keep their binary frames
    assert ds.time_steps == T


def test_nmnist_missing_says_where_to_put_the_files(tmp_path, monkeypatch):
    from tonic.datasets import NMNIST

    def offline(self):
        raise OSError("no network")

    monkeypatch.setattr(NMNIST, "download", offline)
    with pytest.raises(SnnCliError) as info:
        load_dataset("nmnist", data_root=str(tmp_path))
    msg = str(info.value)
    assert str(tmp_path / "NMNIST") in msg and "train.zip" in msg and "Train/<digit>/*.bin" in msg


def test_real_davis_recording_reads(tonic_test_data):
    pytest.importorskip("aedat", reason="tonic.io.read_aedat4 needs the aedat package")
    import tonic.io

    ev = tonic.io.read_aedat4(str(tonic_test_data / "sample.aedat4"))
    assert len(ev) > 0 and set(np.unique(ev["on"] if "on" in ev.dtype.names else ev["p"])) == {0, 1}
