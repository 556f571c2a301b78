"""Precision on demand (``--target-halfwidth``): the stopping rule's coverage under optional
stopping, a stopped run equals a plain run of as many trials, the reason is reported, bad
values exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from abm.analysis.sequential import (
    SequentialRule,
    clopper_pearson,
    halfwidth,
    probability_counts,
    schedule,
)
from abm.errors import ConfigError
from abm.experiment.adaptive import run_looks
from abm.experiment.simulate import simulate
from tests.conftest import BASELINE


def test_schedule_doubles_and_ends_at_the_maximum():
    assert schedule(1000, 1000) == (1000,)
    assert schedule(1000, 5000) == (1000, 2000, 4000, 5000)
    assert schedule(1000, 8000) == (1000, 2000, 4000, 8000)
    assert SequentialRule(0.01, 1_000_000, 1000).looks[-2:] == (512_000, 1_000_000)
    assert SequentialRule(0.01, 1_000_000, 1000).level == pytest.approx(1 - 0.05 / 11)


@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (5, 10), (10, 10), (37, 1000), (999, 1000)])
def test_clopper_pearson_is_scipys_exact_interval(k, n):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.99, method="exact")
    lo, hi = clopper_pearson(k, n, 0.99)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


def _bernoulli_run(rule: SequentialRule, p: float, rng: np.random.Generator):
    """One run of the real stopping loop on a stream of Bernoulli(p) trials: the base event
    (and so P(any base)) is the stream; every other event never happens."""
    n = rule.max_trials
    hit = rng.random(n) < p
    per_trial = {"first_base_month": np.where(hit, 1, -1)[:, None],
                 "vetoes": np.zeros((n, 1), np.int32), "closed": np.zeros((n, 1), bool),
                 "final_h": np.zeros((n, 1), bool), "notices": np.zeros((n, 1), np.int32)}
    stops, info = run_looks(rule, ("A",), per_trial, lambda b0, nb, m: None)
    k = int(hit[:stops].sum())
    return stops, k, info


@pytest.mark.parametrize("p,at", [(0.3, 1600), (0.5, 400), (0.02, 3200), (0.002, 6400)])
def test_the_interval_at_the_stop_covers_p_at_least_95_percent(p, at):
    """Optional stopping: over 1,000 Bernoulli(p) streams (seed fixed) the rule stops at
    different looks, and the adjusted interval at the stop covers p in at least 95% of
    streams. Monte Carlo tolerance: with 1,000 streams a true coverage of 0.95 gives a
    standard error of 0.0069, so the test asks for >= 0.95 - 3 SE = 0.929 (Bonferroni is
    conservative: the coverage found is about 0.99). The target is the half-width expected
    at look ``at``, so the stop falls on that look or a neighbour depending on the data.
    """
    level = SequentialRule(0.1, 6400, 100).level
    target = halfwidth(round(p * at), at, level)
    rule = SequentialRule(target, 6400, 100)     # looks 100, 200, ..., 6400: K = 7
    rng = np.random.default_rng(20231115)
    covered, looks = 0, set()
    for _ in range(1000):
        n, k, info = _bernoulli_run(rule, p, rng)
        lo, hi = clopper_pearson(k, n, rule.level)
        covered += lo <= p <= hi
        looks.add(info["looks_taken"])
        assert info["trials"] == n and n in rule.looks
    assert len(looks) >= 2          # the stop really depends on the data
    assert covered / 1000 >= 0.929


def test_the_stop_is_the_first_look_with_every_interval_narrow_enough():
    rng = np.random.default_rng(1)
    rule = SequentialRule(0.03, 6400, 100)
    n, k, info = _bernoulli_run(rule, 0.3, rng)
    assert info["target_reached"] and info["reason"] == "target reached"
    assert halfwidth(k, n, rule.level) <= 0.03
    if n > 100:  # the look before was not narrow enough
        prev = rule.looks[rule.looks.index(n) - 1]
        assert info["widest"]["halfwidth"] <= 0.03
        assert n == rule.looks[info["looks_taken"] - 1] and prev < n
    tiny = SequentialRule(0.001, 800, 100)
    n, k, info = _bernoulli_run(tiny, 0.3, rng)
    assert n == 800 and not info["target_reached"]
    assert info["reason"].startswith("max trials reached, widest interval ")
    assert info["reason"].endswith(" for A.p_base")   # the first key among equal widths


def test_a_stopped_run_equals_a_plain_run_bit_for_bit():
    ad = simulate(BASELINE, seed=11, target_halfwidth=0.006, max_trials=20_000)
    a = ad.summary["adaptive"]
    assert a["reason"] == "target reached" and a["trials"] == ad.trials > 1000
    assert ad.trials in a["looks"] and len(ad.table) == ad.trials * len(ad.scenario.states)
    plain = simulate(BASELINE, seed=11, trials=ad.trials, workers=2)
    assert plain.outputs_sha256 == ad.outputs_sha256
    assert plain.months.equals(ad.months)
    # the estimates are the plain run's; the intervals are the adjusted ones
    counts = probability_counts({o: plain.table[o].to_numpy(dtype=np.float64, na_value=-1)
                                 .reshape(ad.trials, -1)
                                 for o in ("first_base_month", "vetoes", "closed", "final_h",
                                           "notices")}, ad.scenario.state_ids)
    level = a["level_per_look"]
    for sid, st in ad.summary["states"].items():
        assert st["p_base"] == plain.summary["states"][sid]["p_base"]
        assert st["p_base"] == counts[f"{sid}.p_base"] / ad.trials
        lo, hi = clopper_pearson(counts[f"{sid}.p_base"], ad.trials, level)
        assert (st["ci_low"], st["ci_high"]) == (lo, hi)
        assert st["p_veto_ci"] == list(clopper_pearson(counts[f"{sid}.p_veto"], ad.trials,
                                                       level))
    assert ad.summary["any_base"]["p"] == counts["any_base.p"] / ad.trials


def test_max_trials_reached_is_reported_with_the_widest_interval():
    r = simulate(BASELINE, seed=2, target_halfwidth=0.001, max_trials=2500)
    a = r.summary["adaptive"]
    assert r.trials == 2500 and a["looks"] == [1000, 2000, 2500] and a["looks_taken"] == 3
    assert not a["target_reached"]
    key, hw = a["widest"]["key"], a["widest"]["halfwidth"]
    assert hw > 0.001 and a["reason"] == f"max trials reached, widest interval {hw:.4g} for {key}"
    assert simulate(BASELINE, seed=2, trials=2500).outputs_sha256 == r.outputs_sha256


@pytest.mark.parametrize("kw", [dict(target_halfwidth=0.0), dict(target_halfwidth=0.5),
                                dict(target_halfwidth=float("nan")),
                                dict(target_halfwidth=0.01, max_trials=999),
                                dict(target_halfwidth=0.01, trials=5000),
                                dict(max_trials=5000)])
def test_bad_values_in_the_api_are_config_errors(kw):
    with pytest.raises(ConfigError):
        simulate(BASELINE, seed=1, **kw)


@pytest.mark.parametrize("opts,pattern", [
    (["--target-halfwidth", "0"], "--target-halfwidth: target_halfwidth = 0.0: must be a "
                                  "number in (0, 0.5)"),
    (["--target-halfwidth", "0.5"], "target_halfwidth = 0.5: must be a number in (0, 0.5)"),
    (["--target-halfwidth", "wide"], "target_halfwidth = 'wide': must be a number"),
    (["--target-halfwidth", "0.01", "--max-trials", "500"],
     "--max-trials: max_trials = 500: must be an integer in [1000, 1000000000]"),
    (["--max-trials", "5000"], "--max-trials: max_trials = '5000': needs --target-halfwidth"),
    (["--target-halfwidth", "0.01", "--trials", "5000"],
     "--trials: trials = '5000': cannot be combined with --target-halfwidth"),
])
def test_bad_values_exit_2_with_one_line_and_write_nothing(tmp_path, opts, pattern):
    r = subprocess.run([sys.executable, "-m", "abm", "run", str(BASELINE), *opts],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and pattern in lines[0] and "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())


def test_cli_records_the_rule_and_reproduce_reruns_it(tmp_path):
    def run(*opts):
        return subprocess.run([sys.executable, "-m", "abm", "run", str(BASELINE), "--seed",
                               "5", "--no-figures", "--quiet", *opts], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    r = run("--target-halfwidth", "0.01", "--max-trials", "8000", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    a = s["adaptive"]
    assert (a["target_halfwidth"], a["max_trials"], a["reason"]) == (0.01, 8000,
                                                                     "target reached")
    assert s["trials"] == a["trials"]
    run_dir = tmp_path / s["run_dir"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["adaptive"] == a and manifest["trials"] == a["trials"]
    assert json.loads((run_dir / "summary.json").read_text())["adaptive"] == a
    # the console says how many trials, the rule, the target and why it stopped
    text = run("--target-halfwidth", "0.01", "--max-trials", "8000").stdout
    assert ("precision on demand: target +/-0.01 (95%, adjusted for 4 looks" in text
            and f"{a['trials']:,} trials: target reached" in text)
    # another target or maximum is another run; a plain run of as many trials too
    other = json.loads(run("--target-halfwidth", "0.01", "--max-trials", "9000",
                           "--json").stdout)
    plain = json.loads(run("--trials", str(a["trials"]), "--json").stdout)
    assert len({s["run_id"], other["run_id"], plain["run_id"]}) == 3
    assert plain["outputs_sha256"] == s["outputs_sha256"]
    rp = subprocess.run([sys.executable, "-m", "abm", "reproduce", str(run_dir)],
                        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rp.returncode == 0 and "matches" in rp.stdout, rp.stderr


# --------------------------------------------------------------------------- sweeps

def _experiment(tmp_path, extra: str = "", name: str = "adsweep"):
    f = tmp_path / f"{name}.toml"
    f.write_text(f'extends = "{BASELINE}"\nname = "{name}"\n[sweep]\ndesign = "grid"\n'
                 f'seed = 4\n{extra}\n[sweep.parameters."dynamics.threshold"]\n'
                 'values = [0.15, 0.3, 0.6]\n')
    return f


ADAPTIVE_SWEEP = ('trials_per_point = "adaptive"\ntarget_halfwidth = 0.02\n'
                  'max_trials_per_point = 8000')


def test_an_adaptive_sweep_stops_each_point_on_its_own(tmp_path):
    import pandas as pd

    from abm.experiment.executors import Executor
    from abm.experiment.sweep import load_experiment, run_sweep
    from abm.scenario import load_scenario

    exp = load_experiment(_experiment(tmp_path, ADAPTIVE_SWEEP))
    d, summary, _ = run_sweep(exp, out_dir=tmp_path / "a", executor=Executor("inprocess"))
    pts = pd.read_parquet(d / "points.parquet")
    rule = exp.spec.rule
    assert set(pts["trials"]) <= set(rule.looks) and pts["trials"].nunique() >= 2
    a = summary["adaptive"]
    assert summary["trials_per_point"] == "adaptive" and a["target_halfwidth"] == 0.02
    assert (a["trials_min"], a["trials_max"]) == (pts["trials"].min(), pts["trials"].max())
    assert summary["reference"]["trials"] >= pts["trials"].max()   # runs while any point does
    for _, row in pts.iterrows():
        n = int(row["trials"])
        assert row["target_reached"] == (row["widest_halfwidth"] <= 0.02)
        # common random numbers: the point's trials are a plain run's first n trials
        r = simulate(load_scenario(BASELINE, [f"dynamics.threshold={row['dynamics.threshold']}"]),
                     trials=n, seed=4)
        for sid, st in r.summary["states"].items():
            assert row[f"{sid}.p_base"] == st["p_base"] and row[f"{sid}.p_veto"] == st["p_veto"]
            k = round(st["p_base"] * n)
            assert (row[f"{sid}.ci_low"], row[f"{sid}.ci_high"]) == clopper_pearson(
                k, n, rule.level)
            assert halfwidth(k, n, rule.level) <= row["widest_halfwidth"] + 1e-15
    from abm.commands.listing import list_results

    (entry,) = list_results(tmp_path)   # abm ls: the most trials any point ran, and a note
    assert entry["trials"] == a["trials_max"] and "adaptive" in entry["note"]
    # rounds, chunks and threads do not change the numbers
    d2, s2, _ = run_sweep(exp, out_dir=tmp_path / "b", executor=Executor("threads", 2))
    assert s2["outputs_sha256"] == summary["outputs_sha256"]
    assert pd.read_parquet(d2 / "points.parquet").equals(pts)


@pytest.mark.parametrize("extra,pattern", [
    ('trials_per_point = "adaptive"', "sweep.target_halfwidth = None: trials_per_point = "
                                      '"adaptive" needs target_halfwidth'),
    ('trials_per_point = "adaptive"\ntarget_halfwidth = 0.7',
     "sweep.target_halfwidth = 0.7: must be a number in (0, 0.5)"),
    ('trials_per_point = "adaptive"\ntarget_halfwidth = 0.01\nmax_trials_per_point = 10',
     "sweep.max_trials_per_point = 10: must be an integer in [1000, 1000000000]"),
    ("trials_per_point = 100\ntarget_halfwidth = 0.01",
     'sweep.target_halfwidth = 0.01: only with trials_per_point = "adaptive"'),
    ('trials_per_point = "adaptve"', "sweep.trials_per_point = 'adaptve': must be an integer"),
])
def test_bad_adaptive_sweeps_exit_2_with_one_line(tmp_path, extra, pattern):
    from abm.experiment.sweep import load_experiment

    f = _experiment(tmp_path, extra, "bad")
    with pytest.raises(ConfigError) as e:
        load_experiment(f)
    assert pattern in str(e.value)
    r = subprocess.run([sys.executable, "-m", "abm", "sweep", str(f), "--workers", "1"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and pattern in lines[0]
    assert not (tmp_path / "results").exists()


def test_an_interrupted_adaptive_sweep_resumes_to_the_same_hash(tmp_path):
    from abm.experiment.executors import Executor
    from abm.experiment.sweep import SweepInterrupted, load_experiment, run_sweep

    exp = load_experiment(_experiment(tmp_path, ADAPTIVE_SWEEP))
    _, whole, _ = run_sweep(exp, out_dir=tmp_path / "whole", executor=Executor("inprocess"))
    calls = []

    def stop_in_round_three(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 3:   # the first two rounds have one chunk each
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted):
        run_sweep(exp, out_dir=tmp_path / "cut", executor=Executor("inprocess"),
                  progress=stop_in_round_three)
    assert len(list((tmp_path / "cut.partial" / "chunks").iterdir())) == 3
    _, resumed, _ = run_sweep(exp, out_dir=tmp_path / "cut", executor=Executor("inprocess"),
                              resume=True)
    assert resumed["outputs_sha256"] == whole["outputs_sha256"]
