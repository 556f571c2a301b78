"""Limits on run sizes, in one place: the scenario validator, the command line, sweeps and
the docs read them from here, so a value accepted in one place is accepted everywhere.
"""

from __future__ import annotations

__all__ = ["MAX_TRIALS", "MAX_HORIZON", "MAX_SEED", "MAX_WORKERS", "MAX_MONTHLY_INCIDENT_RATE",
           "DEFAULT_TRIALS", "DEFAULT_HORIZON", "FIRST_LOOK", "DEFAULT_MAX_TRIALS",
           "MAX_SAVE_PATHS", "MAX_PATH_ROWS", "describe"]

#: Trials in one run or per sweep point: [1, MAX_TRIALS].
MAX_TRIALS = 10**9
#: Months simulated: [1, MAX_HORIZON] (a century).
MAX_HORIZON = 1200
#: Seeds are SeedSequence entropy of 128 bits: [0, MAX_SEED].
MAX_SEED = 2**128 - 1
#: Worker processes or threads on one machine.
MAX_WORKERS = 1024
#: Largest Poisson mean (incidents per state-month) the core accepts; far above any
#: plausible scenario, it keeps ``exp(-lambda)`` away from underflow.
MAX_MONTHLY_INCIDENT_RATE = 500.0

#: Trials whose month-by-month paths a run may save (``--save-paths N``): [1, MAX_SAVE_PATHS],
#: and at most MAX_PATH_ROWS rows of ``paths.parquet`` (trials x (horizon + 1) x states;
#: about 50 bytes a row in memory).
MAX_SAVE_PATHS = 10_000
MAX_PATH_ROWS = 10_000_000

DEFAULT_TRIALS = 10_000
DEFAULT_HORIZON = 36

#: Precision on demand (``--target-halfwidth``): trials at the first look (one random-number
#: block; later looks double it), and the default cap (``--max-trials``,
#: ``sweep.max_trials_per_point``), which must be in [FIRST_LOOK, MAX_TRIALS].
FIRST_LOOK = 1000
DEFAULT_MAX_TRIALS = 1_000_000


def describe() -> dict[str, str]:
    """The limits as the docs show them."""
    return {
        "trials": f"[1, {MAX_TRIALS:.0e}]".replace("e+0", "e"),
        "horizon_months": f"[1, {MAX_HORIZON}]",
        "seed": "[0, 2**128 - 1]",
        "workers": f"[1, {MAX_WORKERS}]",
        "save_paths": f"[1, {MAX_SAVE_PATHS}] and at most {MAX_PATH_ROWS:,} rows",
    }
