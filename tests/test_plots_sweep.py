"""Tests for :func:`abm.plots.draw_sweep_figures`: every expected figure of each design
exists and is a real PNG, from inputs made by running small sweeps through
:mod:`abm.experiment.sweep`; edge cases (one point, constant outputs, missing indices)
still draw."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from abm.experiment.executors import Executor
from abm.experiment.sweep import load_experiment, run_sweep
from abm.plots import draw_sweep_figures, iter_sweep_figures

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "experiments" / "baseline_2021.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _response(key: str) -> str:
    return f"response_{key.replace('.', '_')}.png"


def _check_pngs(fig_dir: Path, expected: set[str]) -> None:
    import matplotlib.image as mpimg

    assert {p.name for p in fig_dir.iterdir()} == expected
    for name in expected:
        path = fig_dir / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        img = mpimg.imread(path)
        assert img.ndim == 3, name
        assert img.shape[0] > 200 and img.shape[1] > 200, (name, img.shape)


def _figures(tmp: Path, points, summary: dict, sens: dict) -> None:
    """``run_sweep``'s ``extra``: draw the figures into the sweep directory being built."""
    draw_sweep_figures(points, summary, sens, tmp / "figures")


def _sweep(path: str | Path, overrides: list[str], out: Path) -> tuple[Path, dict]:
    exp = load_experiment(path, overrides)
    d, summary, reused = run_sweep(exp, out_dir=out, executor=Executor("inprocess"),
                                   extra=_figures)
    assert not reused
    return d, summary


def _experiment(tmp_path: Path, name: str, sweep: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'extends = "{BASELINE.as_posix()}"\nname = "{name}"\n\n'
                    + textwrap.dedent(sweep))
    return path


def _load(d: Path) -> tuple:
    import pandas as pd

    points = pd.read_parquet(d / "points.parquet", engine="pyarrow")
    summary = json.loads((d / "summary.json").read_text())
    sens = json.loads((d / "sensitivity.json").read_text())
    return points, summary, sens


# --------------------------------------------------------------------------- each design


def test_grid_two_parameters(tmp_path):
    d, summary = _sweep(REPO / "experiments" / "pressure_x_spillover.toml",
                        ["sweep.trials_per_point=200"], tmp_path / "grid")
    assert summary["design"] == "grid"
    _check_pngs(d / "figures", {_response("russia.pressure"), _response("spillover.rate"),
                                "heatmap_russia_pressure_x_spillover_rate.png"})


@pytest.mark.slow
def test_global_sobol(tmp_path):
    d, summary = _sweep(REPO / "experiments" / "global_sobol.toml",
                        ["sweep.points=4", "sweep.trials_per_point=100"], tmp_path / "sobol")
    keys = [p["key"] for p in summary["parameters"]]
    assert len(keys) > 20  # a design over many parameters: one response figure each
    expected = {*map(_response, keys), "sobol.png", "sobol_states.png"}
    assert len(expected) == len(keys) + 2
    _check_pngs(d / "figures", expected)


@pytest.fixture(scope="module")
def one_parameter_grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one")
    path = _experiment(tmp, "one_parameter", """
        [sweep]
        design = "grid"
        trials_per_point = 100
        [sweep.parameters."russia.pressure"]
        values = [0.0, 0.5, 1.0]
    """)
    d, _ = _sweep(path, [], tmp / "out")
    return d


def test_grid_one_parameter(one_parameter_grid):
    _check_pngs(one_parameter_grid / "figures", {_response("russia.pressure")})


def test_lhs(tmp_path):
    path = _experiment(tmp_path, "lhs", """
        [sweep]
        design = "lhs"
        points = 10
        trials_per_point = 100
        [sweep.parameters."russia.pressure"]
        low = 0.0
        high = 1.0
        [sweep.parameters."us.incentives"]
        low = 0.05
        high = 0.9
        log = true
    """)
    d, _ = _sweep(path, [], tmp_path / "out")
    _check_pngs(d / "figures", {_response("russia.pressure"), _response("us.incentives")})


def test_morris(tmp_path):
    path = _experiment(tmp_path, "morris", """
        [sweep]
        design = "morris"
        points = 4
        trials_per_point = 100
        [sweep.parameters."russia.pressure"]
        low = 0.0
        high = 1.0
        [sweep.parameters."dynamics.threshold"]
        low = 0.4
        high = 0.8
        [sweep.parameters."us.incentives"]
        low = 0.0
        high = 0.9
    """)
    d, summary = _sweep(path, [], tmp_path / "out")
    assert summary["points"] == 16  # 4 trajectories of 3 + 1 points
    _check_pngs(d / "figures", {_response("russia.pressure"), _response("dynamics.threshold"),
                                _response("us.incentives"), "morris.png", "morris_states.png"})


