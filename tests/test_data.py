"""Data layer tests: IDX reader, sources and downloads, lite subset, composites, cache, pickles, batches."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import json
import logging
import os
import pickle
import shutil
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hhlif.errors import ConfigError, DataError
from hhlif.tasks import idx, multitask, sources
from hhlif.tasks.batches import ImageBatches, Noise
from hhlif.tasks.multitask import build_or_load, build_split, compose, load_multitask, load_pickle
from hhlif.tasks.sources import SourceData

# ------------------------------------------------------------------------------------------------------------
# shared fixtures and helpers


def write_idx(path: Path, arr: np.ndarray, type_code: int = 0x08, *, gz: bool = False) -> Path:
    """Write ``arr`` as an IDX file (big-endian data), raw or gzip-compressed."""
    dtypes = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}
    data = bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data += np.asarray(arr).astype(dtypes[type_code]).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_source(name: str, n_train: int, n_test: int, *, offset: int = 0) -> SourceData:
    """A tiny in-memory source: image k has k+1+offset at pixels (0, 0), (27, 27); label (k+offset) % 10."""

    def part(n: int, base: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.zeros((n, 28, 28), dtype=np.uint8)
        x[:, 0, 0] = np.arange(n) + 1 + base
        x[:, 27, 27] = np.arange(n) + 1 + base
        return x, ((np.arange(n) + base) % 10).astype(np.uint8)

    tx, ty = part(n_train, offset)
    vx, vy = part(n_test, offset + 100)
    return SourceData.from_arrays(name, tx, ty, vx, vy)


@pytest.fixture
def http_dir(tmp_path):
    """Serve a fresh folder on http://127.0.0.1:<port>/; yields (folder, base url)."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".part")))


# ------------------------------------------------------------------------------------------------------------
# IDX reader


def test_idx_reads_raw_and_gz_images(tmp_path):
    imgs = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    raw = write_idx(tmp_path / "imgs-idx3-ubyte", imgs)
    gz = write_idx(tmp_path / "imgs-idx3-ubyte.gz", imgs, gz=True)
    for path in (raw, gz):
        got = idx.read_images(path)
        assert got.shape == (3, 28, 28) and got.dtype == np.uint8
        assert got[0, 0, 0] == 0 and got[0, 0, 5] == 5 and got[1, 0, 0] == (784 % 256)
        np.testing.assert_array_equal(got, imgs)
    labels = write_idx(tmp_path / "labels-idx1-ubyte", np.array([7, 0, 9]))
    np.testing.assert_array_equal(idx.read_labels(labels), [7, 0, 9])


def test_idx_multibyte_types_are_big_endian(tmp_path):
    path = write_idx(tmp_path / "ints", np.array([[1, -2], [70000, 3]]), type_code=0x0C)
    got = idx.read_idx(path)
    assert got.shape == (2, 2) and got.tolist() == [[1, -2], [70000, 3]]


def test_idx_truncated_file_names_the_file(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is truncated") as exc:
        idx.read_images(path)
    assert "1584 bytes" in str(exc.value) and "download it again" in str(exc.value)


def test_idx_truncated_gzip_is_reported(tmp_path):
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.ones((5, 28, 28), dtype=np.uint8), gz=True)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is not a complete gzip file"):
        idx.read_images(path)


def test_idx_bad_magic_and_wrong_shape(tmp_path):
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(DataError, match="bad-idx3-ubyte is not an IDX file: its magic number is 0x12340803"):
        idx.read_idx(bad)
    labels = write_idx(tmp_path / "labels", np.array([1, 2, 3]))
    with pytest.raises(DataError, match=r"shape \[3\], expected \[N, 28, 28\]"):
        idx.read_images(labels)
    too_big = write_idx(tmp_path / "big-labels", np.array([1, 12]))
    with pytest.raises(DataError, match="labels outside 0..9"):
        idx.read_labels(too_big)


# ------------------------------------------------------------------------------------------------------------
# composites


