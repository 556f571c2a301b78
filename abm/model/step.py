"""One month of the model: the single month-step function every engine calls.

:func:`month_step` takes the state of a set of trials (:class:`TrialState`, arrays of
shape ``(P, n, S)``: points, trials, states), the inputs (a :class:`~abm.model.compile.Batch`
and the month ``t``) and the month's draws (:class:`~abm.model.rng.MonthDraws`, shape
``(n, S)`` shared by every point or ``(P, n, S)``), and returns the next state and the
month's events. The numpy engine calls it on thousands of trials at once; the Mesa engine
calls it on one trial (``P = n = 1``) with its agents' values. The equations themselves are
in :mod:`abm.model.dynamics`.

Order within month ``t`` (the contract both engines keep): shocks' jumps of ``w``/``p``;
incidents and drills (Poisson by inversion); pressure; opinion; willingness; CSTO consent
(only for trials with an agreement this month); decisions (the base life-cycle of
:func:`abm.model.dynamics.decide`: phase and timer); threat stock and drill pulse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import dynamics as dyn
from .compile import Batch
from .rng import MonthDraws

__all__ = ["TrialState", "Events", "initial_state", "initial_phase", "apply_jumps",
           "month_step", "new_record", "update_record", "final_record"]


@dataclass
class TrialState:
    """Willingness ``w``, support ``p``, threat ``s``, hosting ``h`` (``(P, n, S)``), the
    region-wide drill pulse (``(P, n, 1)``), and each state's life-cycle phase
    (:data:`abm.model.dynamics.PHASES`, int8) and months left in it (``timer``, int32),
    ``(P, n, S)``; ``h`` is true exactly in the phases ``OPEN`` and ``NOTICE``."""

    w: np.ndarray
    p: np.ndarray
    s: np.ndarray
    h: np.ndarray
    pulse: np.ndarray
    phase: np.ndarray
    timer: np.ndarray


@dataclass
class Events:
    """What happened in one month, ``(P, n, S)``: bases opened, vetoes, closures, incidents,
    notices given and notices withdrawn."""

    opened: np.ndarray
    vetoed: np.ndarray
    closed: np.ndarray
    incidents: np.ndarray
    notice: np.ndarray
    withdrawn: np.ndarray


def initial_state(bt: Batch, n: int) -> TrialState:
    """Every trial at month 0: the scenario's starting values."""
    shape = (bt.P, n, bt.S)
    h = np.broadcast_to(bt.h_init, shape).copy()
    return TrialState(
        w=np.broadcast_to(bt.w_init, shape).copy(),
        p=np.broadcast_to(bt.p_init, shape).copy(),
        s=np.zeros(shape),
        h=h,
        pulse=np.zeros((bt.P, n, 1)),
        phase=initial_phase(h),
        timer=np.zeros(shape, dtype=np.int32),
    )


def initial_phase(h: np.ndarray) -> np.ndarray:
    """The life-cycle phase at month 0: ``OPEN`` for a host, ``FREE`` otherwise (int8)."""
    return np.where(h, dyn.OPEN, dyn.FREE).astype(np.int8)


def apply_jumps(x: TrialState, bt: Batch, t: int) -> None:
    """Shocks that move the current ``w`` or ``p`` at the start of month ``t`` (in place)."""
    for q, jumps in enumerate(bt.jumps):
        for i, var, op, val in jumps.get(t, ()):
            a = x.w if var == "w" else x.p
            a[q, :, i] = np.clip(a[q, :, i] + val, 0.0, 1.0) if op == "add" else val


def _consent(bt: Batch, w: np.ndarray, R: np.ndarray, mixed_rule: bool):
    """The consent probabilities as a function of the month's agreements.

    Only trials with an agreement this month need consent, a few per month; each value is
    computed exactly as it would be for the whole array.
    """
    par = bt.par

    def consent_p(agree: np.ndarray) -> np.ndarray:
        rows = agree.any(axis=-1)                   # (P, n)
        cp = np.ones(agree.shape)
        pidx = np.nonzero(rows)[0]

        def sel(a: np.ndarray) -> np.ndarray:      # (P, 1, k) -> (rows, k)
            return a[pidx, 0]

        got = dyn.consent_probability(
            w[rows], bt.csto, sel(par["consent_threshold"]), sel(par["decision_width"]),
            sel(par["veto_strength"]), sel(R))
        if mixed_rule:
            got = np.where(sel(bt.consent_rule), got, 1.0)
        cp[rows] = got
        return cp

    return consent_p


