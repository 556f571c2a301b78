"""Scenario discovery on a sweep's points table: which regions of the inputs lead to an
outcome of interest (``UZB.p_base > 0.5``, say)?

Three methods, pure functions of the table:

- **PRIM**, the patient rule induction method (Friedman & Fisher 1999), as used for
  scenario discovery (Bryant & Lempert 2010), from the ``prim`` package: a peeling and
  pasting trajectory of ever smaller, denser boxes; one box is chosen by a stated rule and
  the limits get bootstrap intervals (the points resampled with a recorded seed).
- **CART** (Breiman et al. 1984), scikit-learn's ``DecisionTreeClassifier``: the leaves
  that predict the positive class, as rules with their coverage and density.
- **Feature scores** from extremely randomised trees (Geurts et al. 2006), scikit-learn's
  ``ExtraTreesClassifier`` (impurity-based importances), with bootstrap intervals.

Coverage: the share of all positive points that lie in the box; density: the share of
the points in the box that are positive (Bryant & Lempert 2010).

Inputs are numbers before any method sees them: a switch (bool) is 0/1 and a string
column integer codes (sorted categories), so ``prim`` peels them as discrete values (its
box limits raise a TypeError on categorical columns under pandas 3); limits are decoded
back when reported.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, unknown

__all__ = ["OPS", "Outcome", "parse_outcome", "check_outcome", "encode_inputs", "run_prim",
           "choose_step", "prim_bootstrap", "resamples", "interval", "quasi_p", "cart_rules",
           "feature_scores", "decode_limit", "discover", "PRIM_PARAMS", "N_TREES"]

OPS = (">", ">=", "<", "<=")
#: ``prim`` settings (its defaults): share peeled or pasted per step; smallest box mass.
PRIM_PARAMS = {"peel_alpha": 0.05, "paste_alpha": 0.05, "mass_min": 0.05}
#: Trees per extra-trees fit.
N_TREES = 100
_EXPR = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|>|<|==|=|!=)\s*(\S+)\s*$")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Outcome:
    """``column op threshold``: a point is positive when the comparison holds."""

    column: str
    op: str
    threshold: float

    @property
    def text(self) -> str:
        return f"{self.column}{self.op}{self.threshold:g}"

    def slug(self) -> str:
        """A folder name: ``UZB.p_base-gt-0.5``."""
        word = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}[self.op]
        return f"{self.column}-{word}-{self.threshold:g}".replace("+", "")

    def positive(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        return {">": v > self.threshold, ">=": v >= self.threshold,
                "<": v < self.threshold, "<=": v <= self.threshold}[self.op]


def parse_outcome(text: str) -> Outcome:
    """``'UZB.p_base>0.5'`` -> :class:`Outcome`; a :class:`ConfigError` naming
    ``--outcome`` otherwise (the column is checked against a table by
    :func:`check_outcome`)."""
    form = ("must be COLUMN OP NUMBER with OP one of >, >=, <, <= and COLUMN a column of "
            "the sweep's points table (e.g. 'UZB.p_base>0.5')")
    m = _EXPR.match(text or "")
    if m is None:
        raise ConfigError("--outcome", "outcome", text, form)
    col, op, num = m.groups()
    if op not in OPS:
        raise ConfigError("--outcome", "outcome", text,
                          f"operator {op!r} is not allowed: use one of >, >=, <, <=")
    if not _NUMBER.match(num):
        raise ConfigError("--outcome", "outcome", text,
                          f"threshold {num!r} must be a finite number (e.g. 0.5)")
    return Outcome(col, op, float(num))


def check_outcome(outcome: Outcome, points: pd.DataFrame, inputs: list[str]) -> np.ndarray:
    """The positive points (bool array), after checking that the column is an output of
    the table and that the outcome splits the points (some positive, some not)."""
    outputs = [c for c in points.columns if c != "point" and c not in inputs]
    text = outcome.text
    if outcome.column in inputs or outcome.column == "point":
        raise ConfigError("--outcome", "outcome", text,
                          f"{outcome.column} is an input of the sweep, not an outcome; use "
                          "an output column such as any_base.p or UZB.p_base")
    if outcome.column not in outputs:
        raise ConfigError("--outcome", "outcome", text,
                          unknown(outcome.column, outputs, "column"))
    col = points[outcome.column]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise ConfigError("--outcome", "outcome", text, f"{outcome.column} is not numeric")
    v = col.to_numpy(dtype=float)
    if not np.isfinite(v).all():
        raise ConfigError("--outcome", "outcome", text,
                          f"{outcome.column} has {int((~np.isfinite(v)).sum())} missing "
                          "values; choose another column")
    y = outcome.positive(v)
    n, k = len(y), int(y.sum())
    if k == 0 or k == n:
        which = "no point" if k == 0 else "every point"
        raise ConfigError("--outcome", "outcome", text,
                          f"{which} of {n} meets it ({outcome.column} ranges over "
                          f"[{v.min():.4g}, {v.max():.4g}]): nothing to discover; choose a "
                          "threshold inside that range")
    return y


# --------------------------------------------------------------------------- inputs


def encode_inputs(points: pd.DataFrame, keys: list[str], logs: dict[str, bool] | None = None
                  ) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    """The inputs as numbers, their descriptions, and the keys dropped (constant).

    A bool column becomes int64 0/1 and a string column int64 codes of its sorted
    categories (``prim`` peels integers as discrete values); numbers stay as they are.
    """
    logs = logs or {}
    cols: dict[str, np.ndarray] = {}
    info, dropped = [], []
    for k in keys:
        s = points[k]
        if s.nunique(dropna=False) < 2:
            dropped.append(k)
            continue
        if pd.api.types.is_bool_dtype(s):
            cols[k] = s.astype("int64").to_numpy()
            info.append({"key": k, "kind": "bool", "low": 0, "high": 1})
        elif pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy()
            v = v.astype("int64") if pd.api.types.is_integer_dtype(s) else v.astype(float)
            cols[k] = v
            info.append({"key": k, "kind": "number", "low": float(v.min()),
                         "high": float(v.max()), "log": bool(logs.get(k, False))})
        else:
            cats = sorted(str(c) for c in s.unique())
            codes = {c: i for i, c in enumerate(cats)}
            cols[k] = np.array([codes[str(c)] for c in s], dtype="int64")
            info.append({"key": k, "kind": "category", "low": 0, "high": len(cats) - 1,
                         "categories": cats})
    return pd.DataFrame(cols), info, dropped


def decode_limit(inp: dict[str, Any], lo: float, hi: float) -> Any:
    """A box's limits on one input as reported: ``[lo, hi]`` for a number, the allowed
    values for a switch or a category."""
    if inp["kind"] == "bool":
        return [v for v in (False, True) if lo <= int(v) <= hi]
    if inp["kind"] == "category":
        return [c for i, c in enumerate(inp["categories"]) if lo <= i <= hi]
    return [float(lo), float(hi)]


# --------------------------------------------------------------------------- PRIM


def run_prim(X: pd.DataFrame, y: np.ndarray, mass_min: float = PRIM_PARAMS["mass_min"]
             ) -> dict[str, Any]:
    """One PRIM box (peeling then pasting) on all the points.

    Returns ``trajectory`` (one dict per step: coverage, density, mass, res_dim,
    restricted), ``lims`` (per step, ``{key: (lo, hi)}``), ``init`` (the data's range) and
    ``box`` (the ``prim`` box, for quasi-p-values).
    """
    import prim

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = prim.Prim(X, np.asarray(y, dtype=bool), **{**PRIM_PARAMS, "mass_min": mass_min})
        box = p.find_box()
    names = list(X.columns)
    init = {k: (float(p._box_init[k][0]), float(p._box_init[k][1])) for k in names}
    lims, traj = [], []
    tr = box.peeling_trajectory
    for i, bl in enumerate(box._box_lims):
        lim = {k: (float(bl[k][0]), float(bl[k][1])) for k in names}
        lims.append(lim)
        traj.append({"step": i, "coverage": float(tr["coverage"].iloc[i]),
                     "density": float(tr["density"].iloc[i]),
                     "mass": float(tr["mass"].iloc[i]),
                     "res_dim": int(tr["res dim"].iloc[i]),
                     "restricted": [k for k in names if _restricted(lim[k], init[k]) != ""]})
    return {"trajectory": traj, "lims": lims, "init": init, "box": box}


def _restricted(lim: tuple[float, float], init: tuple[float, float]) -> str:
    """Which sides of an input a box restricts: '', 'low', 'high' or 'both'."""
    lo, hi = lim[0] > init[0], lim[1] < init[1]
    return "both" if lo and hi else "low" if lo else "high" if hi else ""


def choose_step(traj: list[dict[str, Any]], min_coverage: float) -> int:
    """The documented rule: the densest step whose coverage is at least ``min_coverage``
    (ties: the higher coverage, then the fewer restricted inputs, then the earlier step).
    Step 0 (the whole space, coverage 1) always qualifies."""
    ok = [t for t in traj if t["coverage"] >= min_coverage - 1e-12] or traj[:1]
    best = max(ok, key=lambda t: (round(t["density"], 12), round(t["coverage"], 12),
                                  -t["res_dim"], -t["step"]))
    return int(best["step"])


def quasi_p(box: Any, step: int) -> dict[str, float]:
    """``prim``'s quasi-p-value of each restriction of a step (Bryant & Lempert 2010): a
    one-sided binomial test of the density gained by that restriction."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            box.select(step)
            qp = box._calculate_quasi_p(step)
    except Exception:  # a statistic only: a failure in the package must not stop a report
        return {}
    return {str(k): float(v) for k, v in qp.items() if v is not None and math.isfinite(v)}


def prim_bootstrap(X: pd.DataFrame, y: np.ndarray, min_coverage: float,
                   boots: list[np.ndarray], init: dict[str, tuple[float, float]],
                   progress: Callable[[int], None] | None = None,
                   mass_min: float = PRIM_PARAMS["mass_min"]) -> dict[str, Any]:
    """PRIM on each resample of the points (``boots``: row indices drawn with
    replacement), each box chosen by :func:`choose_step` with ``min_coverage``.

    Returns, per input, the resampled lower and upper limits (an unrestricted side is the
    full data's edge), whether each resample restricted it, and each resample's box's
    coverage and density on all the points (not only on its resample); ``skipped`` counts
    the resamples with no positive point (or only positive points).
    """
    names = list(X.columns)
    values = {k: X[k].to_numpy() for k in names}
    lows = {k: [] for k in names}
    highs = {k: [] for k in names}
    restricted = {k: [] for k in names}
    coverage, density = [], []
    skipped = 0
    for b, idx in enumerate(boots):
        yb = y[idx]
        if yb.all() or not yb.any():
            skipped += 1
            if progress is not None:
                progress(b + 1)
            continue
        r = run_prim(X.iloc[idx].reset_index(drop=True), yb, mass_min)
        step = choose_step(r["trajectory"], min_coverage)
        inside = np.ones(len(y), dtype=bool)
        for k in names:
            side = _restricted(r["lims"][step][k], r["init"][k])
            lo, hi = r["lims"][step][k]
            lows[k].append(lo if side in ("low", "both") else init[k][0])
            highs[k].append(hi if side in ("high", "both") else init[k][1])
            restricted[k].append(side != "")
            inside &= (values[k] >= lows[k][-1]) & (values[k] <= highs[k][-1])
        coverage.append(float(y[inside].sum() / y.sum()))
        density.append(float(y[inside].mean()) if inside.any() else 0.0)
        if progress is not None:
            progress(b + 1)
    return {"lows": lows, "highs": highs, "restricted": restricted, "skipped": skipped,
            "coverage": coverage, "density": density}


def resamples(n: int, n_boot: int, seed: int) -> tuple[list[np.ndarray], int]:
    """``n_boot`` resamples of ``n`` rows (with replacement) and the trees' random_state,
    both from ``seed``: the rows from ``SeedSequence(seed)``'s first child, the
    random_state from its second."""
    boot_ss, tree_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(boot_ss)
    boots = [rng.integers(0, n, n) for _ in range(n_boot)]
    return boots, int(np.random.default_rng(tree_ss).integers(2**31 - 1))


def interval(values: list[float]) -> list[float] | None:
    """The 2.5% and 97.5% percentiles, or None with no values."""
    if not values:
        return None
    lo, hi = np.percentile(np.asarray(values, dtype=float), [2.5, 97.5])
    return [float(lo), float(hi)]


# --------------------------------------------------------------------------- CART


def cart_rules(X: pd.DataFrame, y: np.ndarray, inputs: list[dict[str, Any]], max_depth: int,
               min_leaf: int, seed: int) -> list[dict[str, Any]]:
    """Every leaf of a classification tree as a rule (each input's interval), with its
    points, positives, coverage, density and whether it predicts the positive class
    (density > 0.5); the positive leaves first, densest first."""
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_leaf,
                                  random_state=seed).fit(X.to_numpy(dtype=float), y)
    t = tree.tree_
    names = list(X.columns)
    by_key = {i["key"]: i for i in inputs}
    leaf_of = tree.apply(X.to_numpy(dtype=float))
    n_pos = int(y.sum())
    out = []

    def walk(node: int, bounds: dict[str, list[float]]) -> None:
        if t.children_left[node] == -1:
            inside = leaf_of == node
            n, k = int(inside.sum()), int(y[inside].sum())
            rule = []
            for key, (lo, hi) in bounds.items():
                inp = by_key[key]
                entry: dict[str, Any] = {"key": key}
                if inp["kind"] == "number":
                    entry["low"] = None if lo == -math.inf else float(lo)
                    entry["high"] = None if hi == math.inf else float(hi)
                else:  # integer codes split at x.5: the values inside
                    entry["values"] = decode_limit(inp, max(lo, inp["low"]),
                                                   min(hi, inp["high"]))
                rule.append(entry)
            out.append({"leaf": int(node), "rule": rule, "n": n, "n_positive": k,
                        "coverage": k / n_pos, "density": k / n if n else 0.0,
                        "positive": bool(n and k / n > 0.5)})
            return
        key, thr = names[t.feature[node]], float(t.threshold[node])
        lo, hi = bounds.get(key, [-math.inf, math.inf])
        walk(t.children_left[node], {**bounds, key: [lo, min(hi, thr)]})
        walk(t.children_right[node], {**bounds, key: [max(lo, thr), hi]})

    walk(0, {})
    return sorted(out, key=lambda r: (not r["positive"], -r["density"], -r["coverage"]))


