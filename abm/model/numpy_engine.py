"""The vectorised numpy engine: many trials at once over a ``(points, trials, states)`` array.

:func:`kernel` runs the month loop, calling :func:`abm.model.step.month_step` once a month
for every trial of every point; :func:`run_blocks` simulates a contiguous range of
random-number blocks (see :mod:`abm.model.rng`) of one scenario and returns per-trial
outcomes plus per-month accumulators that merge exactly (integer histograms and
fixed-point sums), so quantile bands and means do not depend on how trials were split.
Memory grows with trials x states, never with months. This engine is the reference
implementation of the model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .accumulators import ACCUMULATORS, new_accumulators, record_month
from .compile import Batch, Compiled, stack
from .outcomes import ChunkResult
from .rng import BLOCK_SIZE, MonthDraws, block_generators, draw_month
from .step import final_record, initial_state, month_step, new_record, update_record

__all__ = ["kernel", "crn_drawer", "run_blocks", "split_result"]


def kernel(bt: Batch, draw: Callable[[MonthDraws], None], draws: MonthDraws, n: int, m: int,
           collect_months: bool) -> dict[str, np.ndarray]:
    """The month loop over a ``(P, n, S)`` array of trials.

    Parameters
    ----------
    bt : Batch
        ``P`` parameter sets.
    draw : callable
        ``draw(draws)`` fills ``draws`` with the next month's random numbers: arrays of
        shape ``(n, S)`` shared by every point (common random numbers) or ``(P, n, S)``.
    n, m : int
        Rows simulated per point, and how many of them are kept (the rest pad the last
        random-number block).
    collect_months : bool
        Also accumulate per-month histograms, fixed-point sums and hosting counts
        (shape ``(P, T+1, S, ...)``).

    Returns
    -------
    dict of the outcome record's arrays ``(P, m, S)`` (:data:`abm.model.outcomes.OUTCOMES`)
    and, if asked, the per-month accumulators.
    """
    x = initial_state(bt, n)
    rec = new_record(x)
    acc = new_accumulators(bt.P, bt.T, bt.S) if collect_months else {}

    def record(t: int) -> None:
        for q in range(bt.P):
            record_month(acc, q, t, x.w[q, :m], x.p[q, :m], x.h[q, :m])

    if collect_months:
        record(0)
    for t in range(bt.T):
        draw(draws)
        x, ev = month_step(x, bt, t, draws)
        update_record(rec, ev, x, t)
        if collect_months:
            record(t + 1)
    out = {k: v[:, :m] for k, v in final_record(rec, x).items()}
    out.update(acc)
    return out


def crn_drawer(root: np.random.SeedSequence, first_block: int, n_blocks: int
               ) -> Callable[[MonthDraws], None]:
    """Month-by-month draws of blocks ``first_block ..``, shared by every point."""
    gens = [block_generators(root, b) for b in range(first_block, first_block + n_blocks)]
    return lambda out: draw_month(gens, out)


def run_blocks(cm: Compiled, root: np.random.SeedSequence, first_block: int, n_blocks: int,
               n_trials: int, kernel: str | None = None) -> ChunkResult:
    """Simulate blocks ``first_block .. first_block + n_blocks - 1`` of a run.

    Parameters
    ----------
    cm : Compiled
        The scenario as arrays.
    root : SeedSequence
        The run's root seed sequence (see :mod:`abm.model.rng`).
    first_block, n_blocks : int
        Which blocks. Every block is simulated in full (``BLOCK_SIZE`` rows).
    n_trials : int
        Total trials in the run; rows at or beyond it are discarded.
    kernel : str, optional
        The month kernel by name (:mod:`abm.model.kernels`): ``"compiled"`` (the default)
        or ``"numpy"``, :func:`kernel` here, the reference. Both give the same results.

    Returns
    -------
    ChunkResult for the trials of these blocks that are ``< n_trials``.
    """
    from .kernels import get_kernel

    month_kernel = get_kernel(kernel)
    n = n_blocks * BLOCK_SIZE
    start = first_block * BLOCK_SIZE
    m = max(0, min(n, n_trials - start))
    draws = MonthDraws.empty(n, cm.S, cm.noise_on)
    out = month_kernel(stack([cm]), crn_drawer(root, first_block, n_blocks), draws, n, m,
                       collect_months=True)
    return split_result(start, {k: v[0] for k, v in out.items()})


def split_result(start: int, out: dict[str, np.ndarray]) -> ChunkResult:
    """A kernel's output dict (one point) as a :class:`ChunkResult`."""
    return ChunkResult(start=start,
                       outcomes={k: v for k, v in out.items() if k not in ACCUMULATORS},
                       acc={k: out[k] for k in ACCUMULATORS if k in out})
