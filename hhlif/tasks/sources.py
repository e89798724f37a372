"""Finding, verifying and downloading the source datasets (MNIST and Fashion-MNIST).

For each source the four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or ``.gz``) are looked up in this order:

1. the data root: ``<root>/mnist/`` or ``<root>/fashion-mnist/``, or torchvision's layout
   ``<root>/MNIST/raw/`` or ``<root>/FashionMNIST/raw/``;
2. system dataset folders (Debian's ``dataset-fashion-mnist`` package installs
   ``/usr/share/datasets/fashion-mnist/``; ``/usr/share/datasets/mnist/`` is checked too);
3. a download from the public mirrors into ``<root>/<mnist|fashion-mnist>/``, checked against the published
   md5 sums (to a temporary file, renamed only once the checksum passes);
4. if none of these can serve (an offline machine), the embedded *lite* subset in ``hhlif/tasks/lite/``:
   10,000 real images per source, of which a fixed 8,000 feed the training composites and the other 2,000 the
   test composites. Using it logs a WARNING of two lines, once per process; the data it yields has
   ``variant="lite"``.

A download that failed is remembered in ``<root>/<mnist|fashion-mnist>.download-failed.json`` and not tried
again for :data:`RETRY_AFTER_S` (24 h), so that an offline machine does not wait for the mirrors on every run;
``task.download=retry`` (``download="retry"``) tries at once, as does deleting that file.

Files found on disk are verified too: a ``.gz`` must match the published md5 of the original ``.gz`` or, for a
re-compressed copy such as Debian's, the published md5 of its decompressed contents; a raw file is checked
for structure only (a checksum that differs from the published one is logged).

The data root is ``data.root`` from the configuration, else ``$HHLIF_DATA``, else ``~/.cache/hhlif``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from tqdm import tqdm

from hhlif.errors import DataError, bad_value, unknown_choice
from hhlif.tasks import idx

log = logging.getLogger(__name__)

#: Logical file -> file name (without ``.gz``) of the IDX files of one source.
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

LITE_DIR = Path(__file__).resolve().parent / "lite"
LITE_MANIFEST = "manifest.json"
LITE_COUNT = 10_000
#: The first LITE_TRAIN images of a lite file feed training composites, the rest test composites.
LITE_TRAIN = 8_000

DOWNLOAD_TIMEOUT_S = 30.0
#: a failed download is tried again after this many seconds (task.download=retry: at once)
RETRY_AFTER_S = 24 * 3600.0
#: task.download: fetch missing files (unless a download failed recently), never, or now whatever happened before
DOWNLOAD_CHOICES = (True, False, "retry")
_lite_warned: list[str] = []  # the sources the lite warning was given for in this process
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceSpec:
    """Where one source dataset lives and how to check it."""

    name: str  # "mnist" | "fashion"
    title: str  # for messages
    dirname: str  # folder under the data root
    torchvision_dir: str  # torchvision's folder under the data root
    system_dirs: tuple[str, ...]
    mirrors: tuple[str, ...]
    # file name without .gz -> (md5 of the published .gz, md5 of its decompressed contents)
    md5: dict[str, tuple[str, str]]
    homepage: str


# md5 sums: the ".gz" ones are those torchvision's MNIST/FashionMNIST classes check downloads against; the
# content ones are the md5 of the decompressed files (Fashion-MNIST: confirmed here against Debian's
# dataset-fashion-mnist files, whose .gz are re-compressed and so have other .gz sums).
SOURCES: dict[str, SourceSpec] = {
    "mnist": SourceSpec(
        name="mnist",
        title="MNIST",
        dirname="mnist",
        torchvision_dir="MNIST/raw",
        system_dirs=("/usr/share/datasets/mnist",),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte": (
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "6bbc9ace898e44ae57da46a324031adb",
            ),
            "train-labels-idx1-ubyte": (
                "d53e105ee54ea40749a09fcbcd1e9432",
                "a25bea736e30d166cdddb491f175f624",
            ),
            "t10k-images-idx3-ubyte": (
                "9fb629c4189551a2d022fa330f9573f3",
                "2646ac647ad5339dbf082846283269ea",
            ),
            "t10k-labels-idx1-ubyte": (
                "ec29112dd5afa0611ce80d1b7f02629c",
                "27ae3e4e09519cfbb04c329615203637",
            ),
        },
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion": SourceSpec(
        name="fashion",
        title="Fashion-MNIST",
        dirname="fashion-mnist",
        torchvision_dir="FashionMNIST/raw",
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte": (
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            ),
            "train-labels-idx1-ubyte": (
                "25c81989df183df01b3e8a0aad5dffbe",
                "9018921c3c673c538a1fc5bad174d6f9",
            ),
            "t10k-images-idx3-ubyte": (
                "bef4ecab320f06d8554ea6380940ec79",
                "8181f5470baa50b63fa0f6fddb340f0a",
            ),
            "t10k-labels-idx1-ubyte": (
                "bb300cfdad3c16e7a12a480ee83cd310",
                "15d484375f8d13e6eb1aabb0c3f46965",
            ),
        },
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    ),
}

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def default_root() -> Path:
    """The data root when the config gives none: ``$HHLIF_DATA`` if set, else ``~/.cache/hhlif``."""
    env = os.environ.get("HHLIF_DATA")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/hhlif").expanduser()


@dataclass
class SourceData:
    """One source dataset, located and verified; its arrays are read on first use.

    ``arrays()`` returns ``(train_x uint8 [N,28,28], train_y uint8 [N], test_x, test_y)``. For the lite subset
    the "train" part is the fixed first 8,000 images and the "test" part the remaining 2,000.
    ``fingerprint`` identifies the contents (JSON-serialisable) so that caches built from other contents are
    not reused; ``info`` says where the data came from.
    """

    name: str
    variant: str  # "full" | "lite"
    fingerprint: dict[str, Any]
    info: dict[str, Any]
    loader: Callable[[], Arrays] = field(repr=False)
    _arrays: Arrays | None = field(default=None, repr=False)

    def arrays(self) -> Arrays:
        if self._arrays is None:
            self._arrays = self.loader()
        return self._arrays

    @classmethod
    def from_arrays(
        cls,
        name: str,
        train_x: np.ndarray,
        train_y: np.ndarray,
        test_x: np.ndarray,
        test_y: np.ndarray,
        *,
        variant: str = "full",
        info: dict[str, Any] | None = None,
    ) -> SourceData:
        """Wrap in-memory arrays (used by tests and tools) as a source."""
        arrays = tuple(np.ascontiguousarray(a, dtype=np.uint8) for a in (train_x, train_y, test_x, test_y))
        digest = hashlib.sha256()
        for a in arrays:
            digest.update(repr(a.shape).encode())
            digest.update(a.tobytes())
        return cls(
            name=name,
            variant=variant,
            fingerprint={"variant": variant, "arrays_sha256": digest.hexdigest()},
            info=dict(info or {"origin": "in-memory arrays"}),
            loader=lambda: arrays,  # type: ignore[return-value]
        )


def open_temp(dest: Path) -> tuple[BinaryIO, Path]:
    """A new, empty hidden temporary file beside ``dest`` (same folder, so it can be renamed onto it).

    Opened with ``open(..., "xb")`` so that the final file gets the usual permissions (umask), not 0600.
    """
    while True:
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return open(tmp, "xb"), tmp
        except FileExistsError:  # pragma: no cover - astronomically unlikely
            continue


def get_spec(name: str) -> SourceSpec:
    if name not in SOURCES:
        raise unknown_choice("source", name, SOURCES)
    return SOURCES[name]


def file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def candidate_dirs(spec: SourceSpec, root: Path) -> list[Path]:
    """Folders searched for the IDX files of ``spec``, in order."""
    return [root / spec.dirname, root / spec.torchvision_dir, *(Path(d) for d in spec.system_dirs)]


def _files_in(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Map each IDX file name to its path in ``folder`` (``.gz`` preferred); also list missing names."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for stem in FILES.values():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[stem] = candidate
                break
        else:
            missing.append(stem)
    return found, missing


def verify_file(spec: SourceSpec, stem: str, path: Path) -> dict[str, Any]:
    """Check one file found on disk against the published checksums; return what was checked.

    ``.gz``: md5 of the file, else (a re-compressed copy) md5 of the decompressed contents must match;
    otherwise DataError. Raw files: the structure is validated when read; a differing md5 is only logged.
    """
    gz_md5, raw_md5 = spec.md5[stem]
    if path.suffix == ".gz":
        got = file_md5(path)
        if got == gz_md5:
            return {"path": str(path), "md5": got, "verified": "md5 of published .gz", "content_md5": raw_md5}
        content_md5 = idx.md5_of_bytes(idx.read_bytes(path))
        if content_md5 == raw_md5:
            return {
                "path": str(path),
                "md5": got,
                "verified": "md5 of decompressed contents (re-compressed copy)",
                "content_md5": content_md5,
            }
        raise DataError(
            f"{spec.title} file {path} does not match the published data: md5 {got} (expected {gz_md5} for "
            f"the .gz), decompressed md5 {content_md5} (expected {raw_md5}). It is corrupt or a different "
            f"file. Delete it (hhlif will then download a fresh copy) or replace it with the original "
            f"{stem}.gz from {spec.homepage}."
        )
    content_md5 = file_md5(path)
    if content_md5 != raw_md5:
        log.warning(
            "%s file %s differs from the published %s (md5 %s, expected %s); using it as given.",
            spec.title,
            path,
            stem,
            content_md5,
            raw_md5,
        )
    return {
        "path": str(path),
        "md5": content_md5,
        "verified": "structure only" if content_md5 != raw_md5 else "md5 of raw file",
        "content_md5": content_md5,
    }


def _read_split(files: dict[str, Path]) -> Arrays:
    train_x = idx.read_images(files[FILES["train_images"]])
    train_y = idx.read_labels(files[FILES["train_labels"]])
    test_x = idx.read_images(files[FILES["test_images"]])
    test_y = idx.read_labels(files[FILES["test_labels"]])
    for x, y, xs, ys in (
        (train_x, train_y, "train_images", "train_labels"),
        (test_x, test_y, "test_images", "test_labels"),
    ):
        if len(x) != len(y):
            raise DataError(
                f"{files[FILES[xs]]} holds {len(x)} images but {files[FILES[ys]]} holds {len(y)} labels; "
                f"they must come from the same dataset. Replace both with the original files."
            )
    return train_x, train_y, test_x, test_y


def _full_source(spec: SourceSpec, folder: Path, files: dict[str, Path]) -> SourceData:
    checks = {stem: verify_file(spec, stem, path) for stem, path in files.items()}
    return SourceData(
        name=spec.name,
        variant="full",
        fingerprint={"variant": "full", "content_md5": {s: c["content_md5"] for s, c in checks.items()}},
        info={"variant": "full", "dir": str(folder), "files": checks},
        loader=lambda: _read_split(files),
    )


def _url(mirror: str, filename: str) -> str:
    return mirror.rstrip("/") + "/" + filename


def download_file(
    filename: str,
    dest_dir: Path,
    mirrors: Sequence[str],
    md5: str,
    *,
    title: str = "",
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download ``filename`` from the first mirror that serves it with the right md5 into ``dest_dir``.

    The data goes to a temporary file in ``dest_dir`` that is renamed to ``filename`` only after its md5
    matches; on any failure the next mirror is tried. If none works: DataError listing each attempt and how to
    place the file by hand. No partial file is left behind.
    """
    created = not dest_dir.exists()
    dest = dest_dir / filename
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Cannot create the data folder {dest_dir} ({exc.strerror or exc}). Point data.root or "
            f"HHLIF_DATA at a writable folder."
        ) from None
    attempts: list[str] = []
    for mirror in mirrors:
        url = _url(mirror, filename)
        try:
            out, tmp = open_temp(dest)
        except OSError as exc:
            raise DataError(
                f"Cannot write into the data folder {dest_dir} ({exc.strerror or exc}). Point data.root or "
                f"HHLIF_DATA at a writable folder."
            ) from None
        try:
            log.info("Downloading %s", url)
            h = hashlib.md5(usedforsecurity=False)
            req = urllib.request.Request(url, headers={"User-Agent": "hhlif"})
            with out, urllib.request.urlopen(req, timeout=timeout) as resp:
                total = resp.headers.get("Content-Length")
                with tqdm(
                    total=int(total) if total and total.isdigit() else None,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=filename,
                    leave=False,
                    disable=None,
                ) as bar:
                    for block in iter(lambda: resp.read(_CHUNK), b""):
                        out.write(block)
                        h.update(block)
                        bar.update(len(block))
            got = h.hexdigest()
            if got != md5:
                attempts.append(f"{url}: md5 mismatch (got {got}, expected {md5})")
                log.warning("Download of %s has md5 %s, expected %s; trying the next mirror.", url, got, md5)
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                reason = f"HTTP {exc.code} {exc.reason}"
            else:
                reason = getattr(exc, "reason", None) or exc
            attempts.append(f"{url}: {reason}")
            log.info("Could not download %s: %s", url, reason)
        finally:
            out.close()
            tmp.unlink(missing_ok=True)
    if created:
        with contextlib.suppress(OSError):
            dest_dir.rmdir()  # we made it and got nothing; only succeeds while it is empty
    tried = "\n".join(f"  - {a}" for a in attempts) or "  (no mirrors configured)"
    error = DataError(
        f"Could not download {title + ' ' if title else ''}file {filename}. Tried:\n{tried}\n"
        f"To install it by hand, fetch {filename} (md5 {md5}) from one of these addresses on a machine with "
        f"internet access and copy it into {dest_dir}/."
    )
    error.attempts = attempts  # type: ignore[attr-defined]
    raise error


