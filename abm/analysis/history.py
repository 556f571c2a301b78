"""The historical check and paired comparisons, as pure functions of run results.

Comparisons use common random numbers: both scenarios run with the same seed and trial
count, so trial ``i`` sees the same random numbers in both and the per-trial difference
isolates the change of scenario. The interval of a difference is the normal interval of
the paired per-trial differences, far narrower than two independent intervals would allow.
The runs themselves are made by :mod:`abm.experiment.episodes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .stats import paired_difference, wilson

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
    rows = []
    for i, sid in enumerate(state_ids):
        d, lo, hi = paired_difference(gb[:, i], g[:, i])
        rows.append({"scenario": name, "state": sid, "delta": d, "ci_low": lo,
                     "ci_high": hi, "p_base": float(g[:, i].mean())})
    d, lo, hi = paired_difference(gb.any(axis=1), g.any(axis=1))
    rows.append({"scenario": name, "state": "any", "delta": d, "ci_low": lo,
                 "ci_high": hi, "p_base": float(g.any(axis=1).mean())})
    return rows


def history_markdown(rows: list[HistoryRow], results: dict[str, Any]) -> str:
    runs = ", ".join(f"{name} {r.trials:,} trials seed {r.seed}" for name, r in results.items())
    lines = [f"Runs: {runs}. P(recorded) is the model's probability of what happened, with a "
             "95% Wilson interval.", "",
             "| episode | state | record | P(recorded) [95% CI] | P(base) | most likely? |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        rec = "base" if r.recorded else "no base"
        lines.append(f"| {r.scenario} | {r.state} | {rec} | {r.p_recorded:.3f} "
                     f"[{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.p_base:.3f} | "
                     f"{'yes' if r.most_likely else 'NO'} |")
    return "\n".join(lines)


def compare_markdown(cmp: dict[str, Any]) -> str:
    states = list(cmp["p_base"])
    lines = [f"Change in P(base) against {cmp['base']} ({cmp['trials']:,} paired trials, seed "
             f"{cmp['seed']}): difference [95% paired interval].", "",
             "| | " + " | ".join([*states, "any"]) + " |",
             "|---" * (len(states) + 2) + "|",
             f"| {cmp['base']} (P(base)) | " + " | ".join(
                 [f"{cmp['p_base'][s]:.3f}" for s in states] + [f"{cmp['any_base']:.3f}"]) + " |"]
    by: dict[str, dict[str, dict[str, float]]] = {}
    for r in cmp["rows"]:
        by.setdefault(r["scenario"], {})[r["state"]] = r
    for name, cells in by.items():
        row = [f"{c['delta']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
               for c in (cells[s] for s in [*states, "any"])]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)
