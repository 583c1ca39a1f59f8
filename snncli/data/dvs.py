"""Simulated event camera: static images -> DVS events, as N-MNIST was made from MNIST.

N-MNIST (Orchard et al., "Converting static image datasets to spiking
neuromorphic datasets using saccades", Front. Neurosci. 9:437, 2015) was recorded
by moving an ATIS sensor on a pan-tilt unit in three saccades in front of a
monitor showing each MNIST digit.  This module does the same in simulation:

* **Screen.**  The image (28x28, intensity ``I`` in [0, 1], white on black as
  MNIST) sits in the middle of a black 34x34 screen, as N-MNIST's 34x34 frame
  holds a 28x28 digit.
* **Saccades.**  The image moves over the sensor along the triangle N-MNIST's
  own stabilisation code removes (``tonic.datasets.nmnist.stabilize``): corners
  ``(0, 0) -> (3.5, 7) -> (7, 0) -> (0, 0)`` pixels (x, y), one saccade per edge,
  105 ms each (315 ms in all), centred on the sensor.  Along each edge the
  position follows ``s(u) = (1 - cos(pi u)) / 2``, ``u`` in [0, 1]: the sensor
  starts and stops at rest, so every saccade is a burst of activity with quiet
  turns between them, as in the real recordings.
* **Pixels** (the DVS pixel model, as in ESIM / v2e): pixel ``(x, y)`` sees the
  image shifted by the saccade, bilinearly interpolated (a pixel moving over a
  pixelated screen collects the area-weighted intensity), in log units::

      L(x, y, t) = log(I(x - dx(t), y - dy(t)) + eps)

  It keeps a reference level ``R`` and emits

      ON  each time  L - R >= C_on(x, y),   then  R <- R + C_on(x, y)
      OFF each time  R - L >= C_off(x, y),  then  R <- R - C_off(x, y)

  ``eps`` is the screen's black level (a finite log for black pixels).  Time is
  sampled in sub-steps; the ``j``-th crossing inside the sub-step ``(t0, t1]`` is
  timestamped where the level ``R + j C`` is crossed, ``L`` linear in between::

      t_j = t0 + (R + j C - L(t0)) / (L(t1) - L(t0)) (t1 - t0)      (microseconds)

* **Noise** (all seeded by ``seed``): thresholds vary from pixel to pixel,
  ``C ~ N(C0, (sigma C0)^2)`` (fixed-pattern, one draw per sensor: N-MNIST used
  one ATIS for every sample); each recording starts with ``R = L(0) + (u - 1/2) C``,
  ``u ~ U(0, 1)`` per pixel (pixels were reset at unknown times), and background
  activity adds ``Poisson(rate * pixels * duration)`` events at random pixels,
  times and polarities.  The draws of sample ``i`` come from
  ``default_rng([seed, stream, i])``, so an event set does not depend on how the
  conversion was chunked or parallelised.

Events are tonic-style structured arrays with fields ``x``, ``y``, ``t``
(microseconds), ``p`` (1 = ON, 0 = OFF), sorted by ``t``.  They use compact
integer types (:data:`EVENT_DTYPE`) so a cached Fashion-MNIST conversion stays
small; ``events.astype(tonic.datasets.NMNIST.dtype)`` gives tonic's int64 layout.
Binning into frames is tonic's own ``ToFrame`` (:func:`to_frames`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from snncli.errors import SnnCliError

SENSOR_SIZE = (34, 34, 2)  # tonic's (W, H, P), as tonic.datasets.NMNIST.sensor_size
EVENT_DTYPE = np.dtype([("x", np.uint8), ("y", np.uint8), ("t", np.uint32), ("p", np.uint8)])

# saccade corners (x, y) in pixels, as removed by tonic.datasets.nmnist.stabilize
_CORNERS = np.array([[0.0, 0.0], [3.5, 7.0], [7.0, 0.0], [0.0, 0.0]])


@dataclass(frozen=True)
class DVSSensor:
    """Parameters of the simulated sensor and its motion (see the module docstring)."""

    threshold: float = 0.4  # C0, contrast threshold in log-intensity units
    threshold_sigma: float = 0.1  # pixel-to-pixel spread of C, relative to C0
    eps: float = 0.1  # black level: L = log(I + eps)
    background_hz: float = 0.2  # background events per pixel per second
    saccade_us: int = 105_000  # duration of one saccade
    substeps: int = 32  # time samples per saccade (<= 0.4 px of motion per sub-step)

    @property
    def duration_us(self) -> int:
        return 3 * self.saccade_us


def saccade_offsets(sensor: DVSSensor) -> tuple[np.ndarray, np.ndarray]:
    """``(t_us [K+1], d [K+1, 2])``: sample times and image displacement (x, y) in pixels.

    ``d`` runs along the N-MNIST triangle with ``s(u) = (1 - cos(pi u)) / 2`` per
    saccade, minus the centre of its bounding box (3.5, 3.5) so the motion is
    centred on the sensor.
    """
    u = np.arange(sensor.substeps) / sensor.substeps
    s = (1 - np.cos(np.pi * u)) / 2
    d = [a + s[:, None] * (b - a) for a, b in zip(_CORNERS[:-1], _CORNERS[1:], strict=True)]
    d = np.concatenate(d + [_CORNERS[-1:]]) - 3.5
    t = np.arange(len(d)) * (sensor.saccade_us / sensor.substeps)
    return t, d


def _sensor_pattern(sensor: DVSSensor, seed: int, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ON and OFF thresholds ``C ~ N(C0, (sigma C0)^2)``, floored at C0 / 5 (fixed pattern)."""
    rng = np.random.default_rng([seed, 0xF1])
    c = sensor.threshold * (1 + sensor.threshold_sigma * rng.standard_normal((2, n_pixels)))
    c = np.maximum(c, sensor.threshold / 5).astype(np.float32)
    return c[0], c[1]