def download_source(spec: SourceSpec, root: Path) -> Path:
    """Download the IDX files of ``spec`` that ``<root>/<dirname>/`` lacks; return that folder."""
    dest_dir = root / spec.dirname
    _, missing = _files_in(dest_dir)
    for stem in missing:
        download_file(f"{stem}.gz", dest_dir, spec.mirrors, spec.md5[stem][0], title=spec.title)
    return dest_dir


def _read_manifest() -> dict[str, Any]:
    path = LITE_DIR / LITE_MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(
            f"The embedded lite data manifest {path} cannot be read ({exc}). Reinstall hhlif, or rebuild the "
            f"lite files with scripts/build_lite_data.py."
        ) from None


def load_lite_arrays(name: str, *, verify: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Load the embedded lite images/labels of source ``name`` (checked against the manifest's sha256)."""
    manifest = _read_manifest()
    entry = manifest.get("files", {}).get(name)
    if entry is None:
        raise DataError(f"The embedded lite data has no '{name}' entry in {LITE_DIR / LITE_MANIFEST}.")
    path = LITE_DIR / entry["file"]
    fix = "Reinstall hhlif, or rebuild the lite files with scripts/build_lite_data.py."
    if not path.is_file():
        raise DataError(f"The embedded lite data file {path} is missing. {fix}")
    if verify:
        got = file_sha256(path)
        if got != entry["sha256"]:
            raise DataError(
                f"The embedded lite data file {path} is corrupt: sha256 {got}, expected {entry['sha256']} "
                f"(from {LITE_MANIFEST}). {fix}"
            )
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"The embedded lite data file {path} cannot be read ({exc}). {fix}") from None
    count = entry.get("count", LITE_COUNT)
    if images.shape != (count, 28, 28) or labels.shape != (count,) or images.dtype != np.uint8:
        raise DataError(
            f"The embedded lite data file {path} holds images {images.shape} {images.dtype} and labels "
            f"{labels.shape}, expected uint8 [{count}, 28, 28] and [{count}]. {fix}"
        )
    return images, labels, entry


def load_lite(name: str) -> SourceData:
    """The embedded lite subset of ``name`` as a SourceData (train = first 8,000, test = last 2,000)."""
    images, labels, entry = load_lite_arrays(name)
    arrays = (images[:LITE_TRAIN], labels[:LITE_TRAIN], images[LITE_TRAIN:], labels[LITE_TRAIN:])
    return SourceData(
        name=name,
        variant="lite",
        fingerprint={"variant": "lite", "sha256": entry["sha256"], "train": LITE_TRAIN},
        info={
            "variant": "lite",
            "file": entry["file"],
            "sha256": entry["sha256"],
            "provenance": entry.get("provenance"),
            "train_images": LITE_TRAIN,
            "test_images": len(images) - LITE_TRAIN,
        },
        loader=lambda: arrays,
    )


def failure_mark(spec: SourceSpec, root: Path) -> Path:
    """The file that records a failed download of ``spec`` under the data root ``root``."""
    return root / f"{spec.dirname}.download-failed.json"


def _recent_failure(mark: Path) -> str | None:
    """Why not to download now: the failure recorded in ``mark`` within RETRY_AFTER_S, or None."""
    try:
        when = mark.stat().st_mtime
    except OSError:
        return None
    age = time.time() - when
    if not 0 <= age < RETRY_AFTER_S:
        return None
    return (f"its download failed {_ago(age)} ago and is tried again after {RETRY_AFTER_S / 3600:g} h "
            f"(now: task.download=retry, or delete {mark})")


def _ago(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{max(1, round(seconds / 60))} min"


def _remember_failure(mark: Path, reason: str) -> None:
    """Record a failed download in ``mark`` (best effort: a read-only data root only means retrying next time)."""
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(json.dumps({"failed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "reason": reason,
                                    "retry": "task.download=retry, or delete this file"}, indent=1) + "\n")
    except OSError as exc:
        log.debug("Could not record the failed download in %s: %s", mark, exc)


def _warn_lite(spec: SourceSpec, root: Path, reason: str, looked: list[str]) -> None:
    """The lite-data warning: two lines, once per process (the details at DEBUG level)."""
    reason = " ".join(reason.split())
    log.debug("%s: the full data was not found (looked in %s) and %s", spec.title, "; ".join(looked), reason)
    if spec.name in _lite_warned:
        return
    if _lite_warned:
        log.info("%s: also the embedded LITE subset (%s)", spec.title, reason)
        _lite_warned.append(spec.name)
        return
    _lite_warned.append(spec.name)
    log.warning(
        "Using the embedded LITE subset of %s (%d real images, %d for training): results are not comparable "
        "to the paper's, as the full data is not in %s and %s.\n"
        "    Full data: copy its four .gz IDX files into %s (or set data.root / HHLIF_DATA), or run with "
        "internet access (task.download=retry).",
        spec.title, LITE_COUNT, LITE_TRAIN, root / spec.dirname, reason, root / spec.dirname,
    )


def find_source(name: str, root: Path, *, download: bool | str = True) -> SourceData:
    """Locate source ``name`` ("mnist" or "fashion") by the lookup order in the module docstring.
    ``download``: True (unless it failed within :data:`RETRY_AFTER_S`), False, or "retry" (at once)."""
    spec = get_spec(name)
    if download not in DOWNLOAD_CHOICES:
        raise bad_value("task.download", download, "true, false or retry")
    looked: list[str] = []
    for folder in candidate_dirs(spec, root):
        files, missing = _files_in(folder)
        if not missing:
            log.debug("Using %s from %s", spec.title, folder)
            return _full_source(spec, folder, files)
        looked.append(f"{folder}" + (f" (incomplete: lacks {', '.join(missing)})" if files else ""))
    mark = failure_mark(spec, root)
    skip = _recent_failure(mark) if download is True else None
    if skip:
        reason = skip
    elif download:
        try:
            folder = download_source(spec, root)
        except DataError as exc:
            attempts = getattr(exc, "attempts", None)
            _remember_failure(mark, "; ".join(attempts) if attempts else str(exc))
            why = sorted({a.rsplit(": ", 1)[-1] for a in attempts}) if attempts else [str(exc)]
            reason = (f"its download failed ({'; '.join(why)}"
                      + (f", {len(attempts)} mirrors tried" if attempts and len(attempts) > 1 else "") + ")")
        else:
            mark.unlink(missing_ok=True)
            files, missing = _files_in(folder)
            if missing:  # cannot happen unless the folder changed under us
                raise DataError(
                    f"{spec.title} files {', '.join(missing)} vanished from {folder} after download."
                )
            return _full_source(spec, folder, files)
    else:
        reason = "downloading is disabled (task.download=false)"
    data = load_lite(name)
    _warn_lite(spec, root, reason, looked)
    data.info["fallback_reason"] = reason
    return data
