"""``abm calibrate``: the calibration file's checks, the priors, the sampler on a synthetic
problem with a known answer, determinism, resume, and the calibration directory."""

from __future__ import annotations

import itertools
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from abm.cli import main
from abm.experiment.calibrate import CalibrationInterrupted, load_calibration, run_calibration
from abm.experiment.calibrate.run import read_calibration
from abm.experiment.calibrate.spec import Prior
from abm.experiment.episodes import history_files
from abm.experiment.executors import Executor
from abm.experiment.simulate import simulate
from abm.scenario import load_scenario
from tests.conftest import ROOT

LIBRARY = ROOT / "experiments" / "history"
SHIPPED = LIBRARY / "calibration.toml"
TRUE_THRESHOLD = 0.52
W0 = {"a": (0.25, 0.35, 0.45, 0.55, 0.65, 0.75), "b": (0.30, 0.40, 0.50, 0.60, 0.70, 0.80)}
IDS = ("S1", "S2", "S3", "S4", "S5", "S6")


def _episode_toml(name: str, w0: tuple[float, ...], record: dict[str, bool] | None,
                  threshold: str = "") -> str:
    """A synthetic episode: willingness stays at w0 (stubbornness 1, no forces), so a state
    agrees to a base within the 6 months iff w0 is above the threshold (width 0.01)."""
    states = "".join(textwrap.dedent(f"""
        [[states]]
        id = "{sid}"
        name = "{sid}"
        csto = false
        afghan_border_km = 0
        russia_dependence = 0.0
        legal_bar = 0.0
        responsiveness = 0.0
        stubbornness = 1.0
        willingness = {w}
        public_support = 0.5
        """) for sid, w in zip(IDS, w0, strict=True))
    rec = ""
    if record is not None:
        rec = "[record]\n" + "".join(f"{k} = {'true' if v else 'false'}\n"
                                     for k, v in record.items())
    return textwrap.dedent(f"""
        name = "{name}"
        horizon_months = 6
        trials = 200
        seed = 3
        [dynamics]
        opinion_noise = 0.0
        willingness_noise = 0.0
        decision_width = 0.01
        close_threshold = 0.05
        {threshold}
        [us]
        demand = 1.0
        incentives = 0.0
        [csto]
        consent_rule = false
        """) + states + rec


CAL = """
[calibration]
name = "synthetic"
seed = 11
episodes = ["ep_a.toml", "ep_b.toml"]
[calibration.method]
population = 200
trials_per_particle = 20
batch = 50
max_generations = 10
final_generations = 1
max_moves = 3
[calibration.quick]
population = 100
trials_per_particle = 20
batch = 50
max_generations = 3
final_generations = 0
max_moves = 1
[calibration.priors]
"dynamics.threshold" = {dist = "uniform", low = 0.2, high = 0.9}
"dynamics.opinion_anchor" = {dist = "uniform", low = 0.0, high = 1.0}
"""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """Two synthetic episodes whose records are simulated at the true threshold (trial 0 of
    a run at the true parameters), and a calibration file fitting the threshold (and a
    parameter the records cannot inform, the opinion anchor)."""
    d = tmp_path_factory.mktemp("synthetic")
    for key, w0 in W0.items():
        path = d / f"ep_{key}.toml"
        # the record is made at the true threshold; the fitted file does not set it (a key
        # an episode sets itself is a fact of that episode, kept by the calibration)
        path.write_text(_episode_toml(f"ep_{key}", w0, None, f"threshold = {TRUE_THRESHOLD}"))
        res = simulate(load_scenario(path), trials=1, seed=5)
        got = res.table["first_base_month"].notna().to_numpy()
        path.write_text(_episode_toml(f"ep_{key}", w0, dict(zip(IDS, got.tolist(),
                                                                strict=True))))
    (d / "calibration.toml").write_text(CAL)
    return d


# ---------------------------------------------------------------------------- the method


