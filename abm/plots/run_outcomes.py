"""Three of a run's figures (:mod:`abm.plots.run` assembles all six): the time to a first
base (``survival.png``), the willingness at the horizon (``final_willingness.png``), and
vetoes, closures and incidents (``events.png``).

Axes are zoomed to the data and say so; every number printed in a figure follows one
rule for that figure (:func:`abm.plots.style._decimals`); legends list only marks that
are drawn, in the colours they are drawn in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, MaxNLocator

from ..analysis.stats import survival
from .style import (
    _CLOSED_COLOUR,
    _FIGSIZE,
    _INCIDENT_COLOUR,
    _LABEL_SIZE,
    _NOTE_COLOUR,
    _SMALL_SIZE,
    _SWATCH_HANDLER,
    _TICK_SIZE,
    _VETO_COLOUR,
    _Context,
    _decimals,
    _fmt2,
    _fmt_fixed,
    _ink,
    _month_axis,
    _new_figure,
    _panel_height,
    _plural,
    _probability_axis,
    _probability_top,
    _small_multiples,
    _state_swatch,
    _yerr,
    _zoom_note,
)

_THRESHOLD_COLOUR = "0.25"


# --------------------------------------------------------------------------- time to a base


def _fig_survival(ctx: _Context, summary: Mapping[str, Any],
                  first_by_state: Mapping[str, np.ndarray]) -> Figure:
    """Cumulative incidence of the first base, ``1 - S(t)`` (Kaplan-Meier), with its 95%
    pointwise band, one panel per state on one y scale zoomed to the data."""
    H = ctx.horizon
    n = len(ctx.ids)
    curves = {}
    for sid in ctx.ids:
        fb = first_by_state[sid]
        sv = survival(fb, H)
        events = int(np.sum(np.isfinite(fb) & (fb >= 0)))
        # 1 - S: the band's low end is 1 - the survival's high end
        curves[sid] = (sv["month"].to_numpy(), 1 - sv["survival"].to_numpy(),
                       1 - sv["ci_high"].to_numpy(), 1 - sv["ci_low"].to_numpy(), events,
                       len(fb))
    top = _probability_top([c[3].max() for c in curves.values()])
    dec = _decimals([c[1][-1] for c in curves.values()])

    title = "Time to a first US base: share of trials with one, month by month"
    note = ("Kaplan-Meier estimate of the share of trials with a first base by each month "
            "(1 − survival); trials without a base are censored at the horizon.\n"
            "Band: 95% pointwise interval (none where no trial got a base). A state "
            "hosting at month 0 starts at 1.")
    fig, sub = _new_figure(ctx, title, note, height=_panel_height(n))
    axes = _small_multiples(sub, n)
    banded = medians = False
    for ax, sid in zip(axes, ctx.ids, strict=True):
        m, inc, lo, hi, events, trials = curves[sid]
        c = ctx.colours[sid]
        if events:
            ax.fill_between(m, lo, hi, step="post", color=c, alpha=0.25, linewidth=0)
            banded = True
        ax.step(m, inc, where="post", color=c, linewidth=2)
        med = summary["states"][sid].get("median_first_base_month")
        if med is not None:
            ax.axvline(med, color="0.35", linestyle=":", linewidth=1)
            medians = True
        _month_axis(ax, H)
        ax.set_title(ctx.titles[sid], fontsize=_LABEL_SIZE, color=_ink(c), fontweight="bold")
        if events == 0:
            text = f"no base in any of {_plural(trials, 'trial')}"
        else:
            text = (f"{_plural(events, 'trial')} with a base\n"
                    f"share with a base by month {H}: {_fmt_fixed(float(inc[-1]), dec)}")
            if med is not None:
                text += f"\nmedian time to a base: {_plural(int(med), 'month')}"
        xa, ya, ha, va = _free_corner(m, np.maximum(inc, hi) / top, H)
        ax.text(xa, ya, text, transform=ax.transAxes, ha=ha, va=va,
                fontsize=_SMALL_SIZE, color="0.15",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
    # One y scale for every panel (they share it), a little below 0 so that a curve at 0
    # is not hidden by the frame.
    if top >= 1.0:
        axes[0].set_ylim(-0.03, 1.05)
        axes[0].yaxis.set_major_locator(FixedLocator([0, 0.25, 0.5, 0.75, 1.0]))
        ylabel = "share of trials with a base (0–1)"
    else:
        axes[0].set_ylim(-0.03 * top, top)
        axes[0].yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ylabel = f"share of trials with a base\n(y axis zoomed to 0–{top:g}, every panel)"
    sub.supxlabel("months from start", fontsize=_LABEL_SIZE)
    sub.supylabel(ylabel, fontsize=_LABEL_SIZE)
    colours = [ctx.colours[s] for s in ctx.ids]
    handles: list[Any] = [_state_swatch(colours, lambda c: Line2D(
        [], [], color=c, linewidth=2, drawstyle="steps-post"))]
    labels = ["Kaplan-Meier estimate (state colours)"]
    if banded:
        handles.append(_state_swatch(
            [ctx.colours[s] for s in ctx.ids if curves[s][4]],
            lambda c: Patch(facecolor=c, alpha=0.25, linewidth=0)))
        labels.append("95% pointwise interval")
    if medians:
        handles.append(Line2D([], [], color="0.35", linestyle=":"))
        labels.append("median time to a base")
    sub.legend(handles=handles, labels=labels, handler_map=_SWATCH_HANDLER,
               loc="outside upper center", ncols=len(handles), fontsize=_SMALL_SIZE,
               frameon=False, handlelength=5)
    return fig


def _free_corner(month: np.ndarray, frac: np.ndarray,
                 horizon: int) -> tuple[float, float, str, str]:
    """Axes position for a text box that a rising curve does not run through; ``frac`` is
    the curve's height as a share of the axis (band included).

    The upper left is free when the curve stays low over the first 60% of the run, the
    lower right when it is high after 40%.
    """
    early = frac[month <= 0.6 * horizon]
    late = frac[month >= 0.4 * horizon]
    if early.size and early.max() < 0.55:
        return 0.03, 0.93, "left", "top"
    if late.size and late.min() > 0.45:
        return 0.97, 0.05, "right", "bottom"
    if late.size and late.max() < 0.55:
        return 0.97, 0.93, "right", "top"
    return 0.97, 0.05, "right", "bottom"


# --------------------------------------------------------------------------- willingness at H


def _w_range(final_w_by_state: Mapping[str, np.ndarray],
             thresholds: Mapping[str, float]) -> tuple[float, float, float]:
    """The zoomed x range (multiples of 0.05, at least 0.1 wide, within 0-1) and the bin
    width: the largest of 0.002, 0.005, 0.01 giving 50 or more bins over the range. A
    threshold just outside the data (within 0.1) widens the range to show it."""
    finite = [w[np.isfinite(w)] for w in final_w_by_state.values()]
    finite = [w for w in finite if w.size]
    lo = min((float(w.min()) for w in finite), default=0.0)
    hi = max((float(w.max()) for w in finite), default=1.0)
    for t in thresholds.values():
        if hi < t <= hi + 0.1:
            hi = t
        if lo - 0.1 <= t < lo:
            lo = t
    lo = max(0.0, np.floor(max(lo, 0.0) / 0.05 + 1e-9) * 0.05)
    hi = min(1.0, np.ceil(min(hi, 1.0) / 0.05 - 1e-9) * 0.05)
    if hi - lo < 0.1:
        hi = min(1.0, lo + 0.1)
        lo = max(0.0, hi - 0.1)
    width = next((b for b in (0.01, 0.005, 0.002) if (hi - lo) / b >= 50), 0.002)
    return float(lo), float(hi), width


def _fig_final_willingness(ctx: _Context, summary: Mapping[str, Any],
                           final_w_by_state: Mapping[str, np.ndarray],
                           thresholds: Mapping[str, float] | None = None) -> Figure:
    H = ctx.horizon
    n = len(ctx.ids)
    thresholds = {s: float(t) for s, t in (thresholds or {}).items() if s in ctx.ids}
    x_lo, x_hi, width = _w_range(final_w_by_state, thresholds)
    zoomed = (x_lo, x_hi) != (0.0, 1.0)
    title = f"Government willingness to host a US base at month {H}: distribution over trials"
    note = (f"Histograms over {width:g}-wide bins, each state's scaled to its tallest bin "
            "(label: that bin's share of trials).\nBlack tick: median. Right: median and "
            "5–95% range over trials")
    if thresholds:
        note += (", and the decision threshold\n(dynamics.threshold + the state's legal_bar "
                 "at the last month), dashed where it is on the axis.")
    else:
        note += "."
    height = max(_FIGSIZE[1], 0.62 * n + 2.0)
    fig, sub = _new_figure(ctx, title, note, height=height)
    ax = sub.subplots()
    edges = np.arange(0.0, 1.0 + width / 2, width)
    row_h = 0.7  # of the 1.0 between rows: room above the peak for its label
    ypos = []
    right_labels = []
    drawn_thresholds = False
    for i, sid in enumerate(ctx.ids):
        y0 = float(n - 1 - i)  # first state on top
        ypos.append(y0 + row_h / 2)
        w = final_w_by_state[sid]
        w = w[np.isfinite(w)]
        c = ctx.colours[sid]
        ax.axhline(y0, color="0.8", linewidth=0.8)
        fw = summary["states"][sid]["final_willingness"]
        if w.size:
            counts, _ = np.histogram(np.clip(w, 0.0, 1.0), bins=edges)
            share = counts / w.size
            peak = float(share.max())
            nz = np.flatnonzero(counts)  # only the bins with data: nothing drawn off the axis
            k0, k1 = int(nz[0]), int(nz[-1]) + 1
            ax.stairs(y0 + share[k0:k1] / peak * row_h, edges[k0:k1 + 1], baseline=y0,
                      fill=True, color=c, alpha=0.85)
            k = int(np.argmax(share))
            # Above the tallest bar, clear of every bar of its row; centred on it unless
            # that would cross the axis line at either end.
            xc = (edges[k] + edges[k + 1]) / 2
            near = 0.04 * (x_hi - x_lo)
            ha = "left" if xc - x_lo < near else "right" if x_hi - xc < near else "center"
            ax.text(edges[k] if ha == "left" else edges[k + 1] if ha == "right" else xc,
                    y0 + row_h + 0.03, f"{peak:.0%}", fontsize=_SMALL_SIZE - 1, color="0.25",
                    va="bottom", ha=ha)
            med = fw.get("q50")
            if med is not None:
                ax.plot([med, med], [y0 - 0.08, y0 + 0.08], color="black", linewidth=2,
                        solid_capstyle="butt")
        label = (f"median {_fmt2(fw.get('q50'))}\n"
                 f"5–95%: {_fmt2(fw.get('q05'))}–{_fmt2(fw.get('q95'))}")
        t = thresholds.get(sid)
        if t is not None:
            if x_lo <= t <= x_hi:
                ax.plot([t, t], [y0, y0 + row_h], color=_THRESHOLD_COLOUR, linestyle="--",
                        linewidth=1.2)
                drawn_thresholds = True
                label += f"\nthreshold {_fmt2(t)}"
            else:
                side = ("above 1: out of reach" if t > 1 else
                        "off axis, right" if t > x_hi else "off axis, left")
                label += f"\nthreshold {_fmt2(t)} ({side})"
        right_labels.append(label)
    # A margin on both sides: a point mass at 0 (or 1) stays clear of the axis line.
    pad = 0.015 * (x_hi - x_lo)
    ax.set_xlim(x_lo - pad, x_hi + pad)
    ax.set_ylim(-0.2, n)
    ax.set_yticks(ypos, [ctx.titles[s] for s in ctx.ids])
    for lab, sid in zip(ax.get_yticklabels(), ctx.ids, strict=True):
        lab.set_color(_ink(ctx.colours[sid]))
        lab.set_fontweight("bold")
    ax.tick_params(axis="y", length=0, labelsize=_TICK_SIZE)
    ax.tick_params(axis="x", labelsize=_TICK_SIZE)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 2.5, 5, 10]))
    ax.grid(True, axis="x", color="0.92")
    ax.set_axisbelow(True)
    zoom = f"; axis zoomed to {x_lo:.2f}–{x_hi:.2f}" if zoomed else ""
    ax.set_xlabel(f"willingness w at month {H} (0 = refuses, 1 = fully willing{zoom})",
                  fontsize=_LABEL_SIZE)
    ax.set_ylabel("state (bar height: share of trials, per state)", fontsize=_LABEL_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    sec = ax.secondary_yaxis("right")
    sec.set_yticks(ypos, right_labels)
    sec.tick_params(length=0, labelsize=_SMALL_SIZE)
    sec.spines["right"].set_visible(False)
    colours = [ctx.colours[s] for s in ctx.ids]
    handles: list[Any] = [_state_swatch(colours, lambda c: Patch(facecolor=c, alpha=0.85)),
                          Line2D([], [], color="black", linewidth=2, marker="|",
                                 markersize=8, linestyle="none")]
    labels = ["share of trials in each bin (state colours)", "median"]
    if drawn_thresholds:
        handles.append(Line2D([], [], color=_THRESHOLD_COLOUR, linestyle="--",
                              linewidth=1.2))
        labels.append("decision threshold")
    sub.legend(handles=handles, labels=labels, handler_map=_SWATCH_HANDLER,
               loc="outside upper center", ncols=len(handles), fontsize=_SMALL_SIZE,
               frameon=False, handlelength=5)
    return fig


# --------------------------------------------------------------------------- events


def _fig_events(ctx: _Context, summary: Mapping[str, Any]) -> Figure:
    H = ctx.horizon
    states = summary["states"]
    ids = ctx.ids
    title = f"Vetoes, base closures and spillover incidents within {_plural(H, 'month')}"
    note = ("Veto: a CSTO member (Russia included) refused consent to a member's base; "
            "closure: a base opened and was closed again.\nWhiskers: 95% Wilson interval "
            "(left), 95% normal interval of the mean (right).")
    fig, sub = _new_figure(ctx, title, note)
    ax_p, ax_i = sub.subplots(1, 2, width_ratios=[3, 2])
    x = np.arange(len(ids))

    def arr(key: str) -> np.ndarray:
        return np.array([states[s][key] for s in ids], float)

    def ci(key: str) -> tuple[np.ndarray, np.ndarray]:
        a = np.array([states[s][key] for s in ids], float).reshape(len(ids), 2)
        return a[:, 0], a[:, 1]

    pv, (pv_lo, pv_hi) = arr("p_veto"), ci("p_veto_ci")
    pc, (pc_lo, pc_hi) = arr("p_closed"), ci("p_closed_ci")
    top = _probability_top([*pv_hi, *pc_hi], headroom=1.3)
    dec = _decimals([*pv, *pc])  # one format for every probability label
    bw = 0.38
    for off, p, lo, hi, colour, hatch, label in (
            (-bw / 2, pv, pv_lo, pv_hi, _VETO_COLOUR, None, "at least one CSTO veto"),
            (bw / 2, pc, pc_lo, pc_hi, _CLOSED_COLOUR, "//", "a base closed")):
        ax_p.bar(x + off, p, width=bw, color=colour, alpha=0.85, hatch=hatch,
                 edgecolor="white", linewidth=0, label=label)
        ax_p.errorbar(x + off, p, yerr=_yerr(p, lo, hi), fmt="none", ecolor="black",
                      capsize=3, linewidth=1)
        # Vertical labels: two bars per state leave no room for horizontal ones.
        for xi, pi, hj in zip(x + off, p, hi, strict=True):
            ax_p.annotate(_fmt_fixed(pi, dec), (xi, min(hj, top)), xytext=(0, 3),
                          textcoords="offset points", ha="center", va="bottom",
                          rotation=90, fontsize=_SMALL_SIZE - 1, color="0.2")
    _probability_axis(ax_p, top)
    if top >= 1.0:
        ax_p.set_ylim(0, 1.2)
    ax_p.set_xticks(x, list(ids))
    ax_p.set_xlabel("state", fontsize=_LABEL_SIZE)
    ax_p.set_ylabel(f"probability within {_plural(H, 'month')}", fontsize=_LABEL_SIZE)
    ax_p.set_title("CSTO veto and base closure", fontsize=_LABEL_SIZE)
    ax_p.tick_params(labelsize=_TICK_SIZE)
    ax_p.grid(True, axis="y", color="0.9")
    ax_p.set_axisbelow(True)
    _zoom_note(ax_p, top)
    sub.legend(loc="outside upper center", ncols=2, fontsize=_SMALL_SIZE, frameon=False)

    mi = arr("mean_incidents")
    mi_lo, mi_hi = ci("mean_incidents_ci")
    ax_i.bar(x, mi, width=0.62, color=_INCIDENT_COLOUR, alpha=0.85)
    ax_i.errorbar(x, mi, yerr=_yerr(mi, mi_lo, mi_hi), fmt="none", ecolor="black", capsize=3,
                  linewidth=1)
    ymax = float(np.nanmax(np.concatenate([mi_hi, mi]))) if len(mi) else 0.0
    itop = ymax * 1.15 if np.isfinite(ymax) and ymax > 0 else 1.0
    ax_i.set_ylim(0, itop)
    idec = _decimals(mi, prob=False, least=1, most=3)  # one format for every count label
    for xi, v, hj in zip(x, mi, mi_hi, strict=True):
        ax_i.annotate(_fmt_fixed(v, idec, prob=False), (xi, hj if np.isfinite(hj) else 0),
                      xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                      fontsize=_SMALL_SIZE - 1, color="0.2")
    if ymax <= 0:
        ax_i.text(0.5, 0.5, "no incidents in any trial", transform=ax_i.transAxes,
                  ha="center", va="center", fontsize=_SMALL_SIZE, color=_NOTE_COLOUR)
    ax_i.set_xticks(x, list(ids))
    ax_i.set_xlabel("state", fontsize=_LABEL_SIZE)
    ax_i.set_ylabel(f"incidents per trial (count over {_plural(H, 'month')})",
                    fontsize=_LABEL_SIZE)
    ax_i.set_title("Afghan spillover incidents, mean per trial", fontsize=_LABEL_SIZE)
    ax_i.tick_params(labelsize=_TICK_SIZE)
    ax_i.grid(True, axis="y", color="0.9")
    ax_i.set_axisbelow(True)
    return fig

