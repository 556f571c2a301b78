"""Figures of a run: PNG files an analyst can read without the code.

:func:`draw_figures` turns the three outputs of a run (the per-trial table, the per-month
table and the ``summary.json`` dict, see :mod:`abm.summary`) into six figures;
:func:`draw_run_dir` does the same for a results directory on disk.

==========================  ==============================================================
file                        content
==========================  ==============================================================
``p_base.png``              probability of a US base within the horizon, per state and in
                            any state, with 95% Wilson intervals
``survival.png``            Kaplan-Meier share of trials without a base, months 0..H,
                            with the 95% pointwise interval (one panel per state)
``fan_willingness.png``     5-95% and 25-75% bands, median and mean of the government's
                            willingness ``w`` per month (one panel per state)
``fan_support.png``         the same for public support ``p``
``final_willingness.png``   histogram of ``w`` at the horizon, per state
``events.png``              probability of at least one CSTO veto and of a base closure
                            (95% Wilson intervals); mean spillover incidents per trial
                            (95% normal interval)
==========================  ==============================================================

:func:`draw_sweep_figures` draws the figures of a parameter sweep (:mod:`abm.sweep`): the
response of the probability of a base to each swept parameter, a heatmap for a grid over
two parameters, and Sobol' or Morris sensitivity indices; its docstring lists the files.

Every figure names the scenario, the number of trials, the horizon and the seed in its
footer (a sweep's figures: the design, points, trials per point and seed). Colours follow
the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), which stays
distinguishable under the common colour-vision deficiencies; ordered levels and heatmaps
use viridis, which does too.

Only the object-oriented matplotlib API is used (:class:`matplotlib.figure.Figure`, saved
through the Agg canvas): this module never imports ``matplotlib.pyplot``, never selects a
backend and never changes ``rcParams``, so drawing figures inside a notebook or a GUI
session leaves the user's matplotlib set-up as it was. Nothing in :mod:`abm` imports this
module at import time (:mod:`abm.sweep` does when it draws), so ``import abm`` does not
load matplotlib.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, MaxNLocator

from .errors import ResultsError
from .summary import survival

__all__ = ["FIGURE_NAMES", "draw_figures", "draw_history", "draw_run_dir", "draw_sweep_figures"]

#: File names written by :func:`draw_figures`, in the order of the returned paths.
FIGURE_NAMES = (
    "p_base.png",
    "survival.png",
    "fan_willingness.png",
    "fan_support.png",
    "final_willingness.png",
    "events.png",
)

#: Okabe-Ito colours, most distinct first; black is kept for "any state" and the mean.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
_ANY_COLOUR = "#000000"
_ANY_BAR_COLOUR = "0.45"  # grey, so the black whisker stays visible over the bar
_VETO_COLOUR = "#0072B2"
_CLOSED_COLOUR = "#D55E00"
_INCIDENT_COLOUR = "#009E73"
_NOTE_COLOUR = "0.3"


def _ink(colour: str) -> str:
    """Colour for text in a state's colour: Okabe-Ito yellow is too pale for text."""
    return "0.2" if colour == "#F0E442" else colour


_FIGSIZE = (9.0, 5.0)  # inches
_DPI = 120
_TITLE_SIZE = 13
_LABEL_SIZE = 10
_TICK_SIZE = 9
_SMALL_SIZE = 8
_FOOTER_LINE_IN = 0.17  # height of one 8-point footer line, inches

_TABLE_COLUMNS = ("state", "first_base_month", "final_w")
_MONTHS_COLUMNS = ("month", "state") + tuple(
    f"{v}_{s}" for v in ("w", "p") for s in ("mean", "q05", "q25", "q50", "q75", "q95"))
_SUMMARY_KEYS = ("name", "trials", "horizon_months", "seed", "any_base", "states")
_STATE_KEYS = ("p_base", "ci_low", "ci_high", "p_closed", "p_closed_ci", "p_veto",
               "p_veto_ci", "mean_incidents", "mean_incidents_ci", "final_willingness")


# --------------------------------------------------------------------------- public API


