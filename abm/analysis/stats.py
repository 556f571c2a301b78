"""Statistics every layer above the model uses: intervals for proportions, means and
paired differences, and the Kaplan-Meier survival curve. Pure functions of arrays; they
import nothing from the rest of the package.

Every estimate carries a 95% interval: Wilson (1927) for probabilities, a normal (CLT)
interval for means and paired differences, and the Kaplan-Meier pointwise interval
(``scipy.stats.ecdf``) for survival.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["Z95", "wilson", "mean_ci", "mean_ci_from_sums", "paired_difference",
           "newcombe_paired", "newcombe_paired_counts", "unpaired_difference", "survival",
           "km_median", "km_median_ci", "grouped_proportion", "grouped_difference",
           "grouped_means", "grouped_difference_means"]

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


def mean_ci(x: np.ndarray, level: float = 0.95, low: float | None = None,
            high: float | None = None) -> tuple[float, float, float]:
    """Mean and its normal-approximation interval ``mean +/- z * sd / sqrt(n)``, clipped
    to the quantity's range ``[low, high]`` where given (a count's mean is never below 0:
    the normal interval of a mean of mostly zeros would reach below)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    m = float(x.mean()) if n else float("nan")
    if n < 2:
        return m, m, m
    half = float(stats.norm.ppf(0.5 + level / 2) * x.std(ddof=1) / np.sqrt(n))
    lo, hi = m - half, m + half
    return m, (lo if low is None else max(lo, low)), (hi if high is None else min(hi, high))


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



def km_median(first: np.ndarray, horizon: int) -> float | None:
    """The Kaplan-Meier median month of the first base, ``None`` if the curve stays above
    one half to the horizon."""
    sv = survival(first, horizon)
    below = sv.loc[sv["survival"] <= 0.5, "month"]
    return None if below.empty else int(below.iloc[0])


def km_median_ci(durations: np.ndarray, observed: np.ndarray, horizon: int,
                 level: float = 0.95) -> tuple[int | None, list[int | None]]:
    """Kaplan-Meier median of whole-month durations, some right-censored, and its interval.

    ``durations`` in months ``0 .. horizon``; ``observed`` false where the duration is
    censored (still running at the horizon). Uses ``scipy.stats.ecdf`` on
    ``CensoredData`` with its pointwise interval (Greenwood); the median is the first month
    at which the survival curve is at most one half, and its interval runs from the first
    month at which the band's lower curve is at most one half to the first at which its
    upper curve is (Brookmeyer & Crowley 1982, by inverting the pointwise band). Each is
    ``None`` where the curve never falls to one half within the horizon, or when no
    duration is observed.
    """
    d = np.asarray(durations, dtype=np.float64)
    obs = np.asarray(observed, dtype=bool)
    if not obs.any():
        return None, [None, None]
    months = np.arange(horizon + 1, dtype=np.float64)
    res = stats.ecdf(stats.CensoredData(uncensored=d[obs], right=d[~obs]))
    sf = res.sf.evaluate(months)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # undefined where S is 0 or 1
        ci = res.sf.confidence_interval(level)
        lo, hi = ci.low.evaluate(months), ci.high.evaluate(months)
    lo = np.where(np.isnan(lo), sf, lo)
    hi = np.where(np.isnan(hi), sf, hi)

    def first(curve: np.ndarray) -> int | None:
        below = months[curve <= 0.5]
        return None if below.size == 0 else int(below[0])

    return first(sf), [first(lo), first(hi)]


