"""Tests for :mod:`abm.plots`: the six figures exist, are real PNGs, survive edge cases,
show what the summary says (titles, labels, one artist per state, whiskers at the
intervals), and drawing them leaves matplotlib's global state (backend, rcParams, pyplot)
alone. The historical check's figure is tested here too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from abm.errors import ResultsError
from abm.experiment.simulate import simulate
from abm.plots import (
    FIGURE_NAMES,
    build_figures,
    build_history_figure,
    draw_figures,
    draw_history,
    draw_run_dir,
)
from abm.scenario import scenario_from_dict

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "experiments" / "baseline_2021.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED = {
    "p_base.png",
    "survival.png",
    "fan_willingness.png",
    "fan_support.png",
    "final_willingness.png",
    "events.png",
}


def _check_pngs(paths: list[Path], out_dir: Path) -> None:
    import matplotlib.image as mpimg

    assert [p.name for p in paths] == list(FIGURE_NAMES)
    assert set(FIGURE_NAMES) == EXPECTED
    assert {p.name for p in out_dir.iterdir() if p.suffix == ".png"} == EXPECTED
    for path in paths:
        assert path.parent == out_dir
        assert path.read_bytes()[:8] == PNG_SIGNATURE, path.name
        img = mpimg.imread(path)
        assert img.ndim == 3, path.name
        assert img.shape[0] > 200 and img.shape[1] > 200, (path.name, img.shape)


@pytest.fixture(scope="module")
def baseline_run():
    return simulate("experiments/baseline_2021.toml", trials=300, seed=1)


def test_draw_figures_baseline(baseline_run, tmp_path):
    out = tmp_path / "figs" / "nested"  # created if missing
    paths = draw_figures(baseline_run.table, baseline_run.months, baseline_run.summary, out)
    _check_pngs(paths, out)


def test_draw_figures_overwrites_and_accepts_state_names(baseline_run, tmp_path):
    res = baseline_run
    stale = tmp_path / "p_base.png"
    stale.write_bytes(b"not a png")
    names = {s.id: s.name for s in res.scenario.states}
    paths = draw_figures(res.table, res.months, res.summary, tmp_path, state_names=names)
    _check_pngs(paths, tmp_path)


def test_draw_figures_with_bases(tmp_path):
    # Bases happen: a state hosting from month 0, one that opens at once, one that never does.
    sc = scenario_from_dict({
        "name": "bases", "horizon_months": 6,
        "us": {"demand": 1.0, "incentives": 0.8},
        "russia": {"pressure": 0.0, "veto_strength": 0.0},
        "states": [{"id": "AAA", "hosting": True, "willingness": 0.3},
                   {"id": "BBB", "willingness": 0.7},
                   {"id": "CCC"}],
    })
    res = simulate(sc, trials=200, seed=3)
    assert res.summary["states"]["BBB"]["p_base"] > 0.5
    paths = draw_figures(res.table, res.months, res.summary, tmp_path)
    _check_pngs(paths, tmp_path)

    # The cumulative incidence of the first base: one panel per state, from 0 (1 for a
    # month-0 host) up to the share of trials with a base, a band where bases happened,
    # the median marked.
    fig = build_figures(res.table, res.months, res.summary)["survival.png"]
    axes = _content_axes(fig)
    assert [ax.get_title() for ax in axes] == ["AAA", "BBB", "CCC"]
    for ax, sid in zip(axes, ["AAA", "BBB", "CCC"], strict=True):
        st = res.summary["states"][sid]
        curve = ax.get_lines()[0]
        np.testing.assert_array_equal(curve.get_xdata(), np.arange(7))
        y = np.asarray(curve.get_ydata())
        assert y[0] == (1.0 if sid == "AAA" else 0.0)
        assert np.all(np.diff(y) >= -1e-12)
        assert y[-1] == pytest.approx(st["p_base"])
        assert len(ax.collections) == (1 if st["p_base"] > 0 else 0)  # the 95% band
        medians = [ln.get_xdata()[0] for ln in ax.get_lines()[1:]]
        med = st.get("median_first_base_month")
        assert medians == ([] if med is None else [med])


@pytest.mark.parametrize("case", ["one_state_one_month", "one_trial"])
def test_draw_figures_edge_cases(case, tmp_path):
    if case == "one_state_one_month":
        sc = scenario_from_dict({"name": "one", "horizon_months": 1, "states": [{"id": "AAA"}]})
        res = simulate(sc, trials=20, seed=2)
        assert res.summary["states"]["AAA"]["mean_incidents"] == 0  # all-zero incidents
    else:
        res = simulate(BASELINE, trials=1, seed=2)
    paths = draw_figures(res.table, res.months, res.summary, tmp_path)
    _check_pngs(paths, tmp_path)


def test_draw_figures_rejects_missing_columns(baseline_run, tmp_path):
    res = baseline_run
    with pytest.raises(ValueError, match="per-trial table: missing column.*final_w"):
        draw_figures(res.table.drop(columns="final_w"), res.months, res.summary, tmp_path)
    with pytest.raises(ValueError, match="per-month table: missing column.*p_q95"):
        draw_figures(res.table, res.months.drop(columns="p_q95"), res.summary, tmp_path)
    bad = {k: v for k, v in res.summary.items() if k != "any_base"}
    with pytest.raises(ValueError, match="summary: missing key.*any_base"):
        draw_figures(res.table, res.months, bad, tmp_path)
    with pytest.raises(ValueError, match="'states' is empty"):
        draw_figures(res.table, res.months, {**res.summary, "states": {}}, tmp_path)


def test_draw_run_dir(baseline_run, tmp_path):
    res = baseline_run
    res.table.to_parquet(tmp_path / "trials.parquet", engine="pyarrow")
    res.months.to_parquet(tmp_path / "months.parquet", engine="pyarrow")
    (tmp_path / "summary.json").write_text(json.dumps(res.summary), encoding="utf-8")
    paths = draw_run_dir(tmp_path)
    _check_pngs(paths, tmp_path / "figures")


def test_draw_run_dir_errors(tmp_path):
    with pytest.raises(ResultsError, match="not a results directory"):
        draw_run_dir(tmp_path / "absent")
    (tmp_path / "summary.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ResultsError, match="missing trials.parquet, months.parquet"):
        draw_run_dir(tmp_path)


# --------------------------------------------------------------------------- content


def _content_axes(fig: Figure) -> list:
    """The visible axes of a figure's content panel (not the footer)."""
    return [ax for ax in fig.subfigs[0].axes if ax.get_visible()]


