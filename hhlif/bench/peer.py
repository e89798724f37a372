"""Peer comparison: hhlif's LIF layer against snnTorch's ``Leaky`` with the same semantics and shapes.

snnTorch's ``Leaky(beta, threshold, reset_mechanism="zero")`` computes, per step,
``reset = H(mem_{t−1} − θ)`` (detached), ``mem_t = β (1 − reset) mem_{t−1} + I_t`` and ``spk_t = H(mem_t − θ)``:
hhlif's LIF (``u_t = λ u_{t−1}(1 − s_{t−1}) + I_t``) with ``decay = β`` and ``detach_reset = true``, since
snnTorch never lets gradients through its reset. Its default ``reset_mechanism="subtract"``
(``mem_t = β mem_{t−1} + I_t − θ·reset``) is a different neuron, so it is not used. Both get the same boxcar
surrogate (snnTorch accepts any spike function as ``spike_grad``) and strict ``>`` threshold, so spikes and
gradients agree; snnTorch runs as its documentation shows, one Python call per time step.
"""

from __future__ import annotations

import torch

from hhlif.bench.measure import interleaved_times, median_ms
from hhlif.errors import RunError
from hhlif.neurons.lif import LIF

INSTALL_HINT = "pip install 'hhlif[bench]' (or pip install snntorch)"


def snntorch_available() -> bool:
    try:
        import snntorch  # noqa: F401
    except ImportError:
        return False
    return True


def compare_leaky(*, batch: int, steps: int, units: int, warmup: int, repeats: int, device: torch.device,
                  threshold: float = 0.3, decay: float = 0.2, half_width: float = 0.5, seed: int = 0) -> dict:
    """Forward + backward of ``[T, B, units]`` currents through hhlif's LIF (fused) and snnTorch's Leaky."""
    try:
        import snntorch
        from snntorch import Leaky
    except ImportError:
        raise RunError(f"the peer comparison needs snnTorch: {INSTALL_HINT}, or set bench.peer=false") from None
    gen = torch.Generator().manual_seed(seed)
    currents = (0.5 * torch.randn(steps, batch, units, generator=gen)).to(device).requires_grad_(True)
    weights = torch.randn(steps, batch, units, generator=gen).to(device)
    ours = LIF((units,), threshold=threshold, decay=decay, half_width=half_width, detach_reset=True).to(device)
    ours_default = LIF((units,), threshold=threshold, decay=decay, half_width=half_width).to(device)
    leaky = Leaky(beta=decay, threshold=threshold, spike_grad=ours.spike, reset_mechanism="zero").to(device)

    def run_snntorch() -> torch.Tensor:
        mem = torch.zeros(batch, units, device=device)
        spikes = []
        for t in range(steps):
            spk, mem = leaky(currents[t], mem)
            spikes.append(spk)
        return torch.stack(spikes)

    def fwd_bwd(run):
        def call():
            currents.grad = None
            (run() * weights).sum().backward()
        return call

    results = {}
    for name, run in (("hhlif", lambda: ours(currents)), ("snntorch", run_snntorch)):
        currents.grad = None
        spikes = run()
        (spikes * weights).sum().backward()
        results[name] = (spikes.detach(), currents.grad.clone())
    times = interleaved_times({"hhlif": fwd_bwd(lambda: ours(currents)), "snntorch": fwd_bwd(run_snntorch),
                               "hhlif_reset_grad": fwd_bwd(lambda: ours_default(currents))},
                              warmup, repeats, device)
    ours_ms, peer_ms, default_ms = (median_ms(times[k]) for k in ("hhlif", "snntorch", "hhlif_reset_grad"))
    return {
        "shape": [steps, batch, units], "snntorch_version": snntorch.__version__,
        "semantics": "u_t = decay*u_{t-1}*(1 - s_{t-1}) + I_t, s_t = H(u_t - threshold), reset detached; "
                     "snnTorch Leaky(beta=decay, reset_mechanism='zero', spike_grad=boxcar)",
        "threshold": threshold, "decay": decay, "half_width": half_width,
        "hhlif_ms": ours_ms, "snntorch_ms": peer_ms, "ratio": peer_ms / ours_ms,
        "hhlif_reset_grad_ms": default_ms, "ratio_reset_grad": peer_ms / default_ms,
        "spikes_match": bool(torch.equal(results["hhlif"][0], results["snntorch"][0])),
        "grad_max_abs_diff": float((results["hhlif"][1] - results["snntorch"][1]).abs().max()),
    }
