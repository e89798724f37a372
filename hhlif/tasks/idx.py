"""Reader for the IDX file format used by MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then
the data in row-major order (big-endian for multi-byte types). Files may be stored raw or gzip-compressed
(``.gz``). Every check failure raises :class:`hhlif.errors.DataError` naming the file, what was expected and
how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from hhlif.errors import DataError

# IDX type code -> numpy dtype (big-endian where it matters)
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

_FIX = (
    "Delete the file and let hhlif download it again, or replace it with an intact copy of the original "
    "MNIST/Fashion-MNIST file."
)


def read_bytes(path: str | Path) -> bytes:
    """Return the decompressed contents of an IDX file (raw, or gzip by name or by magic bytes)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"Cannot read data file {path}: {exc.strerror or exc}. Check that it exists and is readable."
        ) from None
    if data[:2] == _GZIP_MAGIC or path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"Data file {path} is not a complete gzip file ({exc}); it is probably truncated or "
                f"corrupt. {_FIX}"
            ) from None
    return data


def parse_idx(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Parse decompressed IDX bytes into an array (native byte order); ``path`` only names it in errors."""
    if len(data) < 4:
        raise DataError(f"Data file {path} is too short to be an IDX file ({len(data)} bytes). {_FIX}")
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _DTYPES or not 1 <= ndim <= 8:
        raise DataError(
            f"Data file {path} is not an IDX file: its magic number is 0x{data[:4].hex()}, expected "
            f"0x0000TTNN (TT a type code such as 08 for uint8, NN the number of dimensions; MNIST images "
            f"are 0x00000803, labels 0x00000801). {_FIX}"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"Data file {path} is truncated: its header declares {ndim} dimensions but the file ends after "
            f"{len(data)} bytes. {_FIX}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[type_code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"Data file {path} is {what}: header declares shape {dims} of {dtype.name} "
            f"({expected} bytes in all), but it holds {len(data)} bytes. {_FIX}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path, *, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """Read an IDX file; if ``shape`` is given (``None`` = any size), check the array matches it."""
    arr = parse_idx(read_bytes(path), path)
    check_shape(arr, shape, path)
    return arr


def check_shape(arr: np.ndarray, shape: tuple[int | None, ...] | None, path: str | Path) -> None:
    """Raise DataError unless ``arr.shape`` matches ``shape`` (``None`` entries match any size)."""
    if shape is None:
        return
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape, strict=True))
    if not ok:
        want = "[" + ", ".join("N" if s is None else str(s) for s in shape) + "]"
        raise DataError(
            f"Data file {path} holds an array of shape {list(arr.shape)}, expected {want}. "
            f"Check that the file is the right one (images vs labels). {_FIX}"
        )


def read_images(path: str | Path) -> np.ndarray:
    """Read an MNIST-style image file: uint8 ``[N, 28, 28]``."""
    arr = read_idx(path, shape=(None, 28, 28))
    if arr.dtype != np.uint8:
        raise DataError(f"Data file {path} holds {arr.dtype} values, expected uint8 pixels. {_FIX}")
    return arr


def read_labels(path: str | Path, num_classes: int = 10) -> np.ndarray:
    """Read an MNIST-style label file: uint8 ``[N]`` with values in ``0..num_classes-1``."""
    arr = read_idx(path, shape=(None,))
    if arr.dtype != np.uint8 or (arr.size and int(arr.max()) >= num_classes):
        raise DataError(
            f"Data file {path} holds labels outside 0..{num_classes - 1} (dtype {arr.dtype}, "
            f"max {arr.max() if arr.size else None}). {_FIX}"
        )
    return arr


def md5_of_bytes(data: bytes) -> str:
    """Hex md5 of a byte string (used to identify decompressed IDX contents)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
