"""Console tables of a run's and a sweep's summary (what ``abm run``/``show`` print)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..analysis.formats import fmt_num_ci, fmt_prob, fmt_prob_ci, shorten
from .precision import precision_line

__all__ = ["overrides_text", "titled", "format_summary", "format_sweep"]


def overrides_text(overrides: Sequence[str] | None, width: int = 70) -> str:
    """``[russia.pressure=0.3, ...]`` (shortened if long), or empty without overrides."""
    if not overrides:
        return ""
    return f" [{shorten(', '.join(str(o).strip() for o in overrides), width)}]"


def titled(name: str, overrides: Sequence[str] | None) -> str:
    """A scenario's name with its ``--set`` overrides, as every header shows it."""
    return f"{name}{overrides_text(overrides)}"


def _med(v: Any) -> str:
    return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def _pair(v: Any) -> tuple[float, float] | None:
    return (float(v[0]), float(v[1])) if isinstance(v, list | tuple) and len(v) == 2 else None


def format_summary(summary: dict[str, Any], where: str | None = None,
                   overrides: Sequence[str] | None = None) -> str:
    """The summary as plain-text tables: P(base) with medians and final willingness, then
    vetoes, closures, months hosted and incidents, every estimate with its 95% interval."""
    s = summary
    lines = [
        f"{titled(s['name'], overrides)}: {s['trials']:,} trials, {s['horizon_months']} "
        f"months, seed {s['seed']}, engine {s['engine']}",
    ]
    if where:
        lines.append(f"results: {where}")
    precision = precision_line(s)
    if precision:
        lines.append(precision)
    lines.append("P(base) is the probability that the US obtains a base within the horizon; "
                 "[95% interval] ("
                 + ("Clopper-Pearson adjusted for the looks" if precision else "Wilson")
                 + " for probabilities, normal for means).")
    rows1, rows2 = [], []
    for sid, st in s["states"].items():
        fw = st["final_willingness"]
        fw_ci = _pair(fw.get("mean_ci"))
        fw_txt = (fmt_num_ci(fw["mean"], *fw_ci, decimals=3) if fw_ci
                  else f"{fw['mean']:.3f}") + f" ({fw['q05']:.2f}-{fw['q95']:.2f})"
        rows1.append([sid, fmt_prob_ci(st["p_base"], st["ci_low"], st["ci_high"]),
                      _med(st.get("median_first_base_month")),
                      _med(st.get("median_first_base_month_given_base")), fw_txt])
        veto, closed = _pair(st.get("p_veto_ci")), _pair(st.get("p_closed_ci"))
        mh, mi = _pair(st.get("mean_months_hosted_ci")), _pair(st.get("mean_incidents_ci"))
        rows2.append([sid,
                      fmt_prob_ci(st["p_veto"], *veto) if veto else fmt_prob(st["p_veto"]),
                      fmt_prob_ci(st["p_closed"], *closed) if closed
                      else fmt_prob(st["p_closed"]),
                      fmt_num_ci(st["mean_months_hosted"], *mh) if mh
                      else f"{st['mean_months_hosted']:.2f}",
                      fmt_num_ci(st["mean_incidents"], *mi) if mi
                      else f"{st['mean_incidents']:.2f}"])
    a = s["any_base"]
    rows1.append(["any", fmt_prob_ci(a["p"], a["ci_low"], a["ci_high"]),
                  _med(a.get("median_first_month")), "", ""])
    lines += _table(["state", "P(base) [95% CI]", "median 1st", "median 1st | base",
                     "final w mean [95% CI] (5-95%)"], rows1, right=(2, 3))
    lines.append("median 1st: Kaplan-Meier median month of the first base ('-' unless "
                 "P(base) >= 0.5); | base: median month among trials with a base.")
    lines += _table(["state", "P(veto) [95% CI]", "P(closed) [95% CI]",
                     "months hosted [95% CI]", "incidents [95% CI]"], rows2)
    if s.get("posterior"):
        lines += _posterior_lines(s)
    lines.append(f"outputs_sha256: {s['outputs_sha256']}")
    return "\n".join(lines)


