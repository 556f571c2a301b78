"""The scenario schema: frozen dataclasses whose field metadata is the schema.

Every key a scenario file may hold is a field below, with its kind, range, unit, meaning
and, for drivers and per-state attributes, the symbol the model uses for it
(``metadata["symbol"]``). The compile step (:mod:`abm.model.compile`) builds the model's
drivers from those symbols, and the docs' key tables are generated from the same metadata
(``docs/scripts/schema_tables.py``), so adding a key here is what makes it exist.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np

__all__ = [
    "Schedule", "Russia", "US", "Spillover", "Dynamics", "Network", "Edge", "Csto", "Stances",
    "State", "Shock", "Pattern", "PATTERN_KINDS", "Scenario", "SHOCK_VARIABLES", "TABLES",
    "TABLE_CLASSES", "TOP_KEYS",
    "EXTENSION_TABLES", "NAME_RE", "ID_RE", "schema", "key_field", "drivers", "state_symbols",
    "NEW_STATE_REQUIRED",
]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
ID_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")


def _key(
    default: Any,
    kind: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    unit: str = "",
    doc: str = "",
    lo_open: bool = False,
    symbol: str | None = None,
) -> Any:
    """A dataclass field carrying its schema: kind, range, unit, meaning, model symbol."""
    meta = {"kind": kind, "lo": lo, "hi": hi, "unit": unit, "doc": doc, "lo_open": lo_open,
            "symbol": symbol}
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
        symbol="R",
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
        symbol="C_R",
        doc="C_R(t), Russian information campaign (lowers p)")
    inducements: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="intensity",
        symbol="I_R",
        doc="I_R(t), loans, aid and write-offs offered to stay away from hosting")
    drill_rate: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 10, unit="drills per month",
        symbol="drill_rate",
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
        symbol="D",
        doc="D(t), how hard the US asks; also the monthly chance of talks reaching terms")
    incentives: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="intensity",
        symbol="I_US",
        doc="I_US(t), aid and rent on offer")
    campaign: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 1, unit="intensity",
        symbol="C_US",
        doc="C_US(t), US information campaign (raises p)")


@dataclass(frozen=True)
class Spillover:
    """``[spillover]``: security incidents from Afghanistan."""

    rate: Schedule = _key(
        Schedule.constant(0.0), "schedule", 0, 100, unit="incidents per month per 1000 km",
        symbol="spill_rate",
        doc="incident rate at instability 1, per 1000 km of Afghan border")
    instability: Schedule = _key(
        Schedule.constant(1.0), "schedule", 0, 100, unit="multiplier",
        symbol="instability",
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

    Defaults are the hand fit that preceded calibration (the episode library runs with
    them; ``experiments/baseline_2021.toml`` takes the calibrated posterior medians). The
    life-cycle keys (``negotiation_months``, ``notice_months``, ``cooling_months``) are
    whole numbers of months (kind ``"whole"``, stored as floats); their default 0 is the
    memoryless rule.
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
    # the base life-cycle (docs/model.md, "Basing decisions"): 0 = the memoryless rule
    negotiation_months: float = _key(
        0.0, "whole", 0, 24, unit="months",
        doc="months from an agreement (consent given) to the base opening; the talks break "
            "down each month with the closure curve's probability; 0 = opens at once")
    notice_months: float = _key(
        0.0, "whole", 0, 24, unit="months",
        doc="notice a host gives before its base closes (still hosting meanwhile); "
            "withdrawn each month with the agreement curve's probability, without D; "
            "0 = closes at once")
    cooling_months: float = _key(
        0.0, "whole", 0, 120, unit="months",
        doc="months after a base closes during which the state agrees to no new base")


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


_LOGIT = "logit per unit covariate"


@dataclass(frozen=True)
class Stances:
    """``[stances]``: the starting-stance rule (docs/model.md, "Starting stances").

    With ``rule = true`` a state whose ``willingness`` (``public_support``) is not given
    starts at ``w0 = sigma(b0 + b_rem*rem_ru + b_trade*trade_ru + b_troops*troops +
    b_legal*legal_bar + b_csto*csto + b_border*border/1000)`` (``p0 = sigma(c0 +
    c_poll*logit(us_approval) + c_rem*rem_ru + c_troops*troops)``); an explicit value
    overrides the rule. The coefficients are shared by every state and episode and are
    uncalibrated priors; defaults are the documented priors.
    """

    rule: bool = _key(
        False, "bool", unit="switch",
        doc="derive an absent willingness / public_support from the covariates")
    w_intercept: float = _key(
        0.0, "float", -20, 20, unit="logit", symbol="b0",
        doc="b0: logit of w0 of a state with every covariate 0 (0 = even odds)")
    w_remittances: float = _key(
        -6.0, "float", -50, 50, unit=_LOGIT, symbol="b_rem",
        doc="b_rem: per unit of remittances from Russia as a share of GDP")
    w_trade: float = _key(
        -5.0, "float", -50, 50, unit=_LOGIT, symbol="b_trade",
        doc="b_trade: per unit of Russia's share of the state's trade")
    w_troops: float = _key(
        -1.5, "float", -20, 20, unit=_LOGIT, symbol="b_troops",
        doc="b_troops: per unit of Russian troops present (1 = a major base)")
    w_legal: float = _key(
        -2.0, "float", -20, 20, unit=_LOGIT, symbol="b_legal",
        doc="b_legal: per unit of legal_bar")
    w_csto: float = _key(
        -1.0, "float", -20, 20, unit="logit", symbol="b_csto",
        doc="b_csto: for a member of a collective-security treaty with Russia (csto)")
    w_border: float = _key(
        0.0, "float", -20, 20, unit="logit per 1000 km", symbol="b_border",
        doc="b_border: per 1000 km of border with Afghanistan")
    p_intercept: float = _key(
        0.0, "float", -20, 20, unit="logit", symbol="c0",
        doc="c0: logit of p0 at an even poll and no other covariate")
    p_poll: float = _key(
        1.0, "float", -20, 20, unit="logit per logit", symbol="c_poll",
        doc="c_poll: per unit of logit(us_approval) (1 with c0 = 0: p0 = the poll)")
    p_remittances: float = _key(
        0.0, "float", -50, 50, unit=_LOGIT, symbol="c_rem",
        doc="c_rem: per unit of remittances from Russia as a share of GDP")
    p_troops: float = _key(
        0.0, "float", -20, 20, unit=_LOGIT, symbol="c_troops",
        doc="c_troops: per unit of Russian troops present")


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
        0.0, "float", 0, 1, unit="share", symbol="dep",
        doc="remittances, trade and Russian troops, combined")
    legal_bar: float = _key(
        0.0, "float", 0, 1, unit="willingness",
        symbol="legal_bar",
        doc="law or neutrality against foreign bases; raises the hosting threshold")
    responsiveness: float = _key(
        0.0, "float", 0, 1, unit="per month", symbol="resp",
        doc="how much the government follows opinion")
    stubbornness: float = _key(
        0.5, "float", 0, 1, unit="share", symbol="stub",
        doc="g_i, weight on the initial stance w0")
    willingness: float = _key(
        0.0, "float", 0, 1, unit="share", symbol="w0",
        doc="initial willingness w0 (also the anchor)")
    public_support: float = _key(
        0.0, "float", 0, 1, unit="share", symbol="p0",
        doc="initial public support p0 (also the anchor)")
    hosting: bool = _key(False, "bool", unit="switch", doc="a US base is present at month 0")
    # covariates of the starting-stance rule ([stances]); measured before the episode
    remittances_gdp: float = _key(
        0.0, "float", 0, 1, unit="share of GDP",
        doc="personal remittances received (stance rule covariate)")
    remittances_russia: float = _key(
        0.0, "float", 0, 1, unit="share",
        doc="share of those remittances sent from Russia (stance rule covariate)")
    russia_trade: float = _key(
        0.0, "float", 0, 1, unit="share",
        doc="Russia's share of the state's foreign trade (stance rule covariate)")
    russian_troops: float = _key(
        0.0, "float", 0, 1, unit="scale",
        doc="Russian military presence: 0 none, 0.5 sites or ranges, 1 a major base "
            "(stance rule covariate)")
    us_approval: float = _key(
        0.3, "float", 0, 1, unit="share",
        doc="poll share approving of the US (stance rule covariate; clipped to "
            "[0.01, 0.99] in the logit)")


#: Kinds of ``[[record.patterns]]``: what each needs besides ``state``.
PATTERN_KINDS = {
    "base_by": "month",          # a base (opened or present) by the end of month M
    "no_base": "",               # no base at any time within the horizon
    "hosting_at_end": "",        # hosting at the horizon
    "closed_by": "month",        # the first base closed by the end of month M
    "open_through": "month",     # hosting from month 0 and the base not closed by month M
    "opened_between": "months",  # the first base opened during a month in [a, b]
}


@dataclass(frozen=True)
class Pattern:
    """One recorded pattern of an episode: ``kind`` for ``state`` (months are the episode's,
    0 = its first month; a month means "by the end of that month")."""

    kind: str
    state: str
    months: tuple[int, ...] = ()
    note: str = ""

    def label(self) -> str:
        m = self.months
        return {"base_by": lambda: f"base by month {m[0]}",
                "no_base": lambda: "no base",
                "hosting_at_end": lambda: "hosting at the end",
                "closed_by": lambda: f"closed by month {m[0]}",
                "open_through": lambda: f"open through month {m[0]}",
                "opened_between": lambda: f"opened in months {m[0]}-{m[1]}",
                }[self.kind]()


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
    stances: Stances = field(default_factory=Stances)
    shocks: tuple[Shock, ...] = ()
    record: tuple[tuple[str, bool], ...] = ()
    patterns: tuple[Pattern, ...] = ()
    out_of_sample: bool = False
    source: str = field(default="<dict>", compare=False)
    #: ``posterior = "path"``: a calibration directory whose parameter draws every run of
    #: the scenario carries (docs/forecasts.md). The path as resolved (relative to the file
    #: that set it); not part of :meth:`to_dict` or :meth:`sha256`: a run's id takes the
    #: posterior's own sha256 instead, so moving the directory changes nothing.
    posterior: str | None = field(default=None, compare=False, metadata={
        "kind": "path", "unit": "directory",
        "doc": "a calibration directory (manifest.json, posterior.parquet): every run draws "
               "one parameter set per group of 100 trials from its weighted particles; "
               "relative to this file"})
    #: ``(state id, attribute)`` pairs whose value the stance rule derived at validation
    #: (``willingness``/``public_support`` not given): a posterior that changes a
    #: ``stances.*`` coefficient or a covariate derives them again.
    derived: tuple[tuple[str, str], ...] = field(default=(), compare=False)

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
        for tname in TABLES:
            if tname == "stances" and not self.stances.rule:
                continue  # the rule off: resolved as before it existed (same hash)
            out[tname] = _table_to_dict(getattr(self, tname))
        out["states"] = [_table_to_dict(s) for s in self.states]
        out["shocks"] = [
            {k: v for k, v in vars(sh).items() if v is not None} for sh in self.shocks
        ]
        if self.record:
            out["record"] = dict(self.record)
        if self.patterns:
            out.setdefault("record", {})["patterns"] = [
                {"kind": p.kind, "state": p.state, **_pattern_months(p)}
                | ({"note": p.note} if p.note else {}) for p in self.patterns]
        if self.out_of_sample:
            out["episode"] = {"out_of_sample": True}
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


def _pattern_months(p: Pattern) -> dict[str, Any]:
    need = PATTERN_KINDS[p.kind]
    if need == "month":
        return {"month": p.months[0]}
    return {"months": list(p.months)} if need == "months" else {}


TABLES = ("russia", "us", "spillover", "dynamics", "network", "csto", "stances")
TABLE_CLASSES = {
    "russia": Russia,
    "us": US,
    "spillover": Spillover,
    "dynamics": Dynamics,
    "network": Network,
    "csto": Csto,
    "stances": Stances,
}
#: Top-level tables a scenario ignores because another layer reads them (an experiment
#: file is a scenario file with a ``[sweep]`` table, read by :mod:`abm.experiment.sweep`).
EXTENSION_TABLES = ("sweep",)
TOP_KEYS = ("name", "description", "horizon_months", "trials", "seed", "extends",
             "posterior", "states", "shocks", "record", "episode", *EXTENSION_TABLES, *TABLES)


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
    for tname, cls in [*TABLE_CLASSES.items(), ("states", State)]:
        rows = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else None
            if isinstance(default, Schedule):
                default = default.to_toml()
            rows.append((f.name, dict(f.metadata), default))
        out[tname] = rows
    return out



def key_field(dotted: str) -> Any:
    """The dataclass field of a dotted scenario key (``russia.pressure``,
    ``states.<ID>.legal_bar``), or ``None`` if there is no such key."""
    parts = dotted.split(".")
    if len(parts) == 2 and parts[0] in TABLE_CLASSES:
        return {f.name: f for f in fields(TABLE_CLASSES[parts[0]])}.get(parts[1])
    if len(parts) == 3 and parts[0] == "states":
        f = {f.name: f for f in fields(State)}.get(parts[2])
        return None if f is None or f.name == "id" else f
    return None


def drivers() -> list[tuple[str, str, str]]:
    """Every driver as ``(symbol, table, key)``: the schedule fields with a symbol, in
    schema order. The compile step turns each into a per-month array named by symbol."""
    out = []
    for tname, cls in TABLE_CLASSES.items():
        for f in fields(cls):
            if f.metadata.get("kind") == "schedule" and f.metadata.get("symbol"):
                out.append((f.metadata["symbol"], tname, f.name))
    return out


def state_symbols() -> list[tuple[str, str]]:
    """Per-state attributes the model reads each month as ``(symbol, attribute)``: the
    float fields of ``[[states]]`` with a symbol (shocks may change them)."""
    return [(f.metadata["symbol"], f.name) for f in fields(State)
            if f.metadata.get("symbol") and f.metadata["kind"] == "float"]


#: Attributes a state that is new in an extending file must give: they have no default
#: that would be right for a real state (a typo in an id must not add a default state).
NEW_STATE_REQUIRED = ("name", "csto", "afghan_border_km", "russia_dependence", "legal_bar",
                      "responsiveness", "stubbornness", "willingness", "public_support")
