"""Reading scenario files: TOML, ``extends`` chains, ``--set`` overrides, provenance.

Merging rules for ``extends``: tables merge key by key; ``[[states]]`` merge by ``id`` (an
extending file changes one attribute of one state without repeating the others; a state
that is new to the chain must be complete, see :data:`~abm.scenario.schema.NEW_STATE_REQUIRED`);
every other list (``[[shocks]]``, ``network.edges``, a schedule) is replaced whole.

Paths in messages are shown relative to the working directory (:func:`abm.errors.display_path`),
so no message depends on where the repository lies.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError, display_path, unknown
from .schema import EXTENSION_TABLES, ID_RE, NEW_STATE_REQUIRED, TABLE_CLASSES, TOP_KEYS, State

__all__ = ["Provenance", "read_toml", "merge", "parse_override", "format_override",
           "overrides_as_text", "apply_override", "load_raw"]

class Provenance:
    """Which file (or ``--set``) each dotted key came from, for error messages."""

    def __init__(self, default: str):
        self.default = default
        self.by_key: dict[str, str] = {}

    def record(self, raw: Any, source: str, prefix: str = "") -> None:
        if isinstance(raw, dict):
            for k, v in raw.items():
                key = f"{prefix}.{k}" if prefix else str(k)
                self.by_key[key] = source
                self.record(v, source, key)
        elif isinstance(raw, list) and prefix == "states":
            for st in raw:
                if isinstance(st, dict) and isinstance(st.get("id"), str):
                    self.record(st, source, f"states.{st['id']}")

    def __call__(self, key: str) -> str:
        while key:
            if key in self.by_key:
                return self.by_key[key]
            # "shocks[0].month" -> "shocks[0]" -> "shocks": a list item comes from the
            # file that set the list.
            if key.endswith("]") and "[" in key:
                key = key[: key.rindex("[")]
            else:
                key = key.rpartition(".")[0]
        return self.default


def read_toml(path: Path, source: str) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", str(path), "file not found") from None
    except IsADirectoryError:
        raise ConfigError(source, "", str(path), "is a directory, expected a TOML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", f"byte {exc.start}", "file is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(source, "", str(path), f"cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts the position in the message: "... (at line 3, column 8)"; name the
        # file as path:line and show that line
        at = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        lines = text.split("\n")  # as tomllib counts lines
        if at is not None and int(at.group(1)) <= len(lines):
            n = int(at.group(1))
            shown = lines[n - 1].strip()
        elif "(at end of document)" in str(exc):
            n, shown = len(lines), "end of file"
        else:
            raise ConfigError(str(path), "", "TOML", f"malformed TOML: {exc}") from None
        raise ConfigError(f"{path}:{n}", "", shown, f"malformed TOML: {exc}") from None


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge ``over`` into a copy of ``base`` (see the module docstring for the rules)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k == "states" and isinstance(v, list) and isinstance(out.get(k), list):
            merged = out[k]
            # Only string ids merge; anything else (e.g. ``id = [1]``, unhashable) is
            # appended as is and rejected by validation with its dotted key.
            index = {s["id"]: i for i, s in enumerate(merged)
                     if isinstance(s, dict) and isinstance(s.get("id"), str)}
            for st in v:
                sid = st.get("id") if isinstance(st, dict) else None
                if isinstance(sid, str) and sid in index:
                    merged[index[sid]] = {**merged[index[sid]], **st}
                else:
                    merged.append(copy.deepcopy(st))
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _check_extension(path: Path, base: dict[str, Any], raw: dict[str, Any],
                     parent_shown: str) -> None:
    """What an extending file may not do to its parent's states.

    An empty ``states`` list would merge nothing (silently ignored), and a state the parent
    does not have is added with defaults for whatever it omits: a typo in an id (``UZK``
    for ``UZB``) would add a seventh state. Both are refused; a new state must give every
    attribute of :data:`~abm.scenario.schema.NEW_STATE_REQUIRED`.
    """
    states = raw.get("states")
    if states is None:
        return
    where = display_path(path)
    if isinstance(states, list) and not states:
        raise ConfigError(where, "states", states,
                          "must be a non-empty list of [[states]] tables; an extending file "
                          "changes or adds states, it cannot remove them (omit the key)")
    if not isinstance(states, list) or not isinstance(base.get("states"), list):
        return
    known = [s["id"] for s in base["states"] if isinstance(s, dict)
             and isinstance(s.get("id"), str)]
    for st in states:
        sid = st.get("id") if isinstance(st, dict) else None
        if not isinstance(sid, str) or sid in known or not ID_RE.match(sid):
            continue  # a malformed id is reported by validation, with its index
        missing = [k for k in NEW_STATE_REQUIRED if k not in st]
        if missing:
            hint = unknown(sid, known, what="state id").split(";")[1].split(" allowed")[0]
            hint = f"{hint.strip()} " if "did you mean" in hint else ""
            raise ConfigError(where, f"states.{sid}", st,
                              f"{hint}not a state of {parent_shown}; a new state must give "
                              f"{', '.join(missing)} (states: {', '.join(known)})")


def _load_chain(path: Path, prov: Provenance, seen: tuple[Path, ...], source: str,
                written: str | None = None) -> dict:
    path = path.resolve() if path.exists() else path
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise ConfigError(display_path(seen[-1]), "extends", written or display_path(path),
                          f"extends chain loops: {chain}")
    raw = read_toml(path, source)
    parent = raw.pop("extends", None)
    where = display_path(path)
    if parent is None:
        prov.record(raw, where)
        return raw
    if not isinstance(parent, str) or not parent:
        raise ConfigError(where, "extends", parent, "must be a path to a TOML file")
    ppath = Path(parent)
    if not ppath.is_absolute():
        ppath = path.parent / ppath
    if not ppath.exists():
        raise ConfigError(where, "extends", parent, f"file not found ({display_path(ppath)})")
    if not ppath.is_file():
        raise ConfigError(where, "extends", parent,
                          f"is not a TOML file ({display_path(ppath)})")
    base = _load_chain(ppath, prov, (*seen, path), where, parent)
    _check_extension(path, base, raw, display_path(ppath.resolve()))
    prov.record(raw, where)
    return merge(base, raw)


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``KEY=VALUE``; the value is read as TOML, or taken as a bare string."""
    if "=" not in text:
        raise ConfigError("--set", "", text, "expected KEY=VALUE, e.g. russia.pressure=0.3")
    key, _, value = text.partition("=")
    key = key.strip()
    if not key or not key.isprintable():
        raise ConfigError("--set", "", text, "expected KEY=VALUE, e.g. russia.pressure=0.3")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key, parsed


