"""The month loop of :func:`abm.model.numpy_engine.kernel`, fused and compiled with numba.

:func:`kernel_compiled` has the signature, inputs and output of the numpy kernel and
reproduces it: the same integer outcomes and accumulators, and floats that are bit for bit
the numpy kernel's (checked by ``tests/test_compiled.py``). The numpy kernel, which runs
:func:`abm.model.step.month_step`, stays the reference implementation (as msprime keeps a
plain implementation beside its fast core); :mod:`abm.model.kernels` chooses between them.
This module writes the same month again, fused into one loop over trials and states: a
change to the equations is made in :mod:`abm.model.dynamics` and here, and
``tests/test_compiled.py`` fails until both agree.

How the results stay identical
------------------------------
* Every expression of :mod:`abm.model.dynamics` is written out per element with the same
  floating-point operations in the same order (``a * b * c`` is ``(a * b) * c``, ``a + b
  - c`` is ``(a + b) - c``, booleans enter as ``1.0``/``0.0``), compiled without
  ``fastmath`` (no reassociation, no contraction into fused multiply-adds).
* Transcendentals: numpy's vectorised ``exp`` and ``expm1`` differ from the C library's in
  the last bit for some arguments on CPUs where numpy uses its own SIMD code (AVX-512),
  so those two are still evaluated by numpy: ``exp(-lam)`` of the Poisson means once per
  call (they do not depend on the trial), and ``expm1(-s)`` of the threat stock once per
  month over the whole array. ``scipy.special.expit`` is ``1 / (1 + exp(-x))`` with the C
  library's ``exp``, which is what numba calls too.
* ``clip`` is numpy's: ``min(max(x, 0), 1)`` with ``max(a, b) = a > b ? a : b``, NaN
  propagated.
* Draws are made by the ``draw`` callable exactly as for the numpy kernel.

The per-trial step
------------------
:func:`_month_rows` loops over points and rows; the body of that loop is the month of one
trial. :func:`month_step_row` runs the same compiled function on a single trial's row
(``P = n = 1``), for the Mesa engine, so both run the same machine code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

# Intel's SVML (used by numba when icc_rt is installed) has its own exp, which need not
# give libm's last bit: keep it off so results never depend on what else is installed.
os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")
from numba import njit  # noqa: E402

from .accumulators import HIST_BINS
from .compile import Batch
from .dynamics import COOLING, FREE, NOTICE, OPEN, TALKS
from .rng import MonthDraws
from .step import TrialState, final_record, initial_phase, new_record

__all__ = ["KERNEL_VERSION", "kernel_compiled", "Prepared", "prepare", "month_step_row",
           "record_months"]

#: Changes whenever the compiled kernel's code changes in a way that could change a result.
KERNEL_VERSION = "numba-1"

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

# parameter columns of Prepared.par, (P, len(PAR_KEYS))
PAR_KEYS = ("reactive_gain", "alarm_level", "hosting_penalty", "opinion_anchor",
            "us_campaign_effect", "russia_campaign_effect", "sovereignty_cost",
            "opinion_noise", "pressure_effect", "incentive_effect", "security_us",
            "security_russia", "retaliation", "rent_effect", "willingness_noise",
            "consent_threshold", "decision_width", "veto_strength", "close_threshold",
            "spill_decay", "spill_shock", "drill_decay", "drill_pulse",
            "negotiation_months", "notice_months", "cooling_months")
(_RG, _AL, _HP, _ANCH, _USE, _RCE, _SOV, _ON, _PE, _IE, _SUS, _SRU, _RET, _RE, _WN, _CT,
 _WID, _VS, _CLOSE, _SDEC, _SSH, _DDEC, _DPUL, _NEG, _NOT, _COOL) = range(len(PAR_KEYS))
# drivers per month and point, Prepared.drv (T, P, 9)
_R, _CR, _IR, _D, _IUS, _CUS, _DLAM, _DEXP, _DCAP = range(9)
# per month, point and state, Prepared.mon (T, P, 9, S)
_W0, _P0, _DEP, _THETA, _RESP, _STUB, _TLAM, _TEXP, _TCAP = range(9)


@dataclass(frozen=True)
class Prepared:
    """A :class:`~abm.model.compile.Batch` as contiguous arrays for the compiled loop.

    ``drv`` (T, P, 9): R, C_R, I_R, D, I_US, C_US, drill mean, ``exp(-mean)``, Poisson cap;
    ``mon`` (T, P, 9, S): w0, p0, dependence, theta (threshold + legal bar),
    responsiveness, stubbornness, incident mean, ``exp(-mean)``, Poisson cap; ``par``
    (P, K) in the order of :data:`PAR_KEYS`; ``rule`` (P,) consent rule; ``W`` (P, S, S);
    ``members`` CSTO indices; jumps flattened, month ``t``'s being rows
    ``jptr[t]:jptr[t+1]`` of ``jq`` (point), ``ji`` (state), ``jvar`` (0 w, 1 p), ``jop``
    (0 add, 1 set), ``jval``.
    """

    P: int
    T: int
    S: int
    drv: np.ndarray
    mon: np.ndarray
    par: np.ndarray
    rule: np.ndarray
    use_consent: bool
    W: np.ndarray
    members: np.ndarray
    w_init: np.ndarray
    p_init: np.ndarray
    h_init: np.ndarray
    jptr: np.ndarray
    jq: np.ndarray
    ji: np.ndarray
    jvar: np.ndarray
    jop: np.ndarray
    jval: np.ndarray

    def point(self, q: int) -> Prepared:
        """Point ``q`` alone, as a one-point ``Prepared``."""
        if self.P == 1 and q == 0:
            return self
        mine = self.jq == q
        jptr = np.zeros(self.T + 1, dtype=np.int64)
        jptr[1:] = np.cumsum([mine[self.jptr[t]:self.jptr[t + 1]].sum() for t in range(self.T)])
        return replace(
            self, P=1, drv=np.ascontiguousarray(self.drv[:, q:q + 1]),
            mon=np.ascontiguousarray(self.mon[:, q:q + 1]),
            par=np.ascontiguousarray(self.par[q:q + 1]),
            rule=np.ascontiguousarray(self.rule[q:q + 1]),
            use_consent=self.use_consent and bool(self.rule[q]),
            W=np.ascontiguousarray(self.W[q:q + 1]), w_init=self.w_init[q:q + 1].copy(),
            p_init=self.p_init[q:q + 1].copy(), h_init=self.h_init[q:q + 1].copy(),
            jptr=jptr, jq=np.zeros(int(mine.sum()), dtype=np.int64), ji=self.ji[mine],
            jvar=self.jvar[mine], jop=self.jop[mine], jval=self.jval[mine])


def _poisson_consts(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``exp(-lam)`` and the cap, computed by numpy exactly as ``poisson_inverse`` does."""
    return np.exp(-lam), lam + 12.0 * np.sqrt(lam) + 40.0


