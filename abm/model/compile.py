"""A validated scenario as arrays: :class:`Compiled`, and points stacked as a :class:`Batch`.

The drivers are built from the schema: every schedule field with a ``symbol`` in its
metadata (:func:`abm.scenario.schema.drivers`) becomes a per-month array named by that
symbol, and every per-state attribute with a symbol (:func:`~abm.scenario.schema.state_symbols`)
a per-month, per-state array after shocks. Adding a driver to the schema adds it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from ..scenario.schema import Scenario, drivers, state_symbols

__all__ = ["Compiled", "compile_scenario", "Batch", "stack", "take"]


@dataclass(frozen=True)
class Compiled:
    """A scenario as arrays. ``T`` months, ``S`` states.

    ``drivers[symbol]`` has shape ``(T,)`` (value at each month); ``monthly[symbol]``
    shape ``(T, S)`` (attributes in force at each month, after shocks); ``jumps`` the
    current-value jumps of shocks on ``w0``/``p0``: ``{month: [(state, 'w'|'p', op, value)]}``;
    ``par`` the scalar parameters by name.
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
    drivers: dict[str, np.ndarray] = field(default_factory=dict)
    monthly: dict[str, np.ndarray] = field(default_factory=dict)
    jumps: dict[int, list[tuple[int, str, str, float]]] = field(default_factory=dict)
    par: dict[str, float] = field(default_factory=dict)

    @property
    def noise_on(self) -> bool:
        return self.par["opinion_noise"] > 0 or self.par["willingness_noise"] > 0


def _symbol_of(attr: str) -> str | None:
    return {a: s for s, a in state_symbols()}.get(attr)


def compile_scenario(sc: Scenario, horizon: int | None = None) -> Compiled:
    """Arrays for the engines. ``horizon`` overrides ``sc.horizon_months`` if given."""
    T = sc.horizon_months if horizon is None else int(horizon)
    st = sc.states
    idx = {s.id: i for i, s in enumerate(st)}

    def per_state(attr: str) -> np.ndarray:
        return np.array([getattr(s, attr) for s in st], dtype=np.float64)

    base = {sym: per_state(attr) for sym, attr in state_symbols()}
    monthly = {k: np.tile(v, (T, 1)) for k, v in base.items()}
    jumps: dict[int, list[tuple[int, str, str, float]]] = {}
    for sh in sorted(sc.shocks, key=lambda x: x.month):  # stable: file order within a month
        if sh.month >= T:
            continue
        i, name = idx[sh.state], _symbol_of(sh.variable)
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
    par = {f.name: float(getattr(d, f.name)) for f in fields(d)}
    par.update(
        reactive_gain=r.reactive_gain, alarm_level=r.alarm_level, veto_strength=r.veto_strength,
        drill_pulse=r.drill_pulse, drill_decay=r.drill_decay, hosting_penalty=r.hosting_penalty,
        spill_shock=sc.spillover.shock, spill_decay=sc.spillover.decay,
    )
    drv = {sym: getattr(getattr(sc, table), key).values(T) for sym, table, key in drivers()}
    return Compiled(
        ids=sc.state_ids, T=T, S=len(st), W=sc.influence_matrix(),
        csto=np.array([s.csto for s in st], dtype=bool),
        consent_rule=sc.csto.consent_rule,
        exposure=per_state("afghan_border_km") / 1000.0 * per_state("spillover_exposure"),
        w_init=base["w0"].copy(), p_init=base["p0"].copy(),
        h_init=np.array([s.hosting for s in st], dtype=bool),
        drivers=drv, monthly=monthly, jumps=jumps, par=par,
    )


def _points(axis: int) -> Any:
    """A Batch field with a point axis at ``axis`` (in each array of a dict field)."""
    return field(default=None, metadata={"point_axis": axis})


@dataclass(frozen=True)
class Batch:
    """``P`` compiled scenarios stacked on a leading point axis, shaped to broadcast.

    The scenarios share states (ids, order, CSTO membership) and horizon. State arrays in
    the engines have shape ``(P, n, S)``; parameters here have shape ``(P, 1, 1)`` (scalars,
    drivers at month ``t``) or ``(P, 1, S)`` (per state), so they broadcast against them.
    Drivers and monthly attributes carry the month first: ``drivers[k][t]``,
    ``monthly[k][t]``.
    """

    P: int
    T: int
    S: int
    csto: np.ndarray                  # (S,) bool, shared
    consent_rule: np.ndarray = _points(0)    # (P, 1, 1) bool
    W: np.ndarray = _points(0)               # (P, 1, S, S)
    exposure: np.ndarray = _points(0)        # (P, 1, S)
    w_init: np.ndarray = _points(0)          # (P, 1, S)
    p_init: np.ndarray = _points(0)
    h_init: np.ndarray = _points(0)          # (P, 1, S) bool
    drivers: dict[str, np.ndarray] = _points(1)   # symbol -> (T, P, 1, 1)
    monthly: dict[str, np.ndarray] = _points(1)   # symbol -> (T, P, 1, S)
    par: dict[str, np.ndarray] = _points(0)       # name -> (P, 1, 1)
    jumps: tuple[dict[int, list[tuple[int, str, str, float]]], ...] = _points(0)
    noise_on: bool = False


def stack(cms: list[Compiled]) -> Batch:
    """Stack compiled scenarios (same states and horizon) into a :class:`Batch`."""
    first = cms[0]
    for cm in cms[1:]:
        if cm.ids != first.ids or cm.T != first.T or not np.array_equal(cm.csto, first.csto):
            raise ValueError("scenarios in a batch must share states, CSTO membership and "
                             "horizon")

    def per_state(attr: str) -> np.ndarray:
        return np.stack([getattr(cm, attr) for cm in cms])[:, None, :]

    return Batch(
        P=len(cms), T=first.T, S=first.S, csto=first.csto,
        consent_rule=np.array([cm.consent_rule for cm in cms], dtype=bool)[:, None, None],
        W=np.stack([cm.W for cm in cms])[:, None, :, :],
        exposure=per_state("exposure"), w_init=per_state("w_init"),
        p_init=per_state("p_init"), h_init=per_state("h_init"),
        drivers={k: np.stack([cm.drivers[k] for cm in cms], axis=1)[:, :, None, None]
                 for k in first.drivers},
        monthly={k: np.stack([cm.monthly[k] for cm in cms], axis=1)[:, :, None, :]
                 for k in first.monthly},
        par={k: np.array([cm.par[k] for cm in cms], dtype=np.float64)[:, None, None]
             for k in first.par},
        jumps=tuple(cm.jumps for cm in cms),
        noise_on=any(cm.noise_on for cm in cms),
    )


def take(bt: Batch, sl: slice) -> Batch:
    """The points ``sl`` of a batch: every field with a point axis is sliced on it."""
    idx = (slice(None),) * 1

    def cut(v: Any, axis: int) -> Any:
        if isinstance(v, dict):
            return {k: cut(a, axis) for k, a in v.items()}
        return v[idx * axis + (sl,)] if axis else v[sl]

    changes = {f.name: cut(getattr(bt, f.name), f.metadata["point_axis"])
               for f in fields(Batch) if "point_axis" in f.metadata}
    return replace(bt, P=len(range(*sl.indices(bt.P))), **changes)
