"""``[record]`` and ``[episode]``: what happened in an episode, validated.

``[record]`` keeps its first form, ``{STATE_ID = true|false}`` (a US base within the
horizon or not), and adds named patterns, ``[[record.patterns]]`` with ``kind``, ``state``
and, by kind, ``month = M`` or ``months = [a, b]`` (:data:`~abm.scenario.schema.PATTERN_KINDS`).
``[episode]`` says whether the episode is out of sample (``out_of_sample = true``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, unknown
from .schema import PATTERN_KINDS, Pattern

__all__ = ["parse_record", "parse_episode", "legacy_patterns"]


def _shown(k: Any) -> str:
    return k if isinstance(k, str) and k.isprintable() and k.strip() == k and k else repr(k)


def _month(prov: Any, key: str, v: Any, horizon: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < horizon:
        raise ConfigError(prov(key), key, v, f"must be an integer month in [0, {horizon - 1}] "
                          f"(horizon_months={horizon})")
    return v


def _pattern(prov: Any, j: int, p: Any, ids: list[str], horizon: int) -> Pattern:
    k = f"record.patterns[{j}]"
    if not isinstance(p, dict):
        raise ConfigError(prov(k), k, p, "must be a table {kind = ..., state = ..., ...}")
    for key in p:
        if key not in ("kind", "state", "month", "months", "note"):
            raise ConfigError(prov(k), f"{k}.{_shown(key)}", p[key],
                              unknown(str(key), ["kind", "state", "month", "months", "note"]))
    kind = p.get("kind")
    if kind not in PATTERN_KINDS:
        raise ConfigError(prov(k), f"{k}.kind", kind,
                          unknown(str(kind), list(PATTERN_KINDS), what="pattern kind"))
    if p.get("state") not in ids:
        raise ConfigError(prov(k), f"{k}.state", p.get("state"),
                          unknown(str(p.get("state")), ids, what="state id"))
    note = p.get("note", "")
    if not isinstance(note, str):
        raise ConfigError(prov(k), f"{k}.note", note, "must be a string")
    need = PATTERN_KINDS[kind]
    for other in ("month", "months"):
        if other in p and other != need:
            what = f"takes {need} = ..." if need else "takes no month"
            raise ConfigError(prov(k), f"{k}.{other}", p[other], f"a {kind} pattern {what}")
    if need and need not in p:
        form = "month = M" if need == "month" else "months = [a, b]"
        raise ConfigError(prov(k), k, p, f"a {kind} pattern needs {form}")
    months: tuple[int, ...] = ()
    if need == "month":
        months = (_month(prov, f"{k}.month", p["month"], horizon),)
    elif need == "months":
        v = p["months"]
        if not isinstance(v, list) or len(v) != 2:
            raise ConfigError(prov(k), f"{k}.months", v, "must be [a, b], two months")
        a, b = (_month(prov, f"{k}.months", x, horizon) for x in v)
        if a > b:
            raise ConfigError(prov(k), f"{k}.months", v, "must be [a, b] with a <= b")
        months = (a, b)
    return Pattern(kind, p["state"], months, note)


def parse_record(prov: Any, raw: Any, ids: list[str], horizon: int
                 ) -> tuple[tuple[tuple[str, bool], ...], tuple[Pattern, ...]]:
    """``[record]`` as ``(legacy {state: bool} pairs, named patterns)``."""
    if raw is None:
        return (), ()
    if not isinstance(raw, dict):
        raise ConfigError(prov("record"), "record", raw,
                          "must be a table {STATE_ID = true|false} and/or "
                          "[[record.patterns]]")
    out = []
    for sid, v in raw.items():
        if sid == "patterns":
            continue
        if sid not in ids:
            raise ConfigError(prov(f"record.{_shown(sid)}"), f"record.{_shown(sid)}", v,
                              unknown(str(sid), [*ids, "patterns"], what="state id"))
        if not isinstance(v, bool):
            raise ConfigError(prov(f"record.{sid}"), f"record.{sid}", v,
                              "must be true (a US base within the horizon) or false")
        out.append((sid, v))
    pats = raw.get("patterns", [])
    if not isinstance(pats, list):
        raise ConfigError(prov("record.patterns"), "record.patterns", pats,
                          "must be a list of [[record.patterns]] tables")
    return tuple(out), tuple(_pattern(prov, j, p, ids, horizon) for j, p in enumerate(pats))


def parse_episode(prov: Any, raw: Any) -> bool:
    """``[episode]``: ``out_of_sample`` (default false)."""
    if raw is None:
        return False
    if not isinstance(raw, dict):
        raise ConfigError(prov("episode"), "episode", raw, "must be a table [episode]")
    for key in raw:
        if key != "out_of_sample":
            raise ConfigError(prov("episode"), f"episode.{_shown(key)}", raw[key],
                              unknown(str(key), ["out_of_sample"]))
    v = raw.get("out_of_sample", False)
    if not isinstance(v, bool):
        raise ConfigError(prov("episode.out_of_sample"), "episode.out_of_sample", v,
                          "must be true (never used to choose anything) or false")
    return v


def legacy_patterns(record: tuple[tuple[str, bool], ...], horizon: int) -> tuple[Pattern, ...]:
    """``{STATE = true|false}`` as patterns: a base by the last month, or none."""
    return tuple(Pattern("base_by", sid, (horizon - 1,)) if v else Pattern("no_base", sid)
                 for sid, v in record)
