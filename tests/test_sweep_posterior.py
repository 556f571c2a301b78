"""Sweeps under a posterior (docs/forecasts.md, "Sweeps under a posterior"): the layout of
points x parameter groups, the pairing with the reference, the grouped intervals, the
refusals and the command line. Small grids, few trials, fixed seeds; equalities are exact
(same integer counts, same outputs_sha256) unless a tolerance is stated."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from abm.analysis.stats import wilson
from abm.experiment.executors import Executor
from abm.experiment.posterior import read_posterior
from abm.experiment.simulate import simulate
from abm.experiment.sweep import load_experiment, run_sweep, sweep
from abm.experiment.sweep import run as sweep_run
from abm.experiment.sweep.posterior import sweep_posterior
from abm.model.rng import GROUP_SIZE, group_particles, point_root, resolve_seed
from abm.scenario import load_scenario
from tests.conftest import BASELINE, ROOT, write_calibration

RULE = ROOT / "experiments" / "history" / "refusals_2021.toml"  # stances.rule = true
SPREAD = {"dynamics.pressure_effect": [0.02, 0.1, 0.3],
          "dynamics.notice_months": [0.4, 2.6, 5.5],
          "stances.w_intercept": [0.0, 0.8, -0.5]}
WEIGHTS = [0.2, 0.5, 0.3]
GRID = """
[sweep]
design = "grid"
trials_per_point = {tpp}
seed = 5
crn = {crn}
[sweep.parameters."russia.pressure"]
values = [0.2, 0.8]
[sweep.parameters."{second}"]
values = {values}
"""


@pytest.fixture(scope="module")
def spread(tmp_path_factory):
    return write_calibration(tmp_path_factory.mktemp("cal") / "spread", SPREAD, WEIGHTS)


def experiment(tmp_path, base=BASELINE, tpp=300, crn="true", second="dynamics.threshold",
               values="[0.5, 0.7]", name="exp", extra=""):
    f = tmp_path / f"{name}.toml"
    f.write_text(f'extends = "{base}"\nname = "{name}"\n{extra}'
                 + GRID.format(tpp=tpp, crn=crn, second=second, values=values))
    return f


def run(exp, tmp_path, label, executor=None, **kw):
    return run_sweep(exp, out_dir=tmp_path / label,
                     executor=executor or Executor("inprocess"), **kw)


def points(d):
    return pd.read_parquet(d / "points.parquet")


def test_a_one_particle_posterior_at_the_base_values_is_the_plain_sweep(tmp_path):
    """The strongest check of the layout: every trial of every point gets the numbers and
    parameters it gets without a posterior."""
    sc = load_scenario(BASELINE)
    one = write_calibration(tmp_path / "one", {
        "dynamics.pressure_effect": [sc.dynamics.pressure_effect],
        "dynamics.notice_months": [float(sc.dynamics.notice_months)],
        "stances.w_intercept": [sc.stances.w_intercept]})
    for crn in ("true", "false"):
        f = experiment(tmp_path, tpp=1200, crn=crn, name=f"e{crn}")
        d0, plain, _ = run(load_experiment(f), tmp_path, f"plain-{crn}")
        d1, post, _ = run(load_experiment(f, posterior=one), tmp_path, f"one-{crn}")
        assert post["outputs_sha256"] == plain["outputs_sha256"], crn
        assert post["sweep_id"] != plain["sweep_id"]
        a, b = points(d0), points(d1)
        for c in ("any_base.p", "UZB.p_base", "PAK.p_base", "PAK.mean_months_hosted"):
            assert np.array_equal(a[c], b[c]), (crn, c)
        assert post["posterior"]["particles_drawn"] == 1
        assert post["posterior"]["groups"] == 12


def test_the_plain_sweep_id_is_unchanged(tmp_path):
    """A sweep without a posterior keeps the id it had (the posterior enters the id only
    when there is one): pinned on the shipped grid."""
    exp = load_experiment(ROOT / "experiments" / "pressure_x_spillover.toml")
    assert exp.posterior is None
    import hashlib

    blob = json.dumps({"base": exp.base.sha256(), "spec": exp.spec.to_dict(),
                       "seed": exp.seed, "block": 1000, "v": 1}, sort_keys=True)
    assert exp.sweep_id() == hashlib.sha256(blob.encode()).hexdigest()[:12]


def test_the_reference_is_the_base_run_under_the_posterior(tmp_path, spread):
    """Group g of the reference draws what abm run of the base draws (same seed, same
    trials), so its P(base) and grouped interval are the run's; the stance rule is
    re-derived from each particle's coefficients (RULE derives its stances)."""
    f = experiment(tmp_path, base=RULE, tpp=400)
    exp = load_experiment(f, posterior=spread)
    _, s, _ = run(exp, tmp_path, "sw")
    r = simulate(load_scenario(RULE), trials=400, seed=5, posterior=spread)
    for sid in exp.base.state_ids:
        ref, st = s["reference"]["states"][sid], r.summary["states"][sid]
        assert ref["p_base"] == st["p_base"], sid
        assert [ref["ci_low"], ref["ci_high"]] == pytest.approx(st["p_base_ci"], abs=1e-12)
        assert ref["p_base_param_sd"] == pytest.approx(st["p_base_param_sd"], abs=1e-12)
    assert s["reference"]["any_base"]["p"] == r.summary["any_base"]["p"]
    assert s["posterior"]["particles_drawn"] == r.posterior["particles_drawn"]


