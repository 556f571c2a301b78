"""Adaptive sweeps (``trials_per_point = "adaptive"``): every point stops on its own, by
the rule of ``abm run --target-halfwidth`` (:mod:`abm.analysis.sequential`).

Points run in rounds, one per look of the schedule (1,000, 2,000, 4,000, ... trials up to
``max_trials_per_point``): round ``k`` adds the blocks between look ``k-1`` and look ``k``
for the points still running, then each of them stops if all its probabilities that the
sweep counts (P(base), P(veto) and P(closed) per state, P(any base)) have adjusted 95%
intervals at most ``target_halfwidth`` on each side. The reference (the scenario without
the sweep) runs while any point does, so that every point's paired difference uses the
reference's first ``n`` trials, the same trials as the point's. Blocks keep their streams
(:mod:`abm.model.rng`), so point ``p`` with ``n`` trials has exactly the numbers it has in
a fixed sweep of ``n`` trials per point (with ``crn`` or without).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...analysis.sequential import SequentialRule, halfwidth
from ...model.rng import BLOCK_SIZE

__all__ = ["plan_round", "run_rounds"]

Task = tuple[int, int, int, int]


def _ranges(active: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive active points, ``[(first, last + 1), ...]``."""
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) > 1) + 1
    return [(int(g[0]), int(g[-1]) + 1) for g in np.split(idx, cut)]


def plan_round(ranges: list[tuple[int, int]], b0: int, b1: int, chunk_rows: int
               ) -> list[Task]:
    """``(p0, p1, b0, nb)`` tasks over blocks ``b0 .. b1 - 1`` of the points in ``ranges``,
    about ``chunk_rows`` rows each (as :func:`abm.experiment.sweep.run.plan_chunks`)."""
    nb_all = b1 - b0
    rows = nb_all * BLOCK_SIZE
    out: list[Task] = []
    for a, b in ranges:
        if rows >= chunk_rows:
            per = max(1, chunk_rows // BLOCK_SIZE)
            out += [(p, p + 1, b0 + k, min(per, nb_all - k))
                    for p in range(a, b) for k in range(0, nb_all, per)]
        else:
            pp = max(1, chunk_rows // rows)
            out += [(p, min(p + pp, b), b0, nb_all) for p in range(a, b, pp)]
    return out


def run_rounds(rule: SequentialRule, n_total: int, chunk_rows: int,
               execute: Callable[[list[Task], int], dict[int, dict[str, np.ndarray]]]
               ) -> tuple[list[Task], dict[int, dict[str, Any]], dict[str, np.ndarray]]:
    """Run the rounds; ``execute(tasks, n)`` runs tasks of a round whose points end at
    ``n`` trials and returns their results by task index.

    Returns every round's tasks, their results (indexed as the task list) and per point
    (the reference last): ``trials``, ``target_reached`` and ``widest_halfwidth``.
    """
    ref = n_total - 1
    counts: np.ndarray | None = None
    n_pt = np.zeros(n_total, dtype=np.int64)
    reached = np.zeros(n_total, dtype=bool)
    widest = np.full(n_total, np.nan)
    active = np.ones(n_total, dtype=bool)
    tasks_all: list[Task] = []
    results: dict[int, dict[str, Any]] = {}
    done = 0
    for n in rule.looks:
        tasks = plan_round(_ranges(active), done // BLOCK_SIZE, math.ceil(n / BLOCK_SIZE),
                           chunk_rows)
        res = execute(tasks, n)
        for i, (p0, p1, _b0, _nb) in enumerate(tasks):
            r = res[i]
            c = np.concatenate([r["n_base"], r["n_veto"], r["n_closed"],
                                r["n_any"][:, None]], axis=1)
            if counts is None:
                counts = np.zeros((n_total, c.shape[1]), dtype=np.int64)
            counts[p0:p1] += c
            results[len(tasks_all) + i] = r
        tasks_all += tasks
        idx = np.flatnonzero(active)
        n_pt[idx] = n
        w = np.atleast_2d(halfwidth(counts[idx], n, rule.level)).max(axis=1)
        widest[idx] = w
        reached[idx] = w <= rule.target_halfwidth
        active[idx[reached[idx]]] = False
        active[ref] = active[ref] or bool(active[:ref].any())
        done = n
        if not active.any():
            break
    return tasks_all, results, {"trials": n_pt, "target_reached": reached,
                                "widest_halfwidth": widest}
