"""A validated scenario with some numeric keys set to new values: the fast path of ``--set``.

A posterior (docs/forecasts.md) gives each group of trials its own values of a few keys.
Re-reading and re-validating the scenario file for every parameter set would work (``--set``
does exactly that) but costs a validation per set; :func:`with_parameters` changes the
validated :class:`~abm.scenario.schema.Scenario` directly and gives the same scenario as
``load_scenario(path, ["key=value", ...])`` (``tests/test_posterior.py`` checks it):

* a table key (``dynamics.pressure_effect``) or a state attribute
  (``states.UZB.legal_bar``) is checked against its schema range, as ``--set`` would;
* a key of kind ``whole`` (the life-cycle months) is rounded to the nearest whole number
  first (halves up), since a posterior is continuous;
* with ``stances.rule = true``, the starting stances the rule derived at validation
  (``Scenario.derived``) are derived again from the new coefficients and covariates; an
  explicit ``willingness``/``public_support`` is never touched, and setting one makes it
  explicit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import ConfigError, unknown
from .load import Provenance
from .schema import TABLE_CLASSES, Scenario, key_field
from .stances import rule_public_support, rule_willingness
from .validate import _check_rates, check_number, check_whole

__all__ = ["PARAMETER_KINDS", "parameter_meta", "with_parameters"]

#: Schema kinds a posterior (or any numeric parameter set) may change.
PARAMETER_KINDS = ("float", "whole")


def parameter_meta(key: str, source: str) -> dict[str, Any]:
    """The schema metadata of a numeric scenario key, or a ConfigError naming ``source``.

    ``key`` is a dotted key ``--set`` accepts (``table.key`` or ``states.<ID>.attr``)
    whose schema kind is float or whole; the state id is checked against a scenario by
    :func:`with_parameters`."""
    f = key_field(key)
    if f is None:
        tables = ", ".join(f"{t}.<key>" for t in TABLE_CLASSES)
        raise ConfigError(source, key, None, f"not a scenario key: expected {tables} or "
                          "states.<ID>.<attribute> (docs/model.md lists them)")
    kind = f.metadata.get("kind")
    if kind not in PARAMETER_KINDS:
        raise ConfigError(source, key, None, f"is a {kind} key; a posterior may only hold "
                          "keys of kind float or whole (numbers)")
    return dict(f.metadata)


def _value(key: str, v: float, meta: dict[str, Any], prov: Provenance) -> float:
    if meta["kind"] == "whole":
        x = float(v)
        if math.isfinite(x):
            v = float(math.floor(x + 0.5))
        return check_whole(prov, key, v, meta)
    return check_number(prov, key, float(v), meta)


def with_parameters(sc: Scenario, values: Mapping[str, float], source: str = "<parameters>"
                    ) -> Scenario:
    """``sc`` with the numeric keys ``values`` set (see the module docstring).

    Raises ConfigError (naming ``source``, the key, the value and the range) for an unknown
    key, a state id the scenario does not have, or a value out of range.
    """
    prov = Provenance(source)
    tables: dict[str, dict[str, float]] = {}
    states: dict[str, dict[str, float]] = {}
    ids = sc.state_ids
    for key, v in values.items():
        x = _value(key, v, parameter_meta(key, source), prov)
        parts = key.split(".")
        if parts[0] == "states":
            if parts[1] not in ids:
                raise ConfigError(source, key, v, unknown(parts[1], list(ids), what="state id"))
            states.setdefault(parts[1], {})[parts[2]] = x
        else:
            tables.setdefault(parts[0], {})[parts[1]] = x
    if not tables and not states:
        return sc
    out = replace(sc, **{t: replace(getattr(sc, t), **kv) for t, kv in tables.items()})
    derived = tuple(d for d in sc.derived if d[1] not in states.get(d[0], {}))
    rule = out.stances.rule
    new_states = []
    for st in out.states:
        st = replace(st, **states.get(st.id, {}))
        if rule:
            again = {a for i, a in derived if i == st.id}
            if "willingness" in again:
                st = replace(st, willingness=rule_willingness(st, out.stances))
            if "public_support" in again:
                st = replace(st, public_support=rule_public_support(st, out.stances))
        new_states.append(st)
    out = replace(out, states=tuple(new_states), derived=derived)
    _check_rates(prov, out)
    return out
