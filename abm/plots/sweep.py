"""The figures of a parameter sweep (:mod:`abm.experiment.sweep`): how the probability
of a base responds to each swept parameter, a heatmap for a grid over two parameters, and
(through :mod:`abm.plots.sensitivity`) the Sobol' or Morris indices.

The response figures draw each point's change from the reference (the scenario without
the sweep) with the interval the sweep computed for it: under common random numbers the
normal interval of the per-trial paired differences, much narrower than the two points'
Wilson intervals would suggest; with ``crn = false`` the unpaired one. The footnote says
which.

:func:`draw_sweep_figures` writes them as PNG files (its docstring lists the files);
:func:`iter_sweep_figures` yields them as :class:`~matplotlib.figure.Figure` objects. They
reuse the run figures' palette, footer and layout; every figure names the design, the
number of points, the trials per point and the seed in its footer. Ordered levels and
heatmaps use viridis, which stays readable under colour-vision deficiencies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase, SubFigure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .sensitivity import _fig_index_table, _fig_morris, _fig_sobol
from .style import (
    _ANY_COLOUR,
    _LABEL_SIZE,
    _NOTE_COLOUR,
    _PALETTE,
    _REF_LINE,
    _SMALL_SIZE,
    _TICK_SIZE,
    _fmt_p,
    _fmt_value,
    _grid,
    _ink,
    _num,
    _panel_title,
    _param_axis,
    _plural,
    _probability_axis,
    _probability_top,
    _reference,
    _reference_handle,
    _save,
    _small_multiples,
    _state_swatch,
    _sweep_figure,
    _sweep_footer,
    _SweepContext,
    _yerr,
    _zoom_title,
)
from .sweep_heatmap import _SEQ_CMAP, _fig_heatmap

__all__ = ["draw_sweep_figures", "iter_sweep_figures"]


#: Columns of the points table every sweep figure reads (besides the parameters).
_SWEEP_ANY_COLUMNS = ("any_base.p", "any_base.ci_low", "any_base.ci_high")
_SWEEP_STATE_COLUMNS = ("p_base", "ci_low", "ci_high")
#: The change from the reference and its interval (paired under common random numbers).
_SWEEP_ANY_DIFF = ("any_base.p_diff", "any_base.p_diff_ci_low", "any_base.p_diff_ci_high")
_SWEEP_STATE_DIFF = ("p_base_diff", "p_base_diff_ci_low", "p_base_diff_ci_high")
_SWEEP_SUMMARY_KEYS = ("name", "design", "points", "trials_per_point", "seed", "parameters",
                       "horizon_months", "states")
_REF_LABEL = "reference (scenario without the sweep; 0 in the change panels)"
#: The reference's legend mark (band and dashed line, overlaid), made once so that the
#: legend can tell it from a swatch of side-by-side state marks.
_REFERENCE_HANDLES = (_reference_handle(),)
_POINT_COLOUR = "#0072B2"
_SEQ_STOP = 0.85  # viridis' last yellows are too pale for lines on white
_MAX_LEGEND_LEVELS = 7  # more levels of the other grid parameter get a colour bar instead


# --------------------------------------------------------------------------- public API


def iter_sweep_figures(points: pd.DataFrame, summary: Mapping[str, Any],
                       sens: Mapping[str, Any] | None) -> Iterator[tuple[str, Figure]]:
    """The figures of a parameter sweep, as ``(file name, figure)`` pairs.

    The inputs are checked at once; each figure is built only when the iterator reaches
    it, so that a design over many parameters need not hold dozens of figures in memory
    (``dict(iter_sweep_figures(...))`` keeps them all). The file names and their order,
    and the parameters, are those of :func:`draw_sweep_figures`.

    Raises
    ------
    ValueError
        If a required column or summary key is missing, or the table has no rows.
    """
    _check_sweep_inputs(points, summary)
    ctx = _SweepContext.from_summary(summary, points)
    keys = ctx.keys

    jobs: list[tuple[str, Callable[[], Figure]]] = []
    for j, key in enumerate(keys):
        if ctx.design == "grid" and len(keys) <= 2:
            other = keys[1 - j] if len(keys) == 2 else None
            jobs.append((f"response_{_file_safe(key)}.png",
                         partial(_fig_response_lines, ctx, points, key, other)))
        else:
            jobs.append((f"response_{_file_safe(key)}.png",
                         partial(_fig_response_scatter, ctx, points, key)))
    if ctx.design == "grid" and len(keys) == 2:
        jobs.append((f"heatmap_{_file_safe(keys[0])}_x_{_file_safe(keys[1])}.png",
                     partial(_fig_heatmap, ctx, points, keys[0], keys[1])))
    method = (sens or {}).get("method")
    outputs = (sens or {}).get("outputs") or {}
    if method == "sobol":
        jobs.append(("sobol.png", partial(_fig_sobol, ctx, outputs)))
        jobs.append(("sobol_states.png",
                     partial(_fig_index_table, ctx, points, outputs, "sobol")))
    elif method == "morris":
        jobs.append(("morris.png", partial(_fig_morris, ctx, outputs)))
        jobs.append(("morris_states.png",
                     partial(_fig_index_table, ctx, points, outputs, "morris")))
    return ((fname, draw()) for fname, draw in jobs)


def draw_sweep_figures(points: pd.DataFrame, summary: Mapping[str, Any],
                       sens: Mapping[str, Any] | None, out_dir: str | Path) -> list[Path]:
    """Write the figures of a parameter sweep as PNG files.

    ===============================  =========================================================
    file                             content
    ===============================  =========================================================
    ``response_<param>.png``         probability of a base in any state against each swept
                                     parameter (95% Wilson intervals, the reference
                                     scenario), and the change from the reference in any
                                     state and per state, with the sweep's paired interval
                                     (``p_diff``). A grid over one or two parameters:
                                     lines (one per value of the other parameter) and a
                                     panel per state. Other designs (lhs, sobol, morris, a
                                     grid over three or more): every point with its
                                     interval and binned means, and per-state binned means
    ``heatmap_<p1>_x_<p2>.png``      a grid over exactly two parameters: probability of a
                                     base anywhere and per state over the grid
    ``sobol.png``                    Sobol' S1 and ST of P(base anywhere), with intervals
    ``sobol_states.png``             ST per parameter (rows) and output (columns)
    ``morris.png``                   Morris mu* with intervals, and mu* against sigma
    ``morris_states.png``            mu* per parameter (rows) and output (columns)
    ===============================  =========================================================

    ``<param>`` is the dotted key with dots (and other characters unsafe in file names)
    replaced by underscores, e.g. ``response_russia_pressure.png``.

    Parameters
    ----------
    points : pandas.DataFrame
        One row per design point (see :func:`abm.experiment.sweep.run_sweep`): a column per swept
        parameter named by its dotted key; ``any_base.p``, ``any_base.ci_low`` and
        ``any_base.ci_high`` (probability of a base in any state within the horizon, 95%
        Wilson interval); ``any_base.p_diff`` with ``_ci_low``, ``_ci_high`` (change
        from the reference and its interval, paired under common random numbers); and
        ``<S>.p_base``, ``<S>.ci_low``, ``<S>.ci_high``, ``<S>.p_base_diff`` (with
        ``_ci_low``, ``_ci_high``) per state.
    summary : mapping
        The sweep's ``summary.json``: ``name``, ``design``, ``points``,
        ``trials_per_point``, ``seed``, ``parameters`` (``key`` and ``values`` or
        ``low``/``high``/``log``), ``horizon_months``, ``states`` (ids, in figure order)
        and, optionally, ``reference`` (the scenario without the sweep).
    sens : mapping or None
        The sweep's ``sensitivity.json``: ``method`` (``"sobol"``, ``"morris"`` or None)
        and ``outputs`` by name (``"any_base.p"``, ``"<S>.p_base"``), each with
        ``constant`` and ``indices`` by parameter. Index values may be None (not finite).
        None, or a method of None, draws no sensitivity figure.
    out_dir : str or Path
        Directory for the PNG files; created if missing. Files are overwritten.

    Returns
    -------
    list of Path
        The files written: the response figures in parameter order, then the heatmap,
        then the sensitivity figures.

    Raises
    ------
    ValueError
        If a required column or summary key is missing, or the table has no rows.
    """
    figures = iter_sweep_figures(points, summary, sens)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    footer = _sweep_footer(summary)
    # Each figure is drawn and saved before the next is built.
    return [_save(fig, out / fname, footer) for fname, fig in figures]


def _check_sweep_inputs(points: pd.DataFrame, summary: Mapping[str, Any]) -> None:
    miss = [k for k in _SWEEP_SUMMARY_KEYS if k not in summary]
    if miss:
        raise ValueError(f"sweep summary: missing key(s) {', '.join(miss)}")
    if not summary["states"]:
        raise ValueError("sweep summary: 'states' is empty; expected at least one state")
    if not summary["parameters"]:
        raise ValueError("sweep summary: 'parameters' is empty; expected at least one")
    want = [str(p["key"]) for p in summary["parameters"]]
    want += [*_SWEEP_ANY_COLUMNS, *_SWEEP_ANY_DIFF]
    want += [f"{s}.{c}" for s in summary["states"]
             for c in (*_SWEEP_STATE_COLUMNS, *_SWEEP_STATE_DIFF)]
    miss = [c for c in want if c not in points.columns]
    if miss:
        raise ValueError(f"sweep points table: missing column(s) {', '.join(miss)}")
    if len(points) == 0:
        raise ValueError("sweep points table: no rows; expected one row per design point")


def _file_safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)


def _state_panels(sub: SubFigure, ctx: _SweepContext, ylabel: str) -> list[Axes]:
    axes = _small_multiples(sub, len(ctx.ids))
    for ax, sid in zip(axes, ctx.ids, strict=True):
        c = ctx.colours[sid]
        _panel_title(ax, sid, fontsize=_LABEL_SIZE, color=_ink(c), fontweight="bold", loc="left")
    sub.supylabel(ylabel, fontsize=_LABEL_SIZE)
    return axes


def _level_colours(levels: Sequence[Any], boolean: bool) -> list[str]:
    """Colours for the levels of the other grid parameter: ordered values get a
    sequential map (light to dark is low to high), a switch two palette colours."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if boolean:
        return [_PALETTE[i % len(_PALETTE)] for i in range(len(levels))]
    if len(levels) == 1:
        return [_ANY_COLOUR]
    cmap = colormaps[_SEQ_CMAP]
    return [to_hex(cmap(t)) for t in np.linspace(_SEQ_STOP, 0.0, len(levels))]


