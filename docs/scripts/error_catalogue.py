"""The scenario-file messages of ``docs/errors.md``, generated from the bad-input corpus.

Every file in ``tests/corpus/bad/`` is one bad scenario; this script loads each and prints
the message it gets, grouped by kind, so the list in the docs is the real output.
``tests/test_corpus.py`` checks that ``docs/errors.md`` holds exactly this text.

Usage::

    .venv/bin/python docs/scripts/error_catalogue.py          # print the block
    .venv/bin/python docs/scripts/error_catalogue.py --write  # rewrite docs/errors.md
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from abm.errors import ConfigError
from abm.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "bad"
DOC = ROOT / "docs" / "errors.md"
BEGIN, END = "<!-- corpus:start -->", "<!-- corpus:end -->"

#: File-name prefix -> heading, in the order the docs show them.
GROUPS = [
    ("malformed_", "Malformed TOML (the parser's line and column)"),
    ("unknown_", "Unknown keys (with a suggestion)"),
    ("type_", "Wrong types"),
    ("range_", "Values out of range"),
    ("trials_", "Trials"),
    ("horizon_", "Horizon"),
    ("seed_", "Seed"),
    ("nan_", "NaN"),
    ("inf_", "Infinity"),
    ("schedule_", "Schedules"),
    ("edge", "Network edges"),
    ("shock_", "Shocks"),
    ("record_", "Record"),
    ("states_", "The state list"),
    ("extends_", "extends"),
    ("name_", "Names (a name becomes a folder under results/)"),
]


def message(path: Path) -> str:
    """The one-line error for a corpus file, with this checkout's path removed."""
    try:
        load_scenario(path)
    except ConfigError as exc:
        return str(exc).replace(f"{ROOT}/", "")
    raise AssertionError(f"{path.name} was accepted; a corpus file must be refused")


def _what(path: Path) -> str:
    """The file's own description: its second line if that is a comment, else ''."""
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    return lines[1].lstrip("# ").strip() if len(lines) > 1 and lines[1].startswith("#") else ""


def catalogue() -> str:
    # messages show paths relative to the working directory: generate them from the
    # repository root, wherever the script is called from
    with contextlib.chdir(ROOT):
        return _catalogue()


def _catalogue() -> str:
    files = sorted(CORPUS.glob("*.toml"))
    out, seen = [], set()
    for prefix, title in GROUPS:
        group = [p for p in files if p.name.startswith(prefix) and p not in seen]
        if not group:
            continue
        out.append(f"\n#### {title}\n")
        for p in group:
            seen.add(p)
            what = _what(p)
            out.append(f"- `{p.name}`{f' ({what})' if what else ''}:  \n  `{message(p)}`")
    rest = [p for p in files if p not in seen]
    if rest:
        out.append("\n#### Other\n")
        out += [f"- `{p.name}`:  \n  `{message(p)}`" for p in rest]
    return "\n".join(out).lstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    block = catalogue()
    if "--write" not in argv:
        print(block, end="")
        return 0
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN + "\n", 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + BEGIN + "\n" + block + END + tail, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