def _whiskers(err: ErrorbarContainer, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends of an errorbar container's whiskers (``axis`` 1: vertical)."""
    assert isinstance(err, ErrorbarContainer)
    (lines,) = err.lines[2]
    seg = np.array(lines.get_segments())  # (n, 2 ends, xy)
    return seg[:, :, axis].min(axis=1), seg[:, :, axis].max(axis=1)


def _close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=1e-12)


def _state_titles(summary, names) -> list[str]:
    return [f"{names[s]} ({s})" if names.get(s) and names[s] != s else s
            for s in summary["states"]]


@pytest.fixture(scope="module")
def baseline_figures(baseline_run):
    names = {s.id: s.name for s in baseline_run.scenario.states}
    figs = build_figures(baseline_run.table, baseline_run.months, baseline_run.summary,
                         state_names=names)
    return baseline_run.summary, names, figs


def test_build_figures_titles_and_footer(baseline_figures, tmp_path):
    s, _, figs = baseline_figures
    H = s["horizon_months"]
    assert list(figs) == list(FIGURE_NAMES)
    assert all(isinstance(f, Figure) for f in figs.values())
    assert {name: f.get_suptitle() for name, f in figs.items()} == {
        "p_base.png": f"Probability of a US base within {H} months, by state",
        "survival.png": "Time to a first US base: share of trials with one, month by month",
        "fan_willingness.png": "Government willingness to host a US base, month by month",
        "fan_support.png": "Public support for a US military presence, month by month",
        "final_willingness.png": f"Government willingness to host a US base at month {H}: "
                                 "distribution over trials",
        "events.png": f"Vetoes, base closures and spillover incidents within {H} months",
    }
    footer = f"{s['name']} · {s['trials']:,} trials · {H} months · seed {s['seed']}"
    for f in figs.values():
        note, provenance = (t.get_text() for t in f.subfigs[1].texts)
        assert note and provenance == footer
    assert not list(tmp_path.iterdir())  # building writes nothing


