"""The sweeps' calibrated ranges: the posterior 90% intervals of the shipped calibration.

`experiments/global_sobol.toml` and `experiments/discovery_lhs_2021.toml` vary the 2021
baseline's uncertain keys. For every swept key that the calibration shipped in
`experiments/history/calibrated/` fits (its `summary.json` -> `parameters`: the
`[dynamics]` keys and the stance coefficients), the range is that key's weighted posterior
90% interval, `q05` to `q95`, rounded outward to 3 significant figures (so the interval
is inside the range), as the baseline takes the posterior's medians
(docs/scripts/posterior_medians.py). The whole-month keys (`negotiation_months`,
`notice_months`, `cooling_months`) cannot be sampled (a sweep takes them as grid values
only), so these sampled designs leave them at the baseline's medians. Every other
swept key's range (drivers, state attributes) is an assumption; the script checks that
each such range contains the baseline's value (every value of a schedule).

This script writes the calibrated ranges into both files, with the calibration's id in
their comments and, where a key's header line has a comment, that comment regenerated
(``range: ...; baseline ...``), or checks that the files hold them (a test does).

Usage (from the repository root)::

    .venv/bin/python docs/scripts/posterior_ranges.py          # print the ranges
    .venv/bin/python docs/scripts/posterior_ranges.py --check  # exit 1 if a file differs
    .venv/bin/python docs/scripts/posterior_ranges.py --write  # rewrite both files
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CALIBRATED = ROOT / "experiments" / "history" / "calibrated"
BASELINE = ROOT / "experiments" / "baseline_2021.toml"
FILES = (ROOT / "experiments" / "global_sobol.toml",
         ROOT / "experiments" / "discovery_lhs_2021.toml")
_ID = re.compile(r"calibration [0-9a-f]{12}")
_HEAD = re.compile(r'^\[sweep\.parameters\."([^"]+)"\][ \t]*(#.*)?$')
_BOUND = re.compile(r"^(low|high)(\s*=\s*)(\S+)[ \t]*$")


def outward(x: float, up: bool, digits: int = 3) -> str:
    """``x`` rounded to ``digits`` significant figures, up (towards +inf) or down."""
    d = Decimal(repr(x))
    if d == 0:
        return "0.0"
    quantum = Decimal(1).scaleb(d.adjusted() - digits + 1)
    r = d.quantize(quantum, rounding=ROUND_CEILING if up else ROUND_FLOOR)
    text = format(r.normalize(), "f")
    return text if "." in text else text + ".0"


def ranges() -> tuple[str, dict[str, tuple[str, str, str]]]:
    """The calibration id and, per calibrated key that can be sampled, (low, high, median)
    as written in TOML; whole-month keys are left out (a sweep cannot sample them)."""
    summary = json.loads((CALIBRATED / "summary.json").read_text(encoding="utf-8"))
    out = {}
    for key, row in summary["parameters"].items():
        if row["prior"].get("whole"):
            continue
        post = row["posterior"]
        out[key] = (outward(float(post["q05"]), up=False),
                    outward(float(post["q95"]), up=True), f"{float(post['median']):.4g}")
    return summary["calibration_id"], out


def baseline_value(key: str) -> float | list[float]:
    """The baseline's value of ``key`` (a dotted sweep key); a schedule's values as a list."""
    data = tomllib.loads(BASELINE.read_text(encoding="utf-8"))
    parts = key.split(".")
    if parts[0] == "states":
        node = next(s for s in data["states"] if s["id"] == parts[1])
        value = node.get(parts[2], 0.0)
    else:
        node = data
        for p in parts[:-1]:
            node = node[p]
        value = node[parts[-1]]
    if isinstance(value, list):
        return [float(v) for _, v in value]
    return float(value)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def describe(key: str, calibrated: dict) -> str:
    """The comment of ``key``'s header line: where its range comes from, and the baseline."""
    v = baseline_value(key)
    base = (f"a schedule over {_fmt(min(v))}-{_fmt(max(v))}" if isinstance(v, list)
            else _fmt(v))
    if key in calibrated:
        return f"# range: posterior 90% interval; baseline {base} (its median)"
    return f"# range: assumption; baseline {base}"


def swept(text: str) -> dict[str, tuple[float, float]]:
    """Each swept key of a sweep file's text -> (low, high)."""
    spec = tomllib.loads(text)["sweep"]["parameters"]
    return {k: (float(v["low"]), float(v["high"])) for k, v in spec.items() if "low" in v}


def rewritten(text: str) -> str:
    """``text`` (a sweep file) with every calibrated key's low and high, the calibration id
    in its comments and the comments of its keys' header lines replaced."""
    cid, calibrated = ranges()
    lines, key = [], None
    for line in text.splitlines(keepends=True):
        end = "\n" if line.endswith("\n") else ""
        body = line[:len(line) - len(end)]
        head = _HEAD.match(body)
        if head:
            key = head.group(1)
            if head.group(2):
                body = f'[sweep.parameters."{key}"]  {describe(key, calibrated)}'
        bound = _BOUND.match(body)
        if bound and key in calibrated:
            lo, hi, _ = calibrated[key]
            body = f"{bound.group(1)}{bound.group(2)}{lo if bound.group(1) == 'low' else hi}"
        lines.append(_ID.sub(f"calibration {cid}", body) + end)
    return "".join(lines)


def outside(text: str) -> list[str]:
    """The swept keys whose range does not contain the baseline's value (every value of a
    schedule), each as "key: range vs baseline"."""
    bad = []
    for key, (lo, hi) in swept(text).items():
        v = baseline_value(key)
        vals = v if isinstance(v, list) else [v]
        if not all(lo <= x <= hi for x in vals):
            bad.append(f"{key}: range {lo}-{hi}, baseline {v}")
    return bad


def main(argv: list[str]) -> int:
    status = 0
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        new = rewritten(text)
        rel = path.relative_to(ROOT)
        if "--write" in argv:
            path.write_text(new, encoding="utf-8")
        elif "--check" in argv and new != text:
            print(f"{rel} does not hold the posterior 90% intervals of "
                  f"{CALIBRATED.relative_to(ROOT)}; run: python "
                  "docs/scripts/posterior_ranges.py --write")
            status = 1
        for line in outside(new):
            print(f"{rel}: the range does not contain the baseline's value: {line}")
            status = 1
    if "--write" in argv or "--check" in argv:
        return status
    cid, calibrated = ranges()
    print(f"calibration {cid} (posterior 90% intervals, rounded outward)")
    for key, (lo, hi, med) in calibrated.items():
        print(f"{key} = {lo} .. {hi} (median {med})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
