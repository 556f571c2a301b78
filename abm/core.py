"""The vectorised Monte Carlo core: many trials at once over a ``(trials, states)`` array.

:func:`compile_scenario` turns a validated :class:`~abm.config.Scenario` into plain arrays
(drivers per month, attributes per month after shocks). :func:`run_blocks` simulates a
contiguous range of random-number blocks (see :mod:`abm.rng`) and returns per-trial
outcomes plus per-month accumulators that merge exactly (integer histograms and
fixed-point sums), so quantile bands and means do not depend on how trials were split.
Memory grows with trials x states, never with months.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import dynamics as dyn
from .config import Scenario
from .rng import BLOCK_SIZE, MonthDraws, block_generators, draw_month

__all__ = ["Compiled", "compile_scenario", "ChunkResult", "run_blocks", "Batch", "stack",
           "kernel", "crn_drawer", "chunk_task", "hist_counts", "fixed_sum", "HIST_BINS",
           "FIXED_POINT"]

#: Histogram bins on (0, 1) for the per-month quantile bands, plus one bin each for the
#: point masses at exactly 0 and exactly 1 (clipping puts mass there). Resolution 0.001.
HIST_BINS = 1000
#: Per-month means are sums of ``round(x * FIXED_POINT)`` as int64: exact and order-free.
FIXED_POINT = 2.0**32


@dataclass(frozen=True)
class Compiled:
    """A scenario as arrays. ``T`` months, ``S`` states.

    Attributes with a month axis have shape ``(T, S)`` (after shocks) or ``(T,)``.
    """

    ids: tuple[str, ...]
    T: int
    S: int
    W: np.ndarray                # (S, S) row-stochastic influence matrix
    csto: np.ndarray             # (S,) bool
    consent_rule: bool
    exposure: np.ndarray         # (S,) border km / 1000 * spillover_exposure
    w_init: np.ndarray           # (S,)
    p_init: np.ndarray           # (S,)
    h_init: np.ndarray           # (S,) bool
    # drivers, (T,)
    R: np.ndarray
    C_R: np.ndarray
    I_R: np.ndarray
    drill_rate: np.ndarray
    D: np.ndarray
    I_US: np.ndarray
    C_US: np.ndarray
    spill: np.ndarray            # rate * instability, incidents per month per 1000 km
    # attributes per month after shocks, (T, S)
    w0: np.ndarray
    p0: np.ndarray
    dep: np.ndarray
    legal_bar: np.ndarray
    resp: np.ndarray
    stub: np.ndarray
    # current-value jumps from shocks: month -> [(state index, 'w'|'p', op, value)]
    jumps: dict[int, list[tuple[int, str, str, float]]] = field(default_factory=dict)
    # scalars
    par: dict[str, float] = field(default_factory=dict)

    @property
    def noise_on(self) -> bool:
        return self.par["opinion_noise"] > 0 or self.par["willingness_noise"] > 0


_ATTR = {
    "willingness": "w0",
    "public_support": "p0",
    "russia_dependence": "dep",
    "legal_bar": "legal_bar",
    "responsiveness": "resp",
    "stubbornness": "stub",
}


def compile_scenario(sc: Scenario, horizon: int | None = None) -> Compiled:
    """Arrays for the core. ``horizon`` overrides ``sc.horizon_months`` if given."""
    T = sc.horizon_months if horizon is None else int(horizon)
    S = len(sc.states)
    st = sc.states
    idx = {s.id: i for i, s in enumerate(st)}

    def per_state(attr: str) -> np.ndarray:
        return np.array([getattr(s, attr) for s in st], dtype=np.float64)

    base = {
        "w0": per_state("willingness"),
        "p0": per_state("public_support"),
        "dep": per_state("russia_dependence"),
        "legal_bar": per_state("legal_bar"),
        "resp": per_state("responsiveness"),
        "stub": per_state("stubbornness"),
    }
    monthly = {k: np.tile(v, (T, 1)) for k, v in base.items()}
    jumps: dict[int, list[tuple[int, str, str, float]]] = {}
    for sh in sorted(sc.shocks, key=lambda x: x.month):  # stable: file order within a month
        if sh.month >= T:
            continue
        i, name = idx[sh.state], _ATTR[sh.variable]
        arr = monthly[name]
        if sh.add is not None:
            arr[sh.month:, i] = np.clip(arr[sh.month:, i] + sh.add, 0.0, 1.0)
            op, val = "add", sh.add
        else:
            arr[sh.month:, i] = sh.set
            op, val = "set", sh.set
        if name in ("w0", "p0"):
            jumps.setdefault(sh.month, []).append((i, name[0], op, float(val)))

    d, r = sc.dynamics, sc.russia
    par = {f: float(getattr(d, f)) for f in d.__dataclass_fields__}
    par.update(
        reactive_gain=r.reactive_gain, alarm_level=r.alarm_level, veto_strength=r.veto_strength,
        drill_pulse=r.drill_pulse, drill_decay=r.drill_decay, hosting_penalty=r.hosting_penalty,
        spill_shock=sc.spillover.shock, spill_decay=sc.spillover.decay,
    )
    return Compiled(
        ids=sc.state_ids, T=T, S=S, W=sc.influence_matrix(),
        csto=np.array([s.csto for s in st], dtype=bool),
        consent_rule=sc.csto.consent_rule,
        exposure=per_state("afghan_border_km") / 1000.0 * per_state("spillover_exposure"),
        w_init=base["w0"].copy(), p_init=base["p0"].copy(),
        h_init=np.array([s.hosting for s in st], dtype=bool),
        R=r.pressure.values(T), C_R=r.campaign.values(T), I_R=r.inducements.values(T),
        drill_rate=r.drill_rate.values(T),
        D=sc.us.demand.values(T), I_US=sc.us.incentives.values(T), C_US=sc.us.campaign.values(T),
        spill=sc.spillover.rate.values(T) * sc.spillover.instability.values(T),
        jumps=jumps, par=par, **monthly,
    )


@dataclass
class ChunkResult:
    """Outcomes of trials ``start .. start + n - 1`` and their per-month accumulators.

    Per-trial arrays have shape ``(n, S)``; ``first_base_month`` is -1 where no base.
    Accumulators have shape ``(T + 1, S, ...)`` for months ``0 .. T`` (values at the
    start of each month; month ``T`` is the end of the run).
    """

    start: int
    first_base_month: np.ndarray
    months_hosted: np.ndarray
    closed: np.ndarray
    vetoes: np.ndarray
    incidents: np.ndarray
    final_w: np.ndarray
    final_p: np.ndarray
    final_s: np.ndarray
    final_h: np.ndarray
    hist_w: np.ndarray      # (T+1, S, HIST_BINS + 2) int64
    hist_p: np.ndarray
    sum_w: np.ndarray       # (T+1, S) int64, fixed point
    sum_p: np.ndarray
    hosting: np.ndarray     # (T+1, S) int64, trials hosting

    @property
    def n(self) -> int:
        return self.first_base_month.shape[0]


def hist_counts(x: np.ndarray, S: int) -> np.ndarray:
    """Counts per state over ``HIST_BINS + 2`` bins: exactly 0, ``HIST_BINS`` bins, exactly 1."""
    # x in [0, 1]: truncation is floor; +1 for x > 0 leaves exactly 0 in bin 0, and
    # x = 1 lands in bin HIST_BINS + 1 by itself
    b = (x * HIST_BINS).astype(np.int64)
    b += x > 0.0
    b += np.arange(S) * (HIST_BINS + 2)
    return np.bincount(b.ravel(), minlength=S * (HIST_BINS + 2)).reshape(S, HIST_BINS + 2)


def fixed_sum(x: np.ndarray) -> np.ndarray:
    return np.rint(x * FIXED_POINT).astype(np.int64).sum(axis=0)


_DRIVERS = ("R", "C_R", "I_R", "drill_rate", "D", "I_US", "C_US", "spill")
_MONTHLY = ("w0", "p0", "dep", "legal_bar", "resp", "stub")


@dataclass(frozen=True)
class Batch:
    """``P`` compiled scenarios stacked on a leading point axis, shaped to broadcast.

    The scenarios share states (ids, order, CSTO membership) and horizon. State arrays in
    the kernel have shape ``(P, n, S)``; parameters here have shape ``(P, 1, 1)`` (scalars,
    drivers at month ``t``) or ``(P, 1, S)`` (per state), so they broadcast against them.
    Drivers and monthly attributes carry the month first: ``drivers[k][t]``,
    ``monthly[k][t]``.
    """

    P: int
    T: int
    S: int
    csto: np.ndarray                  # (S,) bool, shared
    consent_rule: np.ndarray          # (P, 1, 1) bool
    W: np.ndarray                     # (P, 1, S, S)
    exposure: np.ndarray              # (P, 1, S)
    w_init: np.ndarray                # (P, 1, S)
    p_init: np.ndarray
    h_init: np.ndarray                # (P, 1, S) bool
    drivers: dict[str, np.ndarray]    # name -> (T, P, 1, 1)
    monthly: dict[str, np.ndarray]    # name -> (T, P, 1, S)
    par: dict[str, np.ndarray]        # name -> (P, 1, 1)
    jumps: tuple[dict[int, list[tuple[int, str, str, float]]], ...]
    noise_on: bool


def stack(cms: list[Compiled]) -> Batch:
    """Stack compiled scenarios (same states and horizon) into a :class:`Batch`."""
    first = cms[0]
    for cm in cms[1:]:
        if cm.ids != first.ids or cm.T != first.T or not np.array_equal(cm.csto, first.csto):
            raise ValueError("scenarios in a batch must share states, CSTO membership and "
                             "horizon")
    P = len(cms)

    def per_state(attr: str) -> np.ndarray:
        return np.stack([getattr(cm, attr) for cm in cms])[:, None, :]

    return Batch(
        P=P, T=first.T, S=first.S, csto=first.csto,
        consent_rule=np.array([cm.consent_rule for cm in cms], dtype=bool)[:, None, None],
        W=np.stack([cm.W for cm in cms])[:, None, :, :],
        exposure=per_state("exposure"), w_init=per_state("w_init"),
        p_init=per_state("p_init"), h_init=per_state("h_init"),
        drivers={k: np.stack([getattr(cm, k) for cm in cms], axis=1)[:, :, None, None]
                 for k in _DRIVERS},
        monthly={k: np.stack([getattr(cm, k) for cm in cms], axis=1)[:, :, None, :]
                 for k in _MONTHLY},
        par={k: np.array([cm.par[k] for cm in cms], dtype=np.float64)[:, None, None]
             for k in first.par},
        jumps=tuple(cm.jumps for cm in cms),
        noise_on=any(cm.noise_on for cm in cms),
    )


def kernel(bt: Batch, draw: Callable[[MonthDraws], None], draws: MonthDraws, n: int, m: int,
           collect_months: bool) -> dict[str, np.ndarray]:
    """The month loop over a ``(P, n, S)`` array of trials; the one place it is written.

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
    dict of per-trial outcome arrays ``(P, m, S)`` (``first_base_month`` -1 where none)
    and, if asked, the per-month accumulators.
    """
    P, T, S, par, dr, mo = bt.P, bt.T, bt.S, bt.par, bt.drivers, bt.monthly
    shape = (P, n, S)
    w = np.broadcast_to(bt.w_init, shape).copy()
    p = np.broadcast_to(bt.p_init, shape).copy()
    s = np.zeros(shape)
    h = np.broadcast_to(bt.h_init, shape).copy()
    pulse = np.zeros((P, n, 1))

    first = np.where(h, 0, -1).astype(np.int32)
    hosted = np.zeros(shape, dtype=np.int32)
    closed = np.zeros(shape, dtype=bool)
    vetoes = np.zeros(shape, dtype=np.int32)
    incidents = np.zeros(shape, dtype=np.int64)

    acc: dict[str, np.ndarray] = {}
    if collect_months:
        nb = HIST_BINS + 2
        acc = {"hist_w": np.zeros((P, T + 1, S, nb), dtype=np.int64),
               "hist_p": np.zeros((P, T + 1, S, nb), dtype=np.int64),
               "sum_w": np.zeros((P, T + 1, S), dtype=np.int64),
               "sum_p": np.zeros((P, T + 1, S), dtype=np.int64),
               "hosting": np.zeros((P, T + 1, S), dtype=np.int64)}

    def record(t: int) -> None:
        for q in range(P):
            acc["hist_w"][q, t] = hist_counts(w[q, :m], S)
            acc["hist_p"][q, t] = hist_counts(p[q, :m], S)
            acc["sum_w"][q, t] = fixed_sum(w[q, :m])
            acc["sum_p"][q, t] = fixed_sum(p[q, :m])
            acc["hosting"][q, t] = h[q, :m].sum(axis=0)

    use_consent = bool(bt.consent_rule.any()) and bool(bt.csto.any())
    mixed_rule = use_consent and not bool(bt.consent_rule.all())
    if collect_months:
        record(0)
    for t in range(T):
        for q, jumps in enumerate(bt.jumps):
            for i, var, op, val in jumps.get(t, ()):
                x = w if var == "w" else p
                x[q, :, i] = np.clip(x[q, :, i] + val, 0.0, 1.0) if op == "add" else val
        draw(draws)
        R = dr["R"][t]

        k = dyn.poisson_inverse(draws.u_threat, dr["spill"][t] * bt.exposure)
        n_drills = dyn.poisson_inverse(draws.u_drill[..., None], dr["drill_rate"][t])
        P_ = dyn.pressure(R, pulse, w, h, par["reactive_gain"], par["alarm_level"],
                          par["hosting_penalty"])
        p_new = dyn.opinion_update(
            p, mo["p0"][t], h, dr["C_US"][t], dr["C_R"][t], par["opinion_anchor"],
            par["us_campaign_effect"], par["russia_campaign_effect"], par["sovereignty_cost"],
            par["opinion_noise"], draws.z_p)
        w_new = dyn.willingness_update(
            w, mo["w0"][t], p, P_, s, h, dyn.neighbour_sum(w, bt.W),
            stubbornness=mo["stub"][t], responsiveness=mo["resp"][t], dependence=mo["dep"][t],
            D=dr["D"][t], I_us=dr["I_US"][t], I_r=dr["I_R"][t],
            pressure_effect=par["pressure_effect"], incentive_effect=par["incentive_effect"],
            security_us=par["security_us"], security_russia=par["security_russia"],
            retaliation=par["retaliation"], rent_effect=par["rent_effect"],
            noise=par["willingness_noise"], z=draws.z_w)
        consent_p = None
        if use_consent:
            def consent_p(agree: np.ndarray, w: np.ndarray = w, R: np.ndarray = R
                          ) -> np.ndarray:
                # Only trials with an agreement this month need consent, a few per month;
                # each value is computed exactly as it would be for the whole array.
                rows = agree.any(axis=-1)                   # (P, n)
                cp = np.ones(agree.shape)
                pidx = np.nonzero(rows)[0]

                def sel(a: np.ndarray) -> np.ndarray:      # (P, 1, k) -> (rows, k)
                    return a[pidx, 0]

                got = dyn.consent_probability(
                    w[rows], bt.csto, sel(par["consent_threshold"]),
                    sel(par["decision_width"]), sel(par["veto_strength"]), sel(R))
                if mixed_rule:
                    got = np.where(sel(bt.consent_rule), got, 1.0)
                cp[rows] = got
                return cp
        h_new, opened, vetoed, closed_now = dyn.decide(
            h, w, par["threshold"] + mo["legal_bar"][t], dr["D"][t], par["decision_width"],
            par["close_threshold"], consent_p, draws.u_decide, draws.u_consent)

        s = dyn.threat_update(s, k, par["spill_decay"], par["spill_shock"])
        pulse = dyn.drill_update(pulse, n_drills, par["drill_decay"], par["drill_pulse"])
        first[opened & (first < 0)] = t + 1
        vetoes += vetoed
        closed |= closed_now
        incidents += k
        w, p, h = w_new, p_new, h_new
        hosted += h
        if collect_months:
            record(t + 1)

    out = {"first_base_month": first[:, :m], "months_hosted": hosted[:, :m],
           "closed": closed[:, :m], "vetoes": vetoes[:, :m], "incidents": incidents[:, :m],
           "final_w": w[:, :m], "final_p": p[:, :m], "final_s": s[:, :m],
           "final_h": h[:, :m]}
    out.update(acc)
    return out


def crn_drawer(root: np.random.SeedSequence, first_block: int, n_blocks: int
               ) -> Callable[[MonthDraws], None]:
    """Month-by-month draws of blocks ``first_block ..``, shared by every point."""
    gens = [block_generators(root, b) for b in range(first_block, first_block + n_blocks)]
    return lambda out: draw_month(gens, out)


def run_blocks(cm: Compiled, root: np.random.SeedSequence, first_block: int, n_blocks: int,
               n_trials: int) -> ChunkResult:
    """Simulate blocks ``first_block .. first_block + n_blocks - 1`` of a run.

    Parameters
    ----------
    cm : Compiled
        The scenario as arrays.
    root : SeedSequence
        The run's root seed sequence (see :mod:`abm.rng`).
    first_block, n_blocks : int
        Which blocks. Every block is simulated in full (``BLOCK_SIZE`` rows).
    n_trials : int
        Total trials in the run; rows at or beyond it are discarded.

    Returns
    -------
    ChunkResult for the trials of these blocks that are ``< n_trials``.
    """
    n = n_blocks * BLOCK_SIZE
    start = first_block * BLOCK_SIZE
    m = max(0, min(n, n_trials - start))
    draws = MonthDraws.empty(n, cm.S, cm.noise_on)
    out = kernel(stack([cm]), crn_drawer(root, first_block, n_blocks), draws, n, m,
                 collect_months=True)
    return ChunkResult(start=start, **{k: v[0] for k, v in out.items()})


def chunk_task(engine: str, cm: Compiled, entropy: Any, spawn_key: tuple[int, ...],
               first_block: int, n_blocks: int, n_trials: int) -> ChunkResult:
    """A unit of work for a worker process.

    It lives here, not in :mod:`abm.runner`, because a spawned worker imports the module
    of the function it runs: this one needs only numpy and scipy.special, not pandas.
    """
    root = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    if engine == "mesa":
        from .mesa_engine import run_blocks_mesa

        return run_blocks_mesa(cm, root, first_block, n_blocks, n_trials)
    return run_blocks(cm, root, first_block, n_blocks, n_trials)
