"""Precision on demand: when to stop adding trials, with intervals that stay valid
although the number of trials was chosen by looking at the data.

The rule (``docs/performance.md``, "Precision on demand"): a fixed schedule of looks,
``first, 2 first, 4 first, ...`` trials up to ``max_trials`` (always the last look), known
before any trial runs. At each look every probability gets a Clopper-Pearson (1934)
interval at level ``1 - alpha / K``, ``K`` the number of looks in the schedule; the run
stops at the first look where every targeted interval reaches at most ``H`` on each side
of its estimate. Because the probability that *any* of the K intervals of a quantity
misses is at most ``K * alpha / K = alpha`` (Bonferroni's inequality), and each
Clopper-Pearson interval is exact-conservative, the interval reported at the stop covers
the true probability with probability >= 95% whatever the stopping time, which may depend
on this or any other quantity (Jennison & Turnbull 2000, ch. 9, on repeated confidence
intervals). The guarantee is per quantity, not simultaneous over all of them.

Pure functions of counts; nothing here runs trials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["ALPHA", "RULE", "RULE_TEXT", "schedule", "clopper_pearson", "halfwidth",
           "SequentialRule", "probability_counts", "TARGETED", "ADJUSTED", "adjust_summary"]

#: Overall error of each reported interval: 95% intervals.
ALPHA = 0.05
#: The rule's name as summaries record it.
RULE = "doubling-looks-bonferroni-clopper-pearson"
RULE_TEXT = ("looks at first, 2x first, 4x first, ... trials up to max trials; at each of "
             "the K looks Clopper-Pearson intervals at level 1 - 0.05/K (Bonferroni), so "
             "the interval at the stop covers with probability >= 95%")

#: Per-state probabilities the stopping rule waits for (plus ``any_base.p``), as
#: ``<state id>.<name>`` keys; the summary field holding each one's interval.
TARGETED = {"p_base": ("ci_low", "ci_high"), "p_veto": "p_veto_ci",
            "p_closed": "p_closed_ci", "p_hosting_end": "p_hosting_end_ci",
            "p_notice": "p_notice_ci"}
#: Every probability interval of a run's summary is adjusted at the stop; these ones are
#: reported (adjusted) without being waited for.
ADJUSTED = {**TARGETED, "p_notice_reversed": "p_notice_reversed_ci"}


def schedule(first: int, max_trials: int) -> tuple[int, ...]:
    """The looks: ``first * 2**k`` below ``max_trials``, then ``max_trials``."""
    if first < 1 or max_trials < first:
        raise ValueError(f"need 1 <= first ({first}) <= max_trials ({max_trials})")
    out, n = [], int(first)
    while n < max_trials:
        out.append(n)
        n *= 2
    out.append(int(max_trials))
    return tuple(out)


def clopper_pearson(k: Any, n: Any, level: float) -> tuple[Any, Any]:
    """The exact (Clopper-Pearson 1934) equal-tailed interval of a binomial proportion
    ``k / n``, vectorised; floats for scalar input."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    a = (1.0 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def halfwidth(k: Any, n: Any, level: float) -> Any:
    """The larger of the two sides of the interval, ``max(p - low, high - p)``."""
    lo, hi = clopper_pearson(k, n, level)
    p = np.asarray(k, dtype=np.float64) / np.asarray(n, dtype=np.float64)
    out = np.maximum(p - lo, hi - p)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class SequentialRule:
    """Stop at the first look where every targeted half-width is at most
    ``target_halfwidth``, or at ``max_trials``."""

    target_halfwidth: float
    max_trials: int
    first_look: int

    @property
    def looks(self) -> tuple[int, ...]:
        return schedule(self.first_look, self.max_trials)

    @property
    def level(self) -> float:
        """The confidence level of each look's intervals, ``1 - ALPHA / K``."""
        return 1.0 - ALPHA / len(self.looks)

    def widest(self, counts: Mapping[str, int], n: int) -> tuple[str, float]:
        """The key with the widest half-width at ``n`` trials, and that half-width (ties:
        the first key in ``counts``' order)."""
        keys = list(counts)
        hw = np.atleast_1d(halfwidth(np.array([counts[k] for k in keys]), n, self.level))
        i = int(np.argmax(hw))
        return keys[i], float(hw[i])

    def describe(self, n: int, look: int, reached: bool, key: str, hw: float
                 ) -> dict[str, Any]:
        """The ``adaptive`` block of a summary for a run stopped at ``n`` trials."""
        reason = ("target reached" if reached else
                  f"max trials reached, widest interval {hw:.4g} for {key}")
        return {"rule": RULE, "rule_text": RULE_TEXT, "target_halfwidth": self.target_halfwidth,
                "max_trials": self.max_trials, "first_look": self.first_look,
                "looks": list(self.looks), "level_per_look": self.level, "trials": int(n),
                "looks_taken": int(look), "target_reached": bool(reached),
                "reason": reason, "widest": {"key": key, "halfwidth": hw}}


def probability_counts(outcomes: Mapping[str, np.ndarray], ids: tuple[str, ...],
                       targeted_only: bool = True) -> dict[str, int]:
    """Trials in which each probability's event happened, from per-trial outcome arrays of
    shape ``(n, S)`` (the definitions of :func:`abm.analysis.summary.summarize`):
    ``<id>.p_base`` ... and ``any_base.p``."""
    got = outcomes["first_base_month"] >= 0
    events = {"p_base": got, "p_veto": outcomes["vetoes"] > 0,
              "p_closed": outcomes["closed"].astype(bool),
              "p_hosting_end": outcomes["final_h"].astype(bool),
              "p_notice": outcomes["notices"] > 0}
    if not targeted_only:
        events["p_notice_reversed"] = outcomes["notices_withdrawn"] > 0
    out: dict[str, int] = {}
    sums = {name: ev.sum(axis=0) for name, ev in events.items()}
    for i, sid in enumerate(ids):
        for name in events:
            out[f"{sid}.{name}"] = int(sums[name][i])
    out["any_base.p"] = int(got.any(axis=1).sum())
    return out


def adjust_summary(summary: dict[str, Any], counts: Mapping[str, int], n: int,
                   level: float) -> None:
    """Replace a run summary's probability intervals by the rule's adjusted ones (in
    place); ``counts`` as :func:`probability_counts` with ``targeted_only=False``."""
    for sid, st in summary["states"].items():
        for name, field in ADJUSTED.items():
            lo, hi = clopper_pearson(counts[f"{sid}.{name}"], n, level)
            if isinstance(field, tuple):
                st[field[0]], st[field[1]] = lo, hi
            else:
                st[field] = [lo, hi]
    a = summary["any_base"]
    a["ci_low"], a["ci_high"] = clopper_pearson(counts["any_base.p"], n, level)