def test_compose_places_items_and_takes_max_on_overlap():
    tl = np.zeros((1, 28, 28), dtype=np.uint8)
    br = np.zeros((1, 28, 28), dtype=np.uint8)
    tl[0, 0, 0], tl[0, 27, 27], tl[0, 3, 20] = 11, 90, 33
    tl[0, 20, 20] = 200  # overlap: tl wins
    br[0, 12, 12] = 60  # same canvas pixel (20, 20)
    tl[0, 10, 10] = 5  # overlap: br wins
    br[0, 2, 2] = 250  # canvas (10, 10)
    br[0, 0, 0], br[0, 27, 27] = 77, 99
    c = compose(tl, br)
    assert c.shape == (1, 36, 36) and c.dtype == np.uint8
    assert c[0, 0, 0] == 11 and c[0, 3, 20] == 33
    assert c[0, 35, 35] == 99 and c[0, 8, 8] == 77
    assert c[0, 27, 27] == 90  # tl's last pixel; br there (19, 19) is 0
    assert c[0, 20, 20] == 200 and c[0, 10, 10] == 250
    assert int(c.astype(np.int64).sum()) == 11 + 90 + 33 + 200 + 250 + 77 + 99


def test_build_split_recipe_labels_and_partners():
    n = 12
    src_x = np.zeros((n, 28, 28), dtype=np.uint8)
    src_x[:, 0, 0] = np.arange(n) + 1  # top-left id -> canvas (0, 0)
    src_x[:, 27, 27] = np.arange(n) + 1  # bottom-right id -> canvas (35, 35)
    src_y = (np.arange(n) * 7 % 10).astype(np.uint8)
    x, y = build_split(src_x, src_y, src_x, src_y, 2 * n, np.random.default_rng(0), same_pool=True)
    assert x.shape == (24, 36, 36) and y.shape == (24, 2) and y.dtype == np.int64
    top = x[:, 0, 0].astype(int) - 1
    partner = x[:, 35, 35].astype(int) - 1
    np.testing.assert_array_equal(top, np.arange(24) % n)  # composite i has image i % n top-left
    assert np.all(np.bincount(top) == 2)  # each image is top-left of exactly 2 composites
    assert np.all(partner != top)  # never paired with itself
    np.testing.assert_array_equal(y[:, 0], src_y[top])
    np.testing.assert_array_equal(y[:, 1], src_y[partner])


def test_build_is_deterministic_and_seed_dependent():
    a, b = make_source("mnist", 50, 20), make_source("fashion", 40, 10, offset=7)
    one = multitask.build_arrays(a, b, n_train=100, n_test=20, seed=3)
    two = multitask.build_arrays(a, b, n_train=100, n_test=20, seed=3)
    other = multitask.build_arrays(a, b, n_train=100, n_test=20, seed=4)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])
    assert not np.array_equal(one["train_x"], other["train_x"])
    # mixed sources: column 0 from the top-left source, column 1 from the bottom-right one
    tl_train_y, br_train_y = a.arrays()[1], b.arrays()[1]
    np.testing.assert_array_equal(one["train_y"][:, 0], tl_train_y[np.arange(100) % 50])
    partner = one["train_x"][:, 35, 35].astype(int) - 1 - 7
    np.testing.assert_array_equal(one["train_y"][:, 1], br_train_y[partner])
    # the test split uses only test images (their ids start at 101)
    assert one["test_x"][:, 0, 0].min() >= 101


# ------------------------------------------------------------------------------------------------------------
# lite subset


def test_lite_files_match_manifest():
    manifest = json.loads((sources.LITE_DIR / "manifest.json").read_text())
    assert set(manifest["files"]) == {"mnist", "fashion"}
    for name, entry in manifest["files"].items():
        path = sources.LITE_DIR / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        images, labels, _ = sources.load_lite_arrays(name)
        assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (10_000,) and set(np.unique(labels).tolist()) == set(range(10))
        assert np.bincount(labels).tolist() == entry["class_counts"]
        assert set(np.unique(labels[:8000]).tolist()) == set(range(10))
        assert images.max() == 255 and images.mean() > 20  # real images, not blanks
        lite = sources.load_lite(name)
        tx, ty, vx, vy = lite.arrays()
        assert (len(tx), len(vx)) == (8000, 2000)
        np.testing.assert_array_equal(vx, images[8000:])