# --------------------------------------------------------------------------- edge cases


def test_returns_paths_in_order_and_overwrites(one_parameter_grid, tmp_path):
    points, summary, sens = _load(one_parameter_grid)
    out = tmp_path / "a" / "b"  # created if missing
    out.mkdir(parents=True)
    (out / _response("russia.pressure")).write_bytes(b"stale")
    paths = draw_sweep_figures(points, summary, sens, out)
    assert paths == [out / _response("russia.pressure")]
    _check_pngs(out, {_response("russia.pressure")})


def test_one_point_all_zero_and_no_sensitivity(one_parameter_grid, tmp_path):
    # A single design point where no state ever grants a base, no reference, and no
    # sensitivity dict at all: the figure still draws and says so.
    points, summary, _ = _load(one_parameter_grid)
    points = points.iloc[:1].copy()
    for col in points.columns:
        if col.endswith((".p", ".p_base", ".ci_low", ".ci_high")):
            points[col] = 0.0
    summary = {**summary, "design": "lhs", "points": 1}
    summary.pop("reference")
    paths = draw_sweep_figures(points, summary, None, tmp_path)
    assert [p.name for p in paths] == [_response("russia.pressure")]
    _check_pngs(tmp_path, {_response("russia.pressure")})


@pytest.fixture(scope="module")
def morris_inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("morris")
    path = _experiment(tmp, "morris_small", """
        [sweep]
        design = "morris"
        points = 3
        trials_per_point = 60
        [sweep.parameters."russia.pressure"]
        low = 0.0
        high = 1.0
        [sweep.parameters."dynamics.threshold"]
        low = 0.4
        high = 0.8
    """)
    exp = load_experiment(path)
    d, _, _ = run_sweep(exp, out_dir=tmp / "out", executor=Executor("inprocess"))
    return _load(d)


def _sobol_like(sens: dict, value) -> dict:
    """A Sobol' dict over the same outputs and parameters, every index set to ``value``."""
    out = copy.deepcopy(sens)
    out["method"] = out["design"] = "sobol"
    for res in out["outputs"].values():
        if res["indices"] is not None:
            res["indices"] = {k: {"S1": value, "S1_conf": value, "ST": value,
                                  "ST_conf": value} for k in res["indices"]}
    return out


@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_none_indices_and_constant_outputs(morris_inputs, tmp_path, method):
    points, summary, sens = morris_inputs
    sens = copy.deepcopy(sens) if method == "morris" else _sobol_like(sens, 0.5)
    key = summary["parameters"][0]["key"]
    for res in sens["outputs"].values():
        if res["indices"] is not None:
            res["indices"][key] = {f: None for f in res["indices"][key]}
    first_state = f"{summary['states'][0]}.p_base"
    sens["outputs"][first_state] = {"constant": True, "value": 0.0, "indices": None}
    summary = {**summary, "design": method}
    paths = draw_sweep_figures(points, summary, sens, tmp_path)
    assert [p.name for p in paths][-2:] == [f"{method}.png", f"{method}_states.png"]
    _check_pngs(tmp_path, {p.name for p in paths})


@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_constant_any_base(morris_inputs, tmp_path, method):
    # P(base anywhere) the same at every point: nothing to apportion, and the figures say so.
    points, summary, sens = morris_inputs
    sens = {"design": method, "method": method,
            "outputs": {name: {"constant": True, "value": 0.0, "indices": None}
                        for name in ["any_base.p", *[f"{s}.p_base" for s in summary["states"]]]}}
    paths = draw_sweep_figures(points, {**summary, "design": method}, sens, tmp_path)
    _check_pngs(tmp_path, {p.name for p in paths})
    assert {f"{method}.png", f"{method}_states.png"} <= {p.name for p in paths}


def _switch_grid(one_parameter_grid: Path) -> tuple:
    """A grid over a state's key and a switch, made from the one-parameter grid's points."""
    import pandas as pd

    points, summary, _ = _load(one_parameter_grid)
    key = "states.TJK.russia_dependence"
    points = points.rename(columns={"russia.pressure": key})
    a, b = points.copy(), points.copy()
    a["csto.consent_rule"], b["csto.consent_rule"] = True, False
    both = pd.concat([a, b], ignore_index=True)
    cols = ["point", key, "csto.consent_rule"]
    both = both[cols + [c for c in both.columns if c not in cols]]
    both["point"] = range(len(both))
    summary = {**summary, "points": len(both),
               "parameters": [{"key": key, "values": [0.0, 0.5, 1.0]},
                              {"key": "csto.consent_rule", "values": [True, False]}]}
    return both, summary


