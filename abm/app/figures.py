"""The explorer's charts, as matplotlib figures (no pyplot: safe in server threads)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .logic import survival

__all__ = ["p_base_figure", "fan_figure", "survival_figure", "difference_figure",
           "network_figure", "COLORS"]

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf"]


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def p_base_figure(rows: list[dict[str, Any]]) -> Figure:
    """P(base) per state with its 95% Wilson interval; the unchanged scenario as ticks."""
    fig = Figure(figsize=(5.2, 3.2), layout="constrained")
    ax = fig.subplots()
    ids = [r["state"] for r in rows]
    x = np.arange(len(rows))
    p = np.array([r["p_base"] for r in rows])
    err = np.array([[r["p_base"] - r["ci_low"] for r in rows],
                    [r["ci_high"] - r["p_base"] for r in rows]])
    ax.bar(x, p, color=[_color(i) if s != "any" else "#444444" for i, s in enumerate(ids)],
           alpha=0.85, yerr=err, capsize=4, label="this page")
    ax.scatter(x, [r["p_base0"] for r in rows], marker="_", s=400, color="black",
               zorder=3, label="unchanged scenario")
    ax.set_xticks(x, ids)
    ax.set_ylabel("P(base) within horizon")
    ax.set_ylim(0, max(0.05, float(np.max([r["ci_high"] for r in rows])) * 1.15))
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("P(base), 95% Wilson interval", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def fan_figure(months: Any, state_ids: tuple[str, ...], threshold: float | None = None
               ) -> Figure:
    """Willingness per state by month: median, 25-75% and 5-95% bands."""
    n = len(state_ids)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(7.2, 2.0 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    for i, sid in enumerate(state_ids):
        ax = axes[i]
        m = months[months["state"] == sid]
        t = m["month"].to_numpy()
        c = _color(i)
        ax.fill_between(t, m["w_q05"], m["w_q95"], color=c, alpha=0.18, lw=0)
        ax.fill_between(t, m["w_q25"], m["w_q75"], color=c, alpha=0.35, lw=0)
        ax.plot(t, m["w_q50"], color=c, lw=1.5)
        if threshold is not None:
            ax.axhline(threshold, color="black", lw=0.6, ls=":")
        ax.set_title(sid, fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.supxlabel("month", fontsize=9)
    fig.supylabel("willingness", fontsize=9)
    fig.suptitle("Willingness: median, 25-75% and 5-95% of trials", fontsize=10)
    return fig


def survival_figure(result: Any) -> Figure:
    """Share of trials with no base yet, by month, per state."""
    fig = Figure(figsize=(5.2, 3.2), layout="constrained")
    ax = fig.subplots()
    for i, (sid, s) in enumerate(survival(result).items()):
        ax.step(np.arange(len(s)), s, where="post", color=_color(i), label=sid)
    ax.set_xlabel("month")
    ax.set_ylabel("P(no base yet)")
    lo = min(float(np.min(s)) for s in survival(result).values())
    ax.set_ylim(max(0.0, lo - 0.05), 1.005)
    ax.legend(fontsize=8, ncols=3)
    ax.grid(alpha=0.3)
    ax.set_title("Survival of time to first base", fontsize=10)
    return fig


def difference_figure(rows: list[dict[str, Any]]) -> Figure:
    """Paired difference in P(base) from the unchanged scenario, 95% interval."""
    fig = Figure(figsize=(5.2, 3.2), layout="constrained")
    ax = fig.subplots()
    ids = [r["state"] for r in rows]
    y = np.arange(len(rows))[::-1]
    d = np.array([r["delta"] for r in rows])
    err = np.array([[r["delta"] - r["d_low"] for r in rows],
                    [r["d_high"] - r["delta"] for r in rows]])
    colors = ["#2ca02c" if v > 0 else "#d62728" if v < 0 else "#777777" for v in d]
    ax.errorbar(d, y, xerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    ax.scatter(d, y, color=colors, zorder=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, ids)
    span = max(0.01, float(np.max(np.abs([r["d_low"] for r in rows] +
                                         [r["d_high"] for r in rows]))) * 1.15)
    ax.set_xlim(-span, span)
    ax.xaxis.set_major_locator(MaxNLocator(5, symmetric=True))
    ax.set_xlabel("change in P(base) (paired trials)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Difference from the unchanged scenario, 95% interval", fontsize=10)
    return fig


def network_figure(model: Any) -> Figure:
    """The states as the influence network, coloured by willingness; hosts ringed, vetoes
    marked."""
    import matplotlib as mpl
    import networkx as nx

    fig = Figure(figsize=(5.0, 4.2), layout="constrained")
    ax = fig.subplots()
    G = model.grid.G
    pos = nx.circular_layout(sorted(G.nodes))
    cmap = mpl.colormaps["RdYlGn"]
    norm = mpl.colors.Normalize(0, 1)
    for u, v, data in G.edges(data=True):
        (x0, y0), (x1, y1) = pos[u], pos[v]
        ax.plot([x0, x1], [y0, y1], color="#999999", lw=0.4 + 3 * data.get("weight", 0.1),
                alpha=0.35, zorder=1)
    for agent in model.states:
        x, y = pos[agent.index]
        ax.scatter([x], [y], s=1300, color=cmap(norm(agent.w)), edgecolors="black",
                   linewidths=0.8, zorder=2)
        if agent.h:
            ax.scatter([x], [y], s=2100, facecolors="none", edgecolors="#1f3a93",
                       linewidths=3.5, zorder=3)
        ax.text(x, y + 0.02, agent.id, ha="center", va="center", fontsize=9,
                weight="bold", zorder=4)
        ax.text(x, y - 0.09, f"{agent.w:.2f}", ha="center", va="center", fontsize=7,
                zorder=4)
        marks = []
        if agent.h:
            marks.append("US base")
        if agent.vetoes:
            marks.append(f"vetoed x{agent.vetoes}")
        if marks:
            ax.text(x, y - 0.27, ", ".join(marks), ha="center", va="center", fontsize=8,
                    color="#b00020" if agent.vetoes else "#1f3a93", weight="bold", zorder=4)
    ax.set_xlim(-1.45, 1.45)
    ax.set_ylim(-1.45, 1.35)
    ax.set_aspect("equal")
    ax.axis("off")
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, shrink=0.7, label="willingness w")
    ax.set_title(f"Trial {model.trial}, start of month {model.month}", fontsize=10)
    return fig
