"""Validation: raw (merged, overridden) TOML data into a :class:`~abm.scenario.schema.Scenario`.

Everything downstream (the model, the engines, the command line) trusts the result and
never re-checks it. Every refusal is a :class:`~abm.errors.ConfigError` naming the file
that set the key, the dotted key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from .. import limits
from ..errors import ConfigError, unknown
from .load import Provenance, load_raw
from .record import parse_episode, parse_record
from .schema import (
    ID_RE,
    NAME_RE,
    SHOCK_VARIABLES,
    TABLE_CLASSES,
    TABLES,
    TOP_KEYS,
    Edge,
    Network,
    Scenario,
    Schedule,
    Shock,
    Stances,
    State,
)
from .stances import rule_public_support, rule_willingness

__all__ = ["build", "load_scenario", "scenario_from_dict", "check_number", "check_whole"]


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, merge (``extends``), override (``--set``) and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        A TOML scenario file.
    overrides : list of str
        ``KEY=VALUE`` strings; ``VALUE`` is read as TOML (``0.3``, ``true``,
        ``[[0, 0.4], [12, 0.8]]``), or as a bare string if it is not valid TOML.

    Raises
    ------
    ConfigError
        On any problem, naming the file, the dotted key, the value and what is allowed.
    """
    raw, prov = load_raw(path, overrides)
    return build(raw, prov)


def scenario_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML of one file, no ``extends``)."""
    raw = copy.deepcopy(raw)
    raw.pop("extends", None)
    return build(raw, Provenance(source))


def build(raw: dict[str, Any], prov: Provenance) -> Scenario:
    """Validate a raw scenario (see :func:`~abm.scenario.load.load_raw`)."""
    return _build(raw, prov)



def _bad(prov: Provenance, key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(prov(key), key, value, allowed)


def check_number(prov: Provenance, key: str, v: Any, meta: dict[str, Any]) -> float:
    lo, hi = meta.get("lo"), meta.get("hi")
    rng = f"[{lo:g}, {hi:g}]" if lo is not None and hi is not None else "a number"
    if meta.get("lo_open"):
        rng = f"({lo:g}, {hi:g}]"
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _bad(prov, key, v, f"must be a number in {rng}")
    try:
        x = float(v)
    except OverflowError:  # an integer beyond float range (TOML integers are unbounded)
        raise _bad(prov, key, v, f"must be a number in {rng}") from None
    if not math.isfinite(x):
        raise _bad(prov, key, v, f"must be a finite number in {rng}")
    if lo is not None and (x < lo or (meta.get("lo_open") and x <= lo)):
        raise _bad(prov, key, v, f"must be a number in {rng}")
    if hi is not None and x > hi:
        raise _bad(prov, key, v, f"must be a number in {rng}")
    return x


def check_whole(prov: Provenance, key: str, v: Any, meta: dict[str, Any]) -> float:
    """A whole number in the key's range (``3`` or ``3.0``, not ``2.5``), as a float; every
    refusal says "a whole number of <unit> in [lo, hi]"."""
    allowed = (f"must be a whole number of {meta.get('unit') or 'units'} "
               f"in [{meta['lo']:g}, {meta['hi']:g}]")
    try:
        x = check_number(prov, key, v, meta)
    except ConfigError:
        raise _bad(prov, key, v, allowed) from None
    if x != math.floor(x):
        raise _bad(prov, key, v, allowed)
    return x


def _schedule(prov: Provenance, key: str, v: Any, meta: dict[str, Any]) -> Schedule:
    form = "a number or a schedule [[month, value], ...] with increasing months"
    if isinstance(v, int | float) and not isinstance(v, bool):
        return Schedule.constant(check_number(prov, key, v, meta))
    if not isinstance(v, list) or not v:
        raise _bad(prov, key, v, f"must be {form}")
    pts = []
    for j, pair in enumerate(v):
        if (not isinstance(pair, list) or len(pair) != 2
                or any(isinstance(x, bool) or not isinstance(x, int | float) for x in pair)):
            raise _bad(prov, f"{key}[{j}]", pair,
                       f"must be a pair [month, value]; {key} must be {form}")
        # clamp an unbounded TOML integer before float() so it cannot overflow
        top = limits.MAX_HORIZON
        m = pair[0] if isinstance(pair[0], float) else float(max(-1, min(pair[0], top + 1)))
        # points past the horizon are allowed (a schedule is defined for every month; an
        # extending file may shorten the horizon), they are simply never reached
        if not math.isfinite(m) or m < 0 or m > top:
            raise _bad(prov, f"{key}[{j}]", pair, f"month must lie in [0, {top}]")
        if pts and m <= pts[-1][0]:
            raise _bad(prov, f"{key}[{j}]", pair,
                       f"months must be strictly increasing (previous month {pts[-1][0]:g})")
        pts.append((m, check_number(prov, f"{key}[{j}]", pair[1], meta)))
    return Schedule(tuple(pts))


def _horizon_note(prov: Provenance, key: str) -> str:
    """Where ``horizon_months`` was set, when that is not where ``key`` was.

    A month that fits the parent's horizon can fall outside a child's shorter one; the
    message then names both files.
    """
    if "horizon_months" not in prov.by_key or prov("horizon_months") == prov(key):
        return ""
    return f"; horizon_months is set in {prov('horizon_months')}"


def _shown(k: Any) -> str:
    """A key as it appears in a message: as is if printable, else quoted (a quoted TOML key
    may hold a newline; the message must stay one line)."""
    return k if isinstance(k, str) and k.isprintable() and k.strip() == k and k else repr(k)


def _check_keys(prov: Provenance, prefix: str, got: dict[str, Any], allowed: list[str]) -> None:
    for k in got:
        if k not in allowed:
            key = f"{prefix}.{_shown(k)}" if prefix else _shown(k)
            raise _bad(prov, key, got[k], unknown(str(k), allowed))


def _table(prov: Provenance, tname: str, raw: Any, horizon: int) -> Any:
    cls = TABLE_CLASSES[tname]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _bad(prov, tname, raw, f"must be a table [{tname}]")
    _check_keys(prov, tname, raw, [f.name for f in fields(cls)])
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in raw:
            continue
        kwargs[f.name] = _field_value(prov, f"{tname}.{f.name}", raw[f.name], f.metadata)
    return cls(**kwargs)


def _field_value(prov: Provenance, key: str, v: Any, meta: dict[str, Any]) -> Any:
    """One key's value checked by its schema kind (tables and ``[[states]]`` alike)."""
    kind = meta["kind"]
    if kind == "schedule":
        return _schedule(prov, key, v, meta)
    if kind == "float":
        return check_number(prov, key, v, meta)
    if kind == "whole":
        return check_whole(prov, key, v, meta)
    if kind == "bool":
        if not isinstance(v, bool):
            raise _bad(prov, key, v, "must be true or false")
        return v
    if kind == "str":
        if not isinstance(v, str):
            raise _bad(prov, key, v, "must be a string")
        return v
    if kind == "edges":
        return v  # checked once states are known
    raise AssertionError(f"{key}: schema kind {kind!r} has no check")


