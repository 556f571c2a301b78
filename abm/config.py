"""Scenario files: loading, ``extends``, ``--set`` overrides, validation.

A scenario is read once, here, into frozen dataclasses. Everything downstream (the core,
the Mesa engine, the command line) trusts these objects and never re-checks them.

The schema (key names, units, ranges, defaults) is the metadata of the dataclass fields
below; ``docs/model.md`` reproduces it and a test keeps the two equal.

Merging rules for ``extends``: tables merge key by key; ``[[states]]`` merge by ``id`` (an
extending file changes one attribute of one state without repeating the others, and a new
``id`` adds a state); every other list (``[[shocks]]``, ``network.edges``, a schedule)
is replaced whole.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = [
    "Schedule",
    "Russia",
    "US",
    "Spillover",
    "Dynamics",
    "Network",
    "Edge",
    "Csto",
    "State",
    "Shock",
    "Scenario",
    "load_scenario",
    "scenario_from_dict",
    "SHOCK_VARIABLES",
]

#: Largest Poisson mean (incidents per state-month) the core accepts; far above any
#: plausible scenario, it keeps ``exp(-lambda)`` away from underflow.
MAX_MONTHLY_INCIDENT_RATE = 500.0

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_ID_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")


def _key(
    default: Any,
    kind: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    unit: str = "",
    doc: str = "",
    lo_open: bool = False,
) -> Any:
    """A dataclass field carrying its schema: kind, range, unit and meaning."""
    meta = {"kind": kind, "lo": lo, "hi": hi, "unit": unit, "doc": doc, "lo_open": lo_open}
    if default is MISSING:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Schedule:
    """A driver: a constant or ``[month, value]`` pairs, linearly interpolated.

    Before the first pair the first value holds; after the last pair the last value
    holds (``numpy.interp`` semantics). Months are in ``[0, horizon_months]`` and
    strictly increasing.
    """

    points: tuple[tuple[float, float], ...]

    @classmethod
    def constant(cls, value: float) -> Schedule:
        return cls(((0.0, float(value)),))


    def values(self, horizon: int) -> np.ndarray:
        """Value at each month ``0 .. horizon-1``, shape ``(horizon,)``."""
        months = np.arange(horizon, dtype=np.float64)
        xs = np.array([m for m, _ in self.points], dtype=np.float64)
        ys = np.array([v for _, v in self.points], dtype=np.float64)
        return np.interp(months, xs, ys)

    def max(self) -> float:
        return max(v for _, v in self.points)

    def to_toml(self) -> float | list[list[float]]:
        if len(self.points) == 1 and self.points[0][0] == 0.0:
            return self.points[0][1]
        return [[m, v] for m, v in self.points]


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Russia:
    """``[russia]``: Russian pressure and its instruments."""

    pressure: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="share",
        doc="R(t), diplomatic and coercive pressure on every state")
    reactive_gain: float = _key(
        0.0, "float", 0, 10, unit="pressure per unit willingness",
        doc="extra pressure per unit of willingness above alarm_level")
    alarm_level: float = _key(
        0.5, "float", 0, 1, unit="willingness",
        doc="willingness above which Russia reacts")
    veto_strength: float = _key(
        0.0, "float", 0, 1, unit="probability per unit R",
        doc="Russia refuses consent with probability veto_strength*R(t)")
    campaign: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="intensity",
        doc="C_R(t), Russian information campaign (lowers p)")
    inducements: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="intensity",
        doc="I_R(t), loans, aid and write-offs offered to stay away from hosting")
    drill_rate: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 10, unit="drills per month",
        doc="rate of region-wide drills (Poisson, one draw per trial-month)")
    drill_pulse: float = _key(
        0.0, "float", 0, 1, unit="pressure per drill",
        doc="pressure a drill adds to every state")
    drill_decay: float = _key(
        0.5, "float", 0, 1, unit="fraction retained per month",
        doc="share of the drill pulse still felt a month later")
    hosting_penalty: float = _key(
        0.0, "float", 0, 1, unit="pressure",
        doc="extra pressure on a state that hosts a base")


@dataclass(frozen=True)
class US:
    """``[us]``: what Washington asks for and offers."""

    demand: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="share",
        doc="D(t), how hard the US asks; also the monthly chance of talks reaching terms")
    incentives: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="intensity",
        doc="I_US(t), aid and rent on offer")
    campaign: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="intensity",
        doc="C_US(t), US information campaign (raises p)")


@dataclass(frozen=True)
class Spillover:
    """``[spillover]``: security incidents from Afghanistan."""

    rate: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 100, unit="incidents per month per 1000 km",
        doc="incident rate at instability 1, per 1000 km of Afghan border")
    instability: Schedule = _key(
        Schedule.constant(1.0), "schedule", 0, 100, unit="multiplier",
        doc="instability(t) inside Afghanistan, multiplies the rate")
    shock: float = _key(
        0.5, "float", 0, 10, unit="threat per incident",
        doc="threat s added by one incident")
    decay: float = _key(
        0.8, "float", 0, 1, unit="fraction retained per month",
        doc="share of the threat s still felt a month later")


@dataclass(frozen=True)
class Dynamics:
    """``[dynamics]``: the behavioural parameters every scenario shares.

    Defaults are the calibrated values of ``experiments/baseline_2021.toml``.
    """

    opinion_anchor: float = _key(
        0.1, "float", 0, 1, unit="per month",
        doc="pull of public support back to its anchor p0")
    us_campaign_effect: float = _key(
        0.05, "float", 0, 1, unit="per month per unit campaign",
        doc="effect of C_US on p")
    russia_campaign_effect: float = _key(
        0.05, "float", 0, 1, unit="per month per unit campaign",
        doc="effect of C_R on p")
    sovereignty_cost: float = _key(
        0.02, "float", 0, 1, unit="per month",
        doc="erosion of p while a foreign base is present")
    pressure_effect: float = _key(
        0.1, "float", 0, 1, unit="willingness per month",
        doc="effect of pressure P on w, scaled by dependence")
    incentive_effect: float = _key(
        0.1, "float", 0, 1, unit="willingness per month",
        doc="effect of the net offer D*I_US*(1-dep) - I_R*dep on w")
    security_us: float = _key(
        0.1, "float", 0, 1, unit="willingness per month",
        doc="pull towards the US under threat, for states with low dependence")
    security_russia: float = _key(
        0.1, "float", 0, 1, unit="willingness per month",
        doc="pull towards the CSTO under threat, for dependent states")
    retaliation: float = _key(
        0.02, "float", 0, 1, unit="willingness per month",
        doc="fear of retaliation for hosting US strike capability, under threat")
    rent_effect: float = _key(
        0.05, "float", 0, 1, unit="willingness per month",
        doc="incumbency: a host's stake in the base contract, per unit I_US")
    threshold: float = _key(
        0.6, "float", 0, 1, unit="willingness",
        doc="willingness at which an agreement becomes likely (before legal_bar)")
    close_threshold: float = _key(
        0.2, "float", 0, 1, unit="willingness",
        doc="willingness below which a host likely closes the base")
    consent_threshold: float = _key(
        0.5, "float", 0, 1, unit="willingness",
        doc="willingness at which another CSTO member likely consents")
    decision_width: float = _key(
        0.08, "float", 0, 1, unit="willingness", lo_open=True,
        doc="width of the logistic decision curves")
    opinion_noise: float = _key(
        0.01, "float", 0, 1, unit="per month (s.d.)",
        doc="standard deviation of monthly opinion shocks")
    willingness_noise: float = _key(
        0.01, "float", 0, 1, unit="per month (s.d.)",
        doc="standard deviation of monthly willingness shocks")


@dataclass(frozen=True)
class Edge:
    """One influence tie: ``source`` influences ``target`` with ``weight``."""

    source: str
    target: str
    weight: float = 1.0


@dataclass(frozen=True)
class Network:
    """``[network]``: who listens to whom."""

    self_weight: float = _key(
        0.8, "float", 0, 1, unit="share",
        doc="W_ii, weight a state puts on its own current willingness")
    edges: tuple[Edge, ...] | None = _key(
        None, "edges", unit="list of {source, target, weight}",
        doc="explicit weighted influence ties; absent = every state a peer of every other")


@dataclass(frozen=True)
class Csto:
    """``[csto]``: the consent rule of December 2011."""

    consent_rule: bool = _key(
        True, "bool", unit="switch",
        doc="a CSTO member needs every other member's consent (Russia's included)")


@dataclass(frozen=True)
class State:
    """One ``[[states]]`` entry: a candidate host."""

    id: str = _key(MISSING, "id", unit="code", doc="short upper-case code, e.g. KAZ")
    name: str = _key("", "str", unit="text", doc="display name")
    csto: bool = _key(False, "bool", unit="switch", doc="CSTO member")
    afghan_border_km: float = _key(
        0.0, "float", 0, 10000, unit="km", doc="length of the border with Afghanistan")
    spillover_exposure: float = _key(
        1.0, "float", 0, 100, unit="multiplier",
        doc="local multiplier on the border's incident rate (a surge on one border)")
    russia_dependence: float = _key(
        0.0, "float", 0, 1, unit="share", doc="remittances, trade and Russian troops, combined")
    legal_bar: float = _key(
        0.0, "float", 0, 1, unit="willingness",
        doc="law or neutrality against foreign bases; raises the hosting threshold")
    responsiveness: float = _key(
        0.0, "float", 0, 1, unit="per month", doc="how much the government follows opinion")
    stubbornness: float = _key(
        0.5, "float", 0, 1, unit="share", doc="g_i, weight on the initial stance w0")
    willingness: float = _key(
        0.0, "float", 0, 1, unit="share", doc="initial willingness w0 (also the anchor)")
    public_support: float = _key(
        0.0, "float", 0, 1, unit="share", doc="initial public support p0 (also the anchor)")
    hosting: bool = _key(False, "bool", unit="switch", doc="a US base is present at month 0")


#: Attributes a ``[[shocks]]`` entry may change.
SHOCK_VARIABLES = (
    "willingness",
    "public_support",
    "russia_dependence",
    "legal_bar",
    "responsiveness",
    "stubbornness",
)


@dataclass(frozen=True)
class Shock:
    """A scheduled change at the start of ``month``: ``add`` to or ``set`` an attribute."""

    month: int
    state: str
    variable: str
    add: float | None = None
    set: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build it with :func:`load_scenario` or :func:`scenario_from_dict`."""

    name: str
    states: tuple[State, ...]
    description: str = ""
    horizon_months: int = 36
    trials: int = 10_000
    seed: int | None = None
    russia: Russia = field(default_factory=Russia)
    us: US = field(default_factory=US)
    spillover: Spillover = field(default_factory=Spillover)
    dynamics: Dynamics = field(default_factory=Dynamics)
    network: Network = field(default_factory=Network)
    csto: Csto = field(default_factory=Csto)
    shocks: tuple[Shock, ...] = ()
    record: tuple[tuple[str, bool], ...] = ()
    source: str = field(default="<dict>", compare=False)

    @property
    def state_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.states)

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain TOML-able data (no ``extends``, all defaults)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "horizon_months": self.horizon_months,
            "trials": self.trials,
        }
        if self.seed is not None:
            out["seed"] = self.seed
        for tname in _TABLES:
            out[tname] = _table_to_dict(getattr(self, tname))
        out["states"] = [_table_to_dict(s) for s in self.states]
        out["shocks"] = [
            {k: v for k, v in vars(sh).items() if v is not None} for sh in self.shocks
        ]
        if self.record:
            out["record"] = dict(self.record)
        return out

    def sha256(self) -> str:
        """Hash of the resolved scenario in canonical JSON (sorted keys)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def influence_matrix(self) -> np.ndarray:
        """Row-stochastic influence matrix ``W``, shape ``(n_states, n_states)``.

        ``W_ii = self_weight`` and ``W_ij = (1 - self_weight) * e_ij / sum_k e_ik`` where
        ``e_ij`` is the weight of the edge from ``j`` to ``i`` (``j`` influences ``i``).
        With no ``edges`` every other state has weight 1; a state with no incoming edge
        listens only to itself (``W_ii = 1``).
        """
        n = len(self.states)
        ids = {s.id: i for i, s in enumerate(self.states)}
        e = np.zeros((n, n))
        if self.network.edges is None:
            e[:] = 1.0
            np.fill_diagonal(e, 0.0)
        else:
            for edge in self.network.edges:
                e[ids[edge.target], ids[edge.source]] += edge.weight
        W = np.zeros((n, n))
        sw = self.network.self_weight
        for i in range(n):
            tot = e[i].sum()
            if tot > 0:
                W[i] = (1.0 - sw) * e[i] / tot
                W[i, i] = sw
            else:
                W[i, i] = 1.0
        return W


_TABLES = ("russia", "us", "spillover", "dynamics", "network", "csto")
_TABLE_CLASSES = {
    "russia": Russia,
    "us": US,
    "spillover": Spillover,
    "dynamics": Dynamics,
    "network": Network,
    "csto": Csto,
}
_TOP_KEYS = ("name", "description", "horizon_months", "trials", "seed", "extends",
             "states", "shocks", "record", "sweep", *_TABLES)
#: Keys of ``[sweep]`` (validated by :mod:`abm.sweep`; a scenario ignores the table).
SWEEP_KEYS = ("design", "points", "trials_per_point", "seed", "crn", "levels", "parameters")


def _table_to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, Schedule):
            v = v.to_toml()
        elif f.name == "edges":
            if v is None:
                continue
            v = [{"source": e.source, "target": e.target, "weight": e.weight} for e in v]
        out[f.name] = v
    return out


def schema() -> dict[str, list[tuple[str, dict[str, Any], Any]]]:
    """Documented keys per table: ``{table: [(key, metadata, default), ...]}``."""
    out = {}
    for tname, cls in [*_TABLE_CLASSES.items(), ("states", State)]:
        rows = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else None
            if isinstance(default, Schedule):
                default = default.to_toml()
            rows.append((f.name, dict(f.metadata), default))
        out[tname] = rows
    return out


# --------------------------------------------------------------------------- loading


class _Prov:
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


def _read_toml(path: Path, source: str) -> dict[str, Any]:
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


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge ``over`` into a copy of ``base`` (see module docstring for the rules)."""
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
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _load_chain(path: Path, prov: _Prov, seen: tuple[Path, ...], source: str) -> dict:
    path = path.resolve() if path.exists() else path
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise ConfigError(str(seen[-1]), "extends", str(path), f"extends chain loops: {chain}")
    raw = _read_toml(path, source)
    parent = raw.pop("extends", None)
    if parent is None:
        prov.record(raw, str(path))
        return raw
    if not isinstance(parent, str) or not parent:
        raise ConfigError(str(path), "extends", parent, "must be a path to a TOML file")
    ppath = Path(parent)
    if not ppath.is_absolute():
        ppath = path.parent / ppath
    if not ppath.exists():
        raise ConfigError(str(path), "extends", parent, f"file not found ({ppath})")
    if not ppath.is_file():
        raise ConfigError(str(path), "extends", parent, f"is not a TOML file ({ppath})")
    base = _load_chain(ppath, prov, (*seen, path), str(path))
    prov.record(raw, str(path))
    return _merge(base, raw)


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


