"""The convolution of pooled spike maps over all steps, whose backward runs in the channels-last layout on a
CPU (its forward, and so every spike, is unchanged)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _Conv2d(torch.autograd.Function):
    """``F.conv2d`` of ``[N, C, H, W]`` maps in the layout given; the backward converts the saved input and the
    incoming gradient to channels-last and runs oneDNN's channels-last kernels there, which on a CPU took 52 %
    (10 channels) to 79 % (40 channels) of the time of the contiguous ones for the second layer's convolution,
    the largest cost of a convolutional network's training step. The forward is left alone: a channels-last
    forward sums in another order and would change spikes against the eager loop; gradients only change by
    rounding."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: torch.nn.Conv2d):
        ctx.save_for_backward(x, weight)
        ctx.args = (conv.stride, conv.padding, conv.dilation, conv.groups, bias is not None)
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.args
        last = torch.channels_last
        wanted = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad.contiguous(memory_format=last), x.contiguous(memory_format=last),
            weight.contiguous(memory_format=last), [weight.shape[0]] if has_bias else None, stride, padding,
            dilation, False, [0, 0], groups, wanted)
        return (gx, None if gw is None else gw.contiguous(), gb, None)


def conv2d_steps(conv: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for ``[N, C, H, W]`` maps: on a CPU, when ``x`` needs a gradient (spike maps from a spiking
    layer, not an image), with the channels-last backward of :class:`_Conv2d`; anywhere else the module itself
    (for a one-channel image, converting costs more than it saves)."""
    if x.device.type != "cpu" or not (torch.is_grad_enabled() and x.requires_grad):
        return conv(x)
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return conv(x)
    return _Conv2d.apply(x, conv.weight, conv.bias, conv)
