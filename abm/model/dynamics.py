"""The monthly update of ``docs/model.md``, as pure array functions.

This module owns the equations. Every function takes arrays whose last axis is the state
axis (shape ``(..., S)``; the vectorised core passes ``(n_trials, S)``, a Mesa agent passes
its own row) plus parameters that broadcast against them, and returns new arrays: inputs
are never modified. No function draws random numbers; the draws are passed in (see
:mod:`abm.model.rng` for their layout). The same float operations in the same order give the
same bits, which is what lets the Mesa engine agree with the core trial by trial.

Notation: ``w`` willingness, ``p`` public support, ``s`` threat stock, ``h`` hosting
(bool), ``P`` pressure, all per state and month; ``t`` is the month index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from scipy.special import expit

__all__ = [
    "poisson_inverse",
    "threat_update",
    "drill_update",
    "pressure",
    "opinion_update",
    "neighbour_sum",
    "willingness_update",
    "consent_probability",
    "decide",
    "Decision",
    "FREE",
    "TALKS",
    "OPEN",
    "NOTICE",
    "COOLING",
    "PHASES",
    "fixed_point",
]


def poisson_inverse(u: np.ndarray, lam: np.ndarray | float) -> np.ndarray:
    """Poisson variates by inversion: the smallest ``k`` with ``F(k; lam) >= u``.

    Inversion couples draws across parameter values: for a fixed ``u`` the count never
    falls when ``lam`` rises, so common random numbers give monotone comparisons.

    Parameters
    ----------
    u : ndarray
        Uniforms in ``[0, 1)``.
    lam : ndarray or float
        Poisson means (>= 0, at most a few hundred); ``u`` and ``lam`` broadcast.

    Returns
    -------
    ndarray of int64 with the broadcast shape of ``u`` and ``lam``.

    Notes
    -----
    Each element is computed on its own with the recurrence ``term_j = term_{j-1} * lam / j``,
    ``F_j = F_{j-1} + term_j``, stopping at ``F_j >= u`` or at a cap far in the tail
    (``F`` saturates just below 1 in floating point); the cap depends on the element's own
    ``lam`` only, so a value does not depend on what else shares the array.
    """
    u = np.asarray(u, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    shape = np.broadcast_shapes(u.shape, lam.shape)
    k = np.zeros(shape, dtype=np.int64)
    kf = k.reshape(-1)
    uf = np.broadcast_to(u, shape).reshape(-1)
    lf = np.broadcast_to(lam, shape).reshape(-1)
    # exp on the (usually small) array of distinct means, then broadcast: same values
    term = np.broadcast_to(np.exp(-lam), shape).reshape(-1)
    idx = np.flatnonzero(uf > term)
    if idx.size == 0:
        return k
    lam_i, u_i = lf[idx], uf[idx]
    term = term[idx]
    cdf = term.copy()
    cap = lam_i + 12.0 * np.sqrt(lam_i) + 40.0
    j = 0
    while idx.size:
        j += 1
        term = term * lam_i / j
        cdf = cdf + term
        kf[idx] += 1
        keep = (u_i > cdf) & (j < cap)
        idx, lam_i, u_i, term, cdf, cap = (idx[keep], lam_i[keep], u_i[keep], term[keep],
                                           cdf[keep], cap[keep])
    return k


def threat_update(s: np.ndarray, incidents: np.ndarray, decay: float, shock: float) -> np.ndarray:
    """``s' = decay * s + shock * k`` (threat stock, >= 0)."""
    return decay * s + shock * incidents


def drill_update(pulse: np.ndarray, drills: np.ndarray, drill_decay: float,
                 drill_pulse: float) -> np.ndarray:
    """Region-wide drill pulse: ``pulse' = drill_decay * pulse + drill_pulse * n_drills``."""
    return drill_decay * pulse + drill_pulse * drills


