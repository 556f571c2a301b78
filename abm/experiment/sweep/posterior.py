"""Sweeps under a posterior (``abm sweep FILE --posterior CAL_DIR``, or the base
scenario's ``posterior`` key; docs/forecasts.md, "Sweeps under a posterior").

Every point's trials (the reference's too) come in groups of
:data:`~abm.model.rng.GROUP_SIZE`; group ``g`` runs the point's scenario with the values
of the particle drawn for ``g`` (:func:`abm.model.rng.group_particles`) for every
posterior key the sweep does not vary; a key the sweep varies keeps the point's value.

* With common random numbers (``crn = true``) the particles are drawn from the sweep's
  root, as ``abm run`` draws them: group ``g`` of every point uses the same particle and
  the same block random numbers as group ``g`` of the reference, which is the run of the
  base scenario under the posterior with the same seed. Points are paired with the
  reference by parameter draw and by random numbers.
* Without (``crn = false``) point ``p`` draws both its random numbers and its particles
  from its own root (:func:`abm.model.rng.point_root`): points are independent.

A chunk of points ``p0 .. p1`` over blocks ``b0 ..`` is one
:class:`~abm.model.compile.Batch` of ``(points x groups)`` parameter sets of ``GROUP_SIZE``
trials each (groups past the last trial are not simulated at all); each (point, particle)
pair is compiled once per chunk. Trial ``i`` of a point gets the random numbers it gets
without a posterior, and the chunk's result has the plain sweep's format
(:func:`.aggregate.chunk_aggregates`), so a one-particle posterior at the scenario's own
values gives the plain sweep's ``outputs_sha256``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...analysis.stats import grouped_difference_means, grouped_means
from ...errors import ConfigError, display_path
from ...model.compile import compile_scenario, stack
from ...model.kernels import get_kernel
from ...model.rng import (
    BLOCK_SIZE,
    GROUP_SIZE,
    MonthDraws,
    block_generators,
    draw_month,
    group_particles,
    point_root,
    resolve_seed,
)
from ...scenario import Scenario
from ...scenario.params import with_parameters
from ..posterior import POSTERIOR_FILE, Posterior
from .aggregate import chunk_aggregates

__all__ = ["check_sweep_posterior", "SweepPosterior", "sweep_posterior", "posterior_args",
           "posterior_chunk", "group_means", "apply_grouped"]

_DRAWS = ("u_threat", "u_drill", "z_p", "z_w", "u_decide", "u_consent")
CI_METHOD = "t interval on the mean of group means, floored by Wilson"
DIFF_CI = {True: "t interval on the mean of per-group differences (paired by draw and "
                 "random numbers)",
           False: "t interval on the difference of group means (unpaired, independent "
                  "draws and random numbers)"}


def check_sweep_posterior(trials_per_point: Any, source: str) -> None:
    """What a sweep under a posterior needs: a fixed number of trials per point that is a
    multiple of GROUP_SIZE, at least two groups. Sweeps run the numpy engine (either
    kernel) already."""
    key = "sweep.trials_per_point"
    if not isinstance(trials_per_point, int):
        raise ConfigError(source, key, trials_per_point, "an adaptive sweep cannot run under "
                          "a posterior (its stopping rule takes a point's trials as "
                          "independent; under a posterior each group of "
                          f"{GROUP_SIZE} shares a parameter draw): give a number of trials, "
                          f"a multiple of {GROUP_SIZE}")
    if trials_per_point % GROUP_SIZE or trials_per_point < 2 * GROUP_SIZE:
        raise ConfigError(source, key, trials_per_point, f"under a posterior must be a "
                          f"multiple of {GROUP_SIZE} and at least {2 * GROUP_SIZE} (each "
                          f"group of {GROUP_SIZE} trials runs one parameter draw)")


@dataclass
class SweepPosterior:
    """The particles of a sweep's groups.

    ``particles[r, g]``: the particle of group ``g``, row ``r = 0`` for every point with
    common random numbers, else ``r = p`` (the reference last); ``held`` the posterior keys
    the sweep varies (design points keep the sweep's value of those).
    """

    posterior: Posterior
    particles: np.ndarray
    held: tuple[str, ...]
    crn: bool

    def of(self, p0: int, p1: int) -> np.ndarray:
        """Rows of points ``p0 .. p1 - 1``: shape ``(p1 - p0, groups)``."""
        if self.crn:
            return np.broadcast_to(self.particles[0], (p1 - p0, self.particles.shape[1]))
        return self.particles[p0:p1]

    def record(self, base: Scenario) -> dict[str, Any]:
        """``summary.json``'s ``posterior`` entry."""
        post = self.posterior
        return {**post.record(), "keys": list(post.keys),
                "particles": int(len(post.weights)),
                "particles_drawn": int(np.unique(self.particles).size),
                "held_by_sweep": list(self.held),
                "group_trials": GROUP_SIZE, "groups": int(self.particles.shape[1]),
                "particle_draws": ("shared by every point (crn)" if self.crn else
                                   "per point (independent, crn = false)"),
                "ci_method": CI_METHOD, "diff_ci_method": DIFF_CI[self.crn],
                "monte_carlo_only": "p_veto_ci, mean_months_hosted_ci (trials taken as "
                                    "independent)",
                "stance_rule_derived": [list(d) for d in base.derived]}


def _scenario(exp: Any, p: int) -> Scenario:
    if p == exp.n_points:
        return exp.base
    return exp.scenarios[p] if exp.scenarios else exp.point_scenario(p)


def _source(post: Posterior) -> str:
    return display_path(Path(post.path) / POSTERIOR_FILE)


def sweep_posterior(exp: Any) -> SweepPosterior:
    """Draw the particles of every group of every point (the reference last), and check
    each particle drawn against the reference (the base scenario) as ``abm run`` does."""
    post = exp.posterior
    root = resolve_seed(exp.seed)
    n_groups = exp.spec.trials_per_point // GROUP_SIZE
    if exp.spec.crn:
        particles = group_particles(root, 0, n_groups, post.weights)[None, :]
    else:
        particles = np.stack([group_particles(point_root(root, p), 0, n_groups, post.weights)
                              for p in range(exp.n_points + 1)])
    src = _source(post)
    # each particle's ranges against the base, before anything runs; a joint limit broken
    # only where a particle meets one design point is found when that chunk compiles
    for k in np.unique(particles):
        with_parameters(exp.base, dict(zip(post.keys, post.values[int(k)].tolist(),
                                           strict=True)), source=f"{src} row {int(k)}")
    held = tuple(k for k in post.keys if k in exp.keys)
    return SweepPosterior(post, particles.astype(np.int64), held, exp.spec.crn)


def posterior_args(exp: Any, plan: SweepPosterior, task: tuple[int, int, int, int],
                   tpp: int, kernel: str | None) -> tuple[Any, ...]:
    """Arguments of :func:`posterior_chunk` for one ``(p0, p1, b0, nb)`` task: the
    points' scenarios and only the particles their groups in these blocks use."""
    p0, p1, b0, nb = task
    m = max(0, min(nb * BLOCK_SIZE, tpp - b0 * BLOCK_SIZE))
    g0 = b0 * BLOCK_SIZE // GROUP_SIZE
    pick = plan.of(p0, p1)[:, g0:g0 + m // GROUP_SIZE]
    used, local = np.unique(pick, return_inverse=True)
    post = plan.posterior
    root = resolve_seed(exp.seed)
    return ([_scenario(exp, p) for p in range(p0, p1)],
            [p < exp.n_points for p in range(p0, p1)], plan.held, post.keys,
            post.values[used], used.astype(np.int64), local.reshape(pick.shape).astype(np.int64),
            _source(post), root.entropy, root.spawn_key, p0, b0, nb, tpp, exp.spec.crn, kernel)


def posterior_chunk(scs: list[Scenario], hold: list[bool], held: tuple[str, ...],
                    keys: tuple[str, ...], values: np.ndarray, rows: np.ndarray,
                    pick: np.ndarray, src: str, entropy: Any, spawn_key: tuple[int, ...],
                    p0: int, b0: int, nb: int, tpp: int, crn: bool,
                    kernel: str | None = None) -> dict[str, np.ndarray]:
    """Simulate points ``p0 .. p0 + len(scs) - 1`` over blocks ``b0 .. b0 + nb - 1``,
    group ``g`` of point ``q`` with particle ``values[pick[q, g]]`` (row ``rows[...]`` of
    the posterior) applied to ``scs[q]``, except the keys ``held`` where ``hold[q]``.
    Returns what :func:`.run.sweep_chunk` returns for the same points and blocks."""
    G = GROUP_SIZE
    root = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    n = nb * BLOCK_SIZE
    m = max(0, min(n, tpp - b0 * BLOCK_SIZE))
    Pq, ng = len(scs), m // G
    cms = []
    for q, sc in enumerate(scs):
        cache: dict[int, Any] = {}  # each particle once per point and chunk
        for j in pick[q].tolist():
            if j not in cache:
                vals = {k: v for k, v in zip(keys, values[j].tolist(), strict=True)
                        if not (hold[q] and k in held)}
                cache[j] = compile_scenario(with_parameters(
                    sc, vals, source=f"{src} row {int(rows[j])} (sweep point {p0 + q})"))
            cms.append(cache[j])
    bt = stack(cms)  # point (q, g) at q * ng + g
    S = bt.S
    big = MonthDraws.empty(Pq * m, S, bt.noise_on)  # rows (q, trial), trial < m
    flat = MonthDraws.empty((1 if crn else Pq) * n, S, bt.noise_on)
    if crn:
        gens = [block_generators(root, b) for b in range(b0, b0 + nb)]
    else:
        gens = [block_generators(point_root(root, p0 + q), b)
                for q in range(Pq) for b in range(b0, b0 + nb)]

    def draw(_: MonthDraws) -> None:
        draw_month(gens, flat)
        for name in _DRAWS:
            src_, dst = getattr(flat, name), getattr(big, name)
            if dst is None:
                continue
            tail = src_.shape[1:]
            if crn:  # the same rows for every point
                dst.reshape(Pq, m, *tail)[:] = src_[:m]
            else:
                dst.reshape(Pq, m, *tail)[:] = src_.reshape(Pq, n, *tail)[:, :m]

    def view(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a.reshape(Pq * ng, G, *a.shape[1:])

    draws = MonthDraws(*(view(getattr(big, k)) for k in _DRAWS))
    out = get_kernel(kernel)(bt, draw, draws, G, G, collect_months=False)
    out = {k: v.reshape(Pq, m, *v.shape[2:]) for k, v in out.items()}
    return chunk_aggregates(out, p0, b0, m)


def group_means(got: np.ndarray) -> np.ndarray:
    """A point's per-trial indicators ``(trials, S + 1)`` as group means
    ``(groups, S + 1)``."""
    return got.reshape(-1, GROUP_SIZE, got.shape[-1]).mean(axis=1)


def apply_grouped(exp: Any, means: np.ndarray, cols: dict[str, Any],
                  reference: dict[str, Any], plan: SweepPosterior) -> dict[str, Any]:
    """Replace the Wilson intervals and per-trial paired differences of ``cols`` (the
    points table) and ``reference`` by their grouped forms, and add the standard error and
    the parameter / Monte Carlo split. ``means``: ``(points + 1, groups, S + 1)``, the
    reference last. Returns the summary's ``posterior`` entry."""
    ref, ids = exp.n_points, exp.base.state_ids
    S = len(ids)
    gm = grouped_means(means.transpose(1, 0, 2), GROUP_SIZE)  # (points + 1, S + 1) each
    d, lo, hi, ulo, uhi = grouped_difference_means(means[ref][:, None, :],
                                                   means[:ref].transpose(1, 0, 2))
    if not exp.spec.crn:
        lo, hi = ulo, uhi
    # (column prefix, the probability's name, the difference's name, index)
    names = [("any_base", "p", "p_diff", S)] + [(s, "p_base", "p_base_diff", i)
                                                 for i, s in enumerate(ids)]
    for pre, _, diff, j in names:  # the existing columns keep their places
        cols[f"{pre}.ci_low"] = gm["ci_low"][:ref, j]
        cols[f"{pre}.ci_high"] = gm["ci_high"][:ref, j]
        cols[f"{pre}.{diff}"] = d[:, j]
        cols[f"{pre}.{diff}_ci_low"], cols[f"{pre}.{diff}_ci_high"] = lo[:, j], hi[:, j]
    for pre, prob, _, j in names:  # new columns, at the end
        for part in ("se", "param_sd", "mc_sd"):
            cols[f"{pre}.{prob}_{part}"] = gm[part][:ref, j]
    a = reference["any_base"]
    a.update({"ci_low": float(gm["ci_low"][ref, S]), "ci_high": float(gm["ci_high"][ref, S]),
              "p_se": float(gm["se"][ref, S]), "p_param_sd": float(gm["param_sd"][ref, S]),
              "p_mc_sd": float(gm["mc_sd"][ref, S])})
    for i, s in enumerate(ids):
        reference["states"][s].update({
            "ci_low": float(gm["ci_low"][ref, i]), "ci_high": float(gm["ci_high"][ref, i]),
            "p_base_se": float(gm["se"][ref, i]),
            "p_base_param_sd": float(gm["param_sd"][ref, i]),
            "p_base_mc_sd": float(gm["mc_sd"][ref, i])})
    return plan.record(exp.base)
