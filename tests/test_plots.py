"""Tests for :mod:`abm.plots`: the six figures exist, are real PNGs, survive edge cases,
and drawing them leaves matplotlib's global state (backend, rcParams, pyplot) alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from abm.config import scenario_from_dict
from abm.errors import ResultsError
from abm.plots import FIGURE_NAMES, draw_figures, draw_run_dir
from abm.runner import simulate

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
        import abm.runner
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
        from abm.runner import simulate
        res = simulate("experiments/baseline_2021.toml", trials=20, seed=4)
        draw_figures(res.table, res.months, res.summary, {str(tmp_path)!r})
        assert "matplotlib.pyplot" not in sys.modules
        after = matplotlib.rcParams.copy()
        changed = [k for k in before if before[k] != after[k]]
        assert not changed, changed
    """)
    assert {p.name for p in tmp_path.iterdir()} == EXPECTED