def _posterior_lines(s: dict[str, Any]) -> list[str]:
    """Under a posterior: P(base) with the interval that carries parameter uncertainty,
    and the split of its variance (docs/forecasts.md)."""
    po = s["posterior"]
    keys = po["keys"]
    shown = ", ".join(keys) if len(keys) <= 4 else f"{len(keys)} parameters"
    out = [f"Under posterior {po['calibration_id']} ({shown}; "
           f"{po['groups']:,} draws of {po['group_trials']} trials): the intervals above are "
           "Monte Carlo only; this one includes parameter uncertainty (t interval on the "
           "mean of group means)."]
    rows = [[sid, fmt_prob_ci(st["p_base"], *st["p_base_ci"]),
             f"{st['p_base_param_sd']:.3f}", f"{st['p_base_mc_sd']:.3f}"]
            for sid, st in s["states"].items()]
    a = s["any_base"]
    rows.append(["any", fmt_prob_ci(a["p"], *a["p_ci"]), f"{a['p_param_sd']:.3f}",
                 f"{a['p_mc_sd']:.3f}"])
    out += _table(["state", "P(base) [95% posterior interval]", "sd params",
                   "sd Monte Carlo"], rows, right=(2, 3))
    out.append("sd params: spread of P(base) over the posterior's parameter sets; sd Monte "
               "Carlo: within a parameter set, per trial (law of total variance).")
    return out


def _table(head: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    out = [line(head)]
    out.append("-" * len(out[0]))
    out += [line(r) for r in rows]
    return out


def format_sweep(summary: dict[str, Any], where: Path | str,
                 overrides: Sequence[str] | None = None) -> str:
    """The sweep's header: design, parameters, points, the reference's P(any base)."""
    ref = summary["reference"]
    a = ref["any_base"]
    keys = [p["key"] for p in summary["parameters"]]
    ad = summary.get("adaptive")
    trials = (f"{summary['trials_per_point']:,} trials" if not isinstance(ad, dict) else
              f"{ad['trials_min']:,}-{ad['trials_max']:,} trials (adaptive)")
    lines = [f"{titled(summary['name'], overrides)}: {summary['design']} over "
             f"{', '.join(keys)}; {summary['points']} points x "
             f"{trials}, seed {summary['seed']}"
             + ("" if summary["crn"] else " (independent streams)"),
             f"results: {where}  (points.parquet, sensitivity.json"
             + (", figures/)" if (Path(where) / "figures").is_dir() else ")"),
             f"reference (no sweep): P(any base) "
             f"{fmt_prob_ci(a['p'], a['ci_low'], a['ci_high'])}",
             f"outputs_sha256: {summary['outputs_sha256']}"]
    if isinstance(ad, dict):
        lines.insert(3, f"precision on demand: target +/-{ad['target_halfwidth']:g} per point "
                        f"(95%, Clopper-Pearson at level {ad['level_per_look']:.4f} for "
                        f"{len(ad['looks'])} looks), {ad['trials_total']:,} trials in all: "
                        f"{ad['reason']}")
    post = summary.get("posterior")
    if isinstance(post, dict):
        held = post.get("held_by_sweep") or []
        lines.insert(3, f"under posterior {post.get('calibration_id')} "
                        f"({len(post.get('keys') or [])} parameters; {post.get('groups')} "
                        f"draws of {post.get('group_trials')} trials per point"
                        + (f"; held at the sweep's values: {', '.join(held)}"
                           if 0 < len(held) <= 4 else f"; {len(held)} keys held at the "
                           "sweep's values" if held else "")
                        + "): intervals on group means, with parameter uncertainty")
    return "\n".join(lines)
