"""``abm show``, ``abm plot`` and ``abm reproduce`` on a sweep directory (``manifest.json``
with ``"kind": "sweep"`` and ``points.parquet``)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..analysis.formats import fmt_diff_ci, fmt_prob_ci
from ..errors import ConfigError, ResultsError
from .formatting import format_sweep

__all__ = ["is_sweep_dir", "read_sweep", "format_points", "show_sweep", "plot_sweep",
           "reproduce_sweep", "experiment_toml"]

MAX_ROWS = 40


def is_sweep_dir(path: str | Path) -> bool:
    p = Path(path)
    if not (p / "manifest.json").is_file():
        return False
    try:
        kind = json.loads((p / "manifest.json").read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        return (p / "points.parquet").exists()
    return kind == "sweep"


def read_sweep(path: Path) -> tuple[dict[str, Any], dict[str, Any], Any, dict[str, Any]]:
    """``(manifest, summary, points, sensitivity)`` after checking every file's sha256."""
    import pandas as pd

    from ..experiment.store import read_json
    from ..experiment.sweep.assemble import read_finished

    summary = read_finished(path)
    manifest = read_json(path / "manifest.json")
    try:
        points = pd.read_parquet(path / "points.parquet", engine="pyarrow")
    except Exception as exc:  # checked by sha256 above; a failure here is a bad file
        raise ResultsError(f"{path / 'points.parquet'}: not readable ({exc})") from None
    sens = read_json(path / "sensitivity.json")
    return manifest, summary, points, sens