def _toml_value(key: str, v: Any) -> str:
    """``v`` as an inline TOML value on one line (what :func:`parse_override` reads)."""
    import math

    if type(v).__module__ == "numpy" and hasattr(v, "tolist"):  # numpy scalar or array
        return _toml_value(key, v.tolist())
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        import json

        return json.dumps(v)  # a JSON string is a TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(key, x) for x in v) + "]"
    if isinstance(v, Mapping):
        import json

        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(key, x)}"
                               for k, x in v.items()) + "}"
    raise ConfigError("overrides", key, v, "expected a number, bool, string, list or table")


def format_override(key: str, value: Any) -> str:
    """``KEY=VALUE`` with ``value`` written as TOML: the ``--set`` text that
    :func:`parse_override` reads back as ``(key, value)``."""
    if not isinstance(key, str):
        raise ConfigError("overrides", str(key), value,
                          "keys are dotted strings, e.g. 'russia.pressure'")
    return f"{key}={_toml_value(key, value)}"


def overrides_as_text(overrides: Mapping[str, Any] | Sequence[str] | None) -> list[str]:
    """Overrides given as a ``{dotted key: value}`` mapping (Python values) or as
    ``KEY=VALUE`` strings (as ``--set`` takes them), as ``KEY=VALUE`` strings."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [format_override(k, v) for k, v in overrides.items()]
    if isinstance(overrides, str) or not isinstance(overrides, Sequence):
        raise ConfigError("overrides", "overrides", overrides,
                          "expected a mapping {dotted key: value} or a list of 'KEY=VALUE'")
    bad = [o for o in overrides if not isinstance(o, str)]
    if bad:
        raise ConfigError("overrides", "overrides", bad[0], "expected 'KEY=VALUE' strings")
    return list(overrides)


def apply_override(raw: dict[str, Any], key: str, value: Any,
                   extensions: Mapping[str, Sequence[str]] | None = None) -> None:
    """Set a dotted key in the raw (merged, unvalidated) scenario, in place.

    ``extensions`` maps an extension table (``sweep``) to the keys ``--set`` may change in
    it; the layer that reads the table passes it (a scenario alone has none).
    """
    extensions = extensions or {}
    parts = key.split(".")
    src = "--set"
    top = parts[0]
    allowed_top = [k for k in TOP_KEYS if k != "extends"
                   and (k in extensions or k not in EXTENSION_TABLES)]
    if top not in allowed_top:
        raise ConfigError(src, key, value, unknown(top, allowed_top))
    if top in ("name", "description", "horizon_months", "trials", "seed", "shocks", "record",
               "posterior"):
        if len(parts) != 1:
            raise ConfigError(src, key, value, f"{top} has no sub-keys")
        raw[top] = value
        return
    if top in extensions:
        keys = list(extensions[top])
        if len(parts) != 2 or parts[1] not in keys:
            raise ConfigError(src, key, value, unknown(".".join(parts[1:]), keys))
        table = raw.setdefault(top, {})
        if not isinstance(table, dict):
            raise ConfigError(src, key, value, f"[{top}] is not a table in the file")
        table[parts[1]] = value
        return
    if top in TABLE_CLASSES:
        names = [f.name for f in fields(TABLE_CLASSES[top])]
        if len(parts) != 2:
            raise ConfigError(src, key, value, f"expected {top}.<key> with key one of {names}")
        if parts[1] not in names:
            raise ConfigError(src, key, value, unknown(parts[1], names))
        table = raw.setdefault(top, {})
        if not isinstance(table, dict):
            raise ConfigError(src, key, value, f"[{top}] is not a table in the scenario")
        table[parts[1]] = value
        return
    # states.<ID>.<attribute>
    states = raw.get("states")
    ids = [s.get("id") for s in states if isinstance(s, dict)] if isinstance(states, list) else []
    if len(parts) != 3:
        raise ConfigError(src, key, value, "expected states.<ID>.<attribute>, e.g. "
                          "states.TJK.russia_dependence")
    sid, attr = parts[1], parts[2]
    if sid not in ids:
        raise ConfigError(src, key, value, unknown(sid, [str(i) for i in ids], what="state id"))
    names = [f.name for f in fields(State) if f.name != "id"]
    if attr not in names:
        raise ConfigError(src, key, value, unknown(attr, names, what="state attribute"))
    # the first table with this id (ids skipped non-table entries, so search the list)
    next(st for st in states if isinstance(st, dict) and st.get("id") == sid)[attr] = value



def load_raw(path: str | Path, overrides: Sequence[str] = (),
             extensions: Mapping[str, Sequence[str]] | None = None,
             ) -> tuple[dict[str, Any], Provenance]:
    """The merged (``extends``) and overridden raw TOML of a file, with key provenance."""
    path = Path(path)
    prov = Provenance(display_path(path))
    raw = _load_chain(path, prov, (), display_path(path))
    for text in overrides:
        key, value = parse_override(text)
        apply_override(raw, key, value, extensions)
        prov.by_key[key] = "--set"
    return raw, prov
