"""ABC-SMC over batches of particles (docs/calibration.md has the algorithm and its sources).

The record of an episode is a set of yes/no patterns, so a trial either reproduces all of
them or misses ``k`` of them: the distance of a trial is that ``k``, and ABC with tolerance
``epsilon = 0`` targets the exact posterior ``pi(theta) * prod_e P_theta(record_e)``. Each
particle runs ``M`` trials of every episode; its estimated likelihood at tolerance ``eps``
is ``prod_e (1/M) #{trials of e with distance <= eps}``, an unbiased estimate of
``prod_e P_theta(distance_e <= eps)`` (the episodes are independent). With
``tolerance = "per_episode"`` each episode has its own ``eps_e``, lowered one step at a
time (:func:`next_epsilon`); the last target, every ``eps_e = 0``, is the same.

The sampler is the adaptive SMC of Del Moral, Doucet & Jasra (2012), which uses ``M``
simulations per particle in this way: generation 0 samples the prior; each later
generation (1) lowers the tolerance to the smallest value that keeps ``ess_fraction`` of
the effective sample size when the population is re-weighted from its stored simulations
(at least one step while that keeps 5% of the population, else it stays), (2) resamples
when the ESS falls below half the population,
and (3) moves every particle by Metropolis-Hastings steps that leave the tolerance's
target invariant: a Gaussian random walk on the priors' working scales with covariance
``2.38^2 / d`` times the population's (Roberts & Rosenthal 2001), accepted with probability
``min(1, pi(theta') L(theta') / (pi(theta) L(theta)))`` using the likelihood estimates
(pseudo-marginal: a particle keeps the estimate it was accepted with). Steps repeat until
``move_target`` of the particles have moved or ``max_moves`` steps are done. After the
tolerance reaches 0, ``final_generations`` generations of moves at 0 follow; if it stalls
above 0 (a generation after the one that reached it cannot lower it), ``final_generations``
more follow and, if it still cannot be lowered, the run stops there and says so (the
posterior is then the ABC approximation at that tolerance).

Everything is deterministic given the seed: the proposals and acceptance draws of step
``r`` of generation ``t`` come from their own stream, and the simulations of batch ``b``
from theirs, so the result does not depend on how many batches run at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...model.rng import calibration_root
from .spec import Calibration

__all__ = ["Generation", "likelihood", "next_epsilon", "run_generation", "run_smc", "ess"]


@dataclass
class Generation:
    """One finished generation: its population on the working scale ``U`` and natural
    scale ``X``, normalised weights, each particle's distance counts per episode, and
    diagnostics."""

    t: int
    epsilon: int | None             # None: no tolerance (the prior, generation 0)
    U: np.ndarray
    X: np.ndarray
    w: np.ndarray
    counts: list[np.ndarray]
    simulations: int = 0            # particles simulated (each M trials per episode)
    ess_reweighted: float = 0.0     # ESS after lowering the tolerance, before resampling
    resampled: bool = False
    acceptance: list[float] = field(default_factory=list)  # per Metropolis-Hastings step
    moved: float = 0.0              # share of particles moved at least once
    wall_seconds: float = 0.0
    #: per episode (``tolerance = "per_episode"``); None: ``epsilon`` for every episode
    tolerances: tuple[int, ...] | None = None

    @property
    def ess(self) -> float:
        return ess(self.w)

    @property
    def tol(self) -> tuple[int, ...] | None:
        """The tolerance of each episode (None for the prior)."""
        if self.tolerances is not None:
            return self.tolerances
        return None if self.epsilon is None else (self.epsilon,) * len(self.counts)

    def diagnostics(self) -> dict[str, Any]:
        return {"generation": self.t,
                "epsilon": self.epsilon,
                "tolerances": None if self.tol is None else list(self.tol),
                "ess_reweighted": round(self.ess_reweighted, 2),
                "resampled": self.resampled,
                "moves": len(self.acceptance),
                "acceptance_rate": (round(float(np.mean(self.acceptance)), 4)
                                    if self.acceptance else None),
                "acceptance_per_move": [round(a, 4) for a in self.acceptance],
                "moved": round(self.moved, 4),
                "ess": round(self.ess, 2),
                "unique": int(len(np.unique(self.U, axis=0))),
                "simulations": self.simulations,
                "wall_seconds": round(self.wall_seconds, 3)}


def ess(w: np.ndarray) -> float:
    """Kish's effective sample size of weights ``w``."""
    w = np.asarray(w, dtype=np.float64)
    s = w.sum()
    return float(s * s / np.dot(w, w)) if s > 0 else 0.0


