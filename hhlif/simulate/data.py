"""Inputs of the 784–128–10 simulation (docs/explanation/authors-code.md#supp-fig-2): weights and the input image.

The authors ship ``weight.mat`` (``W01`` [784×128], ``W12`` [128×10], float64) and ``input.png`` (a 28×28 8-bit
grayscale "0"). They are not part of hhlif; give their paths (``simulate.fc.weights``, ``simulate.fc.image``).
Without paths, equivalents are generated:

* weights, from ``seed``: W01 = 0.01·U(0, 1) (the authors' values lie in (1.2e-7, 0.01], mean 0.0050) and
  W12 exponential with mean 0.36, clipped to [5.4e-4, 1.93] (the authors' range; their values have mean 0.36,
  median 0.23, standard deviation 0.38, a shape an exponential of that mean approximates);
* the image: a real MNIST digit of class ``digit`` (default 0, as the authors' image), the ``index``-th of
  that class in the test part of the embedded MNIST subset that the classification task uses offline
  (hhlif/tasks/lite/; identical on every machine).

Images are used in 0..255 units and flattened **column-major**, as MATLAB's ``image(:)`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hhlif.errors import ConfigError, DataError

W12_MEAN, W12_MIN, W12_MAX = 0.36, 5.4e-4, 1.93
WEIGHT_SUFFIXES = (".mat", ".npz")
IMAGE_SUFFIXES = (".png", ".npy", ".npz")


def generate_weights(seed: int, inputs: int = 784, hidden: int = 128, outputs: int = 10) -> dict[str, np.ndarray]:
    """W01 [inputs×hidden] = 0.01·U(0,1) and W12 [hidden×outputs] (module docstring), from ``seed``."""
    rng = np.random.default_rng(seed)
    w01 = 0.01 * rng.random((inputs, hidden))
    w12 = np.clip(rng.exponential(W12_MEAN, (hidden, outputs)), W12_MIN, W12_MAX)
    return {"W01": w01, "W12": w12}


def load_weights(path: str | Path, key: str = "simulate.fc.weights") -> dict[str, np.ndarray]:
    """``W01`` and ``W12`` from a MATLAB ``.mat`` file (scipy.io.loadmat) or a NumPy ``.npz`` archive."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ConfigError(f"{key}={str(path)!r} is not allowed: expected a .mat or .npz file holding W01 [784×H] "
                          "and W12 [H×O] (the authors' weight.mat).")
    if not path.is_file():
        raise ConfigError(f"{key}={str(path)!r}: no such file. The authors' weight.mat is in "
                        "time_varied_simulation/fully-connected/ of github.com/helx-20/complexity; leave the key "
                        "null to generate weights with the same statistics.")
    try:
        if path.suffix.lower() == ".mat":
            from scipy.io import loadmat

            raw = loadmat(path)
        else:
            with np.load(path, allow_pickle=False) as npz:
                raw = {k: npz[k] for k in npz.files}
    except ImportError:
        raise DataError("reading a .mat file needs scipy (pip install scipy), or convert it to .npz") from None
    except Exception as exc:  # unreadable or not this format
        raise DataError(f"{key}={str(path)!r} cannot be read ({type(exc).__name__}: {exc}).") from None
    missing = [k for k in ("W01", "W12") if k not in raw]
    if missing:
        found = ", ".join(k for k in raw if not k.startswith("__")) or "nothing"
        raise DataError(f"{key}={str(path)!r} lacks {' and '.join(missing)} (it holds {found}).")
    weights = {k: np.asarray(raw[k], dtype=np.float64) for k in ("W01", "W12")}
    check_weights(weights, str(path))
    return weights


def check_weights(weights: dict[str, np.ndarray], where: str) -> None:
    w01, w12 = weights["W01"], weights["W12"]
    if w01.ndim != 2 or w12.ndim != 2 or w01.shape[1] != w12.shape[0]:
        raise DataError(f"{where}: W01 {list(w01.shape)} and W12 {list(w12.shape)} do not chain: expected "
                        "W01 [inputs×hidden] and W12 [hidden×outputs].")
    if not (np.isfinite(w01).all() and np.isfinite(w12).all()):
        raise DataError(f"{where}: the weights hold NaN or infinite values.")


def load_image(path: str | Path, key: str = "simulate.fc.image") -> np.ndarray:
    """A grayscale image in 0..255 units, as a 2-D float64 array (rows, columns).

    PNG: 8-bit (or 16-bit) grayscale, or RGB(A) converted by the luminance weights MATLAB's ``rgb2gray`` uses;
    ``.npy``/``.npz`` (first array): a 2-D array already in 0..255 units.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ConfigError(f"{key}={str(path)!r} is not allowed: expected a .png, .npy or .npz image (the authors' "
                          "input.png).")
    if not path.is_file():
        raise ConfigError(f"{key}={str(path)!r}: no such file. The authors' input.png is in "
                        "time_varied_simulation/fully-connected/ of github.com/helx-20/complexity; leave the key "
                        "null to use an MNIST digit.")
    try:
        if suffix == ".png":
            image = _read_png(path)
        elif suffix == ".npy":
            image = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as npz:
                image = npz[npz.files[0]]
    except Exception as exc:
        raise DataError(f"{key}={str(path)!r} cannot be read ({type(exc).__name__}: {exc}).") from None
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or not np.isfinite(image).all():
        raise DataError(f"{key}={str(path)!r} holds an array of shape {list(image.shape)}: expected one finite "
                        "grayscale image (2-D).")
    return image


def _read_png(path: Path) -> np.ndarray:
    """The PNG's stored integer values (0..255 for 8-bit)."""
    import matplotlib.image as mpimg

    img = mpimg.imread(path)  # float32 in [0, 1] for PNG, whatever the bit depth
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.2989, 0.5870, 0.1140]) if img.shape[2] >= 3 else img[..., 0]
    return np.round(np.asarray(img, dtype=np.float64) * 255.0)


def mnist_digit(digit: int = 0, index: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``index``-th test image of class ``digit`` in the embedded MNIST subset (0..255, [28, 28])."""
    from hhlif.tasks.sources import LITE_TRAIN, load_lite_arrays

    images, labels, entry = load_lite_arrays("mnist")
    test_images, test_labels = images[LITE_TRAIN:], labels[LITE_TRAIN:]
    where = np.flatnonzero(test_labels == digit)
    if index >= len(where):
        raise ConfigError(f"simulate.fc.digit_index={index} is not allowed: the embedded MNIST test subset has "
                          f"{len(where)} images of digit {digit} (0..{len(where) - 1}).")
    k = int(where[index])
    info = {"source": "embedded MNIST subset (hhlif/tasks/lite), test part", "file": entry["file"],
            "sha256": entry["sha256"], "digit": int(digit), "digit_index": int(index),
            "image_index": LITE_TRAIN + k}
    return test_images[k].astype(np.float64), info


def flatten_column_major(image: np.ndarray) -> np.ndarray:
    """MATLAB's ``image(:)``: columns stacked one after another."""
    return np.asarray(image).reshape(-1, order="F")
