"""Forecasts under a posterior (docs/forecasts.md): reading a calibration directory, the
fast path of ``--set``, the draw contract, the summary's split, compare and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from abm.analysis.stats import grouped_difference, grouped_proportion
from abm.errors import ConfigError, ResultsError
from abm.experiment.episodes import compare
from abm.experiment.posterior import read_posterior
from abm.experiment.simulate import simulate
from abm.model.compile import compile_scenario
from abm.model.rng import BLOCK_SIZE, GROUP_SIZE, group_particles
from abm.scenario import load_scenario
from abm.scenario.params import with_parameters
from tests.conftest import BASELINE, ROOT, write_calibration

RULE = ROOT / "experiments" / "history" / "refusals_2021.toml"  # stances.rule = true
SPREAD = {"dynamics.pressure_effect": [0.02, 0.1, 0.3],
          "dynamics.notice_months": [0.4, 2.6, 5.5],
          "stances.w_intercept": [0.0, 0.8, -0.5]}
WEIGHTS = [0.2, 0.5, 0.3]


@pytest.fixture(scope="module")
def spread(tmp_path_factory):
    return write_calibration(tmp_path_factory.mktemp("cal") / "spread", SPREAD, WEIGHTS)


def test_group_size_divides_the_block():
    assert BLOCK_SIZE % GROUP_SIZE == 0


# ------------------------------------------------------------------ reading a posterior


def test_read_posterior_returns_keys_values_weights_and_hashes(spread):
    keys, values, weights, cid, sha, path = read_posterior(spread)
    assert keys == tuple(SPREAD)
    assert values.shape == (3, 3) and values.dtype == np.float64
    assert np.allclose(weights, WEIGHTS) and cid == "0123456789ab" and len(sha) == 64


@pytest.mark.parametrize("columns, weights, pattern", [
    ({"dynamics.pressure_efect": [0.1]}, None, r"dynamics.pressure_efect.*not a scenario key"),
    ({"russia.pressure": [0.1]}, None, r"russia.pressure.*schedule key"),
    ({"stances.rule": [1.0]}, None, r"stances.rule.*bool key"),
    ({"dynamics.pressure_effect": [0.1, 0.2]}, [0.7, 0.7], r"weight.*sum to 1"),
    ({"dynamics.pressure_effect": [0.1, 0.2]}, [1.5, -0.5], r"weight\[1\].*>= 0"),
    ({"dynamics.pressure_effect": [0.1, np.nan]}, None, r"pressure_effect\[1\].*finite"),
])
def test_bad_posteriors_are_one_line_config_errors(tmp_path, columns, weights, pattern):
    d = write_calibration(tmp_path / "c", columns, weights)
    with pytest.raises(ConfigError, match=pattern) as e:
        read_posterior(d)
    assert "\n" not in str(e.value) and "posterior.parquet" in str(e.value)


def test_a_changed_file_or_a_wrong_manifest_is_refused(tmp_path):
    d = write_calibration(tmp_path / "c", {"dynamics.pressure_effect": [0.1]})
    with open(d / "posterior.parquet", "ab") as f:
        f.write(b"x")
    with pytest.raises(ResultsError, match="does not match the manifest"):
        read_posterior(d)
    d = write_calibration(tmp_path / "k", {"dynamics.pressure_effect": [0.1]})
    m = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").write_text(json.dumps({**m, "kind": "run"}))
    with pytest.raises(ConfigError, match="kind = 'run': must be 'calibration'"):
        read_posterior(d)
    with pytest.raises(ConfigError, match="no such calibration directory"):
        read_posterior(tmp_path / "nowhere")


# ------------------------------------------------------------------ the fast path of --set


def test_with_parameters_equals_set_overrides_including_the_stance_rule():
    vals = {"stances.w_intercept": 0.7, "stances.p_poll": 1.4, "dynamics.pressure_effect": 0.2,
            "dynamics.notice_months": 2.6, "states.UZB.legal_bar": 0.1,
            "states.KGZ.us_approval": 0.6}
    fast = with_parameters(load_scenario(RULE), vals)
    sets = [f"{k}={3 if k == 'dynamics.notice_months' else v}" for k, v in vals.items()]
    slow = load_scenario(RULE, sets)
    assert fast == slow and fast.sha256() == slow.sha256()
    assert fast.dynamics.notice_months == 3.0  # whole months rounded to the nearest
    a, b = compile_scenario(fast), compile_scenario(slow)
    for k in ("w_init", "p_init"):
        assert np.array_equal(getattr(a, k), getattr(b, k))
    for k in a.monthly:
        assert np.array_equal(a.monthly[k], b.monthly[k])
    # the rule moved the derived stances (and nothing explicit)
    base = load_scenario(RULE)
    assert not np.array_equal(a.w_init, compile_scenario(base).w_init)
    # an explicit willingness set by the parameters is kept, not derived again
    both = with_parameters(base, {"states.UZB.willingness": 0.3, "stances.w_intercept": 2.0})
    assert both == load_scenario(RULE, ["states.UZB.willingness=0.3",
                                        "stances.w_intercept=2.0"])


def test_with_parameters_refuses_out_of_range_values_and_unknown_states():
    sc = load_scenario(BASELINE)
    with pytest.raises(ConfigError, match=r"row 3: dynamics.pressure_effect = 1.5.*\[0, 1\]"):
        with_parameters(sc, {"dynamics.pressure_effect": 1.5}, source="x.parquet row 3")
    with pytest.raises(ConfigError, match="unknown state id"):
        with_parameters(sc, {"states.XXX.legal_bar": 0.1})


# ------------------------------------------------------------------ the draw contract


def test_a_one_particle_posterior_at_the_scenario_values_is_the_plain_run(tmp_path):
    sc = load_scenario(BASELINE)
    d = write_calibration(tmp_path / "c", {
        "dynamics.pressure_effect": [sc.dynamics.pressure_effect],
        "stances.w_intercept": [sc.stances.w_intercept]})
    plain = simulate(sc, trials=2000, seed=11)
    post = simulate(sc, trials=2000, seed=11, posterior=d)
    assert post.outputs_sha256 == plain.outputs_sha256
    assert post.months.equals(plain.months)
    assert post.summary["states"]["UZB"]["p_base_param_sd"] < 1e-6


def test_results_do_not_depend_on_chunks_workers_kernel_or_trial_count(spread):
    sc = load_scenario(RULE)
    ref = simulate(sc, trials=2000, seed=4, posterior=spread)
    for kw in ({"chunk_trials": 1000}, {"workers": 2}, {"kernel": "numpy"}):
        other = simulate(sc, trials=2000, seed=4, posterior=spread, **kw)
        assert other.outputs_sha256 == ref.outputs_sha256, kw
        assert other.months.equals(ref.months), kw
    short = simulate(sc, trials=1200, seed=4, posterior=spread)
    n = 1200 * len(sc.states)
    assert short.table.equals(ref.table.iloc[:n].reset_index(drop=True)
                              .astype(short.table.dtypes))
    plain = simulate(sc, trials=2000, seed=4)
    assert plain.outputs_sha256 != ref.outputs_sha256


def test_group_particles_follow_the_weights_and_depend_only_on_seed_and_group():
    root = np.random.SeedSequence(5)
    k = group_particles(root, 0, 4000, np.array([0.2, 0.0, 0.8]))
    assert 1 not in k
    assert abs(np.mean(k == 2) - 0.8) < 0.03
    assert np.array_equal(group_particles(root, 1000, 50, np.array([0.2, 0.0, 0.8])),
                          k[1000:1050])


def test_posterior_runs_need_whole_groups_and_the_numpy_engine(spread):
    sc = load_scenario(BASELINE)
    with pytest.raises(ConfigError, match="multiple of 100"):
        simulate(sc, trials=1050, seed=1, posterior=spread)
    with pytest.raises(ConfigError, match="numpy engine"):
        simulate(sc, trials=1000, seed=1, posterior=spread, engine="mesa")


# ------------------------------------------------------------------ statistics


def test_grouped_proportion_splits_the_variance_by_the_law_of_total_variance():
    rng = np.random.default_rng(0)
    n_g, G = 4000, 100
    p = rng.choice([0.2, 0.6], size=n_g)  # Var p = 0.04, E p(1-p) = 0.2
    x = rng.random((n_g, G)) < p[:, None]
    st = grouped_proportion(x)
    assert abs(st["param_sd"] - 0.2) < 0.01
    assert abs(st["mc_sd"] ** 2 - 0.2) < 0.005
    assert st["ci_low"] < 0.4 < st["ci_high"]
    # wider than the Wilson interval of the same trials, which ignores the groups
    assert st["ci_high"] - st["ci_low"] > 3 * 2 * 1.96 * np.sqrt(0.24 / (n_g * G))


def test_pairing_by_group_narrows_the_interval():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.1, 0.9, size=200)
    u = rng.random((200, 100))
    a, b = u < p[:, None], u < np.minimum(p + 0.05, 1)[:, None]
    d, lo, hi, ulo, uhi = grouped_difference(a, b)
    assert lo < d < hi and hi - lo < 0.25 * (uhi - ulo)


def test_compare_under_a_posterior_pairs_by_draw(spread):
    sc = load_scenario(RULE)
    same = compare(sc, [sc], trials=1000, seed=2, posterior=spread)
    assert same["posterior"]["sha256"] == read_posterior(spread).sha256
    for r in same["rows"]:
        assert r["delta"] == 0 and r["ci_low"] == 0 and r["ci_high"] == 0
    other = load_scenario(RULE, ["us.demand=0.9"])
    cmp = compare(sc, [other], trials=1000, seed=2, posterior=spread)
    row = next(r for r in cmp["rows"] if r["state"] == "any")
    assert row["ci_method"] == "t-paired-group-means" and row["delta"] != 0
    assert row["ci_high"] - row["ci_low"] < row["unpaired_ci_high"] - row["unpaired_ci_low"]


# ------------------------------------------------------------------ command line


def abm(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "abm", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_run_records_the_posterior_and_reproduces(spread, tmp_path):
    out = tmp_path / "run"
    r = abm("run", str(RULE), "--trials", "1000", "--seed", "3", "--posterior", str(spread),
            "--out", str(out), "--no-figures", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "95% posterior interval" in r.stdout
    m = json.loads((out / "manifest.json").read_text())
    post = read_posterior(spread)
    assert m["posterior"]["sha256"] == post.sha256
    assert m["posterior"]["calibration_id"] == post.calibration_id
    s = json.loads((out / "summary.json").read_text())
    assert s["states"]["PAK"]["p_base_param_sd"] > 0
    assert {"p_base_ci", "p_base_mc_sd", "ci_low"} <= set(s["states"]["PAK"])
    r2 = abm("reproduce", str(out))
    assert r2.returncode == 0, r2.stderr
    # the scenario key, relative to the scenario file, gives the same run (same run id)
    f = tmp_path / "with_key.toml"
    f.write_text(f'extends = "{RULE}"\nposterior = "{spread.name}"\n')
    (tmp_path / spread.name).symlink_to(spread)
    j = abm("run", str(f), "--trials", "1000", "--seed", "3", "--json", "--no-figures",
            "--out", str(tmp_path / "run2"))
    assert j.returncode == 0, j.stderr
    assert json.loads(j.stdout)["outputs_sha256"] == m["outputs_sha256"]
    plain = abm("run", str(RULE), "--trials", "1000", "--seed", "3", "--json", "--no-figures",
                "--out", str(tmp_path / "plain"))
    assert json.loads(plain.stdout)["run_id"] != m["run_id"]


@pytest.mark.parametrize("extra, pattern", [
    (["--posterior", "nowhere"], r"--posterior: posterior = 'nowhere': no such calibration"),
    (["--posterior", ""], r"--posterior: posterior = '': must name a calibration directory"),
    (["--posterior", "docs"], r"--posterior: posterior = 'docs': is not a calibration "
                              r"directory: it has no manifest.json"),
    (["--trials", "1050"], r"trials = 1050: under a posterior must be a multiple of 100"),
    (["--engine", "mesa"], r"numpy engine"),
])
def test_cli_bad_posterior_input_exits_2_and_writes_nothing(spread, tmp_path, extra, pattern):
    args = ["run", str(BASELINE), "--trials", "1000", "--posterior", str(spread), *extra,
            "--out", str(tmp_path / "out")]
    r = abm(*args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert __import__("re").search(pattern, r.stderr), r.stderr
    assert not (tmp_path / "out").exists()
