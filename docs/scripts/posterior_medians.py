"""The baseline's calibrated values: the weighted posterior medians of the shipped calibration.

`experiments/baseline_2021.toml` takes its `[dynamics]` keys and stance coefficients from
the calibration shipped in `experiments/history/calibrated/` (docs/calibration.md): each is
the weighted marginal median of the posterior, as `summary.json` gives it (ABC gives no
MAP), to 4 significant digits; whole-month keys are rounded to the nearest month (halves
up, as a particle is applied). This script writes them into the file, with the
calibration's id in the comments, or checks that the file holds them (a test does).

Usage (from the repository root)::

    .venv/bin/python docs/scripts/posterior_medians.py          # print the values
    .venv/bin/python docs/scripts/posterior_medians.py --check  # exit 1 if the file differs
    .venv/bin/python docs/scripts/posterior_medians.py --write  # rewrite the baseline
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CALIBRATED = ROOT / "experiments" / "history" / "calibrated"
BASELINE = ROOT / "experiments" / "baseline_2021.toml"
_ID = re.compile(r"calibration [0-9a-f]{12}")


def medians() -> tuple[str, dict[str, dict[str, str]]]:
    """The calibration id and, per table, key -> the value as written in TOML."""
    summary = json.loads((CALIBRATED / "summary.json").read_text(encoding="utf-8"))
    out: dict[str, dict[str, str]] = {}
    for key, row in summary["parameters"].items():
        table, name = key.split(".", 1)
        m = float(row["posterior"]["median"])
        whole = bool(row["prior"].get("whole"))
        out.setdefault(table, {})[name] = (str(int(math.floor(m + 0.5))) if whole
                                           else f"{m:.4g}")
    return summary["calibration_id"], out


def rewritten(text: str) -> str:
    """``text`` (the baseline) with every calibrated key's value and the calibration id in
    its comments replaced."""
    cid, values = medians()
    lines, table, seen = [], None, set()
    for line in text.splitlines(keepends=True):
        head = re.match(r"^\[([A-Za-z_.]+)\]", line)
        if head:
            table = head.group(1)
        m = re.match(r"^([A-Za-z_]+)(\s*=\s*)([^#\n]*?)([ \t]*)(#.*)?(\n?)$", line)
        if m and table in values and m.group(1) in values[table]:
            value = values[table][m.group(1)]
            comment = m.group(5) or ""
            pad = m.group(4) if comment else ""
            if comment:  # keep the column of the comment where the value's width allows
                width = len(m.group(3)) + len(m.group(4))
                pad = " " * max(1, width - len(value))
            line = f"{m.group(1)}{m.group(2)}{value}{pad}{comment}{m.group(6)}"
            seen.add((table, m.group(1)))
        lines.append(_ID.sub(f"calibration {cid}", line))
    missing = [f"{t}.{k}" for t, ks in values.items() for k in ks if (t, k) not in seen]
    if missing:
        raise SystemExit(f"{BASELINE}: no line for {', '.join(missing)}")
    return "".join(lines)


def main(argv: list[str]) -> int:
    text = BASELINE.read_text(encoding="utf-8")
    new = rewritten(text)
    if "--write" in argv:
        BASELINE.write_text(new, encoding="utf-8")
        return 0
    if "--check" in argv:
        if new != text:
            print(f"{BASELINE.relative_to(ROOT)} does not hold the posterior medians of "
                  f"{CALIBRATED.relative_to(ROOT)}; run: python "
                  "docs/scripts/posterior_medians.py --write")
            return 1
        return 0
    cid, values = medians()
    print(f"calibration {cid}")
    for table, kv in values.items():
        for k, v in kv.items():
            print(f"{table}.{k} = {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
