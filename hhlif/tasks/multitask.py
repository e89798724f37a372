"""The two-label 36x36 multi-task datasets (MultiMNIST, MultiFashion, MultiFashion+MNIST) and their cache.

Each sample is a 36x36 canvas holding two 28x28 items: the *top-left* item at rows/cols ``[0:28, 0:28]`` and
the *bottom-right* item at ``[8:36, 8:36]``; where they overlap the brighter pixel wins (``max``). The labels
are ``[N, 2]`` int64: column 0 is the class of the top-left item (task 1), column 1 that of the bottom-right
item (task 2).

=====================  ==================  =====================
dataset                top-left (task 1)   bottom-right (task 2)
=====================  ==================  =====================
``multimnist``         MNIST digit         MNIST digit
``multifashion``       Fashion-MNIST item  Fashion-MNIST item
``multifashion_mnist`` MNIST digit         Fashion-MNIST item
=====================  ==================  =====================

Recipe (deterministic from :data:`BUILD_SEED`, vectorised): 120,000 training composites from the 60,000
training images of the source(s), composite ``i`` having training image ``i % 60000`` top-left (so every image
is the top-left item of exactly 2 composites) and a bottom-right partner drawn uniformly at random from the
bottom-right source's training images (never the same image when both sources are the same); 20,000 test
composites the same way from the 10,000 test images. With the embedded *lite* subset (see
:mod:`hhlif.tasks.sources`) the same sizes and recipe are used on its fixed 8,000 / 2,000 split, so training
and test composites never share a source image.

Pixel scale. Images stay uint8 (0..255) in memory and in the cache; :class:`hhlif.tasks.batches.ImageBatches`
turns them into float32 in units where 255 = ``pixel_max`` (default 255.0, i.e. the raw 0..255 values). The
paper's input-noise amplitudes (25, 50, 75) and its HH neurons' thresholds only make sense for 0..255 inputs:
with [0, 1] inputs a noise of sigma = 25 drowns the image and the HH encoders never reach threshold.

ParetoMTL pickles. If the user gives a pickle, or ``multi_mnist.pickle`` / ``multi_fashion.pickle`` /
``multi_fashion_and_mnist.pickle`` lies in ``<root>/multitask/`` or ``<root>/``, it is used instead of
building: a pickled ``(trainX, trainLabel, testX, testLabel)``, images reshapeable to ``[N, 36, 36]``, labels
``[N, 2]``.
Values with max <= 1 are taken as [0, 1] and multiplied by 255; they are stored as uint8 when they are then
whole numbers (within 1e-3), else as float32 in 0..255 units. A pickle is read by a restricted unpickler
(:class:`SafeUnpickler`) that admits only what such a file holds: NumPy arrays, dtypes and scalars, tuples,
lists, dicts, strings and numbers. A pickle naming anything else (a function, a class, a module) is refused
without running it, so a pickle from someone else's folder cannot run code.

Cache. Built composites are saved as ``<root>/multitask/<name>-<variant>-v1.npz`` with a sidecar ``.sha256``,
written to a temporary file and renamed, under an exclusive ``flock`` on ``<cache>.lock`` (a second job
waits, then reuses the file; the lock's holder removes temporary files a builder killed outright left). The
cache records what it was built from (source checksums, seed, sizes) and is rebuilt when that differs or when
its checksum fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle as pickle_mod
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hhlif.errors import DataError, unknown_choice
from hhlif.tasks.sources import SourceData, default_root, file_sha256, find_source, open_temp

try:  # POSIX only; elsewhere the cache is written without a lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

__all__ = [
    "DATASETS",
    "PICKLE_NAMES",
    "MultiTaskData",
    "build_or_load",
    "build_split",
    "compose",
    "default_root",
    "load_multitask",
    "load_pickle",
]

#: dataset name -> (top-left source, bottom-right source)
DATASETS: dict[str, tuple[str, str]] = {
    "multimnist": ("mnist", "mnist"),
    "multifashion": ("fashion", "fashion"),
    "multifashion_mnist": ("mnist", "fashion"),
}
#: dataset name -> file name of the matching ParetoMTL pickle
PICKLE_NAMES: dict[str, str] = {
    "multimnist": "multi_mnist.pickle",
    "multifashion": "multi_fashion.pickle",
    "multifashion_mnist": "multi_fashion_and_mnist.pickle",
}

BUILD_SEED = 20240607
TRAIN_SIZE = 120_000
TEST_SIZE = 20_000
CACHE_VERSION = 1
CANVAS = 36
ITEM = 28
OFFSET = CANVAS - ITEM  # bottom-right item starts at row/col 8
_CHUNK = 20_000
_KEYS = ("train_x", "train_y", "test_x", "test_y")


@dataclass
class MultiTaskData:
    """A two-task dataset: images ``[N, 36, 36]`` (uint8 0..255, or float32 in 0..255 units for some
    pickles) and labels ``[N, 2]`` int64 (column 0 = top-left item's class, column 1 = bottom-right's)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    variant: str  # "full" | "lite" | "pickle"
    info: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# composing