def _edges(prov: Provenance, raw: Any, ids: list[str]) -> tuple[Edge, ...] | None:
    key = "network.edges"
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise _bad(prov, key, raw, "must be a list of {source, target, weight} tables")
    out, seen = [], set()
    for j, e in enumerate(raw):
        k = f"{key}[{j}]"
        if not isinstance(e, dict):
            raise _bad(prov, k, e, "must be a table {source = ID, target = ID, weight = w}")
        _check_keys(prov, k, e, ["source", "target", "weight"])
        for end in ("source", "target"):
            if e.get(end) not in ids:
                raise _bad(prov, f"{k}.{end}", e.get(end), unknown(str(e.get(end)), ids,
                                                                  what="state id"))
        if e["source"] == e["target"]:
            raise _bad(prov, k, e, "source and target must differ (self weight is "
                       "network.self_weight)")
        w = check_number(prov, f"{k}.weight", e.get("weight", 1.0), {"lo": 0, "hi": 1e6,
                                                                "lo_open": True})
        pair = (e["source"], e["target"])
        if pair in seen:
            raise _bad(prov, k, e, f"duplicate edge {pair[0]} -> {pair[1]}")
        seen.add(pair)
        out.append(Edge(e["source"], e["target"], w))
    return tuple(out)


def _states(prov: Provenance, raw: Any, stances: Stances
            ) -> tuple[tuple[State, ...], tuple[tuple[str, str], ...]]:
    """The states, and the ``(id, attribute)`` pairs the stance rule derived."""
    if not isinstance(raw, list) or not raw:
        raise _bad(prov, "states", raw, "must be a non-empty list of [[states]] tables")
    names = [f.name for f in fields(State)]
    out, ids, derived = [], [], []
    for j, st in enumerate(raw):
        if not isinstance(st, dict):
            raise _bad(prov, f"states[{j}]", st, "must be a [[states]] table")
        sid = st.get("id")
        if not isinstance(sid, str) or not ID_RE.match(sid):
            raise _bad(prov, f"states[{j}].id", sid,
                       "must be an upper-case code of 1-16 letters, digits or _ (e.g. KAZ)")
        if sid in ids:
            raise _bad(prov, f"states[{j}].id", sid, "duplicate state id")
        ids.append(sid)
        prefix = f"states.{sid}"
        _check_keys(prov, prefix, st, names)
        kwargs: dict[str, Any] = {"id": sid}
        for f in fields(State):
            if f.name == "id" or f.name not in st:
                continue
            kwargs[f.name] = _field_value(prov, f"{prefix}.{f.name}", st[f.name], f.metadata)
        state = State(**kwargs)
        if stances.rule:  # the stance rule fills what the files and --set did not give
            if "willingness" not in st:
                kwargs["willingness"] = rule_willingness(state, stances)
                derived.append((sid, "willingness"))
            if "public_support" not in st:
                kwargs["public_support"] = rule_public_support(state, stances)
                derived.append((sid, "public_support"))
            state = State(**kwargs)
        out.append(state)
    return tuple(out), tuple(derived)