_MARGIN = 5  # > max |displacement| + 1, so shifted windows stay inside the padded canvas


def _canvas(images: np.ndarray) -> np.ndarray:
    """``[N, H, W]`` in [0, 1] -> ``[N, 34 + 2 m, 34 + 2 m]`` float32: the image centred on the
    black 34x34 screen, plus a black margin ``m`` for the motion."""
    n, h, w = images.shape
    size = SENSOR_SIZE[0] + 2 * _MARGIN
    out = np.zeros((n, size, size), dtype=np.float32)
    oy, ox = (size - h) // 2, (size - w) // 2
    out[:, oy : oy + h, ox : ox + w] = images
    return out


def _view(canvas: np.ndarray, dx: float, dy: float, out: np.ndarray) -> np.ndarray:
    """What the 34x34 sensor sees: ``out[:, y, x] = canvas(y - dy, x - dx)``, bilinear (separable)."""
    h, w = SENSOR_SIZE[1], SENSOR_SIZE[0]
    ax, ay = -dx, -dy
    fx, fy = np.floor(ax), np.floor(ay)
    gx, gy = np.float32(ax - fx), np.float32(ay - fy)
    sx, sy = _MARGIN + int(fx), _MARGIN + int(fy)
    rows = canvas[:, sy : sy + h + 1]
    cols = rows[:, :, sx : sx + w] * (1 - gx)
    cols += rows[:, :, sx + 1 : sx + w + 1] * gx
    np.multiply(cols[:, :h], 1 - gy, out=out)
    out += cols[:, 1 : h + 1] * gy
    return out