# --------------------------------------------------------------------------- feature scores


def feature_scores(X: pd.DataFrame, y: np.ndarray, inputs: list[dict[str, Any]],
                   boots: list[np.ndarray], seed: int) -> list[dict[str, Any]]:
    """Impurity-based importances of an extra-trees classifier (Geurts et al. 2006).

    ``score`` is the mean over fits on the bootstrap resamples ``boots`` (row indices) and
    ``ci_low``-``ci_high`` their 2.5-97.5% range, so the interval is about the number shown;
    ``score_all_points`` is one fit on every point (a resample's score can differ from it
    systematically: an input that does not matter gets a little more on fewer distinct
    points). Without resamples, ``score`` is the all-points fit and the interval None.
    Inputs swept on a log scale enter as their logarithm (the trees draw split points
    uniformly over an input's range). Highest score first.
    """
    from sklearn.ensemble import ExtraTreesClassifier

    A = X.to_numpy(dtype=float).copy()
    for j, inp in enumerate(inputs):
        if inp.get("log"):
            A[:, j] = np.log(A[:, j])

    def fit(rows: np.ndarray | None, rs: int) -> np.ndarray:
        m = ExtraTreesClassifier(n_estimators=N_TREES, random_state=rs, n_jobs=1)
        a, b = (A, y) if rows is None else (A[rows], y[rows])
        return m.fit(a, b).feature_importances_

    full = fit(None, seed % 2**32)
    reps = [fit(rows, (seed + 1 + i) % 2**32) for i, rows in enumerate(boots)
            if 0 < y[rows].sum() < len(rows)]
    out = []
    for j, inp in enumerate(inputs):
        vals = [float(r[j]) for r in reps]
        ci = interval(vals)
        out.append({"key": inp["key"], "score": float(np.mean(vals)) if vals else float(full[j]),
                    "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
                    "score_all_points": float(full[j])})
    return sorted(out, key=lambda r: -r["score"])


