"""Runs across scenarios: the historical episodes and paired counterfactual comparisons.

The statistics are :mod:`abm.analysis.history`'s; this module makes the runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..analysis.history import HistoryRow, based, compare_rows, grouped_compare_rows, pattern_rows
from ..errors import ConfigError
from ..model.rng import GROUP_SIZE
from ..scenario import Scenario, load_scenario
from ..scenario.record import legacy_patterns
from .posterior import as_posterior
from .simulate import simulate

__all__ = ["HISTORY_DIR", "HISTORY_FILES", "history_files", "validate_history", "compare"]

#: The episode library, relative to the repository root: one file per episode.
HISTORY_DIR = "experiments/history"
#: The two scenario files that carried a record before the library (still valid episodes).
HISTORY_FILES = ("experiments/opening_2001.toml", "experiments/baseline_2021.toml")


def history_files(folder: str | Path = HISTORY_DIR) -> list[Path]:
    """Every episode file of the library (``*.toml`` directly in ``folder``), sorted; a
    calibration file there (a ``[calibration]`` table) is not an episode."""
    from .calibrate.spec import is_calibration_file

    return sorted(p for p in Path(folder).glob("*.toml") if not is_calibration_file(p))


def validate_history(paths: Sequence[str | Path] | None = None, *,
                     trials: int | None = None, seed: int | None = None,
                     workers: int = 1) -> tuple[list[HistoryRow], dict[str, Any]]:
    """Run each episode and compare the probability of its ``[record]`` with the record.

    Returns
    -------
    rows : list of HistoryRow, one per recorded pattern per episode (``STATE = bool``
        entries first, as ``base_by`` the last month / ``no_base``), in-sample episodes
        before out-of-sample ones
    results : dict of scenario name -> SimulationResult
    """
    if paths is None:
        paths = history_files()
    rows, results = [], {}
    for path in paths:
        sc = load_scenario(path)
        if not sc.record and not sc.patterns:
            raise ConfigError(str(path), "record", None,
                              "a [record] table {STATE_ID = true|false} or "
                              "[[record.patterns]] is needed to compare with history")
        res = simulate(sc, trials=trials, seed=seed, workers=workers)
        results[sc.name] = res
        pats = legacy_patterns(sc.record, sc.horizon_months) + sc.patterns
        rows += pattern_rows(sc.name, sc.state_ids, pats, res.table,
                             out_of_sample=sc.out_of_sample)
    rows.sort(key=lambda r: r.out_of_sample)  # stable: file order within each part
    return rows, results


def compare(base: Scenario | str | Path, others: Sequence[Scenario | str | Path], *,
            trials: int | None = None, seed: int | None = None,
            workers: int = 1, posterior: Any = None) -> dict[str, Any]:
    """Change in ``p_base`` per state of each scenario against ``base``, with paired CIs.

    All runs use the base's seed (or ``seed``) and trial count, so trials are paired.
    Under a posterior (``posterior``, a path or :class:`~abm.experiment.posterior.Posterior`;
    default the base's ``posterior`` key) every run draws the same parameter set for the
    same group of trials, so trials are paired by parameter draw and random numbers, and
    the interval is on the mean of the per-group differences
    (:func:`~abm.analysis.history.grouped_compare_rows`); ``posterior`` is then recorded.

    Returns
    -------
    dict with ``base`` (name), ``trials``, ``seed``, ``p_base`` of the base per state, and
    ``rows``: for each other scenario and state, ``delta``, ``ci_low``, ``ci_high``,
    ``p_base``.
    """
    base_sc = base if isinstance(base, Scenario) else load_scenario(base)
    post = as_posterior(posterior, base_sc)
    b = simulate(base_sc, trials=trials, seed=seed, workers=workers, posterior=post)
    gb = based(b.table, len(base_sc.states))
    out: dict[str, Any] = {
        "base": base_sc.name, "trials": b.trials, "seed": b.seed,
        "p_base": {sid: float(gb[:, i].mean()) for i, sid in enumerate(base_sc.state_ids)},
        "any_base": float(gb.any(axis=1).mean()),
        "rows": [],
    }
    if post is not None:
        out["posterior"] = {**post.record(), "group_trials": GROUP_SIZE}
    for other in others:
        sc = other if isinstance(other, Scenario) else load_scenario(other)
        if sc.state_ids != base_sc.state_ids:
            raise ConfigError(sc.source, "states", list(sc.state_ids),
                              f"must list the same states in the same order as the base "
                              f"{list(base_sc.state_ids)} for paired trials")
        if post is not None and sc.posterior is not None:
            own = as_posterior(None, sc)
            if own is not None and own.sha256 != post.sha256:
                raise ConfigError(sc.source, "posterior", sc.posterior,
                                  f"differs from the comparison's posterior ({post.path}); "
                                  "a comparison pairs every scenario on one posterior")
        r = simulate(sc, trials=b.trials, seed=b.seed, workers=workers, posterior=post)
        g = based(r.table, len(sc.states))
        out["rows"] += (compare_rows(sc.name, sc.state_ids, gb, g) if post is None else
                        grouped_compare_rows(sc.name, sc.state_ids, gb, g, GROUP_SIZE))
    return out