def test_group_g_of_every_point_gets_the_particle_a_run_draws(tmp_path, spread):
    root = resolve_seed(5)
    w = read_posterior(spread).weights
    exp = load_experiment(experiment(tmp_path, tpp=500), posterior=spread)
    plan = sweep_posterior(exp)
    want = group_particles(root, 0, 5, w)
    assert np.array_equal(plan.of(0, exp.n_points + 1),
                          np.broadcast_to(want, (exp.n_points + 1, 5)))
    # crn = false: every point (the reference too) draws from its own root
    exp = load_experiment(experiment(tmp_path, tpp=500, crn="false"), posterior=spread)
    plan = sweep_posterior(exp)
    for p in range(exp.n_points + 1):
        assert np.array_equal(plan.of(p, p + 1)[0],
                              group_particles(point_root(root, p), 0, 5, w)), p


def test_results_do_not_depend_on_workers_chunks_or_kernel(tmp_path, spread, monkeypatch):
    f = experiment(tmp_path, tpp=1200)
    exp = load_experiment(f, posterior=spread)
    d0, a, _ = run(exp, tmp_path, "a")
    _, b, _ = run(exp, tmp_path, "b", executor=Executor("threads", 2))
    _, c, _ = run(exp, tmp_path, "c", kernel="numpy")
    monkeypatch.setattr(sweep_run, "CHUNK_ROWS", 1000)  # one block of one point a chunk
    assert len(sweep_run.plan_chunks(exp.n_points + 1, 1200)) > 2  # so workers share it
    d3, d, _ = run(exp, tmp_path, "d")
    _, e, _ = run(exp, tmp_path, "e", executor=Executor("threads", 2))
    _, g, _ = run(exp, tmp_path, "g", executor=Executor("pool", 2))
    assert a["outputs_sha256"] == b["outputs_sha256"] == c["outputs_sha256"] \
        == d["outputs_sha256"] == e["outputs_sha256"] == g["outputs_sha256"]
    pd.testing.assert_frame_equal(points(d0), points(d3))
    monkeypatch.undo()
    api = sweep(f, posterior=spread)  # the Python API: same numbers
    assert api.outputs_sha256 == a["outputs_sha256"]
    assert api.summary["posterior"]["sha256"] == read_posterior(spread).sha256


