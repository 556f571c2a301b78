"""The leave-one-episode-out table of docs/validation.md, from the calibrations made with
``--leave-out``.

Each in-sample episode of the shipped calibration file is left out in turn::

    abm calibrate experiments/history/calibration.toml --leave-out EPISODE --out DIR/EPISODE

(the documented settings; 10 to 17 minutes each on this machine). This script reads the
five result directories and writes the rows of the left-out episode's patterns under the
posterior fitted without it.

Usage (from the repository root)::

    .venv/bin/python docs/scripts/loo_table.py DIR           # print the table
    .venv/bin/python docs/scripts/loo_table.py DIR --write   # rewrite docs/validation.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from abm.analysis.formats import fmt_prob_ci

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "validation.md"
BEGIN, END = "<!-- loo:begin -->", "<!-- loo:end -->"
EPISODES = ("opening_2001", "long_run_2002_2011", "shamsi_2011", "manas_2013_2014",
            "refusals_2021")


def block(folder: Path) -> str:
    rows, seeds, ids = [], set(), []
    for ep in EPISODES:
        s = json.loads((folder / ep / "summary.json").read_text(encoding="utf-8"))
        if s["left_out"] != [ep] or s.get("quick"):
            raise SystemExit(f"{folder / ep}: not the documented calibration leaving out {ep}")
        seeds.add(s["seed"])
        ids.append(f"{ep} `{s['calibration_id']}`")
        for r in s["predictive"]:
            if r["role"] != "left out":
                continue
            rows.append(f"| {ep} | {s['final_epsilon']} | {r['state']} | {r['pattern']} | "
                        f"{fmt_prob_ci(r['p_recorded'], r['ci_low'], r['ci_high'])} | "
                        f"{r['verdict']} |")
    head = ("Produced by `abm calibrate experiments/history/calibration.toml --leave-out "
            f"EPISODE` for each in-sample episode (the documented settings, seed "
            f"{', '.join(map(str, sorted(seeds)))}; calibrations {', '.join(ids)}):\n\n"
            "| left out | fit's final tolerance | state | record | P(recorded) [95%] | "
            "most likely? |\n|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(rows)


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    text = block(Path(argv[0]))
    if "--write" in argv:
        doc = DOC.read_text(encoding="utf-8")
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOC.write_text(doc[:a] + "\n" + text + "\n" + doc[b:], encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
