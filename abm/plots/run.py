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
``survival.png``            share of trials with a first base by each month 0..H
                            (1 - Kaplan-Meier survival), with the 95% pointwise interval
                            (one panel per state, one y scale zoomed to the data)
``fan_willingness.png``     5-95% and 25-75% bands, median and mean of the government's
                            willingness ``w`` per month (one panel per state)
``fan_support.png``         the same for public support ``p``
``final_willingness.png``   histogram of ``w`` at the horizon, per state, on an axis
                            zoomed to the data, with each state's decision threshold
``events.png``              probability of at least one CSTO veto and of a base closure
                            (95% Wilson intervals); mean spillover incidents per trial
                            (95% normal interval)
==========================  ==============================================================

Every figure names the scenario, the number of trials, the horizon and the seed in its
footer. ``survival.png``, ``final_willingness.png`` and ``events.png`` are drawn by
:mod:`abm.plots.run_outcomes`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator

from ..errors import ResultsError
from .paths import draw_path_lines, path_handle, path_lines, path_note
from .run_outcomes import _fig_events, _fig_final_willingness, _fig_survival
from .style import (
    _ANY_BAR_COLOUR,
    _ANY_COLOUR,
    _LABEL_SIZE,
    _SMALL_SIZE,
    _SWATCH_HANDLER,
    _TICK_SIZE,
    _Context,
    _decimals,
    _fmt_fixed,
    _ink,
    _month_axis,
    _new_figure,
    _panel_height,
    _plural,
    _probability_axis,
    _probability_top,
    _run_footer,
    _save,
    _small_multiples,
    _state_swatch,
    _yerr,
    _zoom_note,
)