def pressure(R: float, pulse: np.ndarray, w: np.ndarray, h: np.ndarray, reactive_gain: float,
             alarm_level: float, hosting_penalty: float) -> np.ndarray:
    """Pressure on each state, ``P = clip(R + pulse + gain*max(0, w - alarm) + pen*h, 0, 1)``.

    ``pulse`` has shape ``(..., 1)`` (one per trial) and broadcasts over states.
    """
    P = R + pulse + reactive_gain * np.maximum(w - alarm_level, 0.0) + hosting_penalty * h
    return np.clip(P, 0.0, 1.0)


def opinion_update(p: np.ndarray, p0: np.ndarray, h: np.ndarray, c_us: float, c_r: float,
                   anchor: float, us_effect: float, russia_effect: float,
                   sovereignty_cost: float, noise: float, z: np.ndarray | None) -> np.ndarray:
    """Public support, anchored (Friedkin & Johnsen 1990) with campaigns and a base's cost.

    ``p' = clip(p + anchor*(p0 - p) + us_effect*C_US*(1 - p) - russia_effect*C_R*p
    - sovereignty_cost*h*p + noise*z, 0, 1)``.
    """
    dp = anchor * (p0 - p) + us_effect * c_us * (1.0 - p) - russia_effect * c_r * p
    dp = dp - sovereignty_cost * h * p
    if z is not None:
        dp = dp + noise * z
    return np.clip(p + dp, 0.0, 1.0)