def mean_ci_from_sums(s: np.ndarray, ss: np.ndarray, n: int, low: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and normal interval from the sum and the sum of squares of ``n`` values
    (exact integer accumulators, as sweeps keep them), the lower end clipped at ``low``
    where given."""
    mean = s / n
    var = np.maximum(ss / n - mean**2, 0.0) * n / max(n - 1, 1)
    half = Z95 * np.sqrt(var / n)
    lo = mean - half
    return mean, (lo if low is None else np.maximum(lo, low)), mean + half


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``b - a`` over paired trials and its 95% normal interval."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    m = float(d.mean())
    if d.size < 2:
        return m, m, m
    half = Z95 * float(d.std(ddof=1)) / np.sqrt(d.size)
    return m, m - half, m + half


def newcombe_paired_counts(e: int, f: int, g: int, h: int, level: float = 0.95
                           ) -> tuple[float, float, float]:
    """Difference of paired proportions ``p1 - p2 = (f - g) / n`` and its score interval,
    Newcombe (1998) method 10.

    The 2x2 table of ``n = e + f + g + h`` pairs: ``e`` yes in both, ``f`` yes in the
    first only, ``g`` yes in the second only, ``h`` in neither. The interval combines the
    Wilson intervals ``(l1, u1)`` of ``p1 = (e + f) / n`` and ``(l2, u2)`` of
    ``p2 = (e + g) / n`` with the correlation ``phi`` of the pairs::

        L = d - sqrt((p1 - l1)**2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)**2)
        U = d + sqrt((p2 - l2)**2 - 2 phi (p2 - l2)(u1 - p1) + (u1 - p1)**2)

    where ``phi = C / sqrt((e+f)(g+h)(e+g)(f+h))`` with ``C = eh - fg - n/2`` if
    ``eh - fg > n/2``, ``C = eh - fg`` if it is negative, else 0 (Newcombe's correction),
    and ``phi = 0`` when a margin is empty. Unlike the Wald interval it does not collapse
    to a point when no pair is discordant. Newcombe, R. G. (1998), Statistics in Medicine
    17:2635-2650.
    """
    e, f, g, h = (int(v) for v in (e, f, g, h))
    n = e + f + g + h
    if n == 0:
        return float("nan"), -1.0, 1.0
    p1, p2 = (e + f) / n, (e + g) / n
    l1, u1 = wilson(e + f, n, level)
    l2, u2 = wilson(e + g, n, level)
    denom = float(e + f) * (g + h) * (e + g) * (f + h)
    a = e * h - f * g
    c = a - n / 2 if a > n / 2 else (a if a < 0 else 0.0)
    phi = c / math.sqrt(denom) if denom > 0 else 0.0
    d = p1 - p2
    low = d - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2)
                            + (u2 - p2) ** 2, 0.0))
    high = d + math.sqrt(max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1)
                             + (u1 - p1) ** 2, 0.0))
    return d, max(low, -1.0), min(high, 1.0)


def newcombe_paired(a: np.ndarray, b: np.ndarray, level: float = 0.95
                    ) -> tuple[float, float, float]:
    """``mean(b) - mean(a)`` of paired indicators and its Newcombe (1998, method 10)
    score interval (:func:`newcombe_paired_counts` with ``b`` as the first sample)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    e = int(np.sum(a & b))
    f = int(np.sum(b & ~a))
    g = int(np.sum(a & ~b))
    return newcombe_paired_counts(e, f, g, a.size - e - f - g, level)


def unpaired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """``mean(b) - mean(a)`` of two independent samples of indicators (same size ``n``),
    with the normal interval of the difference of two proportions."""
    n = len(a)
    pa, pb = float(np.mean(a)), float(np.mean(b))
    half = Z95 * math.sqrt((pa * (1 - pa) + pb * (1 - pb)) / n)
    return pb - pa, pb - pa - half, pb - pa + half


def grouped_proportion(x: np.ndarray, level: float = 0.95) -> dict[str, Any]:
    """A proportion estimated from ``n_g`` groups of ``G`` trials, each group with its own
    parameter draw (a posterior run; docs/forecasts.md), and its variance split.

    ``x`` has shape ``(n_g, G, ...)`` (indicators; trailing axes, e.g. states, are kept).
    With ``m_g`` the group means, ``s_b^2`` their variance (``ddof=1``) and
    ``s_w^2 = mean_g m_g (1 - m_g) G / (G - 1)`` the mean within-group (binomial)
    variance, the law of total variance ``Var(Y) = Var_theta p(theta) + E_theta
    p(theta)(1 - p(theta))`` is estimated by

    * ``mc_sd = s_w``: the Monte Carlo (within-parameter) part, per trial;
    * ``param_sd = sqrt(max(s_b^2 - s_w^2 / G, 0))``: the spread of ``p(theta)`` over the
      posterior (``E s_b^2 = Var p(theta) + E p(1-p) / G``), floored at 0;

    and the mean ``p`` (the posterior-predictive probability) gets the t interval
    ``p +/- t_{n_g - 1} s_b / sqrt(n_g)``, which carries both parts, widened where needed
    to the Wilson interval of the pooled trials (so that an outcome seen in no trial still
    has an upper bound). Needs ``n_g >= 2``.
    Returns arrays (floats for 2-d ``x``): ``p``, ``ci_low``, ``ci_high``, ``se``,
    ``param_sd``, ``mc_sd``.
    """
    x = np.asarray(x, dtype=np.float64)
    return grouped_means(x.mean(axis=1), x.shape[1], level)


def grouped_means(m: np.ndarray, group_size: int, level: float = 0.95) -> dict[str, Any]:
    """:func:`grouped_proportion` from the group means ``m``, shape ``(n_g, ...)``, of
    groups of ``group_size`` trials (trailing axes, e.g. points and states, are kept)."""
    m = np.asarray(m, dtype=np.float64)
    n_g, G = m.shape[0], int(group_size)
    p = m.mean(axis=0)
    s_b2 = m.var(axis=0, ddof=1)
    s_w2 = (m * (1.0 - m)).mean(axis=0) * G / (G - 1)
    se = np.sqrt(s_b2 / n_g)
    half = float(stats.t.ppf(0.5 + level / 2, n_g - 1)) * se
    # never narrower than the Wilson interval of the pooled trials: where every group has
    # the same mean (no event at all, say) the t interval is a single point
    w_lo, w_hi = wilson(np.rint(p * n_g * G), n_g * G, level)
    out = {"p": p, "ci_low": np.minimum(np.clip(p - half, 0.0, 1.0), w_lo),
           "ci_high": np.maximum(np.clip(p + half, 0.0, 1.0), w_hi),
           "se": se, "param_sd": np.sqrt(np.maximum(s_b2 - s_w2 / G, 0.0)),
           "mc_sd": np.sqrt(s_w2)}
    return {k: float(v) if np.ndim(v) == 0 else v for k, v in out.items()}


def grouped_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95
                       ) -> tuple[float, float, float, float, float]:
    """``mean(b) - mean(a)`` over ``n_g`` groups of trials run in pairs (same parameter
    draw and random numbers in both; shape ``(n_g, G)``), with the t interval on the mean
    of the per-group differences, and, for comparison, the interval the same group means
    would give unpaired (``sqrt(s_a^2 + s_b^2) / sqrt(n_g)``).

    Returns ``(delta, ci_low, ci_high, unpaired_ci_low, unpaired_ci_high)``.
    """
    d, lo, hi, ulo, uhi = grouped_difference_means(
        np.asarray(a, dtype=np.float64).mean(axis=1),
        np.asarray(b, dtype=np.float64).mean(axis=1), level)
    return float(d), float(lo), float(hi), float(ulo), float(uhi)


def grouped_difference_means(ma: np.ndarray, mb: np.ndarray, level: float = 0.95
                             ) -> tuple[np.ndarray, ...]:
    """:func:`grouped_difference` from the group means ``ma`` and ``mb``, shape
    ``(n_g, ...)`` (trailing axes kept; ``ma`` broadcasts against ``mb``): the mean of
    ``mb - ma``, its paired t interval (the groups are pairs) and the unpaired one
    (``t sqrt((s_a^2 + s_b^2) / n_g)``). Returns
    ``(delta, ci_low, ci_high, unpaired_ci_low, unpaired_ci_high)``, arrays."""
    ma = np.asarray(ma, dtype=np.float64)
    mb = np.asarray(mb, dtype=np.float64)
    n_g = mb.shape[0]
    t = float(stats.t.ppf(0.5 + level / 2, n_g - 1))
    d = mb - ma
    delta = d.mean(axis=0)
    half = t * d.std(axis=0, ddof=1) / math.sqrt(n_g)
    uhalf = t * np.sqrt((ma.var(axis=0, ddof=1) + mb.var(axis=0, ddof=1)) / n_g)
    return delta, delta - half, delta + half, delta - uhalf, delta + uhalf
