"""What a reader sees in a run's figures, read from the matplotlib objects: every legend
entry is a mark the figure draws, in the colours it is drawn in (and no entry for a mark
that is not drawn); the axes contain all the data they plot; the numbers printed in a
figure follow one format. The sweep's response figures are read in
``tests/test_plots_sweep.py``."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.offsetbox import DrawingArea, TextArea
from matplotlib.patches import Patch, Rectangle, StepPatch

from abm.experiment.simulate import simulate
from abm.plots import build_figures, decision_thresholds


def legend_entries(legend) -> dict[str, list]:
    """A legend's entries: label -> the marks drawn in its swatch (every mark of a
    swatch made of several, not only the first that ``legend_handles`` keeps)."""
    out: dict[str, list] = {}

    def walk(box) -> None:
        kids = box.get_children()
        if len(kids) == 2 and isinstance(kids[0], DrawingArea) and isinstance(kids[1], TextArea):
            out[kids[1].get_text()] = list(kids[0].get_children())
            return
        for k in kids:
            if not isinstance(k, (DrawingArea, TextArea, Patch, Line2D)):
                walk(k)

    walk(legend)
    return out


def colour(artist) -> str:
    if isinstance(artist, Line2D):
        return to_hex(artist.get_color())
    if isinstance(artist, Patch):
        return to_hex(artist.get_facecolor())
    return to_hex(artist.get_facecolor()[0])  # a collection


def assert_data_inside(ax) -> None:
    """Every line, band, bar and whisker of ``ax`` lies within its axis limits."""
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    tol = 1e-9

    def inside(xy: np.ndarray, check_y: bool = True) -> None:
        xy = np.asarray(xy, float).reshape(-1, 2)
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        assert np.all((xy[:, 0] >= x0 - tol) & (xy[:, 0] <= x1 + tol)), (ax.get_title(),
                                                                          x0, x1, xy[:, 0])
        if check_y:
            assert np.all((xy[:, 1] >= y0 - tol) & (xy[:, 1] <= y1 + tol)), (
                ax.get_title(), y0, y1, xy[:, 1])

    for ln in ax.get_lines():
        xy = np.column_stack([ln.get_xdata(), ln.get_ydata()]).astype(float)
        if ln.get_transform() == ax.transData:
            inside(xy)
        elif ln.get_transform() == ax.get_xaxis_transform():  # axvline: x in data
            inside(xy, check_y=False)
    for coll in ax.collections:
        if hasattr(coll, "get_segments"):
            for seg in coll.get_segments():
                inside(seg)
        else:
            for path in coll.get_paths():
                inside(path.vertices)
    for patch in ax.patches:
        if isinstance(patch, StepPatch):
            inside(patch.get_path().vertices)
        elif isinstance(patch, Rectangle):
            inside([[patch.get_x(), patch.get_y()],
                    [patch.get_x() + patch.get_width(), patch.get_y() + patch.get_height()]])


def decimals_used(texts: list[str]) -> set[int]:
    return {len(m) for t in texts for m in re.findall(r"\d\.(\d+)", t)}


@pytest.fixture(scope="module", params=["experiments/baseline_2021.toml",
                                        "experiments/opening_2001.toml",
                                        "tests/data/baseline_2021_handfit.toml"])
def run_figures(request):
    res = simulate(request.param, trials=400, seed=7)
    figs = build_figures(res.table, res.months, res.summary,
                         thresholds=decision_thresholds(res.scenario))
    return res, figs


def _axes(fig) -> list:
    return [ax for ax in fig.subfigs[0].axes if ax.get_visible()]


def test_survival_legend_lists_only_what_is_drawn(run_figures):
    res, figs = run_figures
    fig = figs["survival.png"]
    axes = _axes(fig)
    entries = legend_entries(fig.subfigs[0].legends[0])
    curves = [ax.get_lines()[0] for ax in axes]
    bands = [c for ax in axes for c in ax.collections]
    medians = [ln for ax in axes for ln in ax.get_lines()[1:]]
    want = {"Kaplan-Meier estimate (state colours)"}
    want |= {"95% pointwise interval"} if bands else set()
    want |= {"median time to a base"} if medians else set()
    assert set(entries) == want
    assert [colour(m) for m in entries["Kaplan-Meier estimate (state colours)"]] == [
        colour(c) for c in curves]
    if bands:
        marks = entries["95% pointwise interval"]
        assert [colour(m) for m in marks] == [colour(b) for b in bands]
        assert {m.get_alpha() for m in marks} == {b.get_alpha() for b in bands}
    # a median line where the Kaplan-Meier median exists, none elsewhere (the hand-fitted
    # baseline has no state with P(base) >= 1/2, the others do)
    has_median = [st["median_first_base_month"] is not None
                  for st in res.summary["states"].values()]
    assert len(medians) == sum(has_median)


def test_p_base_and_fan_swatches_are_the_drawn_colours(run_figures):
    _, figs = run_figures
    (ax,) = _axes(figs["p_base.png"])
    entries = legend_entries(figs["p_base.png"].subfigs[0].legends[0])
    bars = ax.containers[0]
    (label,) = [k for k in entries if k.startswith("share of trials")]
    assert [colour(m) for m in entries[label]] == [colour(b) for b in bars]

    for name in ("fan_willingness.png", "fan_support.png"):
        fig = figs[name]
        entries = legend_entries(fig.subfigs[0].legends[0])
        assert list(entries) == ["5–95% of trials", "25–75% of trials", "median", "mean"]
        axes = _axes(fig)
        for k, label in enumerate(["5–95% of trials", "25–75% of trials"]):
            drawn = [ax.collections[k] for ax in axes]
            assert [colour(m) for m in entries[label]] == [colour(c) for c in drawn]
            assert {m.get_alpha() for m in entries[label]} == {c.get_alpha() for c in drawn}
        assert [colour(m) for m in entries["median"]] == [
            colour(ax.get_lines()[0]) for ax in axes]
        (mean,) = entries["mean"]
        assert mean.get_linestyle() == axes[0].get_lines()[1].get_linestyle() == "--"


def test_final_willingness_zoom_threshold_and_legend(run_figures):
    res, figs = run_figures
    fig = figs["final_willingness.png"]
    (ax,) = _axes(fig)
    thresholds = decision_thresholds(res.scenario)
    w = res.table["final_w"].to_numpy(float)
    lo, hi = ax.get_xlim()
    assert lo < w.min() and hi > w.max()  # all the data, with a margin
    assert hi - lo < 1.0 or w.max() - w.min() > 0.8  # zoomed unless the data fill 0-1
    assert ("axis zoomed to" in ax.get_xlabel()) == (hi - lo < 1)  # and it says so
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    on_axis = [t for t in thresholds.values() if lo <= t <= hi]
    assert sorted(ln.get_xdata()[0] for ln in dashed) == pytest.approx(sorted(on_axis))
    right = ax.child_axes[0] if ax.child_axes else None
    labels = [t.get_text() for t in (right.get_yticklabels() if right else [])]
    for text, sid in zip(labels, res.summary["states"], strict=True):
        t = thresholds[sid]
        assert f"threshold {t:.2f}" in text
        assert ("(" in text) == (not lo <= t <= hi)  # off the axis: said so
    entries = legend_entries(fig.subfigs[0].legends[0])
    assert ("decision threshold" in entries) == bool(dashed)
    steps = [p for p in ax.patches if isinstance(p, StepPatch)]
    (label,) = [k for k in entries if k.startswith("share of trials")]
    assert [colour(m) for m in entries[label]] == [colour(p) for p in steps]


def test_point_mass_at_zero_is_clear_of_the_axis_line(run_figures):
    res, figs = run_figures
    (ax,) = _axes(figs["final_willingness.png"])
    if res.table["final_w"].min() < 0.005:
        assert ax.get_xlim()[0] < 0


@pytest.mark.parametrize("name", ["p_base.png", "survival.png", "fan_willingness.png",
                                  "fan_support.png", "final_willingness.png", "events.png"])
def test_axes_contain_all_data(run_figures, name):
    _, figs = run_figures
    for ax in _axes(figs[name]):
        assert_data_inside(ax)


def test_numbers_follow_one_format_per_figure(run_figures):
    _, figs = run_figures
    (ax,) = _axes(figs["p_base.png"])
    assert len(decimals_used([t.get_text() for t in ax.get_xticklabels()])) == 1
    ax_p, ax_i = _axes(figs["events.png"])
    assert len(decimals_used([t.get_text() for t in ax_p.texts if t.get_rotation()])) == 1
    assert len(decimals_used([t.get_text() for t in ax_i.texts])) <= 1
    shares = [t.get_text() for ax in _axes(figs["survival.png"]) for t in ax.texts
              if "share with a base" in t.get_text()]
    assert len(decimals_used([s.split(": ")[1].split("\n")[0] for s in shares])) <= 1
