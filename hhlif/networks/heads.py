"""Read-outs on top of a spiking encoder."""

from __future__ import annotations

import torch
from torch import nn


class MultiTaskHead(nn.Module):
    """Features ``[B, F]`` → ``Linear(F, hidden)`` → one ``Linear(hidden, classes)`` per task → ``[B, tasks, classes]``.

    No activation between the shared layer and the task heads (as in the paper's models).
    """

    def __init__(self, features: int, *, hidden: int = 50, tasks: int = 2, classes: int = 10):
        super().__init__()
        self.shared = nn.Linear(features, hidden)
        self.tasks = nn.ModuleList(nn.Linear(hidden, classes) for _ in range(tasks))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = self.shared(features)
        return torch.stack([head(z) for head in self.tasks], dim=1)
