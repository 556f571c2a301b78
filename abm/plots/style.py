"""What every figure of :mod:`abm.plots` shares: palette, sizes, the figure frame
(title, content, footer), small multiples, probability axes, number formats, saving, and
the context of a sweep's figures (:mod:`abm.plots.sweep` and :mod:`abm.plots.sensitivity`
both draw from it).

Colours follow the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), which
stays distinguishable under the common colour-vision deficiencies.

The names here are private to :mod:`abm.plots` (leading underscore): its modules import
them, nothing outside the package should.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase, SubFigure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, MaxNLocator

#: Okabe-Ito colours, most distinct first; black is kept for "any state" and the mean.
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
_ANY_COLOUR = "#000000"
_ANY_BAR_COLOUR = "0.45"  # grey, so the black whisker stays visible over the bar
_VETO_COLOUR = "#0072B2"
_CLOSED_COLOUR = "#D55E00"
_INCIDENT_COLOUR = "#009E73"
_NOTE_COLOUR = "0.3"
_REF_LINE = "0.3"  # a sweep's reference scenario: dashed line
_REF_BAND = "0.85"  # and band of its interval


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


class _Footed(Protocol):
    """A figure context: anything with the provenance line of the footer."""

    @property
    def footer(self) -> str: ...


# --------------------------------------------------------------------------- layout helpers


def _new_figure(ctx: _Footed, title: str, note: str, *,
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


def _decimals(values: Sequence[float], *, prob: bool = True, sig: int = 2, least: int = 2,
              most: int = 4) -> int:
    """One number of decimals for every label of a figure: enough to give the smallest
    non-zero value ``sig`` significant digits (for a probability, also the smallest
    distance from 1), between ``least`` and ``most``."""
    sizes = []
    for v in values:
        if v is None or not np.isfinite(v):
            continue
        v = abs(float(v))
        if prob and v < 1:
            v = min(v, 1 - v)
        if v > 0:
            sizes.append(v)
    if not sizes:
        return least
    need = sig - 1 - math.floor(math.log10(min(sizes)))
    return int(min(most, max(least, need)))


def _fmt_fixed(v: float | None, dec: int, *, prob: bool = True) -> str:
    """``v`` with ``dec`` decimals, the rule :func:`_decimals` chose for the whole figure.

    A probability too small (or too close to 1) to show at that precision prints as
    ``<0.0001`` (``>0.9999``), never as a rounded 0 or 1 that the data do not say.
    """
    if v is None or not np.isfinite(v):
        return "n/a"
    step = 10.0 ** -dec
    if prob and 0 < v < step / 2:
        return f"<{step:.{dec}f}"
    if prob and 1 - step / 2 <= v < 1:
        return f">{1 - step:.{dec}f}"
    return f"{v:.{dec}f}"


#: Legend handler for a swatch made of one mark per state (a tuple of handles).
_SWATCH_HANDLER = {tuple: HandlerTuple(ndivide=None, pad=0.0)}


def _state_swatch(colours: Sequence[str], make: Any) -> tuple[Any, ...]:
    """A legend swatch showing a mark in each state's colour: ``make(colour)`` builds one
    handle; drawn side by side with :data:`_SWATCH_HANDLER`."""
    return tuple(make(c) for c in colours)


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


def _panel_height(n: int) -> float:
    nrows, _ = _grid(n)
    return max(_FIGSIZE[1], 1.9 * nrows + 1.5)


def _month_axis(ax: Axes, horizon: int) -> None:
    ax.set_xlim(0, max(horizon, 1))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=7, integer=True, steps=[1, 2, 3, 6, 10]))


def _zoom_note(ax: Axes, top: float) -> None:
    if top < 1.0:
        ax.text(0.01, 0.98, f"y axis zoomed to 0–{top:g} "
                f"(probabilities run from 0 to 1)", transform=ax.transAxes, ha="left",
                va="top", fontsize=_SMALL_SIZE, color=_NOTE_COLOUR, style="italic")


def _fmt2(v: float | None) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.2f}"


def _yerr(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    # Clip: rounding in the interval can put a bound a hair on the wrong side of p.
    return np.vstack([np.clip(p - lo, 0, None), np.clip(hi - p, 0, None)])


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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


def _save(fig: Figure, path: Path, footer: str) -> Path:
    """Write ``fig`` as a PNG at ``path``: its title and ``footer`` (the provenance line)
    go into the PNG's ``Title`` and ``Description`` metadata."""
    fig.savefig(path, format="png", dpi=_DPI,
                metadata={"Title": fig.get_suptitle(), "Description": footer})
    return path


# --------------------------------------------------------------------------- run context


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



# --------------------------------------------------------------------------- sweep context, axes


def _param_units() -> dict[str, str]:
    """Unit of every sweepable key from the scenario schema (``states.<field>`` for a
    state's key), so that axis labels carry units without a second list to maintain."""
    from ..scenario.schema import schema

    return {f"{table}.{name}": str(meta.get("unit") or "")
            for table, rows in schema().items() for name, meta, _ in rows}


def _param_label(key: str, units: Mapping[str, str], log: bool) -> str:
    parts = key.split(".")
    lookup = f"states.{parts[-1]}" if parts[0] == "states" and len(parts) == 3 else key
    unit = units.get(lookup, "")
    label = f"{key} ({unit})" if unit else key
    return label + ", log scale" if log else label


def _sweep_footer(summary: Mapping[str, Any]) -> str:
    """The provenance line of a sweep's figures: name, design, points, trials, seed."""
    n_points = int(summary["points"])
    tpp = summary["trials_per_point"]
    tpp_txt = "adaptive trials" if tpp == "adaptive" else f"{int(tpp):,} trials"
    seed = summary["seed"]
    seed_txt = f"seed {seed}" if seed is not None else "seed not recorded"
    return (f"{summary['name']} · {summary['design']} · {_plural(n_points, 'point')} · "
            f"{tpp_txt}/point · {seed_txt}")


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
        return cls(str(summary["name"]), str(summary["design"]), int(summary["points"]),
                   int(summary["horizon_months"]), bool(summary.get("crn", False)), keys,
                   log, boolean, labels, ids, colours, summary.get("reference") or {},
                   _sweep_footer(summary))

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


def _num(points: pd.DataFrame, column: str) -> np.ndarray:
    return points[column].to_numpy(dtype=np.float64, na_value=np.nan)


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