__all__ = ["FIGURE_NAMES", "build_figures", "decision_thresholds", "draw_figures",
           "draw_run_dir"]


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
    thresholds: Mapping[str, float] | None = None,
    paths: pd.DataFrame | None = None,
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
    thresholds : mapping of str to float, optional
        Each state's decision threshold at the last month (see
        :func:`decision_thresholds`), marked on ``final_willingness.png``; none if
        omitted.
    paths : pandas.DataFrame, optional
        ``paths.parquet`` of the run (:mod:`abm.model.paths`): the fan charts then overlay
        the first trials' paths as thin lines (:mod:`abm.plots.paths`).

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
        "fan_willingness.png": _fig_fan(ctx, months_by_state, "w", paths),
        "fan_support.png": _fig_fan(ctx, months_by_state, "p", paths),
        "final_willingness.png": _fig_final_willingness(ctx, summary, final_w_by_state,
                                                        thresholds),
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
    thresholds: Mapping[str, float] | None = None,
    paths: pd.DataFrame | None = None,
) -> list[Path]:
    """Write the six figures of a run as PNG files.

    Parameters
    ----------
    table, months, summary, state_names, thresholds, paths
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
    figures = build_figures(table, months, summary, state_names=state_names,
                            thresholds=thresholds, paths=paths)
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
        (the per-month table) and ``summary.json``; ``paths.parquet`` too if the run
        saved paths (drawn over the fan charts).

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
        paths = (pd.read_parquet(run_dir / "paths.parquet", engine="pyarrow")
                 if (run_dir / "paths.parquet").is_file() else None)
    except (OSError, ValueError) as exc:  # ValueError covers JSON and Arrow decode errors
        raise ResultsError(f"{run_dir}: cannot read results: {exc}") from exc
    try:
        return draw_figures(table, months, summary, run_dir / "figures",
                            thresholds=_manifest_thresholds(run_dir), paths=paths)
    except ValueError as exc:
        raise ResultsError(f"{run_dir}: {exc}") from exc


def decision_thresholds(scenario: Any) -> dict[str, float]:
    """Each state's decision threshold at the last month of the horizon: the willingness
    at which an agreement becomes likely, ``dynamics.threshold`` plus the state's
    ``legal_bar`` after any scheduled shock (what the model compares ``w`` with).

    ``scenario`` is a :class:`~abm.scenario.schema.Scenario` or its ``to_dict()`` form
    (as a run's ``manifest.json`` records it).
    """
    from ..model.compile import compile_scenario
    from ..scenario import scenario_from_dict

    sc = scenario_from_dict(scenario) if isinstance(scenario, Mapping) else scenario
    cm = compile_scenario(sc)
    last = max(cm.T - 1, 0)
    return {sid: float(cm.par["threshold"] + cm.monthly["legal_bar"][last, i])
            for i, sid in enumerate(cm.ids)}


def _manifest_thresholds(run_dir: Path) -> dict[str, float] | None:
    """The thresholds of the scenario a run's manifest records; None if it records none
    (the figure then draws without them)."""
    try:
        with open(run_dir / "manifest.json", encoding="utf-8") as fh:
            scenario = json.load(fh).get("scenario")
        return decision_thresholds(scenario) if isinstance(scenario, Mapping) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    dec = _decimals([*p, *lo, *hi])  # one format for every estimate and bound
    ax.set_xticks(x, [f"{lab}\n{_fmt_fixed(pi, dec)}\n[{_fmt_fixed(li, dec)}, "
                      f"{_fmt_fixed(hj, dec)}]"
                      for lab, pi, li, hj in zip(labels, p, lo, hi, strict=True)])
    ax.tick_params(axis="x", length=0,
                   labelsize=8.5 if len(labels) <= 7 else _SMALL_SIZE if len(labels) <= 9 else 7)
    ax.tick_params(axis="y", labelsize=_TICK_SIZE)
    ax.set_ylabel(f"probability of a base within {_plural(H, 'month')}", fontsize=_LABEL_SIZE)
    ax.set_xlabel("state (estimate and [95% interval] under each bar)", fontsize=_LABEL_SIZE)
    ax.grid(True, axis="y", color="0.9")
    ax.set_axisbelow(True)
    _zoom_note(ax, top)
    # The swatch shows the bars as drawn: one patch per bar colour (states, then grey).
    handles = [_state_swatch(colours, lambda c: Patch(facecolor=c, alpha=0.85)), whisker]
    sub.legend(handles=handles, labels=["share of trials with a base (state colours; grey: "
                                        "any state)", "estimate and 95% Wilson interval"],
               handler_map=_SWATCH_HANDLER, loc="outside upper center", ncols=2,
               fontsize=_SMALL_SIZE, frameon=False, handlelength=5)
    return fig


_FAN_TEXT = {
    "w": ("Government willingness to host a US base, month by month",
          "willingness w (0 = refuses, 1 = fully willing)"),
    "p": ("Public support for a US military presence, month by month",
          "public support p (0 = none, 1 = full)"),
}


def _fig_fan(ctx: _Context, months_by_state: Mapping[str, pd.DataFrame],
             var: str, paths: pd.DataFrame | None = None) -> Figure:
    H = ctx.horizon
    n = len(ctx.ids)
    title, ylabel = _FAN_TEXT[var]
    note = ("Bands: 5–95% and 25–75% of trials in each month (quantiles from 0.001-wide "
            "histograms);\nsolid line: median; dashed line: mean.")
    lines = path_lines(paths, ctx.ids, var)
    note += path_note(lines)
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
        draw_path_lines(ax, lines, sid)
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
    # Swatches in the state colours the bands and medians are drawn in.
    colours = [ctx.colours[s] for s in ctx.ids]
    handles = [_state_swatch(colours, lambda c: Patch(facecolor=c, alpha=0.2, linewidth=0)),
               _state_swatch(colours, lambda c: Patch(facecolor=c, alpha=0.45, linewidth=0)),
               _state_swatch(colours, lambda c: Line2D([], [], color=c, linewidth=2)),
               Line2D([], [], color=_ANY_COLOUR, linewidth=1.1, linestyle="--"),
               *path_handle(lines)]
    sub.legend(handles=handles, labels=["5–95% of trials", "25–75% of trials", "median",
                                        "mean", *[h.get_label() for h in handles[4:]]],
               handler_map=_SWATCH_HANDLER,
               loc="outside upper center", ncols=len(handles), fontsize=_SMALL_SIZE,
               frameon=False, handlelength=5)
    return fig


