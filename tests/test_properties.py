"""Property-based tests: any valid scenario simulates to sane numbers; any junk is refused
with a ConfigError and nothing else.

Valid scenarios are drawn from the documented ranges, read from :func:`abm.scenario.schema.schema`
(never hard-coded here), so a change of range in ``abm/config.py`` changes what is drawn.
Budgets are small and the runs derandomized, so CI sees the same examples every time.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abm.errors import ConfigError
from abm.experiment.simulate import simulate
from abm.limits import MAX_MONTHLY_INCIDENT_RATE
from abm.scenario import (
    SHOCK_VARIABLES,
    apply_override,
    load_scenario,
    parse_override,
    scenario_from_dict,
)
from abm.scenario.schema import schema
from tests.conftest import BASELINE

SCHEMA = schema()
TABLES = ("russia", "us", "spillover", "dynamics", "network", "csto")
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- valid input


def _number(meta: dict[str, Any]) -> st.SearchStrategy[float]:
    lo, hi = float(meta["lo"]), float(meta["hi"])
    # the ends of a range are where clipping and logistic curves are steepest: draw them too
    ends = [hi] if meta.get("lo_open") else [lo, hi]
    return st.one_of(st.sampled_from(ends),
                     st.floats(lo, hi, exclude_min=bool(meta.get("lo_open")),
                               allow_nan=False, allow_infinity=False))


def _schedule(meta: dict[str, Any], horizon: int) -> st.SearchStrategy[Any]:
    months = st.lists(st.one_of(st.integers(0, horizon),
                                st.floats(0, horizon, allow_nan=False)),
                      min_size=1, max_size=5, unique=True).map(sorted)
    pairs = months.flatmap(lambda ms: st.tuples(*[
        st.tuples(st.just(m), _number(meta)).map(list) for m in ms]).map(list))
    return st.one_of(_number(meta), pairs)


def _value(meta: dict[str, Any], horizon: int) -> st.SearchStrategy[Any]:
    kind = meta["kind"]
    if kind == "schedule":
        return _schedule(meta, horizon)
    if kind == "float":
        return _number(meta)
    if kind == "whole":  # a whole number, written as an integer or a float
        whole = st.integers(int(meta["lo"]), int(meta["hi"]))
        return st.one_of(whole, whole.map(float))
    if kind == "bool":
        return st.booleans()
    if kind == "str":
        return st.text(max_size=12)
    raise AssertionError(kind)


@st.composite
def valid_raw(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario as a raw dict: 1-6 states, drivers, shocks, edges, 1-12 months."""
    horizon = draw(st.integers(1, 12))
    n = draw(st.integers(1, 6))
    ids = draw(st.lists(st.from_regex(r"[A-Z][A-Z0-9_]{0,3}", fullmatch=True),
                        min_size=n, max_size=n, unique=True))
    raw: dict[str, Any] = {"name": "prop", "horizon_months": horizon, "trials": 50}
    for t in TABLES:
        table = {}
        for key, meta, _default in SCHEMA[t]:
            if meta["kind"] == "edges" or not draw(st.booleans()):
                continue
            table[key] = draw(_value(meta, horizon))
        raw[t] = table
    states = []
    for sid in ids:
        s: dict[str, Any] = {"id": sid}
        for key, meta, _default in SCHEMA["states"]:
            if key != "id" and draw(st.booleans()):
                s[key] = draw(_value(meta, horizon))
        states.append(s)
    raw["states"] = states
    if n > 1 and draw(st.booleans()):
        pairs = [(a, b) for a in ids for b in ids if a != b]
        chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
        raw["network"]["edges"] = [
            {"source": a, "target": b, "weight": draw(st.floats(1e-6, 100.0))}
            for a, b in chosen]
    shocks = []
    for _ in range(draw(st.integers(0, 4))):
        sh = {"month": draw(st.integers(0, horizon - 1)), "state": draw(st.sampled_from(ids)),
              "variable": draw(st.sampled_from(SHOCK_VARIABLES))}
        if draw(st.booleans()):
            sh["add"] = draw(st.floats(-1, 1))
        else:
            sh["set"] = draw(st.floats(0, 1))
        shocks.append(sh)
    raw["shocks"] = shocks
    _cap_incident_rate(raw)
    return raw