# --------------------------------------------------------------------------- the report


def discover(points: pd.DataFrame, keys: list[str], outcome: Outcome, *, method: str = "prim",
             min_coverage: float = 0.5, box: int | None = None, n_boot: int = 100,
             seed: int = 0, logs: dict[str, bool] | None = None, max_depth: int = 3,
             min_leaf: int | None = None, mass_min: float = PRIM_PARAMS["mass_min"],
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Scenario discovery of ``outcome`` over the inputs ``keys`` of a points table.

    Returns the body of ``discovery.json``: the outcome, the counts, the inputs, the
    method's result (``prim``: trajectory, the chosen step and its limits with bootstrap
    intervals; ``cart``: the leaves as rules) and the extra-trees feature scores. All
    randomness comes from ``seed`` (:func:`resamples`). ``box`` picks a step of the PRIM
    trajectory instead of the rule; an out-of-range step is a :class:`ConfigError`.
    """
    y = check_outcome(outcome, points, keys)
    X, inputs, dropped = encode_inputs(points, keys, logs)
    if X.shape[1] == 0:
        raise ConfigError("SWEEP_DIR", "parameters", keys,
                          "every swept parameter is constant over the points: no input to "
                          "explain the outcome with")
    n, n_pos = len(y), int(y.sum())
    boots, tree_seed = resamples(n, n_boot, seed)
    out: dict[str, Any] = {
        "outcome": {"expression": outcome.text, "column": outcome.column, "op": outcome.op,
                    "threshold": outcome.threshold},
        "n_points": n, "n_positive": n_pos, "base_density": n_pos / n, "method": method,
        "inputs": inputs, "dropped_inputs": dropped, "seed": seed,
        "bootstrap": {"resamples": n_boot, "interval": "percentile 2.5-97.5",
                      "rows": "SeedSequence(seed).spawn(2)[0]",
                      "trees_random_state": tree_seed},
        "prim": None, "cart": None,
    }
    if method == "prim":
        out["prim"] = _prim_report(X, y, inputs, min_coverage, box, boots, progress, mass_min)
    else:
        leaf = min_leaf if min_leaf is not None else max(5, math.ceil(0.01 * n))
        out["cart"] = {"max_depth": max_depth, "min_samples_leaf": leaf,
                       "random_state": tree_seed,
                       "leaves": cart_rules(X, y, inputs, max_depth, leaf, tree_seed)}
    out["feature_scores"] = {
        "method": "ExtraTreesClassifier impurity-based importance (mean decrease in "
                  "impurity; the scores of one fit sum to 1)",
        "n_estimators": N_TREES, "random_state": tree_seed,
        "score": (f"mean over {n_boot} fits on bootstrap resamples" if n_boot else
                  "one fit on all points"),
        "interval": f"percentile 2.5-97.5 over the {n_boot} fits" if n_boot else None,
        "scores": feature_scores(X, y, inputs, boots, tree_seed)}
    return out


def _prim_report(X: pd.DataFrame, y: np.ndarray, inputs: list[dict[str, Any]],
                 min_coverage: float, box: int | None, boots: list[np.ndarray],
                 progress: Callable[[int], None] | None, mass_min: float) -> dict[str, Any]:
    r = run_prim(X, y, mass_min)
    traj = r["trajectory"]
    if box is not None:
        if not 0 <= box < len(traj):
            raise ConfigError("--box", "box", box, f"must be a step of the peeling trajectory, "
                              f"0 to {len(traj) - 1} (this outcome's trajectory has "
                              f"{len(traj)} steps)")
        step = box
        rule = (f"step {box} chosen with --box; resamples take the densest step with "
                f"coverage >= {traj[box]['coverage']:.3f} (its coverage)")
        boot_cov = traj[box]["coverage"]
    else:
        step = choose_step(traj, min_coverage)
        rule = (f"the densest step with coverage >= {min_coverage:g} (--min-coverage); "
                "ties: higher coverage, then fewer restricted inputs")
        boot_cov = min_coverage
    qp = quasi_p(r["box"], step)
    bs = prim_bootstrap(X, y, boot_cov, boots, r["init"], progress, mass_min)
    limits = []
    for inp in inputs:
        k = inp["key"]
        lim, init = r["lims"][step][k], r["init"][k]
        side = _restricted(lim, init)
        share = float(np.mean(bs["restricted"][k])) if bs["restricted"][k] else None
        if not side and not (share and share >= 0.8):
            continue
        entry = {"key": k, "kind": inp["kind"], "restricted": side or None,
                 "low": lim[0], "high": lim[1], "data_low": init[0], "data_high": init[1],
                 "low_ci": interval(bs["lows"][k]), "high_ci": interval(bs["highs"][k]),
                 "bootstrap_restricted_share": share, "quasi_p": qp.get(k)}
        if inp["kind"] != "number":
            entry["values"] = decode_limit(inp, *lim)
        limits.append(entry)
    limits.sort(key=lambda e: (e["restricted"] is None, e["quasi_p"] if e["quasi_p"]
                               is not None else 1.0, e["key"]))
    t = traj[step]
    return {"params": {**PRIM_PARAMS, "mass_min": mass_min}, "rule": rule,
            "min_coverage": min_coverage,
            "chosen_step": step, "trajectory": traj,
            "box": {"coverage": t["coverage"], "density": t["density"], "mass": t["mass"],
                    "res_dim": t["res_dim"], "limits": limits,
                    "bootstrap_note": "coverage and density of each resample's box on all "
                                      "points",
                    "bootstrap_coverage_ci": interval(bs["coverage"]),
                    "bootstrap_density_ci": interval(bs["density"]),
                    "bootstrap_skipped": bs["skipped"]}}
