"""``abm run --save-paths N`` on a run that already exists: add the paths it lacks.

A run's id names its numbers, and the paths of its first trials are a view of those same
numbers (:mod:`abm.experiment.paths`), so asking for paths does not make a new run: the
manifest records how many trials' paths the directory holds (``save_paths``), and a run
found with fewer gets them added, as missing figures are drawn into it.
"""

from __future__ import annotations

from collections.abc import Callable

from ..experiment.paths import PATHS_FILE, compute_paths
from ..experiment.store import RunFiles, add_paths
from ..scenario import Scenario

__all__ = ["add_missing_paths"]


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
