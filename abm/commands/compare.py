"""``abm compare``: paired counterfactuals against a base, written as a results directory
(``comparison.json``, ``manifest.json``, ``figures/compare.png``) and printed."""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .formatting import overrides_text

__all__ = ["add_compare_parser", "cmd_compare", "compare_id", "COMPARE_FILES"]

COMPARE_FILES = ("comparison.json",)


def add_compare_parser(sub: Any) -> None:
    c = sub.add_parser("compare", help="change in P(base) of scenarios against a base, with "
                       "paired intervals (same seed, same trials); writes a results directory")
    c.add_argument("base", help="the reference scenario")
    c.add_argument("others", nargs="+", help="scenarios to compare with it")
    c.add_argument("--trials", type=str, help="trials (default: the base's)")
    c.add_argument("--seed", type=str, help="seed (default: the base's)")
    c.add_argument("--workers", type=str, default="1")
    c.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override a key in every scenario (repeatable)")
    c.add_argument("--posterior", metavar="CAL_DIR", help="run every scenario under this "
                   "calibration's posterior, paired by parameter draw (default: the base's "
                   "posterior key, if any)")
    c.add_argument("--out", help="results directory (default results/<base name>/"
                   "compare-<id>)")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON")
    c.add_argument("--no-figures", action="store_true", help="skip drawing the figure")


def compare_id(scenario_sha256s: list[str], trials: int, seed: int,
               posterior_sha256: str | None = None) -> str:
    """12 hex digits naming a comparison: same scenarios (resolved), trials and seed (and
    posterior, by the sha256 of its ``posterior.parquet``)."""
    spec = {"scenarios": scenario_sha256s, "trials": trials, "seed": seed,
            "kind": "compare", "v": 1}
    if posterior_sha256 is not None:
        spec["posterior"] = posterior_sha256
    key = json.dumps(spec, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def cmd_compare(args: argparse.Namespace, run_options: Any) -> int:
    from ..analysis.history import compare_markdown
    from ..experiment.episodes import compare
    from ..experiment.store import (
        atomic_dir,
        git_commit,
        package_versions,
        read_json,
        sha256_file,
        write_json,
    )
    from ..scenario import load_scenario

    trials, seed, workers = run_options(args)
    base = load_scenario(args.base, args.overrides)
    others = [load_scenario(o, args.overrides) for o in args.others]
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        _check_replaceable(out)
    from ..experiment.posterior import as_posterior

    post = as_posterior(args.posterior, base)
    if post is not None:
        from ..experiment.posterior import check_posterior_run

        check_posterior_run(trials or base.trials, "numpy",
                            "--trials" if args.trials else base.source)
    started = datetime.now(UTC)
    cmp = compare(base, others, trials=trials, seed=seed, workers=workers, posterior=post)
    cid = compare_id([sc.sha256() for sc in (base, *others)], cmp["trials"], cmp["seed"],
                     post.sha256 if post is not None else None)
    final = out or Path("results") / base.name / f"compare-{cid}"
    if final.exists():
        _check_replaceable(final)
    cmp["overrides"] = list(args.overrides)
    cmp["scenarios"] = [base.name, *(sc.name for sc in others)]
    cmp["ci_method"] = ("newcombe-paired-score" if post is None else
                        "t-paired-group-means")
    with atomic_dir(final, replace=True) as tmp:
        write_json(tmp / "comparison.json", cmp)
        files = {f: sha256_file(tmp / f) for f in COMPARE_FILES}
        write_json(tmp / "manifest.json", {
            "kind": "compare", "compare_id": cid, "name": base.name,
            "config": str(args.base), "others": [str(o) for o in args.others],
            "overrides": list(args.overrides),
            "scenarios": {sc.name: sc.sha256() for sc in (base, *others)},
            "trials": cmp["trials"], "seed": cmp["seed"], "workers": workers,
            **({"posterior": post.record()} if post is not None else {}),
            "versions": package_versions(), "git": git_commit(),
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"), "files": files})
        if not args.no_figures:
            from ..plots.compare import draw_compare

            draw_compare(cmp, tmp / "figures" / "compare.png")
    read_json(final / "comparison.json")  # it is there and readable
    if args.json:
        print(json.dumps({**cmp, "compare_dir": str(final), "compare_id": cid}, indent=2))
    else:
        head = overrides_text(args.overrides)
        print(compare_markdown(cmp) + (f"\n\nOverrides in every scenario:{head}" if head
                                       else ""))
        print(f"\nresults: {final}  (comparison.json"
              + (", figures/compare.png)" if not args.no_figures else ")"))
    return 0


def _check_replaceable(path: Path) -> None:
    """Only an empty directory or a comparison this tool wrote is replaced."""
    if path.is_dir() and (not any(path.iterdir()) or _is_compare(path)):
        return
    raise ConfigError("--out", "out", str(path), "exists and is not an abm comparison "
                      "directory; choose another path")


def _is_compare(path: Path) -> bool:
    try:
        return json.loads((path / "manifest.json").read_text()).get("kind") == "compare"
    except (OSError, ValueError, AttributeError):
        return False