def _convert_chunk(
    images: np.ndarray, first: int, sensor: DVSSensor, seed: int, stream: int, c_on: np.ndarray, c_off: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Events of ``images`` (sample ``i`` of the chunk is sample ``first + i`` of its stream).

    Returns ``(events, counts)``: all events, sample by sample, each sample's sorted by ``t``.
    Each event is first one int64 key ``sample | t (32 bits) | pixel (11) | p (1)``, so
    ordering the events is sorting integers.
    """
    b = len(images)
    w, h, _ = SENSOR_SIZE
    n_pix = w * h
    times, disp = saccade_offsets(sensor)
    canvas = _canvas(images)
    eps = np.float32(sensor.eps)
    neg_c_off = -c_off
    view = np.empty((b, h, w), dtype=np.float32)

    def log_view(k):  # L at sample time k, [b, n_pix]
        v = _view(canvas, *disp[k], view)
        v += eps
        return np.log(v).reshape(b, n_pix)

    prev = log_view(0)
    ref = np.empty_like(prev)
    c_min = np.minimum(c_on, c_off)
    keys = []
    for i in range(b):
        rng = np.random.default_rng([seed, stream, first + i])
        ref[i] = prev[i] + (rng.random(n_pix, dtype=np.float32) - 0.5) * c_min
        k = rng.poisson(sensor.background_hz * n_pix * sensor.duration_us * 1e-6)
        pix, t, p = rng.integers(0, n_pix, k), rng.integers(0, sensor.duration_us, k), rng.integers(0, 2, k)
        keys.append((i << 44) | (t << 12) | (pix << 1) | p)

    diff = np.empty_like(prev)
    flat_ref = ref.reshape(-1)
    for k in range(1, len(times)):
        now = log_view(k)
        np.subtract(now, ref, out=diff)
        hit = np.flatnonzero((diff >= c_on) | (diff <= neg_c_off))
        if not len(hit):
            prev = now
            continue
        sample, pix = np.divmod(hit, n_pix)
        d = diff.reshape(-1)[hit]
        on = d > 0
        step = np.where(on, c_on[pix], neg_c_off[pix])
        n = np.maximum(np.floor(d / step), 1).astype(np.int64)  # crossings in this sub-step
        r0 = flat_ref[hit]
        flat_ref[hit] = r0 + n * step
        # crossing j = 1..n is at level r0 + j step, reached at frac = (r0 + j step - L0) / (L1 - L0)
        l0 = prev.reshape(-1)[hit]
        dt = times[k] - times[k - 1]
        inv = dt / (now.reshape(-1)[hit] - l0)
        base = (sample << 44) | (pix << 1) | on
        if n.max() == 1:
            frac = (r0 - l0 + step) * inv
        else:
            e = np.repeat(np.arange(len(hit)), n)
            j = np.arange(1, len(e) + 1) - np.repeat(np.cumsum(n) - n, n)
            frac = ((r0 - l0)[e] + j * step[e]) * inv[e]
            base = base[e]
        # frac is in [0, dt] but for rounding (L1 - L0 can be tiny): clip before the key is built
        keys.append(base | (np.rint(times[k - 1] + np.clip(frac, 0, dt)).astype(np.int64) << 12))
        prev = now

    key = np.concatenate(keys)
    sample = (key >> 44).astype(np.int16)
    # a stable (radix) sort on the sample puts the events sample-major in sub-step order;
    # sorting the keys then (timsort, nearly sorted) fixes the order inside sub-steps
    key = key[np.argsort(sample, kind="stable")]
    key.sort(kind="stable")
    pix = ((key >> 1) & 0x7FF).astype(np.int16)
    events = np.empty(len(key), dtype=EVENT_DTYPE)
    events["x"], events["y"] = _X_OF[pix], _Y_OF[pix]
    events["t"] = key >> 12
    events["p"] = key & 1
    return events, np.bincount(sample, minlength=b)


_Y_OF, _X_OF = (a.astype(np.uint8) for a in np.divmod(np.arange(SENSOR_SIZE[0] * SENSOR_SIZE[1]), SENSOR_SIZE[0]))


def convert(
    images: np.ndarray,
    sensor: DVSSensor = DVSSensor(),
    seed: int = 0,
    stream: int = 0,
    chunk: int = 256,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, H, W]`` in [0, 1] (H, W <= 34) -> ``(events, offsets)``.

    ``events[offsets[i]:offsets[i + 1]]`` are sample ``i``'s events (:data:`EVENT_DTYPE`,
    sorted by ``t``).  ``seed`` and ``stream`` (e.g. 0 train, 1 test) pick the noise;
    the result does not depend on ``chunk`` or ``workers`` (threads over chunks; numpy
    releases the GIL in its loops).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or images.shape[1] > SENSOR_SIZE[1] or images.shape[2] > SENSOR_SIZE[0]:
        raise ValueError(f"images must be [N, H, W] with H, W <= 34, got {images.shape}")
    if not 0 < chunk < 2**15:  # the sample index inside a chunk is sorted as int16
        raise ValueError(f"chunk must be in 1..{2**15 - 1}, got {chunk}")
    c_on, c_off = _sensor_pattern(sensor, seed, SENSOR_SIZE[0] * SENSOR_SIZE[1])
    starts = range(0, len(images), chunk)
    workers = workers or min(len(os.sched_getaffinity(0)), 8)

    def one(s):
        return _convert_chunk(images[s : s + chunk], s, sensor, seed, stream, c_on, c_off)

    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, starts))
    else:
        results = [one(s) for s in starts]
    counts = np.concatenate([r[1] for r in results]) if results else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    events = np.empty(int(offsets[-1]), dtype=EVENT_DTYPE)
    for s in starts:  # copy chunk by chunk, dropping each once copied: the events are held about once
        chunk_events = results[s // chunk][0]
        events[offsets[s] : offsets[s] + len(chunk_events)] = chunk_events
        results[s // chunk] = None
    return events, offsets


def to_frames(events: np.ndarray, offsets: np.ndarray, time_steps: int) -> np.ndarray:
    """Bin each sample with tonic's ``ToFrame(sensor_size=(34, 34, 2), n_time_bins=time_steps)``.

    Returns ``[N, time_steps, 2, 34, 34]`` uint8 event counts per bin, clipped at 255
    (counts are kept: Speck takes ``n`` events at a pixel in a step as ``n`` input events).
    ``ToFrame`` splits each sample's own span ``[t_first, t_last]`` into equal bins.
    """
    from tonic.transforms import ToFrame

    transform = ToFrame(sensor_size=SENSOR_SIZE, n_time_bins=int(time_steps))
    w, h, p = SENSOR_SIZE
    out = np.empty((len(offsets) - 1, int(time_steps), p, h, w), dtype=np.uint8)
    for i in range(len(out)):
        np.minimum(transform(events[offsets[i] : offsets[i + 1]]), 255, out=out[i], casting="unsafe")
    return out


# ---------------------------------------------------------------- cache

FORMAT_VERSION = 1  # bump when the conversion changes: old cache files are then ignored


def cache_root(data_root: str | os.PathLike | None = None) -> Path:
    """Where converted event sets are kept: ``data_root`` if given, else ``$SNNCLI_CACHE``,
    else ``$XDG_CACHE_HOME/snncli``, else ``~/.cache/snncli``."""
    if data_root:
        return Path(data_root)
    if os.environ.get("SNNCLI_CACHE"):
        return Path(os.environ["SNNCLI_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "snncli"


def cache_path(root: Path, name: str, sensor: DVSSensor, seed: int, limit: int | None) -> Path:
    """``root/dvs/<name>-<hash of sensor + format>-seed<seed>[-first<limit>].npz``."""
    tag = hashlib.sha1(json.dumps([FORMAT_VERSION, asdict(sensor)], sort_keys=True).encode()).hexdigest()[:10]
    return Path(root) / "dvs" / f"{name}-{tag}-seed{seed}{f'-first{limit}' if limit else ''}.npz"


def cached_events(
    path: Path,
    splits: Callable[[], dict[str, tuple[np.ndarray, np.ndarray]]],
    sensor: DVSSensor,
    seed: int,
    log: Callable[[str], None] | None = None,
) -> dict:
    """``{split: (events, offsets, labels)}`` from the cache file ``path``, converting once if it is missing.

    ``splits()`` gives ``{split: (images [N, H, W] in [0, 1], labels)}``; it is only called
    to convert.  Split ``k`` (in the order given) draws its noise from stream ``k``.  The
    file is an uncompressed ``.npz`` (``<split>_events`` structured, ``<split>_offsets``,
    ``<split>_labels``, ``meta``), written atomically; an unreadable one is converted again.
    """
    try:
        with np.load(path) as z:
            names = json.loads(str(z["meta"]))["splits"]
            return {s: (z[f"{s}_events"], z[f"{s}_offsets"], z[f"{s}_labels"]) for s in names}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        if log:
            log(f"cache {path} unreadable ({e}); converting again")
    result, arrays = {}, {}
    for stream, (split, (images, labels)) in enumerate(splits().items()):
        events, offsets = convert(images, sensor, seed=seed, stream=stream)
        labels = np.asarray(labels, dtype=np.int64)
        result[split] = (events, offsets, labels)
        arrays.update({f"{split}_events": events, f"{split}_offsets": offsets, f"{split}_labels": labels})
    meta = {"format": FORMAT_VERSION, "sensor": asdict(sensor), "seed": seed, "splits": list(result)}
    _atomic_savez(path, arrays, meta)
    return result


def _atomic_savez(path: Path, arrays: dict, meta: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise SnnCliError(
            f"cannot write the event cache {path} ({e.strerror}); set SNNCLI_CACHE "
            "or pass --data-root to a writable directory"
        ) from e
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 -> what a plain open() would give
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise SnnCliError(
                f"cannot write the event cache {path} ({e.strerror or e}); set SNNCLI_CACHE "
                "or pass --data-root to a writable directory"
            ) from e
        raise