def draw_figures(
    table: pd.DataFrame,
    months: pd.DataFrame,
    summary: Mapping[str, Any],
    out_dir: str | Path,
    *,
    state_names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the six figures of a run as PNG files.

    Parameters
    ----------
    table : pandas.DataFrame
        The per-trial table, one row per (trial, state): at least the columns ``state``,
        ``first_base_month`` (month of the first base, missing if never; nullable
        integer or float with NaN) and ``final_w`` (willingness at the horizon, 0-1).
    months : pandas.DataFrame
        The per-(month, state) table of :func:`abm.summary.months_table`: ``month``
        (0..H), ``state``, and ``{w,p}_{mean,q05,q25,q50,q75,q95}``.
    summary : mapping
        The ``summary.json`` dict of :func:`abm.summary.summarize`. Its ``states`` order
        is the order of states in every figure. A state entry may carry a ``name``
        (display name), used in panel titles.
    out_dir : str or Path
        Directory for the PNG files; created if missing. Existing files of the same
        names are overwritten.
    state_names : mapping of str to str, optional
        Display names by state id (e.g. ``{"UZB": "Uzbekistan"}``), used in panel
        titles; takes precedence over names in ``summary``.

    Returns
    -------
    list of Path
        The files written, in the order of :data:`FIGURE_NAMES`.

    Raises
    ------
    ValueError
        If a required column or summary key is missing.

    Notes
    -----
    Figures are 9 x 5 inches at 120 dpi (taller when many states need more panels).
    Probabilities are never drawn on a scale other than 0-1 without saying so: when
    every probability and interval is small, the axis is zoomed and a note gives the
    zoomed range.

    Examples
    --------
    >>> from abm.runner import simulate                                   # doctest: +SKIP
    >>> res = simulate("experiments/baseline_2021.toml", trials=2000, seed=1)  # doctest: +SKIP
    >>> draw_figures(res.table, res.months, res.summary, "figures")      # doctest: +SKIP
    """
    _check_inputs(table, months, summary)
    ctx = _Context.from_summary(summary, state_names)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # compare the column directly (a categorical compares codes): no Python string per row
    state_col = table["state"]
    rows = {sid: (state_col == sid).to_numpy(dtype=bool) for sid in ctx.ids}
    first = table["first_base_month"].to_numpy(dtype=np.float64, na_value=np.nan)
    final_w = table["final_w"].to_numpy(dtype=np.float64, na_value=np.nan)
    first_by_state = {sid: first[rows[sid]] for sid in ctx.ids}
    final_w_by_state = {sid: final_w[rows[sid]] for sid in ctx.ids}
    months_by_state = _months_by_state(months, ctx.ids)

    figures = {
        "p_base.png": _fig_p_base(ctx, summary),
        "survival.png": _fig_survival(ctx, summary, first_by_state),
        "fan_willingness.png": _fig_fan(ctx, months_by_state, "w"),
        "fan_support.png": _fig_fan(ctx, months_by_state, "p"),
        "final_willingness.png": _fig_final_willingness(ctx, summary, final_w_by_state),
        "events.png": _fig_events(ctx, summary),
    }
    paths = []
    for fname in FIGURE_NAMES:
        fig, title = figures[fname]
        path = out / fname
        fig.savefig(path, format="png", dpi=_DPI,
                    metadata={"Title": title, "Description": ctx.footer})
        paths.append(path)
    return paths


def draw_run_dir(run_dir: str | Path) -> list[Path]:
    """Draw the figures of a results directory into ``run_dir / "figures"``.

    Parameters
    ----------
    run_dir : str or Path
        A directory holding ``trials.parquet`` (the per-trial table), ``months.parquet``
        (the per-month table) and ``summary.json``.

    Returns
    -------
    list of Path
        The files written, in the order of :data:`FIGURE_NAMES`.

    Raises
    ------
    ResultsError
        If the directory or one of the three files is missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: not a results directory")
    missing = [f for f in ("trials.parquet", "months.parquet", "summary.json")
               if not (run_dir / f).is_file()]
    if missing:
        raise ResultsError(f"{run_dir}: missing {', '.join(missing)}")
    try:
        table = pd.read_parquet(run_dir / "trials.parquet", engine="pyarrow")
        months = pd.read_parquet(run_dir / "months.parquet", engine="pyarrow")
        with open(run_dir / "summary.json", encoding="utf-8") as fh:
            summary = json.load(fh)
    except (OSError, ValueError) as exc:  # ValueError covers JSON and Arrow decode errors
        raise ResultsError(f"{run_dir}: cannot read results: {exc}") from exc
    try:
        return draw_figures(table, months, summary, run_dir / "figures")
    except ValueError as exc:
        raise ResultsError(f"{run_dir}: {exc}") from exc


# --------------------------------------------------------------------------- inputs


def _check_inputs(table: pd.DataFrame, months: pd.DataFrame, summary: Mapping[str, Any]) -> None:
    """Fail early, naming what is missing, rather than deep inside a drawing call."""
    miss = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if miss:
        raise ValueError(f"per-trial table: missing column(s) {', '.join(miss)}")
    miss = [c for c in _MONTHS_COLUMNS if c not in months.columns]
    if miss:
        raise ValueError(f"per-month table: missing column(s) {', '.join(miss)}")
    miss = [k for k in _SUMMARY_KEYS if k not in summary]
    if miss:
        raise ValueError(f"summary: missing key(s) {', '.join(miss)}")
    if not summary["states"]:
        raise ValueError("summary: 'states' is empty; expected at least one state")
    for sid, st in summary["states"].items():
        miss = [k for k in _STATE_KEYS if k not in st]
        if miss:
            raise ValueError(f"summary: states.{sid}: missing key(s) {', '.join(miss)}")


def _months_by_state(months: pd.DataFrame, ids: Sequence[str]) -> dict[str, pd.DataFrame]:
    state = months["state"].astype(str)
    return {sid: months.loc[state == sid].sort_values("month") for sid in ids}


@dataclass(frozen=True)
class _Context:
    """What every figure needs: run identity, state order, labels and colours."""

    ids: tuple[str, ...]
    titles: dict[str, str]  # "Uzbekistan (UZB)" or "UZB"
    colours: dict[str, str]
    trials: int
    horizon: int
    footer: str

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any],
                     state_names: Mapping[str, str] | None) -> _Context:
        ids = tuple(str(s) for s in summary["states"])
        names = dict(state_names or {})
        titles = {}
        for sid in ids:
            name = names.get(sid) or summary["states"][sid].get("name") or ""
            titles[sid] = f"{name} ({sid})" if name and name != sid else sid
        colours = {sid: _PALETTE[i % len(_PALETTE)] for i, sid in enumerate(ids)}
        trials = int(summary["trials"])
        horizon = int(summary["horizon_months"])
        seed = summary["seed"]
        seed_txt = f"seed {seed}" if seed is not None else "seed not recorded"
        footer = (f"{summary['name']} · {trials:,} trial{'s' if trials != 1 else ''} · "
                  f"{horizon} month{'s' if horizon != 1 else ''} · {seed_txt}")
        return cls(ids, titles, colours, trials, horizon, footer)


# --------------------------------------------------------------------------- layout helpers


def _new_figure(ctx: _Context | _SweepContext, title: str, note: str, *,
                height: float = _FIGSIZE[1],
                width: float = _FIGSIZE[0]) -> tuple[Figure, SubFigure]:
    """A figure with a title, a content panel and a footer (note left, provenance right).

    Returns the figure (to save) and the sub-figure to draw in. The footer is a sub-figure
    of its own so that constrained layout keeps the content's axis labels and legends
    clear of it; the title belongs to the parent figure so that a legend placed
    ``"outside upper center"`` of the content sits below the title, not on it.
    """
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    fig.suptitle(title, fontsize=_TITLE_SIZE, fontweight="bold")
    n_lines = max(1, note.count("\n") + 1)
    foot_h = n_lines * _FOOTER_LINE_IN + 0.1
    main, foot = fig.subfigures(2, 1, height_ratios=[height - foot_h, foot_h])
    foot.text(0.008, 0.1, note, ha="left", va="bottom", fontsize=_SMALL_SIZE,
              color=_NOTE_COLOUR, linespacing=1.3)
    foot.text(0.992, 0.1, ctx.footer, ha="right", va="bottom", fontsize=_SMALL_SIZE,
              color=_NOTE_COLOUR)
    return fig, main


def _grid(n: int) -> tuple[int, int]:
    """Rows and columns for ``n`` small multiples, at most 3 columns up to 9 panels."""
    if n <= 3:
        ncols = n
    elif n == 4:
        ncols = 2
    elif n <= 9:
        ncols = 3
    else:
        ncols = 4
    return math.ceil(n / ncols), ncols


