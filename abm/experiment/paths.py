"""Saved paths: the month-by-month trajectories of the first ``N`` trials of a run
(``--save-paths N``, ``simulate(..., save_paths=N)``), written as ``paths.parquet``.

The run itself is not slowed: after it, :func:`compute_paths` re-runs the random-number
blocks that hold trials ``0 .. N-1`` with the reference month step
(:func:`abm.model.paths.record_paths`). A trial's numbers depend only on the seed, the
scenario and its index, so these are the trajectories of the run's own trials whatever
kernel, engine, chunking or worker count the run used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import limits
from ..errors import ConfigError
from ..model.compile import compile_scenario
from ..model.paths import paths_table, record_paths
from ..model.rng import resolve_seed
from ..scenario import Scenario

__all__ = ["PATHS_FILE", "check_save_paths", "compute_paths"]

PATHS_FILE = "paths.parquet"


def check_save_paths(n: Any, trials: int, horizon: int, n_states: int,
                     source: str = "--save-paths", posterior: bool = False) -> int:
    """``n`` as an int if it is a valid number of paths to save for this run (0: none),
    else a :class:`~abm.errors.ConfigError` naming ``source``. A run under a posterior
    (each group of trials with its own parameter set) does not save paths yet."""
    if n is None:
        return 0
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ConfigError(source, "save_paths", n,
                          f"must be an integer in [1, {limits.MAX_SAVE_PATHS}] (0: none)")
    n = int(n)
    if n and posterior:
        raise ConfigError(source, "save_paths", n,
                          "paths are not saved for a run under a posterior yet (its groups "
                          "of trials run different parameter sets); run without it")
    if n > limits.MAX_SAVE_PATHS:
        raise ConfigError(source, "save_paths", n,
                          f"must be at most {limits.MAX_SAVE_PATHS} trials")
    if n > trials:
        raise ConfigError(source, "save_paths", n,
                          f"must be at most the number of trials ({trials})")
    rows = n * (horizon + 1) * n_states
    if rows > limits.MAX_PATH_ROWS:
        most = limits.MAX_PATH_ROWS // ((horizon + 1) * n_states)
        raise ConfigError(source, "save_paths", n,
                          f"{rows:,} rows (trials x {horizon + 1} months x {n_states} states) "
                          f"exceed {limits.MAX_PATH_ROWS:,}: save at most {most} paths")
    return n


def compute_paths(scenario: Scenario, seed: int, horizon: int, n: int) -> pd.DataFrame:
    """``paths.parquet`` of trials ``0 .. n-1`` of the run of ``scenario`` with ``seed``
    (the seed used, ``result.seed``) over ``horizon`` months."""
    cm = compile_scenario(scenario, horizon=horizon)
    return paths_table(record_paths(cm, resolve_seed(int(seed)), n), cm.ids)
