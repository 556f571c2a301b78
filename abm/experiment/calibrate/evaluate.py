"""Simulating a batch of particles on every episode: the calibration's model.

A batch of ``B`` parameter sets runs as ``B`` points of one :class:`~abm.model.compile.Batch`
per episode, ``M`` trials each, through the same kernels as runs and sweeps. Each point is
the episode's scenario with the particle's values applied exactly as ``--set`` applies
them (and validated), so a particle is a scenario an analyst could run. The random
numbers come from the batch's own block streams (:func:`abm.model.rng.calibration_root`):
particle ``q`` owns rows ``q*M .. q*M + M - 1``, so its result depends only on the seed,
its generation, its batch and its place in the batch.

The output per particle and episode is the number of trials whose *distance* to the record
is ``k`` for ``k = 0 .. J`` (``J`` = the episode's number of patterns), where the distance
of a trial is the number of recorded patterns that did not happen in it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ...analysis.history import pattern_hits_arrays
from ...model.compile import compile_scenario, stack
from ...model.kernels import get_kernel
from ...model.rng import BLOCK_SIZE, MonthDraws, block_generators, calibration_root, draw_month
from ...scenario import apply_override, build
from .spec import Episode, Prior

__all__ = ["apply_values", "episode_scenario", "simulate_batch", "pattern_matrix"]


def apply_values(priors: tuple[Prior, ...], x: np.ndarray) -> dict[str, Any]:
    """A particle's natural-scale values as scenario values (whole keys rounded)."""
    return {p.key: (float(np.floor(v + 0.5)) if p.whole else float(v))
            for p, v in zip(priors, x, strict=True)}


def episode_scenario(ep: Episode, values: dict[str, Any]) -> Any:
    """The episode with the values applied (keys the episode fixes itself are kept)."""
    raw = copy.deepcopy(ep.raw)
    for k, v in values.items():
        if k not in ep.fixed:
            apply_override(raw, k, v)
    return build(raw, ep.prov)


def _run(ep: Episode, X: np.ndarray, priors: tuple[Prior, ...], root: Any, M: int,
         kernel: str | None) -> dict[str, np.ndarray]:
    B = X.shape[0]
    cms = [compile_scenario(episode_scenario(ep, apply_values(priors, x))) for x in X]
    bt = stack(cms)
    S, n_rows = bt.S, B * M
    if n_rows % BLOCK_SIZE:
        raise ValueError(f"batch x trials = {n_rows} is not a whole number of blocks")
    flat = MonthDraws.empty(n_rows, S, bt.noise_on)
    gens = [block_generators(root, j) for j in range(n_rows // BLOCK_SIZE)]

    def view(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a.reshape(B, M, *a.shape[1:])

    draws = MonthDraws(view(flat.u_threat), view(flat.u_drill), view(flat.z_p),
                       view(flat.z_w), view(flat.u_decide), view(flat.u_consent))
    return get_kernel(kernel)(bt, lambda _: draw_month(gens, flat), draws, M, M,
                              collect_months=False)


def pattern_matrix(ep: Episode, out: dict[str, np.ndarray]) -> np.ndarray:
    """Per pattern, whether it happened: bool array ``(J, ...)`` over the kernel's
    ``(points, trials)`` axes."""
    first = out["first_base_month"].astype(np.float64)
    first[out["first_base_month"] < 0] = np.nan
    closed = out["first_base_closed_month"].astype(np.float64)
    closed[out["first_base_closed_month"] < 0] = np.nan
    ids = ep.scenario.state_ids
    return np.stack([pattern_hits_arrays(p, ids, first, closed, out["final_h"])
                     for p in ep.patterns])


def simulate_batch(episodes: tuple[Episode, ...], priors: tuple[Prior, ...], X: np.ndarray,
                   seed: int, generation: int, step: int, batch: int, M: int,
                   kernel: str | None = None) -> list[np.ndarray]:
    """Distance counts of ``X`` (natural scale, ``(B, d)``) on each episode.

    Returns one int64 array per episode, shape ``(B, J_e + 1)``: column ``k`` counts the
    particle's trials that missed exactly ``k`` of the episode's recorded patterns.
    """
    out = []
    for e, ep in enumerate(episodes):
        root = calibration_root(seed, generation, step, batch, 1 + e)
        res = _run(ep, X, priors, root, M, kernel)
        miss = (~pattern_matrix(ep, res)).sum(axis=0)            # (B, M)
        J = len(ep.patterns)
        counts = np.stack([(miss == k).sum(axis=1) for k in range(J + 1)], axis=1)
        out.append(counts.astype(np.int64))
    return out


def predictive_hits(ep: Episode, priors: tuple[Prior, ...], X: np.ndarray, seed: int,
                    slot: int, M: int, kernel: str | None = None) -> np.ndarray:
    """Posterior-predictive draws: per pattern, particle and trial whether it happened,
    shape ``(J, B, M)``; ``X`` are parameter sets drawn from the posterior."""
    res = _run(ep, X, priors, calibration_root(seed, 2**20, 0, 0, slot), M, kernel)
    return pattern_matrix(ep, res)