def test_a_swept_posterior_key_keeps_the_sweeps_value(tmp_path):
    """A point is conditional on its swept values: a one-particle posterior on the swept
    key changes the reference (which it sets) and no design point."""
    one = write_calibration(tmp_path / "c", {"dynamics.pressure_effect": [0.28]})
    f = experiment(tmp_path, second="dynamics.pressure_effect", values="[0.05, 0.15]")
    d0, plain, _ = run(load_experiment(f), tmp_path, "plain")
    d1, post, _ = run(load_experiment(f, posterior=one), tmp_path, "post")
    assert post["posterior"]["held_by_sweep"] == ["dynamics.pressure_effect"]
    a, b = points(d0), points(d1)
    for c in ("any_base.p", "UZB.p_base", "PAK.p_base", "KGZ.mean_months_hosted"):
        assert np.array_equal(a[c], b[c]), c
    ref = simulate(load_scenario(BASELINE, ["dynamics.pressure_effect=0.28"]), trials=300,
                   seed=5)
    assert post["reference"]["any_base"]["p"] == ref.summary["any_base"]["p"]
    assert post["outputs_sha256"] != plain["outputs_sha256"]  # the reference moved


def test_grouped_intervals_are_at_least_wilson_and_carry_the_parameter_spread(tmp_path,
                                                                             spread):
    tpp = 600
    d, s, _ = run(load_experiment(experiment(tmp_path, base=RULE, tpp=tpp),
                                  posterior=spread), tmp_path, "sw")
    pts = points(d)
    for pre, prob in [("any_base", "p"), *((sid, "p_base") for sid in s["states"])]:
        k = np.rint(pts[f"{pre}.{prob}"].to_numpy() * tpp)
        lo, hi = wilson(k, tpp)
        assert (pts[f"{pre}.ci_low"] <= lo + 1e-12).all(), pre
        assert (pts[f"{pre}.ci_high"] >= hi - 1e-12).all(), pre
        assert (pts[f"{pre}.{prob}_param_sd"] >= 0).all()
    # the posterior moves Pakistan's P(base) in RULE (0.59 at the reference, parameter sd
    # 0.28 at this seed): visible at the reference, and the interval is wider than Wilson's
    ref = s["reference"]["states"]["PAK"]
    assert ref["p_base_param_sd"] > 0.1
    w = wilson(round(ref["p_base"] * tpp), tpp)
    assert ref["ci_high"] - ref["ci_low"] > w[1] - w[0]
    assert s["posterior"]["ci_method"].startswith("t interval on the mean of group means")