Tolerance = int | tuple[int, ...] | None


def _per_episode(eps: int | tuple[int, ...], n: int) -> tuple[int, ...]:
    return (eps,) * n if isinstance(eps, int) else tuple(eps)


def likelihood(counts: list[np.ndarray], eps: Tolerance, M: int) -> np.ndarray:
    """``prod_e (1/M) #{distance_e <= eps_e}`` per particle (1 when ``eps`` is None);
    ``eps`` one tolerance for every episode or one per episode."""
    if eps is None:
        return np.ones(counts[0].shape[0])
    out = np.ones(counts[0].shape[0])
    for c, e in zip(counts, _per_episode(eps, len(counts)), strict=True):
        out *= c[:, : e + 1].sum(axis=1) / M
    return out


#: Lowest ESS, as a share of the population, that a forced one-step lowering may leave.
MIN_ESS_SHARE = 0.05


def next_epsilon(prev: Generation, M: int, alpha: float, per_episode: bool = False
                 ) -> tuple[int, ...]:
    """The next tolerances (one per episode).

    Common tolerance (``per_episode`` false): the smallest value below ``prev``'s that
    keeps ``alpha`` of the ESS when ``prev`` is re-weighted to it, the same for every
    episode; if none does, one step below as long as that keeps :data:`MIN_ESS_SHARE` of
    the population, else ``prev``'s own (the generation only moves the particles, which is
    how the population finds the region where the lower tolerance can be reached).

    Per episode: starting from ``prev``'s tolerances, repeatedly lower by one the episode
    whose lowering keeps the most ESS, while that keeps ``alpha`` of ``prev``'s ESS; if
    no step does, the best single step as long as it keeps :data:`MIN_ESS_SHARE`, else
    ``prev``'s own. Zeros stay zero.
    """
    n = len(prev.counts)
    tops = tuple(c.shape[1] - 1 for c in prev.counts)
    if not per_episode:
        top = max(tops)
        current = top if prev.epsilon is None else min(prev.epsilon, top)
        if current == 0:
            return (0,) * n
        chosen = None
        for eps in range(current - 1, -1, -1):
            if ess_at(prev, (eps,) * n, M) >= alpha * prev.ess:
                chosen = eps
            else:
                break
        if chosen is not None:
            return (chosen,) * n
        lower = ess_at(prev, (current - 1,) * n, M) >= MIN_ESS_SHARE * len(prev.w)
        return (current - 1,) * n if lower else (current,) * n
    cur = tops if prev.tol is None else tuple(min(a, b) for a, b in zip(prev.tol, tops,
                                                                         strict=True))
    steps = 0
    while True:
        best = best_step(prev, cur, M)
        if best is None or best[0] < alpha * prev.ess:
            break
        cur, steps = best[1], steps + 1
    if steps == 0 and best is not None and best[0] >= MIN_ESS_SHARE * len(prev.w):
        cur = best[1]
    return cur


def best_step(prev: Generation, cur: tuple[int, ...], M: int
              ) -> tuple[float, tuple[int, ...]] | None:
    """Of the tolerances one episode's step below ``cur``, the one whose re-weighting of
    ``prev`` keeps the most ESS (the first episode on ties), with that ESS; None if every
    tolerance is 0."""
    best = None
    for e, v in enumerate(cur):
        if v == 0:
            continue
        cand = cur[:e] + (v - 1,) + cur[e + 1:]
        s = ess_at(prev, cand, M)
        if best is None or s > best[0]:
            best = (s, cand)
    return best