def _line_with_band(ax: Axes, x: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    colour: str, band_alpha: float, *, lw: float = 1.8, ms: float = 3.5
                    ) -> None:
    order = np.argsort(x, kind="stable")
    x, p, lo, hi = x[order], p[order], lo[order], hi[order]
    if x.size == 1:
        ax.errorbar(x, p, yerr=_yerr(p, lo, hi), fmt="o", color=colour, markersize=ms + 1.5,
                    capsize=4, linewidth=1.2)
        return
    if band_alpha > 0:
        ax.fill_between(x, lo, hi, color=colour, alpha=band_alpha, linewidth=0)
    ax.plot(x, p, color=colour, linewidth=lw, marker="o", markersize=ms)


def _response_layout(ctx: _SweepContext, title: str, note: str
                     ) -> tuple[Figure, SubFigure, SubFigure, Axes, Axes, list[Axes]]:
    """On the left, P(base) anywhere over the change from the reference; on the right, one
    small panel per state of the change from the reference."""
    nrows, ncols = _grid(len(ctx.ids))
    height = max(6.6, 2.0 * nrows + 2.6)
    fig, sub = _sweep_figure(ctx, title, note, height=height, width=12.0)
    left, right = sub.subfigures(1, 2, width_ratios=[1.0, 0.45 * ncols + 0.35], wspace=0.02)
    ax_any, ax_diff = left.subplots(2, 1, sharex=True, height_ratios=[1.0, 0.85])
    for ax in (ax_any, ax_diff):
        ax.grid(True, color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(labelsize=_TICK_SIZE)
    return fig, sub, right, ax_any, ax_diff, _state_panels(
        right, ctx, "change in P(base) from the reference")


def _diff_note(ctx: _SweepContext) -> str:
    """What the change panels show, and which interval, for this sweep's streams."""
    if ctx.crn:
        return ("Change: P(base) at the point minus the reference, over the same trials "
                "(common random numbers); its band is the 95% normal interval of the "
                "per-trial paired differences (a single point where no trial's outcome "
                "differs).")
    return ("Change: P(base) at the point minus the reference; the two use independent "
            "trials (crn = false), so its band is the 95% unpaired normal interval.")


def _diff_axis(axes: Sequence[Axes], values: Sequence[float]) -> None:
    """Y limits holding 0 and every change and bound (the axes share them), and the
    reference's dashed line at 0 in each."""
    finite = [float(v) for v in values if np.isfinite(v)] + [0.0]
    lo, hi = min(finite), max(finite)
    pad = 0.08 * (hi - lo) if hi > lo else 0.01
    axes[0].set_ylim(lo - pad, hi + pad)
    for ax in axes:
        ax.axhline(0.0, color=_REF_LINE, linestyle="--", linewidth=1.2, zorder=1)


def _state_diff_note(ax: Axes, p: np.ndarray, d: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray, span: float) -> None:
    """Say so when a state's change panel looks empty: no base anywhere, no change, or
    changes too small to see on the shared axis (``span``, its height)."""
    most = float(np.nanmax(np.abs(np.concatenate([d, lo, hi])), initial=0.0))
    if most <= 0:
        text = ("no base at any point" if float(np.nanmax(p, initial=0.0)) <= 0
                else "no change at any point")
    elif most < 0.04 * span:
        text = f"changes within ±{_fmt_p(most)}\n(too small to see here)"
    else:
        return
    # Above the line at 0, which it would otherwise cover.
    ax.text(0.5, 0.8, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=_SMALL_SIZE - 0.5, color=_NOTE_COLOUR,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


def _swatch_legend(sub: SubFigure, handles: list[Any], labels: list[str]) -> None:
    """The figure's legend: a tuple handle made by :func:`_state_swatch` shows its marks
    side by side; the reference's (band and line) stays one overlaid mark."""
    swatches = {h: HandlerTuple(ndivide=None, pad=0.0) for h in handles
                if isinstance(h, tuple) and h not in _REFERENCE_HANDLES}
    ncols = len(handles) if len(handles) <= 6 else math.ceil(len(handles) / 2)
    sub.legend(handles=handles, labels=labels, handler_map=swatches,
               loc="outside upper center", ncols=ncols, fontsize=_SMALL_SIZE, frameon=False,
               handlelength=4 if swatches else 2)


def _fig_response_lines(ctx: _SweepContext, points: pd.DataFrame, key: str,
                        other: str | None) -> Figure:
    """A grid over one or two parameters: lines over ``key``, one per level of ``other``;
    P(base) and its change from the reference (paired under common random numbers)."""
    H = ctx.horizon
    x = _num(points, key)
    if other is None:
        groups: list[tuple[Any, np.ndarray]] = [(None, np.ones(len(points), bool))]
        colours = [_ANY_COLOUR]
    else:
        ov = points[other].to_numpy()
        levels = sorted(pd.unique(ov).tolist())
        groups = [(lv, ov == lv) for lv in levels]
        colours = _level_colours(levels, ctx.boolean[other])
    many = len(groups) > _MAX_LEGEND_LEVELS
    # The bands of many lines pile up into a grey wash: past three lines only the lowest
    # and the highest level keep theirs.
    band_alpha = 0.22 if len(groups) == 1 else 0.14
    banded = [len(groups) <= 3 or g in (0, len(groups) - 1) for g in range(len(groups))]

    title = f"Probability of a US base within {_plural(H, 'month')} as {key} varies"
    lines = ["Top left: P(base) at each grid value; band: its 95% Wilson interval (that "
             "point's trials alone). Dashed line and grey band: the reference (the scenario "
             "without the sweep) and its 95% interval."]
    if other is not None:
        lines.append(f"One line per value of {other}." + (
            f" Bands only for the lowest and highest {other}, for legibility."
            if not all(banded) else ""))
    lines.append("Bottom left and states: " + _diff_note(ctx)[0].lower() + _diff_note(ctx)[1:]
                 + " State panels share one y axis.")
    fig, sub, right, ax_any, ax_diff, axes = _response_layout(ctx, title, "\n".join(lines))

    any_p, any_lo, any_hi = (_num(points, c) for c in _SWEEP_ANY_COLUMNS)
    any_d, any_dlo, any_dhi = (_num(points, c) for c in _SWEEP_ANY_DIFF)
    _reference(ax_any, ctx.ref(None))
    for (_, m), c, b in zip(groups, colours, banded, strict=True):
        _line_with_band(ax_any, x[m], any_p[m], any_lo[m], any_hi[m], c, band_alpha * b)
        _line_with_band(ax_diff, x[m], any_d[m], any_dlo[m], any_dhi[m], c, band_alpha * b)
    ref = ctx.ref(None)
    top = _probability_top([*any_hi, *(ref[1:] if ref else ())])
    _probability_axis(ax_any, top)
    _zoom_title(ax_any, top)
    _param_axis(ax_any, ctx, key, x)
    _panel_title(ax_any, "in any state", fontsize=_LABEL_SIZE, fontweight="bold", loc="left")
    ax_any.set_ylabel(f"P(base within {_plural(H, 'month')})", fontsize=_LABEL_SIZE)
    _diff_axis([ax_diff], [*any_dlo, *any_dhi])
    _panel_title(ax_diff, "change from the reference, in any state", fontsize=_LABEL_SIZE,
                 fontweight="bold", loc="left")
    ax_diff.set_ylabel("point − reference", fontsize=_LABEL_SIZE)
    ax_diff.set_xlabel(ctx.labels[key], fontsize=_LABEL_SIZE)

    bounds = []
    for ax, sid in zip(axes, ctx.ids, strict=True):
        d, lo, hi = (_num(points, f"{sid}.{c}") for c in _SWEEP_STATE_DIFF)
        for (_, m), c, b in zip(groups, colours, banded, strict=True):
            colour = ctx.colours[sid] if other is None else c
            _line_with_band(ax, x[m], d[m], lo[m], hi[m], colour, band_alpha * b, lw=1.4,
                            ms=2.5)
        bounds += [*lo, *hi]
    _diff_axis(axes, bounds)
    span = float(np.subtract(*axes[0].get_ylim()[::-1]))
    for ax, sid in zip(axes, ctx.ids, strict=True):
        _state_diff_note(ax, _num(points, f"{sid}.p_base"),
                         *(_num(points, f"{sid}.{c}") for c in _SWEEP_STATE_DIFF), span)
    _param_axis(axes[0], ctx, key, x)
    right.supxlabel(ctx.labels[key], fontsize=_LABEL_SIZE)
    right.suptitle("by state: change in P(base) from the reference", fontsize=_LABEL_SIZE,
                   color=_NOTE_COLOUR)

    handles: list[Any] = []
    labels: list[str] = []
    if other is None:
        marks = [_ANY_COLOUR, *(ctx.colours[s] for s in ctx.ids)]
        handles += [_state_swatch(marks, lambda c: Line2D(
                        [], [], color=c, marker="o", markersize=3.5, linewidth=1.8)),
                    _state_swatch(marks, lambda c: Patch(facecolor=c, alpha=band_alpha,
                                                         linewidth=0))]
        labels += ["estimate (any state in black, states in their colour)",
                   "95% interval (Wilson; paired for the change)"]
    else:
        if not many:
            for (lv, _), c in zip(groups, colours, strict=True):
                handles.append(Line2D([], [], color=c, marker="o", markersize=3.5,
                                      linewidth=1.8))
                labels.append(f"{other} = {_fmt_value(lv, ctx.boolean[other])}")
        else:
            _level_colourbar(right, axes, [lv for lv, _ in groups], colours, ctx.labels[other])
        handles.append(_state_swatch(
            [c for c, b in zip(colours, banded, strict=True) if b],
            lambda c: Patch(facecolor=c, alpha=band_alpha, linewidth=0)))
        labels.append("95% interval")
    if ctx.ref(None) is not None:
        handles.append(_REFERENCE_HANDLES[0])
        labels.append(_REF_LABEL)
    _swatch_legend(sub, handles, labels)
    return fig


def _level_colourbar(sub: FigureBase, axes: Sequence[Axes], levels: Sequence[Any],
                     colours: Sequence[str], label: str) -> None:
    """A discrete colour bar naming each level of the other parameter."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = len(levels)
    sm = ScalarMappable(norm=BoundaryNorm(np.arange(n + 1) - 0.5, n),
                        cmap=ListedColormap(list(colours)))
    cb = sub.colorbar(sm, ax=list(axes), ticks=np.arange(n), fraction=0.05, pad=0.02)
    cb.set_ticklabels([_fmt_value(v) for v in levels])
    cb.ax.tick_params(labelsize=_SMALL_SIZE)
    cb.set_label(f"line colour: {label}", fontsize=_SMALL_SIZE)


def _bins(x: np.ndarray, log: bool) -> tuple[list[np.ndarray], str]:
    """Masks of the points in each bin of ``x`` and a phrase saying how they were made.

    Up to 12 distinct values (a grid axis, Morris levels) each make a bin of their own;
    otherwise 4-10 equal-width bins (equal width in log x on a log scale).
    """
    ok = np.isfinite(x)
    u = np.unique(x[ok])
    if u.size <= 12:
        return [ok & (x == v) for v in u], "mean over the points at each value"
    k = int(np.clip(round(math.sqrt(ok.sum())), 4, 10))
    lo, hi = float(u[0]), float(u[-1])
    edges = np.geomspace(lo, hi, k + 1) if log and lo > 0 else np.linspace(lo, hi, k + 1)
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, k - 1)
    return [ok & (idx == b) for b in range(k)], f"mean over the points in each of {k} bins"


def _binned_mean(ax: Axes, x: np.ndarray, y: np.ndarray, masks: Sequence[np.ndarray],
                 *, lw: float = 2.0, ms: float = 5.0) -> None:
    bx = [float(np.mean(x[m])) for m in masks if m.any()]
    by = [float(np.mean(y[m])) for m in masks if m.any()]
    if len(bx) < 2:
        return
    ax.plot(bx, by, color="white", linewidth=lw + 2, zorder=4)  # halo over the points
    ax.plot(bx, by, color=_ANY_COLOUR, linewidth=lw, marker="o", markersize=ms,
            markerfacecolor="white", zorder=5)


def _fig_response_scatter(ctx: _SweepContext, points: pd.DataFrame,
                          key: str) -> Figure:
    """A sampled design (or a grid over three or more parameters): every point, with the
    mean over the points in bins of ``key`` to show the trend through the others' noise;
    P(base) and its change from the reference (paired under common random numbers).

    States get one panel of binned means together: a design over many parameters draws
    one such figure per parameter, and two panels draw in a third of the time of seven.
    """
    H = ctx.horizon
    n = len(points)
    x = _num(points, key)
    masks, how = _bins(x, ctx.log[key])
    show_mean = n >= 4 and sum(m.any() for m in masks) >= 2
    title = f"Probability of a US base within {_plural(H, 'month')} against {key}"
    others = len(ctx.keys) - 1
    varying = (f", the other {_plural(others, 'parameter')} varying too" if others else "")
    lines = [f"Each dot: one design point ({ctx.design}){varying}. Top left: P(base), "
             "whisker: its 95% Wilson interval (that point's trials alone); dashed line and "
             "grey band: the reference (the scenario without the sweep) and its interval.",
             "Bottom left and right: " + _diff_note(ctx)[0].lower() + _diff_note(ctx)[1:]]
    if show_mean:
        lines.append(f"Lines: {how} of {key} (right: per state).")
    else:
        lines.append("Right: each point's change per state.")
    if ctx.design == "sobol" and others:
        # Saltelli's scheme keeps a base row's value of a parameter in matrix A and in the
        # D - 1 matrices that vary another parameter: the vertical columns of dots.
        lines[-1] += (f" Saltelli sampling reuses each base value of {key} in up to "
                      f"{others + 1} points (the columns of dots): bin means rest on few "
                      "independent values.")
    fig, sub = _sweep_figure(ctx, title, "\n".join(lines), height=6.6, width=12.0)
    axd = sub.subplot_mosaic([["any", "st"], ["diff", "st"]], width_ratios=[1.25, 1.0],
                             height_ratios=[1.0, 0.85], sharex=True)
    ax_any, ax_diff, ax_st = axd["any"], axd["diff"], axd["st"]
    for ax in (ax_any, ax_diff, ax_st):
        ax.grid(True, color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(labelsize=_TICK_SIZE)
    for ax in (ax_diff, ax_st):
        ax.set_xlabel(ctx.labels[key], fontsize=_LABEL_SIZE)

    p, lo, hi = (_num(points, c) for c in _SWEEP_ANY_COLUMNS)
    d, dlo, dhi = (_num(points, c) for c in _SWEEP_ANY_DIFF)
    ref = ctx.ref(None)
    _reference(ax_any, ref)
    # Fewer, larger dots for small designs; many points are drawn light so the density shows.
    alpha = 0.8 if n <= 50 else 0.45 if n <= 500 else 0.25
    ms = 4.5 if n <= 50 else 3.0
    for ax, y, ylo, yhi in ((ax_any, p, lo, hi), (ax_diff, d, dlo, dhi)):
        ax.errorbar(x, y, yerr=_yerr(y, ylo, yhi), fmt="o", color=_POINT_COLOUR,
                    markersize=ms, alpha=alpha, ecolor="0.55", elinewidth=0.6, capsize=0,
                    zorder=3)
        if show_mean:
            _binned_mean(ax, x, y, masks)
    top = _probability_top([*hi, *(ref[1:] if ref else ())])
    _probability_axis(ax_any, top)
    _zoom_title(ax_any, top)
    _param_axis(ax_any, ctx, key, x)
    ax_any.tick_params(labelbottom=False)
    _panel_title(ax_any, "in any state", fontsize=_LABEL_SIZE, fontweight="bold", loc="left")
    ax_any.set_ylabel(f"P(base within {_plural(H, 'month')})", fontsize=_LABEL_SIZE)
    _diff_axis([ax_diff], [*dlo, *dhi])
    _panel_title(ax_diff, "change from the reference, in any state", fontsize=_LABEL_SIZE,
                 fontweight="bold", loc="left")
    ax_diff.set_ylabel("point − reference", fontsize=_LABEL_SIZE)

    shown: list[float] = []
    never = []
    for i, sid in enumerate(ctx.ids):
        sd = _num(points, f"{sid}.p_base_diff")
        c = ctx.colours[sid]
        if np.nanmax(_num(points, f"{sid}.p_base"), initial=0.0) <= 0:
            never.append(sid)
        if show_mean:
            bx = np.array([np.mean(x[m]) for m in masks if m.any()])
            by = np.array([np.mean(sd[m]) for m in masks if m.any()])
            # Markers differ by state too, so coinciding lines (often all at 0) stay apart.
            ax_st.plot(bx, by, color=c, linewidth=1.6, marker="osD^vP*"[i % 7], markersize=4,
                       label=sid)
            shown += list(by)
        else:
            ax_st.plot(x, sd, linestyle="none", color=c, marker="osD^vP*"[i % 7],
                       markersize=5, label=sid)
            shown += list(sd)
    _diff_axis([ax_st], shown)
    ax_st.tick_params(labelbottom=True)
    _panel_title(ax_st, "by state: change from the reference"
                 + (", binned means" if show_mean else ""),
                 fontsize=_LABEL_SIZE, fontweight="bold", loc="left")
    ax_st.set_ylabel("point − reference", fontsize=_LABEL_SIZE)
    if never:
        which = "the point" if n == 1 else "any point"
        ax_st.text(0.98, 0.97, f"no base at {which}: {', '.join(never)}",
                   transform=ax_st.transAxes, ha="right", va="top", fontsize=_SMALL_SIZE,
                   color=_NOTE_COLOUR,
                   bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
    ax_st.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=_SMALL_SIZE,
                 frameon=False, title="state", title_fontsize=_SMALL_SIZE)

    handles: list[Any] = [Line2D([], [], color=_POINT_COLOUR, marker="o", linestyle="none",
                                 markersize=4.5)]
    labels = ["design point, with its 95% interval"]
    if show_mean:
        handles.append(Line2D([], [], color=_ANY_COLOUR, marker="o", markersize=5,
                              markerfacecolor="white", linewidth=2))
        labels.append("binned mean")
    if ref is not None:
        handles.append(_REFERENCE_HANDLES[0])
        labels.append(_REF_LABEL)
    _swatch_legend(sub, handles, labels)
    return fig
