"""The heatmap of a parameter sweep over a grid of exactly two parameters
(``heatmap_<p1>_x_<p2>.png``, drawn by :func:`abm.plots.sweep.draw_sweep_figures`):
P(base) anywhere and per state over the grid, one colour scale for every panel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .style import (
    _LABEL_SIZE,
    _NOTE_COLOUR,
    _SMALL_SIZE,
    _TICK_SIZE,
    _fmt_p,
    _fmt_value,
    _grid,
    _ink,
    _num,
    _panel_title,
    _plural,
    _probability_top,
    _small_multiples,
    _state_zero_note,
    _sweep_figure,
    _SweepContext,
)

_SEQ_CMAP = "viridis"  # perceptually uniform and readable under colour-vision deficiencies
_MAX_ANNOTATED = 12  # heatmap cells are annotated up to 12 x 12


def _fig_heatmap(ctx: _SweepContext, points: pd.DataFrame, k1: str,
                 k2: str) -> Figure:
    """P(base) over a two-parameter grid: ``k1`` across, ``k2`` up; one scale for all."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    H = ctx.horizon
    v1 = sorted(pd.unique(points[k1].to_numpy()).tolist())
    v2 = sorted(pd.unique(points[k2].to_numpy()).tolist())
    i1 = {v: i for i, v in enumerate(v1)}
    i2 = {v: i for i, v in enumerate(v2)}
    r1 = points[k1].map(i1).to_numpy(dtype=int)
    r2 = points[k2].map(i2).to_numpy(dtype=int)

    def table(column: str) -> np.ndarray:
        z = np.full((len(v2), len(v1)), np.nan)
        z[r2, r1] = _num(points, column)
        return z

    z_any = table("any_base.p")
    z_states = {sid: table(f"{sid}.p_base") for sid in ctx.ids}
    vmax = _probability_top([np.nanmax(z_any), *(np.nanmax(z) for z in z_states.values())],
                            headroom=1.0)
    norm = Normalize(0.0, vmax)
    cmap = colormaps[_SEQ_CMAP]
    annotate = max(len(v1), len(v2)) <= _MAX_ANNOTATED

    title = f"Probability of a US base within {_plural(H, 'month')} over {k1} and {k2}"
    lines = ["Each cell: one grid point (share of trials with a base); one colour scale for "
             "every panel" + (f", zoomed to 0–{vmax:g}." if vmax < 1 else ".")]
    if annotate:
        lines.append("Numbers: the estimate in any state (95% intervals in points.parquet).")
    ref = ctx.ref(None)
    if ref is not None:
        lines[-1] += f" Scenario without the sweep: {_fmt_p(ref[0])} in any state."
    nrows, ncols = _grid(len(ctx.ids))
    height = max(5.6, 2.0 * nrows + 1.9)
    fig, sub = _sweep_figure(ctx, title, "\n".join(lines), height=height, width=12.0)
    left, right = sub.subfigures(1, 2, width_ratios=[1.0, 0.45 * ncols + 0.55], wspace=0.02)
    ax_any = left.subplots()
    xe = np.arange(len(v1) + 1) - 0.5
    ye = np.arange(len(v2) + 1) - 0.5
    mesh = ax_any.pcolormesh(xe, ye, z_any, cmap=cmap, norm=norm)
    if annotate:
        size = _SMALL_SIZE if len(v1) <= 8 else _SMALL_SIZE - 1.5
        for (r, c), v in np.ndenumerate(z_any):
            if np.isfinite(v):
                rgba = cmap(norm(v))
                lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                ax_any.text(c, r, _fmt_p(v), ha="center", va="center", fontsize=size,
                            color="black" if lum > 0.5 else "white")
    _heat_ticks(ax_any, ctx, k1, v1, k2, v2, _TICK_SIZE, width_chars=56)
    ax_any.set_xlabel(ctx.labels[k1], fontsize=_LABEL_SIZE)
    ax_any.set_ylabel(ctx.labels[k2], fontsize=_LABEL_SIZE)
    _panel_title(ax_any, "in any state", fontsize=_LABEL_SIZE, fontweight="bold", loc="left")

    axes = _small_multiples(right, len(ctx.ids))
    for ax, sid in zip(axes, ctx.ids, strict=True):
        ax.grid(False)
        ax.pcolormesh(xe, ye, z_states[sid], cmap=cmap, norm=norm)
        _panel_title(ax, sid, fontsize=_LABEL_SIZE, color=_ink(ctx.colours[sid]),
                     fontweight="bold", loc="left")
        z = z_states[sid]
        _state_zero_note(ax, z[np.isfinite(z)], vmax)
    _heat_ticks(axes[0], ctx, k1, v1, k2, v2, _SMALL_SIZE, width_chars=26)
    right.supxlabel(ctx.labels[k1], fontsize=_LABEL_SIZE)
    right.supylabel(ctx.labels[k2], fontsize=_LABEL_SIZE)
    right.suptitle("by state", fontsize=_LABEL_SIZE, color=_NOTE_COLOUR)
    cb = right.colorbar(mesh, ax=axes, fraction=0.06, pad=0.03)
    cb.set_label(f"probability of a base within {_plural(H, 'month')}", fontsize=_SMALL_SIZE)
    cb.ax.tick_params(labelsize=_SMALL_SIZE)
    return fig


def _heat_ticks(ax: Axes, ctx: _SweepContext, k1: str, v1: Sequence[Any], k2: str,
                v2: Sequence[Any], size: float, width_chars: int = 60) -> None:
    """Categorical ticks (grid values need not be evenly spaced); x ticks thinned so that
    their labels fit in about ``width_chars`` characters, y ticks to at most 12."""
    def ticks(values: Sequence[Any], key: str, most: int) -> tuple[list[int], list[str]]:
        step = max(1, math.ceil(len(values) / max(most, 1)))
        idx = list(range(0, len(values), step))
        return idx, [_fmt_value(values[i], ctx.boolean[key]) for i in idx]

    longest = max(len(_fmt_value(v, ctx.boolean[k1])) for v in v1)
    ax.set_xticks(*ticks(v1, k1, min(12, width_chars // (longest + 2))))
    ax.set_yticks(*ticks(v2, k2, 12))
    ax.tick_params(labelsize=size, length=2)
