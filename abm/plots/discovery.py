"""Scenario discovery's figures (``abm discover``), drawn from ``discovery.json``:

- ``peeling.png``: PRIM's trajectory, coverage against density, the chosen box marked
  (``--method cart``: ``leaves.png``, each leaf of the tree at its coverage and density);
- ``box_limits.png``: the chosen box's limits on each restricted input, on that input's
  range, with the bootstrap intervals of each limit;
- ``feature_scores.png``: the extra-trees scores with their bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .style import (
    _LABEL_SIZE,
    _PALETTE,
    _SMALL_SIZE,
    _TICK_SIZE,
    _new_figure,
    _save,
)

__all__ = ["DISCOVERY_FIGURES", "iter_discovery_figures", "draw_discovery_figures"]

DISCOVERY_FIGURES = ("peeling.png", "leaves.png", "box_limits.png", "feature_scores.png")
_TOP = 15  # feature scores shown


class _Ctx:
    def __init__(self, footer: str):
        self.footer = footer


def _footer(d: dict[str, Any]) -> str:
    sw = d.get("sweep") or {}
    return (f"abm discover · {sw.get('name', '?')} sweep-{sw.get('sweep_id', '?')} · "
            f"{d['n_points']:,} points · seed {d['seed']}")


def _outcome_line(d: dict[str, Any]) -> str:
    return (f"{d['outcome']['expression']}: {d['n_positive']:,} of {d['n_points']:,} points "
            f"positive ({d['base_density']:.1%})")


def _axes_style(ax: Any) -> None:
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)


def build_peeling_figure(d: dict[str, Any]) -> Figure:
    """Coverage (x) against density (y) of every step of the PRIM trajectory, coloured
    by the number of restricted inputs; the chosen step ringed and labelled."""
    p = d["prim"]
    traj = p["trajectory"]
    cov = np.array([t["coverage"] for t in traj])
    den = np.array([t["density"] for t in traj])
    res = np.array([t["res_dim"] for t in traj])
    k = p["chosen_step"]
    note = (f"{_outcome_line(d)}.\nEach dot is a step of PRIM's peeling and pasting "
            "trajectory (Friedman & Fisher 1999).\n"
            + (f"Chosen: step {k} (--box)." if p.get("rule", "").startswith("step") else
               f"Chosen: the densest step with coverage >= {p['min_coverage']:g}."))
    fig, main = _new_figure(_Ctx(_footer(d)), f"PRIM trajectory for {d['outcome']['expression']}",
                            note, height=5.4)
    ax = main.add_subplot()
    ax.plot(cov, den, color="0.75", lw=0.8, zorder=1)
    sc = ax.scatter(cov, den, c=res, cmap="viridis", s=22, zorder=2,
                    vmin=0, vmax=max(int(res.max()), 1))
    ax.scatter([cov[k]], [den[k]], s=160, facecolors="none", edgecolors=_PALETTE[3], lw=2,
               zorder=3)
    b = p["box"]
    ax.annotate(f"chosen: step {k}\ncoverage {b['coverage']:.2f}, density {b['density']:.2f},"
                f"\n{b['res_dim']} inputs restricted", (cov[k], den[k]), xytext=(-12, -14),
                textcoords="offset points", ha="right", va="top", fontsize=_SMALL_SIZE,
                color=_PALETTE[3])
    if "min_coverage" in p and p["min_coverage"] is not None:
        ax.axvline(p["min_coverage"], color="0.4", ls="--", lw=0.9)
        ax.annotate(f"min coverage {p['min_coverage']:g}", (p["min_coverage"], 0.02),
                    xycoords=("data", "axes fraction"), xytext=(3, 0),
                    textcoords="offset points", fontsize=_SMALL_SIZE, color="0.3")
    ax.axhline(d["base_density"], color="0.4", ls=":", lw=0.9)
    ax.annotate("all points", (0.01, d["base_density"]), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", fontsize=_SMALL_SIZE, color="0.3")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("coverage: share of positive points inside the box", fontsize=_LABEL_SIZE)
    ax.set_ylabel("density: share of the box's points positive", fontsize=_LABEL_SIZE)
    _axes_style(ax)
    cb = fig.colorbar(sc, ax=ax, pad=0.01)
    cb.set_label("inputs restricted", fontsize=_SMALL_SIZE)
    cb.ax.tick_params(labelsize=_SMALL_SIZE)
    return fig


def build_leaves_figure(d: dict[str, Any]) -> Figure:
    """Coverage against density of each leaf of the CART tree; the leaves that predict
    the positive class filled and numbered."""
    c = d["cart"]
    leaves = c["leaves"]
    note = (f"{_outcome_line(d)}. Each dot is a leaf of a classification tree (CART, depth "
            f"<= {c['max_depth']}, >= {c['min_samples_leaf']} points a leaf);\nfilled: the "
            "leaf predicts the positive class (density > 0.5).")
    fig, main = _new_figure(_Ctx(_footer(d)), f"CART leaves for {d['outcome']['expression']}",
                            note, height=5.0)
    ax = main.add_subplot()
    for r in leaves:
        pos = r["positive"]
        ax.scatter([r["coverage"]], [r["density"]], s=30 + 200 * r["n"] / d["n_points"],
                   facecolors=_PALETTE[0] if pos else "none", edgecolors=_PALETTE[0], lw=1.2)
        if pos:
            ax.annotate(f"leaf {r['leaf']}", (r["coverage"], r["density"]), xytext=(6, 4),
                        textcoords="offset points", fontsize=_SMALL_SIZE)
    ax.axhline(d["base_density"], color="0.4", ls=":", lw=0.9)
    ax.axhline(0.5, color="0.4", ls="--", lw=0.9)
    for yy, label in ((d["base_density"], "all points"), (0.5, "predicts positive above")):
        ax.annotate(label, (0.99, yy), xycoords=("axes fraction", "data"), xytext=(0, 3),
                    textcoords="offset points", ha="right", fontsize=_SMALL_SIZE, color="0.3")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("coverage: share of positive points in the leaf", fontsize=_LABEL_SIZE)
    ax.set_ylabel("density: share of the leaf's points positive", fontsize=_LABEL_SIZE)
    _axes_style(ax)
    return fig


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def build_box_limits_figure(d: dict[str, Any]) -> Figure:
    """One row per input the chosen PRIM box restricts: the box on the input's range
    scaled to [0, 1], and the bootstrap 95% interval of each limit as a whisker; the share
    of resamples restricting the input and its quasi-p-value on the right."""
    p = d["prim"]
    lims = [e for e in p["box"]["limits"] if e["restricted"]]
    n = max(len(lims), 1)
    note = (f"Bar: the limits of the chosen step {p['chosen_step']} on each input it "
            "restricts, the input's swept range scaled to [0, 1].\nWhiskers: 95% percentile "
            f"interval of each limit over {d['bootstrap']['resamples']} bootstrap resamples. "
            "Right: share of resamples\nrestricting the input; quasi-p-value of the "
            "restriction (Bryant & Lempert 2010).")
    fig, main = _new_figure(_Ctx(_footer(d)),
                            f"PRIM box for {d['outcome']['expression']}", note,
                            height=max(3.4, 1.9 + 0.42 * n), width=10.0)
    ax = main.add_subplot()
    y = np.arange(len(lims))[::-1]
    for j, e in enumerate(lims):
        lo0, hi0 = e["data_low"], e["data_high"]
        span = (hi0 - lo0) or 1.0

        def s(v: float, lo0: float = lo0, span: float = span) -> float:
            return (v - lo0) / span

        a, b = s(e["low"]), s(e["high"])
        ax.barh(y[j], b - a, left=a, height=0.5, color=_PALETTE[0], edgecolor=_PALETTE[0],
                alpha=0.55, lw=1.2)
        for ci, v in ((e.get("low_ci"), a), (e.get("high_ci"), b)):
            if ci:
                ax.plot([s(ci[0]), s(ci[1])], [y[j], y[j]], color="k", lw=1.6)
                ax.plot([v], [y[j]], "|", color="k", ms=12)
        if e["kind"] == "number":
            side = e["restricted"]
            if side in ("low", "both"):
                ax.annotate(_fmt(e["low"]), (a, y[j] + 0.27), ha="center", va="bottom",
                            fontsize=_SMALL_SIZE - 1, color="0.25")
            if side in ("high", "both"):
                ax.annotate(_fmt(e["high"]), (b, y[j] + 0.27), ha="center", va="bottom",
                            fontsize=_SMALL_SIZE - 1, color="0.25")
        else:
            ax.annotate(", ".join(str(v).lower() for v in e["values"]), ((a + b) / 2,
                        y[j] + 0.27), ha="center", va="bottom", fontsize=_SMALL_SIZE - 1)
        share = e.get("bootstrap_restricted_share")
        qp = e.get("quasi_p")
        right = (f"{share:.0%}" if share is not None else "-") + (
            f"   qp {qp:.1g}" if qp is not None else "")
        ax.annotate(right, (1.0, y[j]), xycoords=("axes fraction", "data"), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=_SMALL_SIZE)
    ax.set_yticks(y, [e["key"] for e in lims], fontsize=_TICK_SIZE)
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.7, len(lims) - 0.2)
    ax.set_xlabel("position in the input's swept range (0 = lowest value, 1 = highest)",
                  fontsize=_LABEL_SIZE)
    _axes_style(ax)
    if not lims:
        ax.text(0.5, 0.5, "the chosen box restricts no input", ha="center",
                transform=ax.transAxes)
    return fig


def build_feature_scores_figure(d: dict[str, Any]) -> Figure:
    """The highest extra-trees scores as bars with their bootstrap interval; a dashed line
    at 1/D, the score of every input if none mattered more than another."""
    fs = d["feature_scores"]
    rows = fs["scores"][:_TOP]
    n_in = len(fs["scores"])
    note = (f"Extra-trees impurity importance (Geurts et al. 2006), {fs['n_estimators']} "
            f"trees a fit; bar: {fs['score']};\nwhiskers: "
            f"{fs['interval'] or 'none (no resamples)'}.\n"
            + (f"The {_TOP} highest of {n_in} inputs. " if n_in > _TOP else "")
            + f"Dashed: 1/{n_in}, every input equal.")
    fig, main = _new_figure(_Ctx(_footer(d)),
                            f"What separates {d['outcome']['expression']}", note,
                            height=max(3.4, 1.8 + 0.33 * len(rows)))
    ax = main.add_subplot()
    y = np.arange(len(rows))[::-1]
    v = np.array([r["score"] for r in rows])
    ax.barh(y, v, color=_PALETTE[2], alpha=0.8, height=0.6)
    if all(r["ci_low"] is not None for r in rows):
        lo = np.array([r["ci_low"] for r in rows])
        hi = np.array([r["ci_high"] for r in rows])
        ax.errorbar(v, y, xerr=[np.maximum(v - lo, 0), np.maximum(hi - v, 0)], fmt="none",
                    ecolor="k", capsize=2.5, lw=1.1)
    ax.axvline(1 / n_in, color="0.4", ls="--", lw=0.9)
    ax.set_yticks(y, [r["key"] for r in rows], fontsize=_TICK_SIZE)
    ax.set_xlabel("score (share of the trees' impurity decrease)", fontsize=_LABEL_SIZE)
    ax.set_xlim(0, None)
    _axes_style(ax)
    return fig


def iter_discovery_figures(d: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    """``(file name, Figure)`` for a discovery result, in drawing order."""
    if d.get("prim"):
        yield "peeling.png", build_peeling_figure(d)
        yield "box_limits.png", build_box_limits_figure(d)
    if d.get("cart"):
        yield "leaves.png", build_leaves_figure(d)
    yield "feature_scores.png", build_feature_scores_figure(d)


def draw_discovery_figures(d: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the figures of a discovery result as PNGs into ``out_dir`` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [_save(fig, out / name, _footer(d)) for name, fig in iter_discovery_figures(d)]
