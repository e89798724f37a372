"""Mini-batches for the trainer: uint8 images -> float32 network inputs, with optional input noise.

Images are stored as uint8 0..255 (or float32 in 0..255 units for some pickles). A batch is
``x = images[idx].float() * (pixel_max / 255) (+ noise)`` shaped ``[B, 1, H, W]`` and ``y = labels[idx]``
int64 ``[B, 2]``. The default ``pixel_max = 255`` keeps the raw 0..255 values, the scale the paper's noise
amplitudes (25/50/75) and HH thresholds are meant for (with [0, 1] inputs a noise of sigma = 25 drowns the
image and the HH encoders never reach threshold). The noise is added after the scaling, so its amplitude is in
the units of ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from hhlif.errors import bad_value, require_positive, unknown_choice

NOISE_MODES = ("fixed", "per_sample")


@dataclass
class Noise:
    """Additive Gaussian input noise (paper Fig. 4h): amplitude·N(0,1) in the same units as the pixels.

    ``mode="fixed"``: ONE pattern ``amplitude * randn(1, H, W)``, drawn once from a torch.Generator seeded
    with ``seed``, added to every train and test image (iterators with the same seed add the same pattern).
    ``mode="per_sample"``: fresh noise for every image on every pass, from a generator seeded with ``seed``.
    """

    amplitude: float
    mode: str = "fixed"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in NOISE_MODES:
            raise unknown_choice("noise.mode", self.mode, NOISE_MODES)
        amp = self.amplitude
        if isinstance(amp, bool) or not isinstance(amp, (int, float)) or not amp >= 0:
            raise bad_value("noise.amplitude", amp, "a number >= 0 (pixel units)")

    def pattern(self, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
        """The fixed pattern ``amplitude * randn(1, *shape)``, drawn on the CPU (the same on every device)."""
        gen = torch.Generator().manual_seed(int(self.seed))
        return (float(self.amplitude) * torch.randn((1, *shape), generator=gen)).to(device)


class ImageBatches:
    """Iterate (x float32 [B,1,36,36], y int64 [B,2]) over (a prefix of) a dataset.

    The order (with ``shuffle``) and the per-sample noise of a pass are functions of ``seed``, the epoch set
    with :meth:`set_epoch` and ``noise_stream`` alone, like ``DistributedSampler.set_epoch``: a pass can be
    replayed exactly (resuming a run needs no generator state), and an evaluation set whose epoch is never
    changed sees the same noise every time. ``noise_stream`` keeps the training (0) and evaluation (1)
    noise independent; the fixed pattern is the same on every stream.
    """

    def __init__(
        self,
        images: torch.Tensor | np.ndarray,
        labels: torch.Tensor | np.ndarray,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        pixel_max: float = 255.0,
        noise: Noise | None = None,
        limit: int | None = None,
        device: torch.device | str = "cpu",
        noise_stream: int = 0,
    ) -> None:
        require_positive("batch_size", batch_size, integer=True)
        require_positive("pixel_max", pixel_max)
        if limit is not None:
            require_positive("limit", limit, integer=True)
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels)
        if images.ndim != 3 or len(labels) != len(images):
            raise ValueError(
                f"expected images [N, H, W] and N labels, got {list(images.shape)} and {list(labels.shape)}"
            )
        n = len(images) if limit is None else min(limit, len(images))
        self.device = torch.device(device)
        # one contiguous copy on the target device; batches are gathered from it with an index tensor
        self._x = images[:n].contiguous().to(self.device)
        self._y = labels[:n].to(torch.int64).contiguous().to(self.device)
        self.num_samples = n
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.epoch = 0
        self.noise_stream = int(noise_stream)
        self.pixel_max = float(pixel_max)
        self._scale = self.pixel_max / 255.0
        self.noise = noise
        self._pattern: torch.Tensor | None = None
        if noise is not None and noise.amplitude > 0 and noise.mode == "fixed":
            self._pattern = noise.pattern(tuple(images.shape[1:]), self.device)

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the pass: its order and per-sample noise depend only on (seed, epoch, noise stream)."""
        self.epoch = int(epoch)

    def _generator(self, seed: int, device: torch.device | str = "cpu") -> torch.Generator:
        return torch.Generator(device=device).manual_seed(seed * 1_000_003 + self.epoch * 7_919 + self.noise_stream)

    def sample(self, n: int) -> torch.Tensor:
        """The first ``n`` inputs, scaled, without noise (for shape- and cost-only uses)."""
        return (self._x[:n].to(torch.float32) * self._scale).unsqueeze(1)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iterate()

    def iterate(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of the current epoch from batch ``start`` on (earlier ones are skipped, not computed)."""
        n, bs = self.num_samples, self.batch_size
        order = torch.randperm(n, generator=self._generator(self.seed)).to(self.device) if self.shuffle else None
        per_sample = self.noise is not None and self.noise.amplitude > 0 and self.noise.mode == "per_sample"
        noise_gen = self._generator(int(self.noise.seed), self.device) if per_sample else None
        if noise_gen is not None:  # replay the skipped batches' draws so the remaining noise is identical
            for first in range(0, min(start * bs, n), bs):
                torch.randn((min(bs, n - first), *self._x.shape[1:]), generator=noise_gen, device=self.device)
        for first in range(start * bs, n, bs):
            if order is None:
                xb, yb = self._x[first : first + bs], self._y[first : first + bs]
            else:
                idx = order[first : first + bs]
                xb, yb = self._x[idx], self._y[idx]
            x = xb.to(torch.float32, copy=True)  # never a view of the stored data
            if self._scale != 1.0:
                x.mul_(self._scale)
            if self._pattern is not None:
                x += self._pattern
            elif noise_gen is not None:
                x += float(self.noise.amplitude) * torch.randn(x.shape, generator=noise_gen, device=self.device)
            yield x.unsqueeze(1), yb