def test_a_point_and_its_difference_are_the_posterior_runs_group_means(tmp_path, spread):
    """With no posterior key swept, a point is the run of its scenario under the
    posterior (same seed, same trials): its P(base) interval is the run's grouped one, and
    its difference from the reference is the mean of the per-group differences with the
    t interval over groups (abm compare's)."""
    from abm.analysis.stats import grouped_difference

    tpp = 400
    exp = load_experiment(experiment(tmp_path, tpp=tpp), posterior=spread)
    d, s, _ = run(exp, tmp_path, "sw")
    pts = points(d)

    def groups(sc):
        r = simulate(sc, trials=tpp, seed=5, posterior=spread)
        got = r.table["first_base_month"].notna().to_numpy().reshape(
            tpp // GROUP_SIZE, GROUP_SIZE, len(sc.states))
        return r, got

    _, ref = groups(exp.base)
    q = 3
    r, got = groups(exp.scenarios[q])
    row = pts.iloc[q]
    for i, sid in enumerate(exp.base.state_ids):
        st = r.summary["states"][sid]
        assert row[f"{sid}.p_base"] == st["p_base"], sid
        assert [row[f"{sid}.ci_low"], row[f"{sid}.ci_high"]] == pytest.approx(
            st["p_base_ci"], abs=1e-12), sid
        dd, lo, hi, _, _ = grouped_difference(ref[:, :, i], got[:, :, i])
        assert [row[f"{sid}.p_base_diff"], row[f"{sid}.p_base_diff_ci_low"],
                row[f"{sid}.p_base_diff_ci_high"]] == pytest.approx([dd, lo, hi], abs=1e-12)
    dd, lo, hi, _, _ = grouped_difference(ref.any(axis=2), got.any(axis=2))
    assert [row["any_base.p_diff"], row["any_base.p_diff_ci_low"],
            row["any_base.p_diff_ci_high"]] == pytest.approx([dd, lo, hi], abs=1e-12)
    assert row["any_base.p_param_sd"] == pytest.approx(r.summary["any_base"]["p_param_sd"],
                                                       abs=1e-12)


def abm(*args):
    return subprocess.run([sys.executable, "-m", "abm", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("tpp, pattern", [
    ("150", r"sweep.trials_per_point = 150: under a posterior must be a multiple of 100"),
    ("100", r"sweep.trials_per_point = 100: under a posterior must be a multiple of 100 "
            r"and at least 200"),
    ('"adaptive"', r"adaptive sweep cannot run under a posterior"),
])
def test_cli_refusals_exit_2_with_one_line_and_write_nothing(tmp_path, spread, tpp,
                                                            pattern):
    f = experiment(tmp_path)
    out = tmp_path / "out"
    extra = ["--set", "sweep.target_halfwidth=0.05"] if "adaptive" in tpp else []
    r = abm("sweep", f, "--posterior", spread, "--set", f"sweep.trials_per_point={tpp}",
            *extra, "--out", out, "--quiet", "--workers", "1")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert re.search(pattern, r.stderr), r.stderr
    assert str(f.name) in r.stderr or "--set" in r.stderr, r.stderr
    assert not out.exists() and not out.with_name("out.partial").exists()


def test_a_joint_limit_broken_at_one_point_under_one_draw_writes_nothing(tmp_path):
    """Each particle is checked against the base before anything runs; a joint limit that
    only a design point and a particle break together (a long border under a high incident
    rate) is found when the chunk compiles: one line, exit 2, and the partial sweep is
    removed (it could never finish)."""
    post = write_calibration(tmp_path / "border", {"states.TJK.afghan_border_km":
                                                   [1357.0, 6000.0]}, [0.5, 0.5])
    f = experiment(tmp_path, tpp=1000, second="spillover.rate", values="[0.25, 80.0]")
    out = tmp_path / "out"
    r = abm("sweep", f, "--posterior", post, "--out", out, "--quiet", "--workers", "1")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "posterior.parquet row 1" in r.stderr and "spillover.rate" in r.stderr, r.stderr
    assert not out.exists() and not out.with_name("out.partial").exists()


def test_cli_sweep_records_the_posterior_shows_and_reproduces(tmp_path, spread):
    f = experiment(tmp_path, tpp=200)
    out = tmp_path / "sw"
    r = abm("sweep", f, "--posterior", spread, "--out", out, "--quiet", "--workers", "1",
            "--no-figures", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    m = json.loads((out / "manifest.json").read_text())
    post = read_posterior(spread)
    assert m["posterior"]["sha256"] == s["posterior"]["sha256"] == post.sha256
    assert m["posterior"]["calibration_id"] == post.calibration_id
    # the scenario's key (relative to the file) is the same sweep
    (tmp_path / "cal").symlink_to(spread)
    g = experiment(tmp_path, tpp=200, name="keyed", extra='posterior = "cal"\n')
    k = abm("sweep", g, "--out", tmp_path / "sw2", "--quiet", "--workers", "1",
            "--no-figures", "--json")
    assert k.returncode == 0, k.stderr
    assert json.loads(k.stdout)["outputs_sha256"] == s["outputs_sha256"]
    show = abm("show", out)
    assert show.returncode == 0 and "posterior" in show.stdout, show.stderr
    rep = abm("reproduce", out)
    assert rep.returncode == 0, rep.stderr