def _posterior(prov: Provenance, v: Any) -> str | None:
    """``posterior = "path"``, relative to the file that set it (to the working directory
    when it came from ``--set``)."""
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip() or not v.isprintable():
        raise _bad(prov, "posterior", v, "must be the path of a calibration directory "
                   "(manifest.json, posterior.parquet), relative to the scenario file")
    p = Path(v)
    src = prov("posterior")
    if not p.is_absolute() and src != "--set" and Path(src).is_file():
        p = Path(src).parent / p
    return os.path.normpath(p)


def _shocks(prov: Provenance, raw: Any, ids: list[str], horizon: int) -> tuple[Shock, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad(prov, "shocks", raw, "must be a list of [[shocks]] tables")
    out = []
    for j, sh in enumerate(raw):
        k = f"shocks[{j}]"
        if not isinstance(sh, dict):
            raise _bad(prov, k, sh, "must be a [[shocks]] table")
        _check_keys(prov, k, sh, ["month", "state", "variable", "add", "set"])
        m = sh.get("month")
        if isinstance(m, bool) or not isinstance(m, int) or not 0 <= m < horizon:
            raise _bad(prov, f"{k}.month", m,
                       f"must be an integer month in [0, {horizon - 1}] (horizon_months={horizon}"
                       f"{_horizon_note(prov, k) if isinstance(m, int) and m >= horizon else ''})")
        if sh.get("state") not in ids:
            raise _bad(prov, f"{k}.state", sh.get("state"),
                       unknown(str(sh.get("state")), ids, what="state id"))
        var = sh.get("variable")
        if var not in SHOCK_VARIABLES:
            raise _bad(prov, f"{k}.variable", var,
                       unknown(str(var), list(SHOCK_VARIABLES), what="shock variable"))
        if ("add" in sh) == ("set" in sh):
            raise _bad(prov, k, sh, "give exactly one of add = x or set = x")
        if "add" in sh:
            add = check_number(prov, f"{k}.add", sh["add"], {"lo": -1, "hi": 1})
            out.append(Shock(m, sh["state"], var, add=add))
        else:
            val = check_number(prov, f"{k}.set", sh["set"], {"lo": 0, "hi": 1})
            out.append(Shock(m, sh["state"], var, set=val))
    return tuple(out)


def _int(prov: Provenance, key: str, v: Any, lo: int, hi: int, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(prov, key, v, f"must be {what}, an integer in [{lo}, {hi}]")
    return v


def _build(raw: dict[str, Any], prov: Provenance) -> Scenario:
    if not isinstance(raw, dict):
        raise _bad(prov, "", raw, "a scenario must be a TOML document")
    _check_keys(prov, "", raw, [k for k in TOP_KEYS if k != "extends"])
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise _bad(prov, "name", name, "must be 1-80 letters, digits, '_', '-' or '.' "
                   "starting with a letter or digit (it names a folder under results/)")
    desc = raw.get("description", "")
    if not isinstance(desc, str):
        raise _bad(prov, "description", desc, "must be a string")
    horizon = _int(prov, "horizon_months", raw.get("horizon_months", limits.DEFAULT_HORIZON),
                   1, limits.MAX_HORIZON,
                   "the number of months simulated")
    trials = _int(prov, "trials", raw.get("trials", limits.DEFAULT_TRIALS), 1,
                  limits.MAX_TRIALS, "the number of trials")
    seed = raw.get("seed")
    if seed is not None:
        seed = _int(prov, "seed", seed, 0, limits.MAX_SEED, "a non-negative seed")
    tables = {t: _table(prov, t, raw.get(t), horizon) for t in TABLES}
    states, derived = _states(prov, raw.get("states"), tables["stances"])
    ids = [s.id for s in states]
    net_raw = raw.get("network") or {}
    tables["network"] = Network(
        self_weight=tables["network"].self_weight,
        edges=_edges(prov, net_raw.get("edges") if isinstance(net_raw, dict) else None, ids),
    )
    shocks = _shocks(prov, raw.get("shocks"), ids, horizon)
    record, patterns = parse_record(prov, raw.get("record"), ids, horizon)
    sc = Scenario(name=name, description=desc, horizon_months=horizon, trials=trials,
                  seed=seed, states=states, shocks=shocks, record=record, patterns=patterns,
                  out_of_sample=parse_episode(prov, raw.get("episode")),
                  source=prov.default, posterior=_posterior(prov, raw.get("posterior")),
                  derived=derived, **tables)
    _check_rates(prov, sc)
    return sc


def _check_rates(prov: Provenance, sc: Scenario) -> None:
    border = max(s.afghan_border_km * s.spillover_exposure for s in sc.states) / 1000.0
    lam = sc.spillover.rate.max() * sc.spillover.instability.max() * border
    if lam > limits.MAX_MONTHLY_INCIDENT_RATE:
        raise _bad(prov, "spillover.rate", sc.spillover.rate.to_toml(),
                   f"rate * instability * border/1000 km reaches {lam:g} incidents per month; "
                   f"at most {limits.MAX_MONTHLY_INCIDENT_RATE:g} is supported")