def prepare(bt: Batch) -> Prepared:
    """Convert a batch once per call: every per-month array, precomputed where it does not
    depend on the trial, in the operations the numpy kernel uses."""
    P, T, S, par, dr, mo = bt.P, bt.T, bt.S, bt.par, bt.drivers, bt.monthly
    drv = np.empty((T, P, 9))
    mon = np.empty((T, P, 9, S))
    for t in range(T):
        for c, k in ((_R, "R"), (_CR, "C_R"), (_IR, "I_R"), (_D, "D"), (_IUS, "I_US"),
                     (_CUS, "C_US")):
            drv[t, :, c] = np.broadcast_to(dr[k][t], (P, 1, 1))[:, 0, 0]
        lam = dr["drill_rate"][t]                              # (P, 1, 1) as in the kernel
        e, cap = _poisson_consts(np.asarray(lam, dtype=np.float64))
        drv[t, :, _DLAM] = np.broadcast_to(lam, (P, 1, 1))[:, 0, 0]
        drv[t, :, _DEXP] = np.broadcast_to(e, (P, 1, 1))[:, 0, 0]
        drv[t, :, _DCAP] = np.broadcast_to(cap, (P, 1, 1))[:, 0, 0]
        for c, k in ((_W0, "w0"), (_P0, "p0"), (_DEP, "dep"), (_RESP, "resp"),
                     (_STUB, "stub")):
            mon[t, :, c] = np.broadcast_to(mo[k][t], (P, 1, S))[:, 0]
        mon[t, :, _THETA] = np.broadcast_to(par["threshold"] + mo["legal_bar"][t],
                                            (P, 1, S))[:, 0]
        # as month_step: (rate * instability) * exposure, (P, 1, S)
        lam = np.asarray(dr["spill_rate"][t] * dr["instability"][t] * bt.exposure,
                         dtype=np.float64)
        e, cap = _poisson_consts(lam)
        mon[t, :, _TLAM] = np.broadcast_to(lam, (P, 1, S))[:, 0]
        mon[t, :, _TEXP] = np.broadcast_to(e, (P, 1, S))[:, 0]
        mon[t, :, _TCAP] = np.broadcast_to(cap, (P, 1, S))[:, 0]
    parr = np.empty((P, len(PAR_KEYS)))
    for c, k in enumerate(PAR_KEYS):
        parr[:, c] = np.broadcast_to(par[k], (P, 1, 1))[:, 0, 0]
    rule = np.ascontiguousarray(np.broadcast_to(bt.consent_rule, (P, 1, 1))[:, 0, 0],
                                dtype=np.bool_)
    use_consent = bool(bt.consent_rule.any()) and bool(bt.csto.any())
    jumps: list[list[tuple[int, int, int, int, float]]] = [[] for _ in range(T)]
    for q, jq in enumerate(bt.jumps):
        for t, lst in jq.items():
            if 0 <= t < T:
                for i, var, op, val in lst:
                    jumps[t].append((q, i, 0 if var == "w" else 1, 0 if op == "add" else 1,
                                     float(val)))
    flat = [j for lst in jumps for j in lst]
    jptr = np.zeros(T + 1, dtype=np.int64)
    jptr[1:] = np.cumsum([len(lst) for lst in jumps])

    def col(k: int, dt: type) -> np.ndarray:
        return np.array([j[k] for j in flat], dtype=dt)

    return Prepared(
        P=P, T=T, S=S, drv=drv, mon=mon, par=parr, rule=rule, use_consent=use_consent,
        W=np.ascontiguousarray(np.broadcast_to(bt.W, (P, 1, S, S))[:, 0], dtype=np.float64),
        members=np.flatnonzero(bt.csto).astype(np.int64),
        w_init=np.ascontiguousarray(np.broadcast_to(bt.w_init, (P, 1, S))[:, 0],
                                    dtype=np.float64),
        p_init=np.ascontiguousarray(np.broadcast_to(bt.p_init, (P, 1, S))[:, 0],
                                    dtype=np.float64),
        h_init=np.ascontiguousarray(np.broadcast_to(bt.h_init, (P, 1, S))[:, 0],
                                    dtype=np.bool_),
        jptr=jptr, jq=col(0, np.int64), ji=col(1, np.int64), jvar=col(2, np.int64),
        jop=col(3, np.int64), jval=col(4, np.float64))


