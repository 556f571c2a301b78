"""Analysis across scenarios: the historical check and paired counterfactual comparisons.

Kept apart from the core (which never imports it). Comparisons use common random numbers:
both scenarios run with the same seed and trial count, so trial ``i`` sees the same random
numbers in both and the per-trial difference isolates the change of scenario. The interval
of a difference is the normal interval of the paired per-trial differences, which is far
narrower than two independent intervals would allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import Scenario, load_scenario
from .errors import ConfigError
from .summary import Z95, wilson

__all__ = ["HISTORY_FILES", "HistoryRow", "validate_history", "paired_difference", "compare",
           "history_markdown", "compare_markdown"]

#: The two episodes with a recorded outcome, relative to the repository root.
HISTORY_FILES = ("experiments/opening_2001.toml", "experiments/baseline_2021.toml")


def _based(result: Any) -> np.ndarray:
    """Per-trial indicator of a base, shape ``(trials, S)``."""
    S = len(result.scenario.states)
    return result.table["first_base_month"].notna().to_numpy().reshape(-1, S)


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


def validate_history(paths: list[str | Path] | tuple[str | Path, ...] = HISTORY_FILES, *,
                     trials: int | None = None, seed: int | None = None,
                     workers: int = 1) -> tuple[list[HistoryRow], dict[str, Any]]:
    """Run each episode and compare the probability of its ``[record]`` with the record.

    Returns
    -------
    rows : list of HistoryRow, one per recorded state per episode
    results : dict of scenario name -> SimulationResult
    """
    from .runner import simulate

    rows, results = [], {}
    for path in paths:
        sc = load_scenario(path)
        if not sc.record:
            raise ConfigError(str(path), "record", None,
                              "a [record] table {STATE_ID = true|false} is needed to compare "
                              "with history")
        res = simulate(sc, trials=trials, seed=seed, workers=workers)
        results[sc.name] = res
        got = _based(res)
        n = got.shape[0]
        for sid, recorded in sc.record:
            k_base = int(got[:, sc.state_ids.index(sid)].sum())
            k = k_base if recorded else n - k_base
            lo, hi = wilson(k, n)
            rows.append(HistoryRow(sc.name, sid, recorded, k / n, lo, hi, k_base / n))
    return rows, results


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``b - a`` over paired trials and its 95% normal interval."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    m = float(d.mean())
    if d.size < 2:
        return m, m, m
    half = Z95 * float(d.std(ddof=1)) / np.sqrt(d.size)
    return m, m - half, m + half


def compare(base: Scenario | str | Path, others: list[Scenario | str | Path], *,
            trials: int | None = None, seed: int | None = None,
            workers: int = 1) -> dict[str, Any]:
    """Change in ``p_base`` per state of each scenario against ``base``, with paired CIs.

    All runs use the base's seed (or ``seed``) and trial count, so trials are paired.

    Returns
    -------
    dict with ``base`` (name), ``trials``, ``seed``, ``p_base`` of the base per state, and
    ``rows``: for each other scenario and state, ``delta``, ``ci_low``, ``ci_high``,
    ``p_base``.
    """
    from .runner import simulate

    base_sc = base if isinstance(base, Scenario) else load_scenario(base)
    b = simulate(base_sc, trials=trials, seed=seed, workers=workers)
    gb = _based(b)
    out: dict[str, Any] = {
        "base": base_sc.name, "trials": b.trials, "seed": b.seed,
        "p_base": {sid: float(gb[:, i].mean()) for i, sid in enumerate(base_sc.state_ids)},
        "any_base": float(gb.any(axis=1).mean()),
        "rows": [],
    }
    for other in others:
        sc = other if isinstance(other, Scenario) else load_scenario(other)
        if sc.state_ids != base_sc.state_ids:
            raise ConfigError(sc.source, "states", list(sc.state_ids),
                              f"must list the same states in the same order as the base "
                              f"{list(base_sc.state_ids)} for paired trials")
        r = simulate(sc, trials=b.trials, seed=b.seed, workers=workers)
        g = _based(r)
        for i, sid in enumerate(sc.state_ids):
            d, lo, hi = paired_difference(gb[:, i], g[:, i])
            out["rows"].append({"scenario": sc.name, "state": sid, "delta": d, "ci_low": lo,
                                "ci_high": hi, "p_base": float(g[:, i].mean())})
        d, lo, hi = paired_difference(gb.any(axis=1), g.any(axis=1))
        out["rows"].append({"scenario": sc.name, "state": "any", "delta": d, "ci_low": lo,
                            "ci_high": hi, "p_base": float(g.any(axis=1).mean())})
    return out


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
