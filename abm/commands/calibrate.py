"""``abm calibrate``: fit the ``[dynamics]`` and stance coefficients to the episode library;
``abm show`` / ``abm plot`` on a calibration directory."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.formats import fmt_prob_ci

__all__ = ["add_calibrate_parser", "cmd_calibrate", "is_calibration_dir", "show_calibration",
           "plot_calibration", "format_calibration", "prior_curves"]


def add_calibrate_parser(sub: Any, add_executor_options: Callable[..., None],
                         add_kernel_option: Callable[..., None]) -> None:
    c = sub.add_parser("calibrate", help="fit [dynamics] and stance coefficients to the "
                       "episode library by ABC-SMC (docs/calibration.md)")
    c.add_argument("config", help="calibration TOML file with a [calibration] table")
    add_executor_options(c, "workers on this machine: threads with the compiled kernel, "
                         "processes otherwise (default: all cores; 1 runs in this process)",
                         None)
    add_kernel_option(c)
    c.add_argument("--quick", action="store_true",
                   help="the file's [calibration.quick] settings: small, for a first look")
    c.add_argument("--leave-out", metavar="EPISODE",
                   help="fit without this episode, then report its predictive check")
    c.add_argument("--resume", action="store_true", help="finish a killed calibration from "
                   "its checkpoints (finished generations are not redone)")
    c.add_argument("--force", action="store_true", help="start again, discarding checkpoints "
                   "and any finished calibration in the same place")
    c.add_argument("--out", help="directory (default results/<name>/calibration-<id>)")
    c.add_argument("--json", action="store_true", help="print summary.json to stdout only")
    c.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    c.add_argument("--no-figures", action="store_true", help="skip drawing figures")


def prior_curves(priors: dict[str, dict[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Density curves of the priors recorded in a manifest, on their natural scale."""
    from ..experiment.calibrate.spec import DISTS, Prior

    out = {}
    for key, d in priors.items():
        p = Prior(key, d["dist"], {k: float(d[k]) for k in DISTS[d["dist"]]},
                  float(d["low"]), float(d["high"]), bool(d.get("whole")))
        lo, hi = p.low, p.high
        if p.dist == "normal":
            m, s = p.args["mean"], p.args["sd"]
            lo, hi = max(lo, m - 4 * s), min(hi, m + 4 * s)
        x = np.geomspace(lo, hi, 300) if p.dist == "loguniform" else np.linspace(lo, hi, 300)
        out[key] = (x, p.pdf(x))
    return out


def _draw(tmp: Path, summary: dict[str, Any], manifest_priors: dict[str, Any]) -> None:
    from ..plots.calibration import draw_calibration_figures

    post = pd.read_parquet(tmp / "posterior.parquet")
    diag = json.loads((tmp / "diagnostics.json").read_text())
    draw_calibration_figures(summary, post, diag, prior_curves(manifest_priors),
                             tmp / "figures")


def _fmt(v: float) -> str:
    a = abs(v)
    return f"{v:.3g}" if a < 1000 else f"{v:,.0f}"


