"""Precision on demand for one run: ``simulate(..., target_halfwidth=H, max_trials=N)``.

Trials run look by look (:func:`abm.analysis.sequential.schedule`: 1,000, 2,000, 4,000, ...
up to ``max_trials``); each look adds the blocks of trials it lacks, so a run stopped at
``n`` trials holds exactly the trials ``0 .. n-1`` of a plain run of ``n`` trials, bit for
bit (a trial depends only on the seed, the scenario and its index). The statistics are in
:mod:`abm.analysis.sequential`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import limits
from ..analysis.sequential import SequentialRule, adjust_summary, probability_counts
from ..errors import ConfigError
from ..model.rng import BLOCK_SIZE

__all__ = ["precision_rule", "run_looks", "finish_summary"]


def precision_rule(target_halfwidth: Any, max_trials: Any, *,
                   target_source: str = "--target-halfwidth",
                   max_source: str = "--max-trials",
                   target_key: str = "target_halfwidth",
                   max_key: str = "max_trials") -> SequentialRule:
    """Check the two values and return the rule; a :class:`ConfigError` naming the option,
    the value and what is allowed otherwise. ``max_trials`` None: the default
    (:data:`abm.limits.DEFAULT_MAX_TRIALS`)."""
    h = target_halfwidth
    if (isinstance(h, bool) or not isinstance(h, int | float | np.floating | np.integer)
            or not math.isfinite(h) or not 0 < h < 0.5):
        raise ConfigError(target_source, target_key, h,
                          "must be a number in (0, 0.5): the largest half-width of a 95% "
                          "interval, e.g. 0.01")
    n = limits.DEFAULT_MAX_TRIALS if max_trials is None else max_trials
    if (isinstance(n, bool) or not isinstance(n, int | np.integer)
            or not limits.FIRST_LOOK <= n <= limits.MAX_TRIALS):
        raise ConfigError(max_source, max_key, n,
                          f"must be an integer in [{limits.FIRST_LOOK}, {limits.MAX_TRIALS}] "
                          f"(at least the first look of {limits.FIRST_LOOK} trials)")
    return SequentialRule(float(h), int(n), limits.FIRST_LOOK)


def run_looks(rule: SequentialRule, ids: tuple[str, ...], per_trial: dict[str, np.ndarray],
              run_blocks: Callable[[int, int, int], None],
              on_look: Callable[[int], None] | None = None) -> tuple[int, dict[str, Any]]:
    """Run look after look until the rule stops; returns ``(trials, adaptive block)``.

    ``per_trial`` holds arrays of ``rule.max_trials`` rows that ``run_blocks(first_block,
    n_blocks, n_trials)`` fills; ``on_look(n)`` is told each look's trial count before it
    runs (a progress bar's total).
    """
    counts: dict[str, int] | None = None
    done = 0
    for look, n in enumerate(rule.looks, 1):
        if on_look is not None:
            on_look(n)
        b0, b1 = done // BLOCK_SIZE, math.ceil(n / BLOCK_SIZE)
        run_blocks(b0, b1 - b0, n)
        new = probability_counts({k: v[done:n] for k, v in per_trial.items()}, ids)
        counts = new if counts is None else {k: counts[k] + new[k] for k in counts}
        done = n
        key, hw = rule.widest(counts, n)
        if hw <= rule.target_halfwidth:
            return n, rule.describe(n, look, True, key, hw)
    return done, rule.describe(done, look, False, key, hw)


def finish_summary(summary: dict[str, Any], rule: SequentialRule,
                   per_trial: dict[str, np.ndarray], ids: tuple[str, ...],
                   adaptive: dict[str, Any]) -> None:
    """Put the adjusted intervals and the ``adaptive`` block into a run's summary."""
    n = adaptive["trials"]
    counts = probability_counts(per_trial, ids, targeted_only=False)
    adjust_summary(summary, counts, n, rule.level)
    summary["adaptive"] = adaptive
