"""Spike onsets and the comparison metrics of the paper's MATLAB simulations
(docs/explanation/authors-code.md#fig-3d-chain).

The MATLAB code records spikes as *levels*: a sample is 1 while the membrane is above the threshold (every
fine step above θ counts). A spike is an **onset**: a sample that is 1 after a sample that is 0. The onset
time is the 0-based index of the first sample above θ (MATLAB's 1-based index of the sample before it, the
same number); a train that is already high at sample 0 has no onset there.

For an HH train (times t^hh_1..t^hh_n) and a LIF-circuit train (t^lif_1..t^lif_n'), in samples:

* counts n, n';
* mean inter-spike-interval difference ``((t^lif_n' − t^lif_1) − (t^hh_n − t^hh_1)) / (n − 1)``, only when n = n';
* t_d = (t^hh_n − t^hh_1)/(n − 1), the mean HH inter-spike interval (the first gap, from t = 0, excluded);
* normalised spike-timing error ``Σ_i |t^lif_i − t^hh_i| / n / t_d``, only when n = n';
* ``max_onset_difference``: max_i |t^lif_i − t^hh_i|, only when n = n' ≥ 1 (not in MATLAB; the worst spike).

MATLAB divides t_d by n' − 1; the two agree whenever the error is defined (n = n'). Values that the MATLAB code
would not print (unequal counts, fewer than two spikes) are ``None``. As a supplement that MATLAB does not
compute, ``timing_error_first`` applies the same formula to the first min(n, n') spikes of both trains.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def onsets(levels: np.ndarray, axis: int = -1) -> np.ndarray | list[np.ndarray]:
    """Onset indices of a 1-D level train, or a list of them for each row of a 2-D ``[neurons, time]`` array."""
    levels = np.asarray(levels).astype(bool)
    if levels.ndim == 1:
        return np.flatnonzero(levels[1:] & ~levels[:-1]) + 1
    levels = np.moveaxis(levels, axis, -1)
    return [onsets(row) for row in levels.reshape(-1, levels.shape[-1])]


def compare(hh: np.ndarray, lif: np.ndarray, dt: float | None = None) -> dict[str, Any]:
    """The metrics of the module docstring for two onset-index arrays (in samples; ``dt`` adds ms values)."""
    hh, lif = np.asarray(hh, dtype=np.int64), np.asarray(lif, dtype=np.int64)
    n_hh, n_lif = len(hh), len(lif)
    out: dict[str, Any] = {"spikes_hh": n_hh, "spikes_lif": n_lif, "equal_counts": n_hh == n_lif,
                           "mean_isi_difference": None, "mean_isi_hh": None, "timing_error": None,
                           "timing_error_first": None, "max_onset_difference": None}
    if n_hh >= 2:
        out["mean_isi_hh"] = float(hh[-1] - hh[0]) / (n_hh - 1)
    if n_hh == n_lif and n_hh >= 1:
        out["max_onset_difference"] = float(np.abs(lif - hh).max())
    if n_hh == n_lif and n_hh >= 2:
        out["mean_isi_difference"] = float((lif[-1] - lif[0]) - (hh[-1] - hh[0])) / (n_hh - 1)
        out["timing_error"] = _timing_error(hh, lif, out["mean_isi_hh"])
    k = min(n_hh, n_lif)
    if k >= 2:
        out["timing_error_first"] = _timing_error(hh[:k], lif[:k], float(hh[k - 1] - hh[0]) / (k - 1))
    if dt is not None:
        for key in ("mean_isi_difference", "mean_isi_hh", "max_onset_difference"):
            out[f"{key}_ms"] = None if out[key] is None else out[key] * dt
        out["onsets_hh_ms"] = (hh * dt).tolist()
        out["onsets_lif_ms"] = (lif * dt).tolist()
    return out


def _timing_error(hh: np.ndarray, lif: np.ndarray, t_d: float) -> float | None:
    if t_d <= 0:
        return None
    return float(np.abs(lif - hh).sum()) / len(hh) / t_d


def summarise(per_neuron: list[dict[str, Any]]) -> dict[str, Any]:
    """Population summary of :func:`compare` results: how many neurons match in count, the means of the
    defined metrics, and the spike totals."""
    equal = [m for m in per_neuron if m["equal_counts"]]

    def mean(key: str) -> float | None:
        values = [m[key] for m in per_neuron if m[key] is not None]
        return float(np.mean(values)) if values else None

    return {"neurons": len(per_neuron), "equal_counts": len(equal),
            "spikes_hh": int(sum(m["spikes_hh"] for m in per_neuron)),
            "spikes_lif": int(sum(m["spikes_lif"] for m in per_neuron)),
            "mean_abs_count_difference": float(np.mean([abs(m["spikes_hh"] - m["spikes_lif"]) for m in per_neuron]))
            if per_neuron else None,
            "mean_isi_difference": mean("mean_isi_difference"), "timing_error": mean("timing_error"),
            "timing_error_first": mean("timing_error_first"),
            "max_onset_difference": max((m["max_onset_difference"] for m in per_neuron
                                         if m["max_onset_difference"] is not None), default=None)}