def _small_multiples(fig: FigureBase, n: int) -> list[Axes]:
    """``n`` panels sharing both axes; tick labels only on outer visible panels."""
    nrows, ncols = _grid(n)
    axs = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    flat = list(axs.ravel())
    for k, ax in enumerate(flat):
        if k >= n:
            ax.set_visible(False)
            continue
        col = k % ncols
        # The last visible panel of a column carries the x tick labels, even when the
        # panel below it is an unused slot.
        last_in_col = k + ncols >= n
        ax.tick_params(labelbottom=last_in_col, labelleft=(col == 0), labelsize=_TICK_SIZE)
        ax.grid(True, color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
    return flat[:n]


def _panel_height(n: int) -> float:
    nrows, _ = _grid(n)
    return max(_FIGSIZE[1], 1.9 * nrows + 1.5)


def _month_axis(ax: Axes, horizon: int) -> None:
    ax.set_xlim(0, max(horizon, 1))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=7, integer=True, steps=[1, 2, 3, 6, 10]))


def _nice_top(value: float) -> float:
    """Smallest of 1, 2, 2.5, 5 times a power of ten that is >= ``value`` (> 0)."""
    exp = math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = m * 10.0 ** exp
        if top >= value * (1 - 1e-12):
            return top
    return 10.0 ** (exp + 1)


def _probability_top(highs: Sequence[float], headroom: float = 1.15) -> float:
    """Upper y limit for a probability axis: 1, or a zoomed round value if all are small.

    Zooming stops at 0.5: above that, the full 0-1 scale is as readable and cannot
    mislead.
    """
    finite = [h for h in highs if h is not None and np.isfinite(h)]
    top = max(finite, default=0.0)
    if top <= 0:
        return 1.0
    zoomed = _nice_top(top * headroom)
    return 1.0 if zoomed >= 0.5 else zoomed


def _fmt_p(v: float | None) -> str:
    """A probability with two significant digits (at most four decimals), never in
    scientific notation.

    Exact 0 and 1 print as "0" and "1"; values near 1 keep the digits that tell them
    from 1 (0.9995, not 1.00); values below 0.0001 print as "<0.0001".
    """
    if v is None or not np.isfinite(v):
        return "n/a"
    if v <= 0:
        return "0"
    if v >= 1:
        return "1"
    if v < 1e-4:
        return "<0.0001"
    if v > 0.99:
        dec = min(4, max(2, 1 - math.floor(math.log10(1 - v))))
        text = f"{v:.{dec}f}"
        return f">{1 - 10.0 ** -dec:.{dec}f}" if float(text) >= 1 else text
    # At most four decimals keeps "[0.0006, 0.0020]" within one bar's width.
    dec = min(4, max(2, 1 - math.floor(math.log10(v))))
    return f"{v:.{dec}f}"


def _probability_axis(ax: Axes, top: float) -> None:
    """Y limits and ticks for a probability: 0..top, ticks never beyond 1.

    On the full scale a little room is left above 1 so that a bar, whisker or label at
    probability 1 is not cut by the frame; the ticks still stop at 1.
    """
    if top >= 1.0:
        ax.set_ylim(0, 1.12)
        ax.yaxis.set_major_locator(FixedLocator([0, 0.2, 0.4, 0.6, 0.8, 1.0]))
        ax.spines["top"].set_visible(False)
    else:
        ax.set_ylim(0, top)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))


def _zoom_note(ax: Axes, top: float) -> None:
    if top < 1.0:
        ax.text(0.01, 0.98, f"y axis zoomed to 0–{top:g} "
                f"(probabilities run from 0 to 1)", transform=ax.transAxes, ha="left",
                va="top", fontsize=_SMALL_SIZE, color=_NOTE_COLOUR, style="italic")


