"""``abm ls``: every run, sweep, comparison, calibration and discovery directory below a
folder, one line each (a discovery lies inside its sweep:
``SWEEP_DIR/discovery/<outcome>-<method>``).

Reading is cheap and never fails: a directory whose files are missing or unreadable is
listed with a note (``--verify`` also checks each data file's sha256 against the
manifest)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..analysis.formats import fmt_prob_ci, shorten

__all__ = ["list_results", "format_listing", "cmd_ls", "add_ls_parser"]

_SKIP = (".tmp-", ".trash-")


def add_ls_parser(sub: Any) -> None:
    ls = sub.add_parser("ls", help="list the runs, sweeps, comparisons, calibrations and "
                        "discoveries below DIR")
    ls.add_argument("dir", nargs="?", default="results", help="folder (default results/)")
    ls.add_argument("--json", action="store_true", help="print a JSON list of objects")
    ls.add_argument("--verify", action="store_true",
                    help="also check every data file's sha256 against its manifest")


def _candidates(root: Path) -> list[Path]:
    found = set()
    for marker in ("manifest.json", "summary.json", "points.parquet", "trials.parquet"):
        for f in root.rglob(marker):
            d = f.parent
            rel = d.relative_to(root).parts if d != root else ()
            if any(p.startswith(_SKIP) or p.endswith(".partial") for p in rel):
                continue
            if "figures" in rel:
                continue
            found.add(d)
    return sorted(found)


def _read(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path.name} missing"
    except (OSError, ValueError, UnicodeDecodeError):
        return None, f"{path.name} unreadable"
    if not isinstance(obj, dict):
        return None, f"{path.name} is not a JSON object"
    return obj, None


def _entry(d: Path, verify: bool) -> dict[str, Any]:
    notes: list[str] = []
    m, err = _read(d / "manifest.json")
    m = m or {}
    if err:
        notes.append(err)
    kind = m.get("kind") or ("sweep" if (d / "points.parquet").exists() else
                             "compare" if (d / "comparison.json").exists() else "run")
    from ..experiment.calibrate.run import CALIBRATION_FILES
    from ..experiment.store import DATA_FILES
    from ..experiment.sweep.assemble import SWEEP_FILES
    from .compare import COMPARE_FILES
    from .discover import DISCOVERY_FILES

    files = {"run": DATA_FILES, "sweep": SWEEP_FILES, "compare": COMPARE_FILES,
             "calibration": CALIBRATION_FILES, "discovery": DISCOVERY_FILES}.get(kind, ())
    for f in files:
        if not (d / f).is_file():
            notes.append(f"{f} missing")
    if verify and not err:
        from ..experiment.store import file_problems

        notes += [p.split(": ", 1)[-1] for p in file_problems(d, m.get("files"), files)]
    p = lo = hi = None
    summary: dict[str, Any] = {}
    if kind in ("run", "sweep"):
        s, serr = _read(d / "summary.json")
        if serr and f"{'summary.json'} missing" not in notes:
            notes.append(serr)
        summary = s or {}
        try:
            a = summary["any_base"] if kind == "run" else summary["reference"]["any_base"]
            p, lo, hi = float(a["p"]), float(a["ci_low"]), float(a["ci_high"])
        except (KeyError, TypeError, ValueError):
            if s is not None:
                notes.append("summary.json has no P(any base)")
    elif kind == "compare":
        c, cerr = _read(d / "comparison.json")
        if cerr and "comparison.json missing" not in notes:
            notes.append(cerr)
        try:
            from ..analysis.stats import wilson

            n = int(c["trials"])
            p = float(c["any_base"])
            lo, hi = wilson(round(p * n), n)
        except (KeyError, TypeError, ValueError):
            pass
    if kind == "discovery":  # the sweep's points; the outcome names the directory
        summary = {"points": m.get("points")}
    trials = (m.get("trials") if kind != "sweep" else
              (m.get("sweep") or {}).get("trials_per_point",
                                         summary.get("trials_per_point")))
    ad = summary.get("adaptive") if kind == "sweep" else None
    if trials == "adaptive" and isinstance(ad, dict):  # points stopped on their own
        trials = ad.get("trials_max")
        notes.append(f"adaptive: {ad.get('trials_min')}-{trials} trials per point")
    created = m.get("finished")
    if not isinstance(created, str):
        try:
            created = datetime.fromtimestamp(d.stat().st_mtime, UTC).isoformat(
                timespec="seconds")
            notes.append("no finish time recorded; directory time shown")
        except OSError:
            created = ""
    return {
        "kind": kind, "name": m.get("name") or summary.get("name") or d.parent.name,
        "id": (m.get("run_id") or m.get("discovery_id") or m.get("sweep_id")
               or m.get("compare_id") or m.get("calibration_id") or d.name),
        "created": created, "trials": trials, "points": summary.get("points"),
        "seed": m.get("seed", summary.get("seed")),
        "engine": m.get("engine") or ("numpy" if kind == "sweep" else None),
        "overrides": list(m.get("overrides") or []),
        "p_any_base": p, "ci_low": lo, "ci_high": hi,
        "path": str(d), "note": "; ".join(dict.fromkeys(notes)) or None,
    }


def list_results(root: str | Path = "results", verify: bool = False) -> list[dict[str, Any]]:
    """One dict per results directory below ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = [_entry(d, verify) for d in _candidates(root)]
    return sorted(out, key=lambda e: (str(e["created"]), e["path"]))


def _fmt_p(e: dict[str, Any]) -> str:
    if e["p_any_base"] is None or any(
            v is None or (isinstance(v, float) and math.isnan(v))
            for v in (e["ci_low"], e["ci_high"])):
        return "-"
    return fmt_prob_ci(e["p_any_base"], e["ci_low"], e["ci_high"])


def format_listing(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no results directories found"
    head = ["kind", "name", "id", "created", "trials", "seed", "engine", "overrides",
            "P(any base) [95% CI]", "path"]
    rows = []
    for e in entries:
        trials = "-" if e["trials"] is None else f"{int(e['trials']):,}"
        if e["kind"] in ("sweep", "discovery") and e["points"]:
            trials = f"{e['points']}x{trials}"
        seed = "-" if e["seed"] is None else shorten(str(e["seed"]), 12)
        rows.append([e["kind"], e["name"], e["id"], str(e["created"]).replace("+00:00", "Z"),
                     trials, seed, e["engine"] or "-",
                     shorten(", ".join(e["overrides"]), 32) or "-", _fmt_p(e), e["path"]
                     + (f"  ({e['note']})" if e["note"] else "")])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def cmd_ls(args: Any) -> int:
    from pathlib import Path

    from ..errors import ConfigError

    d = Path(args.dir)
    if not d.is_dir():
        # a typo must not look like an empty results folder
        raise ConfigError("DIR", "", str(args.dir),
                          "is not a directory" if d.exists() else "no such directory")
    entries = list_results(args.dir, verify=args.verify)
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        print(format_listing(entries))
    return 0