def _cap_incident_rate(raw: dict[str, Any]) -> None:
    """Scale spillover.rate down so rate * instability * border stays supported (the one
    rule that ties several keys together; see abm.scenario.validate._check_rates)."""
    defaults = {k: d for k, _m, d in SCHEMA["states"]}

    def peak(v: Any) -> float:
        return max(p[1] for p in v) if isinstance(v, list) else float(v)

    sp = raw["spillover"]
    rate = peak(sp.get("rate", SCHEMA_DEFAULT["spillover.rate"]))
    inst = peak(sp.get("instability", SCHEMA_DEFAULT["spillover.instability"]))
    border = max(s.get("afghan_border_km", defaults["afghan_border_km"])
                 * s.get("spillover_exposure", defaults["spillover_exposure"])
                 for s in raw["states"]) / 1000.0
    lam = rate * inst * border
    if lam <= MAX_MONTHLY_INCIDENT_RATE:
        return
    f = 0.5 * MAX_MONTHLY_INCIDENT_RATE / lam
    r = sp.get("rate", SCHEMA_DEFAULT["spillover.rate"])
    sp["rate"] = [[m, v * f] for m, v in r] if isinstance(r, list) else float(r) * f


SCHEMA_DEFAULT = {f"{t}.{k}": d for t, rows in SCHEMA.items() for k, _m, d in rows}