def test_state_key_file_name_and_switch_grid(one_parameter_grid, tmp_path):
    # A state's key gives a file-safe name; a switch (csto.consent_rule) as the other
    # parameter of a two-parameter grid draws with categorical colours.
    both, summary = _switch_grid(one_parameter_grid)
    paths = draw_sweep_figures(both, summary, None, tmp_path)
    assert [p.name for p in paths] == [
        "response_states_TJK_russia_dependence.png", "response_csto_consent_rule.png",
        "heatmap_states_TJK_russia_dependence_x_csto_consent_rule.png"]
    _check_pngs(tmp_path, {p.name for p in paths})


def test_missing_column_or_key_raises(one_parameter_grid, tmp_path):
    points, summary, sens = _load(one_parameter_grid)
    with pytest.raises(ValueError, match=r"missing column\(s\) any_base\.ci_high"):
        draw_sweep_figures(points.drop(columns="any_base.ci_high"), summary, sens, tmp_path)
    bad = {k: v for k, v in summary.items() if k != "horizon_months"}
    with pytest.raises(ValueError, match=r"missing key\(s\) horizon_months"):
        draw_sweep_figures(points, bad, sens, tmp_path)
    with pytest.raises(ValueError, match="no rows"):
        draw_sweep_figures(points.iloc[:0], summary, sens, tmp_path)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- content


def _by_title(fig) -> dict:
    """The figure's axes by their left-hand title (panels without one are left out)."""
    return {ax.get_title("left"): ax for ax in fig.axes if ax.get_title("left")}


