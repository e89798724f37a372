"""Which features of a multi-task network serve which task head.

The influence of read-out feature f on task k is the norm of its path through the head,
``infl[k, f] = ‖W_k · W_shared[:, f]‖₂`` (W_shared: the shared read-out layer, W_k: task k's layer), and a
feature *prefers* the task it influences most. Combined with how much each feature is active (its mean value
on the evaluated data, i.e. the firing rate the head reads), this gives the share of the active read-out
serving each task and the correlation between the tasks' influence profiles (near 1: features shared by both
tasks; near 0 or negative: features split between them).
"""

from __future__ import annotations

import torch
from torch import nn

from hhlif.networks.heads import MultiTaskHead


class TaskSplit:
    """Accumulates the mean input of the network's :class:`MultiTaskHead` while ``enabled``."""

    def __init__(self, model: nn.Module):
        heads = [m for m in model.modules() if isinstance(m, MultiTaskHead)]
        self.head = heads[0] if len(heads) == 1 else None
        self.enabled = False
        self._sum: torch.Tensor | None = None
        self._n = 0
        if self.head is not None:
            self.head.register_forward_pre_hook(self._hook)

    def _hook(self, module, inputs):
        if self.enabled:
            with torch.no_grad():
                x = inputs[0].detach().double()
                s = x.sum(0)
                self._sum = s if self._sum is None else self._sum + s
                self._n += x.shape[0]

    def reset(self) -> None:
        self._sum, self._n = None, 0

    def influence(self) -> torch.Tensor:
        """``[tasks, features]`` influence of each read-out feature on each task."""
        with torch.no_grad():
            shared = self.head.shared.weight
            return torch.stack([(task.weight @ shared).norm(dim=0) for task in self.head.tasks]).cpu().double()

    def summary(self) -> tuple[dict[str, float], torch.Tensor]:
        """Scalars ``tasks/...`` and the per-feature preference (task-1 minus task-2 influence, normalised)."""
        if self.head is None or self._sum is None:
            return {}, torch.empty(0)
        infl = self.influence()
        activity = (self._sum / self._n).cpu()
        active = activity > 0
        weighted = infl * activity
        out = {f"tasks/share_task{k + 1}": float(weighted[k].sum() / weighted.sum().clamp_min(1e-12))
               for k in range(infl.shape[0])}
        if active.any():
            best = infl[:, active].argmax(0)
            out.update({f"tasks/prefer_task{k + 1}_frac": float((best == k).double().mean())
                        for k in range(infl.shape[0])})
        if infl.shape[0] == 2:
            out["tasks/influence_corr"] = float(torch.corrcoef(infl)[0, 1])
            preference = (infl[0] - infl[1]) / (infl[0] + infl[1]).clamp_min(1e-12)
        else:
            preference = torch.empty(0)
        out["tasks/active_features_frac"] = float(active.double().mean())
        return out, preference[active].float()