# --------------------------------------------------------------------------- compiled


@njit(**_JIT)
def _clip01(x):
    # numpy's clip: min(max(x, 0), 1), max(a, b) = a > b ? a : b, NaN propagated
    if x != x:
        return x
    y = x if x > 0.0 else 0.0
    return y if y < 1.0 else 1.0


@njit(**_JIT)
def _expit(x):
    # scipy.special.expit for float64: 1 / (1 + exp(-x)), the C library's exp
    return 1.0 / (1.0 + np.exp(-x))


@njit(**_JIT)
def _poisson(u, lam, e, cap):
    """``dynamics.poisson_inverse`` for one element; ``e = exp(-lam)`` precomputed."""
    if not u > e:
        return 0
    term = e
    cdf = e
    j = 0
    k = 0
    while True:
        j += 1
        term = term * lam / j
        cdf = cdf + term
        k += 1
        if not (u > cdf and j < cap):
            return k

@njit(**_JIT)
def record_months(t, m, w, p, h, hist_w, hist_p, sum_w, sum_p, hosting):
    """Add rows ``0 .. m-1`` of every point to month ``t`` of the accumulators
    (``accumulators.hist_counts``, ``fixed_sum`` and the hosting count)."""
    P, n, S = w.shape
    for q in range(P):
        for r in range(m):
            for i in range(S):
                x = w[q, r, i]
                hist_w[q, t, i, np.int64(x * 1000.0) + (1 if x > 0.0 else 0)] += 1
                sum_w[q, t, i] += np.int64(np.rint(x * 4294967296.0))
                x = p[q, r, i]
                hist_p[q, t, i, np.int64(x * 1000.0) + (1 if x > 0.0 else 0)] += 1
                sum_p[q, t, i] += np.int64(np.rint(x * 4294967296.0))
                if h[q, r, i]:
                    hosting[q, t, i] += 1