def _yerr(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    # Clip: rounding in the interval can put a bound a hair on the wrong side of p.
    return np.vstack([np.clip(p - lo, 0, None), np.clip(hi - p, 0, None)])


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# --------------------------------------------------------------------------- figures


def _fig_p_base(ctx: _Context, summary: Mapping[str, Any]) -> tuple[Figure, str]:
    H = ctx.horizon
    states = summary["states"]
    labels = [*ctx.ids, "any state"]
    p = np.array([states[s]["p_base"] for s in ctx.ids] + [summary["any_base"]["p"]], float)
    lo = np.array([states[s]["ci_low"] for s in ctx.ids] + [summary["any_base"]["ci_low"]],
                  float)
    hi = np.array([states[s]["ci_high"] for s in ctx.ids] + [summary["any_base"]["ci_high"]],
                  float)
    colours = [ctx.colours[s] for s in ctx.ids] + [_ANY_BAR_COLOUR]

    title = f"Probability of a US base within {_plural(H, 'month')}, by state"
    note = ("Bar: share of trials in which the state granted a base; whisker: 95% Wilson "
            "interval.\nUnder each bar: the estimate and [interval].")
    fig, sub = _new_figure(ctx, title, note)
    ax = sub.subplots()
    x = np.arange(len(labels))
    ax.bar(x, p, width=0.62, color=colours, alpha=0.85)
    whisker = ax.errorbar(x, p, yerr=_yerr(p, lo, hi), fmt="o", color="black", markersize=4,
                          capsize=6, linewidth=1.3)
    ax.axvline(len(ctx.ids) - 0.5, color="0.6", linestyle=":", linewidth=1)

    top = _probability_top(hi)
    _probability_axis(ax, top)
    ax.set_xticks(x, [f"{lab}\n{_fmt_p(pi)}\n[{_fmt_p(li)}, {_fmt_p(hj)}]"
                      for lab, pi, li, hj in zip(labels, p, lo, hi, strict=True)])
    ax.tick_params(axis="x", length=0,
                   labelsize=8.5 if len(labels) <= 7 else _SMALL_SIZE if len(labels) <= 9 else 7)
    ax.tick_params(axis="y", labelsize=_TICK_SIZE)
    ax.set_ylabel(f"probability of a base within {_plural(H, 'month')}", fontsize=_LABEL_SIZE)
    ax.set_xlabel("state (estimate and [95% interval] under each bar)", fontsize=_LABEL_SIZE)
    ax.grid(True, axis="y", color="0.9")
    ax.set_axisbelow(True)
    _zoom_note(ax, top)
    # A grey swatch: the bars carry each state's colour, the legend only their meaning.
    handles = [Patch(facecolor="0.6", label="share of trials with a base"), whisker]
    sub.legend(handles=handles, labels=[h.get_label() for h in handles[:1]]
               + ["estimate and 95% Wilson interval"], loc="outside upper center", ncols=2,
               fontsize=_SMALL_SIZE, frameon=False)
    return fig, title


def _fig_survival(ctx: _Context, summary: Mapping[str, Any],
                  first_by_state: Mapping[str, np.ndarray]) -> tuple[Figure, str]:
    H = ctx.horizon
    n = len(ctx.ids)
    title = "Time to a first US base: share of trials still without one"
    note = ("Kaplan-Meier estimate; trials without a base are censored at the horizon. "
            "Band: 95% pointwise interval\n(none drawn where no trial got a base). "
            "A state hosting at month 0 starts below 1.")
    fig, sub = _new_figure(ctx, title, note, height=_panel_height(n))
    axes = _small_multiples(sub, n)
    for ax, sid in zip(axes, ctx.ids, strict=True):
        fb = first_by_state[sid]
        sv = survival(fb, H)
        m = sv["month"].to_numpy()
        s = sv["survival"].to_numpy()
        c = ctx.colours[sid]
        events = int(np.sum(np.isfinite(fb) & (fb >= 0)))
        if events:
            ax.fill_between(m, sv["ci_low"].to_numpy(), sv["ci_high"].to_numpy(), step="post",
                            color=c, alpha=0.25, linewidth=0)
        ax.step(m, s, where="post", color=c, linewidth=2)
        med = summary["states"][sid].get("median_first_base_month")
        if med is not None:
            ax.axvline(med, color="0.35", linestyle=":", linewidth=1)
        _month_axis(ax, H)
        ax.set_ylim(-0.03, 1.05)  # a curve at 0 or 1 stays clear of the frame
        ax.yaxis.set_major_locator(FixedLocator([0, 0.25, 0.5, 0.75, 1.0]))
        ax.set_title(ctx.titles[sid], fontsize=_LABEL_SIZE, color=_ink(c), fontweight="bold")
        if events == 0:
            text = f"no base in any of {_plural(len(fb), 'trial')}"
        else:
            end = float(s[-1])
            # Four decimals when the share is close to 1, so 0.9989 does not read 0.999.
            end_txt = f"{end:.4f}" if 0.99 < end < 1 else f"{end:.3f}"
            text = (f"{_plural(events, 'trial')} with a base\n"
                    f"share without a base at month {H}: {end_txt}")
            if med is not None:
                text += f"\nmedian time to a base: {_plural(int(med), 'month')}"
        xa, ya, ha, va = _free_corner(m, s, H)
        ax.text(xa, ya, text, transform=ax.transAxes, ha=ha, va=va,
                fontsize=_SMALL_SIZE, color="0.15",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
    sub.supxlabel("months from start", fontsize=_LABEL_SIZE)
    sub.supylabel("share of trials without a base (0–1)", fontsize=_LABEL_SIZE)
    handles = [Line2D([], [], color="0.25", linewidth=2, drawstyle="steps-post",
                      label="Kaplan-Meier estimate"),
               Patch(facecolor="0.25", alpha=0.25, label="95% pointwise interval"),
               Line2D([], [], color="0.35", linestyle=":", label="median time to a base")]
    sub.legend(handles=handles, loc="outside upper center", ncols=3, fontsize=_SMALL_SIZE,
               frameon=False)
    return fig, title


def _free_corner(month: np.ndarray, surv: np.ndarray,
                 horizon: int) -> tuple[float, float, str, str]:
    """Axes position for a text box that the survival curve does not run through.

    A survival curve is non-increasing, so the lower left is free when it stays high
    over the first 60% of the run, the upper right when it is low after 40%.
    """
    early = surv[month <= 0.6 * horizon]
    late = surv[month >= 0.4 * horizon]
    if early.size and early.min() > 0.4:
        return 0.03, 0.05, "left", "bottom"
    if late.size and late.max() < 0.55:
        return 0.97, 0.93, "right", "top"
    if late.size and late.min() > 0.4:
        return 0.97, 0.05, "right", "bottom"
    return 0.97, 0.93, "right", "top"


_FAN_TEXT = {
    "w": ("Government willingness to host a US base, month by month",
          "willingness w (0 = refuses, 1 = fully willing)"),
    "p": ("Public support for a US military presence, month by month",
          "public support p (0 = none, 1 = full)"),
}


def _fig_fan(ctx: _Context, months_by_state: Mapping[str, pd.DataFrame],
             var: str) -> tuple[Figure, str]:
    H = ctx.horizon
    n = len(ctx.ids)
    title, ylabel = _FAN_TEXT[var]
    note = ("Bands: 5–95% and 25–75% of trials in each month (quantiles from 0.001-wide "
            "histograms);\nsolid line: median; dashed line: mean.")
    fig, sub = _new_figure(ctx, title, note, height=_panel_height(n))
    axes = _small_multiples(sub, n)
    for ax, sid in zip(axes, ctx.ids, strict=True):
        d = months_by_state[sid]
        c = ctx.colours[sid]
        m = d["month"].to_numpy()
        ax.fill_between(m, d[f"{var}_q05"], d[f"{var}_q95"], color=c, alpha=0.2, linewidth=0)
        ax.fill_between(m, d[f"{var}_q25"], d[f"{var}_q75"], color=c, alpha=0.45, linewidth=0)
        ax.plot(m, d[f"{var}_q50"], color=c, linewidth=2)
        ax.plot(m, d[f"{var}_mean"], color=_ANY_COLOUR, linewidth=1.1, linestyle="--")
        if len(m) == 1:  # a single month draws no line: mark it
            ax.plot(m, d[f"{var}_q50"], "o", color=c)
        _month_axis(ax, H)
        ax.set_ylim(-0.02, 1.02)
        ax.yaxis.set_major_locator(FixedLocator([0, 0.25, 0.5, 0.75, 1.0]))
        ax.set_title(ctx.titles[sid], fontsize=_LABEL_SIZE, color=_ink(c), fontweight="bold")
        if not d.empty:
            last = d.iloc[-1]
            # Top right unless the late band reaches up there; then bottom right.
            late_top = d.loc[m >= 0.5 * H, f"{var}_q95"].max()
            ya, va = (0.05, "bottom") if late_top > 0.75 else (0.95, "top")
            ax.text(0.97, ya, f"month {int(last['month'])}: median {last[f'{var}_q50']:.2f}",
                    transform=ax.transAxes, ha="right", va=va, fontsize=_SMALL_SIZE,
                    color="0.15",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
    sub.supxlabel("months from start", fontsize=_LABEL_SIZE)
    sub.supylabel(ylabel, fontsize=_LABEL_SIZE)
    handles = [Patch(facecolor="0.3", alpha=0.2, label="5–95% of trials"),
               Patch(facecolor="0.3", alpha=0.45, label="25–75% of trials"),
               Line2D([], [], color="0.3", linewidth=2, label="median"),
               Line2D([], [], color=_ANY_COLOUR, linewidth=1.1, linestyle="--", label="mean")]
    sub.legend(handles=handles, loc="outside upper center", ncols=4, fontsize=_SMALL_SIZE,
               frameon=False)
    return fig, title


def _fig_final_willingness(ctx: _Context, summary: Mapping[str, Any],
                           final_w_by_state: Mapping[str, np.ndarray]) -> tuple[Figure, str]:
    H = ctx.horizon
    n = len(ctx.ids)
    title = f"Government willingness to host a US base at month {H}: distribution over trials"
    note = ("Histograms over 0.01-wide bins; each state's bars are scaled to its tallest "
            "bin (percentage at the peak shown).\nBlack tick: median. Right: median and "
            "5–95% range over trials.")
    height = max(_FIGSIZE[1], 0.62 * n + 2.0)
    fig, sub = _new_figure(ctx, title, note, height=height)
    ax = sub.subplots()
    edges = np.linspace(0.0, 1.0, 101)
    row_h = 0.8
    ypos = []
    right_labels = []
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
            ax.stairs(y0 + share / peak * row_h, edges, baseline=y0, fill=True, color=c,
                      alpha=0.85)
            k = int(np.argmax(share))
            ax.text(min(edges[k + 1] + 0.006, 0.9), y0 + row_h * 0.92, f"{peak:.0%}",
                    fontsize=_SMALL_SIZE - 1, color="0.25", va="top", ha="left")
            med = fw.get("q50")
            if med is not None:
                ax.plot([med, med], [y0 - 0.08, y0 + 0.08], color="black", linewidth=2,
                        solid_capstyle="butt")
        right_labels.append(f"median {_fmt2(fw.get('q50'))}\n"
                            f"5–95%: {_fmt2(fw.get('q05'))}–{_fmt2(fw.get('q95'))}")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.2, n)
    ax.set_yticks(ypos, [ctx.titles[s] for s in ctx.ids])
    for lab, sid in zip(ax.get_yticklabels(), ctx.ids, strict=True):
        lab.set_color(_ink(ctx.colours[sid]))
        lab.set_fontweight("bold")
    ax.tick_params(axis="y", length=0, labelsize=_TICK_SIZE)
    ax.tick_params(axis="x", labelsize=_TICK_SIZE)
    ax.xaxis.set_major_locator(FixedLocator(np.linspace(0, 1, 11)))
    ax.grid(True, axis="x", color="0.92")
    ax.set_axisbelow(True)
    ax.set_xlabel(f"willingness w at month {H} (0 = refuses, 1 = fully willing)",
                  fontsize=_LABEL_SIZE)
    ax.set_ylabel("state (bar height: share of trials, per state)", fontsize=_LABEL_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    sec = ax.secondary_yaxis("right")
    sec.set_yticks(ypos, right_labels)
    sec.tick_params(length=0, labelsize=_SMALL_SIZE)
    sec.spines["right"].set_visible(False)
    return fig, title


def _fmt2(v: float | None) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.2f}"


def _fig_events(ctx: _Context, summary: Mapping[str, Any]) -> tuple[Figure, str]:
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
            ax_p.annotate(_fmt_p(pi), (xi, min(hj, top)), xytext=(0, 3),
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
    for xi, v, hj in zip(x, mi, mi_hi, strict=True):
        label = ("0" if v == 0 else "<0.001" if v < 1e-3 else f"{v:.2g}" if v < 1
                 else f"{v:.1f}")
        ax_i.annotate(label, (xi, hj if np.isfinite(hj) else 0), xytext=(0, 2),
                      textcoords="offset points", ha="center", va="bottom",
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
    return fig, title


# --------------------------------------------------------------------------- sweep figures
#
# Figures of a parameter sweep (:mod:`abm.sweep`): how the probability of a base responds
# to each swept parameter, a heatmap for a two-parameter grid, and the sensitivity indices
# of a Sobol' or Morris design. They reuse the run figures' palette, footer and layout.

#: Columns of the points table every sweep figure reads (besides the parameters).
_SWEEP_ANY_COLUMNS = ("any_base.p", "any_base.ci_low", "any_base.ci_high")
_SWEEP_STATE_COLUMNS = ("p_base", "ci_low", "ci_high")
_SWEEP_SUMMARY_KEYS = ("name", "design", "points", "trials_per_point", "seed", "parameters",
                       "horizon_months", "states")
_REF_LABEL = "reference (scenario without the sweep)"
_REF_LINE = "0.3"
_REF_BAND = "0.85"
_POINT_COLOUR = "#0072B2"
_S1_COLOUR = "#E69F00"
_ST_COLOUR = "#0072B2"
_UP_COLOUR = "#0072B2"
_DOWN_COLOUR = "#D55E00"
_SEQ_CMAP = "viridis"  # perceptually uniform and readable under colour-vision deficiencies
_SEQ_STOP = 0.85  # viridis' last yellows are too pale for lines on white
_INDEX_CMAP = "Blues"
_MAX_BARS = 20  # sensitivity bar charts show the top parameters only
_MAX_LEGEND_LEVELS = 7  # more levels of the other grid parameter get a colour bar instead
_MAX_ANNOTATED = 12  # heatmap cells are annotated up to 12 x 12
_CONSTANT_TEXT = "constant in every sample: no variance to apportion"


def draw_sweep_figures(points: pd.DataFrame, summary: Mapping[str, Any],
                       sens: Mapping[str, Any] | None, out_dir: str | Path) -> list[Path]:
    """Write the figures of a parameter sweep as PNG files.

    ===============================  =========================================================
    file                             content
    ===============================  =========================================================
    ``response_<param>.png``         probability of a base (any state, and per state) against
                                     each swept parameter, with 95% intervals and the
                                     reference scenario. A grid over one or two parameters:
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
        One row per design point (see :func:`abm.sweep.run_sweep`): a column per swept
        parameter named by its dotted key; ``any_base.p``, ``any_base.ci_low`` and
        ``any_base.ci_high`` (probability of a base in any state within the horizon, 95%
        Wilson interval); and ``<S>.p_base``, ``<S>.ci_low``, ``<S>.ci_high`` per state.
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
    _check_sweep_inputs(points, summary)
    ctx = _SweepContext.from_summary(summary, points)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = ctx.keys

    # Each figure is drawn and saved before the next is built: a design over many
    # parameters would otherwise hold dozens of figures in memory at once.
    jobs: list[tuple[str, Callable[[], tuple[Figure, str]]]] = []
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

    paths = []
    for fname, draw in jobs:
        fig, title = draw()
        path = out / fname
        fig.savefig(path, format="png", dpi=_DPI,
                    metadata={"Title": title, "Description": ctx.footer})
        paths.append(path)
    return paths


def _check_sweep_inputs(points: pd.DataFrame, summary: Mapping[str, Any]) -> None:
    miss = [k for k in _SWEEP_SUMMARY_KEYS if k not in summary]
    if miss:
        raise ValueError(f"sweep summary: missing key(s) {', '.join(miss)}")
    if not summary["states"]:
        raise ValueError("sweep summary: 'states' is empty; expected at least one state")
    if not summary["parameters"]:
        raise ValueError("sweep summary: 'parameters' is empty; expected at least one")
    want = [str(p["key"]) for p in summary["parameters"]] + list(_SWEEP_ANY_COLUMNS)
    want += [f"{s}.{c}" for s in summary["states"] for c in _SWEEP_STATE_COLUMNS]
    miss = [c for c in want if c not in points.columns]
    if miss:
        raise ValueError(f"sweep points table: missing column(s) {', '.join(miss)}")
    if len(points) == 0:
        raise ValueError("sweep points table: no rows; expected one row per design point")


def _param_units() -> dict[str, str]:
    """Unit of every sweepable key from the scenario schema (``states.<field>`` for a
    state's key), so that axis labels carry units without a second list to maintain."""
    from .config import schema

    return {f"{table}.{name}": str(meta.get("unit") or "")
            for table, rows in schema().items() for name, meta, _ in rows}


def _param_label(key: str, units: Mapping[str, str], log: bool) -> str:
    parts = key.split(".")
    lookup = f"states.{parts[-1]}" if parts[0] == "states" and len(parts) == 3 else key
    unit = units.get(lookup, "")
    label = f"{key} ({unit})" if unit else key
    return label + ", log scale" if log else label


def _file_safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)


@dataclass(frozen=True)
class _SweepContext:
    """What every sweep figure needs: identity, parameters, states, reference."""

    name: str
    design: str
    n_points: int
    horizon: int
    crn: bool
    keys: tuple[str, ...]
    log: dict[str, bool]
    boolean: dict[str, bool]
    labels: dict[str, str]
    ids: tuple[str, ...]
    colours: dict[str, str]
    reference: Mapping[str, Any]
    footer: str

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any], points: pd.DataFrame) -> _SweepContext:
        params = list(summary["parameters"])
        keys = tuple(str(p["key"]) for p in params)
        log = {str(p["key"]): bool(p.get("log", False)) for p in params}
        boolean = {k: pd.api.types.is_bool_dtype(points[k]) for k in keys}
        units = _param_units()
        labels = {k: _param_label(k, units, log[k]) for k in keys}
        ids = tuple(str(s) for s in summary["states"])
        colours = {sid: _PALETTE[i % len(_PALETTE)] for i, sid in enumerate(ids)}
        n_points = int(summary["points"])
        tpp = int(summary["trials_per_point"])
        seed = summary["seed"]
        seed_txt = f"seed {seed}" if seed is not None else "seed not recorded"
        footer = (f"{summary['name']} · {summary['design']} · {_plural(n_points, 'point')} · "
                  f"{tpp:,} trials/point · {seed_txt}")
        return cls(str(summary["name"]), str(summary["design"]), n_points,
                   int(summary["horizon_months"]), bool(summary.get("crn", False)), keys,
                   log, boolean, labels, ids, colours, summary.get("reference") or {}, footer)

    def ref(self, sid: str | None) -> tuple[float, float, float] | None:
        """Reference estimate and interval for a state, or anywhere (``sid`` None)."""
        if sid is None:
            r = self.reference.get("any_base")
            names = ("p", "ci_low", "ci_high")
        else:
            r = (self.reference.get("states") or {}).get(sid)
            names = ("p_base", "ci_low", "ci_high")
        if not r or any(r.get(k) is None for k in names):
            return None
        return tuple(float(r[k]) for k in names)  # type: ignore[return-value]


def _num(points: pd.DataFrame, column: str) -> np.ndarray:
    return points[column].to_numpy(dtype=np.float64, na_value=np.nan)


def _fmt_value(v: Any, boolean: bool = False) -> str:
    """A parameter value for ticks and legends: ``true``/``false`` or three digits."""
    if boolean:
        return "true" if bool(v) else "false"
    return f"{float(v):.3g}"


def _param_axis(ax: Axes, ctx: _SweepContext, key: str, x: np.ndarray) -> None:
    """X scale, limits and ticks for a parameter (log, switch, or linear)."""
    if ctx.boolean[key]:
        ax.set_xticks([0, 1], ["false", "true"])
        ax.set_xlim(-0.3, 1.3)
        return
    finite = x[np.isfinite(x)]
    if ctx.log[key] and finite.size and finite.min() > 0:
        ax.set_xscale("log")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    if finite.size and np.ptp(finite) == 0:
        v = float(finite[0])
        # One value: centre it; matplotlib's own expansion of a singular range is tiny.
        pad = abs(v) * 0.5 if v else 1.0
        if ctx.log[key] and v > 0:
            ax.set_xlim(v / 2, v * 2)
        else:
            ax.set_xlim(v - pad, v + pad)


def _reference(ax: Axes, ref: tuple[float, float, float] | None) -> None:
    if ref is None:
        return
    p, lo, hi = ref
    ax.axhspan(lo, hi, color=_REF_BAND, alpha=0.7, linewidth=0, zorder=0)
    ax.axhline(p, color=_REF_LINE, linestyle="--", linewidth=1.2, zorder=1)


def _reference_handle() -> tuple[Patch, Line2D]:
    return (Patch(facecolor=_REF_BAND, alpha=0.7),
            Line2D([], [], color=_REF_LINE, linestyle="--", linewidth=1.2))


def _zoom_title(ax: Axes, top: float) -> None:
    """Say on the panel when its probability axis does not run to 1."""
    if top < 1.0:
        _panel_title(ax, f"y axis zoomed to 0–{top:g}", loc="right", fontsize=_SMALL_SIZE - 0.5,
                     color=_NOTE_COLOUR, style="italic")


def _panel_title(ax: Axes, label: str, **kwargs: Any) -> None:
    """A panel title at a fixed height.

    A fixed ``y`` turns off matplotlib's automatic title placement, which measures the
    tick labels of every axes in the figure for each title (a large share of the drawing
    time of a figure with many panels) and is only needed for ticks on top, which these
    panels never have.
    """
    ax.set_title(label, y=1.0, **kwargs)


def _sweep_figure(ctx: _SweepContext, title: str, note: str, *, height: float,
                  width: float) -> tuple[Figure, SubFigure]:
    """:func:`_new_figure` with the note wrapped to the figure's width and its last line
    kept clear of the provenance footer, which shares that line on the right."""
    import textwrap

    per_inch = 17  # 8-point characters per inch, with a margin
    full = int((width - 0.3) * per_inch)
    lines = [w for line in note.split("\n") for w in (textwrap.wrap(line, full) or [""])]
    if len(lines[-1]) > full - len(ctx.footer) - 6:
        lines.append(" ")
    return _new_figure(ctx, title, "\n".join(lines), height=height, width=width)


def _state_panels(sub: SubFigure, ctx: _SweepContext, ylabel: str) -> list[Axes]:
    axes = _small_multiples(sub, len(ctx.ids))
    for ax, sid in zip(axes, ctx.ids, strict=True):
        c = ctx.colours[sid]
        _panel_title(ax, sid, fontsize=_LABEL_SIZE, color=_ink(c), fontweight="bold", loc="left")
    sub.supylabel(ylabel, fontsize=_LABEL_SIZE)
    return axes


def _response_layout(ctx: _SweepContext, title: str, note: str
                     ) -> tuple[Figure, SubFigure, SubFigure, Axes, list[Axes]]:
    """Any-state panel on the left, one small panel per state on the right."""
    nrows, ncols = _grid(len(ctx.ids))
    height = max(5.6, 2.0 * nrows + 1.9)
    fig, sub = _sweep_figure(ctx, title, note, height=height, width=12.0)
    left, right = sub.subfigures(1, 2, width_ratios=[1.0, 0.45 * ncols + 0.35], wspace=0.02)
    ax_any = left.subplots()
    ax_any.grid(True, color="0.9", linewidth=0.8)
    ax_any.set_axisbelow(True)
    ax_any.tick_params(labelsize=_TICK_SIZE)
    return fig, sub, right, ax_any, _state_panels(right, ctx, "probability of a base")


def _state_zero_note(ax: Axes, p: np.ndarray, top: float | None = None) -> None:
    """Say so when a state's panel looks empty: no base at all, or too few to see on the
    shared axis (``top``, its upper limit)."""
    most = float(np.nanmax(p, initial=0.0))
    if most <= 0:
        text = f"no base at {'the point' if p.size == 1 else 'any point'}"
    elif top is not None and most < 0.05 * top:
        text = f"at most {_fmt_p(most)}\n(too small to see here)"
    else:
        return
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=_SMALL_SIZE - 0.5, color=_NOTE_COLOUR,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})


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


