"""What the explorer page does, without the page: controls, edits, runs, saving.

Every value typed or slid on the page is a piece of TOML text for one dotted key
(``russia.pressure``, ``csto.consent_rule``, ``states.UZB.legal_bar``). The page's
scenario is the chosen file's resolved scenario with those keys set, validated by
:func:`abm.scenario_from_dict`, so a bad value is refused with the project's own
:class:`abm.ConfigError` text, naming the key, the value and what is allowed.

Comparisons use common random numbers, as ``abm compare`` does: the unchanged scenario
runs with the same seed and trial count, trial ``i`` of both sees the same draws, and the
difference in P(base) is the mean of the per-trial differences with Newcombe's paired
score interval (95%), the interval ``abm compare`` reports.
"""

from __future__ import annotations

import copy
import math
import os
import re
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from abm.analysis.history import based as _based
from abm.analysis.stats import newcombe_paired
from abm.errors import ConfigError
from abm.scenario import load_scenario, scenario_from_dict
from abm.scenario.schema import schema

__all__ = [
    "Control",
    "Outcome",
    "DEFAULT_TRIALS",
    "MAX_TRIALS",
    "SOURCE",
    "scenario_files",
    "read_sources",
    "controls",
    "value_text",
    "parse_value",
    "changed",
    "build_scenario",
    "parse_trials",
    "parse_seed",
    "run",
    "paired_rows",
    "survival",
    "save_scenario",
    "overrides",
    "run_and_save",
]

#: Trials a run uses unless the page says otherwise.
DEFAULT_TRIALS = 10_000
#: Most trials one click may ask for (memory and patience on a laptop).
MAX_TRIALS = 1_000_000
#: The ``source`` of every message about a value typed on the page.
SOURCE = "page"
#: The drivers shown, in order: (table, key).
DRIVERS = (
    ("russia", "pressure"),
    ("russia", "veto_strength"),
    ("russia", "drill_rate"),
    ("russia", "campaign"),
    ("russia", "inducements"),
    ("us", "demand"),
    ("us", "incentives"),
    ("us", "campaign"),
    ("spillover", "rate"),
    ("spillover", "instability"),
)
#: Each state's attributes shown.
STATE_KEYS = ("willingness", "public_support", "russia_dependence", "legal_bar")


# --------------------------------------------------------------------------- scenarios


def scenario_files(directory: str | Path = "experiments",
                   given: str | Path | None = None) -> list[Path]:
    """The scenario files a user can pick: ``*.toml`` under ``directory`` (sorted) that
    load as scenarios, with ``given`` first if it is not among them."""
    out: list[Path] = []
    d = Path(directory)
    if d.is_dir():
        for p in sorted(d.glob("*.toml")):
            try:
                load_scenario(p)
            except ConfigError:
                continue
            out.append(p)
    if given is not None:
        g = Path(given)
        if all(_same(g, p) is False for p in out):
            out.insert(0, g)
        else:
            out = [p for p in out if not _same(g, p)]
            out.insert(0, g)
    return out


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def read_sources(path: str | Path) -> str:
    """The comments of a scenario file (where its values come from), as plain text.

    A file's comments are its sources: the header block, the notes on each table and the
    note after each value. Returned as the file's comment lines with ``#`` stripped, plus
    ``key: note`` for each commented value.
    """
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        s = raw.strip()
        if s.startswith("#"):
            lines.append(s.lstrip("#").strip())
        elif "#" in s and "=" in s:
            key, _, rest = s.partition("=")
            note = _comment_of(rest)
            if note:
                lines.append(f"{key.strip()}: {note}")
        elif s.startswith("[") and lines and lines[-1] != "":
            lines.append("")
    text = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def _comment_of(value_text: str) -> str:
    """The ``# comment`` after a TOML value (a ``#`` inside a string does not count)."""
    in_str: str | None = None
    for i, ch in enumerate(value_text):
        if in_str:
            if ch == in_str:
                in_str = None
        elif ch in "\"'":
            in_str = ch
        elif ch == "#":
            return value_text[i + 1:].strip()
    return ""


