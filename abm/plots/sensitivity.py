"""Sensitivity figures of a sweep: Sobol' first-order and total indices, Morris screening
(mu* with intervals, mu* against sigma), and a table of one index per parameter and output.

Drawn by :func:`abm.plots.sweep.draw_sweep_figures` when the sweep's ``sensitivity.json``
names a method; the inputs are the ``outputs`` of that file (by output name, each with
``constant`` and ``indices`` by parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .style import (
    _ANY_COLOUR,
    _FIGSIZE,
    _LABEL_SIZE,
    _NOTE_COLOUR,
    _SMALL_SIZE,
    _TICK_SIZE,
    _fmt_p,
    _ink,
    _num,
    _panel_title,
    _plural,
    _sweep_figure,
    _SweepContext,
)

__all__: list[str] = []

_S1_COLOUR = "#E69F00"
_ST_COLOUR = "#0072B2"
_UP_COLOUR = "#0072B2"
_DOWN_COLOUR = "#D55E00"
_INDEX_CMAP = "Blues"
_MAX_BARS = 20  # sensitivity bar charts show the top parameters only
_CONSTANT_TEXT = "constant in every sample: no variance to apportion"


def _fmt_index(v: float | None) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    if v == 0:
        return "0"
    if abs(v) < 0.01:
        return "<0.01" if v > 0 else ">−0.01"
    return f"{v:.2f}".replace("-", "−")


def _output_title(name: str) -> str:
    return "any state" if name == "any_base.p" else name.removesuffix(".p_base")


def _indices(outputs: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    out = outputs.get(name) or {}
    return None if out.get("constant") else out.get("indices")


def _get(d: Mapping[str, Any] | None, key: str, field_: str) -> float | None:
    v = ((d or {}).get(key) or {}).get(field_)
    return None if v is None or not np.isfinite(v) else float(v)


def _ranked(ctx: _SweepContext, outputs: Mapping[str, Any], field_: str) -> list[str]:
    """Parameters by ``field_`` of P(base anywhere), largest first (missing values last);
    by the largest value over all outputs when P(base anywhere) has no indices."""
    idx = _indices(outputs, "any_base.p")
    if idx is not None:
        def score(k: str) -> float:
            v = _get(idx, k, field_)
            return -np.inf if v is None else v
    else:
        every = [_indices(outputs, n) for n in outputs]

        def score(k: str) -> float:
            vals = [v for d in every if (v := _get(d, k, field_)) is not None]
            return max(vals, default=-np.inf)
    return sorted(ctx.keys, key=lambda k: -score(k))


def _no_indices(ax: Axes, outputs: Mapping[str, Any], name: str) -> bool:
    """Write why an output has no indices on ``ax``; True if it has none."""
    out = outputs.get(name)
    if out and out.get("constant"):
        value = out.get("value")
        text = (f"P(base anywhere) = {_fmt_p(value)} in every sample:\n"
                f"{_CONSTANT_TEXT}") if value is not None else _CONSTANT_TEXT
    elif not out or not out.get("indices"):
        text = "no sensitivity indices for P(base anywhere)"
    else:
        return False
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=_LABEL_SIZE, color=_NOTE_COLOUR)
    ax.set_axis_off()
    return True


def _rank_note(n_shown: int, n_all: int, field_: str, other_file: str) -> str:
    if n_shown == n_all:
        return ""
    return (f" Top {n_shown} of {n_all} parameters by {field_}; all of them in "
            f"{other_file} and sensitivity.json.")


def _fig_sobol(ctx: _SweepContext, outputs: Mapping[str, Any]) -> Figure:
    H = ctx.horizon
    ranked = _ranked(ctx, outputs, "ST")
    shown = ranked[:_MAX_BARS]
    title = (f"Which parameters drive the probability of a US base within "
             f"{_plural(H, 'month')}: Sobol' indices")
    note = ("S1: share of the variance of P(base anywhere) due to the parameter alone; ST: "
            "its total share, interactions included.\nWhiskers: 95% bootstrap intervals "
            "(SALib). True indices lie in 0–1; estimates outside (shaded) are sampling "
            "error, and more points narrow them." + _rank_note(len(shown), len(ranked), "ST",
                                                      "sobol_states.png"))
    height = max(_FIGSIZE[1], 0.36 * len(shown) + 2.2)
    fig, sub = _sweep_figure(ctx, title, note, height=height, width=10.0)
    ax = sub.subplots()
    _panel_title(ax, "P(base in any state)", fontsize=_LABEL_SIZE, fontweight="bold", loc="left")
    if _no_indices(ax, outputs, "any_base.p"):
        return fig
    idx = _indices(outputs, "any_base.p")
    y = np.arange(len(shown))[::-1].astype(float)
    bh = 0.38
    series = []
    for off, field_, colour, label in ((bh / 2, "ST", _ST_COLOUR, "ST (total)"),
                                       (-bh / 2, "S1", _S1_COLOUR, "S1 (first order)")):
        v = np.array([np.nan if (g := _get(idx, k, field_)) is None else g for k in shown])
        c = np.array([_get(idx, k, f"{field_}_conf") or 0.0 for k in shown])
        series.append((off, field_, colour, label, v, c, np.isfinite(v)))
    extremes = [0.0, *(e for *_, v, c, ok in series for e in (*(v[ok] - c[ok]),
                                                             *(v[ok] + c[ok])))]
    # Small designs give intervals far outside 0-1; past -1 and 1.5 they are cut at the
    # frame rather than squeezing every bar into a sliver.
    lo = max(-1.0, min(extremes))
    hi = min(1.5, max(max(extremes), 0.05))
    span = hi - lo
    ax.set_xlim(lo - 0.03 * span, hi + 0.12 * span)  # room for the ST labels
    right = ax.get_xlim()[1]
    for off, field_, colour, label, v, c, ok in series:
        ax.barh(y[ok] + off, v[ok], height=bh, color=colour, label=label, alpha=0.9)
        ax.errorbar(v[ok], y[ok] + off, xerr=c[ok], fmt="none", ecolor="black",
                    elinewidth=0.9, capsize=2)
        for yi in y[~ok]:
            ax.text(0.0, yi + off, " n/a", va="center", ha="left", fontsize=_SMALL_SIZE - 1,
                    color=_NOTE_COLOUR)
        if field_ != "ST":
            continue
        for yi, vi, ci in zip(y[ok], v[ok], c[ok], strict=True):
            at = max(vi + ci, vi, 0.0)
            inside = at < right - 0.1 * span
            ax.text(at if inside else right, yi + off, f"  {_fmt_index(vi)}" if inside
                    else f"{_fmt_index(vi)} ", va="center", ha="left" if inside else "right",
                    fontsize=_SMALL_SIZE - 1, color="0.2", clip_on=True,
                    bbox=None if inside else {"facecolor": "white", "edgecolor": "none",
                                              "alpha": 0.8, "pad": 0.5})
    ax.axvline(0, color="0.3", linewidth=0.8)
    # Shade where no true index can lie, so that estimates there read as noise.
    ax.axvspan(ax.get_xlim()[0], 0, color="0.95", linewidth=0, zorder=0)
    if ax.get_xlim()[1] > 1:
        ax.axvspan(1, ax.get_xlim()[1], color="0.95", linewidth=0, zorder=0)
    ax.set_yticks(y, shown)
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.tick_params(axis="y", length=0, labelsize=_SMALL_SIZE)
    ax.tick_params(axis="x", labelsize=_TICK_SIZE)
    ax.grid(True, axis="x", color="0.9")
    ax.set_axisbelow(True)
    ax.set_xlabel(f"Sobol' index (share of the variance of P(base anywhere within "
                  f"{H} months), 0–1)", fontsize=_LABEL_SIZE)
    ax.set_ylabel("swept parameter (largest ST on top)", fontsize=_LABEL_SIZE)
    s1 = [_get(idx, k, "S1") for k in ranked]
    if all(v is not None for v in s1):
        total = sum(s1)  # type: ignore[arg-type]
        ax.text(0.99, 0.02, f"sum of S1 over all {len(ranked)} parameters: {total:.2f}\n"
                "(1 − sum: share from interactions, up to sampling error)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=_SMALL_SIZE,
                color=_NOTE_COLOUR,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 2})
    sub.legend(loc="outside upper center", ncols=2, fontsize=_SMALL_SIZE, frameon=False)
    return fig


def _fig_morris(ctx: _SweepContext, outputs: Mapping[str, Any]) -> Figure:
    H = ctx.horizon
    ranked = _ranked(ctx, outputs, "mu_star")
    shown = ranked[:_MAX_BARS]
    title = (f"Which parameters drive the probability of a US base within "
             f"{_plural(H, 'month')}: Morris screening")
    unit = "change in P(base anywhere) per full range of the parameter"
    note = ("μ*: mean absolute elementary effect, the " + unit + " (log parameters: per "
            "full log range); bar: 95% bootstrap interval.\nColour: sign of the mean effect "
            "μ. σ: spread of the effects; above the dotted line σ = μ*, the effect depends on "
            "the other parameters or is not linear." + _rank_note(
                len(shown), len(ranked), "μ*", "morris_states.png"))
    height = max(_FIGSIZE[1], 0.3 * len(shown) + 2.4)
    fig, sub = _sweep_figure(ctx, title, note, height=height, width=12.0)
    ax_b, ax_s = sub.subplots(1, 2, width_ratios=[1.1, 1.0])
    _panel_title(ax_b, "μ* of P(base in any state)", fontsize=_LABEL_SIZE, fontweight="bold",
                   loc="left")
    _panel_title(ax_s, "μ* against σ", fontsize=_LABEL_SIZE, fontweight="bold", loc="left")
    if _no_indices(ax_b, outputs, "any_base.p"):
        _no_indices(ax_s, outputs, "any_base.p")
        return fig
    idx = _indices(outputs, "any_base.p")
    numbered = len(ranked) > 6  # many names would pile up in the scatter: number them

    ms = np.array([_get(idx, k, "mu_star") if _get(idx, k, "mu_star") is not None
                   else np.nan for k in shown])
    conf = np.array([_get(idx, k, "mu_star_conf") or 0.0 for k in shown])
    mu = np.array([_get(idx, k, "mu") or 0.0 for k in shown])
    y = np.arange(len(shown))[::-1].astype(float)
    ok = np.isfinite(ms)
    colours = np.where(mu < 0, _DOWN_COLOUR, _UP_COLOUR)
    ax_b.barh(y[ok], ms[ok], height=0.65, color=colours[ok], alpha=0.9)
    ax_b.errorbar(ms[ok], y[ok], xerr=conf[ok], fmt="none", ecolor="black", elinewidth=0.9,
                  capsize=2)
    for yi in y[~ok]:
        ax_b.text(0.0, yi, " n/a", va="center", ha="left", fontsize=_SMALL_SIZE - 1,
                  color=_NOTE_COLOUR)
    names = [f"{i + 1}. {k}" if numbered else k for i, k in enumerate(shown)]
    ax_b.set_yticks(y, names)
    ax_b.set_ylim(-0.6, len(shown) - 0.4)
    right_edge = np.nanmax(np.concatenate([ms[ok] + conf[ok], [0.0]]))
    ax_b.set_xlim(0, right_edge * 1.08 if right_edge > 0 else 1.0)
    ax_b.tick_params(axis="y", length=0, labelsize=_SMALL_SIZE)
    ax_b.tick_params(axis="x", labelsize=_TICK_SIZE)
    ax_b.grid(True, axis="x", color="0.9")
    ax_b.set_axisbelow(True)
    ax_b.set_xlabel(f"μ* ({unit})", fontsize=_LABEL_SIZE - 1)

    sg = np.array([_get(idx, k, "sigma") if _get(idx, k, "sigma") is not None else np.nan
                   for k in shown])
    good = ok & np.isfinite(sg)
    ax_s.scatter(ms[good], sg[good], c=colours[good], s=30, zorder=3)
    top = max(float(np.nanmax(np.concatenate([ms[good], sg[good], [0.0]]))), 1e-9) * 1.15
    ax_s.plot([0, top], [0, top], color="0.4", linestyle=":", linewidth=1)
    ax_s.set_xlim(0, top)
    ax_s.set_ylim(0, top)
    # Points at the same place (often several parameters at 0) share one label.
    spots: dict[tuple[float, float], list[str]] = {}
    for i in np.flatnonzero(good):
        spot = (round(float(ms[i]) / top, 2), round(float(sg[i]) / top, 2))
        spots.setdefault(spot, []).append(str(i + 1) if numbered else shown[i])
    for (xs, ys), labs in spots.items():
        text = ", ".join(labs)
        if len(text) > 40:
            text = text[:37] + "…"
        ax_s.annotate(text, (xs * top, ys * top), xytext=(4, 3), textcoords="offset points",
                      fontsize=_SMALL_SIZE - 0.5, color="0.15",
                      ha="left" if xs < 0.7 else "right")
    ax_s.set_xlabel("μ* (as left)", fontsize=_LABEL_SIZE)
    ax_s.set_ylabel("σ, spread of the elementary effects (unit of μ*)",
                    fontsize=_LABEL_SIZE)
    ax_s.tick_params(labelsize=_TICK_SIZE)
    ax_s.grid(True, color="0.9")
    ax_s.set_axisbelow(True)
    handles = [Patch(facecolor=_UP_COLOUR, label="raises P(base) on average (μ ≥ 0)"),
               Patch(facecolor=_DOWN_COLOUR, label="lowers P(base) on average (μ < 0)"),
               Line2D([], [], color="0.4", linestyle=":", label="σ = μ*")]
    sub.legend(handles=handles, loc="outside upper center", ncols=3, fontsize=_SMALL_SIZE,
               frameon=False)
    return fig


def _fig_index_table(ctx: _SweepContext, points: pd.DataFrame, outputs: Mapping[str, Any],
                     method: str) -> Figure:
    """Index per parameter (rows) and output (columns): ST for Sobol', mu* for Morris."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    H = ctx.horizon
    field_ = "ST" if method == "sobol" else "mu_star"
    ranked = _ranked(ctx, outputs, field_)
    names = ["any_base.p", *[f"{s}.p_base" for s in ctx.ids]]
    z = np.full((len(ranked), len(names)), np.nan)
    const = [bool((outputs.get(n) or {}).get("constant")) for n in names]
    for j, n in enumerate(names):
        idx = _indices(outputs, n)
        for i, k in enumerate(ranked):
            v = _get(idx, k, field_)
            z[i, j] = np.nan if v is None else v
    if method == "sobol":
        norm = Normalize(0.0, 1.0)
        what = "total-order index ST, the parameter's share of the output's variance"
        title = f"Sobol' total index ST of P(base within {_plural(H, 'month')}), by state"
    else:
        vmax = float(np.nanmax(z)) if np.isfinite(z).any() else 0.0
        norm = Normalize(0.0, vmax if vmax > 0 else 1.0)
        what = "Morris μ* (change in P(base) per full range of the parameter)"
        title = f"Morris μ* of P(base within {_plural(H, 'month')}), by state"
    note = (f"Cells: {what}. Under each column: its largest P(base) over the points.\n"
            f"“constant”: the same value at every point ({_CONSTANT_TEXT}); "
            "“n/a”: not finite.")
    if method == "sobol":
        note += "\nAn output rarely above 0 gives noisy indices (estimates above 1 included)."
    height = max(4.2, 0.3 * len(ranked) + 2.6)
    fig, sub = _sweep_figure(ctx, title, note, height=height, width=10.0)
    ax = sub.subplots()
    cmap = colormaps[_INDEX_CMAP]
    xe = np.arange(len(names) + 1) - 0.5
    ye = np.arange(len(ranked) + 1) - 0.5
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(np.clip(z, norm.vmin, norm.vmax)),
                         cmap=cmap, norm=norm)
    ax.set_facecolor("0.93")  # cells without a value (n/a, constant)
    size = _SMALL_SIZE if len(ranked) <= 30 else _SMALL_SIZE - 1.5
    for (r, c), v in np.ndenumerate(z):
        if const[c]:
            text, colour = "constant", _NOTE_COLOUR
        elif not np.isfinite(v):
            text, colour = "n/a", _NOTE_COLOUR
        else:
            rgba = cmap(norm(min(max(v, norm.vmin), norm.vmax)))
            lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
            text, colour = _fmt_index(v), "black" if lum > 0.5 else "white"
        ax.text(c, r, text, ha="center", va="center", fontsize=size, color=colour)
    ax.invert_yaxis()  # most influential on top
    ax.set_yticks(np.arange(len(ranked)), ranked)
    heads = []
    for n in names:
        y = _num(points, n) if n in points.columns else np.array([np.nan])
        top = np.nanmax(y) if np.isfinite(y).any() else np.nan
        heads.append(f"{_output_title(n)}\nmax {_fmt_p(top)}")
    ax.set_xticks(np.arange(len(names)), heads)
    ax.xaxis.tick_top()
    for lab, n in zip(ax.get_xticklabels()[1:], names[1:], strict=True):
        sid = n.removesuffix(".p_base")
        lab.set_color(_ink(ctx.colours.get(sid, _ANY_COLOUR)))
        lab.set_fontweight("bold")
    ax.get_xticklabels()[0].set_fontweight("bold")
    ax.tick_params(length=0, labelsize=_SMALL_SIZE)
    ax.axvline(0.5, color="white", linewidth=3)  # "any state" apart from the states
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_ylabel("swept parameter", fontsize=_LABEL_SIZE)
    # Sobol' estimates above 1 (sampling error) take the top colour; the arrow says so.
    cb = sub.colorbar(mesh, ax=ax, fraction=0.04, pad=0.02,
                      extend="max" if method == "sobol" else "neither")
    cb.set_label("ST (0–1)" if method == "sobol" else "μ*", fontsize=_SMALL_SIZE)
    cb.ax.tick_params(labelsize=_SMALL_SIZE)
    return fig
