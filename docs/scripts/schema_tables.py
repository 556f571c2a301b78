"""The generated blocks of ``docs/model.md``, ``docs/odd.md`` and ``docs/python.md``.

The scenario schema is the metadata of the dataclass fields in ``abm/scenario/schema.py``;
the outcome record is declared in ``abm/model/outcomes.py``; the limits are in
``abm/limits.py``; the columns of ``paths.parquet`` in ``abm/model/paths.py``. This script
prints them as Markdown tables. Each page holds each block between
``<!-- name:start -->`` and ``<!-- name:end -->``;
``tests/test_config.py::test_docs_generated_blocks_equal_the_code`` checks that every
block is equal to what this script generates, and ``make docs`` (``--write``) rewrites
them. ``docs/odd.md`` (the ODD+D description) also takes its initialisation table from
``experiments/baseline_2021.toml``, so a changed starting value shows there too.

Usage::

    .venv/bin/python docs/scripts/schema_tables.py          # print the blocks
    .venv/bin/python docs/scripts/schema_tables.py --write  # rewrite docs/model.md, docs/odd.md
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from abm import limits
from abm.model.outcomes import outcomes_markdown
from abm.model.paths import paths_markdown
from abm.model.step import TrialState
from abm.scenario import load_scenario
from abm.scenario.schema import SHOCK_VARIABLES, Scenario, drivers, schema

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "experiments" / "baseline_2021.toml"


def top_markdown() -> str:
    """The top-level keys of a scenario file, with the limits of :mod:`abm.limits`."""
    lim = limits.describe()
    return "\n".join([
        "| key | kind | range | default | meaning |",
        "|---|---|---|---|---|",
        "| `name` | string | 1-80 of `A-Z a-z 0-9 _ - .`, no `..` | required | names the "
        "folder under `results/` |",
        '| `description` | string | | "" | free text |',
        f"| `horizon_months` | integer | {lim['horizon_months']} | {limits.DEFAULT_HORIZON} | "
        "months simulated |",
        f"| `trials` | integer | {lim['trials']} | {limits.DEFAULT_TRIALS} | Monte Carlo "
        "trials |",
        f"| `seed` | integer | {lim['seed']} | none (fresh entropy, recorded) | root seed |",
        "| `extends` | string | path | none | parent file, relative to this file or absolute |",
        "| `record` | table `{ID = bool}` and `[[record.patterns]]` | known state ids, "
        "pattern kinds | none | recorded outcome (`ID = bool`: a US base within the horizon?) "
        "and named patterns (see Starting stances and records), for `abm validate-history` |",
        "| `episode` | table `{out_of_sample = bool}` | | false | an out-of-sample episode is "
        "reported apart and never used to choose anything |",
        _scenario_row("posterior"),
    ]) + "\n"


def _scenario_row(name: str) -> str:
    """A top-level key documented by its field's metadata in ``Scenario`` (``posterior``)."""
    meta = {f.name: f for f in fields(Scenario)}[name].metadata
    return (f"| `{name}` | {meta['kind']} | {meta['unit']} | none | {meta['doc']} "
            "(docs/forecasts.md) |")


# ------------------------------------------------------------------ cells of a key's row

_KINDS = {"schedule": "number or schedule", "float": "number", "whole": "whole number",
          "bool": "bool", "str": "string", "id": "string", "edges": "list"}


def _range(meta: dict) -> str:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is None:
        return "-"
    return f"{'(' if meta.get('lo_open') else '['}{lo:g}, {hi:g}]"


def _default(key: str, default: object) -> str:
    if default is None:
        return "required" if key == "id" else "none"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, str):
        return f'"{default}"'
    return f"{default:g}" if isinstance(default, float) else str(default)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return f"{v:g}" if isinstance(v, float) else str(v)


def _symbol(meta: dict) -> str:
    return f"`{meta['symbol']}`" if meta.get("symbol") else "-"