def neighbour_sum(w: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``sum_j W_ij w_j`` for each state ``i``, shape of ``w`` broadcast with ``W[..., 0]``.

    ``W`` has shape ``(S, S)``, or ``(..., S, S)`` with leading axes that broadcast against
    ``w``'s (one matrix per sweep point). Written as an explicit sum over ``j`` in index
    order rather than ``w @ W.T``: BLAS may sum in an order that depends on the array's
    size, and a trial's result must not depend on how many trials share the array.
    """
    S = W.shape[-1]
    out = w[..., 0:1] * W[..., :, 0]
    for j in range(1, S):
        out = out + w[..., j:j + 1] * W[..., :, j]
    return out


def willingness_update(
    w: np.ndarray, w0: np.ndarray, p: np.ndarray, P: np.ndarray, s: np.ndarray,
    h: np.ndarray, nb: np.ndarray, *, stubbornness: np.ndarray, responsiveness: np.ndarray,
    dependence: np.ndarray, D: float, I_us: float, I_r: float, pressure_effect: float,
    incentive_effect: float, security_us: float, security_russia: float, retaliation: float,
    rent_effect: float, noise: float, z: np.ndarray | None,
) -> np.ndarray:
    """Willingness: Friedkin-Johnsen core plus external forces.

    ``w' = clip(g*w0 + (1-g)*nb + F + noise*z, 0, 1)`` with ``nb = sum_j W_ij w_j`` and
    ``F = resp*(p - w) - pressure_effect*dep*P + incentive_effect*(D*I_US*(1-dep) - I_R*dep)
    + (1 - exp(-s))*(security_us*(1-dep) - security_russia*dep - retaliation)
    + rent_effect*I_US*h``.
    """
    dep = dependence
    threat = -np.expm1(-s)
    F = responsiveness * (p - w) - pressure_effect * dep * P
    F = F + incentive_effect * (D * I_us * (1.0 - dep) - I_r * dep)
    F = F + threat * (security_us * (1.0 - dep) - security_russia * dep - retaliation)
    F = F + rent_effect * I_us * h
    g = stubbornness
    new = g * w0 + (1.0 - g) * nb + F
    if z is not None:
        new = new + noise * z
    return np.clip(new, 0.0, 1.0)


def consent_probability(w: np.ndarray, csto: np.ndarray, consent_threshold: float,
                        width: float, veto_strength: float, R: float) -> np.ndarray:
    """Probability that a CSTO member's base gets every other member's consent.

    For member ``i``: ``(1 - veto_strength*R) * prod_{j member, j != i}
    sigma((w_j - consent_threshold)/width)``, the product taken in index order; for
    non-members 1. Russia is the ``(1 - veto_strength*R)`` factor. Shape of ``w``
    (parameters may carry leading axes that broadcast against it).
    """
    members = np.flatnonzero(csto)
    out = np.ones(w.shape, dtype=np.float64)
    if members.size == 0:
        return out
    with np.errstate(over="ignore"):
        c = expit((w - consent_threshold) / width)
    russia = np.broadcast_to(1.0 - veto_strength * R, (*w.shape[:-1], 1))
    for i in members:
        prob = russia
        for j in members:
            if j != i:
                prob = prob * c[..., j:j + 1]
        out[..., i:i + 1] = prob
    return out


#: Phases of a state's base life-cycle (``TrialState.phase``, int8): no base and free to
#: agree; in talks after an agreement; hosting; hosting under notice; cooling off after a
#: closure. ``h`` is true exactly in ``OPEN`` and ``NOTICE``.
FREE, TALKS, OPEN, NOTICE, COOLING = 0, 1, 2, 3, 4
PHASES = ("free", "talks", "open", "notice", "cooling")


class Decision(NamedTuple):
    """The outcome of one month's basing decisions: the next phase, timer and ``h``, and
    the month's events (bool arrays, shape of ``w``)."""

    phase: np.ndarray
    timer: np.ndarray
    h: np.ndarray
    opened: np.ndarray
    vetoed: np.ndarray
    closed: np.ndarray
    notice: np.ndarray
    withdrawn: np.ndarray


def decide(phase: np.ndarray, timer: np.ndarray, w: np.ndarray, theta: np.ndarray, D: float,
           width: float, close_threshold: float,
           consent_p: np.ndarray | Callable[[np.ndarray], np.ndarray] | None,
           u_decide: np.ndarray, u_consent: np.ndarray, negotiation_months: Any = 0.0,
           notice_months: Any = 0.0, cooling_months: Any = 0.0) -> Decision:
    """Basing decisions of one month: the life-cycle of ``docs/model.md``.

    A state is in one phase (:data:`PHASES`) and draws one uniform ``u_decide``, compared
    with one logistic: the agreement curve ``sig_a = sigma((w - theta)/width)`` in
    ``FREE`` and ``NOTICE``, the closure curve ``sig_c = sigma((close_threshold -
    w)/width)`` in ``TALKS`` and ``OPEN``; ``timer`` counts the months left in ``TALKS``,
    ``NOTICE`` and ``COOLING``. With ``N, M, C`` the negotiation, notice and cooling months:

    * ``FREE``: an agreement with probability ``D * sig_a``; it stands if consent is given
      (``u_consent < consent_p``), else it is a veto. It opens the base at once if
      ``N = 0`` (``OPEN``), else starts talks (``TALKS``, timer ``N``).
    * ``TALKS``: break down with probability ``sig_c`` (``FREE``, no cooling); otherwise
      the timer falls by one and the base opens when it reaches 0 (``OPEN``).
    * ``OPEN``: the host ends the base with probability ``sig_c``: it closes at once if
      ``M = 0``, else gives notice (``NOTICE``, timer ``M``, still hosting).
    * ``NOTICE``: the host withdraws the notice with probability ``sig_a`` (``OPEN``);
      otherwise the timer falls by one and the base closes when it reaches 0.
    * A closure leads to ``COOLING`` with timer ``C`` (``FREE`` if ``C = 0``); cooling
      counts down and ends (``FREE``) when the timer reaches 0. No draw is used.

    With ``N = M = C = 0`` only ``FREE`` and ``OPEN`` occur and this is the memoryless rule:
    agree with probability ``D * sig_a`` (plus consent), close with probability ``sig_c``.

    ``consent_p`` is an array of consent probabilities (shape of ``w``), ``None`` (no
    consent needed), or a function of the boolean ``agree`` mask returning them (only
    the entries where ``agree`` is true are used), so the vectorised core can skip the
    consent computation in the many months with no agreement anywhere. ``N, M, C`` are
    whole numbers (floats), scalars or arrays that broadcast against ``w``.
    """
    free, talks = phase == FREE, phase == TALKS
    open_, notice_ph, cooling = phase == OPEN, phase == NOTICE, phase == COOLING
    # one logistic per entry: the closure curve in talks and for hosts, the agreement curve
    # otherwise
    with np.errstate(over="ignore"):  # a tiny width sends x to +-inf; expit is exact there
        x = np.where(open_ | talks, close_threshold - w, w - theta) / width
    sig = expit(x)
    agree = free & (u_decide < D * sig)
    drawn = u_decide < sig  # a breakdown, a notice or closure, a withdrawal: by phase
    if consent_p is None or not agree.any():
        ok = agree
        vetoed = np.zeros_like(agree)
    else:
        cp = consent_p(agree) if callable(consent_p) else consent_p
        consent = u_consent < cp
        ok = agree & consent
        vetoed = agree & ~consent
    N = np.asarray(negotiation_months).astype(timer.dtype)
    M = np.asarray(notice_months).astype(timer.dtype)
    C = np.asarray(cooling_months).astype(timer.dtype)
    last = timer <= 1
    left = np.maximum(timer - 1, 0)  # the timer after one more month of its phase
    talks_on = talks & ~drawn
    notice_on = notice_ph & ~drawn
    opened = (ok & (N == 0)) | (talks_on & last)
    ends = open_ & drawn
    notice = ends & (M > 0)
    withdrawn = notice_ph & drawn
    closed = (ends & (M == 0)) | (notice_on & last)
    # the next phase and timer: the first matching row (phases are exclusive)
    rows = (
        (opened, OPEN, 0),
        (ok, TALKS, N),                               # an agreement with N > 0
        (talks, np.where(drawn, FREE, TALKS), np.where(drawn, 0, left)),
        (notice, NOTICE, M),
        (withdrawn, OPEN, 0),
        (closed, np.where(C > 0, COOLING, FREE), C),
        (notice_ph, NOTICE, left),
        (cooling, np.where(last, FREE, COOLING), left),
    )
    conds = [r[0] for r in rows]
    new_phase = np.select(conds, [r[1] for r in rows], phase).astype(phase.dtype)
    new_timer = np.select(conds, [r[2] for r in rows], timer).astype(timer.dtype)
    h_new = (new_phase == OPEN) | (new_phase == NOTICE)
    return Decision(new_phase, new_timer, h_new, opened, vetoed, closed, notice, withdrawn)


def fixed_point(W: np.ndarray, w0: np.ndarray, p0: np.ndarray, *, stubbornness, responsiveness,
                dependence, P, D, I_us, I_r, c_us, c_r, anchor, us_effect, russia_effect,
                pressure_effect, incentive_effect) -> tuple[np.ndarray, np.ndarray]:
    """Long-run ``(p*, w*)`` of the noise-free, event-free, no-hosting linear system.

    With constant drivers, zero threat, no base and no clipping binding, the updates
    are affine: ``p* = (anchor*p0 + us_effect*C_US) / (anchor + us_effect*C_US +
    russia_effect*C_R)`` and ``w*`` solves ``(I - (I - G) W + diag(resp)) w = G w0 +
    resp*p* + c`` (Friedkin & Johnsen 1990), with ``c`` the constant part of ``F``.
    """
    S = W.shape[0]
    p_star = (anchor * p0 + us_effect * c_us) / (anchor + us_effect * c_us + russia_effect * c_r)
    G = np.diag(np.broadcast_to(stubbornness, (S,)))
    Rm = np.diag(np.broadcast_to(responsiveness, (S,)))
    dep = dependence
    c = -pressure_effect * dep * P + incentive_effect * (D * I_us * (1 - dep) - I_r * dep)
    A = np.eye(S) - (np.eye(S) - G) @ W + Rm
    w_star = np.linalg.solve(A, G @ w0 + Rm @ p_star + c)
    return p_star, w_star
