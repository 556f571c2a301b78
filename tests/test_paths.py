"""Saved paths (``--save-paths N``, ``simulate(..., save_paths=N)``): every month of the
first N trials, exactly the run's own trials whatever the kernel and worker count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abm import limits
from abm.errors import ConfigError
from abm.experiment.simulate import simulate
from abm.model.paths import PATH_NAMES
from tests.conftest import BASELINE, ROOT

#: A shock that jumps w at month 5 (a month's jumps change the state in place: the path
#: must hold copies), over 2,500 trials (three blocks, the last one partial).
SHOCK = {"shocks": [{"month": 5, "state": "TJK", "variable": "willingness", "add": 0.3}]}
TRIALS, N = 2500, 1500


def per_trial(table: pd.DataFrame, col: str, S: int, n: int) -> np.ndarray:
    s = table[col]
    if hasattr(s, "fillna") and str(s.dtype) in ("Int32", "Int64"):
        s = s.fillna(-1)
    return s.to_numpy().reshape(-1, S)[:n]


def cube(paths: pd.DataFrame, col: str, S: int) -> np.ndarray:
    n, months = paths["trial"].max() + 1, paths["month"].max() + 1
    return paths[col].to_numpy().reshape(n, months, S)


@pytest.fixture(scope="module")
def runs():
    """The same run by both kernels with 1 and 2 workers, paths of the first N trials."""
    out = {}
    for kernel, workers in (("numpy", 1), ("compiled", 2)):
        out[kernel] = simulate(BASELINE, trials=TRIALS, seed=11, kernel=kernel,
                               workers=workers, overrides=SHOCK, save_paths=N)
    return out


def test_paths_end_where_the_trials_end_bit_for_bit(runs):
    for res in runs.values():
        S = len(res.scenario.states)
        p = res.paths
        assert list(p.columns) == ["trial", "month", "state", *PATH_NAMES]
        assert len(p) == N * (res.horizon + 1) * S
        assert list(p["state"].cat.categories) == list(res.scenario.state_ids)
        for v in ("w", "p", "s", "h"):
            last = cube(p, v, S)[:, -1, :]
            want = per_trial(res.table, f"final_{v}", S, N)
            assert last.dtype == want.dtype
            assert np.array_equal(last, want), v  # bit for bit: floats compared exactly


def test_paths_count_the_events_the_outcome_record_counts(runs):
    res = runs["compiled"]
    S = len(res.scenario.states)
    p = res.paths

    def total(col: str) -> np.ndarray:
        return cube(p, col, S)[:, 1:, :].sum(axis=1)

    assert np.array_equal(total("incidents"), per_trial(res.table, "incidents", S, N))
    assert np.array_equal(total("vetoed"), per_trial(res.table, "vetoes", S, N))
    assert np.array_equal(total("opened"), per_trial(res.table, "openings", S, N))
    assert np.array_equal(total("notice"), per_trial(res.table, "notices", S, N))
    assert np.array_equal(total("withdrawn"), per_trial(res.table, "notices_withdrawn", S, N))
    assert np.array_equal(total("h"), per_trial(res.table, "months_hosted", S, N))
    assert np.array_equal(cube(p, "closed", S)[:, 1:].any(axis=1),
                          per_trial(res.table, "closed", S, N))
    # month m's events are those of month m-1's step: a first opening at first_base_month
    opened = cube(p, "opened", S)
    first = np.where(opened.any(axis=1), opened.argmax(axis=1), -1)
    want = per_trial(res.table, "first_base_month", S, N)
    assert np.array_equal(first[want != 0], want[want != 0])
    assert (want > 0).any(), "the run should open some bases"
    # month 0 is the scenario's starting state, with no events
    w0 = cube(p, "w", S)[:, 0, :]
    assert np.array_equal(w0, np.broadcast_to(w0[0], w0.shape))
    assert not cube(p, "incidents", S)[:, 0].any()
    # the shock's jump shows in TJK's path at month 5, not month 6
    tjk = res.scenario.state_ids.index("TJK")
    w = cube(p, "w", S)[:, :, tjk]
    assert np.all(w[:, 6] > w[:, 5] + 0.1)


def test_paths_do_not_depend_on_kernel_or_workers(runs):
    a, b = runs["numpy"], runs["compiled"]
    assert a.outputs_sha256 == b.outputs_sha256
    pd.testing.assert_frame_equal(a.paths, b.paths, check_exact=True)
    # fewer paths are the first rows of more
    few = simulate(BASELINE, trials=TRIALS, seed=11, overrides=SHOCK, save_paths=7).paths
    pd.testing.assert_frame_equal(few, a.paths[a.paths["trial"] < 7].reset_index(drop=True),
                                  check_exact=True)


@pytest.mark.parametrize("n, match", [
    (TRIALS + 1, r"at most the number of trials \(2500\)"),
    (limits.MAX_SAVE_PATHS + 1, "at most 10000"),
    (-1, "must be an integer"),
    (True, "must be an integer"),
    (2.0, "must be an integer"),
])
def test_bad_save_paths_are_refused_before_any_work(n, match):
    with pytest.raises(ConfigError, match=match):
        simulate(BASELINE, trials=TRIALS, seed=1, save_paths=n)


def test_too_many_path_rows_are_refused():
    with pytest.raises(ConfigError, match="save at most"):
        simulate(BASELINE, trials=limits.MAX_SAVE_PATHS, months=1000, seed=1,
                 save_paths=limits.MAX_SAVE_PATHS)


def test_no_paths_by_default():
    res = simulate(BASELINE, trials=200, seed=1)
    assert res.paths is None


def abm(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abm", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_writes_paths_and_adds_them_to_a_run_found_without(tmp_path):
    out = tmp_path / "run"
    r = abm("run", BASELINE, "--trials", "1200", "--seed", "4", "--out", out, "--quiet",
            "--no-figures")
    assert r.returncode == 0, r.stderr
    assert not (out / "paths.parquet").exists()
    assert json.loads((out / "manifest.json").read_text())["save_paths"] == 0

    r = abm("run", BASELINE, "--trials", "1200", "--seed", "4", "--out", out,
            "--save-paths", "12")
    assert r.returncode == 0, r.stderr
    assert "found existing results" in r.stderr and "added the paths of trials 0-11" in r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["save_paths"] == 12 and "paths.parquet" in manifest["files"]
    paths = pd.read_parquet(out / "paths.parquet")
    table = pd.read_parquet(out / "trials.parquet")
    S = table["state"].nunique()
    assert np.array_equal(cube(paths, "w", S)[:, -1], per_trial(table, "final_w", S, 12))
    # the fan charts were redrawn with the paths
    assert (out / "figures" / "fan_willingness.png").is_file()

    # the same directory from a fresh run with paths: same files, same bytes
    fresh = tmp_path / "fresh"
    r = abm("run", BASELINE, "--trials", "1200", "--seed", "4", "--out", fresh, "--quiet",
            "--no-figures", "--save-paths", "12")
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(fresh / "paths.parquet"), paths)

    # fewer paths than the directory holds: nothing to add; show and reproduce read it
    r = abm("run", BASELINE, "--trials", "1200", "--seed", "4", "--out", out, "--save-paths",
            "5", "--no-figures")
    assert r.returncode == 0 and "added" not in r.stderr
    assert abm("show", out).returncode == 0
    r = abm("reproduce", out)
    assert r.returncode == 0, r.stderr
    # an edited paths.parquet is caught like any data file
    (out / "paths.parquet").write_bytes(b"x")
    r = abm("show", out)
    assert r.returncode == 2 and "paths.parquet" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("value, match", [
    ("1201", r"at most the number of trials \(1200\)"),
    ("0", "positive integer"),
    ("20000", r"\[1, 10000\]"),
    ("many", "positive integer"),
])
def test_cli_refuses_bad_save_paths_in_one_line_writing_nothing(tmp_path, value, match):
    import re

    out = tmp_path / "never"
    r = abm("run", BASELINE, "--trials", "1200", "--seed", "4", "--out", out,
            "--save-paths", value)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and re.search(match, r.stderr), r.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_fan_charts_overlay_the_first_paths():
    from abm.plots import build_figures
    from abm.plots.paths import PATHS_SHOWN

    res = simulate(BASELINE, trials=300, seed=2, save_paths=20)

    def thin_lines(fig) -> int:
        return sum(1 for ax in fig.axes for line in ax.get_lines()
                   if line.get_linewidth() < 1 and len(line.get_xdata()) == res.horizon + 1)

    plain = build_figures(res.table, res.months, res.summary)
    over = build_figures(res.table, res.months, res.summary, paths=res.paths)
    S = len(res.scenario.states)
    assert thin_lines(plain["fan_willingness.png"]) == 0
    assert thin_lines(over["fan_willingness.png"]) == PATHS_SHOWN * S
    assert thin_lines(over["fan_support.png"]) == PATHS_SHOWN * S
    fig = over["fan_support.png"]
    legend = [t.get_text() for f in (fig, *fig.subfigs) for leg in f.legends
              for t in leg.get_texts()]
    assert f"trials 0–{PATHS_SHOWN - 1}" in legend


def test_paths_are_refused_under_a_posterior_for_now():
    """Each group of trials of a posterior run has its own parameter set; the path
    recorder runs the plain scenario, so it says no rather than give other numbers."""
    cal = ROOT / "experiments" / "history" / "calibrated"
    with pytest.raises(ConfigError, match="not saved for a run under a posterior"):
        simulate(BASELINE, trials=200, seed=1, posterior=cal, save_paths=5)
    r = abm("run", BASELINE, "--trials", "200", "--seed", "1", "--posterior", cal,
            "--save-paths", "5")
    assert r.returncode == 2 and "under a posterior" in r.stderr


def test_an_adaptive_run_keeps_the_paths_of_the_trials_it_ran():
    """With --target-halfwidth, N is checked against max_trials; a run that stops before N
    trials keeps the paths of every trial it ran, and they end where those trials end."""
    res = simulate(BASELINE, seed=3, target_halfwidth=0.05, max_trials=8000, save_paths=1500)
    S = len(res.scenario.states)
    n = min(1500, res.trials)
    assert res.paths["trial"].max() + 1 == n
    assert np.array_equal(cube(res.paths, "w", S)[:, -1], per_trial(res.table, "final_w", S, n))