def apply_override(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key in the raw (merged, unvalidated) scenario, in place."""
    parts = key.split(".")
    src = "--set"
    top = parts[0]
    if top not in _TOP_KEYS or top == "extends":
        raise ConfigError(src, key, value, _unknown(top, [k for k in _TOP_KEYS if k != "extends"]))
    if top in ("name", "description", "horizon_months", "trials", "seed", "shocks", "record"):
        if len(parts) != 1:
            raise ConfigError(src, key, value, f"{top} has no sub-keys")
        raw[top] = value
        return
    if top == "sweep":
        if len(parts) != 2 or parts[1] not in SWEEP_KEYS or parts[1] == "parameters":
            allowed = [k for k in SWEEP_KEYS if k != "parameters"]
            raise ConfigError(src, key, value, _unknown(".".join(parts[1:]), allowed))
        table = raw.setdefault("sweep", {})
        if not isinstance(table, dict):
            raise ConfigError(src, key, value, "[sweep] is not a table in the file")
        table[parts[1]] = value
        return
    if top in _TABLE_CLASSES:
        names = [f.name for f in fields(_TABLE_CLASSES[top])]
        if len(parts) != 2:
            raise ConfigError(src, key, value, f"expected {top}.<key> with key one of {names}")
        if parts[1] not in names:
            raise ConfigError(src, key, value, _unknown(parts[1], names))
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
        raise ConfigError(src, key, value, _unknown(sid, [str(i) for i in ids], what="state id"))
    names = [f.name for f in fields(State) if f.name != "id"]
    if attr not in names:
        raise ConfigError(src, key, value, _unknown(attr, names, what="state attribute"))
    # the first table with this id (ids skipped non-table entries, so search the list)
    next(st for st in states if isinstance(st, dict) and st.get("id") == sid)[attr] = value


def _unknown(key: str, allowed: list[str], what: str = "key") -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"unknown {what}{hint} allowed: {', '.join(allowed)}"


def load_raw(path: str | Path, overrides: list[str] | tuple[str, ...] = ()
             ) -> tuple[dict[str, Any], _Prov]:
    """The merged (``extends``) and overridden raw TOML of a file, with key provenance."""
    path = Path(path)
    prov = _Prov(str(path))
    raw = _load_chain(path, prov, (), str(path))
    for text in overrides:
        key, value = parse_override(text)
        apply_override(raw, key, value)
        prov.by_key[key] = "--set"
    return raw, prov


def build(raw: dict[str, Any], prov: _Prov) -> Scenario:
    """Validate a raw scenario (see :func:`load_raw`) into a :class:`Scenario`."""
    return _build(raw, prov)


def load_scenario(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
) -> Scenario:
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
    return _build(raw, prov)


def scenario_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML of one file, no ``extends``)."""
    raw = copy.deepcopy(raw)
    raw.pop("extends", None)
    prov = _Prov(source)
    return _build(raw, prov)


# --------------------------------------------------------------------------- validation


def _bad(prov: _Prov, key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(prov(key), key, value, allowed)


def _number(prov: _Prov, key: str, v: Any, meta: dict[str, Any]) -> float:
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


def _schedule(prov: _Prov, key: str, v: Any, meta: dict[str, Any], horizon: int) -> Schedule:
    form = "a number or a schedule [[month, value], ...] with increasing months"
    if isinstance(v, int | float) and not isinstance(v, bool):
        return Schedule.constant(_number(prov, key, v, meta))
    if not isinstance(v, list) or not v:
        raise _bad(prov, key, v, f"must be {form}")
    pts = []
    for j, pair in enumerate(v):
        if (not isinstance(pair, list) or len(pair) != 2
                or any(isinstance(x, bool) or not isinstance(x, int | float) for x in pair)):
            raise _bad(prov, f"{key}[{j}]", pair,
                       f"must be a pair [month, value]; {key} must be {form}")
        # clamp an unbounded TOML integer before float() so it cannot overflow
        m = pair[0] if isinstance(pair[0], float) else float(max(-1, min(pair[0], horizon + 1)))
        if not math.isfinite(m) or m < 0 or m > horizon:
            raise _bad(prov, f"{key}[{j}]", pair,
                       f"month must lie in [0, horizon_months={horizon}]"
                       f"{_horizon_note(prov, key) if math.isfinite(m) and m > horizon else ''}")
        if pts and m <= pts[-1][0]:
            raise _bad(prov, f"{key}[{j}]", pair,
                       f"months must be strictly increasing (previous month {pts[-1][0]:g})")
        pts.append((m, _number(prov, f"{key}[{j}]", pair[1], meta)))
    return Schedule(tuple(pts))


def _horizon_note(prov: _Prov, key: str) -> str:
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


def _check_keys(prov: _Prov, prefix: str, got: dict[str, Any], allowed: list[str]) -> None:
    for k in got:
        if k not in allowed:
            key = f"{prefix}.{_shown(k)}" if prefix else _shown(k)
            raise _bad(prov, key, got[k], _unknown(str(k), allowed))


def _table(prov: _Prov, tname: str, raw: Any, horizon: int) -> Any:
    cls = _TABLE_CLASSES[tname]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _bad(prov, tname, raw, f"must be a table [{tname}]")
    _check_keys(prov, tname, raw, [f.name for f in fields(cls)])
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in raw:
            continue
        v = raw[f.name]
        key = f"{tname}.{f.name}"
        kind = f.metadata["kind"]
        if kind == "schedule":
            kwargs[f.name] = _schedule(prov, key, v, f.metadata, horizon)
        elif kind == "float":
            kwargs[f.name] = _number(prov, key, v, f.metadata)
        elif kind == "bool":
            if not isinstance(v, bool):
                raise _bad(prov, key, v, "must be true or false")
            kwargs[f.name] = v
        elif kind == "edges":
            kwargs[f.name] = v  # checked once states are known
    return cls(**kwargs)


def _edges(prov: _Prov, raw: Any, ids: list[str]) -> tuple[Edge, ...] | None:
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
                raise _bad(prov, f"{k}.{end}", e.get(end), _unknown(str(e.get(end)), ids,
                                                                  what="state id"))
        if e["source"] == e["target"]:
            raise _bad(prov, k, e, "source and target must differ (self weight is "
                       "network.self_weight)")
        w = _number(prov, f"{k}.weight", e.get("weight", 1.0), {"lo": 0, "hi": 1e6,
                                                                "lo_open": True})
        pair = (e["source"], e["target"])
        if pair in seen:
            raise _bad(prov, k, e, f"duplicate edge {pair[0]} -> {pair[1]}")
        seen.add(pair)
        out.append(Edge(e["source"], e["target"], w))
    return tuple(out)


def _states(prov: _Prov, raw: Any) -> tuple[State, ...]:
    if not isinstance(raw, list) or not raw:
        raise _bad(prov, "states", raw, "must be a non-empty list of [[states]] tables")
    names = [f.name for f in fields(State)]
    out, ids = [], []
    for j, st in enumerate(raw):
        if not isinstance(st, dict):
            raise _bad(prov, f"states[{j}]", st, "must be a [[states]] table")
        sid = st.get("id")
        if not isinstance(sid, str) or not _ID_RE.match(sid):
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
            v, key, kind = st[f.name], f"{prefix}.{f.name}", f.metadata["kind"]
            if kind == "float":
                kwargs[f.name] = _number(prov, key, v, f.metadata)
            elif kind == "bool":
                if not isinstance(v, bool):
                    raise _bad(prov, key, v, "must be true or false")
                kwargs[f.name] = v
            elif kind == "str":
                if not isinstance(v, str):
                    raise _bad(prov, key, v, "must be a string")
                kwargs[f.name] = v
        out.append(State(**kwargs))
    return tuple(out)


def _shocks(prov: _Prov, raw: Any, ids: list[str], horizon: int) -> tuple[Shock, ...]:
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
                       _unknown(str(sh.get("state")), ids, what="state id"))
        var = sh.get("variable")
        if var not in SHOCK_VARIABLES:
            raise _bad(prov, f"{k}.variable", var,
                       _unknown(str(var), list(SHOCK_VARIABLES), what="shock variable"))
        if ("add" in sh) == ("set" in sh):
            raise _bad(prov, k, sh, "give exactly one of add = x or set = x")
        if "add" in sh:
            add = _number(prov, f"{k}.add", sh["add"], {"lo": -1, "hi": 1})
            out.append(Shock(m, sh["state"], var, add=add))
        else:
            val = _number(prov, f"{k}.set", sh["set"], {"lo": 0, "hi": 1})
            out.append(Shock(m, sh["state"], var, set=val))
    return tuple(out)


def _record(prov: _Prov, raw: Any, ids: list[str]) -> tuple[tuple[str, bool], ...]:
    """``[record]``: the recorded outcome per state (did the US get a base?), optional."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise _bad(prov, "record", raw, "must be a table {STATE_ID = true|false}")
    out = []
    for sid, v in raw.items():
        if sid not in ids:
            raise _bad(prov, f"record.{_shown(sid)}", v,
                       _unknown(str(sid), ids, what="state id"))
        if not isinstance(v, bool):
            raise _bad(prov, f"record.{sid}", v,
                       "must be true (a US base within the horizon) or false")
        out.append((sid, v))
    return tuple(out)


def _int(prov: _Prov, key: str, v: Any, lo: int, hi: int, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(prov, key, v, f"must be {what}, an integer in [{lo}, {hi}]")
    return v


def _build(raw: dict[str, Any], prov: _Prov) -> Scenario:
    if not isinstance(raw, dict):
        raise _bad(prov, "", raw, "a scenario must be a TOML document")
    _check_keys(prov, "", raw, [k for k in _TOP_KEYS if k != "extends"])
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise _bad(prov, "name", name, "must be 1-80 letters, digits, '_', '-' or '.' "
                   "starting with a letter or digit (it names a folder under results/)")
    desc = raw.get("description", "")
    if not isinstance(desc, str):
        raise _bad(prov, "description", desc, "must be a string")
    horizon = _int(prov, "horizon_months", raw.get("horizon_months", 36), 1, 1200,
                   "the number of months simulated")
    trials = _int(prov, "trials", raw.get("trials", 10_000), 1, 10**9, "the number of trials")
    seed = raw.get("seed")
    if seed is not None:
        seed = _int(prov, "seed", seed, 0, 2**128 - 1, "a non-negative seed")
    tables = {t: _table(prov, t, raw.get(t), horizon) for t in _TABLES}
    states = _states(prov, raw.get("states"))
    ids = [s.id for s in states]
    net_raw = raw.get("network") or {}
    tables["network"] = Network(
        self_weight=tables["network"].self_weight,
        edges=_edges(prov, net_raw.get("edges") if isinstance(net_raw, dict) else None, ids),
    )
    shocks = _shocks(prov, raw.get("shocks"), ids, horizon)
    record = _record(prov, raw.get("record"), ids)
    sc = Scenario(name=name, description=desc, horizon_months=horizon, trials=trials,
                  seed=seed, states=states, shocks=shocks, record=record, source=prov.default,
                  **tables)
    _check_rates(prov, sc)
    return sc


def _check_rates(prov: _Prov, sc: Scenario) -> None:
    border = max(s.afghan_border_km * s.spillover_exposure for s in sc.states) / 1000.0
    lam = sc.spillover.rate.max() * sc.spillover.instability.max() * border
    if lam > MAX_MONTHLY_INCIDENT_RATE:
        raise _bad(prov, "spillover.rate", sc.spillover.rate.to_toml(),
                   f"rate * instability * border/1000 km reaches {lam:g} incidents per month; "
                   f"at most {MAX_MONTHLY_INCIDENT_RATE:g} is supported")


def schema_markdown() -> str:
    """The key tables of ``docs/model.md``, generated from the dataclass metadata.

    ``docs/model.md`` holds this text between ``<!-- schema:start -->`` and
    ``<!-- schema:end -->``; a test checks they are equal (``make docs`` rewrites it).
    """
    out = []
    for table, rows in schema().items():
        head = "[[states]]" if table == "states" else f"[{table}]"
        out.append(f"\n#### `{head}`\n")
        out.append("| key | kind | unit | range | default | meaning |")
        out.append("|---|---|---|---|---|---|")
        for key, meta, default in rows:
            dotted = f"states.<ID>.{key}" if table == "states" else f"{table}.{key}"
            lo, hi = meta.get("lo"), meta.get("hi")
            if lo is None:
                rng = "-"
            else:
                rng = f"{'(' if meta.get('lo_open') else '['}{lo:g}, {hi:g}]"
            kind = {"schedule": "number or schedule", "float": "number", "bool": "bool",
                    "str": "string", "id": "string", "edges": "list"}[meta["kind"]]
            if default is None:
                dflt = "required" if key == "id" else "none"
            elif isinstance(default, bool):
                dflt = str(default).lower()
            elif isinstance(default, str):
                dflt = f'"{default}"'
            else:
                dflt = f"{default:g}" if isinstance(default, float) else str(default)
            out.append(f"| `{dotted}` | {kind} | {meta['unit']} | {rng} | {dflt} | "
                       f"{meta['doc']} |")
    return "\n".join(out).lstrip("\n") + "\n"
