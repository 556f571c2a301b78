"""The key tables of ``docs/model.md`` and ``docs/odd.md``, generated from the schema.

The scenario schema is the metadata of the dataclass fields in ``abm/scenario/schema.py``;
this script prints it as Markdown tables. ``docs/model.md`` holds the text between
``<!-- schema:start -->`` and ``<!-- schema:end -->``; ``tests/test_docs.py`` checks that
it is equal, and ``make docs`` (``--write``) rewrites it.

Usage::

    .venv/bin/python docs/scripts/schema_tables.py          # print the tables
    .venv/bin/python docs/scripts/schema_tables.py --write  # rewrite docs/model.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from abm import limits
from abm.model.outcomes import outcomes_markdown
from abm.scenario.schema import schema

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- schema:start -->\n", "<!-- schema:end -->"
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
    ]) + "\n"


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
            kind = {"schedule": "number or schedule", "float": "number",
                    "whole": "whole number", "bool": "bool",
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


def blocks() -> dict[str, str]:
    """Every generated block of docs/model.md: marker name -> text."""
    return {"schema": schema_markdown(), "top": top_markdown(),
            "outcomes": outcomes_markdown()}


def current(name: str, path: Path = ROOT / "docs" / "model.md") -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in the docs."""
    text = path.read_text()
    return text.split(f"<!-- {name}:start -->\n", 1)[1].split(f"<!-- {name}:end -->", 1)[0]


def write(path: Path = ROOT / "docs" / "model.md") -> None:
    text = path.read_text()
    for name, body in blocks().items():
        a, rest = text.split(f"<!-- {name}:start -->\n", 1)
        b = rest.split(f"<!-- {name}:end -->", 1)[1]
        text = a + f"<!-- {name}:start -->\n" + body + f"<!-- {name}:end -->" + b
    path.write_text(text)


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write()
    else:
        for name, body in blocks().items():
            sys.stdout.write(f"<!-- {name} -->\n{body}")
