"""How much each named driver moves the 2021 baseline: the table of docs/validation.md.

For every driver of the 2021 baseline (`experiments/baseline_2021.toml`), the scenario is
run again with that driver switched off (and the US levers also at their maximum), with
the same seed and trials, so every trial is paired with itself (common random numbers).
The table gives the change in P(a base somewhere within the horizon) and in P(a base at
the horizon), each with Newcombe's paired score interval, and the state whose P(base)
moves most. This measures the model as it is; nothing is tuned to make a driver matter.

Usage (from the repository root; about a minute)::

    .venv/bin/python docs/scripts/driver_effects.py          # print the table
    .venv/bin/python docs/scripts/driver_effects.py --write  # rewrite docs/validation.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from abm.analysis.formats import fmt_prob
from abm.analysis.stats import newcombe_paired
from abm.experiment.simulate import simulate
from abm.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "experiments" / "baseline_2021.toml"
DOC = ROOT / "docs" / "validation.md"
BEGIN, END = "<!-- drivers:start -->", "<!-- drivers:end -->"
TRIALS, SEED = 20_000, 2021

#: (driver, what is changed, overrides)
CASES = [
    ("Russian pressure", "R(t) = 0", ["russia.pressure=0"]),
    ("reactive pressure", "reactive_gain = 0", ["russia.reactive_gain=0"]),
    ("drills", "drill_rate = 0", ["russia.drill_rate=0"]),
    ("veto (CSTO consent)", "veto_strength = 0", ["russia.veto_strength=0"]),
    ("consent rule", "consent_rule = false", ["csto.consent_rule=false"]),
    ("Russian campaign", "C_R(t) = 0", ["russia.campaign=0"]),
    ("Russian inducements", "I_R(t) = 0", ["russia.inducements=0"]),
    ("hosting penalty", "hosting_penalty = 0", ["russia.hosting_penalty=0"]),
    ("spillover", "rate = 0", ["spillover.rate=0"]),
    ("US demand", "D(t) = 1", ["us.demand=1"]),
    ("US incentives", "I_US(t) = 0", ["us.incentives=0"]),
    ("US incentives", "I_US(t) = 1", ["us.incentives=1"]),
    ("US campaign", "C_US(t) = 0", ["us.campaign=0"]),
    ("US campaign", "C_US(t) = 1", ["us.campaign=1"]),
    ("all Russian levers", "R, reactive, drills, veto, C_R, I_R, penalty = 0",
     ["russia.pressure=0", "russia.reactive_gain=0", "russia.drill_rate=0",
      "russia.veto_strength=0", "russia.campaign=0", "russia.inducements=0",
      "russia.hosting_penalty=0"]),
]


def indicators(res) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    S = len(res.scenario.states)
    got = res.table["first_base_month"].notna().to_numpy().reshape(-1, S)
    end = res.table["final_h"].to_numpy(dtype=bool).reshape(-1, S)
    return got, got.any(axis=1), end.any(axis=1)


def ci(t: tuple[float, float, float]) -> str:
    d, lo, hi = t
    return f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def table() -> str:
    base = simulate(load_scenario(BASELINE), trials=TRIALS, seed=SEED)
    ids = base.scenario.state_ids
    g0, any0, end0 = indicators(base)
    lines = [
        f"`{BASELINE.relative_to(ROOT)}`, {TRIALS:,} trials, seed {SEED}; each row is the "
        "same trials with one change (paired), Newcombe's 95% score interval. Baseline: "
        f"P(any base) {fmt_prob(float(any0.mean()))}, P(a base at the horizon) "
        f"{fmt_prob(float(end0.mean()))}.",
        "",
        "| driver | change | Δ P(any base) [95% CI] | Δ P(base at horizon) [95% CI] | "
        "largest state change |",
        "|---|---|---|---|---|",
    ]
    for name, what, over in CASES:
        res = simulate(load_scenario(BASELINE, over), trials=TRIALS, seed=SEED)
        g, anyb, end = indicators(res)
        per = [newcombe_paired(g0[:, i], g[:, i]) for i in range(len(ids))]
        k = int(np.argmax([abs(p[0]) for p in per]))
        top = f"{ids[k]} {ci(per[k])}" if per[k][0] != 0 else "none"
        lines.append(f"| {name} | {what} | {ci(newcombe_paired(any0, anyb))} | "
                     f"{ci(newcombe_paired(end0, end))} | {top} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    block = table()
    if "--write" not in argv:
        print(block, end="")
        return 0
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text:
        text = text.rstrip("\n") + "\n\n## How much each driver moves the 2021 baseline\n\n" \
            + __doc__.split("\n\n")[1].replace("\n", " ").strip() + "\n\n" + BEGIN + "\n" \
            + END + "\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + BEGIN + "\n" + block + END + tail, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
