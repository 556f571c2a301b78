"""``abm run --save-paths N``: the option, and a run that already exists.

A run's id names its numbers, and the paths of its first trials are a view of those same
numbers (:mod:`abm.experiment.paths`), so asking for paths does not make a new run: the
manifest records how many trials' paths the directory holds (``save_paths``), and a run
found with fewer gets them added, as missing figures are drawn into it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import limits
from ..errors import ConfigError
from ..experiment.paths import PATHS_FILE, check_save_paths, compute_paths
from ..experiment.store import RunFiles, add_paths
from ..scenario import Scenario

__all__ = ["save_paths_option", "add_missing_paths", "complete_existing"]


def save_paths_option(args: argparse.Namespace, trials: int, horizon: int, n_states: int,
                      posterior: bool) -> int:
    """``--save-paths N`` checked against the run (0 if absent)."""
    text = getattr(args, "save_paths", None)
    if text is None:
        return 0
    try:
        n = int(text.replace("_", ""))
    except ValueError:
        raise ConfigError("--save-paths", "save_paths", text,
                          f"must be a positive integer in [1, {limits.MAX_SAVE_PATHS}]") from None
    if not 1 <= n <= limits.MAX_SAVE_PATHS:
        raise ConfigError("--save-paths", "save_paths", text,
                          f"must be a positive integer in [1, {limits.MAX_SAVE_PATHS}]")
    return check_save_paths(n, trials, horizon, n_states, posterior=posterior)


def add_missing_paths(run: RunFiles, scenario: Scenario, seed: int, horizon: int, n: int,
                      note: Callable[[str], None]) -> bool:
    """Give ``run`` the paths of its first ``n`` trials if it holds fewer; whether it did."""
    have = run.save_paths
    n = min(n, int(run.manifest.get("trials") or n))  # an adaptive run may have stopped early
    if n <= have:
        return False
    add_paths(run, compute_paths(scenario, seed, horizon, n))
    had = f" (it held {have})" if have else ""
    note(f"added the paths of trials 0-{n - 1} to {run.path / PATHS_FILE}{had}")
    return True


def complete_existing(args: argparse.Namespace, run: RunFiles, scenario: Scenario, seed: int,
                      horizon: int, save_paths: int, note: Callable[[str], None]) -> None:
    """A run found on disk: add the paths asked for, then draw the figures it lacks (all of
    them again if paths were added, so that the fan charts show them)."""
    added = bool(save_paths) and add_missing_paths(run, scenario, seed, horizon, save_paths,
                                                   note)
    if args.no_figures:
        return
    from ..plots import FIGURE_NAMES, draw_run_dir

    if added or not all((run.path / "figures" / f).is_file() for f in FIGURE_NAMES):
        draw_run_dir(run.path)
        note(f"drew the {'' if added else 'missing '}figures in {run.path / 'figures'}")
