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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BLOCK_SIZE", "MonthDraws", "resolve_seed", "block_generators", "draw_month"]

#: Trials per random-number block. Part of the reproducibility contract: changing it
#: changes every result for a given seed.
BLOCK_SIZE = 1000

EVENTS, NOISE, DECISIONS = 0, 1, 2


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