def test_lite_corruption_is_detected(tmp_path, monkeypatch):
    copy = tmp_path / "lite"
    shutil.copytree(sources.LITE_DIR, copy)
    data = bytearray((copy / "mnist-lite.npz").read_bytes())
    data[1000] ^= 0xFF
    (copy / "mnist-lite.npz").write_bytes(bytes(data))
    monkeypatch.setattr(sources, "LITE_DIR", copy)
    with pytest.raises(DataError, match="mnist-lite.npz is corrupt: sha256"):
        sources.load_lite("mnist")


def test_offline_falls_back_to_lite_with_one_two_line_warning(tmp_path, offline, monkeypatch, caplog):
    monkeypatch.setattr(multitask, "TRAIN_SIZE", 600)
    monkeypatch.setattr(multitask, "TEST_SIZE", 100)
    monkeypatch.setattr(sources, "_lite_warned", [])  # a fresh process
    with caplog.at_level(logging.INFO):
        data = load_multitask("multifashion_mnist", tmp_path)
        again = load_multitask("multimnist", tmp_path)  # the next job of a sweep in the same process
    assert data.variant == "lite" and again.variant == "lite"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and len(warnings[0].splitlines()) == 2, warnings
    assert "LITE subset of MNIST" in warnings[0] and "not comparable to the paper" in warnings[0]
    assert str(tmp_path / "mnist") in warnings[0] and "task.download=retry" in warnings[0]
    assert "Fashion-MNIST: also the embedded LITE subset" in caplog.text
    assert data.train_x.shape == (600, 36, 36) and data.test_y.shape == (100, 2)
    assert data.info["sources"]["top_left"]["variant"] == "lite"
    json.dumps(data.info)  # serialisable


def test_failed_download_is_not_retried_for_a_day(tmp_path, monkeypatch):
    spec = dataclasses.replace(sources.SOURCES["mnist"], mirrors=("http://127.0.0.1:9/",), system_dirs=())
    monkeypatch.setitem(sources.SOURCES, "mnist", spec)
    calls = []
    real = sources.download_source
    monkeypatch.setattr(sources, "download_source", lambda *a: calls.append(1) or real(*a))
    src = sources.find_source("mnist", tmp_path)  # refused at once: the discard port
    mark = tmp_path / "mnist.download-failed.json"
    assert src.variant == "lite" and len(calls) == 1 and mark.is_file()
    assert "Connection refused" in json.loads(mark.read_text())["reason"]
    src = sources.find_source("mnist", tmp_path)  # the next run: not tried, and says how to
    assert len(calls) == 1
    assert "task.download=retry" in src.info["fallback_reason"] and str(mark) in src.info["fallback_reason"]
    sources.find_source("mnist", tmp_path, download="retry")
    assert len(calls) == 2
    old = time.time() - sources.RETRY_AFTER_S - 60
    os.utime(mark, (old, old))  # a day later
    sources.find_source("mnist", tmp_path)
    assert len(calls) == 3
    mark.unlink()
    sources.find_source("mnist", tmp_path, download=False)
    assert len(calls) == 3 and not mark.exists()
    with pytest.raises(ConfigError, match="task.download=.sometimes. is not allowed: expected true, false or retry"):
        sources.find_source("mnist", tmp_path, download="sometimes")


# ------------------------------------------------------------------------------------------------------------
# finding and downloading sources


def test_download_checks_md5_and_leaves_nothing_on_failure(tmp_path, http_dir):
    served, url = http_dir
    payload = gzip.compress(b"hello idx" * 1000)
    (served / "file.gz").write_bytes(payload)
    dest = tmp_path / "dl"

    got = sources.download_file("file.gz", dest, [url], md5(payload))
    assert got == dest / "file.gz" and got.read_bytes() == payload
    assert leftovers(dest) == []

    dest2 = tmp_path / "dl2"
    dest2.mkdir()
    with pytest.raises(DataError, match="md5 mismatch") as exc:
        sources.download_file("file.gz", dest2, [url], "0" * 32)
    assert list(dest2.iterdir()) == []  # no file, no temp file
    assert "copy it into" in str(exc.value) and url in str(exc.value)


