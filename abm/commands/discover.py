"""``abm discover``: scenario discovery on a finished sweep (which regions of the swept
inputs lead to an outcome such as ``UZB.p_base>0.5``), written as a results directory of
its own (``discovery.json``, ``manifest.json``, ``figures/``), by default
``SWEEP_DIR/discovery/<outcome>-<method>/``; ``abm show`` and ``abm plot`` read it back.
The methods are in :mod:`abm.analysis.discovery`; docs/discovery.md describes them."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ResultsError

__all__ = ["add_discover_parser", "cmd_discover", "is_discovery_dir", "show_discovery",
           "plot_discovery", "format_discovery", "DISCOVERY_FILES", "MAX_BOOTSTRAP"]

DISCOVERY_FILES = ("discovery.json",)
MAX_BOOTSTRAP = 10_000
DEFAULT_BOOTSTRAP = 100


def add_discover_parser(sub: Any) -> None:
    d = sub.add_parser("discover", help="scenario discovery on a sweep: PRIM boxes or CART "
                       "rules for an outcome, with bootstrap intervals; writes a results "
                       "directory")
    d.add_argument("sweep_dir", help="a finished sweep directory (abm sweep)")
    d.add_argument("--outcome", required=True, metavar="EXPR",
                   help="COLUMN OP NUMBER, OP one of > >= < <=, COLUMN an output of the "
                   "sweep's points table, e.g. 'UZB.p_base>0.5'")
    d.add_argument("--method", choices=("prim", "cart"), default="prim",
                   help="prim (default): a box and its peeling trajectory; cart: the rules "
                   "of a classification tree")
    d.add_argument("--min-coverage", type=str, default="0.5", metavar="C",
                   help="prim: choose the densest box with coverage >= C (default 0.5)")
    d.add_argument("--mass-min", type=str, default="0.05", metavar="M",
                   help="prim: smallest box, as a share of the points (default 0.05)")
    d.add_argument("--box", type=str, metavar="K", help="prim: choose step K of the "
                   "trajectory instead")
    d.add_argument("--bootstrap", type=str, default=str(DEFAULT_BOOTSTRAP), metavar="B",
                   help=f"bootstrap resamples for the intervals (default {DEFAULT_BOOTSTRAP}; "
                   "0: none)")
    d.add_argument("--seed", type=str, help="seed of the resamples and trees (default: the "
                   "sweep's seed)")
    d.add_argument("--max-depth", type=str, default="3", metavar="D",
                   help="cart: depth of the tree (default 3)")
    d.add_argument("--out", help="results directory (default SWEEP_DIR/discovery/"
                   "<outcome>-<method>)")
    d.add_argument("--json", action="store_true", help="print discovery.json")
    d.add_argument("--quiet", action="store_true", help="no progress on stderr")
    d.add_argument("--no-figures", action="store_true", help="skip drawing figures")


def _fraction(flag: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and 0 < v <= 1):
        raise ConfigError(flag, flag.lstrip("-"), text, "must be a number in (0, 1]")
    return v


def _count(flag: str, text: str, lo: int, hi: int) -> int:
    try:
        v = int(text)
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise ConfigError(flag, flag.lstrip("-"), text, f"must be an integer in [{lo}, {hi}]")
    return v


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Every option checked (exit 2, one line) before the sweep is read."""
    from .. import limits
    from ..analysis.discovery import parse_outcome

    opts: dict[str, Any] = {"outcome": parse_outcome(args.outcome), "method": args.method,
                            "min_coverage": _fraction("--min-coverage", args.min_coverage),
                            "mass_min": _fraction("--mass-min", args.mass_min),
                            "box": None if args.box is None else _count("--box", args.box,
                                                                        0, 10**6),
                            "bootstrap": _count("--bootstrap", args.bootstrap, 0,
                                                MAX_BOOTSTRAP),
                            "max_depth": _count("--max-depth", args.max_depth, 1, 20),
                            "seed": None}
    if opts["box"] is not None and args.method != "prim":
        raise ConfigError("--box", "box", args.box, "picks a step of PRIM's trajectory: use "
                          "it with --method prim")
    if args.seed is not None:
        opts["seed"] = _count("--seed", args.seed, 0, limits.MAX_SEED)
    return opts