@njit(**_JIT)
def _month_rows(t, w, p, s, h, pulse, phase, timer, negthr,
                first, hosted, closed, vetoes, incidents, openings, notices, withdrawn,
                first_closed,
                u_threat, u_drill, z_p, z_w, u_decide, u_consent, noise,
                drv, mon, par, rule, use_consent, W, members,
                jptr, jq, ji, jvar, jop, jval,
                m, collect, hist_w, hist_p, sum_w, sum_p, hosting):
    """Month ``t`` for every point ``q`` and row ``r`` of the ``(P, n, S)`` state arrays.

    The body of the loop over ``(q, r)`` is the month of ONE trial (parameters of point
    ``q``; draws of row ``r``, of point ``q`` or shared when the draws have one point);
    :func:`month_step_row` runs it with ``P = n = 1``. ``negthr`` holds ``expm1(-s)``
    (numpy's). Everything is updated in place; with ``collect``, rows ``r < m`` are added
    to month ``t + 1`` of the accumulators (as :func:`record_months`). The per-trial code
    is written inline, not as a called function: numba would count references to each
    array argument on every call, which costs more than the month itself.
    """
    P, n, S = w.shape
    crn = u_threat.shape[0] == 1
    nb = np.empty(S)
    dec = np.zeros(S, dtype=np.int64)     # 0 nothing, 1 agreement, 2 the phase's event
    cw = np.empty(S)
    j0, j1 = jptr[t], jptr[t + 1]
    for q in range(P):
        qd = 0 if crn else q
        R = drv[t, q, _R]
        D = drv[t, q, _D]
        width = par[q, _WID]
        close_thr = par[q, _CLOSE]
        need_rule = use_consent and rule[q]
        ct = par[q, _CT]
        dlam, dexp, dcap = drv[t, q, _DLAM], drv[t, q, _DEXP], drv[t, q, _DCAP]
        rg, al, hp = par[q, _RG], par[q, _AL], par[q, _HP]
        anch, use_cus = par[q, _ANCH], par[q, _USE] * drv[t, q, _CUS]
        rce_cr = par[q, _RCE] * drv[t, q, _CR]
        sov, on, wn = par[q, _SOV], par[q, _ON], par[q, _WN]
        pe, ie = par[q, _PE], par[q, _IE]
        sus, sru, ret = par[q, _SUS], par[q, _SRU], par[q, _RET]
        re_ius = par[q, _RE] * drv[t, q, _IUS]
        D_ius = D * drv[t, q, _IUS]
        Ir = drv[t, q, _IR]
        sdec, ssh = par[q, _SDEC], par[q, _SSH]
        ddec, dpul = par[q, _DDEC], par[q, _DPUL]
        russia = 1.0 - par[q, _VS] * R
        n_neg = np.int32(par[q, _NEG])
        n_not = np.int32(par[q, _NOT])
        n_cool = np.int32(par[q, _COOL])
        for r in range(n):
            # -- one trial, month t --------------------------------------------------
            # the shocks' jumps of month t, in file order
            for a in range(j0, j1):
                if jq[a] == q:
                    i = ji[a]
                    if jvar[a] == 0:
                        w[q, r, i] = _clip01(w[q, r, i] + jval[a]) if jop[a] == 0 else jval[a]
                    else:
                        p[q, r, i] = _clip01(p[q, r, i] + jval[a]) if jop[a] == 0 else jval[a]
            # neighbour sums and decisions, from this month's values
            any_agree = False
            for i in range(S):
                acc = w[q, r, 0] * W[q, i, 0]
                for j in range(1, S):
                    acc = acc + w[q, r, j] * W[q, i, j]
                nb[i] = acc
                u = u_decide[qd, r, i]
                d = 0
                ph = phase[q, r, i]
                if ph == OPEN or ph == TALKS:  # the closure curve: end, or talks break down
                    if u < _expit((close_thr - w[q, r, i]) / width):
                        d = 2
                elif ph == FREE:
                    if u < D:  # D * sig <= D: no agreement otherwise; skip the logistic
                        if u < D * _expit((w[q, r, i] - mon[t, q, _THETA, i]) / width):
                            d = 1
                            any_agree = True
                elif ph == NOTICE:  # the agreement curve, without D: withdraw the notice
                    if u < _expit((w[q, r, i] - mon[t, q, _THETA, i]) / width):
                        d = 2
                dec[i] = d
            need_consent = any_agree and need_rule
            if need_consent:
                for a in range(members.shape[0]):
                    j = members[a]
                    cw[j] = _expit((w[q, r, j] - ct) / width)
            n_drills = _poisson(u_drill[qd, r], dlam, dexp, dcap)
            pul = pulse[q, r]
            RpP = R + pul
            for i in range(S):
                wi = w[q, r, i]
                pi = p[q, r, i]
                si = s[q, r, i]
                hi = h[q, r, i]
                hf = 1.0 if hi else 0.0
                k = _poisson(u_threat[qd, r, i], mon[t, q, _TLAM, i], mon[t, q, _TEXP, i],
                             mon[t, q, _TCAP, i])
                # pressure
                x = wi - al
                x = x if x >= 0.0 else 0.0
                Pr = _clip01(RpP + rg * x + hp * hf)
                # public support
                dp = anch * (mon[t, q, _P0, i] - pi) + use_cus * (1.0 - pi) - rce_cr * pi
                dp = dp - sov * hf * pi
                if noise:
                    dp = dp + on * z_p[qd, r, i]
                p_new = _clip01(pi + dp)
                # willingness
                dep = mon[t, q, _DEP, i]
                threat = -negthr[q, r, i]
                F = mon[t, q, _RESP, i] * (pi - wi) - pe * dep * Pr
                F = F + ie * (D_ius * (1.0 - dep) - Ir * dep)
                F = F + threat * (sus * (1.0 - dep) - sru * dep - ret)
                F = F + re_ius * hf
                g = mon[t, q, _STUB, i]
                new = g * mon[t, q, _W0, i] + (1.0 - g) * nb[i] + F
                if noise:
                    new = new + wn * z_w[qd, r, i]
                w_new = _clip01(new)
                # decisions: consent = (1 - veto*R) * prod over the other members
                d = dec[i]
                ph = phase[q, r, i]
                tm = timer[q, r, i]
                opened = False
                vetoed = False
                ended = False
                if d == 1:
                    cp = 1.0
                    if need_consent:
                        for a in range(members.shape[0]):
                            if members[a] == i:
                                cp = russia
                                for b in range(members.shape[0]):
                                    j = members[b]
                                    if j != i:
                                        cp = cp * cw[j]
                                break
                    if u_consent[qd, r, i] < cp:
                        if n_neg == 0:
                            opened = True
                        else:
                            ph, tm = TALKS, n_neg
                    else:
                        vetoed = True
                elif ph == TALKS:
                    if d == 2:
                        ph, tm = FREE, 0
                    elif tm <= 1:
                        opened = True
                    else:
                        tm -= 1
                elif ph == OPEN:
                    if d == 2:
                        if n_not == 0:
                            ended = True
                        else:
                            ph, tm = NOTICE, n_not
                            notices[q, r, i] += 1
                elif ph == NOTICE:
                    if d == 2:
                        ph, tm = OPEN, 0
                        withdrawn[q, r, i] += 1
                    elif tm <= 1:
                        ended = True
                    else:
                        tm -= 1
                elif ph == COOLING:
                    if tm <= 1:
                        ph, tm = FREE, 0
                    else:
                        tm -= 1
                if opened:
                    ph, tm = OPEN, 0
                    openings[q, r, i] += 1
                elif ended:
                    if n_cool > 0:
                        ph, tm = COOLING, n_cool
                    else:
                        ph, tm = FREE, 0
                    if first_closed[q, r, i] < 0:
                        first_closed[q, r, i] = t + 1
                h_new = ph == OPEN or ph == NOTICE
                phase[q, r, i] = ph
                timer[q, r, i] = tm
                # bookkeeping
                s[q, r, i] = sdec * si + ssh * k
                if opened and first[q, r, i] < 0:
                    first[q, r, i] = t + 1
                if vetoed:
                    vetoes[q, r, i] += 1
                if ended:
                    closed[q, r, i] = True
                incidents[q, r, i] += k
                w[q, r, i] = w_new
                p[q, r, i] = p_new
                h[q, r, i] = h_new
                if h_new:
                    hosted[q, r, i] += 1
            pulse[q, r] = ddec * pul + dpul * n_drills
            if collect and r < m:  # as record_months, while the row is in cache
                for i in range(S):
                    x = w[q, r, i]
                    hist_w[q, t + 1, i, np.int64(x * 1000.0) + (1 if x > 0.0 else 0)] += 1
                    sum_w[q, t + 1, i] += np.int64(np.rint(x * 4294967296.0))
                    x = p[q, r, i]
                    hist_p[q, t + 1, i, np.int64(x * 1000.0) + (1 if x > 0.0 else 0)] += 1
                    sum_p[q, t + 1, i] += np.int64(np.rint(x * 4294967296.0))
                    if h[q, r, i]:
                        hosting[q, t + 1, i] += 1