def compose(top_left: np.ndarray, bottom_right: np.ndarray) -> np.ndarray:
    """Place ``top_left`` at ``[0:28, 0:28]`` and ``bottom_right`` at ``[8:36, 8:36]`` of 36x36 canvases.

    Both are uint8 ``[N, 28, 28]``; overlapping pixels take the maximum. Returns uint8 ``[N, 36, 36]``.
    """
    if top_left.shape != bottom_right.shape or top_left.shape[1:] != (ITEM, ITEM):
        raise ValueError(
            f"expected two [N, {ITEM}, {ITEM}] arrays, got {top_left.shape} and {bottom_right.shape}"
        )
    canvas = np.zeros((len(top_left), CANVAS, CANVAS), dtype=np.uint8)
    canvas[:, :ITEM, :ITEM] = top_left
    region = canvas[:, OFFSET:, OFFSET:]
    np.maximum(region, bottom_right, out=region)
    return canvas


def pair_indices(
    n_out: int, n_top: int, n_partner: int, rng: np.random.Generator, *, same_pool: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the top-left (``i % n_top``) and bottom-right (random) item of each composite.

    With ``same_pool`` the partner is drawn from the other ``n_top - 1`` images of the same pool.
    """
    top = np.arange(n_out, dtype=np.int64) % n_top
    if same_pool:
        if n_partner != n_top or n_top < 2:
            raise ValueError("same_pool needs one pool of at least 2 images")
        partner = rng.integers(0, n_top - 1, size=n_out, dtype=np.int64)
        partner += partner >= top  # skip the top-left image itself, uniform over the rest
    else:
        partner = rng.integers(0, n_partner, size=n_out, dtype=np.int64)
    return top, partner


def build_split(
    tl_x: np.ndarray,
    tl_y: np.ndarray,
    br_x: np.ndarray,
    br_y: np.ndarray,
    n_out: int,
    rng: np.random.Generator,
    *,
    same_pool: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_out`` composites (uint8 ``[n_out, 36, 36]``) and labels (int64 ``[n_out, 2]``) from two pools."""
    top, partner = pair_indices(n_out, len(tl_x), len(br_x), rng, same_pool=same_pool)
    x = np.empty((n_out, CANVAS, CANVAS), dtype=np.uint8)
    for start in range(0, n_out, _CHUNK):  # chunks bound the temporary memory
        sl = slice(start, start + _CHUNK)
        x[sl] = compose(tl_x[top[sl]], br_x[partner[sl]])
    y = np.stack([tl_y[top], br_y[partner]], axis=1).astype(np.int64)
    return x, y


def build_arrays(
    tl: SourceData, br: SourceData, *, n_train: int, n_test: int, seed: int
) -> dict[str, np.ndarray]:
    """Build the train and test composites of a dataset from its two sources."""
    same = tl.name == br.name
    tl_train_x, tl_train_y, tl_test_x, tl_test_y = tl.arrays()
    br_train_x, br_train_y, br_test_x, br_test_y = br.arrays()
    train_x, train_y = build_split(
        tl_train_x,
        tl_train_y,
        br_train_x,
        br_train_y,
        n_train,
        np.random.default_rng([seed, 0]),
        same_pool=same,
    )
    test_x, test_y = build_split(
        tl_test_x, tl_test_y, br_test_x, br_test_y, n_test, np.random.default_rng([seed, 1]), same_pool=same
    )
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


# ---------------------------------------------------------------------------------------------------------
# cache


def cache_path(root: Path, name: str, variant: str) -> Path:
    return Path(root) / "multitask" / f"{name}-{variant}-v{CACHE_VERSION}.npz"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _load_cache(
    path: Path, recipe: dict[str, Any], *, warn: bool
) -> tuple[dict[str, np.ndarray], dict[str, Any], str] | None:
    """The cached arrays, stored info and sha256 if ``path`` is intact and was built from ``recipe``."""
    if not path.exists():
        return None
    report = log.warning if warn else log.debug
    rebuild = "it will be rebuilt"
    try:
        expected = _sidecar(path).read_text().split()[0]
    except (OSError, IndexError):
        report("Cache %s has no readable checksum file %s; %s.", path, _sidecar(path), rebuild)
        return None
    try:
        got = file_sha256(path)
    except OSError as exc:
        report("Cache %s cannot be read (%s); %s.", path, exc, rebuild)
        return None
    if got != expected:
        report("Cache %s is corrupt (sha256 %s, expected %s); %s.", path, got, expected, rebuild)
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in _KEYS}
            stored_recipe = json.loads(str(npz["recipe"]))
            info = json.loads(str(npz["info"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        report("Cache %s cannot be read (%s); %s.", path, exc, rebuild)
        return None
    if stored_recipe != recipe:
        (log.info if warn else log.debug)(
            "Cache %s was built from other inputs or settings; %s.", path, rebuild
        )
        return None
    shapes = {
        "train_x": (recipe["n_train"], CANVAS, CANVAS),
        "train_y": (recipe["n_train"], 2),
        "test_x": (recipe["n_test"], CANVAS, CANVAS),
        "test_y": (recipe["n_test"], 2),
    }
    if any(arrays[k].shape != s for k, s in shapes.items()):
        report("Cache %s holds arrays of unexpected shapes; %s.", path, rebuild)
        return None
    return arrays, info, got


def _save_cache(
    path: Path, arrays: dict[str, np.ndarray], recipe: dict[str, Any], info: dict[str, Any]
) -> str:
    """Write the cache atomically (temp file + rename) with its sidecar; return its sha256."""
    tmp_npz = tmp_sum = None
    try:
        fh, tmp_npz = open_temp(path)
        with fh:
            np.savez(fh, **arrays, recipe=np.array(json.dumps(recipe)), info=np.array(json.dumps(info)))
        digest = file_sha256(tmp_npz)
        fh, tmp_sum = open_temp(_sidecar(path))
        with fh:
            fh.write(f"{digest}  {path.name}\n".encode())
        os.replace(tmp_npz, path)
        os.replace(tmp_sum, _sidecar(path))
        return digest
    finally:
        for tmp in (tmp_npz, tmp_sum):
            if tmp is not None:
                tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``<path>.lock`` (waiting for another holder) while the body runs."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Waiting for another process that is building %s ...", path)
            fcntl.flock(fh, fcntl.LOCK_EX)
        for stale in (*path.parent.glob(f".{path.name}.*.tmp"), *_sidecar(path).parent.glob(
                f".{_sidecar(path).name}.*.tmp")):  # left by a builder killed outright: none is writing now
            stale.unlink(missing_ok=True)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pixel_range(*arrays: np.ndarray) -> list[float]:
    return [float(min(a.min() for a in arrays)), float(max(a.max() for a in arrays))]


def build_or_load(
    name: str,
    root: str | Path,
    top_left: SourceData,
    bottom_right: SourceData,
    *,
    n_train: int = TRAIN_SIZE,
    n_test: int = TEST_SIZE,
    seed: int = BUILD_SEED,
) -> MultiTaskData:
    """Return dataset ``name`` built from the given sources, from the cache under ``root`` when it is valid.

    This is the layer under :func:`load_multitask`; tests and tools call it with small in-memory sources
    (:meth:`SourceData.from_arrays`) and sizes.
    """
    variant = "lite" if "lite" in (top_left.variant, bottom_right.variant) else "full"
    recipe = {
        "version": CACHE_VERSION,
        "dataset": name,
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "top_left": {"source": top_left.name, **top_left.fingerprint},
        "bottom_right": {"source": bottom_right.name, **bottom_right.fingerprint},
    }
    path = cache_path(Path(root), name, variant)
    hit = _load_cache(path, recipe, warn=False)
    if hit is None:
        with contextlib.ExitStack() as stack:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                stack.enter_context(_exclusive(path))
            except OSError as exc:
                log.warning(
                    "Cannot use the cache folder %s (%s); building without a cache.", path.parent, exc
                )
                path = None  # type: ignore[assignment]
            # another process may have built it while we waited for the lock
            hit = _load_cache(path, recipe, warn=True) if path is not None else None
            if hit is None:
                hit = _build_and_save(path, name, variant, top_left, bottom_right, recipe)
    else:
        log.debug("Reusing cache %s", path)
    arrays, info, digest = hit
    info = dict(info)
    info["sources"] = {"top_left": top_left.info, "bottom_right": bottom_right.info}  # this run's view
    info["cache"] = {"path": str(path) if path is not None else None, "sha256": digest}
    return MultiTaskData(
        train_x=torch.from_numpy(arrays["train_x"]),
        train_y=torch.from_numpy(arrays["train_y"]),
        test_x=torch.from_numpy(arrays["test_x"]),
        test_y=torch.from_numpy(arrays["test_y"]),
        variant=variant,
        info=info,
    )


def _build_and_save(
    path: Path | None,
    name: str,
    variant: str,
    top_left: SourceData,
    bottom_right: SourceData,
    recipe: dict[str, Any],
) -> tuple[dict[str, np.ndarray], dict[str, Any], str | None]:
    start = time.perf_counter()
    arrays = build_arrays(
        top_left, bottom_right, n_train=recipe["n_train"], n_test=recipe["n_test"], seed=recipe["seed"]
    )
    info = {
        "dataset": name,
        "variant": variant,
        "build_seed": recipe["seed"],
        "n_train": recipe["n_train"],
        "n_test": recipe["n_test"],
        "sources": {"top_left": top_left.info, "bottom_right": bottom_right.info},
        "pixel_range": _pixel_range(arrays["train_x"], arrays["test_x"]),
        "pixel_dtype": "uint8",
    }
    log.info("Built %s (%s) in %.1f s", name, variant, time.perf_counter() - start)
    digest = None
    if path is not None:
        try:
            digest = _save_cache(path, arrays, recipe, info)
            log.info("Saved cache %s", path)
        except OSError as exc:
            log.warning("Could not write the cache %s (%s); continuing without it.", path, exc)
    return arrays, info, digest


# ---------------------------------------------------------------------------------------------------------
# ParetoMTL pickles


def find_pickle(name: str, root: Path, given: str | Path | None = None) -> Path | None:
    """The pickle to use for ``name``: ``given`` (must exist), else a ParetoMTL-named one under ``root``."""
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise DataError(
                f"Data pickle {path} does not exist. Give the path of a ParetoMTL pickle "
                f"(e.g. {PICKLE_NAMES.get(name, 'multi_mnist.pickle')}), or leave it unset to build the "
                f"dataset."
            )
        return path
    for path in (root / "multitask" / PICKLE_NAMES[name], root / PICKLE_NAMES[name]):
        if path.is_file():
            return path
    return None


_PICKLE_EXPECT = (
    "expected a pickled 4-tuple (trainX, trainLabel, testX, testLabel) as written by ParetoMTL, "
    "images reshapeable to [N, 36, 36] and labels of shape [N, 2]"
)


class _Refused(pickle_mod.UnpicklingError):
    """A pickle named something a data file never holds (raised before it is looked up)."""


def _latin1(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as pickles of ``bytes`` (protocol < 3) use it, for the latin-1 codec only."""
    if encoding not in ("latin1", "latin-1") or errors != "strict" or not isinstance(text, str):
        raise _Refused(f"it encodes text with {encoding!r}, which a data pickle never does; refused without "
                       "running it")
    return text.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    from numpy._core import multiarray, numeric

    out: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                       ("_codecs", "encode"): _latin1}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # NumPy 1 and 2 spell it differently
        out[(module, "_reconstruct")] = multiarray._reconstruct
        out[(module, "scalar")] = multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        out[(module, "_frombuffer")] = numeric._frombuffer
    return out


class SafeUnpickler(pickle_mod.Unpickler):
    """An unpickler that builds only NumPy arrays, dtypes and scalars and Python's plain containers, strings and
    numbers: any other global a pickle names (``os.system``, a class, ``builtins.eval``...) is refused before it
    is looked up, so unpickling runs no code from the file."""

    ALLOWED = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        found = self.ALLOWED.get((module, name))
        if found is None:
            raise _Refused(f"it names {module}.{name}, which a data pickle never holds; refused without running it")
        return found


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            try:
                return SafeUnpickler(fh).load()
            except UnicodeDecodeError:  # made by Python 2
                fh.seek(0)
                return SafeUnpickler(fh, encoding="latin1").load()
    except _Refused as exc:
        raise DataError(f"Refusing {path}: {exc}. Only pickles holding NumPy arrays, numbers and plain containers "
                        f"are read; {_PICKLE_EXPECT}. Remove the file (or task.pickle) if you did not make it, or "
                        "re-save it as plain arrays.") from None
    except Exception as exc:  # unpickling can fail in many ways; all mean "not a usable pickle"
        raise DataError(f"Cannot unpickle {path} ({type(exc).__name__}: {exc}); {_PICKLE_EXPECT}.") from None


def _pickle_images(path: Path, what: str, obj: Any) -> np.ndarray:
    try:
        x = np.asarray(obj)
        if x.dtype.kind not in "uif" or x.size % (CANVAS * CANVAS) or x.size == 0:
            raise ValueError(f"{x.dtype} array of shape {list(x.shape)}")
        return x.reshape(-1, CANVAS, CANVAS)
    except (ValueError, TypeError) as exc:
        raise DataError(f"In {path}, {what} is not usable ({exc}); {_PICKLE_EXPECT}.") from None


def _pickle_labels(path: Path, what: str, obj: Any, n: int) -> np.ndarray:
    try:
        y = np.asarray(obj)
        if y.dtype.kind not in "uif" or y.shape != (n, 2):
            raise ValueError(f"{y.dtype} array of shape {list(y.shape)} for {n} images")
        if y.dtype.kind == "f" and not np.array_equal(y, np.rint(y)):
            raise ValueError("labels are not whole numbers")
        if y.size and y.min() < 0:
            raise ValueError("negative labels")
        return y.astype(np.int64)
    except (ValueError, TypeError) as exc:
        raise DataError(f"In {path}, {what} is not usable ({exc}); {_PICKLE_EXPECT}.") from None


def load_pickle(path: str | Path) -> MultiTaskData:
    """Load a ParetoMTL-style pickle into 0..255 units (see the module docstring)."""
    path = Path(path)
    obj = _unpickle(path)
    if not isinstance(obj, (tuple, list)) or len(obj) != 4:
        got = f"a {type(obj).__name__}" + (f" of length {len(obj)}" if isinstance(obj, (tuple, list)) else "")
        raise DataError(f"{path} holds {got}; {_PICKLE_EXPECT}.")
    train_x = _pickle_images(path, "trainX (item 1)", obj[0])
    test_x = _pickle_images(path, "testX (item 3)", obj[2])
    train_y = _pickle_labels(path, "trainLabel (item 2)", obj[1], len(train_x))
    test_y = _pickle_labels(path, "testLabel (item 4)", obj[3], len(test_x))

    measured = _pixel_range(train_x, test_x)
    scale = 255.0 if measured[1] <= 1.0 else 1.0
    xs = []
    for x in (train_x, test_x):
        x = x.astype(np.float32)  # a copy: the pickle's arrays are left alone
        if scale != 1.0:
            x *= np.float32(scale)
        xs.append(x)
    lo, hi = measured[0] * scale, measured[1] * scale
    whole = all(np.abs(x - np.rint(x)).max() <= 1e-3 for x in xs)
    if whole and lo >= 0 and hi <= 255.5:
        xs = [np.rint(x).astype(np.uint8) for x in xs]
        dtype = "uint8"
    else:
        dtype = "float32"
        if lo < 0 or hi > 255.5:
            log.warning(
                "Pixels in %s span %.3g..%.3g, outside 0..255 (or 0..1); using them as given.", path, lo, hi
            )
    info = {
        "dataset_pickle": str(path),
        "sha256": file_sha256(path),
        "pixel_range_measured": measured,
        "rescaled_by": scale,
        "pixel_range": _pixel_range(*xs),
        "pixel_dtype": dtype,
        "n_train": len(xs[0]),
        "n_test": len(xs[1]),
    }
    log.info(
        "Loaded %s: %d train / %d test, pixels %.3g..%.3g%s, kept as %s",
        path,
        len(xs[0]),
        len(xs[1]),
        measured[0],
        measured[1],
        " (rescaled x255)" if scale != 1.0 else "",
        dtype,
    )
    return MultiTaskData(
        train_x=torch.from_numpy(xs[0]),
        train_y=torch.from_numpy(train_y),
        test_x=torch.from_numpy(xs[1]),
        test_y=torch.from_numpy(test_y),
        variant="pickle",
        info=info,
    )


# ---------------------------------------------------------------------------------------------------------
# entry point


def load_multitask(
    name: str,
    root: str | Path | None = None,
    *,
    pickle: str | Path | None = None,
    download: bool | str = True,
) -> MultiTaskData:
    """Load dataset ``name`` (a key of :data:`DATASETS`).

    ``root``: data root (None = :func:`default_root`). ``pickle``: a ParetoMTL pickle to use instead of
    building. ``download``: allow fetching missing source files from the public mirrors (True: unless that failed
    within the last 24 h; "retry": at once; see :mod:`hhlif.tasks.sources`). Without the full
    sources (and without internet access) the embedded lite subset is used with a warning
    (``variant="lite"``).
    """
    if name not in DATASETS:
        raise unknown_choice("task.dataset", name, DATASETS)
    root = Path(root).expanduser() if root is not None else default_root()
    pickle_path = find_pickle(name, root, pickle)
    if pickle_path is not None:
        return load_pickle(pickle_path)
    tl_name, br_name = DATASETS[name]
    top_left = find_source(tl_name, root, download=download)
    bottom_right = top_left if br_name == tl_name else find_source(br_name, root, download=download)
    return build_or_load(
        name, root, top_left, bottom_right, n_train=TRAIN_SIZE, n_test=TEST_SIZE, seed=BUILD_SEED
    )


def check_labels(data: MultiTaskData, classes: int) -> None:
    """Raise DataError unless every label of ``data`` is a class of a ``classes``-way task (0 .. classes-1)."""
    for split, y in (("train", data.train_y), ("test", data.test_y)):
        if y.numel() and int(y.max()) >= classes:
            source = data.info.get("dataset_pickle", data.variant)
            raise DataError(f"{source}: the {split} labels reach {int(y.max())}, but each task has {classes} classes "
                            f"(labels 0..{classes - 1}). Check that the file is the one for this task, or set "
                            "task.classes to match it.")


def sha256_of_arrays(*arrays: np.ndarray) -> str:
    """A digest of array contents (shapes included), e.g. to compare two builds."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()