# ------------------------------------------------------------------------ docs/model.md


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
            out.append(f"| `{dotted}` | {_KINDS[meta['kind']]} | {meta['unit']} | "
                       f"{_range(meta)} | {_default(key, default)} | {meta['doc']} |")
    return "\n".join(out).lstrip("\n") + "\n"


def model_blocks() -> dict[str, str]:
    """Every generated block of docs/model.md: marker name -> text."""
    return {"schema": schema_markdown(), "top": top_markdown(),
            "outcomes": outcomes_markdown()}


# -------------------------------------------------------------------------- docs/odd.md

#: The dynamic state of one trial (``abm.model.step.TrialState``), described for the ODD
#: page. A field of ``TrialState`` missing here stops the script: a new state variable
#: must be described before the docs can be regenerated.
TRIAL_STATE = {
    "w": ("state", "share", "[0, 1]", "government willingness to host a US base"),
    "p": ("state", "share", "[0, 1]", "public support for a US military presence"),
    "s": ("state", "threat", ">= 0", "perceived threat stock from Afghan spillover; the "
          "model reads `threat = 1 - exp(-s)`"),
    "h": ("state", "switch", "bool", "a US base is present (true exactly in phases OPEN and "
          "NOTICE)"),
    "phase": ("state", "category", "FREE, TALKS, OPEN, NOTICE, COOLING",
              "the state's place in the base life-cycle"),
    "timer": ("state", "months", ">= 0", "months left in the current phase (TALKS, NOTICE, "
              "COOLING)"),
    "pulse": ("trial (region)", "pressure", ">= 0", "region-wide pressure of Russian drills, "
              "one per trial"),
}


def odd_state_markdown() -> str:
    """The dynamic state variables, in the order of ``TrialState``'s fields."""
    names = [f.name for f in fields(TrialState)]
    missing = [n for n in names if n not in TRIAL_STATE]
    if missing:
        raise SystemExit(f"schema_tables.py: describe TrialState field(s) {missing} in "
                         "TRIAL_STATE")
    rows = ["| variable | of | unit | range | meaning |", "|---|---|---|---|---|"]
    for n in names:
        of, unit, rng, meaning = TRIAL_STATE[n]
        rows.append(f"| `{n}` | {of} | {unit} | {rng} | {meaning} |")
    return "\n".join(rows) + "\n"


def odd_attributes_markdown() -> str:
    """The attributes of a state agent (``[[states]]``), and whether a shock may change them."""
    rows = ["| attribute | symbol | unit | range | default | changes in a run | meaning |",
            "|---|---|---|---|---|---|---|"]
    for key, meta, default in schema()["states"]:
        if key in SHOCK_VARIABLES:
            changes = "by a `[[shocks]]` entry"
        elif key == "hosting":
            changes = "no (it is `h` at month 0)"
        else:
            changes = "no"
        rows.append(f"| `{key}` | {_symbol(meta)} | {meta['unit']} | {_range(meta)} | "
                    f"{_default(key, default)} | {changes} | {meta['doc']} |")
    return "\n".join(rows) + "\n"


def odd_drivers_markdown() -> str:
    """The exogenous drivers: the schedule keys with a model symbol, in schema order."""
    meta_of = {(t, k): (m, d) for t, rows in schema().items() for k, m, d in rows}
    rows = ["| symbol | key | unit | range | default | meaning |",
            "|---|---|---|---|---|---|"]
    for sym, table, key in drivers():
        meta, default = meta_of[(table, key)]
        rows.append(f"| `{sym}` | `{table}.{key}` | {meta['unit']} | {_range(meta)} | "
                    f"{_default(key, default)} | {meta['doc']} |")
    return "\n".join(rows) + "\n"


