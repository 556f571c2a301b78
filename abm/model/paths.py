"""Month-by-month trajectories of the first trials of a run, declared once.

The main kernels keep only each trial's outcome record and per-month histograms, so that
memory never grows with months. :func:`record_paths` re-runs the first random-number
blocks of a run with :func:`abm.model.step.month_step` (the reference numpy month, which
both kernels reproduce bit for bit) and keeps every month's state and events of the first
``n`` trials. Because a trial's numbers depend only on the seed, the scenario and its index
(:mod:`abm.model.rng`), these are exactly the trajectories of trials ``0 .. n-1`` of the
full run, whatever kernel, chunking or worker count produced it: the path's last month
equals the trial's ``final_w``, ``final_p``, ``final_s`` and ``final_h`` bit for bit.

:data:`PATH_COLUMNS` declares the columns of ``paths.parquet`` (long format, one row per
trial, month and state); :func:`paths_table` builds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import dynamics as dyn
from .compile import Compiled, stack
from .numpy_engine import crn_drawer
from .rng import BLOCK_SIZE, MonthDraws
from .step import Events, TrialState, initial_state, month_step

__all__ = ["PathColumn", "PATH_COLUMNS", "PATH_NAMES", "record_paths", "paths_table",
           "paths_markdown"]


@dataclass(frozen=True)
class PathColumn:
    """One per-(trial, month, state) column of ``paths.parquet``."""

    name: str
    dtype: type
    meaning: str


#: Month ``m`` is the state at the start of month ``m`` (after ``m`` month steps; month 0
#: is the scenario's starting state) and the events of the step that led to it (month
#: ``m - 1``), as the outcome record counts them: ``opened`` is true at month
#: ``first_base_month`` for a base opened during the run.
PATH_COLUMNS: tuple[PathColumn, ...] = (
    PathColumn("w", np.float64, "government willingness to host, 0-1"),
    PathColumn("p", np.float64, "public support for a US presence, 0-1"),
    PathColumn("s", np.float64, "threat stock from spillover incidents (as final_s)"),
    PathColumn("h", np.bool_, "hosting a base (as final_h)"),
    PathColumn("phase", np.int8, "life-cycle phase: " + ", ".join(
        f"{i} {name}" for i, name in enumerate(dyn.PHASES))),
    PathColumn("opened", np.bool_, "a base opened during the previous month"),
    PathColumn("vetoed", np.bool_, "an agreement was refused CSTO consent"),
    PathColumn("closed", np.bool_, "a base closed"),
    PathColumn("notice", np.bool_, "the host gave notice to end its base"),
    PathColumn("withdrawn", np.bool_, "a notice was withdrawn"),
    PathColumn("incidents", np.int64, "spillover incidents on the state's border"),
)
PATH_NAMES: tuple[str, ...] = tuple(c.name for c in PATH_COLUMNS)
_STATE = ("w", "p", "s", "h", "phase")


def record_paths(cm: Compiled, root: np.random.SeedSequence, n: int) -> dict[str, np.ndarray]:
    """Every month of trials ``0 .. n-1`` of a run: arrays ``(n, T + 1, S)`` named by
    :data:`PATH_NAMES`.

    Simulates the first ``ceil(n / BLOCK_SIZE)`` blocks in full (as every engine does)
    with the reference month step and keeps the first ``n`` rows.
    """
    n_blocks = max(1, math.ceil(n / BLOCK_SIZE))
    rows = n_blocks * BLOCK_SIZE
    T, S = cm.T, cm.S
    out = {c.name: np.zeros((n, T + 1, S), dtype=c.dtype) for c in PATH_COLUMNS}
    bt = stack([cm])
    draw = crn_drawer(root, 0, n_blocks)
    draws = MonthDraws.empty(rows, S, cm.noise_on)
    x = initial_state(bt, rows)

    def keep(m: int, x: TrialState, ev: Events | None) -> None:
        for k in _STATE:  # copies: the next month's shocks change x.w, x.p in place
            out[k][:, m] = getattr(x, k)[0, :n]
        if ev is not None:
            for k in PATH_NAMES:
                if k not in _STATE:
                    out[k][:, m] = getattr(ev, k)[0, :n]

    keep(0, x, None)
    for t in range(T):
        draw(draws)
        x, ev = month_step(x, bt, t, draws)
        keep(t + 1, x, ev)
    return out


def paths_table(arrays: dict[str, np.ndarray], ids: tuple[str, ...]) -> pd.DataFrame:
    """``paths.parquet``: one row per (trial, month, state), in that order; columns
    ``trial``, ``month``, ``state`` (categorical, as in ``trials.parquet``) and
    :data:`PATH_NAMES`."""
    n, M, S = arrays[PATH_NAMES[0]].shape
    cols = {
        "trial": np.repeat(np.arange(n, dtype=np.int64), M * S),
        "month": np.tile(np.repeat(np.arange(M, dtype=np.int32), S), n),
        "state": pd.Categorical.from_codes(np.tile(np.arange(S, dtype=np.int16), n * M),
                                           categories=list(ids)),
    }
    for c in PATH_COLUMNS:
        cols[c.name] = np.ascontiguousarray(arrays[c.name], dtype=c.dtype).ravel()
    return pd.DataFrame(cols, copy=False)


def paths_markdown() -> str:
    """The column table of ``paths.parquet`` for the docs."""
    rows = ["| column | dtype | meaning |", "|---|---|---|",
            "| `trial` | int64 | trial index (0 .. N-1, as in trials.parquet) |",
            "| `month` | int32 | 0 .. horizon; month 0 is the starting state |",
            "| `state` | category | state id |"]
    rows += [f"| `{c.name}` | {np.dtype(c.dtype).name} | {c.meaning} |" for c in PATH_COLUMNS]
    return "\n".join(rows) + "\n"