def test_png_metadata_names_figure_and_run(baseline_run, tmp_path):
    from PIL import Image

    res = baseline_run
    paths = draw_figures(res.table, res.months, res.summary, tmp_path)
    figs = build_figures(res.table, res.months, res.summary)
    for path in paths:
        with Image.open(path) as img:
            meta = img.text
        assert meta["Title"] == figs[path.name].get_suptitle()
        assert meta["Description"] == figs[path.name].subfigs[1].texts[1].get_text()


def test_p_base_bars_and_whiskers_match_summary(baseline_figures):
    s, _, figs = baseline_figures
    ids = list(s["states"])
    (ax,) = _content_axes(figs["p_base.png"])
    assert ax.get_ylabel() == f"probability of a base within {s['horizon_months']} months"
    assert ax.get_xlabel() == "state (estimate and [95% interval] under each bar)"
    bars, err = ax.containers
    assert isinstance(bars, BarContainer)
    assert len(bars) == len(ids) + 1  # one bar per state, then "any state"
    st = [s["states"][sid] for sid in ids]
    _close([b.get_height() for b in bars], [x["p_base"] for x in st] + [s["any_base"]["p"]])
    lo, hi = _whiskers(err)
    _close(lo, [x["ci_low"] for x in st] + [s["any_base"]["ci_low"]])
    _close(hi, [x["ci_high"] for x in st] + [s["any_base"]["ci_high"]])
    colours = [to_hex(b.get_facecolor()) for b in bars]
    assert len(set(colours[:-1])) == len(ids)  # each state its own colour
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == [*ids, "any state"]


def test_fan_panels_follow_months_table(baseline_run, baseline_figures):
    s, names, figs = baseline_figures
    months = baseline_run.months
    for var, ylabel in (("w", "willingness w (0 = refuses, 1 = fully willing)"),
                        ("p", "public support p (0 = none, 1 = full)")):
        fig = figs["fan_willingness.png" if var == "w" else "fan_support.png"]
        axes = _content_axes(fig)
        assert [ax.get_title() for ax in axes] == _state_titles(s, names)
        assert fig.subfigs[0].get_supxlabel() == "months from start"
        assert fig.subfigs[0].get_supylabel() == ylabel
        colours = set()
        for ax, sid in zip(axes, s["states"], strict=True):
            d = months[months["state"].astype(str) == sid].sort_values("month")
            median, mean = ax.get_lines()[:2]
            _close(median.get_xdata(), d["month"])
            _close(median.get_ydata(), d[f"{var}_q50"])
            _close(mean.get_ydata(), d[f"{var}_mean"])
            assert mean.get_linestyle() == "--"
            assert len(ax.collections) == 2  # the 5-95% and 25-75% bands
            colours.add(to_hex(median.get_color()))
        assert len(colours) == len(s["states"])


def test_survival_and_final_willingness_panels(baseline_figures):
    s, names, figs = baseline_figures
    H = s["horizon_months"]
    titles = _state_titles(s, names)
    axes = _content_axes(figs["survival.png"])
    assert [ax.get_title() for ax in axes] == titles
    assert figs["survival.png"].subfigs[0].get_supylabel().startswith(
        "share of trials with a base")
    for ax, sid in zip(axes, s["states"], strict=True):
        assert ax.get_lines()[0].get_ydata()[-1] == pytest.approx(s["states"][sid]["p_base"])

    (ax,) = _content_axes(figs["final_willingness.png"])
    assert [t.get_text() for t in ax.get_yticklabels()] == titles
    assert ax.get_xlabel().startswith(
        f"willingness w at month {H} (0 = refuses, 1 = fully willing")
    assert len(ax.patches) == len(titles)  # one histogram per state
    # the black median tick of each state (the other lines are the rows' baselines)
    medians = [ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_color() == "black"]
    _close(medians, [s["states"][sid]["final_willingness"]["q50"] for sid in s["states"]])


