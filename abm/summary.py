"""Summaries over trials: probabilities with intervals, survival, quantile bands.

Functions take the per-trial table (one row per trial and state) or the merged per-month
accumulators and return plain dicts / DataFrames. Every estimate carries a 95% interval:
Wilson for probabilities, a normal (CLT) interval for means, and the Kaplan-Meier
(``scipy.stats.ecdf``) pointwise interval for the survival curve.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .core import FIXED_POINT, HIST_BINS

__all__ = [
    "TRIAL_COLUMNS",
    "wilson",
    "mean_ci",
    "survival",
    "summarize",
    "months_table",
    "hist_quantile",
    "outputs_sha256",
]

#: Columns of the per-trial table, in canonical order.
TRIAL_COLUMNS = (
    "trial", "state", "first_base_month", "months_hosted", "closed", "vetoes", "incidents",
    "final_w", "final_p", "final_s", "final_h",
)
QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
Z95 = float(stats.norm.ppf(0.975))


def wilson(k: int | np.ndarray, n: int | np.ndarray, level: float = 0.95
           ) -> tuple[Any, Any]:
    """Wilson score interval for a binomial proportion ``k / n`` (Wilson 1927).

    Vectorised over ``k`` (and ``n``): a sweep asks for thousands at once, and
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``, which
    ``tests/test_core.py`` pins this against, computes an unused p-value each time.
    Returns floats for scalar input, arrays otherwise; ``(0, 1)`` where ``n`` is 0.
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = float(stats.norm.ppf(0.5 + level / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    lo = np.where(k == 0, 0.0, lo)
    hi = np.where(k == n, 1.0, hi)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its normal-approximation interval ``mean +/- z * sd / sqrt(n)``."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    m = float(x.mean()) if n else float("nan")
    if n < 2:
        return m, m, m
    half = float(stats.norm.ppf(0.5 + level / 2) * x.std(ddof=1) / np.sqrt(n))
    return m, m - half, m + half


def survival(first_base_month: np.ndarray, horizon: int, level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier survival of "no base yet", months ``0 .. horizon``, with an interval.

    Trials with no base are right-censored at the horizon. Uses ``scipy.stats.ecdf`` on
    ``CensoredData``; a month-0 host counts as an event at month 0.

    Returns
    -------
    DataFrame with columns ``month``, ``survival``, ``ci_low``, ``ci_high``.
    """
    fb = np.asarray(first_base_month, dtype=np.float64)
    months = np.arange(horizon + 1, dtype=np.float64)
    events = fb[~np.isnan(fb) & (fb >= 0)]
    censored = np.full(int(np.sum(np.isnan(fb) | (fb < 0))), float(horizon))
    if events.size == 0:
        one = np.ones_like(months)
        return pd.DataFrame({"month": months.astype(int), "survival": one, "ci_low": one,
                             "ci_high": one})
    res = stats.ecdf(stats.CensoredData(uncensored=events, right=censored))
    sf = res.sf.evaluate(months)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # Greenwood's interval is undefined where S(t) is 0 or 1; those points are set
        # to the estimate itself below.
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = res.sf.confidence_interval(level)
        lo, hi = ci.low.evaluate(months), ci.high.evaluate(months)
    lo = np.where(np.isnan(lo), sf, lo)
    hi = np.where(np.isnan(hi), sf, hi)
    return pd.DataFrame({"month": months.astype(int), "survival": sf, "ci_low": lo,
                         "ci_high": hi})


def _km_median(first: np.ndarray, horizon: int) -> float | None:
    sv = survival(first, horizon)
    below = sv.loc[sv["survival"] <= 0.5, "month"]
    return None if below.empty else int(below.iloc[0])


def summarize(table: pd.DataFrame, *, name: str, trials: int, horizon: int, seed: int,
              engine: str, state_ids: tuple[str, ...],
              state_names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The ``summary.json`` dict (without ``outputs_sha256``, added by the caller)."""
    S = len(state_ids)
    fb = table["first_base_month"].to_numpy(dtype=np.float64, na_value=np.nan).reshape(trials, S)
    got = ~np.isnan(fb)
    col = {c: table[c].to_numpy().reshape(trials, S) for c in
           ("months_hosted", "closed", "vetoes", "incidents", "final_w")}
    any_base = got.any(axis=1)
    lo, hi = wilson(int(any_base.sum()), trials)
    first_any = np.where(any_base, np.nanmin(np.where(got, fb, np.inf), axis=1), np.nan)
    out: dict[str, Any] = {
        "name": name,
        "trials": trials,
        "horizon_months": horizon,
        "seed": seed,
        "engine": engine,
        "any_base": {"p": float(any_base.mean()), "ci_low": lo, "ci_high": hi,
                     "median_first_month": _km_median(first_any, horizon)},
        "states": {},
    }
    for i, sid in enumerate(state_ids):
        k = int(got[:, i].sum())
        lo, hi = wilson(k, trials)
        n_closed = int(col["closed"][:, i].sum())
        n_veto = int((col["vetoes"][:, i] > 0).sum())
        mh, mh_lo, mh_hi = mean_ci(col["months_hosted"][:, i])
        mi, mi_lo, mi_hi = mean_ci(col["incidents"][:, i])
        fw = col["final_w"][:, i].astype(np.float64)
        fw_m, fw_lo, fw_hi = mean_ci(fw)
        given = fb[got[:, i], i]
        out["states"][sid] = {
            "name": state_names[i] if state_names else sid,
            "p_base": k / trials,
            "ci_low": lo,
            "ci_high": hi,
            "p_closed": n_closed / trials,
            "p_closed_ci": list(wilson(n_closed, trials)),
            "p_veto": n_veto / trials,
            "p_veto_ci": list(wilson(n_veto, trials)),
            "mean_vetoes": float(col["vetoes"][:, i].mean()),
            "mean_months_hosted": mh,
            "mean_months_hosted_ci": [mh_lo, mh_hi],
            "mean_incidents": mi,
            "mean_incidents_ci": [mi_lo, mi_hi],
            "median_first_base_month": _km_median(fb[:, i], horizon),
            "median_first_base_month_given_base": (float(np.median(given)) if given.size
                                                   else None),
            "final_willingness": {
                "mean": fw_m,
                "mean_ci": [fw_lo, fw_hi],
                "q05": float(np.quantile(fw, 0.05)),
                "q50": float(np.quantile(fw, 0.50)),
                "q95": float(np.quantile(fw, 0.95)),
            },
        }
    return out


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


def outputs_sha256(table: pd.DataFrame) -> str:
    """SHA-256 of the per-trial table in canonical order and format.

    Rows in the table's order (trial, then state in scenario order, as ``simulate`` and
    the Mesa engine build it; a reordered table hashes differently); each column in
    :data:`TRIAL_COLUMNS` order as
    little-endian fixed-width bytes (int64, float64 bit patterns, bool as uint8; the state
    column as its distinct ids in order of first appearance, UTF-8 joined by NUL, then an
    int32 code per row; a missing ``first_base_month`` is -1). Two runs that agree
    row for row and bit for bit give the same hash, whatever the executor.
    """
    h = hashlib.sha256()
    h.update(b"abm-trials-v1\0")
    for c in TRIAL_COLUMNS:
        s = table[c]
        h.update(c.encode() + b"\0")
        if c == "state":
            # ids in order of first appearance, then one code per row: canonical for a
            # categorical or a string column alike, without a Python string per row
            codes, uniques = pd.factorize(s, sort=False)
            h.update("\0".join(map(str, uniques)).encode() + b"\0")
            h.update(codes.astype("<i4").tobytes())
        elif c == "first_base_month":
            h.update(s.fillna(-1).to_numpy(dtype="<i8").tobytes())
        elif c in ("closed", "final_h"):
            h.update(s.to_numpy(dtype="u1").tobytes())
        elif c.startswith("final_"):
            h.update(s.to_numpy(dtype="<f8").tobytes())
        else:
            h.update(s.to_numpy(dtype="<i8").tobytes())
    return h.hexdigest()