# --------------------------------------------------------------------------- controls


@dataclass(frozen=True)
class Control:
    """One editable key: what the page shows beside it comes from the schema.

    ``kind`` is ``"schedule"`` (a number, or ``[[month, value], ...]``), ``"float"`` or
    ``"bool"``; ``lo``/``hi`` the allowed range; ``group`` the heading it sits under.
    """

    key: str
    label: str
    kind: str
    lo: float | None
    hi: float | None
    unit: str
    doc: str
    group: str

    @property
    def step(self) -> float:
        span = (self.hi or 1.0) - (self.lo or 0.0)
        return 0.01 if span <= 1 else round(span / 200, 6)


def controls(scenario: Any) -> list[Control]:
    """The page's controls for ``scenario``: drivers, the CSTO rule, each state's main
    attributes, with kind, range, unit and meaning from :func:`abm.scenario.schema.schema`."""
    meta = {t: {k: m for k, m, _ in rows} for t, rows in schema().items()}
    out = []
    for table, key in DRIVERS:
        m = meta[table][key]
        out.append(Control(f"{table}.{key}", f"{table}.{key}", m["kind"], m["lo"], m["hi"],
                           m["unit"], m["doc"], "Drivers"))
    m = meta["csto"]["consent_rule"]
    out.append(Control("csto.consent_rule", "csto.consent_rule", "bool", None, None,
                       m["unit"], m["doc"], "CSTO"))
    for st in scenario.states:
        for key in STATE_KEYS:
            m = meta["states"][key]
            out.append(Control(f"states.{st.id}.{key}", key, m["kind"], m["lo"], m["hi"],
                               m["unit"], m["doc"], f"{st.id} {st.name}".strip()))
    return out


def _num(x: float) -> str:
    return format(float(x), ".12g")


def value_text(value: Any) -> str:
    """A value as the page shows it (TOML): ``0.3``, ``true``, ``[[0, 0.6], [2, 0.8]]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return str(value)


def current(scenario: Any, key: str) -> Any:
    """The TOML value of a dotted key in a scenario (a schedule as its points)."""
    d = scenario.to_dict()
    parts = key.split(".")
    if parts[0] == "states":
        return next(s for s in d["states"] if s["id"] == parts[1])[parts[2]]
    return d[parts[0]][parts[1]]


def parse_value(text: Any) -> Any:
    """What a typed value means: read as TOML (``0.3``, ``true``, ``[[0, 0.4]]``), else
    kept as the bare string (which validation then refuses with its reason)."""
    if not isinstance(text, str):
        return text
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def changed(scenario: Any, texts: dict[str, Any]) -> dict[str, Any]:
    """The keys whose value on the page differs from ``scenario``: ``{key: value}``."""
    out = {}
    for key, text in texts.items():
        v = parse_value(text)
        cur = current(scenario, key)
        # unchanged if it reads as the page showed it (a derived stance has more digits
        # than the page prints)
        if v != cur and v != parse_value(value_text(cur)):
            out[key] = v
    return out


def _set(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if parts[0] == "states":
        next(s for s in raw["states"] if s["id"] == parts[1])[parts[2]] = value
    else:
        raw.setdefault(parts[0], {})[parts[1]] = value


def parse_trials(text: Any) -> int:
    """The page's trial count, or :class:`ConfigError` naming what is allowed."""
    v = parse_value(text)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_TRIALS:
        raise ConfigError(SOURCE, "trials", v,
                          f"must be an integer number of trials in [1, {MAX_TRIALS:,}]")
    return v


def parse_seed(text: Any) -> int:
    v = parse_value(text)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 2**128 - 1:
        raise ConfigError(SOURCE, "seed", v, "must be a non-negative integer seed")
    return v


