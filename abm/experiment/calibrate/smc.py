"""ABC-SMC over batches of particles (docs/calibration.md has the algorithm and its sources).

The record of an episode is a set of yes/no patterns, so a trial either reproduces all of
them or misses ``k`` of them: the distance of a trial is that ``k``, and ABC with tolerance
``epsilon = 0`` targets the exact posterior ``pi(theta) * prod_e P_theta(record_e)``. Each
particle runs ``M`` trials of every episode; its estimated likelihood at tolerance ``eps``
is ``prod_e (1/M) #{trials of e with distance <= eps}``, an unbiased estimate of
``prod_e P_theta(distance_e <= eps)`` (the episodes are independent).

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

    @property
    def ess(self) -> float:
        return ess(self.w)

    def diagnostics(self) -> dict[str, Any]:
        return {"generation": self.t,
                "epsilon": self.epsilon,
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


def likelihood(counts: list[np.ndarray], eps: int | None, M: int) -> np.ndarray:
    """``prod_e (1/M) #{distance <= eps}`` per particle (1 when ``eps`` is None)."""
    if eps is None:
        return np.ones(counts[0].shape[0])
    out = np.ones(counts[0].shape[0])
    for c in counts:
        out *= c[:, : eps + 1].sum(axis=1) / M
    return out


#: Lowest ESS, as a share of the population, that a forced one-step lowering may leave.
MIN_ESS_SHARE = 0.05


def next_epsilon(prev: Generation, M: int, alpha: float) -> int:
    """The next tolerance: the smallest below ``prev.epsilon`` that keeps ``alpha`` of the
    ESS when ``prev`` is re-weighted to it; if none does, one step below it as long as
    that keeps :data:`MIN_ESS_SHARE` of the population, else ``prev.epsilon`` itself (the
    generation only moves the particles, which is how the population finds the region
    where the lower tolerance can be reached). 0 stays 0."""
    if prev.epsilon == 0:
        return 0
    top = max(c.shape[1] - 1 for c in prev.counts)
    current = top if prev.epsilon is None else min(prev.epsilon, top)
    if current == 0:
        return 0
    chosen = None
    for eps in range(current - 1, -1, -1):
        if ess_at(prev, eps, M) >= alpha * prev.ess:
            chosen = eps
        else:
            break
    if chosen is not None:
        return chosen
    lower = ess_at(prev, current - 1, M) >= MIN_ESS_SHARE * len(prev.w)
    return current - 1 if lower else current


def ess_at(prev: Generation, eps: int, M: int) -> float:
    """The ESS of ``prev`` re-weighted from its own tolerance to ``eps``."""
    base = likelihood(prev.counts, prev.epsilon, M)
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
    eps = next_epsilon(prev, M, m.ess_fraction)
    base = likelihood(prev.counts, prev.epsilon, M)
    lik = likelihood(prev.counts, eps, M)
    w = prev.w * lik / np.where(base > 0, base, 1.0)
    if w.sum() <= 0:
        raise ValueError(f"no particle of generation {t - 1} reaches tolerance {eps}")
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
        acceptance.append(len(acc) / max(len(todo), 1))
        if progress:
            progress(f"generation {t}: tolerance {eps}, move {r + 1}: accepted "
                     f"{acceptance[-1]:.1%}, moved so far {moved[alive].mean():.1%}")
        if moved[alive].mean() >= m.move_target:
            break
    return Generation(t, eps, U, natural(cal, U), w, counts, simulations=sims,
                      ess_reweighted=ess_rw, resampled=resampled, acceptance=acceptance,
                      moved=float(moved[alive].mean()), wall_seconds=time.perf_counter() - t0)


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
            eps = gens[-1].epsilon
            same = 0
            for g in reversed(gens[1:]):
                if g.epsilon != eps:
                    break
                same += 1
            # stalled: the first generation at eps reached it, the next could not lower it;
            # then final_generations more, as at tolerance 0
            if eps not in (None, 0) and same >= 2 + m.final_generations:
                nxt = next_epsilon(gens[-1], m.trials_per_particle, m.ess_fraction)
                share = ess_at(gens[-1], eps - 1, m.trials_per_particle) / len(gens[-1].w)
                if nxt == eps:
                    return gens, (f"tolerance stalled at {eps} for {same} generation"
                                  f"{'s' if same != 1 else ''}: "
                                  f"lowering it to {eps - 1} would leave an ESS of "
                                  f"{share:.1%} of the population (below "
                                  f"{MIN_ESS_SHARE:.0%}); the posterior is the ABC "
                                  f"approximation at tolerance {eps}")
            if len(gens) >= m.max_generations:
                return gens, (f"max_generations = {m.max_generations} reached at tolerance "
                              f"{gens[-1].epsilon}")
        t = len(gens)
        gen = run_generation(cal, t, gens[-1] if gens else None, simulate, progress)
        gens.append(gen)
        if on_generation:
            on_generation(gen)