def _fig_response_lines(ctx: _SweepContext, points: pd.DataFrame, key: str,
                        other: str | None) -> tuple[Figure, str]:
    """A grid over one or two parameters: lines over ``key``, one per level of ``other``."""
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
    lines = ["Points: the grid's values; line: estimate; band: 95% Wilson interval "
             "(each point's own trials)."]
    if other is not None:
        lines[0] = lines[0][:-1] + f"; one line per value of {other}."
        if not all(banded):
            lines[0] += (f" Bands only for the lowest and highest {other}, "
                         "for legibility.")
    if ctx.crn:
        lines.append("Common random numbers: every point replays the same trials, so "
                     "differences between points are not sampling noise.")
    lines.append("Dashed line and grey band: the scenario without the sweep and its 95% "
                 "interval. State panels share one y axis.")
    fig, sub, right, ax_any, axes = _response_layout(ctx, title, "\n".join(lines))

    any_p, any_lo, any_hi = (_num(points, c) for c in _SWEEP_ANY_COLUMNS)
    _reference(ax_any, ctx.ref(None))
    for (_, m), c, b in zip(groups, colours, banded, strict=True):
        _line_with_band(ax_any, x[m], any_p[m], any_lo[m], any_hi[m], c, band_alpha * b)
    ref = ctx.ref(None)
    top = _probability_top([*any_hi, *(ref[1:] if ref else ())])
    _probability_axis(ax_any, top)
    _zoom_title(ax_any, top)
    _param_axis(ax_any, ctx, key, x)
    _panel_title(ax_any, "in any state", fontsize=_LABEL_SIZE, fontweight="bold", loc="left")
    ax_any.set_xlabel(ctx.labels[key], fontsize=_LABEL_SIZE)
    ax_any.set_ylabel(f"probability of a base within {_plural(H, 'month')}",
                      fontsize=_LABEL_SIZE)

    highs = []
    for ax, sid in zip(axes, ctx.ids, strict=True):
        p, lo, hi = (_num(points, f"{sid}.{c}") for c in _SWEEP_STATE_COLUMNS)
        _reference(ax, ctx.ref(sid))
        for (_, m), c, b in zip(groups, colours, banded, strict=True):
            colour = ctx.colours[sid] if other is None else c
            _line_with_band(ax, x[m], p[m], lo[m], hi[m], colour, band_alpha * b, lw=1.4,
                            ms=2.5)
        r = ctx.ref(sid)
        highs += [*hi, *(r[1:] if r else ())]
    stop = _probability_top(highs)
    for ax, sid in zip(axes, ctx.ids, strict=True):
        _state_zero_note(ax, _num(points, f"{sid}.p_base"), stop)
    _probability_axis(axes[0], stop)  # shared: one call sets every state panel
    _param_axis(axes[0], ctx, key, x)
    right.supxlabel(ctx.labels[key], fontsize=_LABEL_SIZE)
    if stop < 1.0:
        right.suptitle(f"by state (y axis zoomed to 0–{stop:g})", fontsize=_LABEL_SIZE,
                       color=_NOTE_COLOUR)
    else:
        right.suptitle("by state", fontsize=_LABEL_SIZE, color=_NOTE_COLOUR)

    handles: list[Any] = []
    labels: list[str] = []
    if other is None:
        handles += [Line2D([], [], color="0.2", marker="o", markersize=3.5, linewidth=1.8),
                    Patch(facecolor="0.2", alpha=0.22)]
        labels += ["estimate (any state in black, states in their colour)",
                   "95% Wilson interval"]
    elif not many:
        for (lv, _), c in zip(groups, colours, strict=True):
            handles.append(Line2D([], [], color=c, marker="o", markersize=3.5, linewidth=1.8))
            labels.append(f"{other} = {_fmt_value(lv, ctx.boolean[other])}")
    else:
        _level_colourbar(right, axes, [lv for lv, _ in groups], colours, ctx.labels[other])
    if ctx.ref(None) is not None:
        handles.append(_reference_handle())
        labels.append(_REF_LABEL)
    if handles:
        ncols = len(handles) if len(handles) <= 6 else math.ceil(len(handles) / 2)
        sub.legend(handles=handles, labels=labels, loc="outside upper center", ncols=ncols,
                   fontsize=_SMALL_SIZE, frameon=False)
    return fig, title


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
                          key: str) -> tuple[Figure, str]:
    """A sampled design (or a grid over three or more parameters): every point, with the
    mean over the points in bins of ``key`` to show the trend through the others' noise.

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
    lines = [f"Each dot: one design point ({ctx.design}){varying}; whisker: its 95% Wilson "
             "interval."]
    if show_mean:
        lines.append(f"Lines: {how} of {key} (right: per state). Dashed line and grey band: "
                     "the scenario without the sweep and its 95% interval.")
    else:
        lines.append("Right: each point's estimate per state. Dashed line and grey band: the "
                     "scenario without the sweep and its 95% interval.")
    if ctx.design == "sobol" and others:
        # Saltelli's scheme keeps a base row's value of a parameter in matrix A and in the
        # D - 1 matrices that vary another parameter: the vertical columns of dots.
        lines.append(f"Saltelli sampling reuses each base value of {key} in up to "
                     f"{others + 1} points (the columns of dots): bin means rest on few "
                     "independent values.")
    fig, sub = _sweep_figure(ctx, title, "\n".join(lines), height=5.4, width=12.0)
    ax_any, ax_st = sub.subplots(1, 2, width_ratios=[1.25, 1.0], sharex=True)
    for ax in (ax_any, ax_st):
        ax.grid(True, color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(labelsize=_TICK_SIZE)
        ax.set_xlabel(ctx.labels[key], fontsize=_LABEL_SIZE)

    p, lo, hi = (_num(points, c) for c in _SWEEP_ANY_COLUMNS)
    ref = ctx.ref(None)
    _reference(ax_any, ref)
    # Fewer, larger dots for small designs; many points are drawn light so the density shows.
    alpha = 0.8 if n <= 50 else 0.45 if n <= 500 else 0.25
    ms = 4.5 if n <= 50 else 3.0
    ax_any.errorbar(x, p, yerr=_yerr(p, lo, hi), fmt="o", color=_POINT_COLOUR,
                    markersize=ms, alpha=alpha, ecolor="0.55", elinewidth=0.6, capsize=0,
                    zorder=3)
    if show_mean:
        _binned_mean(ax_any, x, p, masks)
    top = _probability_top([*hi, *(ref[1:] if ref else ())])
    _probability_axis(ax_any, top)
    _zoom_title(ax_any, top)
    _param_axis(ax_any, ctx, key, x)
    _panel_title(ax_any, "in any state", fontsize=_LABEL_SIZE, fontweight="bold", loc="left")
    ax_any.set_ylabel(f"probability of a base within {_plural(H, 'month')}",
                      fontsize=_LABEL_SIZE)

    highs: list[float] = []
    never = []
    for i, sid in enumerate(ctx.ids):
        sp = _num(points, f"{sid}.p_base")
        c = ctx.colours[sid]
        if np.nanmax(sp, initial=0.0) <= 0:
            never.append(sid)
        if show_mean:
            bx = np.array([np.mean(x[m]) for m in masks if m.any()])
            by = np.array([np.mean(sp[m]) for m in masks if m.any()])
            # Markers differ by state too, so coinciding lines (often all at 0) stay apart.
            ax_st.plot(bx, by, color=c, linewidth=1.6, marker="osD^vP*"[i % 7], markersize=4,
                       label=sid)
            highs += list(by)
        else:
            ax_st.plot(x, sp, linestyle="none", color=c, marker="osD^vP*"[i % 7],
                       markersize=5, label=sid)
            highs += list(sp)
    stop = _probability_top(highs)
    _probability_axis(ax_st, stop)
    _zoom_title(ax_st, stop)
    ax_st.tick_params(labelbottom=True)
    _panel_title(ax_st, "by state" + (": binned means" if show_mean else ""),
                 fontsize=_LABEL_SIZE, fontweight="bold", loc="left")
    ax_st.set_ylabel("probability of a base", fontsize=_LABEL_SIZE)
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
        handles.append(_reference_handle())
        labels.append(_REF_LABEL)
    sub.legend(handles=handles, labels=labels, loc="outside upper center", ncols=len(handles),
               fontsize=_SMALL_SIZE, frameon=False)
    return fig, title


def _fig_heatmap(ctx: _SweepContext, points: pd.DataFrame, k1: str,
                 k2: str) -> tuple[Figure, str]:
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
    return fig, title


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


# --------------------------------------------------------------------------- sensitivity


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


def _fig_sobol(ctx: _SweepContext, outputs: Mapping[str, Any]) -> tuple[Figure, str]:
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
        return fig, title
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
    return fig, title


def _fig_morris(ctx: _SweepContext, outputs: Mapping[str, Any]) -> tuple[Figure, str]:
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
        return fig, title
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
    return fig, title


def _fig_index_table(ctx: _SweepContext, points: pd.DataFrame, outputs: Mapping[str, Any],
                     method: str) -> tuple[Figure, str]:
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
    return fig, title


def draw_history(rows: Sequence[Any], path: str | Path, *, trials: int) -> Path:
    """Bar chart of the model's probability of the recorded outcome, per state and episode.

    ``rows`` are :class:`abm.history.HistoryRow` (``scenario``, ``state``, ``recorded``,
    ``p_recorded``, ``ci_low``, ``ci_high``). A dashed line at 1/2 marks "most likely".
    """
    from matplotlib.figure import Figure

    path = Path(path)
    episodes = list(dict.fromkeys(r.scenario for r in rows))
    states = list(dict.fromkeys(r.state for r in rows))
    by = {(r.scenario, r.state): r for r in rows}
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
            labels.append("base" if r.recorded else "none")
        pa, loa, hia = np.array(p), np.array(lo), np.array(hi)
        colour = _PALETTE[k % len(_PALETTE)]
        ax.bar(xs, pa, width * 0.92, color=colour, label=f"{ep}")
        ax.errorbar(xs, pa, yerr=_yerr(pa, loa, hia), fmt="none", ecolor="black",
                    capsize=3, lw=1)
        for xi, pi, hii, lab in zip(xs, pa, hia, labels, strict=True):
            ax.text(xi, hii + 0.015, f"{pi:.2f}", ha="center", va="bottom",
                    fontsize=_SMALL_SIZE)
            ax.text(xi, 0.03, f"record: {lab}", ha="center", va="bottom", rotation=90,
                    fontsize=_SMALL_SIZE, color="white", fontweight="bold")
    ax.axhline(0.5, color="0.3", ls="--", lw=1, label="1/2: above it, the record is the "
               "most likely outcome")
    ax.set_xticks(x, states, fontsize=_TICK_SIZE)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