def test_events_bars_and_whiskers_match_summary(baseline_figures):
    s, _, figs = baseline_figures
    ids = list(s["states"])
    st = [s["states"][sid] for sid in ids]
    ax_p, ax_i = _content_axes(figs["events.png"])
    assert ax_p.get_title() == "CSTO veto and base closure"
    assert ax_i.get_title() == "Afghan spillover incidents, mean per trial"
    assert ax_p.get_ylabel() == f"probability within {s['horizon_months']} months"
    veto, veto_err, closed, closed_err = ax_p.containers
    for bars, err, key in ((veto, veto_err, "p_veto"), (closed, closed_err, "p_closed")):
        assert len(bars) == len(ids)
        _close([b.get_height() for b in bars], [x[key] for x in st])
        lo, hi = _whiskers(err)
        _close(lo, [x[f"{key}_ci"][0] for x in st])
        _close(hi, [x[f"{key}_ci"][1] for x in st])
    legend = figs["events.png"].subfigs[0].legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["at least one CSTO veto",
                                                          "a base closed"]
    bars, err = ax_i.containers
    _close([b.get_height() for b in bars], [x["mean_incidents"] for x in st])
    lo, hi = _whiskers(err)
    # The normal interval of a mean can reach below 0; the whisker is clipped at the mean
    # only when rounding puts a bound on the wrong side of it.
    _close(lo, [min(x["mean_incidents_ci"][0], x["mean_incidents"]) for x in st])
    _close(hi, [max(x["mean_incidents_ci"][1], x["mean_incidents"]) for x in st])
    for ax in (ax_p, ax_i):
        assert [t.get_text() for t in ax.get_xticklabels()] == ids


_Row = namedtuple("_Row", "scenario state recorded p_recorded ci_low ci_high p_base")


def test_history_figure_bars_and_whiskers(tmp_path):
    rows = [_Row("opening_2001", "UZB", True, 0.8, 0.7, 0.88, 0.8),
            _Row("opening_2001", "KGZ", True, 0.6, 0.5, 0.7, 0.6),
            _Row("baseline_2021", "UZB", False, 0.9, 0.85, 0.94, 0.1)]
    fig = build_history_figure(rows, trials=500)
    (ax,) = fig.axes
    assert fig.get_suptitle() == "Does the model reproduce what happened?"
    assert ax.get_title() == ("opening_2001, baseline_2021 · 500 trials per episode · "
                              "whiskers: 95% Wilson intervals")
    assert ax.get_ylabel() == "model probability of the recorded outcome"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["UZB", "KGZ"]
    bars1, err1, bars2, err2 = ax.containers  # one bar container per episode
    assert [b.get_label() for b in (bars1, bars2)] == ["opening_2001", "baseline_2021"]
    _close([b.get_height() for b in bars1], [0.8, 0.6])
    _close([b.get_height() for b in bars2], [0.9])
    _close(np.concatenate([_whiskers(err1)[0], _whiskers(err2)[0]]), [0.7, 0.5, 0.85])
    _close(np.concatenate([_whiskers(err1)[1], _whiskers(err2)[1]]), [0.88, 0.7, 0.94])
    path = draw_history(rows, tmp_path / "new" / "history.png", trials=500)
    assert path.read_bytes()[:8] == PNG_SIGNATURE


# --------------------------------------------------------------------------- global state


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter at the repo root, with no MPLBACKEND set."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_import_abm_does_not_import_matplotlib():
    _run_python("""
        import sys
        import abm
        import abm.experiment.simulate
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib")
        assert not loaded, loaded
    """)


def test_import_abm_plots_keeps_backend():
    _run_python("""
        import matplotlib
        before = matplotlib.get_backend()
        import abm.plots
        after = matplotlib.get_backend()
        assert before == after, (before, after)
    """)


def test_drawing_never_touches_pyplot_or_rcparams(tmp_path):
    # Without calling get_backend() (which may itself load pyplot to resolve the default):
    # drawing must not import pyplot nor change any rcParam, the backend included.
    _run_python(f"""
        import sys
        import matplotlib
        before = matplotlib.rcParams.copy()
        from abm.plots import draw_figures
        from abm.experiment.simulate import simulate
        res = simulate("experiments/baseline_2021.toml", trials=20, seed=4)
        draw_figures(res.table, res.months, res.summary, {str(tmp_path)!r})
        assert "matplotlib.pyplot" not in sys.modules
        after = matplotlib.rcParams.copy()
        changed = [k for k in before if before[k] != after[k]]
        assert not changed, changed
    """)
    assert {p.name for p in tmp_path.iterdir()} == EXPECTED