def ess_at(prev: Generation, eps: Tolerance, M: int) -> float:
    """The ESS of ``prev`` re-weighted from its own tolerances to ``eps``."""
    base = likelihood(prev.counts, prev.tol, M)
    return ess(prev.w * likelihood(prev.counts, eps, M) / np.where(base > 0, base, 1.0))


def log_prior(cal: Calibration, U: np.ndarray) -> np.ndarray:
    return np.sum([p.logpdf(U[:, i]) for i, p in enumerate(cal.priors)], axis=0)


def natural(cal: Calibration, U: np.ndarray) -> np.ndarray:
    return np.stack([p.natural(U[:, i]) for i, p in enumerate(cal.priors)], axis=1)


def _rng(cal: Calibration, t: int, step: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(calibration_root(cal.seed, t, step, 0, 0)))


#: Step index of a generation's resampling stream (beyond any move's index).
RESAMPLE_STEP = 2**20

SimulateFn = Callable[[np.ndarray, int, int], list[np.ndarray]]


def _simulate_all(cal: Calibration, X: np.ndarray, t: int, step: int,
                  simulate: SimulateFn) -> list[np.ndarray]:
    """Distance counts of every row of ``X``, in batches of ``method.batch`` (the last
    padded with copies, discarded)."""
    B, n = cal.method.batch, len(X)
    pad = (-n) % B
    Xp = np.concatenate([X, np.repeat(X[:1], pad, axis=0)]) if pad else X
    res = simulate(Xp, t, step)
    return [c[:n] for c in res]


def run_generation(cal: Calibration, t: int, prev: Generation | None, simulate: SimulateFn,
                   progress: Callable[[str], None] | None = None) -> Generation:
    """Generation ``t`` from ``prev`` (the prior when ``prev`` is None)."""
    m = cal.method
    M, N = m.trials_per_particle, m.population
    t0 = time.perf_counter()
    if prev is None:
        rng = _rng(cal, 0, 0)
        U = np.stack([p.sample(rng, N) for p in cal.priors], axis=1)
        counts = _simulate_all(cal, natural(cal, U), 0, 0, simulate)
        w = np.full(N, 1.0 / N)
        return Generation(0, None, U, natural(cal, U), w, counts, simulations=N,
                          ess_reweighted=float(N), wall_seconds=time.perf_counter() - t0)
    per_episode = m.tolerance == "per_episode"
    eps = next_epsilon(prev, M, m.ess_fraction, per_episode)
    base = likelihood(prev.counts, prev.tol, M)
    lik = likelihood(prev.counts, eps, M)
    w = prev.w * lik / np.where(base > 0, base, 1.0)
    if w.sum() <= 0:
        raise ValueError(f"no particle of generation {t - 1} reaches tolerance "
                         f"{_show(eps)}")
    w = w / w.sum()
    ess_rw = ess(w)
    U, counts = prev.U.copy(), [c.copy() for c in prev.counts]
    resampled = ess_rw < N / 2
    if resampled:
        idx = _rng(cal, t, RESAMPLE_STEP).choice(N, size=N, p=w)
        U, counts, lik = U[idx], [c[idx] for c in counts], lik[idx]
        w = np.full(N, 1.0 / N)
    alive = w > 0
    d = U.shape[1]
    cov = np.atleast_2d(np.cov(U[alive].T, aweights=w[alive])) if alive.sum() > 1 else \
        np.eye(d)
    cov = cov * (2.38 ** 2 / d) + np.eye(d) * 1e-10
    L = np.linalg.cholesky(cov)
    lp = log_prior(cal, U)
    moved = np.zeros(N, dtype=bool)
    acceptance: list[float] = []
    sims = 0
    for r in range(m.max_moves):
        rng = _rng(cal, t, 1 + r)
        Up = U + rng.standard_normal((N, d)) @ L.T
        logu = np.log(rng.random(N))
        lpp = log_prior(cal, Up)
        todo = np.flatnonzero(alive & np.isfinite(lpp))
        cp = _simulate_all(cal, natural(cal, Up[todo]), t, 1 + r, simulate) if len(todo) \
            else [np.zeros((0, c.shape[1]), dtype=np.int64) for c in counts]
        sims += len(todo)
        likp = likelihood(cp, eps, M)
        with np.errstate(divide="ignore"):
            ratio = lpp[todo] + np.log(likp) - lp[todo] - np.log(lik[todo])
        acc = todo[(likp > 0) & (logu[todo] < ratio)]
        pos = np.searchsorted(todo, acc)
        U[acc], lp[acc], lik[acc] = Up[acc], lpp[acc], likp[pos]
        for c, cn in zip(counts, cp, strict=True):
            c[acc] = cn[pos]
        moved[acc] = True
        # every proposal counts, those outside the prior's support (rejected unsimulated)
        # included
        acceptance.append(len(acc) / max(int(alive.sum()), 1))
        if progress:
            progress(f"generation {t}: tolerance {_show(eps)}, move {r + 1}: accepted "
                     f"{acceptance[-1]:.1%}, moved so far {moved[alive].mean():.1%}")
        if moved[alive].mean() >= m.move_target:
            break
    return Generation(t, max(eps), U, natural(cal, U), w, counts, simulations=sims,
                      ess_reweighted=ess_rw, resampled=resampled, acceptance=acceptance,
                      moved=float(moved[alive].mean()), wall_seconds=time.perf_counter() - t0,
                      tolerances=eps if per_episode else None)