def discovery_id(sweep_sha: str, opts: dict[str, Any], seed: int) -> str:
    """12 hex digits naming a discovery: same sweep outputs, outcome, options, seed."""
    key = json.dumps({"sweep": sweep_sha, "outcome": opts["outcome"].text,
                      "method": opts["method"], "min_coverage": opts["min_coverage"],
                      "box": opts["box"], "bootstrap": opts["bootstrap"],
                      "mass_min": opts["mass_min"],
                      "max_depth": opts["max_depth"], "seed": seed, "v": 1}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _versions() -> dict[str, str]:
    from ..experiment.store import package_versions

    out = package_versions()
    for pkg in ("prim", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def cmd_discover(args: argparse.Namespace) -> int:
    from ..analysis.discovery import discover
    from ..experiment.store import atomic_dir, git_commit, read_json, sha256_file, write_json
    from .sweepdir import is_sweep_dir, read_sweep

    opts = _options(args)
    src = Path(args.sweep_dir)
    if not src.is_dir():
        raise ConfigError("SWEEP_DIR", "", str(args.sweep_dir),
                          "is not a directory" if src.exists() else "no such directory")
    if not is_sweep_dir(src):
        raise ResultsError(f"{src}: not a sweep directory (its manifest.json is not of kind "
                           "\"sweep\"); give the directory abm sweep wrote")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        _check_replaceable(out)
    manifest, summary, points, _ = read_sweep(src)
    keys = [p["key"] for p in summary.get("parameters", [])]
    logs = {p["key"]: bool(p.get("log")) for p in summary.get("parameters", [])}
    missing = [k for k in keys if k not in points.columns]
    if missing:
        raise ResultsError(f"{src / 'points.parquet'}: no column for the swept parameter "
                           f"{missing[0]}")
    seed = opts["seed"] if opts["seed"] is not None else int(summary.get("seed") or 0)
    did = discovery_id(str(summary.get("outputs_sha256")), opts, seed)
    final = out or src / "discovery" / f"{opts['outcome'].slug()}-{opts['method']}"
    if final.exists():
        _check_replaceable(final)
    started = datetime.now(UTC)
    bar = None
    if not args.quiet and not args.json and opts["method"] == "prim" and opts["bootstrap"]:
        from .progress import Progress

        bar = Progress(opts["bootstrap"], desc="PRIM bootstrap", unit="resamples")
    done = [0]

    def progress(k: int) -> None:
        if bar is not None:
            bar.update(k - done[0])
            done[0] = k

    try:
        result = discover(points, keys, opts["outcome"], method=opts["method"],
                          min_coverage=opts["min_coverage"], box=opts["box"],
                          n_boot=opts["bootstrap"], seed=seed, logs=logs,
                          max_depth=opts["max_depth"], mass_min=opts["mass_min"],
                          progress=progress)
    finally:
        if bar is not None:
            bar.close()
    body = {"kind": "discovery", "discovery_id": did,
            "sweep": {"path": str(src), "name": summary.get("name"),
                      "sweep_id": summary.get("sweep_id"), "design": summary.get("design"),
                      "points": summary.get("points"),
                      "trials_per_point": summary.get("trials_per_point"),
                      "outputs_sha256": summary.get("outputs_sha256")},
            **result, "versions": _versions()}
    with atomic_dir(final, replace=True) as tmp:
        write_json(tmp / "discovery.json", body)
        files = {f: sha256_file(tmp / f) for f in DISCOVERY_FILES}
        write_json(tmp / "manifest.json", {
            "kind": "discovery", "discovery_id": did, "name": summary.get("name"),
            "sweep": str(src), "sweep_id": summary.get("sweep_id"),
            "sweep_outputs_sha256": summary.get("outputs_sha256"),
            "sweep_manifest_files": manifest.get("files"),
            "outcome": opts["outcome"].text, "method": opts["method"],
            "options": {"min_coverage": opts["min_coverage"], "mass_min": opts["mass_min"],
                        "box": opts["box"],
                        "bootstrap": opts["bootstrap"], "max_depth": opts["max_depth"]},
            "seed": seed, "points": result["n_points"],
            "trials": summary.get("trials_per_point"), "versions": body["versions"],
            "git": git_commit(), "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"), "files": files})
        if not args.no_figures:
            from ..plots.discovery import draw_discovery_figures

            draw_discovery_figures(body, tmp / "figures")
    read_json(final / "discovery.json")  # it is there and readable
    if args.json:
        print(json.dumps({**body, "discovery_dir": str(final)}, indent=2))
    else:
        print(format_discovery(body))
        figs = "" if args.no_figures else ", figures/"
        print(f"\nresults: {final}  (discovery.json{figs})")
    return 0


def _check_replaceable(path: Path) -> None:
    """Only an empty directory or a discovery this tool wrote is replaced."""
    if path.is_dir() and (not any(path.iterdir()) or is_discovery_dir(path)):
        return
    raise ConfigError("--out", "out", str(path), "exists and is not an abm discovery "
                      "directory; choose another path")


def is_discovery_dir(path: str | Path) -> bool:
    from ..experiment.store import manifest_kind

    return manifest_kind(path) == "discovery"


def read_discovery(path: Path) -> dict[str, Any]:
    """``discovery.json`` after checking it against the manifest's sha256."""
    from ..experiment.store import file_problems, read_json

    manifest = read_json(path / "manifest.json")
    problems = file_problems(path, manifest.get("files"), DISCOVERY_FILES)
    if problems:
        raise ResultsError(problems[0])
    return read_json(path / "discovery.json")


def show_discovery(path: Path, as_json: bool) -> int:
    d = read_discovery(path)
    print(json.dumps(d, indent=2) if as_json else format_discovery(d))
    return 0


def plot_discovery(path: Path) -> int:
    from ..plots.discovery import draw_discovery_figures

    for p in draw_discovery_figures(read_discovery(path), path / "figures"):
        print(p)
    return 0


# --------------------------------------------------------------------------- console


def _g(v: Any) -> str:
    return "-" if v is None else f"{v:.3g}"


def _ci(ci: list[float] | None) -> str:
    return "-" if not ci else f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def _limit_text(e: dict[str, Any]) -> str:
    if e["kind"] != "number":
        return "{" + ", ".join(str(v).lower() for v in e.get("values", [])) + "}"
    side = e["restricted"] or ""
    lo = _g(e["low"]) if side in ("low", "both") else "."
    hi = _g(e["high"]) if side in ("high", "both") else "."
    if not side:
        return f"(not in box; {_g(e['low'])} to {_g(e['high'])})"
    return f"{lo} <= x <= {hi}" if side == "both" else (f">= {lo}" if side == "low"
                                                        else f"<= {hi}")


def format_discovery(d: dict[str, Any]) -> str:
    """The console report: header, the PRIM box (or CART leaves), a thinned trajectory,
    the feature scores."""
    sw = d.get("sweep") or {}
    out = [f"Scenario discovery: {d['outcome']['expression']} in {sw.get('path', '?')}",
           f"  sweep {sw.get('name')} ({sw.get('design')}, {sw.get('points')} points x "
           f"{sw.get('trials_per_point')} trials); {d['n_positive']} of {d['n_points']} points "
           f"positive ({d['base_density']:.1%}); method {d['method']}; seed {d['seed']}; "
           f"{d['bootstrap']['resamples']} bootstrap resamples"]
    if d["dropped_inputs"]:
        out.append(f"  constant inputs left out: {', '.join(d['dropped_inputs'])}")
    p = d.get("prim")
    if p:
        b = p["box"]
        out += ["", f"PRIM box: step {p['chosen_step']} of {len(p['trajectory'])} ({p['rule']})",
                f"  coverage {b['coverage']:.3f} {_ci(b['bootstrap_coverage_ci'])}, density "
                f"{b['density']:.3f} {_ci(b['bootstrap_density_ci'])}, mass {b['mass']:.3f}, "
                f"{b['res_dim']} inputs restricted (95% intervals: each resample's box "
                "on all points)", ""]
        rows = [[e["key"], _limit_text(e), _ci(e.get("low_ci")), _ci(e.get("high_ci")),
                 "-" if e["bootstrap_restricted_share"] is None else
                 f"{e['bootstrap_restricted_share']:.0%}", _g(e.get("quasi_p"))]
                for e in b["limits"]]
        out += _table(["input", "box", "low 95%", "high 95%", "resamples restricting",
                       "quasi-p"], rows)
        traj = p["trajectory"]
        every = max(1, math.ceil(len(traj) / 12))
        shown = sorted({*range(0, len(traj), every), len(traj) - 1, p["chosen_step"]})
        out += ["", "Trajectory (every step in discovery.json):"]
        out += _table(["step", "coverage", "density", "mass", "restricted"],
                      [[f"{t['step']}{' *' if t['step'] == p['chosen_step'] else ''}",
                        f"{t['coverage']:.3f}", f"{t['density']:.3f}", f"{t['mass']:.3f}",
                        str(t["res_dim"])] for t in (traj[i] for i in shown)])
    c = d.get("cart")
    if c:
        pos = [r for r in c["leaves"] if r["positive"]]
        shown = pos or c["leaves"][:3]
        out += ["", f"CART (depth <= {c['max_depth']}, >= {c['min_samples_leaf']} points a "
                f"leaf): {len(pos)} of {len(c['leaves'])} leaves predict the positive class"
                + ("" if pos else "; the densest leaves:")]
        for r in shown:
            conds = []
            for e in r["rule"]:
                if "values" in e:
                    vals = ", ".join(str(v).lower() for v in e["values"])
                    conds.append(f"{e['key']} in {{{vals}}}")
                elif e["low"] is not None and e["high"] is not None:
                    conds.append(f"{_g(e['low'])} < {e['key']} <= {_g(e['high'])}")
                elif e["low"] is not None:
                    conds.append(f"{e['key']} > {_g(e['low'])}")
                else:
                    conds.append(f"{e['key']} <= {_g(e['high'])}")
            out.append(f"  leaf {r['leaf']}: coverage {r['coverage']:.3f}, density "
                       f"{r['density']:.3f} ({r['n_positive']} of {r['n']} points): "
                       + (" and ".join(conds) or "all points"))
    fs = d["feature_scores"]
    out += ["", f"Feature scores (extra trees; {fs['score']}; 95%: {fs['interval'] or 'none'}):"]
    out += _table(["input", "score", "95%"],
                  [[r["key"], f"{r['score']:.3f}", _ci([r["ci_low"], r["ci_high"]])
                    if r["ci_low"] is not None else "-"] for r in fs["scores"][:10]])
    if len(fs["scores"]) > 10:
        out.append(f"... {len(fs['scores']) - 10} more in discovery.json")
    return "\n".join(out)