def format_points(summary: dict[str, Any], points: Any, all_rows: bool = False) -> str:
    """One line per point: parameter values, P(any base) [CI], and the paired difference
    from the reference [CI]."""
    keys = [p["key"] for p in summary["parameters"]]
    adaptive = "trials" in points.columns  # trials_per_point = "adaptive": each its own
    head = ["point", *keys, *(["trials"] if adaptive else []), "P(any base) [95% CI]",
            "diff from reference [95% CI]"]
    rows = []
    shown = points if all_rows or len(points) <= MAX_ROWS else points.head(MAX_ROWS)
    for _, r in shown.iterrows():
        vals = [f"{r[k]:g}" if not isinstance(r[k], bool | str) else str(r[k]) for k in keys]
        rows.append([str(int(r["point"])), *vals,
                     *([f"{int(r['trials']):,}"] if adaptive else []),
                     fmt_prob_ci(r["any_base.p"], r["any_base.ci_low"], r["any_base.ci_high"]),
                     fmt_diff_ci(r["any_base.p_diff"], r["any_base.p_diff_ci_low"],
                                 r["any_base.p_diff_ci_high"])])
    widths = [max(len(h), *(len(x[i]) for x in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(x, widths, strict=True))
             for x in [head, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    if len(shown) < len(points):
        lines.append(f"... {len(points) - len(shown)} more points (--all shows every one; "
                     "points.parquet has them all, per state too)")
    interval = ("paired normal interval (common random numbers)" if summary.get("crn", True)
                else "unpaired normal interval (independent streams)")
    if isinstance(summary.get("posterior"), dict):
        interval = ("t interval over parameter groups, "
                    + ("paired by draw and random numbers" if summary.get("crn", True)
                       else "unpaired (independent draws and streams)"))
    lines.append(f"diff from reference: P(any base) at the point minus without the sweep; "
                 f"{interval}.")
    return "\n".join(lines)


def show_sweep(path: Path, as_json: bool, all_rows: bool = False) -> int:
    manifest, summary, points, _ = read_sweep(path)
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    print(format_sweep(summary, path, manifest.get("overrides")))
    print(format_points(summary, points, all_rows))
    return 0


def plot_sweep(path: Path) -> int:
    from ..plots import draw_sweep_figures

    _, summary, points, sens = read_sweep(path)
    for p in draw_sweep_figures(points, summary, sens, path / "figures"):
        print(p)
    return 0


def experiment_toml(manifest: dict[str, Any]) -> str:
    """The experiment file a sweep's manifest records: its resolved scenario and its
    ``[sweep]`` table (the seed it used included)."""
    import tomli_w

    raw = dict(manifest["scenario"])
    # the stances the rule derived are left out, so that the base and every point derive
    # them again (a point varying a coefficient or covariate gets its own)
    drop = stance_rule_derived(manifest, raw)
    raw["states"] = [{k: v for k, v in st.items() if (st.get("id"), k) not in drop}
                     for st in raw.get("states") or []]
    sw = dict(manifest["sweep"])
    params = {}
    for p in sw.pop("parameters"):
        p = dict(p)
        key = p.pop("key")
        params[key] = {k: v for k, v in p.items() if v is not None}
    sw = {k: v for k, v in sw.items() if v is not None}
    sw["seed"] = manifest.get("seed", sw.get("seed"))
    sw["parameters"] = params
    raw["sweep"] = sw
    return tomli_w.dumps(raw)


def stance_rule_derived(manifest: dict[str, Any], raw: dict[str, Any]
                        ) -> set[tuple[str, str]]:
    """The ``(state, attribute)`` starting stances the stance rule derived in a recorded
    sweep: the manifest's ``stance_rule_derived``; for a manifest written before that key
    existed, with ``stances.rule = true``, every recorded stance equal (exactly) to what
    the rule derives from the recorded covariates and coefficients."""
    rec = manifest.get("stance_rule_derived")
    if rec is not None:
        return {(str(a), str(b)) for a, b in rec}
    if not (raw.get("stances") or {}).get("rule"):
        return set()
    import tomli_w

    from ..scenario import load_scenario

    attrs = ("willingness", "public_support")
    probe = {**raw, "states": [{k: v for k, v in st.items() if k not in attrs}
                               for st in raw.get("states") or []]}
    with tempfile.TemporaryDirectory(prefix="abm-stances-") as tmp:
        f = Path(tmp) / "scenario.toml"
        f.write_text(tomli_w.dumps(probe), encoding="utf-8")
        sc = load_scenario(f)
    rule = {(st.id, a): getattr(st, a) for st in sc.states for a in attrs}
    return {(st["id"], a) for st in raw.get("states") or [] for a in attrs
            if a in st and rule.get((st["id"], a)) == st[a]}


def reproduce_sweep(path: Path, workers: int | None) -> int:
    """Re-run the sweep from its manifest into a temporary directory; exit 0 if its
    ``outputs_sha256`` is the recorded one, 1 with one line if not."""
    from ..experiment.executors import Executor
    from ..experiment.store import file_problems, read_json
    from ..experiment.sweep import load_experiment, run_sweep
    from ..experiment.sweep.assemble import SWEEP_FILES
    from ..model.kernels import kernel_names, releases_gil

    manifest = read_json(path / "manifest.json")
    recorded = manifest.get("outputs_sha256")
    kernel = str(manifest.get("kernel") or "numpy")
    if kernel not in kernel_names():
        raise ResultsError(f"{path / 'manifest.json'}: kernel = {kernel!r}: this installation "
                           f"has {', '.join(kernel_names())}")
    with tempfile.TemporaryDirectory(prefix="abm-reproduce-") as tmp:
        exp_file = Path(tmp) / "experiment.toml"
        try:
            exp_file.write_text(experiment_toml(manifest), encoding="utf-8")
            exp = load_experiment(exp_file)
            if manifest.get("posterior") is not None:
                _restore_posterior(exp, manifest, str(path / "manifest.json"))
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ResultsError(f"{path / 'manifest.json'}: cannot re-run from it "
                               f"({' '.join(str(exc).split())})") from None
        w = workers or 1
        kind = "inprocess" if w == 1 else ("threads" if releases_gil("numpy", kernel)
                                           else "pool")
        _, summary, _ = run_sweep(exp, out_dir=Path(tmp) / "sweep", executor=Executor(kind, w),
                                  kernel=kernel)
    fresh = summary["outputs_sha256"]
    problems = []
    if fresh != recorded:
        problems.append(f"outputs_sha256 recorded {str(recorded)[:16]}... re-run "
                        f"{fresh[:16]}...")
    problems += file_problems(path, manifest.get("files"), SWEEP_FILES)
    if not problems:
        print(f"reproduced {path}: outputs_sha256 {fresh} matches")
        return 0
    print(f"abm reproduce: NOT reproduced {path}: {'; '.join(problems)}", file=sys.stderr)
    return 1


def _restore_posterior(exp: Any, manifest: dict[str, Any], where: str) -> None:
    """The posterior a recorded sweep ran under, read again from its recorded path (it
    must still hash to the recorded sha256). The stance rule's bookkeeping needs nothing
    more: :func:`experiment_toml` leaves the derived stances out, so the base and every
    point derive them again."""
    from ..experiment.sweep.posterior import check_sweep_posterior
    from .posterior import reproduce_posterior

    _, post = reproduce_posterior(manifest, exp.base, where)
    check_sweep_posterior(exp.spec.trials_per_point, where)
    exp.posterior = post
