"""Spike non-linearity with a surrogate gradient.

Forward: the Heaviside step with a strict inequality, ``s = 1[x > 0]`` where ``x = u - θ``.
Backward: a boxcar window of height 1 (not normalised) and half-width ``w``:
``∂s/∂x ≈ 1[|x| < w]``. This is the surrogate of the paper's code for every neuron model.
"""

from __future__ import annotations

import torch

from hhlif.errors import require_positive


class _BoxcarSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, half_width: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.half_width = half_width
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # noqa: D102
        (x,) = ctx.saved_tensors
        return grad_out * (x.abs() < ctx.half_width).to(grad_out.dtype), None


SURROGATES = {"boxcar": _BoxcarSpike}


class Spike:
    """``spike(x)`` = Heaviside(x) with the chosen surrogate gradient of half-width ``half_width``."""

    def __init__(self, name: str = "boxcar", half_width: float = 0.5):
        from hhlif.errors import unknown_choice

        if name not in SURROGATES:
            raise unknown_choice("neuron.surrogate", name, SURROGATES)
        require_positive("neuron.half_width", half_width)
        self.fn = SURROGATES[name]
        self.name = name
        self.half_width = float(half_width)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn.apply(x, self.half_width)

    def __repr__(self) -> str:
        return f"Spike({self.name}, half_width={self.half_width})"
