"""The counterfactual comparison's figure (``abm compare``): the paired change in P(base)
of each scenario against the base, per state and anywhere, with its 95% interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..analysis.formats import fmt_prob
from .style import _ANY_COLOUR, _LABEL_SIZE, _PALETTE, _SMALL_SIZE, _TICK_SIZE, _new_figure, _save

__all__ = ["build_compare_figure", "draw_compare"]


class _Ctx:
    def __init__(self, footer: str):
        self.footer = footer


def build_compare_figure(cmp: dict[str, Any]) -> Figure:
    """Dot-and-whisker chart of the paired differences ``P(scenario) - P(base)``.

    One row per state (and "any"), one marker per compared scenario, horizontal whiskers
    for the interval of each row of ``cmp["rows"]`` (``delta``, ``ci_low``, ``ci_high``);
    a vertical line at zero (no change).
    """
    states = [*cmp["p_base"], "any"]
    names = list(dict.fromkeys(r["scenario"] for r in cmp["rows"]))
    by = {(r["scenario"], r["state"]): r for r in cmp["rows"]}
    footer = _footer(cmp)
    note = ("Difference in the probability of a US base within the horizon, trial by trial "
            "(common random numbers);\nwhiskers: 95% paired score interval (Newcombe 1998); "
            "right: P(base) of the base.")
    if cmp.get("overrides"):
        note += f"\nIn every scenario: {', '.join(cmp['overrides'])[:110]}"
    height = max(3.8, 1.6 + 0.45 * len(states) * max(1, len(names)) ** 0.5)
    fig, main = _new_figure(_Ctx(footer), f"Change in P(base) against {cmp['base']}", note,
                            height=height)
    ax = main.add_subplot()
    n = max(len(names), 1)
    step = 0.7 / n
    y = np.arange(len(states), dtype=float)[::-1]
    for k, name in enumerate(names):
        colour = _PALETTE[k % len(_PALETTE)]
        off = (k - (n - 1) / 2) * step
        for j, sid in enumerate(states):
            r = by.get((name, sid))
            if r is None:
                continue
            yy = y[j] - off
            ax.errorbar([r["delta"]], [yy], xerr=[[r["delta"] - r["ci_low"]],
                                                   [r["ci_high"] - r["delta"]]],
                        fmt="o", color=colour, ecolor=colour, capsize=3, lw=1.4, ms=5,
                        label=name if j == 0 else None)
    ax.axvline(0.0, color=_ANY_COLOUR, lw=0.9, ls="--")
    ax.set_yticks(y, [s if s != "any" else "any state" for s in states],
                  fontsize=_TICK_SIZE)
    ax.set_xlabel("change in P(base): scenario minus base", fontsize=_LABEL_SIZE)
    ax.tick_params(axis="x", labelsize=_TICK_SIZE)
    lo = min([r["ci_low"] for r in cmp["rows"]] + [0.0])
    hi = max([r["ci_high"] for r in cmp["rows"]] + [0.0])
    pad = max(0.05 * (hi - lo), 1e-3)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(-0.6, len(states) - 0.4)
    ax.grid(True, axis="x", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    for j, sid in enumerate(states):
        ax.annotate(f"base {fmt_prob(cmp['p_base'][sid] if sid != 'any' else cmp['any_base'])}",
                    (1.0, y[j]), xycoords=("axes fraction", "data"), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=_SMALL_SIZE,
                    color="0.3")
    main.legend(loc="outside upper center", fontsize=_SMALL_SIZE, frameon=False,
                ncols=min(max(len(names), 1), 3))
    return fig


def _footer(cmp: dict[str, Any]) -> str:
    return f"abm compare · {cmp['trials']:,} paired trials · seed {cmp['seed']}"


def draw_compare(cmp: dict[str, Any], path: str | Path) -> Path:
    """Write :func:`build_compare_figure` as a PNG at ``path`` (parent created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = build_compare_figure(cmp)
    return _save(fig, path, _footer(cmp))
