"""``abm validate-history``: run the episode library and judge every recorded pattern."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_history_parser", "cmd_validate_history"]


def add_history_parser(sub: Any) -> None:
    h = sub.add_parser("validate-history", help="run the recorded episodes; judge every "
                       "pattern of the record (exit 1 if an in-sample one is NO)")
    h.add_argument("configs", nargs="*", help="scenarios with a [record] table (default: "
                   "every file in experiments/history/)")
    h.add_argument("--trials", type=str, help="trials per episode (default: each file's)")
    h.add_argument("--seed", type=str, help="seed (default: each file's)")
    h.add_argument("--workers", type=str, default="1")
    h.add_argument("--figure", help="also draw the comparison as a PNG at this path")
    h.add_argument("--json", action="store_true", help="print the rows as JSON")


def cmd_validate_history(args: argparse.Namespace,
                         run_options: Callable[[argparse.Namespace], tuple[Any, Any, int]]
                         ) -> int:
    from ..analysis.history import history_json, history_markdown
    from ..experiment.episodes import validate_history

    trials, seed, workers = run_options(args)
    rows, results = validate_history(args.configs or None, trials=trials, seed=seed,
                                     workers=workers)
    first = next(iter(results.values()))
    if args.json:
        print(json.dumps(history_json(rows, results), indent=2))
    else:
        print(history_markdown(rows, results))
    if args.figure:
        from ..plots import draw_history

        out = draw_history(rows, Path(args.figure), trials=first.trials)
        print(f"figure: {out}", file=sys.stderr if args.json else sys.stdout)
    failed = [r for r in rows if r.verdict == "NO" and not r.out_of_sample]
    undecided = [r for r in rows if r.verdict == "undecided" and not r.out_of_sample]
    note = sys.stderr if args.json else sys.stdout
    if undecided:
        print("undecided (the interval straddles 1/2): " + ", ".join(
            f"{r.scenario}/{r.state} {r.pattern}" for r in undecided), file=note)
    oos = [r for r in rows if r.out_of_sample]
    if oos:
        print("out of sample: " + ", ".join(f"{r.scenario}/{r.state} {r.pattern} {r.verdict}"
                                            for r in oos), file=note)
    if failed:
        names = ", ".join(f"{r.scenario}/{r.state} {r.pattern}" for r in failed)
        print(f"the recorded outcome is not the most likely one for: {names}", file=sys.stderr)
        return 1
    print("no in-sample recorded pattern is judged NO (the recorded outcome is the most "
          "likely one or undecided for every pattern)", file=note)
    return 0
