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
from .stats import newcombe_paired, paired_difference, wilson

__all__ = ["HistoryRow", "based", "record_rows", "compare_rows", "history_markdown",
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

    @property
    def most_likely(self) -> bool:
        """The recorded outcome has probability above one half."""
        return self.p_recorded > 0.5


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
    runs = ", ".join(f"{name} {r.trials:,} trials seed {r.seed}" for name, r in results.items())
    lines = [f"Runs: {runs}. P(recorded) is the model's probability of what happened, with a "
             "95% Wilson interval.", "",
             "| episode | state | record | P(recorded) [95% CI] | P(base) | most likely? |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        rec = "base" if r.recorded else "no base"
        lines.append(f"| {r.scenario} | {r.state} | {rec} | "
                     f"{fmt_prob_ci(r.p_recorded, r.ci_low, r.ci_high)} | {fmt_prob(r.p_base)} | "
                     f"{'yes' if r.most_likely else 'NO'} |")
    return "\n".join(lines)


def compare_markdown(cmp: dict[str, Any]) -> str:
    states = list(cmp["p_base"])
    lines = [f"Change in P(base) against {cmp['base']} ({cmp['trials']:,} paired trials, seed "
             f"{cmp['seed']}): difference [95% paired score interval, Newcombe 1998].", "",
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