def build_scenario(base: Any, edits: dict[str, Any], *, trials: int | None = None,
                   seed: int | None = None) -> Any:
    """``base`` with ``edits`` (``{dotted key: value}``) set, validated.

    Raises
    ------
    ConfigError
        With source ``"page"``, the key, the value and what is allowed.
    """
    raw = copy.deepcopy(base.to_dict())
    # a stance the rule derived is derived again from the edited covariates (as with
    # `abm run --set`), unless the page sets it
    for sid, attr in getattr(base, "derived", ()):
        if f"states.{sid}.{attr}" not in edits:
            next(s for s in raw["states"] if s["id"] == sid).pop(attr, None)
    for key, value in edits.items():
        _set(raw, key, value)
    if trials is not None:
        raw["trials"] = trials
    if seed is not None:
        raw["seed"] = seed
    return scenario_from_dict(raw, source=SOURCE)


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    """A run of the page's scenario and of the unchanged one, paired trial by trial."""

    result: Any
    base: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    edits: dict[str, Any] = field(default_factory=dict)


class Cancelled(Exception):
    """A newer run replaced this one."""


_BASE_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_BASE_LOCK = threading.Lock()


def _progress_chunk(trials: int) -> int:
    """Trials per chunk so that a large run reports about 20 times (results do not
    depend on the chunking: trials are drawn in fixed blocks)."""
    return max(1000, math.ceil(trials / 20 / 1000) * 1000)


def run(base: Any, scenario: Any, trials: int, seed: int,
        progress: Callable[[float], None] | None = None) -> Outcome:
    """Simulate ``scenario`` and the unchanged ``base`` with the same trials and seed.

    ``progress`` receives the share done in [0, 1]; raising from it stops the run.
    The unchanged scenario's run is cached (a few at a time).
    """
    from abm.experiment.simulate import simulate

    chunk = _progress_chunk(trials)
    key = (base.sha256(), trials, seed)
    with _BASE_LOCK:
        b = _BASE_CACHE.get(key)
    total = trials if b is not None else 2 * trials
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(min(1.0, done[0] / total))

    if b is None:
        b = simulate(base, trials=trials, seed=seed, chunk_trials=chunk, progress=tick)
        with _BASE_LOCK:
            _BASE_CACHE[key] = b
            while len(_BASE_CACHE) > 4:
                _BASE_CACHE.popitem(last=False)
    if scenario == base:
        r = b
        tick(trials)
    else:
        r = simulate(scenario, trials=trials, seed=seed, chunk_trials=chunk, progress=tick)
    return Outcome(result=r, base=b, rows=paired_rows(b, r))


def based(result: Any) -> np.ndarray:
    """Per-trial indicator of a base, shape ``(trials, S)``."""
    return _based(result.table, len(result.scenario.states))


def paired_rows(base: Any, result: Any) -> list[dict[str, Any]]:
    """Per state (then ``any``): P(base) with its Wilson interval from the run's summary,
    the unchanged scenario's P(base), and the paired difference with its interval."""
    gb, g = based(base), based(result)
    rows = []
    for i, sid in enumerate(result.scenario.state_ids):
        st = result.summary["states"][sid]
        d, lo, hi = newcombe_paired(gb[:, i], g[:, i])
        rows.append({"state": sid, "name": st["name"], "p_base": st["p_base"],
                     "ci_low": st["ci_low"], "ci_high": st["ci_high"],
                     "p_base0": base.summary["states"][sid]["p_base"],
                     "delta": d, "d_low": lo, "d_high": hi})
    a = result.summary["any_base"]
    d, lo, hi = newcombe_paired(gb.any(axis=1), g.any(axis=1))
    rows.append({"state": "any", "name": "any state", "p_base": a["p"],
                 "ci_low": a["ci_low"], "ci_high": a["ci_high"],
                 "p_base0": base.summary["any_base"]["p"], "delta": d, "d_low": lo,
                 "d_high": hi})
    return rows


def survival(result: Any) -> dict[str, np.ndarray]:
    """Share of trials with no base yet at the start of month ``t`` (``t = 0..horizon``),
    per state: ``1 - P(first_base_month <= t)``."""
    S = len(result.scenario.states)
    fb = result.table["first_base_month"].to_numpy(dtype=float, na_value=np.inf)
    fb = fb.reshape(-1, S)
    t = np.arange(result.horizon + 1)
    return {sid: 1.0 - (fb[:, i][None, :] <= t[:, None]).mean(axis=1)
            for i, sid in enumerate(result.scenario.state_ids)}