def _toml(v: Any) -> str:
    """A value as the TOML text a user would type after --set KEY=."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    raise AssertionError(type(v))


@st.composite
def valid_overrides(draw: st.DrawFn, raw: dict[str, Any]) -> list[str]:
    """Up to 4 valid ``--set`` strings for the scenario ``raw``."""
    horizon = raw["horizon_months"]
    ids = [s["id"] for s in raw["states"]]
    out = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            t = draw(st.sampled_from([t for t in TABLES if t != "spillover"]))
            key, meta, _d = draw(st.sampled_from(
                [r for r in SCHEMA[t] if r[1]["kind"] != "edges"]))
            out.append(f"{t}.{key}={_toml(draw(_value(meta, horizon)))}")
        else:
            key, meta, _d = draw(st.sampled_from(
                [r for r in SCHEMA["states"] if r[0] not in ("id", "afghan_border_km",
                                                            "spillover_exposure")]))
            sid = draw(st.sampled_from(ids))
            out.append(f"states.{sid}.{key}={_toml(draw(_value(meta, horizon)))}")
    return out


@st.composite
def scenario_and_seed(draw: st.DrawFn):
    raw = draw(valid_raw())
    for text in draw(valid_overrides(raw)):
        key, value = parse_override(text)
        apply_override(raw, key, value)
    return raw, draw(st.integers(0, 2**63))


@SETTINGS
@given(scenario_and_seed())
def test_any_valid_scenario_simulates_to_sane_numbers(case):
    raw, seed = case
    sc = scenario_from_dict(raw)  # valid by construction: must not raise
    T = sc.horizon_months
    res = simulate(sc, trials=50, seed=seed)
    t = res.table
    assert len(t) == 50 * len(sc.states)
    for col in t.select_dtypes("float").columns:
        assert not t[col].isna().any(), col
        assert np.isfinite(t[col].to_numpy()).all(), col
    assert t["final_w"].between(0, 1).all() and t["final_p"].between(0, 1).all()
    assert (t["final_s"] >= 0).all()
    assert t["months_hosted"].between(0, T).all()
    assert (t["vetoes"] >= 0).all() and (t["incidents"] >= 0).all()
    fb = t["first_base_month"].dropna()
    assert fb.between(0, T).all()
    # the life-cycle's counters are consistent with each other
    ended = t["first_base_closed_month"]
    assert ended.dropna().between(1, T).all()
    assert (t["closed"] == ended.notna()).all()
    assert (t["first_base_month"].fillna(T + 1) < ended.fillna(T + 2)).all()
    assert (t["openings"] >= 0).all() and (t["notices_withdrawn"] <= t["notices"]).all()
    # and the reference numpy kernel gives the same bits as the compiled default
    assert simulate(sc, trials=50, seed=seed, kernel="numpy").outputs_sha256 == \
        res.outputs_sha256
    m = res.months
    assert len(m) == (T + 1) * len(sc.states)
    vals = m.drop(columns=["month", "state"])
    assert not vals.isna().any().any()
    assert ((vals >= 0) & (vals <= 1)).all().all()
    for v in ("w", "p"):
        q = m[[f"{v}_q05", f"{v}_q25", f"{v}_q50", f"{v}_q75", f"{v}_q95"]].to_numpy()
        assert (np.diff(q, axis=1) >= -1e-12).all(), f"{v} quantiles out of order"
    s = res.summary
    for sid, row in s["states"].items():
        assert 0 <= row["ci_low"] <= row["p_base"] <= row["ci_high"] <= 1, sid
        assert 0 <= row["mean_months_hosted"] <= T, sid
        lo, hi = row["p_hosting_end_ci"]
        assert 0 <= lo <= row["p_hosting_end"] <= hi <= 1, sid
        assert 0 <= row["p_notice_reversed"] <= row["p_notice"] <= 1, sid


# --------------------------------------------------------------------------- junk

BASE = load_scenario(BASELINE).to_dict()

_scalar = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(-(10**400), 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.sampled_from(["KAZ", "TJK", "willingness", "", "nan", "[[0, 1]]"]),
)
#: Keys a quoted TOML key can hold: newlines, blanks, brackets, a dotted path, an id.
NASTY_KEYS = ["a\nb", "", " ", "x]", "[0]", "russia.pressure", "KAZ", "id", "\x00", "é"]
KEYS = st.one_of(st.text(max_size=6), st.sampled_from(NASTY_KEYS))
JUNK = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=8,
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a nested dict/list where a value can be replaced."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


BASE_PATHS = _paths(BASE)


@st.composite
def junked(draw: st.DrawFn) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(BASE_PATHS))
        parent: Any = raw
        try:
            for p in path[:-1]:
                parent = parent[p]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif action == "add" and isinstance(parent, dict):
                parent[draw(KEYS)] = draw(JUNK)
            else:
                parent[path[-1]] = draw(JUNK)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this path
    return raw


@SETTINGS
@given(junked())
def test_junk_is_accepted_or_refused_with_a_config_error_only(raw):
    try:
        sc = scenario_from_dict(raw)
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text and text.startswith("<dict>: ")
        return
    # accepted: then it is a genuine scenario, with finite numbers in range
    assert 1 <= sc.horizon_months <= 1200 and len(sc.states) >= 1
    for s in sc.states:
        for key, meta, _d in SCHEMA["states"]:
            v = getattr(s, key)
            if meta["kind"] == "float":
                assert math.isfinite(v) and meta["lo"] <= v <= meta["hi"], (s.id, key, v)


@SETTINGS
@given(st.one_of(st.text(max_size=30), KEYS,
                 st.sampled_from(["states.KAZ", "states.KAZ.id", "russia", "network.edges",
                                  "shocks", "record", "states..x", "."])),
       st.one_of(st.text(max_size=30), JUNK.map(repr)))
def test_junk_overrides_raise_config_error_only(key, value):
    try:
        load_scenario(BASELINE, [f"{key}={value}"])
    except ConfigError as exc:
        assert "\n" not in str(exc)
