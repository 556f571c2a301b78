"""Randomness enters here, and only here.

The contract (also in ``docs/model.md``):

* A run has one root :class:`numpy.random.SeedSequence`, built from the seed given (an
  ``int``, a ``SeedSequence``, a ``Generator``, or ``None`` for fresh OS entropy). The
  seed actually used is the root's ``entropy``; it is recorded in every result.
* Trials are grouped in fixed blocks of :data:`BLOCK_SIZE`. Trial ``i`` belongs to block
  ``b = i // BLOCK_SIZE`` at row ``i % BLOCK_SIZE``.
* Block ``b`` owns three independent PCG64 streams,
  ``SeedSequence(entropy, spawn_key=root.spawn_key + (b, k))`` for ``k`` in
  ``0`` events, ``1`` noise, ``2`` decisions.
* Each month ``t = 0 .. T-1`` the core draws, per block and always for the full block
  of ``BLOCK_SIZE`` rows (rows past the last trial are simulated and discarded):

  ==========  ============================  ==========================================
  stream      call, in this order           use
  ==========  ============================  ==========================================
  events      ``random((B, S))``            ``u_threat``: Poisson incidents by inversion
  events      ``random(B)``                 ``u_drill``: Poisson drills by inversion
  noise       ``standard_normal((B, S))``   ``z_p``: opinion noise
  noise       ``standard_normal((B, S))``   ``z_w``: willingness noise
  decisions   ``random((B, S))``            ``u_decide``: agreement or closure
  decisions   ``random((B, S))``            ``u_consent``: CSTO consent
  ==========  ============================  ==========================================

  The noise stream is not drawn at all when both noise scales are zero (the other
  streams are unaffected, being separate). Hence trial ``i``'s outcome depends only on
  the seed, the scenario and ``i``: not on the number of trials, the chunking, the
  number of workers or the engine.
* Under a posterior (``abm run --posterior``), trials are further split into groups of
  :data:`GROUP_SIZE` (trial ``i`` is in group ``g = i // GROUP_SIZE``, ten to a block), and
  each group runs one parameter set drawn from the weighted posterior with the group's own
  stream, ``SeedSequence(entropy, spawn_key=root.spawn_key + (PARAM_KEY, g))``: its first
  ``random()`` ``u`` picks particle ``k``, the first with ``u * W_K < W_k`` where ``W_k``
  is the cumulative weight (:func:`group_particles`). The block streams above are drawn
  exactly as in a plain run, so trial ``i`` uses the same random numbers with or without a
  posterior, and its outcome depends only on the seed, the scenario, the posterior and
  ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BLOCK_SIZE", "MonthDraws", "resolve_seed", "block_generators", "draw_month",
           "EVENTS", "NOISE", "DECISIONS", "MESA_STREAM", "DESIGN_KEY", "POINT_KEY",
           "design_seed", "point_root", "mesa_seed", "fresh_seed", "CALIBRATION_KEY",
           "calibration_root", "GROUP_SIZE", "PARAM_KEY", "group_particles"]

#: Trials per random-number block. Part of the reproducibility contract: changing it
#: changes every result for a given seed.
BLOCK_SIZE = 1000

#: Spawn-key slots of a block's streams: ``root.spawn_key + (block, slot)``.
EVENTS, NOISE, DECISIONS = 0, 1, 2
#: Slot of the per-trial seed handed to ``mesa.Model`` (unused by the dynamics), in a key
#: one longer than the block streams': ``root.spawn_key + (block, MESA_STREAM, row)``.
MESA_STREAM = 3
#: Spawn-key slots beyond any block index: a sweep's design sampler, and (without common
#: random numbers) sweep point ``p``'s own root at ``POINT_KEY + p``.
DESIGN_KEY = 2**32
POINT_KEY = 2**32 + 1
#: Spawn-key slot of a calibration (``abm calibrate``, a seed of its own): step ``r`` of
#: generation ``t`` draws its proposals, acceptance and resampling numbers from the root
#: ``(CALIBRATION_KEY, t, r, 0, 0)``, and its batch ``b`` simulates the ``e``-th episode
#: with the block streams of the root ``(CALIBRATION_KEY, t, r, b, 1 + e)`` (particle ``q``
#: of the batch owns rows ``q*M .. q*M + M - 1`` of its blocks). The posterior-predictive
#: check uses ``t = 2**20`` likewise.
CALIBRATION_KEY = 2**33
#: Trials per parameter group under a posterior: each group of GROUP_SIZE consecutive
#: trials runs one parameter set. It divides BLOCK_SIZE. Part of the contract.
GROUP_SIZE = 100
#: Spawn-key slot of the parameter draws under a posterior: group ``g`` draws from
#: ``root.spawn_key + (PARAM_KEY, g)``. Beyond every ``POINT_KEY + p`` (``p < 2**32``) and
#: CALIBRATION_KEY.
PARAM_KEY = 2**34


def resolve_seed(seed: int | np.random.SeedSequence | np.random.Generator | None,
                 ) -> np.random.SeedSequence:
    """Turn any accepted seed into the run's root ``SeedSequence``.

    ``None`` draws fresh entropy from the OS; ``0`` is a seed like any other. A
    ``Generator`` contributes one 128-bit integer drawn from it.
    """
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, np.random.SeedSequence):
        # Only the entropy is recorded as "the seed used", so it must say everything.
        if seed.spawn_key or not isinstance(seed.entropy, int):
            raise ValueError("seed: a SeedSequence must be a root with integer entropy "
                             "(no spawn_key); pass its entropy or an int instead")
        return seed
    if isinstance(seed, np.random.Generator):
        hi, lo = seed.integers(0, 2**64, size=2, dtype=np.uint64)
        return np.random.SeedSequence((int(hi) << 64) | int(lo))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, SeedSequence, Generator or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.SeedSequence(int(seed))


def fresh_seed() -> int:
    """A seed from OS entropy, for a run given none: the one place such entropy is made.
    The value is recorded as the seed used, so the run can be repeated."""
    return int(np.random.SeedSequence().entropy)


def design_seed(seed: int) -> int:
    """The 32-bit seed of a sweep's design sampler (LHS, Sobol', Morris) and of its
    sensitivity analysis' bootstrap: ``SeedSequence(seed, spawn_key=(DESIGN_KEY,))``."""
    return int(np.random.SeedSequence(seed, spawn_key=(DESIGN_KEY,))
               .generate_state(1, np.uint32)[0])