# --------------------------------------------------------------------------- Python API


#: The outcome record's counters, in the order of _month_rows' arguments.
_COUNTERS = ("first_base_month", "months_hosted", "closed", "vetoes", "incidents", "openings",
             "notices", "notices_withdrawn", "first_base_closed_month")

_NO_ACC = (np.zeros((1, 1, 1, 1), dtype=np.int64), np.zeros((1, 1, 1, 1), dtype=np.int64),
           np.zeros((1, 1, 1), dtype=np.int64), np.zeros((1, 1, 1), dtype=np.int64),
           np.zeros((1, 1, 1), dtype=np.int64))


def _as3(a: np.ndarray | None, n: int, S: int) -> np.ndarray:
    """A draws array as ``(Pd, n, S)`` (``(n, S)`` shared by all points gives ``Pd = 1``)."""
    if a is None:
        return np.zeros((1, 1, 1))
    return np.ascontiguousarray(a.reshape(-1, n, S))


def kernel_compiled(bt: Batch, draw: Callable[[MonthDraws], None], draws: MonthDraws, n: int,
                    m: int, collect_months: bool) -> dict[str, np.ndarray]:
    """:func:`abm.model.numpy_engine.kernel`, compiled: same parameters, same returned
    dict, same values.

    ``draw(draws)`` is called once per month, as by the numpy kernel, and fills arrays of
    shape ``(n, S)`` shared by every point (common random numbers) or ``(P, n, S)``.
    """
    pr = prepare(bt)
    P, T, S = pr.P, pr.T, pr.S
    shape = (P, n, S)
    w = np.ascontiguousarray(np.broadcast_to(pr.w_init[:, None, :], shape))
    p = np.ascontiguousarray(np.broadcast_to(pr.p_init[:, None, :], shape))
    s = np.zeros(shape)
    h = np.ascontiguousarray(np.broadcast_to(pr.h_init[:, None, :], shape))
    pulse = np.zeros((P, n))
    negthr = np.zeros(shape)
    phase = initial_phase(h)
    timer = np.zeros(shape, dtype=np.int32)
    x = TrialState(w, p, s, h, pulse, phase, timer)
    rec = new_record(x)  # the outcome record's counters, as the reference allocates them
    counters = tuple(rec[k] for k in _COUNTERS)
    nb = HIST_BINS + 2
    if collect_months:
        acc = {"hist_w": np.zeros((P, T + 1, S, nb), dtype=np.int64),
               "hist_p": np.zeros((P, T + 1, S, nb), dtype=np.int64),
               "sum_w": np.zeros((P, T + 1, S), dtype=np.int64),
               "sum_p": np.zeros((P, T + 1, S), dtype=np.int64),
               "hosting": np.zeros((P, T + 1, S), dtype=np.int64)}
        record_months(0, m, w, p, h, *acc.values())
        accv = tuple(acc.values())
    else:
        acc = {}
        accv = _NO_ACC
    for t in range(T):
        draw(draws)
        noise = draws.z_p is not None
        ut = _as3(draws.u_threat, n, S)
        ud = np.ascontiguousarray(draws.u_drill.reshape(-1, n))
        zp = _as3(draws.z_p, n, S)
        zw = _as3(draws.z_w, n, S)
        ude = _as3(draws.u_decide, n, S)
        uco = _as3(draws.u_consent, n, S)
        # numpy's expm1, as dynamics.willingness_update evaluates it (see module docstring)
        np.negative(s, out=negthr)
        np.expm1(negthr, out=negthr)
        _month_rows(t, w, p, s, h, pulse, phase, timer, negthr, *counters, ut, ud, zp, zw,
                    ude, uco, noise, pr.drv, pr.mon, pr.par, pr.rule, pr.use_consent, pr.W,
                    pr.members, pr.jptr, pr.jq, pr.ji, pr.jvar, pr.jop, pr.jval, m,
                    collect_months, *accv)
    out = {k: v[:, :m] for k, v in final_record(rec, x).items()}
    out.update(acc)
    return out


