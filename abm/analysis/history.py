"""The historical check and paired comparisons, as pure functions of run results.

Comparisons use common random numbers: both scenarios run with the same seed and trial
count, so trial ``i`` sees the same random numbers in both and the per-trial difference
isolates the change of scenario. The interval of a difference is Newcombe's (1998, method
10) score interval for paired proportions, far narrower than two independent intervals
would allow and, unlike the Wald interval of the per-trial differences, never a single
point when no pair of trials differs.
The runs themselves are made by :mod:`abm.experiment.episodes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .formats import fmt_diff_ci, fmt_prob, fmt_prob_ci
from .stats import grouped_difference, newcombe_paired, paired_difference, wilson

__all__ = ["HistoryRow", "based", "record_rows", "pattern_hits", "pattern_rows",
           "pattern_hits_arrays", "compare_rows", "grouped_compare_rows", "history_markdown",
           "history_json",
           "compare_markdown"]


def based(table: pd.DataFrame, n_states: int) -> np.ndarray:
    """Per-trial indicator of a base, shape ``(trials, S)``, from a per-trial table."""
    return table["first_base_month"].notna().to_numpy().reshape(-1, n_states)


@dataclass(frozen=True)
class HistoryRow:
    scenario: str
    state: str
    recorded: bool
    p_recorded: float
    ci_low: float
    ci_high: float
    p_base: float
    pattern: str = ""
    out_of_sample: bool = False

    @property
    def verdict(self) -> str:
        """Is the recorded outcome the most likely one, judged by its 95% interval:
        "yes" if the lower end is above 1/2, "NO" if the upper end is below, else
        "undecided"."""
        if self.ci_low > 0.5:
            return "yes"
        return "NO" if self.ci_high < 0.5 else "undecided"

    @property
    def most_likely(self) -> bool:
        """The recorded outcome is the most likely one beyond Monte Carlo error."""
        return self.verdict == "yes"


def _col(table: pd.DataFrame, name: str, n_states: int) -> np.ndarray:
    """A per-trial outcome as floats (missing = NaN), shape ``(trials, S)``."""
    return table[name].astype("float64").to_numpy().reshape(-1, n_states)


def pattern_hits(pattern: Any, table: pd.DataFrame, state_ids: tuple[str, ...]
                 ) -> np.ndarray:
    """Per trial, whether ``pattern`` (a :class:`abm.scenario.schema.Pattern`) happened.

    Months are the episode's (0 = first month, "by month M" = by its end); the outcomes
    count ``t + 1`` for an event during month ``t`` and 0 for a base at month 0
    (docs/model.md, "Records").
    """
    n = len(state_ids)
    return pattern_hits_arrays(pattern, state_ids, _col(table, "first_base_month", n),
                               _col(table, "first_base_closed_month", n),
                               table["final_h"].to_numpy().reshape(-1, n).astype(bool))


def pattern_hits_arrays(pattern: Any, state_ids: tuple[str, ...], first: np.ndarray,
                        closed: np.ndarray, final_h: np.ndarray) -> np.ndarray:
    """:func:`pattern_hits` on outcome arrays of shape ``(..., S)``: ``first`` and
    ``closed`` as floats with NaN for "never" (the table's missing values), ``final_h``
    as bools. Used by the calibration on the kernel's arrays, without a table."""
    i = state_ids.index(pattern.state)
    first, closed = first[..., i], closed[..., i]
    m = pattern.months
    with np.errstate(invalid="ignore"):
        if pattern.kind == "base_by":
            return first <= m[0] + 1
        if pattern.kind == "no_base":
            return np.isnan(first)
        if pattern.kind == "hosting_at_end":
            return final_h[..., i].astype(bool)
        if pattern.kind == "closed_by":
            return closed <= m[0] + 1
        if pattern.kind == "open_through":
            return (first == 0) & ~(closed <= m[0] + 1)
        if pattern.kind == "opened_between":
            return (first >= m[0] + 1) & (first <= m[1] + 1)
    raise ValueError(f"unknown pattern kind {pattern.kind!r}")


def pattern_rows(name: str, state_ids: tuple[str, ...], patterns: Any,
                 table: pd.DataFrame, *, out_of_sample: bool = False) -> list[HistoryRow]:
    """P(recorded pattern) with its 95% Wilson interval, one row per pattern."""
    got = based(table, len(state_ids))
    rows = []
    for pat in patterns:
        hit = pattern_hits(pat, table, state_ids)
        n, k = hit.size, int(hit.sum())
        lo, hi = wilson(k, n)
        rows.append(HistoryRow(name, pat.state, pat.kind not in ("no_base",), k / n, lo, hi,
                               float(got[:, state_ids.index(pat.state)].mean()),
                               pattern=pat.label(), out_of_sample=out_of_sample))
    return rows


def record_rows(name: str, state_ids: tuple[str, ...], record: tuple[tuple[str, bool], ...],
                got: np.ndarray) -> list[HistoryRow]:
    """P(recorded outcome) per recorded state, from per-trial base indicators ``got``."""
    n = got.shape[0]
    rows = []
    for sid, recorded in record:
        k_base = int(got[:, state_ids.index(sid)].sum())
        k = k_base if recorded else n - k_base
        lo, hi = wilson(k, n)
        rows.append(HistoryRow(name, sid, recorded, k / n, lo, hi, k_base / n))
    return rows


def compare_rows(name: str, state_ids: tuple[str, ...], gb: np.ndarray, g: np.ndarray
                 ) -> list[dict[str, Any]]:
    """Paired change in P(base) per state and anywhere, from base indicators ``gb`` (the
    base scenario) and ``g`` (another), trial by trial."""
    cols = [(sid, gb[:, i], g[:, i]) for i, sid in enumerate(state_ids)]
    cols.append(("any", gb.any(axis=1), g.any(axis=1)))
    return [_compare_row(name, sid, a, b) for sid, a, b in cols]


def grouped_compare_rows(name: str, state_ids: tuple[str, ...], gb: np.ndarray,
                         g: np.ndarray, group_size: int) -> list[dict[str, Any]]:
    """:func:`compare_rows` under a posterior: trials come in groups of ``group_size``
    that share a parameter draw and random numbers on both sides, so the interval is the
    t interval on the mean of the per-group differences
    (:func:`~abm.analysis.stats.grouped_difference`), which carries parameter
    uncertainty; ``unpaired_ci_low``/``unpaired_ci_high`` are what the same group means
    would give without the pairing. Newcombe's interval (trials taken as independent)
    stays as ``newcombe_ci_low``/``newcombe_ci_high``."""
    cols = [(sid, gb[:, i], g[:, i]) for i, sid in enumerate(state_ids)]
    cols.append(("any", gb.any(axis=1), g.any(axis=1)))
    rows = []
    for sid, a, b in cols:
        row = _compare_row(name, sid, a, b)
        d, lo, hi, ulo, uhi = grouped_difference(a.reshape(-1, group_size),
                                                 b.reshape(-1, group_size))
        row.update({"newcombe_ci_low": row["ci_low"], "newcombe_ci_high": row["ci_high"],
                    "ci_low": max(lo, -1.0), "ci_high": min(hi, 1.0),
                    "unpaired_ci_low": max(ulo, -1.0), "unpaired_ci_high": min(uhi, 1.0),
                    "ci_method": "t-paired-group-means"})
        rows.append(row)
    return rows


def _compare_row(name: str, state: str, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """One row: ``delta`` with Newcombe's paired score interval (``ci_low``/``ci_high``),
    the discordant pairs, and the former Wald interval (``wald_ci_low``/``wald_ci_high``)."""
    d, lo, hi = newcombe_paired(a, b)
    _, wlo, whi = paired_difference(a, b)
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    return {"scenario": name, "state": state, "delta": d, "ci_low": lo, "ci_high": hi,
            "p_base": float(b.mean()), "p_ref": float(a.mean()),
            "ci_method": "newcombe-paired-score", "n_gained": int(np.sum(b & ~a)),
            "n_lost": int(np.sum(a & ~b)), "wald_ci_low": wlo, "wald_ci_high": whi}


def history_markdown(rows: list[HistoryRow], results: dict[str, Any]) -> str:
    """The table of every pattern, in-sample episodes first, the out-of-sample ones apart."""
    runs = ", ".join(f"{name} {r.trials:,} trials seed {r.seed}" for name, r in results.items())
    lines = [f"Runs: {runs}. P(recorded) is the model's probability of what happened, with a "
             "95% Wilson interval; most likely = \"yes\" if the interval lies above 1/2, "
             "\"NO\" if below, else \"undecided\"."]
    for oos, title in ((False, "In sample"), (True, "Out of sample (never used to choose "
                                                     "anything)")):
        part = [r for r in rows if r.out_of_sample == oos]
        if not part:
            continue
        lines += ["", f"{title}:", "",
                  "| episode | state | record | P(recorded) [95% CI] | P(base) | most likely? |",
                  "|---|---|---|---|---|---|"]
        for r in part:
            rec = r.pattern or ("base" if r.recorded else "no base")
            lines.append(f"| {r.scenario} | {r.state} | {rec} | "
                         f"{fmt_prob_ci(r.p_recorded, r.ci_low, r.ci_high)} | "
                         f"{fmt_prob(r.p_base)} | {r.verdict} |")
    return "\n".join(lines)


def history_json(rows: list[HistoryRow], results: dict[str, Any]) -> dict[str, Any]:
    """The same as data: runs, and one entry per pattern."""
    return {
        "runs": {name: {"trials": r.trials, "seed": r.seed} for name, r in results.items()},
        "rows": [{"episode": r.scenario, "state": r.state, "pattern": r.pattern,
                  "out_of_sample": r.out_of_sample, "p_recorded": r.p_recorded,
                  "ci_low": r.ci_low, "ci_high": r.ci_high, "p_base": r.p_base,
                  "verdict": r.verdict} for r in rows],
    }


def compare_markdown(cmp: dict[str, Any]) -> str:
    states = list(cmp["p_base"])
    how = ("95% paired score interval, Newcombe 1998" if not cmp.get("posterior") else
           f"95% t interval on paired group means, {cmp['posterior']['group_trials']} trials "
           f"per parameter draw of posterior {cmp['posterior']['calibration_id']}")
    lines = [f"Change in P(base) against {cmp['base']} ({cmp['trials']:,} paired trials, seed "
             f"{cmp['seed']}): difference [{how}].", "",
             "| | " + " | ".join([*states, "any"]) + " |",
             "|---" * (len(states) + 2) + "|",
             f"| {cmp['base']} (P(base)) | " + " | ".join(
                 [fmt_prob(cmp['p_base'][s]) for s in states] + [fmt_prob(cmp['any_base'])])
             + " |"]
    by: dict[str, dict[str, dict[str, float]]] = {}
    for r in cmp["rows"]:
        by.setdefault(r["scenario"], {})[r["state"]] = r
    for name, cells in by.items():
        row = [fmt_diff_ci(c["delta"], c["ci_low"], c["ci_high"])
               for c in (cells[s] for s in [*states, "any"])]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)