def point_root(root: np.random.SeedSequence, point: int) -> np.random.SeedSequence:
    """Sweep point ``point``'s own root when points do not share random numbers."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, POINT_KEY + point))


def mesa_seed(root: np.random.SeedSequence, trial: int) -> np.random.SeedSequence:
    """The seed sequence given to ``mesa.Model`` for ``trial`` (unused by the dynamics):
    distinct per trial and seed, and never equal to a stream of the draw contract."""
    b, row = divmod(int(trial), BLOCK_SIZE)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, b, MESA_STREAM, row))


def calibration_root(seed: int, generation: int, step: int, batch: int, slot: int
                     ) -> np.random.SeedSequence:
    """A calibration's root for ``(generation, step, batch, slot)`` (see
    :data:`CALIBRATION_KEY`)."""
    return np.random.SeedSequence(int(seed), spawn_key=(CALIBRATION_KEY, int(generation),
                                                         int(step), int(batch), int(slot)))


def group_particles(root: np.random.SeedSequence, first_group: int, n_groups: int,
                    weights: np.ndarray) -> np.ndarray:
    """The posterior particle of groups ``first_group ..`` (``n_groups`` of them).

    Group ``g``'s stream is ``SeedSequence(entropy, spawn_key=root.spawn_key + (PARAM_KEY,
    g))``; its first ``random()`` ``u`` picks the first particle ``k`` with
    ``u * W[-1] < W[k]``, ``W = cumsum(weights)`` (inverse-CDF sampling with replacement; a
    particle of weight 0 is never drawn). Depends only on the seed, ``g`` and the weights.
    """
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    u = np.array([np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        root.entropy, spawn_key=(*root.spawn_key, PARAM_KEY, g)))).random()
        for g in range(first_group, first_group + n_groups)], dtype=np.float64)
    k = np.searchsorted(cum, u * cum[-1], side="right")
    return np.minimum(k, len(cum) - 1).astype(np.int64)


def block_generators(root: np.random.SeedSequence, block: int) -> tuple[np.random.Generator, ...]:
    """The (events, noise, decisions) generators of one block."""
    return tuple(
        np.random.Generator(
            np.random.PCG64(
                np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, block, k))
            )
        )
        for k in (EVENTS, NOISE, DECISIONS)
    )


@dataclass
class MonthDraws:
    """One month's random numbers for ``n`` rows (a whole number of blocks).

    Arrays have shape ``(n, S)`` except ``u_drill``, shape ``(n,)``. ``z_p``/``z_w`` are
    ``None`` when noise is off.
    """

    u_threat: np.ndarray
    u_drill: np.ndarray
    z_p: np.ndarray | None
    z_w: np.ndarray | None
    u_decide: np.ndarray
    u_consent: np.ndarray

    @classmethod
    def empty(cls, n: int, n_states: int, noise: bool) -> MonthDraws:
        shape = (n, n_states)
        return cls(
            np.empty(shape), np.empty(n),
            np.empty(shape) if noise else None, np.empty(shape) if noise else None,
            np.empty(shape), np.empty(shape),
        )


def draw_month(gens_per_block: list[tuple[np.random.Generator, ...]], out: MonthDraws) -> None:
    """Fill ``out`` with one month of draws, block by block, in the contract's order."""
    B = BLOCK_SIZE
    for j, (ev, nz, dec) in enumerate(gens_per_block):
        sl = slice(j * B, (j + 1) * B)
        ev.random(out=out.u_threat[sl])
        ev.random(out=out.u_drill[sl])
        if out.z_p is not None:
            nz.standard_normal(out=out.z_p[sl])
            nz.standard_normal(out=out.z_w[sl])
        dec.random(out=out.u_decide[sl])
        dec.random(out=out.u_consent[sl])
