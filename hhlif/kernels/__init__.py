"""Generic kernel machinery under the neuron models' fused windows (no neuron model is imported here):
:mod:`~hhlif.kernels.window` (spike functions, chunks, per-step storage, guards, allocator setting),
:mod:`~hhlif.kernels.pool` (2×2 pooling of spike maps), :mod:`~hhlif.kernels.conv` (convolution over steps)."""
