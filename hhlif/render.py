"""Videos of a policy: frames of a MuJoCo environment rendered off-screen, written as MP4 or GIF.

MuJoCo renders without a display through EGL (``MUJOCO_GL=egl``: a GPU driver, or Mesa's EGL on a CPU) or
OSMesa (``MUJOCO_GL=osmesa``). The variable is read when ``mujoco`` is first imported, so :func:`prefer_egl`
sets it (unless the user did) before anything imports MuJoCo. A machine that cannot render gets a
:class:`~hhlif.errors.RunError` saying why and what to try (exit status 1).

MP4 needs the optional ``imageio-ffmpeg`` (``pip install 'hhlif[video]'``, a wheel that brings its own
ffmpeg); without it the video is an animated GIF written with Pillow, which matplotlib already installs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hhlif.errors import ConfigError, RunError
from hhlif.files import atomic_write

FORMATS = ("auto", "mp4", "gif")
FPS = 25  # InvertedPendulum and InvertedDoublePendulum step 0.04 s and 0.05 s: real time is 20–25 frames/s
SIZE = (480, 360)  # width, height of the rendered frames


def prefer_egl() -> None:
    """Render headless through EGL unless ``MUJOCO_GL`` is set (call before MuJoCo is imported)."""
    import logging

    os.environ.setdefault("MUJOCO_GL", "egl")
    logging.getLogger("OpenGL").setLevel(logging.WARNING)  # PyOpenGL's INFO line about an optional accelerator


def has_mp4() -> bool:
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def video_suffix(fmt: str) -> str:
    """``.mp4`` or ``.gif`` for ``fmt`` (auto: MP4 when imageio-ffmpeg is installed)."""
    if fmt not in FORMATS:
        raise ConfigError(f"video format {fmt!r} is not allowed: expected one of {', '.join(FORMATS)}.")
    if fmt == "mp4" and not has_mp4():
        raise ConfigError("an MP4 video needs imageio-ffmpeg: pip install 'hhlif[video]' (or choose gif).")
    return ".mp4" if fmt == "mp4" or (fmt == "auto" and has_mp4()) else ".gif"


def cannot_render(exc: BaseException) -> RunError:
    """The error for a machine where MuJoCo cannot render (or, with ``MUJOCO_GL`` set, not even be imported)."""
    gl = os.environ.get("MUJOCO_GL", "(unset)")
    return RunError(f"this machine cannot render MuJoCo off-screen with MUJOCO_GL={gl} "
                    f"({type(exc).__name__}: {str(exc).strip() or 'no detail'}). MuJoCo renders without a display "
                    "through EGL (MUJOCO_GL=egl: a GPU driver, or Mesa's libegl1) or OSMesa (MUJOCO_GL=osmesa: "
                    "libosmesa6). Install one, or run without videos (no evaluate.render, "
                    "trainer.record_every_n_evals=0).")


def render_frame(env) -> np.ndarray:
    """One RGB frame [H, W, 3] uint8 of a gymnasium environment made with ``render_mode="rgb_array"``."""
    try:
        frame = env.render()
    except Exception as exc:  # no EGL/OSMesa library, no device, a failing driver: all end here
        raise cannot_render(exc) from None
    if frame is None:
        raise RunError("the environment returned no frame: it was not made with render_mode='rgb_array'.")
    return np.asarray(frame, dtype=np.uint8)


def write_video(frames: Sequence[np.ndarray], path: Path, fps: int = FPS) -> Path:
    """Write ``frames`` (RGB uint8, one size) to ``path`` (.mp4 or .gif) through a unique temporary file and a
    rename (:func:`hhlif.files.atomic_write`); returns ``path``."""
    if not frames:
        raise RunError(f"no frames to write to {path}")
    path = Path(path)
    write = _write_mp4 if path.suffix == ".mp4" else _write_gif
    return atomic_write(path, lambda tmp: write(frames, tmp, fps), what="video")


def _write_mp4(frames: Sequence[np.ndarray], path: Path, fps: int) -> None:
    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    # H.264 in yuv420p (what browsers and players expect) needs even sizes
    writer = imageio_ffmpeg.write_frames(str(path), (width - width % 2, height - height % 2), fps=fps,
                                         codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1,
                                         ffmpeg_log_level="error", output_params=["-f", "mp4"])  # not by name
    writer.send(None)  # start the encoder
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame[:height - height % 2, :width - width % 2]))
    finally:
        writer.close()


def _write_gif(frames: Sequence[np.ndarray], path: Path, fps: int) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                   loop=0)
