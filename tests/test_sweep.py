"""Sweeps: designs, batching equals independent runs, executors, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abm.errors import ConfigError
from abm.experiment.executors import Executor
from abm.experiment.simulate import simulate
from abm.experiment.sweep import load_experiment, run_sweep
from abm.scenario import load_scenario
from tests.conftest import BASELINE, ROOT, SHIPPED_BASELINE

GRID = ROOT / "experiments" / "pressure_x_spillover.toml"
SOBOL = ROOT / "experiments" / "global_sobol.toml"


def experiment(tmp_path: Path, sweep: str, name: str = "exp") -> Path:
    f = tmp_path / f"{name}.toml"
    f.write_text(f'extends = "{BASELINE}"\nname = "{name}"\n{sweep}')
    return f


def run(exp, tmp_path: Path, label: str, **kw):
    kw.setdefault("executor", Executor("inprocess"))
    return run_sweep(exp, out_dir=tmp_path / label, **kw)


def points(d: Path) -> pd.DataFrame:
    return pd.read_parquet(d / "points.parquet")


def test_grid_points_equal_independent_runs(tmp_path):
    """Batched points use the same trial streams as a plain run with the same seed (the grid
    extends the shipped baseline)."""
    exp = load_experiment(GRID, ["sweep.trials_per_point=400"])
    assert exp.n_points == 55 and exp.keys == ["russia.pressure", "spillover.rate"]
    d, summary, reused = run(exp, tmp_path, "grid")
    assert not reused
    pts = points(d)
    for pressure, rate in ((0.0, 0.0), (0.7, 1.0), (1.0, 2.0)):
        row = pts[(pts["russia.pressure"] == pressure) & (pts["spillover.rate"] == rate)]
        assert len(row) == 1
        r = simulate(load_scenario(SHIPPED_BASELINE, [f"russia.pressure={pressure}",
                                              f"spillover.rate={rate}"]),
                     trials=400, seed=exp.seed)
        for sid, st in r.summary["states"].items():
            assert row[f"{sid}.p_base"].item() == st["p_base"]
            assert row[f"{sid}.p_veto"].item() == st["p_veto"]
            assert row[f"{sid}.mean_months_hosted"].item() == pytest.approx(
                st["mean_months_hosted"], abs=1e-12)
        assert row["any_base.p"].item() == r.summary["any_base"]["p"]
    ref = simulate(SHIPPED_BASELINE, trials=400, seed=exp.seed)
    assert summary["reference"]["any_base"]["p"] == ref.summary["any_base"]["p"]


def test_points_table_columns_follow_the_public_names(tmp_path):
    exp = load_experiment(GRID, ["sweep.trials_per_point=100"])
    d, summary, _ = run(exp, tmp_path, "cols")
    cols = list(points(d).columns)
    assert cols[:3] == ["point", "russia.pressure", "spillover.rate"]
    for c in ("any_base.p", "any_base.ci_low", "any_base.ci_high"):
        assert c in cols
    for sid in ("KAZ", "KGZ", "TJK", "UZB", "TKM", "PAK"):
        for suffix in ("p_base", "ci_low", "ci_high", "p_veto", "mean_months_hosted"):
            assert f"{sid}.{suffix}" in cols
    for f in ("manifest.json", "summary.json", "sensitivity.json", "points.parquet"):
        assert (d / f).is_file()
    assert len(summary["outputs_sha256"]) == 64


def test_monotone_response_to_pressure_in_the_shipped_grid(tmp_path):
    """With common random numbers, more Russian pressure never raises P(base) beyond
    sampling error (3 binomial standard errors, a conservative bound for paired draws)."""
    exp = load_experiment(GRID)
    d, _, _ = run(exp, tmp_path, "mono", executor=Executor("pool", 2))
    pts = points(d)
    n = exp.spec.trials_per_point
    falls = 0
    for rate, grp in pts.groupby("spillover.rate"):
        grp = grp.sort_values("russia.pressure")
        for col in ["any_base.p", *[f"{s}.p_base" for s in exp.base.state_ids]]:
            y = grp[col].to_numpy()
            se = np.sqrt(np.maximum(y * (1 - y), 1.0 / n) / n)
            rises = np.diff(y) - 3 * np.sqrt(se[1:] ** 2 + se[:-1] ** 2)
            assert (rises <= 0).all(), (rate, col, y)
        y = grp["any_base.p"].to_numpy()
        falls += y[-1] < y[0]
    assert falls >= 3, "pressure should visibly lower P(base) at most spillover rates"


def test_lhs_sobol_morris_designs(tmp_path):
    lhs = load_experiment(experiment(tmp_path, '''
[sweep]
design = "lhs"
points = 12
trials_per_point = 100
[sweep.parameters."russia.pressure"]
low = 0.1
high = 0.9
[sweep.parameters."states.UZB.legal_bar"]
low = 0.0
high = 0.5
[sweep.parameters."spillover.rate"]
low = 0.05
high = 2.0
log = true
''', "lhs"))
    assert lhs.X.shape == (12, 3)
    assert (lhs.X[:, 0] >= 0.1).all() and (lhs.X[:, 0] <= 0.9).all()
    assert (lhs.X[:, 2] >= 0.05).all() and (lhs.X[:, 2] <= 2.0).all()
    # Latin hypercube: one sample in each of the 12 strata of every axis
    strata = np.floor((lhs.X[:, 1] - 0.0) / 0.5 * 12).astype(int)
    assert sorted(strata) == list(range(12))
    d, _, _ = run(lhs, tmp_path, "lhs")
    sens = json.loads((d / "sensitivity.json").read_text())
    assert sens["method"] is None and "note" in sens

    sob = load_experiment(SOBOL, ["sweep.points=4", "sweep.trials_per_point=100"])
    D = len(sob.keys)
    assert sob.X.shape == (4 * (D + 2), D)
    d, _, _ = run(sob, tmp_path, "sobol", executor=Executor("pool", 2))
    sens = json.loads((d / "sensitivity.json").read_text())
    assert sens["method"] == "sobol"
    anyb = sens["outputs"]["any_base.p"]
    assert anyb["constant"] is False
    assert set(anyb["indices"]) == set(sob.keys)
    assert set(anyb["indices"]["russia.pressure"]) == {"S1", "S1_conf", "ST", "ST_conf"}
    # an output that does not vary over the design has no indices, and is said to be
    # constant; one that varies has them (TKM may go either way at 100 trials a point)
    tkm = pd.read_parquet(d / "points.parquet")["TKM.p_base"]
    got = sens["outputs"]["TKM.p_base"]
    assert got["constant"] is bool(np.ptp(tkm.to_numpy()) == 0)
    if got["constant"]:
        assert got["indices"] is None and got["value"] == tkm.iloc[0]
    else:
        assert set(got["indices"]) == set(sob.keys)

    mor = load_experiment(experiment(tmp_path, '''
[sweep]
design = "morris"
points = 4
trials_per_point = 100
[sweep.parameters."us.demand"]
low = 0.1
high = 1.0
[sweep.parameters."states.UZB.legal_bar"]
low = 0.0
high = 0.6
''', "morris"))
    assert mor.X.shape == (4 * 3, 2)
    d, _, _ = run(mor, tmp_path, "morris")
    sens = json.loads((d / "sensitivity.json").read_text())
    idx = sens["outputs"]["any_base.p"]["indices"]
    assert set(idx["us.demand"]) == {"mu", "mu_star", "mu_star_conf", "sigma"}
    # the Uzbek legal bar matters for Uzbekistan's chance: mu* clearly above 0
    assert sens["outputs"]["UZB.p_base"]["indices"]["states.UZB.legal_bar"]["mu_star"] > 0.01


def test_grid_over_the_consent_rule_switch(tmp_path):
    exp = load_experiment(experiment(tmp_path, '''
[sweep]
design = "grid"
trials_per_point = 2000
[sweep.parameters."csto.consent_rule"]
values = [true, false]
''', "rule"))
    d, _, _ = run(exp, tmp_path, "rule")
    pts = points(d)
    on, off = pts.iloc[0], pts.iloc[1]
    assert bool(on["csto.consent_rule"]) and not bool(off["csto.consent_rule"])
    assert on["KAZ.p_veto"] > 0 and off["KAZ.p_veto"] == 0
    assert on["KAZ.p_base_diff"] == 0.0  # the reference is the rule-on baseline itself
    assert off["KAZ.p_base_diff_ci_low"] > 0  # lifting the rule helps, paired interval


def test_results_do_not_depend_on_executor_or_workers(tmp_path):
    exp = load_experiment(GRID, ["sweep.trials_per_point=300"])
    _, a, _ = run(exp, tmp_path, "a", executor=Executor("inprocess"))
    _, b, _ = run(exp, tmp_path, "b", executor=Executor("pool", 2))
    assert a["outputs_sha256"] == b["outputs_sha256"]
    pd.testing.assert_frame_equal(points(tmp_path / "a"), points(tmp_path / "b"))


@pytest.mark.slow
def test_dask_local_cluster_matches_local_run_bit_for_bit(tmp_path):
    exp = load_experiment(GRID, ["sweep.trials_per_point=300"])
    _, a, _ = run(exp, tmp_path, "local")
    _, b, _ = run(exp, tmp_path, "dask", executor=Executor("dask", 2))
    assert a["outputs_sha256"] == b["outputs_sha256"]
    pd.testing.assert_frame_equal(points(tmp_path / "local"), points(tmp_path / "dask"))


def test_independent_streams_option(tmp_path):
    exp = load_experiment(GRID, ["sweep.trials_per_point=200", "sweep.crn=false"])
    d, s, _ = run(exp, tmp_path, "indep")
    crn = load_experiment(GRID, ["sweep.trials_per_point=200"])
    _, s2, _ = run(crn, tmp_path, "crn")
    assert s["crn"] is False and s["outputs_sha256"] != s2["outputs_sha256"]


def _abm(*args, **kw):
    # a session of its own, so a signal can go to the whole process group (workers
    # included), as a terminal's Ctrl-C does
    return subprocess.Popen([sys.executable, "-m", "abm", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_killed_sweep_resumes_to_the_same_hash(tmp_path, sig):
    over = ["--set", "sweep.trials_per_point=3000"]
    out = tmp_path / "killed"
    proc = _abm("sweep", GRID, "--workers", "2", "--out", out, "--no-figures", "--quiet", *over)
    chunks = out.with_name(out.name + ".partial") / "chunks"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if chunks.exists() and len(list(chunks.glob("*.npz"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert not out.exists(), "a killed sweep must not leave a directory that looks complete"
    if sig in (signal.SIGINT, signal.SIGTERM):
        assert proc.returncode == (130 if sig == signal.SIGINT else 143)
        assert "--resume" in err and str(chunks) in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # without --resume the partial sweep is not silently overwritten
    r = subprocess.run([sys.executable, "-m", "abm", "sweep", GRID, "--workers", "1", "--out",
                        out, "--no-figures", "--quiet", *over], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "--resume" in r.stderr
    r = subprocess.run([sys.executable, "-m", "abm", "sweep", GRID, "--workers", "1", "--out",
                        out, "--no-figures", "--quiet", "--resume", "--json", *over],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    resumed = json.loads(r.stdout)
    exp = load_experiment(GRID, ["sweep.trials_per_point=3000"])
    _, whole, _ = run(exp, tmp_path, "whole", executor=Executor("pool", 2))
    assert resumed["outputs_sha256"] == whole["outputs_sha256"]
    assert not out.with_name(out.name + ".partial").exists()


def test_a_locked_sweep_is_refused(tmp_path):
    import fcntl

    from abm.errors import ResultsError

    exp = load_experiment(GRID, ["sweep.trials_per_point=100"])
    out = tmp_path / "locked"
    work = out.with_name(out.name + ".partial")
    work.mkdir(parents=True)
    with open(work / "lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ResultsError, match="another process is running this sweep"):
            run_sweep(exp, out_dir=out, executor=Executor("inprocess"))


@pytest.mark.parametrize("sweep,pattern", [
    ('[sweep]\ndesign = "grud"\n', r"sweep\.design = 'grud': must be one of"),
    ('[sweep]\ndesign = "lhs"\n[sweep.parameters."russia.pressure"]\nlow = 0\nhigh = 1\n',
     r"needs points"),
    ('[sweep]\ndesign = "sobol"\npoints = 10\n[sweep.parameters."russia.pressure"]\nlow = 0\n'
     'high = 1\n', r"power of 2"),
    ('[sweep]\ndesign = "grid"\n[sweep.parameters."name"]\nvalues = ["a"]\n',
     r"not a sweepable key"),
    ('[sweep]\ndesign = "grid"\n[sweep.parameters."russia.pressure"]\nvalues = [0.5, 1.5]\n',
     r'sweep\.parameters\."russia\.pressure"\.values\[1\] = 1\.5: must be a number in \[0, 1\]'),
    ('[sweep]\ndesign = "lhs"\npoints = 4\n[sweep.parameters."russia.pressure"]\nlow = 0.5\n'
     'high = 0.2\n', r"must exceed low"),
    ('[sweep]\ndesign = "lhs"\npoints = 4\n[sweep.parameters."spillover.rate"]\nlow = 0\n'
     'high = 1\nlog = true\n', r"must be > 0 with log"),
    ('[sweep]\ndesign = "grid"\ntrials_per_point = 0\n[sweep.parameters."russia.pressure"]\n'
     'values = [0.5]\n', r"sweep\.trials_per_point = 0"),
    ('[sweep]\ndesign = "grid"\npoints_ = 3\n', r"did you mean 'points'"),
    ('[sweep]\ndesign = "grid"\n', r"needs at least one"),
])
def test_bad_sweeps_exit_2_with_one_line(tmp_path, sweep, pattern):
    import re

    f = experiment(tmp_path, sweep, "bad")
    with pytest.raises(ConfigError, match=pattern):
        load_experiment(f)
    r = subprocess.run([sys.executable, "-m", "abm", "sweep", f, "--workers", "1"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(pattern, lines[0]) and "bad.toml" in lines[0]
    assert not (tmp_path / "results").exists()


def test_a_sweep_needs_a_seed(tmp_path):
    f = tmp_path / "noseed.toml"
    f.write_text('name = "noseed"\n[[states]]\nid = "AA"\n[sweep]\ndesign = "grid"\n'
                 '[sweep.parameters."russia.pressure"]\nvalues = [0.1, 0.2]\n')
    with pytest.raises(ConfigError, match="a sweep needs a seed"):
        load_experiment(f)


def test_grid_values_must_be_numbers(tmp_path):
    f = experiment(tmp_path, '[sweep]\ndesign = "grid"\n[sweep.parameters."russia.pressure"]\n'
                             'values = [[[0, 0.2], [12, 0.8]]]\n', "sched")
    with pytest.raises(ConfigError, match=r"values\[0\].*must be a finite number"):
        load_experiment(f)


def test_log_range_ends_stay_inside_the_range(tmp_path):
    f = experiment(tmp_path, '[sweep]\ndesign = "morris"\npoints = 4\nlevels = 2\n'
                             '[sweep.parameters."russia.drill_rate"]\nlow = 0.1\nhigh = 10\n'
                             'log = true\n', "logmax")
    exp = load_experiment(f)  # exp(log(10)) = 10.000000000000002 would break [0, 10]
    assert exp.X.max() == 10.0 and exp.X.min() >= 0.1


def test_a_tampered_finished_sweep_is_not_reused(tmp_path):
    exp = load_experiment(GRID, ["sweep.trials_per_point=100"])
    d, _, _ = run(exp, tmp_path, "t")
    pts = points(d)
    pts.loc[0, "any_base.p"] = 0.99
    pts.to_parquet(d / "points.parquet", index=False)
    from abm.errors import ResultsError

    with pytest.raises(ResultsError, match="does not match the manifest"):
        run(exp, tmp_path, "t")


def test_force_does_not_replace_a_foreign_directory(tmp_path):
    exp = load_experiment(GRID, ["sweep.trials_per_point=100"])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="not a sweep directory"):
        run_sweep(exp, out_dir=foreign, executor=Executor("inprocess"),
                  force=True)
    assert (foreign / "notes.txt").read_text() == "keep"


@pytest.mark.slow
def test_a_sweep_killed_many_times_resumes_to_the_same_hash(tmp_path):
    """Kill with SIGKILL at random moments (fixed seed), resume, kill again, ...: the
    finished sweep has the uninterrupted outputs_sha256."""
    import random

    rng = random.Random(7)
    # 6000 trials a point: 28 chunks, so that a kill after 1-3 new chunks leaves work to do
    over = ["--set", "sweep.trials_per_point=6000"]
    out = tmp_path / "many"
    chunks = out.with_name(out.name + ".partial") / "chunks"
    kills = 0
    for _attempt in range(6):
        args = ["sweep", GRID, "--workers", "2", "--out", out, "--no-figures", "--quiet",
                *over]
        if chunks.exists():
            args.append("--resume")
        proc = _abm(*args)
        before = len(list(chunks.glob("*.npz"))) if chunks.exists() else 0
        deadline = time.time() + 120
        wait_for = before + rng.randint(1, 3)  # kill after a random number of new chunks
        while time.time() < deadline and proc.poll() is None:
            if chunks.exists() and len(list(chunks.glob("*.npz"))) >= wait_for:
                time.sleep(rng.uniform(0.0, 0.3))
                break
            time.sleep(0.02)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)
            if proc.returncode == 0:  # it finished between the check and the signal
                break
            kills += 1
            assert not out.exists(), "a killed sweep must leave no finished directory"
            continue
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        break
    if not out.exists():  # finish whatever is left
        r = subprocess.run([sys.executable, "-m", "abm", "sweep", GRID, "--workers", "2",
                            "--out", out, "--no-figures", "--quiet", "--resume", *over],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    assert kills >= 2, "the sweep should have been killed more than once"
    got = json.loads((out / "summary.json").read_text())
    exp = load_experiment(GRID, ["sweep.trials_per_point=6000"])
    _, whole, _ = run(exp, tmp_path, "whole", executor=Executor("pool", 2))
    assert got["outputs_sha256"] == whole["outputs_sha256"]


def test_reproduce_a_sweep_over_stance_coefficients(tmp_path, capsys):
    """A sweep over a stance coefficient of a base whose stances the rule derives: every
    point derives its own starting stances, and `abm reproduce` re-derives them too (the
    manifest's scenario states every stance; `stance_rule_derived` says which the rule
    made). A manifest written before that key existed is reproduced by recognising the
    stances equal to the rule's."""
    from abm.cli import main

    f = tmp_path / "stance_sweep.toml"
    f.write_text(f'extends = "{SHIPPED_BASELINE}"\nname = "stance_sweep"\n'
                 "[sweep]\ndesign = \"grid\"\ntrials_per_point = 1000\nseed = 3\n"
                 "[sweep.parameters]\n"
                 '"stances.w_intercept" = {values = [-1.0, 1.351, 3.0]}\n')
    exp = load_experiment(f)
    d, summary, _ = run(exp, tmp_path, "s")
    pts = points(d)
    # the points differ: the intercept moves every derived stance (Uzbekistan's P(base)
    # rises with it; common random numbers, so the order is exact)
    assert pts["any_base.p"].is_monotonic_increasing and pts["any_base.p"].nunique() > 1
    manifest = json.loads((d / "manifest.json").read_text())
    assert len(manifest["stance_rule_derived"]) == 12
    capsys.readouterr()
    assert main(["reproduce", str(d)]) == 0, capsys.readouterr().err
    assert summary["outputs_sha256"] in capsys.readouterr().out
    del manifest["stance_rule_derived"]  # as written before the key existed
    (d / "manifest.json").write_text(json.dumps(manifest))
    assert main(["reproduce", str(d)]) == 0, capsys.readouterr().err
