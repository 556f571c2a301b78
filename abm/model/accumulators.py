"""Per-month accumulators that merge exactly: integer histograms and fixed-point sums.

A run's month-by-month bands (quantiles of willingness and support) and means are read
from these, so they do not depend on how trials were split into chunks, workers or
threads: every accumulator is an integer array and merging is integer addition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["HIST_BINS", "FIXED_POINT", "ACCUMULATORS", "QUANTILES", "hist_counts",
           "fixed_sum", "new_accumulators", "record_month", "hist_quantile", "months_table"]

#: Histogram bins on (0, 1) for the per-month quantile bands, plus one bin each for the
#: point masses at exactly 0 and exactly 1 (clipping puts mass there). Resolution 0.001.
HIST_BINS = 1000
#: Per-month means are sums of ``round(x * FIXED_POINT)`` as int64: exact and order-free.
FIXED_POINT = 2.0**32
#: The accumulators, each of shape ``(T + 1, S, ...)`` for months ``0 .. T`` (values at the
#: start of each month; month ``T`` is the end of the run).
ACCUMULATORS = ("hist_w", "hist_p", "sum_w", "sum_p", "hosting")
#: Quantiles of the month bands.
QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)


def hist_counts(x: np.ndarray, S: int) -> np.ndarray:
    """Counts per state over ``HIST_BINS + 2`` bins: exactly 0, ``HIST_BINS`` bins, exactly 1."""
    # x in [0, 1]: truncation is floor; +1 for x > 0 leaves exactly 0 in bin 0, and
    # x = 1 lands in bin HIST_BINS + 1 by itself
    b = (x * HIST_BINS).astype(np.int64)
    b += x > 0.0
    b += np.arange(S) * (HIST_BINS + 2)
    return np.bincount(b.ravel(), minlength=S * (HIST_BINS + 2)).reshape(S, HIST_BINS + 2)


def fixed_sum(x: np.ndarray) -> np.ndarray:
    """``sum(round(x * FIXED_POINT))`` over the first axis, as int64."""
    return np.rint(x * FIXED_POINT).astype(np.int64).sum(axis=0)


def new_accumulators(P: int, T: int, S: int) -> dict[str, np.ndarray]:
    """Zeroed accumulators for ``P`` points, shape ``(P, T + 1, S, ...)``."""
    nb = HIST_BINS + 2
    return {"hist_w": np.zeros((P, T + 1, S, nb), dtype=np.int64),
            "hist_p": np.zeros((P, T + 1, S, nb), dtype=np.int64),
            "sum_w": np.zeros((P, T + 1, S), dtype=np.int64),
            "sum_p": np.zeros((P, T + 1, S), dtype=np.int64),
            "hosting": np.zeros((P, T + 1, S), dtype=np.int64)}


def record_month(acc: dict[str, np.ndarray], q: int, t: int, w: np.ndarray, p: np.ndarray,
                 h: np.ndarray) -> None:
    """Add month ``t`` of point ``q`` (arrays ``(rows, S)`` of kept trials) to ``acc``."""
    S = w.shape[-1]
    acc["hist_w"][q, t] = hist_counts(w, S)
    acc["hist_p"][q, t] = hist_counts(p, S)
    acc["sum_w"][q, t] = fixed_sum(w)
    acc["sum_p"][q, t] = fixed_sum(p)
    acc["hosting"][q, t] = h.sum(axis=0)


def hist_quantile(counts: np.ndarray, q: float) -> np.ndarray:
    """Quantile from fixed-bin counts, shape ``(..., HIST_BINS + 2)`` -> ``(...)``.

    Bin 0 is the point mass at 0, bin ``HIST_BINS + 1`` the point mass at 1, bins in
    between cover ``[(k-1)/HIST_BINS, k/HIST_BINS)``; within a bin the value is linearly
    interpolated, so the error is at most one bin width (0.001).
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1, keepdims=True)
    cum = np.cumsum(counts, axis=-1)
    target = q * total
    k = np.argmax(cum >= target, axis=-1)[..., None]  # first bin reaching the target
    below = np.take_along_axis(cum, k, axis=-1) - np.take_along_axis(counts, k, axis=-1)
    inbin = np.take_along_axis(counts, k, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(inbin > 0, (target - below) / inbin, 0.0)
    lo_edge = (k - 1) / HIST_BINS
    val = lo_edge + np.clip(frac, 0.0, 1.0) / HIST_BINS
    val = np.where(k == 0, 0.0, np.where(k == HIST_BINS + 1, 1.0, val))
    return val[..., 0]


def months_table(hist_w: np.ndarray, hist_p: np.ndarray, sum_w: np.ndarray, sum_p: np.ndarray,
                 hosting: np.ndarray, trials: int, state_ids: tuple[str, ...]) -> pd.DataFrame:
    """Per (month, state): mean and 5/25/50/75/95% quantiles of ``w`` and ``p``, share hosting."""
    T1, S = sum_w.shape
    month = np.repeat(np.arange(T1), S)
    state = np.tile(np.array(state_ids, dtype=object), T1)
    data: dict[str, Any] = {"month": month, "state": state}
    for var, hist, sm in (("w", hist_w, sum_w), ("p", hist_p, sum_p)):
        data[f"{var}_mean"] = (sm / FIXED_POINT / trials).ravel()
        for q in QUANTILES:
            data[f"{var}_q{int(round(q * 100)):02d}"] = hist_quantile(hist, q).ravel()
    data["share_hosting"] = (hosting / trials).ravel()
    df = pd.DataFrame(data)
    df["state"] = df["state"].astype("string")
    return df