def _show(tol: tuple[int, ...]) -> str:
    """A tolerance for messages: the number when every episode has it, else the list."""
    return str(tol[0]) if len(set(tol)) == 1 else "(" + ", ".join(map(str, tol)) + ")"


def run_smc(cal: Calibration, simulate: SimulateFn, done: list[Generation], *,
            on_generation: Callable[[Generation], None] | None = None,
            progress: Callable[[str], None] | None = None) -> tuple[list[Generation], str]:
    """Run generations after those in ``done`` until a stopping rule; returns all
    generations and why it stopped."""
    m = cal.method
    gens = list(done)
    while True:
        if gens:
            at_zero = sum(g.epsilon == 0 for g in gens)
            if at_zero >= 1 + m.final_generations:
                return gens, (f"tolerance 0 reached, then {m.final_generations} more "
                              f"generation{'s' if m.final_generations != 1 else ''} at 0")
            tol = gens[-1].tol
            same = 0
            for g in reversed(gens[1:]):
                if g.tol != tol:
                    break
                same += 1
            # stalled: the first generation at tol reached it, the next could not lower it;
            # then final_generations more, as at tolerance 0
            if tol is not None and max(tol) > 0 and same >= 2 + m.final_generations:
                M = m.trials_per_particle
                per_episode = m.tolerance == "per_episode"
                nxt = next_epsilon(gens[-1], M, m.ess_fraction, per_episode)
                if nxt == tol:
                    if per_episode:
                        best = best_step(gens[-1], tol, M)
                        assert best is not None
                        share, lower = best[0] / len(gens[-1].w), best[1]
                    else:
                        lower = tuple(v - 1 for v in tol)
                        share = ess_at(gens[-1], lower, M) / len(gens[-1].w)
                    return gens, (f"tolerance stalled at {_show(tol)} for {same} generation"
                                  f"{'s' if same != 1 else ''}: "
                                  f"lowering it to {_show(lower)} would leave an ESS of "
                                  f"{share:.1%} of the population (below "
                                  f"{MIN_ESS_SHARE:.0%}); the posterior is the ABC "
                                  f"approximation at tolerance {_show(tol)}")
            if len(gens) >= m.max_generations:
                last = gens[-1].tol
                return gens, (f"max_generations = {m.max_generations} reached at tolerance "
                              f"{None if last is None else _show(last)}")
        t = len(gens)
        gen = run_generation(cal, t, gens[-1] if gens else None, simulate, progress)
        gens.append(gen)
        if on_generation:
            on_generation(gen)
