"""Blocks of a run whose trials come in parameter groups: the worker's unit of work under
a posterior.

Trial ``i`` is in group ``g = i // GROUP_SIZE`` (:mod:`abm.model.rng`); every group runs
its own compiled parameter set. A chunk of ``nb`` blocks is one :class:`~abm.model.compile.Batch`
of ``P = nb * BLOCK_SIZE / GROUP_SIZE`` points, one per group, and the block streams are
drawn exactly as in a plain run, into one ``(nb * BLOCK_SIZE, S)`` array seen as
``(P, GROUP_SIZE, S)``: group ``g``'s rows are its trials' rows. Trial ``i`` therefore
gets the same random numbers as without a posterior, and the kernel's result, read back
as ``(P * GROUP_SIZE, S)``, is in trial order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .accumulators import ACCUMULATORS
from .compile import Compiled, stack
from .outcomes import ChunkResult
from .rng import BLOCK_SIZE, GROUP_SIZE, MonthDraws, block_generators, draw_month

__all__ = ["run_groups"]


def run_groups(kernel: str | None, cms: list[Compiled], point_cm: np.ndarray, entropy: Any,
               spawn_key: tuple[int, ...], first_block: int, n_blocks: int, n_trials: int
               ) -> ChunkResult:
    """Simulate blocks ``first_block .. first_block + n_blocks - 1``, group ``q`` of the
    chunk (trials ``first_block * BLOCK_SIZE + q * GROUP_SIZE ..``) with parameter set
    ``cms[point_cm[q]]``.

    ``n_trials`` must leave whole groups (a multiple of ``GROUP_SIZE``): the per-month
    accumulators count whole groups. Returns the :class:`ChunkResult` of the trials of
    these blocks below ``n_trials``, as :func:`abm.model.numpy_engine.run_blocks` does.
    """
    from .kernels import get_kernel

    G = GROUP_SIZE
    n = n_blocks * BLOCK_SIZE
    P = n // G
    if len(point_cm) != P:
        raise ValueError(f"point_cm has {len(point_cm)} entries, expected {P}")
    start = first_block * BLOCK_SIZE
    m = max(0, min(n, n_trials - start))
    if m % G:
        raise ValueError(f"{n_trials} trials do not fill whole groups of {G}")
    used = m // G
    root = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    bt = stack([cms[int(k)] for k in point_cm])
    flat = MonthDraws.empty(n, bt.S, bt.noise_on)

    def view(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a.reshape(P, G, *a.shape[1:])

    draws = MonthDraws(view(flat.u_threat), view(flat.u_drill), view(flat.z_p),
                       view(flat.z_w), view(flat.u_decide), view(flat.u_consent))
    gens = [block_generators(root, b) for b in range(first_block, first_block + n_blocks)]

    def draw(_: MonthDraws) -> None:
        draw_month(gens, flat)

    out = get_kernel(kernel)(bt, draw, draws, G, G, collect_months=True)
    outcomes = {k: v.reshape(P * G, *v.shape[2:])[:m] for k, v in out.items()
                if k not in ACCUMULATORS}
    acc = {k: out[k][:used].sum(axis=0) for k in ACCUMULATORS}
    return ChunkResult(start=start, outcomes=outcomes, acc=acc)