def odd_parameters_markdown() -> str:
    """Every parameter that is neither a driver nor a state attribute, per table."""
    driver_keys = {(t, k) for _, t, k in drivers()}
    out = []
    for table, rows in schema().items():
        if table == "states":
            continue
        params = [r for r in rows if (table, r[0]) not in driver_keys]
        if not params:
            continue
        out.append(f"\n`[{table}]`\n")
        out.append("| key | kind | unit | range | default | meaning |")
        out.append("|---|---|---|---|---|---|")
        for key, meta, default in params:
            out.append(f"| `{table}.{key}` | {_KINDS[meta['kind']]} | {meta['unit']} | "
                       f"{_range(meta)} | {_default(key, default)} | {meta['doc']} |")
    return "\n".join(out).lstrip("\n") + "\n"


def odd_scales_markdown() -> str:
    """Time and space of a run: the month step and the horizon limits."""
    lim = limits.describe()
    return "\n".join([
        "| scale | value |",
        "|---|---|",
        "| time step | one month (every state updates at once) |",
        f"| horizon | `horizon_months` in {lim['horizon_months']}, default "
        f"{limits.DEFAULT_HORIZON} |",
        f"| trials per run | `trials` in {lim['trials']}, default {limits.DEFAULT_TRIALS} |",
        "| space | none explicit: states are nodes of an influence network; the Afghan "
        "border enters as a length (`afghan_border_km`) |",
    ]) + "\n"


def odd_init_markdown(path: Path = BASELINE) -> str:
    """The starting attributes of every state in the 2021 baseline, as the file resolves."""
    sc = load_scenario(path)
    keys = [k for k, _, _ in schema()["states"] if k not in ("id", "name")]
    rows = [f"`{path.relative_to(ROOT).as_posix()}`, as it resolves: {sc.horizon_months} "
            f"months, {sc.trials:,} trials, seed {sc.seed}.\n",
            "| id | " + " | ".join(f"`{k}`" for k in keys) + " |",
            "|---|" + "---|" * len(keys)]
    for st in sc.states:
        rows.append(f"| {st.id} | " + " | ".join(_value(getattr(st, k)) for k in keys) + " |")
    return "\n".join(rows) + "\n"


def odd_blocks() -> dict[str, str]:
    """Every generated block of docs/odd.md: marker name -> text."""
    return {"odd-scales": odd_scales_markdown(), "odd-state": odd_state_markdown(),
            "odd-attributes": odd_attributes_markdown(),
            "odd-drivers": odd_drivers_markdown(),
            "odd-parameters": odd_parameters_markdown(),
            "odd-init": odd_init_markdown(), "odd-outcomes": outcomes_markdown()}


# ------------------------------------------------------------------------------ writing

#: Each generated page and the function giving its blocks.
DOCUMENTS: dict[str, Callable[[], dict[str, str]]] = {
    "docs/model.md": model_blocks,
    "docs/odd.md": odd_blocks,
    "docs/python.md": lambda: {"paths": paths_markdown()},
}


def blocks(doc: str = "docs/model.md") -> dict[str, str]:
    """The generated blocks of one page (``docs/model.md`` by default): name -> text."""
    return DOCUMENTS[doc]()


def current(name: str, path: Path = ROOT / "docs" / "model.md") -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in a page."""
    text = path.read_text()
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise KeyError(f"{path.name} has no block {name!r} (markers {start.strip()} ... {end})")
    return text.split(start, 1)[1].split(end, 1)[0]


def write_page(path: Path, new: dict[str, str]) -> None:
    text = path.read_text()
    for name, body in new.items():
        a, rest = text.split(f"<!-- {name}:start -->\n", 1)
        b = rest.split(f"<!-- {name}:end -->", 1)[1]
        text = a + f"<!-- {name}:start -->\n" + body + f"<!-- {name}:end -->" + b
    path.write_text(text)


def write() -> None:
    """Rewrite every generated block of every page in :data:`DOCUMENTS`."""
    for doc, make in DOCUMENTS.items():
        write_page(ROOT / doc, make())


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write()
    else:
        for doc, make in DOCUMENTS.items():
            for name, body in make().items():
                sys.stdout.write(f"<!-- {doc}: {name} -->\n{body}")
