"""Tests for :func:`abm.plots.draw_sweep_figures`: every expected figure of each design
exists and is a real PNG, from inputs made by running small sweeps through
:mod:`abm.sweep`; edge cases (one point, constant outputs, missing indices) still draw."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from abm.plots import draw_sweep_figures
from abm.sweep import Executor, load_experiment, run_sweep

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


def _sweep(path: str | Path, overrides: list[str], out: Path) -> tuple[Path, dict]:
    exp = load_experiment(path, overrides)
    d, summary, reused = run_sweep(exp, out_dir=out, executor=Executor("inprocess"),
                                   figures=True)
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
    d, _, _ = run_sweep(exp, out_dir=tmp / "out", executor=Executor("inprocess"),
                        figures=False)
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


def test_state_key_file_name_and_switch_grid(one_parameter_grid, tmp_path):
    # A state's key gives a file-safe name; a switch (csto.consent_rule) as the other
    # parameter of a two-parameter grid draws with categorical colours.
    points, summary, _ = _load(one_parameter_grid)
    key = "states.TJK.russia_dependence"
    points = points.rename(columns={"russia.pressure": key})
    a, b = points.copy(), points.copy()
    a["csto.consent_rule"], b["csto.consent_rule"] = True, False
    import pandas as pd

    both = pd.concat([a, b], ignore_index=True)
    cols = ["point", key, "csto.consent_rule"]
    both = both[cols + [c for c in both.columns if c not in cols]]
    both["point"] = range(len(both))
    summary = {**summary, "points": len(both),
               "parameters": [{"key": key, "values": [0.0, 0.5, 1.0]},
                              {"key": "csto.consent_rule", "values": [True, False]}]}
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


def test_sweep_drawing_never_touches_pyplot_or_rcparams(one_parameter_grid, tmp_path):
    code = textwrap.dedent(f"""
        import json, sys
        import matplotlib
        import pandas as pd
        before = matplotlib.rcParams.copy()
        from abm.plots import draw_sweep_figures
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
