"""Assembling a sweep's chunks: the points table, the summary with paired intervals, the
canonical hash, and the atomic sweep directory."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...analysis.sensitivity import sensitivity
from ...analysis.sequential import RULE, RULE_TEXT, clopper_pearson
from ...analysis.stats import mean_ci_from_sums, paired_difference, unpaired_difference, wilson
from ...errors import ResultsError
from ...model.accumulators import FIXED_POINT
from ...model.kernels import kernel_version
from ...model.rng import BLOCK_SIZE, GROUP_SIZE, design_seed
from ..store import (
    atomic_dir,
    file_problems,
    git_commit,
    package_versions,
    read_json,
    sha256_file,
    write_json,
)
from .posterior import apply_grouped, group_means, sweep_posterior
from .spec import BOOL_KEYS, Experiment, problem

__all__ = ["AGG_INT", "SWEEP_FILES", "assemble", "read_finished", "write_sweep",
           "sweep_sensitivity"]

#: Integer aggregates per point and state, summed over chunks.
AGG_INT = ("n_base", "n_veto", "n_closed", "sum_hosted", "sumsq_hosted", "sum_incidents",
           "sumsq_incidents", "sum_final_w")


SWEEP_FILES = ("points.parquet", "summary.json", "sensitivity.json")


def read_finished(final: Path) -> dict[str, Any]:
    """The summary of a finished sweep, after checking every file against its manifest."""
    manifest = read_json(final / "manifest.json")
    files = manifest.get("files")
    problems = (["manifest lists no files"] if not isinstance(files, dict) else
                file_problems(final, files, SWEEP_FILES))
    if problems:
        raise ResultsError(f"{final}: {problems[0]}; use --force to recompute")
    return read_json(final / "summary.json")


def assemble(exp: Experiment, sid: str, tasks: list[tuple[int, int, int, int]],
             results: dict[int, dict[str, np.ndarray]],
             stops: dict[str, np.ndarray] | None = None, plan: Any = None
             ) -> tuple[dict[str, Any], Any]:
    """The summary and the points table. ``stops``: an adaptive sweep's per-point
    ``trials``, ``target_reached`` and ``widest_halfwidth`` (the reference last).
    ``plan``: under a posterior, the groups' particles the run drew
    (:func:`.posterior.sweep_posterior`; drawn again if not given, e.g. when every chunk
    came from checkpoints)."""
    n_total, S, tpp = exp.n_points + 1, len(exp.base.states), exp.spec.trials_per_point
    agg = {k: np.zeros((n_total, S), dtype=np.int64) for k in AGG_INT}
    n_any = np.zeros(n_total, dtype=np.int64)
    nbytes = math.ceil((S + 1) / 8)
    n_pt = (np.full(n_total, tpp, dtype=np.int64) if stops is None
            else np.asarray(stops["trials"], dtype=np.int64))
    # each point's packed bits, in pieces by first block (an adaptive sweep's points stop
    # at different counts, so there is no (points, trials) array to fill)
    pieces: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n_total)]
    for i, (p0, p1, b0, _nb) in enumerate(tasks):
        r = results[i]
        for k in AGG_INT:
            agg[k][p0:p1] += r[k]
        n_any[p0:p1] += r["n_any"]
        for q in range(p0, p1):
            pieces[q].append((b0, r["bits"][q - p0]))

    def packed(q: int) -> np.ndarray:
        """Point q's packed indicators, (n_pt[q], nbytes), trials in order."""
        parts = [b for _, b in sorted(pieces[q], key=lambda x: x[0])]
        out = np.concatenate(parts) if parts else np.zeros((0, nbytes), np.uint8)
        assert out.shape == (n_pt[q], nbytes), (q, out.shape)
        return out

    def got(q: int) -> np.ndarray:
        """Point q's per-trial base indicators, (n_pt[q], S+1); one point at a time."""
        return np.unpackbits(packed(q), axis=-1, count=S + 1).astype(bool)

    ids = exp.base.state_ids
    ref_got = got(exp.n_points)
    rule = exp.spec.rule
    if rule is None:
        ci, n = wilson, tpp
    else:  # adjusted for the looks; every point's own count
        def ci(k: Any, m: Any) -> tuple[Any, Any]:
            return clopper_pearson(k, m, rule.level)
        n = n_pt[:exp.n_points]

    cols: dict[str, Any] = {"point": np.arange(exp.n_points)}
    for j, key in enumerate(exp.keys):
        cols[key] = (exp.X[:, j].astype(bool) if key in BOOL_KEYS else exp.X[:, j])
    ref = exp.n_points
    if stops is not None:
        cols["trials"] = n_pt[:ref]
        cols["target_reached"] = np.asarray(stops["target_reached"][:ref], dtype=bool)
        cols["widest_halfwidth"] = np.asarray(stops["widest_halfwidth"][:ref], dtype=float)

    diffs = {col: ([], [], []) for col in range(S + 1)}
    # under a posterior: per point, the mean of each group of trials (one parameter draw)
    means = (None if exp.posterior is None else
             np.zeros((n_total, tpp // GROUP_SIZE, S + 1)))
    if means is not None:
        means[ref] = group_means(ref_got)
    for q in range(exp.n_points):
        gq = got(q)
        if means is not None:  # intervals from the group means (apply_grouped, below)
            means[q] = group_means(gq)
            continue
        rq = ref_got[:len(gq)]  # the reference's first trials: the point's own (adaptive)
        for col in range(S + 1):
            d, lo, hi = diffs[col]
            if exp.spec.crn:
                a, b_, c = paired_difference(rq[:, col], gq[:, col])
            else:  # independent streams: unpaired normal interval
                a, b_, c = unpaired_difference(rq[:, col], gq[:, col])
            d.append(a)
            lo.append(b_)
            hi.append(c)

    def diff(col: int) -> tuple[list[float], list[float], list[float]]:
        return diffs[col]

    if means is not None:
        for col in range(S + 1):
            diffs[col] = ([math.nan] * ref,) * 3  # replaced by apply_grouped
    cols["any_base.p"] = n_any[:ref] / n
    cols["any_base.ci_low"], cols["any_base.ci_high"] = ci(n_any[:ref], n)
    cols["any_base.p_diff"], cols["any_base.p_diff_ci_low"], cols["any_base.p_diff_ci_high"] = \
        diff(S)
    for i, sid_ in enumerate(ids):
        cols[f"{sid_}.p_base"] = agg["n_base"][:ref, i] / n
        cols[f"{sid_}.ci_low"], cols[f"{sid_}.ci_high"] = ci(agg["n_base"][:ref, i], n)
        cols[f"{sid_}.p_veto"] = agg["n_veto"][:ref, i] / n
        cols[f"{sid_}.mean_months_hosted"] = agg["sum_hosted"][:ref, i] / n
        cols[f"{sid_}.p_closed"] = agg["n_closed"][:ref, i] / n
        cols[f"{sid_}.mean_incidents"] = agg["sum_incidents"][:ref, i] / n
        cols[f"{sid_}.mean_final_w"] = agg["sum_final_w"][:ref, i] / FIXED_POINT / n
        d, lo, hi = diff(i)
        cols[f"{sid_}.p_base_diff"] = d
        cols[f"{sid_}.p_base_diff_ci_low"] = lo
        cols[f"{sid_}.p_base_diff_ci_high"] = hi

    h = hashlib.sha256(b"abm-sweep-v1\0")
    h.update(np.ascontiguousarray(exp.X, dtype="<f8").tobytes())
    for k in AGG_INT:
        h.update(k.encode() + np.ascontiguousarray(agg[k], dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(n_any, dtype="<i8").tobytes())
    for q in range(n_total):  # the (points, trials, bytes) array of a fixed sweep, in order
        h.update(packed(q).tobytes())  # packed with zero padding, as np.packbits writes it
    if stops is not None:
        h.update(b"trials\0" + n_pt.astype("<i8").tobytes())

    n = int(n_pt[ref])
    ref_ci = ci(int(n_any[ref]), n)
    reference = {"any_base": {"p": float(n_any[ref] / n), "ci_low": ref_ci[0],
                              "ci_high": ref_ci[1]}, "states": {}}
    if stops is not None:
        reference["trials"] = n
    for i, sid_ in enumerate(ids):
        lo, hi = ci(int(agg["n_base"][ref, i]), n)
        mh, mh_lo, mh_hi = mean_ci_from_sums(agg["sum_hosted"][ref, i],
                                             agg["sumsq_hosted"][ref, i], n, low=0.0)
        reference["states"][sid_] = {"p_base": float(agg["n_base"][ref, i] / n),
                                     "ci_low": lo, "ci_high": hi,
                                     "p_veto": float(agg["n_veto"][ref, i] / n),
                                     "p_veto_ci": list(ci(int(agg["n_veto"][ref, i]), n)),
                                     "mean_months_hosted": float(mh),
                                     "mean_months_hosted_ci": [float(mh_lo), float(mh_hi)]}
    if means is not None:  # grouped intervals, the reference's included
        post_record = apply_grouped(exp, means, cols, reference,
                                    sweep_posterior(exp) if plan is None else plan)
    points = pd.DataFrame(cols)
    summary = {
        "name": exp.base.name, "sweep_id": sid, "design": exp.spec.design,
        "points": exp.n_points, "trials_per_point": tpp, "seed": exp.seed,
        "crn": exp.spec.crn, "parameters": [p.to_dict() for p in exp.spec.parameters],
        "horizon_months": exp.base.horizon_months, "states": list(ids),
        "reference": reference,
        "outputs_sha256": h.hexdigest(),
    }
    if means is not None:
        summary["posterior"] = post_record
    if stops is not None:
        pts = n_pt[:ref]
        reached = int(np.sum(stops["target_reached"][:ref]))
        summary["adaptive"] = {
            "rule": RULE, "rule_text": RULE_TEXT, "target_halfwidth": rule.target_halfwidth,
            "max_trials_per_point": rule.max_trials, "first_look": rule.first_look,
            "looks": list(rule.looks), "level_per_look": rule.level,
            "quantities": "per state P(base), P(veto), P(closed); P(any base)",
            "trials_total": int(n_pt.sum()), "trials_min": int(pts.min()),
            "trials_max": int(pts.max()), "points_target_reached": reached,
            "points_max_trials_reached": int(exp.n_points - reached),
            "reason": ("target reached at every point" if reached == exp.n_points else
                       f"max trials reached at {exp.n_points - reached} of {exp.n_points} "
                       f"points, widest interval {np.max(stops['widest_halfwidth'][:ref]):.4g}"
                       )}
    return summary, points




def sweep_sensitivity(exp: Experiment, points: pd.DataFrame) -> dict[str, Any]:
    """Sensitivity indices of P(any base) and each state's P(base) over the sweep."""
    outputs = ["any_base.p", *[f"{s}.p_base" for s in exp.base.state_ids]]
    return sensitivity(exp.spec.design, problem(exp.spec), exp.X,
                       [p.log for p in exp.spec.parameters], points, outputs,
                       design_seed(exp.seed), exp.spec.levels)


def write_sweep(exp: Experiment, final: Path, summary: dict[str, Any], points: pd.DataFrame,
                executor: Any, started: datetime, wall: float,
                extra: Callable[..., None] | None = None, kernel: str | None = None,
                sens: dict[str, Any] | None = None) -> None:
    """Write the sweep directory atomically (replacing a finished one at ``final``);
    ``sens``: the sensitivity indices if already computed (:func:`sweep_sensitivity`)."""
    with atomic_dir(final, replace=True) as tmp:
        if sens is None:
            sens = sweep_sensitivity(exp, points)
        points.to_parquet(tmp / "points.parquet", index=False, engine="pyarrow")
        write_json(tmp / "summary.json", summary)
        write_json(tmp / "sensitivity.json", sens)
        files = {f: sha256_file(tmp / f) for f in SWEEP_FILES}
        write_json(tmp / "manifest.json", {
            "kind": "sweep", "sweep_id": summary["sweep_id"], "config": exp.path,
            "overrides": list(exp.overrides), "scenario": exp.base.to_dict(),
            "scenario_sha256": exp.base.sha256(), "sweep": exp.spec.to_dict(),
            "seed": exp.seed, "block_size": BLOCK_SIZE, "executor": executor.describe(),
            # which starting stances the rule derived (the scenario above states every
            # stance; a point that varies a coefficient or covariate derives them again)
            "stance_rule_derived": [list(d) for d in exp.base.derived],
            **({} if exp.posterior is None else {"posterior": {
                **exp.posterior.record(), "stance_rule_derived": [
                    list(d) for d in exp.base.derived]}}),
            "kernel": kernel, "kernel_version": kernel_version(kernel),
            "versions": package_versions(), "git": git_commit(), "started": started.isoformat(
                timespec="seconds"), "finished": datetime.now(UTC).isoformat(
                timespec="seconds"), "wall_seconds": round(wall, 3),
            "outputs_sha256": summary["outputs_sha256"], "files": files})
        if extra is not None:
            extra(tmp, points, summary, sens)
