"""The historical check's figure (``abm validate-history --figure``): the model's
probability of each recorded outcome, per state and episode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .style import (
    _DPI,
    _FIGSIZE,
    _LABEL_SIZE,
    _NOTE_COLOUR,
    _PALETTE,
    _SMALL_SIZE,
    _TICK_SIZE,
    _TITLE_SIZE,
    _yerr,
)

__all__ = ["build_history_figure", "draw_history"]


def build_history_figure(rows: Sequence[Any], *, trials: int) -> Figure:
    """Bar chart of the model's probability of the recorded outcome, per state and episode.

    ``rows`` are :class:`abm.analysis.history.HistoryRow` (``scenario``, ``state``,
    ``recorded``, ``p_recorded``, ``ci_low``, ``ci_high``); ``trials`` is the number of
    trials per episode, named in the subtitle. A dashed line at 1/2 marks "most likely".
    One bar container and one errorbar container per episode, in the order of ``rows``.
    """
    episodes = list(dict.fromkeys(r.scenario for r in rows))

    def cat(r: Any) -> str:  # one category per state and pattern (named patterns)
        pat = getattr(r, "pattern", "")
        return f"{r.state}\n{pat}" if pat else r.state

    states = list(dict.fromkeys(cat(r) for r in rows))
    by = {(r.scenario, cat(r)): r for r in rows}
    fig = Figure(figsize=_FIGSIZE, dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(len(episodes), 1)
    x = np.arange(len(states), dtype=float)
    for k, ep in enumerate(episodes):
        xs, p, lo, hi, labels = [], [], [], [], []
        for i, sid in enumerate(states):
            r = by.get((ep, sid))
            if r is None:
                continue
            xs.append(x[i] - 0.4 + width * (k + 0.5))
            p.append(r.p_recorded)
            lo.append(r.ci_low)
            hi.append(r.ci_high)
            labels.append("" if getattr(r, "pattern", "") else
                          "record: " + ("base" if r.recorded else "none"))
        pa, loa, hia = np.array(p), np.array(lo), np.array(hi)
        colour = _PALETTE[k % len(_PALETTE)]
        ax.bar(xs, pa, width * 0.92, color=colour, label=f"{ep}")
        ax.errorbar(xs, pa, yerr=_yerr(pa, loa, hia), fmt="none", ecolor="black",
                    capsize=3, lw=1)
        for xi, pi, hii, lab in zip(xs, pa, hia, labels, strict=True):
            ax.text(xi, hii + 0.015, f"{pi:.2f}", ha="center", va="bottom",
                    fontsize=_SMALL_SIZE)
            ax.text(xi, 0.03, lab, ha="center", va="bottom", rotation=90,
                    fontsize=_SMALL_SIZE, color="white", fontweight="bold")
    ax.axhline(0.5, color="0.3", ls="--", lw=1, label="1/2: above it, the record is the "
               "most likely outcome")
    many = len(states) > 8
    ax.set_xticks(x, states, fontsize=_SMALL_SIZE if many else _TICK_SIZE,
                  rotation=90 if many else 0)
    if many:
        fig.set_size_inches(max(_FIGSIZE[0], 0.35 * len(states)), _FIGSIZE[1] * 1.6)
    ax.set_ylim(0, 1.1)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("model probability of the recorded outcome", fontsize=_LABEL_SIZE)
    ax.set_xlabel("state (record: base = a US base within the horizon, none = no base)",
                  fontsize=_LABEL_SIZE)
    fig.suptitle("Does the model reproduce what happened?", fontsize=_TITLE_SIZE,
                 fontweight="bold")
    ax.set_title(f"{', '.join(episodes)} · {trials:,} trials per episode · whiskers: 95% "
                 "Wilson intervals", fontsize=_SMALL_SIZE, color=_NOTE_COLOUR)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=_SMALL_SIZE,
              ncols=3, frameon=False)
    return fig


def draw_history(rows: Sequence[Any], path: str | Path, *, trials: int) -> Path:
    """Write the figure of :func:`build_history_figure` as a PNG file at ``path``.

    The parent directory is created if missing; an existing file is overwritten.
    """
    path = Path(path)
    fig = build_history_figure(rows, trials=trials)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