def test_synthetic_recovery(synthetic, tmp_path):
    """The sampler recovers the threshold: the true value lies in the posterior's 95%
    interval, and the interval is far narrower than the prior's (the records pin it to
    between the w0 of the last state without a base and the first with one, 0.50-0.55);
    the opinion anchor, on which the records say nothing, stays spread over its prior."""
    cal = load_calibration(synthetic / "calibration.toml")
    path, summary, _ = run_calibration(cal, out=tmp_path / "cal", executor=Executor("inprocess"))
    assert summary["exact"], summary["stop_reason"]
    post = pd.read_parquet(path / "posterior.parquet")
    w = post["weight"].to_numpy()
    assert w.sum() == pytest.approx(1.0)
    x = post["dynamics.threshold"].to_numpy()
    o = np.argsort(x)
    cw = np.cumsum(w[o])
    lo, hi = x[o][np.searchsorted(cw, 0.025)], x[o][np.searchsorted(cw, 0.975)]
    assert lo <= TRUE_THRESHOLD <= hi
    assert 0.44 <= lo and hi <= 0.61, (lo, hi)  # the prior's 95% interval is [0.22, 0.88]
    par = summary["parameters"]
    assert par["dynamics.threshold"]["width_ratio"] < 0.25
    assert par["dynamics.opinion_anchor"]["width_ratio"] > 0.6
    # every recorded pattern is the most likely outcome under the posterior
    fitted = [r for r in summary["predictive"] if r["role"] == "fitted"]
    assert len(fitted) == 12 and all(r["verdict"] == "yes" for r in fitted), fitted


def test_per_episode_tolerance_recovers_and_is_the_same_on_a_process_pool(synthetic,
                                                                         tmp_path):
    """``tolerance = "per_episode"`` lowers the episodes' tolerances one by one: every
    generation's tolerances are recorded per episode, never rise, and end at 0 with the
    true threshold inside the posterior's 95% interval. A process pool kept for the whole
    run (one per calibration, not per step) gives the same bytes as one process."""
    text = (synthetic / "calibration.toml").read_text().replace(
        "max_moves = 3\n", "max_moves = 3\ntolerance = \"per_episode\"\n", 1)
    (synthetic / "per_episode.toml").write_text(text)
    cal = load_calibration(synthetic / "per_episode.toml")
    assert cal.method.tolerance == "per_episode"
    assert cal.method.to_dict()["tolerance"] == "per_episode"
    path, summary, _ = run_calibration(cal, out=tmp_path / "cal", executor=Executor("inprocess"))
    assert summary["exact"], summary["stop_reason"]
    assert summary["final_tolerances"] == {"ep_a": 0, "ep_b": 0}
    diag = json.loads((path / "diagnostics.json").read_text())["generations"]
    tols = [g["tolerances"] for g in diag[1:]]
    assert all(len(t) == 2 for t in tols)
    assert all(b[e] <= a[e] for a, b in itertools.pairwise(tols) for e in range(2)), tols
    assert [g["epsilon"] for g in diag[1:]] == [max(t) for t in tols]
    post = pd.read_parquet(path / "posterior.parquet")
    x, w = post["dynamics.threshold"].to_numpy(), post["weight"].to_numpy()
    o = np.argsort(x)
    cw = np.cumsum(w[o])
    lo, hi = x[o][np.searchsorted(cw, 0.025)], x[o][np.searchsorted(cw, 0.975)]
    assert lo <= TRUE_THRESHOLD <= hi, (lo, hi)
    # the quick settings keep the file's way of lowering the tolerance
    quick = load_calibration(synthetic / "per_episode.toml", quick=True)
    assert quick.method.tolerance == "per_episode"
    assert quick.method.population // quick.method.batch >= 2  # the pool gets work
    a, _, _ = run_calibration(quick, out=tmp_path / "a", executor=Executor("inprocess"))
    b, _, _ = run_calibration(quick, out=tmp_path / "b", executor=Executor("pool", 2))
    assert (a / "posterior.parquet").read_bytes() == (b / "posterior.parquet").read_bytes()


def test_an_executor_session_keeps_one_pool_across_maps():
    """Inside ``Executor.session`` every map runs on the same two worker processes (a pool
    per map would show up to six); a consumer that stops early terminates that pool and
    the next map starts a new one; the session ends with no pool left."""
    import os

    ex = Executor("pool", 2)
    with ex.session():
        pids = set()
        for _ in range(3):
            pids |= {pid for _, pid in ex.map(os.getpid, [()] * 4)}
        assert 1 <= len(pids) <= 2, pids
        it = ex.map(os.getpid, [()] * 4)
        next(it)
        it.close()
        assert ex._live[1] is None
        again = {pid for _, pid in ex.map(os.getpid, [()] * 4)}
        assert again and not again & pids
    assert ex._live is None