def month_step_row(pr: Prepared, t: int, state: dict[str, np.ndarray],
                   draws: dict[str, np.ndarray | float | None], q: int = 0) -> None:
    """Month ``t`` of ONE trial, with the compiled kernel's own per-trial code.

    Parameters
    ----------
    pr : Prepared
        The scenario as arrays: ``prepare(stack([cm]))`` for a compiled scenario ``cm``
        (or a batch, with ``q`` the point).
    t : int
        The month, ``0 .. T-1``. Month ``t``'s shock jumps of ``w``/``p`` are applied
        first, as by the kernel.
    state : dict
        The trial, updated in place: ``w``, ``p``, ``s`` float64 ``(S,)``; ``h`` bool
        ``(S,)``; ``pulse`` float64 ``(1,)``; ``phase`` int8 and ``timer`` int32 ``(S,)``
        (the life-cycle); the counters of the outcome record (``first_base_month``
        int32, -1 where none, ``months_hosted``, ``closed``, ``vetoes``, ``incidents``,
        ``openings``, ``notices``, ``notices_withdrawn``, ``first_base_closed_month``), all
        ``(S,)`` in the record's dtypes. Start from ``w = w_init``, ``p = p_init``,
        ``s = 0``, ``h = h_init``, ``pulse = 0``, ``phase = initial_phase(h)``, ``timer =
        0`` and ``new_record``'s values.
    draws : dict
        This trial's row of month ``t`` of :mod:`abm.model.rng`'s draws (a Mesa tape row):
        ``u_threat``, ``u_decide``, ``u_consent`` ``(S,)``; ``u_drill`` a float;
        ``z_p``, ``z_w`` ``(S,)`` or ``None`` when noise is off.
    q : int
        Which point of the batch supplies the parameters.

    Running months ``0 .. T-1`` gives bit for bit the row of :func:`kernel_compiled` (and
    of the numpy kernel) with the same draws.
    """
    S = pr.S
    st = {}
    for k in ("w", "p", "s", "h", "phase", "timer", *_COUNTERS):
        v = state[k]
        if v.shape != (S,) or not v.flags.c_contiguous:
            raise ValueError(f"state[{k!r}] must be a contiguous array of shape ({S},)")
        st[k] = v.reshape(1, 1, S)  # a view: updated in place
    pulse = state["pulse"].reshape(1, 1)

    def row(a: np.ndarray | None) -> np.ndarray:
        if a is None:
            return np.zeros((1, 1, 1))
        return np.ascontiguousarray(a, dtype=np.float64).reshape(1, 1, S)

    one = pr.point(q)
    _month_rows(t, st["w"], st["p"], st["s"], st["h"], pulse, st["phase"], st["timer"],
                np.expm1(-st["s"]), *(st[k] for k in _COUNTERS), row(draws["u_threat"]),
                np.full((1, 1), float(np.asarray(draws["u_drill"]).reshape(-1)[0])),
                row(draws.get("z_p")), row(draws.get("z_w")), row(draws["u_decide"]),
                row(draws["u_consent"]), draws.get("z_p") is not None, one.drv, one.mon,
                one.par, one.rule, one.use_consent, one.W, one.members, one.jptr, one.jq,
                one.ji, one.jvar, one.jop, one.jval, 0, False, *_NO_ACC)