def format_calibration(summary: dict[str, Any], path: str) -> str:
    """The console report: the run, the parameters (prior and posterior median [90%]),
    and the predictive check of every episode and pattern."""
    s = summary
    lines = [f"{s['name']}: calibration {s['calibration_id']}, {s['population']:,} particles, "
             f"{s['generations']} generations, seed {s['seed']}"
             + (" (--quick)" if s.get("quick") else ""),
             f"results: {path}",
             f"stopped: {s['stop_reason']}; final tolerance {s['final_epsilon']}"
             + (" (exact: every recorded pattern of every episode)" if s["exact"] else
                " (approximate: trials may miss that many patterns per episode)"),
             f"episodes fitted: {', '.join(s['episodes'])}"
             + (f"; left out: {', '.join(s['left_out'])}" if s["left_out"] else ""),
             f"wall time {s['wall_seconds']:.1f} s", "",
             "parameter                          prior median [90%]           "
             "posterior median [90%]       width ratio"]
    lines.append("-" * len(lines[-1]))
    par = s["parameters"]
    for key in sorted(par, key=lambda k: par[k]["width_ratio"] or 0.0):
        pr, po = par[key]["prior"], par[key]["posterior"]
        a = f"{_fmt(pr['median'])} [{_fmt(pr['q05'])}, {_fmt(pr['q95'])}]"
        b = f"{_fmt(po['median'])} [{_fmt(po['q05'])}, {_fmt(po['q95'])}]"
        r = par[key]["width_ratio"]
        lines.append(f"{key:<34} {a:<28} {b:<28} {r:.2f}" if r is not None else
                     f"{key:<34} {a:<28} {b:<28} -")
    lines += ["", "posterior-predictive check: P(recorded pattern) [95% interval with parameter "
              "uncertainty]; verdict 'yes' if the interval lies above 1/2",
              "episode               role           state  pattern                  "
              "P(recorded) [95%]           verdict"]
    lines.append("-" * len(lines[-1]))
    for r in s["predictive"]:
        # enough digits to read a bound near 0 or 1 (0.00038, not 0.000)
        ci = fmt_prob_ci(r["p_recorded"], r["ci_low"], r["ci_high"])
        lines.append(f"{r['episode']:<21} {r['role']:<14} {r['state']:<6} "
                     f"{r['pattern']:<24} {ci:<27} {r['verdict']}")
    return "\n".join(lines)


def is_calibration_dir(path: str | Path) -> bool:
    from ..experiment.store import manifest_kind

    return manifest_kind(path) == "calibration"


def show_calibration(path: Path, as_json: bool) -> int:
    from ..experiment.calibrate.run import read_calibration
    from ..experiment.store import read_json

    read_calibration(path)
    summary = read_json(path / "summary.json")
    print(json.dumps(summary, indent=2) if as_json else format_calibration(summary, str(path)))
    return 0


def plot_calibration(path: Path) -> int:
    from ..experiment.calibrate.run import read_calibration
    from ..experiment.store import read_json

    manifest = read_calibration(path)
    _draw(path, read_json(path / "summary.json"), manifest["priors"])
    for p in sorted((path / "figures").glob("*.png")):
        print(p)
    return 0


def cmd_calibrate(args: argparse.Namespace, executor_of: Callable[..., Any],
                  positive_int: Callable[..., Any], kernel: str) -> int:
    import os

    from .. import limits
    from ..experiment.calibrate import CalibrationInterrupted, load_calibration, run_calibration
    from ..model.kernels import releases_gil

    workers = (positive_int("--workers", limits.MAX_WORKERS)(args.workers)
               if args.workers is not None else (os.cpu_count() or 1))
    executor = executor_of(args, workers, releases_gil("numpy", kernel))
    cal = load_calibration(args.config, quick=args.quick, leave_out=args.leave_out)
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        if not args.quiet and not args.json:
            print(f"{cal.name}: {msg} ({time.monotonic() - t0:.0f} s)", file=sys.stderr,
                  flush=True)

    m = cal.method
    progress(f"{len(cal.priors)} parameters, {len(cal.episodes)} episodes, population "
             f"{m.population}, {m.trials_per_particle} trials per particle and episode, "
             f"executor {executor.kind} ({executor.workers or executor.scheduler})")

    def figures(tmp: Path, cal: Any, gens: Any, summary: dict[str, Any]) -> None:
        _draw(tmp, summary, {p.key: p.to_dict() for p in cal.priors})

    try:
        path, summary, reused = run_calibration(
            cal, out=args.out, executor=executor, resume=args.resume, force=args.force,
            kernel=kernel, progress=progress, quick=args.quick,
            extra=None if args.no_figures else figures)
    except CalibrationInterrupted as exc:
        print(f"abm calibrate: {exc}", file=sys.stderr)
        return 143 if exc.terminated else 130
    if reused and not args.quiet and not args.json:
        print(f"found the finished calibration in {path} (use --force to recompute)",
              file=sys.stderr)
    print(json.dumps(summary, indent=2) if args.json else format_calibration(summary, str(path)))
    return 0
