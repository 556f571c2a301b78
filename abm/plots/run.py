"""The figures of one run: PNG files an analyst can read without the code.

:func:`draw_figures` turns the three outputs of a run (the per-trial table, the per-month
table and the ``summary.json`` dict, see :mod:`abm.analysis.summary`) into six figures;
:func:`build_figures` returns them as :class:`~matplotlib.figure.Figure` objects instead;
:func:`draw_run_dir` draws them for a results directory on disk.

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

Every figure names the scenario, the number of trials, the horizon and the seed in its
footer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator

from ..analysis.stats import survival
from ..errors import ResultsError
from .style import (
    _ANY_BAR_COLOUR,
    _ANY_COLOUR,
    _CLOSED_COLOUR,
    _FIGSIZE,
    _INCIDENT_COLOUR,
    _LABEL_SIZE,
    _NOTE_COLOUR,
    _PALETTE,
    _SMALL_SIZE,
    _TICK_SIZE,
    _VETO_COLOUR,
    _fmt2,
    _fmt_p,
    _ink,
    _month_axis,
    _new_figure,
    _panel_height,
    _plural,
    _probability_axis,
    _probability_top,
    _save,
    _small_multiples,
    _yerr,
    _zoom_note,
)

__all__ = ["FIGURE_NAMES", "build_figures", "draw_figures", "draw_run_dir"]


#: File names written by :func:`draw_figures`, in the order of the returned paths.
FIGURE_NAMES = (
    "p_base.png",
    "survival.png",
    "fan_willingness.png",
    "fan_support.png",
    "final_willingness.png",
    "events.png",
)


_TABLE_COLUMNS = ("state", "first_base_month", "final_w")
_MONTHS_COLUMNS = ("month", "state") + tuple(
    f"{v}_{s}" for v in ("w", "p") for s in ("mean", "q05", "q25", "q50", "q75", "q95"))
_SUMMARY_KEYS = ("name", "trials", "horizon_months", "seed", "any_base", "states")
_STATE_KEYS = ("p_base", "ci_low", "ci_high", "p_closed", "p_closed_ci", "p_veto",
               "p_veto_ci", "mean_incidents", "mean_incidents_ci", "final_willingness")


# --------------------------------------------------------------------------- public API


def build_figures(
    table: pd.DataFrame,
    months: pd.DataFrame,
    summary: Mapping[str, Any],
    *,
    state_names: Mapping[str, str] | None = None,
) -> dict[str, Figure]:
    """The six figures of a run, as matplotlib figures keyed by file name.

    Parameters
    ----------
    table : pandas.DataFrame
        The per-trial table, one row per (trial, state): at least the columns ``state``,
        ``first_base_month`` (month of the first base, missing if never; nullable
        integer or float with NaN) and ``final_w`` (willingness at the horizon, 0-1).
    months : pandas.DataFrame
        The per-(month, state) table of :func:`abm.model.accumulators.months_table`:
        ``month`` (0..H), ``state``, and ``{w,p}_{mean,q05,q25,q50,q75,q95}``.
    summary : mapping
        The ``summary.json`` dict of :func:`abm.analysis.summary.summarize`. Its
        ``states`` order is the order of states in every figure. A state entry may carry
        a ``name`` (display name), used in panel titles.
    state_names : mapping of str to str, optional
        Display names by state id (e.g. ``{"UZB": "Uzbekistan"}``), used in panel
        titles; takes precedence over names in ``summary``.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        One figure per file name of :data:`FIGURE_NAMES`, in that order. Each has the
        figure's title as its ``suptitle``; nothing is written to disk and no pyplot
        state is touched.

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
    """
    _check_inputs(table, months, summary)
    ctx = _Context.from_summary(summary, state_names)

    first = table["first_base_month"].to_numpy(dtype=np.float64, na_value=np.nan)
    final_w = table["final_w"].to_numpy(dtype=np.float64, na_value=np.nan, copy=False)
    first_by_state, final_w_by_state = {}, {}
    S = len(ctx.ids)
    state_col = table["state"]
    codes = (state_col.cat.codes.to_numpy() if isinstance(state_col.dtype, pd.CategoricalDtype)
             else None)
    canonical = (codes is not None and len(codes) % max(S, 1) == 0
                 and list(state_col.cat.categories) == list(ctx.ids)
                 and np.array_equal(codes.reshape(-1, S), np.broadcast_to(
                     np.arange(S, dtype=codes.dtype), (len(codes) // S, S))))
    if canonical:
        # the table's own order (trial, then state): each state's column is a strided
        # view, so a million-trial table is not copied again for the figures
        for i, sid in enumerate(ctx.ids):
            first_by_state[sid] = first.reshape(-1, S)[:, i]
            final_w_by_state[sid] = final_w.reshape(-1, S)[:, i]
    else:
        # any other order: one state at a time (a categorical compares codes; no Python
        # string per row, one boolean mask alive at a time)
        for sid in ctx.ids:
            rows = (state_col == sid).to_numpy(dtype=bool)
            first_by_state[sid] = first[rows]
            final_w_by_state[sid] = final_w[rows]
    months_by_state = _months_by_state(months, ctx.ids)

    figures = {
        "p_base.png": _fig_p_base(ctx, summary),
        "survival.png": _fig_survival(ctx, summary, first_by_state),
        "fan_willingness.png": _fig_fan(ctx, months_by_state, "w"),
        "fan_support.png": _fig_fan(ctx, months_by_state, "p"),
        "final_willingness.png": _fig_final_willingness(ctx, summary, final_w_by_state),
        "events.png": _fig_events(ctx, summary),
    }
    return {fname: figures[fname] for fname in FIGURE_NAMES}


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
    table, months, summary, state_names
        As for :func:`build_figures`.
    out_dir : str or Path
        Directory for the PNG files; created if missing. Existing files of the same
        names are overwritten.

    Returns
    -------
    list of Path
        The files written, in the order of :data:`FIGURE_NAMES`.

    Raises
    ------
    ValueError
        If a required column or summary key is missing (before anything is written).

    Examples
    --------
    >>> from abm import simulate                                          # doctest: +SKIP
    >>> res = simulate("experiments/baseline_2021.toml", trials=2000, seed=1)  # doctest: +SKIP
    >>> draw_figures(res.table, res.months, res.summary, "figures")      # doctest: +SKIP
    """
    figures = build_figures(table, months, summary, state_names=state_names)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    footer = _run_footer(summary)
    return [_save(fig, out / fname, footer) for fname, fig in figures.items()]


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
        return cls(ids, titles, colours, int(summary["trials"]),
                   int(summary["horizon_months"]), _run_footer(summary))


def _run_footer(summary: Mapping[str, Any]) -> str:
    """The provenance line of a run's figures: scenario, trials, horizon, seed."""
    trials = int(summary["trials"])
    horizon = int(summary["horizon_months"])
    seed = summary["seed"]
    seed_txt = f"seed {seed}" if seed is not None else "seed not recorded"
    return (f"{summary['name']} · {trials:,} trial{'s' if trials != 1 else ''} · "
            f"{horizon} month{'s' if horizon != 1 else ''} · {seed_txt}")


# --------------------------------------------------------------------------- figures


def _fig_p_base(ctx: _Context, summary: Mapping[str, Any]) -> Figure:
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
    return fig


def _fig_survival(ctx: _Context, summary: Mapping[str, Any],
                  first_by_state: Mapping[str, np.ndarray]) -> Figure:
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
    return fig


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
             var: str) -> Figure:
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
    return fig


def _fig_final_willingness(ctx: _Context, summary: Mapping[str, Any],
                           final_w_by_state: Mapping[str, np.ndarray]) -> Figure:
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
    return fig


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
    return fig