def test_download_tries_next_mirror(tmp_path, http_dir):
    served, url = http_dir
    payload = b"\x00" * 5000
    (served / "f.gz").write_bytes(payload)
    dead = "http://127.0.0.1:9/"  # discard port: refused
    got = sources.download_file("f.gz", tmp_path, [dead, url + "missing/", url], md5(payload))
    assert got.read_bytes() == payload
    with pytest.raises(DataError) as exc:
        sources.download_file("f.gz", tmp_path / "x", [dead, url + "missing/"], md5(payload))
    msg = str(exc.value)
    assert "127.0.0.1:9/f.gz: [Errno 111] Connection refused" in msg
    assert f"{url}missing/f.gz: HTTP 404" in msg
    assert not (tmp_path / "x").exists()


def _tiny_idx_set(folder: Path, n_train: int = 30, n_test: int = 10) -> dict[str, tuple[str, str]]:
    """Write the four tiny .gz IDX files; return {stem: (gz md5, content md5)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    sums = {}
    for stem, arr in arrays.items():
        path = write_idx(folder / f"{stem}.gz", arr, gz=True)
        sums[stem] = (md5(path.read_bytes()), md5(gzip.decompress(path.read_bytes())))
    return sums


def test_find_source_downloads_into_root(tmp_path, http_dir, offline, monkeypatch):
    served, url = http_dir
    sums = _tiny_idx_set(served)
    spec = dataclasses.replace(sources.SOURCES["fashion"], mirrors=(url,), md5=sums)
    monkeypatch.setitem(sources.SOURCES, "fashion", spec)
    root = tmp_path / "root"
    src = sources.find_source("fashion", root)
    assert src.variant == "full" and src.info["dir"] == str(root / "fashion-mnist")
    assert sorted(p.name for p in (root / "fashion-mnist").iterdir()) == sorted(f"{s}.gz" for s in sums)
    tx, ty, vx, vy = src.arrays()
    assert tx.shape == (30, 28, 28) and vy.tolist() == list(range(10))


def test_files_on_disk_are_verified(tmp_path, offline, monkeypatch, caplog):
    root = tmp_path / "root"
    sums = _tiny_idx_set(root / "MNIST" / "raw")  # torchvision layout
    spec = sources.SOURCES["mnist"]
    # published .gz md5s do not match these tiny files -> corrupt
    with pytest.raises(DataError, match=r"MNIST file .*train-images-idx3-ubyte\.gz does not match"):
        sources.find_source("mnist", root)
    # a re-compressed copy is accepted when the decompressed contents match
    recompressed = {s: ("f" * 32, content) for s, (_, content) in sums.items()}
    monkeypatch.setitem(sources.SOURCES, "mnist", dataclasses.replace(spec, md5=recompressed))
    src = sources.find_source("mnist", root)
    assert src.variant == "full" and src.info["dir"] == str(root / "MNIST" / "raw")
    assert "re-compressed" in src.info["files"]["train-images-idx3-ubyte"]["verified"]
    # raw files: structure only (a differing checksum is logged, not fatal)
    raw_dir = root / "mnist"
    raw_dir.mkdir()
    for stem in sums:
        (raw_dir / stem).write_bytes(gzip.decompress((root / "MNIST" / "raw" / f"{stem}.gz").read_bytes()))
    monkeypatch.setitem(sources.SOURCES, "mnist", spec)
    with caplog.at_level(logging.WARNING):
        src = sources.find_source("mnist", root)
    assert src.info["dir"] == str(raw_dir) and "using it as given" in caplog.text
    (raw_dir / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x1e" + b"\x01" * 5)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte is truncated"):
        src.arrays()


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("HHLIF_DATA", str(tmp_path))
    assert sources.default_root() == tmp_path
    monkeypatch.delenv("HHLIF_DATA")
    assert sources.default_root() == Path.home() / ".cache" / "hhlif"


def test_unknown_dataset_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'multicifar' is not a known choice.*multifashion_mnist"):
        load_multitask("multicifar", tmp_path)


# ------------------------------------------------------------------------------------------------------------
# cache


def test_cache_is_reused_and_rebuilt_when_corrupt(tmp_path, monkeypatch, caplog):
    a = make_source("mnist", 40, 10)
    first = build_or_load("multimnist", tmp_path, a, a, n_train=80, n_test=20, seed=1)
    path = tmp_path / "multitask" / "multimnist-full-v1.npz"
    sidecar = path.with_name(path.name + ".sha256")
    assert path.is_file() and sidecar.read_text().split()[0] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert first.variant == "full" and first.info["cache"]["path"] == str(path)
    stat = path.stat()

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt although the cache is valid")

    with monkeypatch.context() as m:
        m.setattr(multitask, "build_arrays", no_build)
        second = build_or_load("multimnist", tmp_path, a, a, n_train=80, n_test=20, seed=1)
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_ino == stat.st_ino
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        third = build_or_load("multimnist", tmp_path, a, a, n_train=80, n_test=20, seed=1)
    assert "is corrupt" in caplog.text and "rebuilt" in caplog.text
    assert torch.equal(first.train_x, third.train_x)
    assert sidecar.read_text().split()[0] == hashlib.sha256(path.read_bytes()).hexdigest()

    # other inputs (seed) -> rebuilt, not reused
    fourth = build_or_load("multimnist", tmp_path, a, a, n_train=80, n_test=20, seed=2)
    assert not torch.equal(first.train_x, fourth.train_x)
    assert leftovers(path.parent) == []


def test_cache_write_failure_leaves_no_temp_file(tmp_path, monkeypatch, caplog):
    a = make_source("fashion", 20, 10)

    def broken_savez(fh, **arrays):
        fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken_savez)
    with caplog.at_level(logging.WARNING):
        data = build_or_load("multifashion", tmp_path, a, a, n_train=40, n_test=20, seed=0)
    assert data.train_x.shape == (40, 36, 36)
    assert "continuing without it" in caplog.text
    assert sorted(p.name for p in (tmp_path / "multitask").iterdir()) == ["multifashion-full-v1.npz.lock"]


def test_cache_lock_makes_a_second_builder_wait(tmp_path):
    a = make_source("mnist", 20, 10)
    path = multitask.cache_path(tmp_path, "multimnist", "full")
    path.parent.mkdir(parents=True)
    result = {}

    def job():
        result["data"] = build_or_load("multimnist", tmp_path, a, a, n_train=40, n_test=10, seed=0)

    with multitask._exclusive(path):
        thread = threading.Thread(target=job)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive() and not path.exists()  # waiting for the lock
    thread.join(10)
    assert not thread.is_alive() and result["data"].train_x.shape == (40, 36, 36) and path.exists()


# ------------------------------------------------------------------------------------------------------------
# ParetoMTL pickles


def _write_pickle(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)
    return path


def test_pickle_in_unit_range_is_rescaled_to_uint8(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 36 * 36))
    pixels[0, 0], pixels[0, 1] = 0, 255
    test_pixels = rng.integers(0, 256, (2, 36, 36))
    labels, test_labels = rng.integers(0, 10, (6, 2)), rng.integers(0, 10, (2, 2))
    obj = (pixels / 255.0, labels, (test_pixels / 255.0).astype(np.float32), test_labels)
    # found automatically under <root>/multitask/ by its ParetoMTL name
    _write_pickle(tmp_path / "multitask" / "multi_mnist.pickle", obj)
    data = load_multitask("multimnist", tmp_path)
    assert data.variant == "pickle"
    assert data.train_x.dtype == torch.uint8 and data.train_x.shape == (6, 36, 36)
    np.testing.assert_array_equal(data.train_x.numpy().reshape(6, -1), pixels)
    np.testing.assert_array_equal(data.test_x.numpy(), test_pixels)
    assert data.train_y.dtype == torch.int64 and data.train_y.tolist() == labels.tolist()
    assert data.info["pixel_range_measured"] == [0.0, 1.0] and data.info["rescaled_by"] == 255.0
    json.dumps(data.info)


def test_pickle_with_fractional_values_stays_float(tmp_path):
    x = np.full((3, 36, 36), 12.5, dtype=np.float32)
    x[0, 0, 0] = 200.0
    y = np.zeros((3, 2), dtype=np.int64)
    path = _write_pickle(tmp_path / "any.pickle", [x, y, x[:1], y[:1]])
    data = load_multitask("multifashion", tmp_path / "elsewhere", pickle=path)
    assert (
        data.train_x.dtype == torch.float32
        and data.train_x[0, 0, 0] == 200.0
        and data.train_x[1, 5, 5] == 12.5
    )
    assert data.info["rescaled_by"] == 1.0 and data.info["pixel_range_measured"] == [12.5, 200.0]


def test_malformed_pickles_are_data_errors(tmp_path):
    x, y = np.zeros((2, 36, 36)), np.zeros((2, 2))
    three = _write_pickle(tmp_path / "three.pickle", (x, y, x))
    with pytest.raises(DataError, match=r"three\.pickle holds a tuple of length 3; expected a pickled 4-"):
        load_pickle(three)
    garbage = tmp_path / "garbage.pickle"
    garbage.write_bytes(b"this is not a pickle")
    with pytest.raises(DataError, match=r"Cannot unpickle .*garbage\.pickle"):
        load_pickle(garbage)
    bad_labels = _write_pickle(tmp_path / "labels.pickle", (x, np.zeros((2, 3)), x, y))
    with pytest.raises(DataError, match=r"trainLabel \(item 2\) is not usable"):
        load_pickle(bad_labels)
    bad_images = _write_pickle(tmp_path / "images.pickle", (np.zeros((2, 30, 30)), y, x, y))
    with pytest.raises(DataError, match=r"trainX \(item 1\) is not usable"):
        load_pickle(bad_images)
    with pytest.raises(DataError, match="does not exist"):
        load_multitask("multimnist", tmp_path, pickle=tmp_path / "nope.pickle")


# ------------------------------------------------------------------------------------------------------------
# batches


def _images(n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    x = (torch.arange(n * 36 * 36) % 256).to(torch.uint8).reshape(n, 36, 36)
    x[:, 0, 0] = torch.arange(n, dtype=torch.uint8)  # sample id
    y = torch.stack([torch.arange(n) % 10, (torch.arange(n) + 3) % 10], dim=1)
    return x, y


def test_batches_shapes_dtypes_and_scaling():
    x, y = _images(10)
    batches = ImageBatches(x, y, 4, shuffle=False)
    assert len(batches) == 3 and batches.num_samples == 10
    got = list(batches)
    assert [b[0].shape for b in got] == [(4, 1, 36, 36), (4, 1, 36, 36), (2, 1, 36, 36)]
    assert all(b[0].dtype == torch.float32 and b[1].dtype == torch.int64 and b[1].shape[1] == 2 for b in got)
    assert torch.equal(got[0][0][:, 0], x[:4].float())  # default pixel_max 255: raw 0..255 values
    assert torch.equal(torch.cat([b[1] for b in got]), y)
    unit = list(ImageBatches(x, y, 4, shuffle=False, pixel_max=1.0))
    assert torch.allclose(unit[0][0][:, 0], x[:4].float() / 255)
    assert float(unit[0][0].max()) <= 1.0


def test_batches_shuffle_per_epoch_reproducibly():
    x, y = _images(10)
    batches = ImageBatches(x, y, 3, shuffle=True, seed=0)

    def order(b, epoch):
        b.set_epoch(epoch)
        return torch.cat([xb[:, 0, 0, 0] for xb, _ in b]).long().tolist()

    epochs = [order(batches, e) for e in range(2)]
    assert sorted(epochs[0]) == list(range(10))
    assert epochs[0] != epochs[1]
    assert order(batches, 0) == epochs[0]  # a pass can be replayed (resume)
    again = ImageBatches(x, y, 3, shuffle=True, seed=0)
    assert order(again, 1) == epochs[1]
    assert order(ImageBatches(x, y, 3, shuffle=True, seed=5), 0) != epochs[0]
    for xb, yb in batches:  # labels follow their images
        ids = xb[:, 0, 0, 0].long()
        assert torch.equal(yb, y[ids])


def test_batches_limit():
    x, y = _images(10)
    assert ImageBatches(x, y, 4, shuffle=False, limit=5).num_samples == 5
    limited = ImageBatches(x, y, 4, shuffle=True, seed=1, limit=5)
    assert len(limited) == 2
    assert sorted(torch.cat([b[0][:, 0, 0, 0] for b in limited]).long().tolist()) == [0, 1, 2, 3, 4]
    assert ImageBatches(x, y, 4, shuffle=False, limit=1000).num_samples == 10
    with pytest.raises(ConfigError, match="batch_size"):
        ImageBatches(x, y, 0, shuffle=False)


def test_fixed_noise_is_one_pattern_everywhere():
    x, y = _images(10)
    noise = Noise(25.0, "fixed", seed=7)
    expected = 25.0 * torch.randn((1, 36, 36), generator=torch.Generator().manual_seed(7))
    train = ImageBatches(x, y, 4, shuffle=True, seed=0, noise=noise)
    test = ImageBatches(x[:6], y[:6], 5, shuffle=False, noise=noise)
    for batches in (train, train, test):  # two epochs of train, then test
        for xb, _ in batches:
            ids = (xb[:, 0, 0, 0] - expected[0, 0, 0]).round().long()  # the id pixel, noise removed
            clean = x[ids].float()
            assert torch.allclose(xb[:, 0] - clean, expected.expand(len(xb), 36, 36), atol=1e-4)
    assert 20 < float(expected.std()) < 30


def test_per_sample_noise_is_fresh():
    x = torch.zeros((4, 36, 36), dtype=torch.uint8)
    y = torch.zeros((4, 2), dtype=torch.int64)
    batches = ImageBatches(x, y, 4, shuffle=False, noise=Noise(50.0, "per_sample", 3))
    (a, _), (b, _) = next(iter(batches)), next(iter(batches))
    assert not torch.allclose(a[0], a[1])  # different per image
    assert torch.equal(a, b)  # the same epoch replays the same noise (an evaluation set stays fixed)
    batches.set_epoch(1)
    assert not torch.allclose(a, next(iter(batches))[0])  # a new epoch draws new noise
    other = ImageBatches(x, y, 4, shuffle=False, noise=Noise(50.0, "per_sample", 3), noise_stream=1)
    assert not torch.allclose(a, next(iter(other))[0])  # evaluation noise is independent of training noise
    assert 45 < float(a.std()) < 55
    with pytest.raises(ConfigError, match="noise.mode"):
        Noise(1.0, "sometimes", 0)


def test_batches_do_not_modify_float_datasets():
    x = torch.full((3, 36, 36), 100.0)
    y = torch.zeros((3, 2), dtype=torch.int64)
    noise = Noise(5.0, "fixed", 0)
    for _ in ImageBatches(x, y, 2, shuffle=False, pixel_max=1.0, noise=noise):
        pass
    assert float(x.max()) == 100.0 and float(x.min()) == 100.0


# ------------------------------------------------------------------------------------------------------------
# the real data (Debian's Fashion-MNIST), if installed

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's Fashion-MNIST (apt-get install dataset-fashion-mnist) is not installed",
)
def test_full_multifashion_from_debian_files(tmp_path):
    data = load_multitask("multifashion", tmp_path, download=False)
    assert data.variant == "full"
    assert data.train_x.shape == (120_000, 36, 36) and data.test_x.shape == (20_000, 36, 36)
    assert data.train_y.shape == (120_000, 2) and data.train_x.dtype == torch.uint8
    src = data.info["sources"]["top_left"]
    assert src["dir"] == str(DEBIAN_FASHION)
    assert src["files"]["train-images-idx3-ubyte"]["content_md5"] == "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    labels = idx.read_labels(DEBIAN_FASHION / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(data.train_y[:, 0].numpy(), labels[np.arange(120_000) % 60_000])
    assert data.info["pixel_range"] == [0.0, 255.0]
    assert os.path.getsize(tmp_path / "multitask" / "multifashion-full-v1.npz") > 180e6
