"""The Python API a notebook uses: overrides by dotted key, sweeps, and saving either as the
results directory the command line writes (readable by ``abm show``, same run id)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import abm
from abm.errors import ConfigError, ResultsError
from abm.experiment.store import read_run
from tests.conftest import BASELINE, ROOT

SWEEP = ROOT / "experiments" / "pressure_x_spillover.toml"


def cli(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abm", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def run():
    return abm.simulate(BASELINE, trials=1500, seed=21,
                        overrides={"russia.pressure": 0.1, "states.UZB.legal_bar": 0.0})


def test_overrides_are_applied_and_recorded(run):
    assert run.scenario.russia.pressure.points == ((0.0, 0.1),)
    assert next(s for s in run.scenario.states if s.id == "UZB").legal_bar == 0.0
    assert run.overrides == ("russia.pressure=0.1", "states.UZB.legal_bar=0.0")
    assert run.config == str(BASELINE)
    base = abm.simulate(BASELINE, trials=1500, seed=21)
    assert base.scenario.russia.pressure != run.scenario.russia.pressure
    assert base.outputs_sha256 != run.outputs_sha256
    # the same overrides as --set text, or on a loaded Scenario: the same run
    as_text = abm.simulate(BASELINE, trials=1500, seed=21,
                           overrides=["russia.pressure=0.1", "states.UZB.legal_bar=0.0"])
    on_scenario = abm.simulate(abm.load_scenario(BASELINE), trials=1500, seed=21,
                               overrides={"russia.pressure": 0.1, "states.UZB.legal_bar": 0})
    assert as_text.outputs_sha256 == on_scenario.outputs_sha256 == run.outputs_sha256


@pytest.mark.parametrize("overrides, match", [
    ({"russia.presure": 0.1}, "did you mean"),
    ({"russia.pressure": 7}, r"russia\.pressure"),
    ({"russia.pressure": object()}, "expected a number"),
    ("russia.pressure=0.1", "expected a mapping"),
])
def test_bad_overrides_are_one_config_error(overrides, match):
    with pytest.raises(ConfigError, match=match):
        abm.simulate(BASELINE, trials=100, seed=1, overrides=overrides)


def test_save_writes_the_directory_abm_run_writes(run, tmp_path):
    import abm.plots

    out = run.save(tmp_path / "api", figures=abm.plots.draw_figures)
    r = cli("run", BASELINE, "--trials", 1500, "--seed", 21, "--set", "russia.pressure=0.1",
            "--set", "states.UZB.legal_bar=0.0", "--out", tmp_path / "cli", "--quiet")
    assert r.returncode == 0, r.stderr
    mine = json.loads((out / "manifest.json").read_text())
    theirs = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    for key in ("run_id", "scenario_sha256", "outputs_sha256", "files", "overrides", "seed",
                "trials", "horizon_months", "engine", "save_paths"):
        assert mine[key] == theirs[key], key
    assert sorted(p.name for p in (out / "figures").iterdir()) == \
        sorted(p.name for p in (tmp_path / "cli" / "figures").iterdir())
    back = read_run(out)
    pd.testing.assert_frame_equal(back.table(), run.table, check_exact=True)
    r = cli("show", out)
    assert r.returncode == 0 and "russia.pressure=0.1" in r.stdout and "UZB" in r.stdout
    assert cli("reproduce", out).returncode == 0


def test_save_with_paths_and_the_default_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = abm.simulate(BASELINE, trials=300, seed=2, save_paths=3)
    out = res.save()
    assert out.parent == Path("results") / res.scenario.name
    back = read_run(out)
    assert back.save_paths == 3
    pd.testing.assert_frame_equal(back.paths(), res.paths, check_exact=True)


def test_save_never_overwrites_by_accident_and_writes_nothing_on_failure(run, tmp_path):
    out = run.save(tmp_path / "r")
    with pytest.raises(ResultsError, match="replace=True"):
        run.save(out)
    assert run.save(out, replace=True) == out
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(ResultsError, match="not an abm results directory"):
        run.save(other, replace=True)
    assert (other / "notes.txt").read_text() == "keep"

    def broken(*args, **kw):
        raise RuntimeError("drawing failed")

    with pytest.raises(RuntimeError):
        run.save(tmp_path / "never", figures=broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "r"]
    with pytest.raises(ConfigError, match="drawing function"):
        run.save(tmp_path / "never", figures=True)


def test_sweep_matches_abm_sweep_and_saves_its_directory(tmp_path):
    import abm.plots

    over = {"sweep.trials_per_point": 100}
    res = abm.sweep(SWEEP, over)
    assert isinstance(res, abm.SweepResult)
    assert len(res.points) == res.experiment.n_points == res.summary["points"]
    assert {"russia.pressure", "spillover.rate", "any_base.p"} <= set(res.points.columns)
    out = res.save(tmp_path / "api", figures=abm.plots.draw_sweep_figures)
    r = cli("sweep", SWEEP, "--set", "sweep.trials_per_point=100", "--out", tmp_path / "cli",
            "--quiet", "--no-figures", "--workers", "1")
    assert r.returncode == 0, r.stderr
    mine = json.loads((out / "manifest.json").read_text())
    theirs = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    for key in ("sweep_id", "outputs_sha256", "overrides", "sweep", "seed", "files"):
        assert mine[key] == theirs[key], key
    assert any((out / "figures").iterdir())
    r = cli("show", out)
    assert r.returncode == 0 and res.outputs_sha256 in r.stdout
    with pytest.raises(ResultsError):
        res.save(out)


def test_public_names_are_extended_not_changed():
    from abm.experiment.simulate import SimulationResult, simulate
    from abm.experiment.sweep import SweepResult, sweep

    assert abm.simulate is simulate and abm.SimulationResult is SimulationResult
    assert abm.sweep is sweep and abm.SweepResult is SweepResult