def _whiskers(err, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends of an errorbar container's whiskers (``axis`` 0: horizontal)."""
    assert isinstance(err, ErrorbarContainer)
    (lines,) = err.lines[2]
    seg = np.array(lines.get_segments())
    return seg[:, :, axis].min(axis=1), seg[:, :, axis].max(axis=1)


def _close(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=1e-12)


def test_response_lines_follow_points(one_parameter_grid):
    points, summary, sens = _load(one_parameter_grid)
    figs = iter_sweep_figures(points, summary, sens)
    assert not isinstance(figs, (list, dict))  # built one at a time
    figs = dict(figs)
    assert list(figs) == [_response("russia.pressure")]
    fig = figs[_response("russia.pressure")]
    H, ids = summary["horizon_months"], summary["states"]
    assert fig.get_suptitle() == (f"Probability of a US base within {H} months as "
                                  "russia.pressure varies")
    axes = _by_title(fig)
    # P(base), its change from the reference, and one panel of changes per state
    assert list(axes) == ["in any state", _CHANGE, *ids]
    ax = axes["in any state"]
    assert axes[_CHANGE].get_xlabel().startswith("russia.pressure")
    assert ax.get_ylabel() == f"P(base within {H} months)"
    x = points["russia.pressure"].to_numpy()
    order = np.argsort(x, kind="stable")
    (line,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    _close(line.get_xdata(), x[order])
    _close(line.get_ydata(), points["any_base.p"].to_numpy()[order])
    (band,) = ax.collections  # the 95% interval of each point
    y = band.get_paths()[0].vertices[:, 1]
    assert y.min() == pytest.approx(points["any_base.ci_low"].min())
    assert y.max() == pytest.approx(points["any_base.ci_high"].max())
    (ref,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert ref.get_ydata()[0] == pytest.approx(summary["reference"]["any_base"]["p"])
    colours = set()
    for sid in ids:
        (line,) = [ln for ln in axes[sid].get_lines() if ln.get_marker() == "o"]
        _close(line.get_ydata(), points[f"{sid}.p_base_diff"].to_numpy()[order])
        colours.add(line.get_color())
    assert len(colours) == len(ids)


_CHANGE = "change from the reference, in any state"


def _legend_marks(legend) -> dict[str, list]:
    from tests.test_plots_reading import legend_entries

    return legend_entries(legend)


def test_response_lines_draw_paired_differences(one_parameter_grid):
    """Under common random numbers the change panels draw each point's paired difference
    from the reference with its paired interval (the sweep's per-trial differences), the
    reference at 0; the legend's marks are the drawn ones."""
    from matplotlib.colors import to_hex

    points, summary, _ = _load(one_parameter_grid)
    assert summary["crn"]
    fig = dict(iter_sweep_figures(points, summary, None))[_response("russia.pressure")]
    axes = _by_title(fig)
    x = points["russia.pressure"].to_numpy()
    order = np.argsort(x, kind="stable")
    panels = [(axes[_CHANGE], "any_base.p_diff"),
              *((axes[s], f"{s}.p_base_diff") for s in summary["states"])]
    for ax, col in panels:
        (line,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        _close(line.get_ydata(), points[col].to_numpy()[order])
        (zero,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert list(zero.get_ydata()) == [0, 0]  # the reference
        (band,) = ax.collections
        y = band.get_paths()[0].vertices[:, 1]
        assert y.min() == pytest.approx(points[f"{col}_ci_low"].min())
        assert y.max() == pytest.approx(points[f"{col}_ci_high"].max())
        lo, hi = ax.get_ylim()
        assert lo <= min(0, points[f"{col}_ci_low"].min())
        assert hi >= max(0, points[f"{col}_ci_high"].max())
    note = fig.subfigs[1].texts[0].get_text()
    assert "per-trial paired differences" in note and "common random numbers" in note
    entries = _legend_marks(fig.subfigs[0].legends[0])
    assert set(entries) == {"estimate (any state in black, states in their colour)",
                            "95% interval (Wilson; paired for the change)",
                            "reference (scenario without the sweep; 0 in the change panels)"}
    drawn = [to_hex(ln.get_color()) for t in ["in any state", *summary["states"]]
             for ln in axes[t].get_lines() if ln.get_marker() == "o"]
    marks = entries["estimate (any state in black, states in their colour)"]
    assert [to_hex(m.get_color()) for m in marks] == drawn


def test_response_without_crn_says_unpaired(one_parameter_grid):
    points, summary, _ = _load(one_parameter_grid)
    fig = dict(iter_sweep_figures(points, {**summary, "crn": False}, None))[
        _response("russia.pressure")]
    note = fig.subfigs[1].texts[0].get_text()
    assert "unpaired" in note and "paired differences" not in note


def test_response_scatter_draws_paired_differences(one_parameter_grid):
    points, summary, _ = _load(one_parameter_grid)
    fig = dict(iter_sweep_figures(points, {**summary, "design": "lhs"}, None))[
        _response("russia.pressure")]
    (err,) = _by_title(fig)[_CHANGE].containers
    _close(err.lines[0].get_ydata(), points["any_base.p_diff"])
    lo, hi = _whiskers(err)
    _close(lo, points["any_base.p_diff_ci_low"])
    _close(hi, points["any_base.p_diff_ci_high"])


def test_response_scatter_whiskers_match_intervals(one_parameter_grid):
    points, summary, _ = _load(one_parameter_grid)
    summary = {**summary, "design": "lhs"}
    fig = dict(iter_sweep_figures(points, summary, None))[_response("russia.pressure")]
    assert fig.get_suptitle().endswith("against russia.pressure")
    axes = _by_title(fig)
    assert set(axes) == {"in any state", _CHANGE, "by state: change from the reference"}
    (err,) = axes["in any state"].containers  # every point with its own interval
    _close(err.lines[0].get_ydata(), points["any_base.p"])
    lo, hi = _whiskers(err)
    _close(lo, points["any_base.ci_low"])
    _close(hi, points["any_base.ci_high"])
    ax = axes["by state: change from the reference"]
    lines = [ln for ln in ax.get_lines() if ln.get_label() in summary["states"]]
    assert [ln.get_label() for ln in lines] == summary["states"]  # one line per state
    for ln, sid in zip(lines, summary["states"], strict=True):
        _close(ln.get_ydata(), points[f"{sid}.p_base_diff"])


def test_heatmap_cells_match_points(one_parameter_grid):
    both, summary = _switch_grid(one_parameter_grid)
    key = "states.TJK.russia_dependence"
    figs = dict(iter_sweep_figures(both, summary, None))
    fig = figs[f"heatmap_{key.replace('.', '_')}_x_csto_consent_rule.png"]
    axes = _by_title(fig)
    assert list(axes) == ["in any state", *summary["states"]]
    assert axes["in any state"].get_xlabel().startswith(key)
    assert axes["in any state"].get_ylabel().startswith("csto.consent_rule")
    for title, column in [("in any state", "any_base.p"),
                          *((s, f"{s}.p_base") for s in summary["states"])]:
        (mesh,) = axes[title].collections
        want = both.pivot(index="csto.consent_rule", columns=key, values=column)
        _close(np.asarray(mesh.get_array()).reshape(want.shape), want.to_numpy())


def _indices(summary: dict, method: str) -> dict:
    """A sensitivity dict with known indices: parameter i gets i + 1 tenths."""
    keys = [p["key"] for p in summary["parameters"]]
    if method == "morris":
        idx = {k: {"mu": (-1) ** i * 0.1 * (i + 1), "mu_star": 0.1 * (i + 1),
                   "mu_star_conf": 0.01 * (i + 1), "sigma": 0.05 * (i + 1)}
               for i, k in enumerate(keys)}
    else:
        idx = {k: {"S1": 0.1 * (i + 1), "S1_conf": 0.02, "ST": 0.15 * (i + 1),
                   "ST_conf": 0.03} for i, k in enumerate(keys)}
    names = ["any_base.p", *(f"{s}.p_base" for s in summary["states"])]
    return {"design": method, "method": method,
            "outputs": {n: {"constant": False, "indices": idx} for n in names}}


def test_morris_bars_and_whiskers_match_indices(morris_inputs):
    points, summary, _ = morris_inputs
    sens = _indices(summary, "morris")
    figs = dict(iter_sweep_figures(points, {**summary, "design": "morris"}, sens))
    idx = sens["outputs"]["any_base.p"]["indices"]
    ranked = sorted(idx, key=lambda k: -idx[k]["mu_star"])
    axes = _by_title(figs["morris.png"])
    ax = axes["μ* of P(base in any state)"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ranked
    bars, err = ax.containers
    assert isinstance(bars, BarContainer) and len(bars) == len(ranked)
    _close([b.get_width() for b in bars], [idx[k]["mu_star"] for k in ranked])
    lo, hi = _whiskers(err, axis=0)
    _close(lo, [idx[k]["mu_star"] - idx[k]["mu_star_conf"] for k in ranked])
    _close(hi, [idx[k]["mu_star"] + idx[k]["mu_star_conf"] for k in ranked])
    signs = {tuple(b.get_facecolor()[:3]) for b, k in zip(bars, ranked, strict=True)
             if idx[k]["mu"] < 0}
    assert len(signs) == 1  # a negative mean effect has a colour of its own
    (dots,) = axes["μ* against σ"].collections
    _close(dots.get_offsets(), [[idx[k]["mu_star"], idx[k]["sigma"]] for k in ranked])

    (ax, _) = figs["morris_states.png"].axes  # the table and its colour bar
    (mesh,) = ax.collections
    cells = np.asarray(mesh.get_array()).reshape(len(ranked), -1)
    assert cells.shape[1] == 1 + len(summary["states"])  # any state, then each state
    _close(cells, np.repeat([[idx[k]["mu_star"]] for k in ranked], cells.shape[1], axis=1))


def test_sobol_bars_and_whiskers_match_indices(morris_inputs):
    points, summary, _ = morris_inputs
    sens = _indices(summary, "sobol")
    figs = dict(iter_sweep_figures(points, {**summary, "design": "sobol"}, sens))
    idx = sens["outputs"]["any_base.p"]["indices"]
    ranked = sorted(idx, key=lambda k: -idx[k]["ST"])
    ax = _by_title(figs["sobol.png"])["P(base in any state)"]
    assert ax.get_ylabel() == "swept parameter (largest ST on top)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ranked
    st, st_err, s1, s1_err = ax.containers
    assert [st.get_label(), s1.get_label()] == ["ST (total)", "S1 (first order)"]
    for bars, err, field in ((st, st_err, "ST"), (s1, s1_err, "S1")):
        _close([b.get_width() for b in bars], [idx[k][field] for k in ranked])
        lo, hi = _whiskers(err, axis=0)
        _close(hi - lo, [2 * idx[k][f"{field}_conf"] for k in ranked])


def test_sweep_drawing_never_touches_pyplot_or_rcparams(one_parameter_grid, tmp_path):
    code = textwrap.dedent(f"""
        import json, sys
        import matplotlib
        import pandas as pd
        before = matplotlib.rcParams.copy()
        from abm.plots import draw_sweep_figures, iter_sweep_figures
        d = {str(one_parameter_grid)!r}
        points = pd.read_parquet(d + "/points.parquet")
        summary = json.load(open(d + "/summary.json"))
        sens = json.load(open(d + "/sensitivity.json"))
        draw_sweep_figures(points, summary, sens, {str(tmp_path)!r})
        assert "matplotlib.pyplot" not in sys.modules
        after = matplotlib.rcParams.copy()
        changed = [k for k in before if before[k] != after[k]]
        assert not changed, changed
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
