"""``abm run --target-halfwidth H [--max-trials N]``: the options, checked before any work,
and what ``abm reproduce`` passes to re-run such a run (the same rule)."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # the statistics (scipy) load only when a run asks for the rule:
    from ..analysis.sequential import SequentialRule  # this module is imported at start

__all__ = ["add_precision_options", "parse_precision", "precision_key", "trials_kwargs",
           "reproduce_trials", "precision_line"]


def add_precision_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-halfwidth", type=str, metavar="H",
                   help="run looks of 1,000, 2,000, 4,000, ... trials until every "
                        "probability's 95%% interval (adjusted for the looks) is at most H "
                        "on each side; instead of --trials")
    p.add_argument("--max-trials", type=str, metavar="N",
                   help="the last look of --target-halfwidth (default 1,000,000)")


def parse_precision(args: argparse.Namespace) -> SequentialRule | None:
    """The rule of ``--target-halfwidth``/``--max-trials``, None without them; a
    :class:`ConfigError` (exit 2) for a bad value or a bad combination."""
    from ..experiment.adaptive import precision_rule

    h_text, n_text = args.target_halfwidth, args.max_trials
    if h_text is None:
        if n_text is not None:
            raise ConfigError("--max-trials", "max_trials", n_text,
                              "needs --target-halfwidth (use --trials for a fixed number)")
        return None
    if args.trials is not None:
        raise ConfigError("--trials", "trials", args.trials, "cannot be combined with "
                          "--target-halfwidth (use --max-trials to cap the trials)")
    try:
        h: Any = float(h_text)
    except ValueError:
        h = h_text
    n: Any = None
    if n_text is not None:
        n = _whole(n_text)
    if isinstance(h, float) and not math.isfinite(h):
        h = h_text
    return precision_rule(h, n)


def int_text(text: str) -> int | None:
    """An integer typed on the command line: ``1000``, ``1_000`` or ``1e9`` (a float
    notation that is a whole number); ``None`` if it is not one. (``abm.cli`` reads every
    count option with it.)"""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        x = float(text)
    except ValueError:
        return None
    return int(x) if x.is_integer() and abs(x) < 2**63 else None


def _whole(text: str) -> Any:
    """:func:`int_text`, or the text itself if it is not a whole number (the error message
    then shows it)."""
    v = int_text(text)
    return text if v is None else v


def precision_key(rule: SequentialRule | None) -> dict[str, Any] | None:
    """What names a ``--target-halfwidth`` run besides the usual (the run id, the
    keyword arguments of ``simulate``)."""
    if rule is None:
        return None
    return {"target_halfwidth": rule.target_halfwidth, "max_trials": rule.max_trials}


def trials_kwargs(rule: SequentialRule | None, trials: int) -> dict[str, Any]:
    """``simulate``'s trial arguments: ``trials``, or the rule's target and maximum."""
    return {"trials": trials} if rule is None else {"trials": None, **precision_key(rule)}


def reproduce_trials(manifest: dict[str, Any]) -> dict[str, Any]:
    """``simulate``'s trial arguments that re-run a recorded run: its trials, or for a
    ``--target-halfwidth`` run the same rule (which stops at the same look)."""
    a = manifest.get("adaptive")
    if isinstance(a, dict):
        return {"trials": None, "target_halfwidth": float(a["target_halfwidth"]),
                "max_trials": int(a["max_trials"])}
    return {"trials": int(manifest["trials"])}


def precision_line(summary: dict[str, Any]) -> str | None:
    """The console's line on a ``--target-halfwidth`` run, None for a plain run."""
    a = summary.get("adaptive")
    if not isinstance(a, dict):
        return None
    return (f"precision on demand: target +/-{a['target_halfwidth']:g} (95%, adjusted for "
            f"{len(a['looks'])} looks: Clopper-Pearson at level {a['level_per_look']:.4f}); "
            f"stopped at look {a['looks_taken']} of {len(a['looks'])}, "
            f"{a['trials']:,} trials: {a['reason']}")