def test_default_tolerance_keeps_earlier_calibration_ids():
    """The ``tolerance`` setting enters a calibration's id only when it is not the default,
    so every calibration made before the setting existed keeps its id (the shipped one's
    manifest is checked against its file in test_shipped_calibration_*)."""
    from abm.experiment.calibrate.spec import Method

    assert "tolerance" not in Method().to_dict()
    assert Method(tolerance="per_episode").to_dict()["tolerance"] == "per_episode"


def test_next_tolerance_per_episode_takes_the_cheapest_step_first():
    """Two episodes of one pattern each: every particle reproduces episode 0 in all its
    trials, episode 1 in half the particles only. Lowering episode 0 costs no ESS, so it
    goes first; lowering episode 1 too would halve the ESS, more than ``alpha = 0.6``
    allows, so it waits; the common rule cannot lower at all without losing half."""
    from abm.experiment.calibrate.smc import Generation, best_step, next_epsilon

    N, M = 100, 10
    c0 = np.zeros((N, 2), dtype=np.int64)
    c0[:, 0] = M                                   # distance 0 in every trial
    c1 = np.zeros((N, 2), dtype=np.int64)
    c1[: N // 2, 0] = M                            # half the particles: distance 0
    c1[N // 2:, 1] = M                             # the rest: distance 1
    g = Generation(1, 1, np.zeros((N, 1)), np.zeros((N, 1)), np.full(N, 1 / N), [c0, c1])
    assert g.tol == (1, 1)
    assert next_epsilon(g, M, 0.6, per_episode=True) == (0, 1)
    assert next_epsilon(g, M, 0.4, per_episode=True) == (0, 0)
    assert best_step(g, (0, 1), M) == (pytest.approx(N / 2), (0, 0))
    # common: one step for both would keep half the ESS: allowed at 0.4, forced at 0.6
    # (it keeps more than 5% of the population)
    assert next_epsilon(g, M, 0.4) == (0, 0)
    assert next_epsilon(g, M, 0.6) == (0, 0)


def test_same_seed_same_posterior_whatever_the_executor(synthetic, tmp_path):
    cal = load_calibration(synthetic / "calibration.toml", quick=True)
    assert cal.method.population // cal.method.batch >= 2  # both threads get work
    a, sa, _ = run_calibration(cal, out=tmp_path / "a", executor=Executor("inprocess"))
    b, sb, _ = run_calibration(cal, out=tmp_path / "b", executor=Executor("threads", 2))
    assert (a / "posterior.parquet").read_bytes() == (b / "posterior.parquet").read_bytes()
    assert sa["predictive"] == sb["predictive"]
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    assert ma["posterior_sha256"] == mb["posterior_sha256"]
    assert ma["calibration_id"] == mb["calibration_id"]


def test_resume_finishes_without_redoing_generations(synthetic, tmp_path):
    """Interrupted after generation 1 (Ctrl-C), the run keeps its checkpoints; --resume
    finishes from there, running only the later generations, with the same posterior as an
    uninterrupted run."""
    cal = load_calibration(synthetic / "calibration.toml", quick=True)
    ref, _, _ = run_calibration(cal, out=tmp_path / "ref", executor=Executor("inprocess"))

    def stop(msg: str) -> None:
        if msg.startswith("generation 2"):
            raise KeyboardInterrupt

    out = tmp_path / "cal"
    with pytest.raises(CalibrationInterrupted, match="2 generations checkpointed"):
        run_calibration(cal, out=out, executor=Executor("inprocess"), progress=stop)
    gdir = out.with_name("cal.partial") / "generations"
    assert sorted(p.name for p in gdir.iterdir()) == ["gen-000.npz", "gen-001.npz"]
    stamps = {p.name: p.stat().st_mtime_ns for p in gdir.iterdir()}
    seen = []
    run_calibration(cal, out=out, executor=Executor("inprocess"), resume=True,
                    progress=seen.append)
    assert not any(m.startswith(("generation 0", "generation 1")) for m in seen)
    assert any(m.startswith("generation 2") for m in seen)
    assert (out / "posterior.parquet").read_bytes() == (ref / "posterior.parquet").read_bytes()
    assert not out.with_name("cal.partial").exists()
    assert stamps  # the checkpoints existed before resuming


def test_partial_calibration_needs_resume_or_force(synthetic, tmp_path, capsys):
    cal = load_calibration(synthetic / "calibration.toml", quick=True)

    def stop(msg: str) -> None:
        if msg.startswith("generation 1"):
            raise KeyboardInterrupt

    out = tmp_path / "cal"
    with pytest.raises(CalibrationInterrupted):
        run_calibration(cal, out=out, executor=Executor("inprocess"), progress=stop)
    code = main(["calibrate", str(synthetic / "calibration.toml"), "--quick", "--out", str(out),
                 "--workers", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--resume" in err[0]


# ---------------------------------------------------------------------------- the directory


@pytest.fixture(scope="module")
def cal_dir(synthetic, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("caldir") / "cal"
    assert main(["calibrate", str(synthetic / "calibration.toml"), "--quick", "--out", str(out),
                 "--workers", "1", "--quiet"]) == 0
    return out


def test_directory_files(cal_dir):
    m = read_calibration(cal_dir)
    assert m["kind"] == "calibration" and m["seed"] == 11 and m["quick"] is True
    assert set(m["files"]) == {"posterior.parquet", "generations.parquet", "diagnostics.json",
                               "summary.json"}
    post = pd.read_parquet(cal_dir / "posterior.parquet")
    assert list(post.columns) == ["dynamics.threshold", "dynamics.opinion_anchor", "weight"]
    assert len(post) == 100 and post["weight"].sum() == pytest.approx(1.0)
    assert post["dynamics.threshold"].between(0.2, 0.9).all()
    diag = json.loads((cal_dir / "diagnostics.json").read_text())
    g = diag["generations"]
    assert [x["generation"] for x in g] == list(range(len(g)))
    assert g[0]["epsilon"] is None and all(x["ess"] > 0 for x in g)
    eps = [x["epsilon"] for x in g[1:]]
    assert eps == sorted(eps, reverse=True)  # the tolerance never rises
    gens = pd.read_parquet(cal_dir / "generations.parquet")
    assert sorted(gens["generation"].unique()) == list(range(len(g)))
    assert {p.name for p in (cal_dir / "figures").iterdir()} == {
        "marginals.png", "pairs.png", "predictive.png", "diagnostics.png"}


def test_show_plot_ls_on_a_calibration(cal_dir, capsys):
    assert main(["show", str(cal_dir)]) == 0
    out = capsys.readouterr().out
    assert "dynamics.threshold" in out and "posterior-predictive check" in out
    assert main(["show", str(cal_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "calibration"
    (cal_dir / "figures" / "pairs.png").unlink()
    assert main(["plot", str(cal_dir)]) == 0
    assert (cal_dir / "figures" / "pairs.png").is_file()
    capsys.readouterr()
    assert main(["ls", str(cal_dir.parent), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in rows] == ["calibration"]


def test_found_again_without_recomputing(synthetic, cal_dir, capsys):
    before = (cal_dir / "manifest.json").read_bytes()
    assert main(["calibrate", str(synthetic / "calibration.toml"), "--quick", "--out",
                 str(cal_dir), "--workers", "1"]) == 0
    assert "found the finished calibration" in capsys.readouterr().err
    assert (cal_dir / "manifest.json").read_bytes() == before


def test_leave_out_reports_the_episode_apart(synthetic, tmp_path):
    cal = load_calibration(synthetic / "calibration.toml", quick=True, leave_out="ep_b")
    assert [e.name for e in cal.episodes] == ["ep_a"]
    _, summary, _ = run_calibration(cal, out=tmp_path / "loo", executor=Executor("inprocess"))
    roles = {r["episode"]: r["role"] for r in summary["predictive"]}
    assert roles == {"ep_a": "fitted", "ep_b": "left out"}
    assert summary["left_out"] == ["ep_b"]


# ---------------------------------------------------------------------------- priors


@pytest.mark.parametrize("spec", [
    {"dist": "uniform", "low": 0.1, "high": 0.5},
    {"dist": "loguniform", "low": 0.01, "high": 0.3},
    {"dist": "beta", "a": 2.0, "b": 5.0, "low": 0.0, "high": 1.0},
    {"dist": "normal", "mean": 0.2, "sd": 0.3, "low": 0.0, "high": 1.0},
])
def test_prior_working_scale(spec):
    """On its working scale a prior's density integrates to 1, its draws map back and forth,
    and its draws have the natural-scale distribution (Kolmogorov-Smirnov, p > 0.001 at a
    fixed seed)."""
    from scipy import stats

    args = {k: v for k, v in spec.items() if k not in ("dist", "low", "high")}
    if spec["dist"] in ("uniform", "loguniform"):
        args = {"low": spec["low"], "high": spec["high"]}
    p = Prior("dynamics.opinion_anchor", spec["dist"], args, spec["low"], spec["high"])
    total = integrate.quad(lambda u: float(np.exp(p.logpdf(np.array([u]))[0])), -60, 60,
                           limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-6)
    u = p.sample(np.random.default_rng(1), 4000)
    x = p.natural(u)
    assert np.allclose(p.working(x), u, atol=1e-8)
    assert ((x >= p.low) & (x <= p.high)).all()
    assert stats.kstest(x, p._frozen().cdf).pvalue > 1e-3


# ---------------------------------------------------------------------------- bad files

BAD = [
    ('"dynamics.pressure_efect" = {dist = "uniform", low = 0.0, high = 0.5}',
     r'calibration\.priors\."dynamics\.pressure_efect" = .*unknown calibration parameter; '
     r"did you mean 'dynamics\.pressure_effect'\?"),
    ('"dynamics.threshold" = {dist = "uniform", low = 0.5, high = 1.5}',
     r"calibration\.priors\.\"dynamics\.threshold\"\.high = 1\.5: must lie inside the "
     r"schema's range of dynamics\.threshold, \[0, 1\]"),
    ('"dynamics.threshold" = {dist = "gamma", a = 2}',
     r"\.dist = 'gamma': unknown prior; allowed: uniform, loguniform, normal, beta"),
    ('"dynamics.threshold" = {dist = "normal", mean = 0.5}',
     r"a normal prior needs mean and sd"),
    ('"russia.pressure" = {dist = "uniform", low = 0.0, high = 0.5}',
     r"unknown calibration parameter"),
    ('"dynamics.decision_width" = {dist = "loguniform", low = 0.0, high = 0.5}',
     r"must be > 0 for a loguniform prior|must lie inside"),
    ('"dynamics.threshold" = {dist = ["uniform"], low = 0.4, high = 0.6}',
     r"\.dist = \['uniform'\]: unknown prior"),
]


def _write_cal(tmp: Path, prior: str = "", episodes: str = '["opening_2001.toml"]',
               method: str = "") -> Path:
    """A calibration file in a copy of the library (so episodes resolve)."""
    lib = tmp / "lib"
    if not lib.exists():
        lib.mkdir()
        for p in LIBRARY.glob("*.toml"):
            if p.name != "calibration.toml":
                (lib / p.name).write_text(p.read_text())
        (lib / "base").mkdir()
        (lib / "base" / "common.toml").write_text((LIBRARY / "base" / "common.toml").read_text())
    path = lib / "cal.toml"
    path.write_text(f'[calibration]\nname = "t"\nseed = 1\nepisodes = {episodes}\n{method}\n'
                    f'[calibration.priors]\n{prior or BAD[0][0].replace("efect", "effect")}\n')
    return path


def _one_line_exit_2(args: list[str], capsys, cwd: Path, monkeypatch) -> str:
    monkeypatch.chdir(cwd)
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1, err
    assert not (cwd / "results").exists()  # nothing written
    return err[0]


@pytest.mark.parametrize("prior,pattern", BAD)
def test_bad_prior(prior, pattern, tmp_path, capsys, monkeypatch):
    path = _write_cal(tmp_path, prior)
    line = _one_line_exit_2(["calibrate", str(path), "--quick"], capsys, tmp_path, monkeypatch)
    assert re.search(pattern, line), line
    assert "cal.toml" in line


@pytest.mark.parametrize("episodes,pattern", [
    ('["opening_2002.toml"]', r"unknown episode; did you mean 'opening_2001\.toml'\?"),
    ('["k2_eviction_2005.toml"]', r"is the out-of-sample episode"),
    ('["opening_2001.toml", "opening_2001.toml"]', r"lists an episode twice"),
    ('[]', r"must be a non-empty list"),
    ('["cal.toml"]', r"unknown episode"),
    ('["opening_2001.toml", "./opening_2001.toml"]', r"no directories"),
    ('["../lib/opening_2001.toml"]', r"no directories"),
])
def test_bad_episodes(episodes, pattern, tmp_path, capsys, monkeypatch):
    path = _write_cal(tmp_path, episodes=episodes)
    line = _one_line_exit_2(["calibrate", str(path)], capsys, tmp_path, monkeypatch)
    assert re.search(pattern, line), line


@pytest.mark.parametrize("method,pattern", [
    ("[calibration.method]\npopulaton = 10", r"unknown key; did you mean 'population'\?"),
    ("[calibration.method]\nbatch = 33", r"must be a multiple of 1000"),
    ("[calibration.method]\ness_fraction = 1.5", r"must be a number in \(0, 1\)"),
    ("[calibration.quick]\npopulation = 0", r"must be an integer in \[1, 100000\]"),
    ("[calibration.method]\ntolerance = \"per-episode\"",
     r"calibration\.method\.tolerance = 'per-episode': must be one of 'common', 'per_episode'"),
])
def test_bad_method(method, pattern, tmp_path, capsys, monkeypatch):
    path = _write_cal(tmp_path, method=method)
    line = _one_line_exit_2(["calibrate", str(path)], capsys, tmp_path, monkeypatch)
    assert re.search(pattern, line), line


def test_bad_leave_out_and_missing_file(tmp_path, capsys, monkeypatch):
    path = _write_cal(tmp_path)
    line = _one_line_exit_2(["calibrate", str(path), "--leave-out", "opening_2001"], capsys,
                            tmp_path, monkeypatch)
    assert "would leave no episode to fit" in line
    line = _one_line_exit_2(["calibrate", str(path), "--leave-out", "shamsi_2011"], capsys,
                            tmp_path, monkeypatch)
    assert "--leave-out" in line and "unknown episode of this calibration" in line
    line = _one_line_exit_2(["calibrate", str(tmp_path / "nope.toml")], capsys, tmp_path,
                            monkeypatch)
    assert "no such calibration file" in line


# ---------------------------------------------------------------------------- the shipped file


def test_shipped_calibration_file_is_valid_and_never_fits_the_out_of_sample_episode():
    cal = load_calibration(SHIPPED)
    names = {e.name for e in cal.episodes}
    assert "k2_eviction_2005" not in names
    oos = [p.stem for p in history_files(LIBRARY) if load_scenario(p).out_of_sample]
    assert oos == ["k2_eviction_2005"]
    assert names == {p.stem for p in history_files(LIBRARY)} - set(oos)
    # an episode's own fact is kept: the lease notices of Shamsi and Manas
    fixed = {e.name: e.fixed for e in cal.episodes}
    assert fixed["manas_2013_2014"] == ("dynamics.notice_months",)
    assert fixed["opening_2001"] == ()
    load_calibration(SHIPPED, quick=True)  # the quick settings are valid too


def test_keys_set_by_an_extended_file_are_not_episode_facts(tmp_path):
    """Only the episode's own file makes a key a fact of the episode: a scenario that
    extends one setting [dynamics] has none kept (else nothing would be fitted)."""
    from abm.experiment.calibrate.spec import read_episode

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "parent.toml").write_text((LIBRARY / "opening_2001.toml").read_text()
                                     + "\n[dynamics]\nthreshold = 0.5\n")
    (lib / "base").mkdir()
    (lib / "base" / "common.toml").write_text((LIBRARY / "base" / "common.toml").read_text())
    (lib / "child.toml").write_text('extends = "parent.toml"\nname = "child"\n')
    keys = ["dynamics.threshold", "dynamics.decision_width"]
    assert read_episode(lib / "parent.toml", keys).fixed == ("dynamics.threshold",)
    assert read_episode(lib / "child.toml", keys).fixed == ()


def test_history_files_skip_the_calibration_file():
    assert SHIPPED not in history_files(LIBRARY)