# --------------------------------------------------------------------------- saving


def overrides(edits: dict[str, Any]) -> list[str]:
    """The edits as ``--set KEY=VALUE`` strings (TOML values) for the manifest."""
    out = []
    for key, value in edits.items():
        text = tomli_w.dumps({"v": value}).strip()
        out.append(f"{key}={text[len('v = '):]}")
    return out


def save_scenario(out: str | Path, original: str | Path, scenario: Any,
                  edits: dict[str, Any], *, name: str, overwrite: bool = False) -> Path:
    """Write the page's scenario as a TOML file that ``extends`` the original.

    The file sets ``name``, ``description``, ``trials``, ``seed`` and the changed keys;
    everything else (and every source comment) stays in the original. The file is read
    back and must resolve to ``scenario`` (under its new name) before it is kept, so
    ``abm run`` on it reproduces the page's numbers.

    Raises
    ------
    ConfigError
        A bad file name or scenario name, or a file that exists (unless ``overwrite``).
    """
    from dataclasses import replace

    path = Path(str(out).strip())
    if path.suffix != ".toml" or not path.name[:-5]:
        raise ConfigError(SOURCE, "save as", str(out), "must be a file name ending in .toml")
    if not path.parent.is_dir():
        raise ConfigError(SOURCE, "save as", str(out),
                          f"folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise ConfigError(SOURCE, "save as", str(out),
                          "exists already; choose another name")
    if _same(path, Path(original)):
        raise ConfigError(SOURCE, "save as", str(out),
                          "is the scenario it extends; choose another name")
    raw = copy.deepcopy(scenario.to_dict())
    raw["name"] = name
    target = scenario_from_dict(raw, source=SOURCE)  # checks the name
    rel = os.path.relpath(Path(original).resolve(), path.parent.resolve())
    doc: dict[str, Any] = {
        "extends": Path(rel).as_posix(),
        "name": name,
        "description": scenario.description,
        "trials": scenario.trials,
        "seed": scenario.seed,
    }
    states: dict[str, dict[str, Any]] = {}
    for key, value in edits.items():
        parts = key.split(".")
        if parts[0] == "states":
            states.setdefault(parts[1], {"id": parts[1]})[parts[2]] = value
        else:
            doc.setdefault(parts[0], {})[parts[1]] = value
    if states:
        doc["states"] = list(states.values())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    changes = ", ".join(edits) if edits else "nothing (trials and seed only)"
    head = (f"# Saved by `abm app` on {when} from {Path(original).name}.\n"
            f"# Changed on the page: {changes}.\n"
            f"# Sources: the comments of {Path(rel).as_posix()} (this file extends it).\n\n")
    text = head + tomli_w.dumps(doc)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    try:
        back = load_scenario(tmp)
        if replace(back, source=target.source) != target:
            raise RuntimeError(f"{path}: the saved file does not resolve to the page's "
                               "scenario")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def run_and_save(result: Any, results_root: str | Path, *, config: str | Path,
                 edits: dict[str, Any]) -> tuple[Path, bool]:
    """Write ``result`` as a results directory, as ``abm run`` does.

    The directory is ``<results_root>/<name>/<run-id>`` with the run id ``abm run`` would
    give the same resolved scenario, trials, seed and engine; the manifest records the
    original file as ``config`` and the edits as ``--set`` overrides. Returns the path and
    whether it was written (False: that run was there already, same id, same numbers).
    """
    from abm.experiment.store import run_id, write_run
    from abm.plots import decision_thresholds, draw_figures

    rid = run_id(result.scenario.sha256(), result.trials, result.seed, result.engine,
                 result.horizon)
    run_dir = Path(results_root) / result.scenario.name / rid
    if (run_dir / "manifest.json").is_file():
        return run_dir, False
    write_run(result, run_dir, rid=rid, config=str(config), overrides=overrides(edits),
              extra=lambda tmp: draw_figures(
                  result.table, result.months, result.summary, tmp / "figures",
                  thresholds=decision_thresholds(result.scenario)))
    return run_dir, True
