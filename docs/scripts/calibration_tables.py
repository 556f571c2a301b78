"""The calibration tables of docs/validation.md, from the shipped calibration.

    python docs/scripts/calibration_tables.py            # print the block
    python docs/scripts/calibration_tables.py --write    # replace it in docs/validation.md

Reads ``experiments/history/calibrated/summary.json`` (a copy of the shipped calibration's
directory, made by ``abm calibrate experiments/history/calibration.toml``) and writes the
posterior-predictive table of every episode and pattern (in sample and out of sample
apart) and the parameter table, between the markers ``<!-- calibration:begin -->`` and
``<!-- calibration:end -->``. tests/test_docs.py checks the block is current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "experiments" / "history" / "calibrated"
DOC = ROOT / "docs" / "validation.md"
BEGIN, END = "<!-- calibration:begin -->", "<!-- calibration:end -->"


def _p(v: float) -> str:
    if 0 < v < 0.0005:
        return f"{v:.2g}"
    if 0.9995 < v < 1:
        return f"{v:.5f}".rstrip("0")
    return f"{v:.3f}"


def _g(v: float) -> str:
    return f"{v:.3g}"


def block(summary: dict) -> str:
    s = summary
    tol = ("tolerance 0: exact" if s["exact"] else
           f"tolerance {s['final_epsilon']}: every trial may miss up to {s['final_epsilon']} "
           "recorded pattern(s) of each episode")
    out = [f"Calibration `{s['calibration_id']}` (`experiments/history/calibrated/`): "
           f"{s['population']:,} particles, {s['generations']} generations, seed {s['seed']}, "
           f"{tol}. Stopped: {s['stop_reason']}.", "",
           "Posterior-predictive check (200 parameter sets from the posterior x 50 trials "
           "per episode; the interval carries parameter uncertainty; verdict \"yes\" if it "
           "lies above 1/2):", ""]
    head = ["| episode | role | state | record | P(recorded) [95%] | param s.d. | most likely? |",
            "|---|---|---|---|---|---|---|"]
    for roles, title in ((("fitted", "not fitted", "left out"), "In sample:"),
                         (("out-of-sample",), "Out of sample (never used to choose anything):")):
        rows = [r for r in s["predictive"] if r["role"] in roles]
        if not rows:
            continue
        out += [title, "", *head]
        for r in rows:
            out.append(f"| {r['episode']} | {r['role']} | {r['state']} | {r['pattern']} | "
                       f"{_p(r['p_recorded'])} [{_p(r['ci_low'])}, {_p(r['ci_high'])}] | "
                       f"{r['param_sd']:.3f} | {r['verdict']} |")
        out.append("")
    no = [r for r in s["predictive"] if r["role"] == "fitted" and r["verdict"] != "yes"]
    out += [f"In-sample patterns not judged most likely: {len(no)} of "
            f"{sum(r['role'] == 'fitted' for r in s['predictive'])} ("
            + ", ".join(f"{r['episode']}/{r['state']} {r['pattern']}: {r['verdict']}"
                        for r in no) + ").", "",
            "Parameters, most narrowed first (width ratio = posterior 90% width / prior 90% "
            "width):", "",
            "| parameter | prior median [90%] | posterior median [90%] | width ratio |",
            "|---|---|---|---|"]
    par = s["parameters"]
    for k in sorted(par, key=lambda k: par[k]["width_ratio"] or 0.0):
        pr, po = par[k]["prior"], par[k]["posterior"]
        out.append(f"| `{k}` | {_g(pr['median'])} [{_g(pr['q05'])}, {_g(pr['q95'])}] | "
                   f"{_g(po['median'])} [{_g(po['q05'])}, {_g(po['q95'])}] | "
                   f"{par[k]['width_ratio']:.2f} |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = block(json.loads((SHIPPED / "summary.json").read_text()))
    if "--write" not in argv:
        print(text)
        return 0
    doc = DOC.read_text()
    a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:a] + "\n" + text + "\n" + doc[b:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
