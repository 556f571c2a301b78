"""A calibration's figures: prior against posterior, the parameters that moved most, the
posterior-predictive check per episode and pattern, and the sampler's diagnostics.

Everything is drawn from the calibration directory's own files (``summary.json``,
``posterior.parquet``, ``generations.parquet``, ``diagnostics.json``) and, for the prior
densities, curves the caller computes (``{key: (x, density)}``), so this module needs
nothing from :mod:`abm.experiment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullFormatter

from .style import (
    _LABEL_SIZE,
    _NOTE_COLOUR,
    _PALETTE,
    _SMALL_SIZE,
    _TICK_SIZE,
    _new_figure,
    _save,
)

__all__ = ["CALIBRATION_FIGURES", "draw_calibration_figures", "iter_calibration_figures"]

CALIBRATION_FIGURES = ("marginals.png", "pairs.png", "predictive.png", "diagnostics.png")
_PRIOR = "0.35"
_POST = _PALETTE[0]
_ROLE_COLOUR = {"fitted": _PALETTE[0], "left out": _PALETTE[1], "out-of-sample": _PALETTE[3],
                "not fitted": "0.5"}


@dataclass(frozen=True)
class _Ctx:
    summary: Mapping[str, Any]

    @property
    def footer(self) -> str:
        s = self.summary
        eps = s.get("final_epsilon")
        tol = "exact (tolerance 0)" if eps == 0 else f"tolerance {eps}"
        quick = " · --quick" if s.get("quick") else ""
        return (f"{s['name']} · calibration {s['calibration_id']} · {s['population']:,} "
                f"particles · {s['generations']} generations · {tol} · seed {s['seed']}"
                f"{quick}")


def _order(summary: Mapping[str, Any]) -> list[str]:
    """Parameters, most narrowed first (posterior 90% width / prior 90% width)."""
    par = summary["parameters"]
    return sorted(par, key=lambda k: (par[k]["width_ratio"] is None,
                                      par[k]["width_ratio"] or 0.0))


def _short(key: str) -> str:
    return key.split(".", 1)[1] if "." in key else key


def _marginals(ctx: _Ctx, post: pd.DataFrame, prior_curves: Mapping[str, Any]) -> Any:
    keys = _order(ctx.summary)
    n = len(keys)
    ncols = 6 if n > 16 else 4 if n > 6 else max(n, 1)
    nrows = -(-n // ncols)
    fig, main = _new_figure(ctx, "What the episodes taught: prior and posterior of each "
                            "parameter",
                            "grey line: prior density; bars: weighted posterior (per unit\n"
                            "of log x on log axes); panels ordered by how much the posterior\n"
                            "narrowed: r = posterior 90% width / prior 90% width",
                            width=2.1 * ncols + 0.6, height=1.6 * nrows + 1.4)
    axs = main.subplots(nrows, ncols, squeeze=False).ravel()
    w = post["weight"].to_numpy()
    par = ctx.summary["parameters"]
    for ax, key in zip(axs, keys, strict=False):
        x = post[key].to_numpy()
        pr = par[key]["prior"]
        lo, hi = pr["low"], pr["high"]
        if pr["dist"] == "normal":  # truncated normal: show its central 99.8%
            m, s = pr["mean"], pr["sd"]
            lo, hi = max(lo, m - 3.1 * s), min(hi, m + 3.1 * s)
            lo, hi = min(lo, x.min()), max(hi, x.max())
        log = pr["dist"] == "loguniform"
        if log:  # densities per unit of log x, so that a log-uniform prior is flat
            edges = np.linspace(np.log(lo), np.log(hi), 26)
            h, _ = np.histogram(np.log(x), bins=edges, weights=w, density=True)
            ax.stairs(h, np.exp(edges), fill=True, color=_POST, alpha=0.75)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.hist(x, bins=np.linspace(lo, hi, 26), weights=w, density=True, color=_POST,
                    alpha=0.75)
        if key in prior_curves:
            gx, gy = prior_curves[key]
            ax.plot(gx, gy * gx if log else gy, color=_PRIOR, lw=1.4)
        ax.set_xlim(lo, hi)
        ax.set_yticks([])
        ax.tick_params(labelsize=_SMALL_SIZE)
        r = par[key]["width_ratio"]
        ax.set_title(f"{_short(key)}\nr = {r:.2f}" if r is not None else _short(key),
                     fontsize=_SMALL_SIZE)
    for ax in axs[n:]:
        ax.set_visible(False)
    main.legend(handles=[Patch(color=_POST, alpha=0.75, label="posterior (weighted)"),
                         Line2D([], [], color=_PRIOR, lw=1.4, label="prior")],
                loc="outside upper center", ncols=2, fontsize=_SMALL_SIZE, frameon=False)
    return fig


def _pairs(ctx: _Ctx, post: pd.DataFrame, k: int = 4) -> Any:
    keys = _order(ctx.summary)[:k]
    k = len(keys)
    fig, main = _new_figure(ctx, "The parameters that moved most, jointly",
                            f"the {k} parameters whose posterior narrowed most;\npoints: "
                            "600 draws from the weighted posterior; diagonal: marginals",
                            width=2.3 * k + 0.8, height=2.3 * k + 1.0)
    axs = main.subplots(k, k, squeeze=False)
    w = post["weight"].to_numpy()
    rng = np.random.default_rng(0)  # figure only: which particles are drawn as points
    idx = rng.choice(len(w), size=min(600, 4 * len(w)), p=w / w.sum())
    for i, ki in enumerate(keys):
        for j, kj in enumerate(keys):
            ax = axs[i, j]
            ax.tick_params(labelsize=_SMALL_SIZE)
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(post[ki].to_numpy(), bins=25, weights=w, color=_POST, alpha=0.75)
                ax.set_yticks([])
            else:
                ax.scatter(post[kj].to_numpy()[idx], post[ki].to_numpy()[idx], s=4,
                           color=_POST, alpha=0.35, linewidths=0)
            if i == k - 1:
                ax.set_xlabel(_short(kj), fontsize=_SMALL_SIZE)
            if j == 0 and i > 0:
                ax.set_ylabel(_short(ki), fontsize=_SMALL_SIZE)
    return fig


def _predictive(ctx: _Ctx) -> Any:
    rows = list(ctx.summary["predictive"])
    n = len(rows)
    fig, main = _new_figure(ctx, "Under the posterior, how likely is what happened?",
                            "dots: posterior-predictive probability of each recorded pattern;\n"
                            "whiskers: 95% intervals with parameter uncertainty; right of the\n"
                            "dashed line the record is the most likely outcome",
                            width=9.0, height=0.24 * n + 1.8)
    ax = main.subplots()
    y = np.arange(n)[::-1]
    for yi, r in zip(y, rows, strict=True):
        c = _ROLE_COLOUR.get(r["role"], "0.5")
        ax.errorbar(r["p_recorded"], yi, xerr=[[r["p_recorded"] - r["ci_low"]],
                                               [r["ci_high"] - r["p_recorded"]]],
                    fmt="o", color=c, ms=4, capsize=2, lw=1)
        ax.text(1.02, yi, f"{r['p_recorded']:.2f}", va="center", fontsize=_SMALL_SIZE,
                color=c)
    labels = [f"{r['episode']} · {r['state']} {r['pattern']}" for r in rows]
    ax.set_yticks(y, labels, fontsize=_SMALL_SIZE)
    ax.axvline(0.5, color=_NOTE_COLOUR, ls="--", lw=1)
    ax.set_xlim(0, 1.1)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.tick_params(axis="x", labelsize=_TICK_SIZE)
    ax.set_xlabel("P(recorded pattern) under the posterior", fontsize=_LABEL_SIZE)
    ax.set_ylim(-0.7, n - 0.3)
    ax.grid(True, axis="x", color="0.9")
    roles = list(dict.fromkeys(r["role"] for r in rows))
    ax.legend(handles=[Line2D([], [], marker="o", ls="-", color=_ROLE_COLOUR.get(x, "0.5"),
                              ms=4, lw=1, label=x) for x in roles],
              loc="lower left", fontsize=_SMALL_SIZE, frameon=True)
    return fig


def _diagnostics(ctx: _Ctx, diag: Mapping[str, Any]) -> Any:
    gens = diag["generations"]
    t = [g["generation"] for g in gens]
    fig, main = _new_figure(ctx, "How the sampler went",
                            "tolerance: recorded patterns a trial may miss per episode "
                            "(generation 0: the prior);\nESS after lowering the tolerance; "
                            "acceptance: share of\nMetropolis-Hastings moves accepted",
                            height=4.2)
    a1, a2, a3 = main.subplots(1, 3)
    eps = [np.nan if g["epsilon"] is None else g["epsilon"] for g in gens]
    per = [g.get("tolerances") for g in gens]
    names = list(ctx.summary.get("episodes") or [])
    if any(p is not None and len(set(p)) > 1 for p in per) and names:
        # lowered episode by episode: a line per episode, nudged apart so that equal
        # tolerances stay visible
        n = len(names)
        for e, name in enumerate(names):
            y = [np.nan if p is None else p[e] + 0.12 * (e - (n - 1) / 2) / max(n - 1, 1)
                 for p in per]
            a1.plot(t, y, color=_PALETTE[e % len(_PALETTE)], marker="o", ms=3, lw=1.2,
                    drawstyle="steps-mid", label=name)
        a1.legend(fontsize=_SMALL_SIZE - 1, frameon=True, loc="upper right")
    else:
        a1.plot(t, eps, color=_PALETTE[0], marker="o", ms=4, drawstyle="steps-mid")
    a1.yaxis.set_major_locator(MaxNLocator(integer=True))
    a1.set_ylim(bottom=-0.2)
    a1.set_title("tolerance", fontsize=_LABEL_SIZE)
    a2.plot(t, [g["ess_reweighted"] for g in gens], marker="o", ms=4, color=_PALETTE[1])
    a2.set_ylim(bottom=0)
    a2.set_title("effective sample size", fontsize=_LABEL_SIZE)
    acc = [np.nan if g["acceptance_rate"] is None else g["acceptance_rate"] for g in gens]
    a3.plot(t, acc, marker="o", ms=4, color=_PALETTE[2])
    a3.set_ylim(0, 1)
    a3.set_title("acceptance rate", fontsize=_LABEL_SIZE)
    for a in (a1, a2, a3):
        a.set_xlabel("generation", fontsize=_LABEL_SIZE)
        a.set_xticks(t)
        a.tick_params(labelsize=_TICK_SIZE)
        a.grid(True, color="0.9")
    return fig


def iter_calibration_figures(summary: Mapping[str, Any], posterior: pd.DataFrame,
                             diagnostics: Mapping[str, Any],
                             prior_curves: Mapping[str, Any]) -> Any:
    """Yield ``(file name, Figure)`` for :data:`CALIBRATION_FIGURES`."""
    ctx = _Ctx(summary)
    yield "marginals.png", _marginals(ctx, posterior, prior_curves)
    yield "pairs.png", _pairs(ctx, posterior)
    yield "predictive.png", _predictive(ctx)
    yield "diagnostics.png", _diagnostics(ctx, diagnostics)


def draw_calibration_figures(summary: Mapping[str, Any], posterior: pd.DataFrame,
                             diagnostics: Mapping[str, Any], prior_curves: Mapping[str, Any],
                             out_dir: str | Path) -> list[Path]:
    """Write the calibration's figures as PNG files into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = _Ctx(summary)
    return [_save(fig, out / name, ctx.footer)
            for name, fig in iter_calibration_figures(summary, posterior, diagnostics,
                                                      prior_curves)]