def month_step(x: TrialState, bt: Batch, t: int, d: MonthDraws) -> tuple[TrialState, Events]:
    """Month ``t``: the state at the start of month ``t + 1`` and the month's events.

    ``x`` is not modified, except by the shocks' jumps of month ``t`` (applied first, in
    place, as the month's starting values).
    """
    par, dr, mo = bt.par, bt.drivers, bt.monthly
    apply_jumps(x, bt, t)
    w, p, s, h = x.w, x.p, x.s, x.h
    R = dr["R"][t]
    spill = dr["spill_rate"][t] * dr["instability"][t]
    k = dyn.poisson_inverse(d.u_threat, spill * bt.exposure)
    n_drills = dyn.poisson_inverse(d.u_drill[..., None], dr["drill_rate"][t])
    P_ = dyn.pressure(R, x.pulse, w, h, par["reactive_gain"], par["alarm_level"],
                      par["hosting_penalty"])
    p_new = dyn.opinion_update(
        p, mo["p0"][t], h, dr["C_US"][t], dr["C_R"][t], par["opinion_anchor"],
        par["us_campaign_effect"], par["russia_campaign_effect"], par["sovereignty_cost"],
        par["opinion_noise"], d.z_p)
    w_new = dyn.willingness_update(
        w, mo["w0"][t], p, P_, s, h, dyn.neighbour_sum(w, bt.W),
        stubbornness=mo["stub"][t], responsiveness=mo["resp"][t], dependence=mo["dep"][t],
        D=dr["D"][t], I_us=dr["I_US"][t], I_r=dr["I_R"][t],
        pressure_effect=par["pressure_effect"], incentive_effect=par["incentive_effect"],
        security_us=par["security_us"], security_russia=par["security_russia"],
        retaliation=par["retaliation"], rent_effect=par["rent_effect"],
        noise=par["willingness_noise"], z=d.z_w)
    use_consent = bool(bt.consent_rule.any()) and bool(bt.csto.any())
    consent_p = None
    if use_consent:
        consent_p = _consent(bt, w, R, mixed_rule=not bool(bt.consent_rule.all()))
    dc = dyn.decide(
        x.phase, x.timer, w, par["threshold"] + mo["legal_bar"][t], dr["D"][t],
        par["decision_width"], par["close_threshold"], consent_p, d.u_decide, d.u_consent,
        par["negotiation_months"], par["notice_months"], par["cooling_months"])
    s_new = dyn.threat_update(s, k, par["spill_decay"], par["spill_shock"])
    pulse = dyn.drill_update(x.pulse, n_drills, par["drill_decay"], par["drill_pulse"])
    return (TrialState(w_new, p_new, s_new, dc.h, pulse, dc.phase, dc.timer),
            Events(dc.opened, dc.vetoed, dc.closed, k, dc.notice, dc.withdrawn))


def new_record(x: TrialState) -> dict[str, np.ndarray]:
    """The outcome record (:data:`abm.model.outcomes.OUTCOMES`) of trials at month 0."""
    shape = x.w.shape
    return {
        "first_base_month": np.where(x.h, 0, -1).astype(np.int32),
        "months_hosted": np.zeros(shape, dtype=np.int32),
        "closed": np.zeros(shape, dtype=bool),
        "vetoes": np.zeros(shape, dtype=np.int32),
        "incidents": np.zeros(shape, dtype=np.int64),
        "openings": np.zeros(shape, dtype=np.int32),
        "notices": np.zeros(shape, dtype=np.int32),
        "notices_withdrawn": np.zeros(shape, dtype=np.int32),
        "first_base_closed_month": np.full(shape, -1, dtype=np.int32),
    }


def update_record(rec: dict[str, np.ndarray], ev: Events, x_new: TrialState, t: int) -> None:
    """Count month ``t``'s events into the outcome record (in place)."""
    first = rec["first_base_month"]
    first[ev.opened & (first < 0)] = t + 1
    rec["vetoes"] += ev.vetoed
    rec["closed"] |= ev.closed
    rec["incidents"] += ev.incidents
    rec["months_hosted"] += x_new.h
    rec["openings"] += ev.opened
    rec["notices"] += ev.notice
    rec["notices_withdrawn"] += ev.withdrawn
    ended = rec["first_base_closed_month"]
    ended[ev.closed & (ended < 0)] = t + 1


def final_record(rec: dict[str, np.ndarray], x: TrialState) -> dict[str, np.ndarray]:
    """The whole outcome record at the horizon: the counters and the final state."""
    return {**rec, "final_w": x.w, "final_p": x.p, "final_s": x.s, "final_h": x.h}
