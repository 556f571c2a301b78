"""The analyst's workbench: paired score intervals, number formats, ls, compare, sweep
directories, progress lines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from abm.analysis.formats import fmt_diff_ci, fmt_prob, fmt_prob_ci
from abm.analysis.history import compare_rows
from abm.analysis.stats import newcombe_paired, newcombe_paired_counts, wilson


def _direct_newcombe10(e, f, g, h, z=1.959963984540054):
    """Newcombe (1998) method 10 written out from the paper's formulas, independently of
    abm.analysis.stats (own Wilson limits, own phi correction)."""
    n = e + f + g + h

    def wil(k):
        p = k / n
        c = (2 * k + z * z) / (2 * (n + z * z))
        half = z * math.sqrt(z * z + 4 * k * (1 - p)) / (2 * (n + z * z))
        return c - half, c + half

    p1, p2 = (e + f) / n, (e + g) / n
    (l1, u1), (l2, u2) = wil(e + f), wil(e + g)
    a = e * h - f * g
    c = a - n / 2 if a > n / 2 else (a if a < 0 else 0)
    den = (e + f) * (g + h) * (e + g) * (f + h)
    phi = c / math.sqrt(den) if den else 0.0
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    hi = d + math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    return d, lo, hi


@pytest.mark.parametrize("cells,expected", [
    # Fagerland, Lydersen & Laake (2017), "Statistical Analysis of Contingency Tables",
    # chapter 8, the Newcombe square-and-add interval (method 10) as their R package
    # contingencytables prints it: estimate -0.0621, 95% CI -0.1186 to -0.0046
    ((59, 6, 16, 80), (-0.0621, -0.1186, -0.0046)),
    # Bentur et al. (2009), same book and package: -0.2857 (-0.5069 to -0.0256)
    ((1, 1, 7, 12), (-0.2857, -0.5069, -0.0256)),
])
def test_newcombe_method_10_against_published_values(cells, expected):
    got = newcombe_paired_counts(*cells)
    assert got == pytest.approx(expected, abs=6e-5)


@pytest.mark.parametrize("cells", [(8, 5, 4, 3), (12, 2, 1, 14), (0, 1, 1, 1), (54, 1, 0, 0),
                                   (40, 0, 0, 60), (3, 10, 0, 987), (500, 20, 35, 445)])
def test_newcombe_method_10_matches_a_direct_implementation(cells):
    assert newcombe_paired_counts(*cells) == pytest.approx(_direct_newcombe10(*cells),
                                                           abs=1e-12)


def test_newcombe_from_indicators_is_second_minus_first():
    rng = np.random.default_rng(1)
    a = rng.random(400) < 0.3
    b = a.copy()
    b[:40] = ~b[:40]
    e, f, g = int(np.sum(a & b)), int(np.sum(b & ~a)), int(np.sum(a & ~b))
    d, lo, hi = newcombe_paired(a, b)
    assert d == pytest.approx(b.mean() - a.mean())
    assert (d, lo, hi) == newcombe_paired_counts(e, f, g, 400 - e - f - g)
    assert lo < d < hi


def test_no_discordant_pair_still_gives_an_interval():
    d, lo, hi = newcombe_paired_counts(0, 0, 0, 2000)
    assert d == 0
    assert lo < 0 < hi and hi == pytest.approx(-lo)
    # as wide as the Wilson interval of 0 out of 2000 (phi = 0)
    assert hi == pytest.approx(wilson(0, 2000)[1])
    gb = np.zeros((2000, 2), dtype=bool)
    rows = compare_rows("same", ("A", "B"), gb, gb.copy())
    for r in rows:
        assert r["delta"] == 0 and r["ci_low"] < 0 < r["ci_high"]
        assert r["wald_ci_low"] == r["wald_ci_high"] == 0  # what Wald said
        assert "+0.000 [+0.000, +0.000]" not in fmt_diff_ci(r["delta"], r["ci_low"],
                                                            r["ci_high"])


def test_probabilities_never_print_as_zero_when_nonzero():
    assert fmt_prob(0.0) == "0.000"
    assert fmt_prob(0.00037) == "0.00037"
    assert fmt_prob(0.123456) == "0.123"
    assert fmt_prob(1.0) == "1.000"
    assert not fmt_prob(0.99996).startswith("1.000")
    assert fmt_prob_ci(0.0, 0.0, 0.00038) == "0.000 [0.000, 0.00038]"
    assert fmt_diff_ci(0.0, -0.0002, 0.0002) == "+0.000 [-0.00020, +0.00020]"
    # a value from a 1e6-trial run keeps two significant digits
    lo, hi = wilson(1, 1_000_000)
    text = fmt_prob_ci(1e-6, lo, hi)
    assert "0.000 " not in text and "0.000]" not in text and "0.0000010" in text


def test_compare_json_keeps_the_old_keys(tmp_path):
    gb = np.zeros((100, 1), dtype=bool)
    g = gb.copy()
    g[:5] = True
    r = compare_rows("x", ("A",), gb, g)[0]
    assert {"scenario", "state", "delta", "ci_low", "ci_high", "p_base"} <= set(r)
    assert r["delta"] == pytest.approx(0.05)
    assert r["n_gained"] == 5 and r["n_lost"] == 0
    json.dumps(r)


# --------------------------------------------------------------------------- commands

from pathlib import Path  # noqa: E402

from tests.conftest import BASELINE, ROOT  # noqa: E402
from tests.test_cli import PNG, abm  # noqa: E402

GRID = ROOT / "experiments" / "pressure_x_spillover.toml"
LIFTED = ROOT / "experiments" / "csto_rule_lifted.toml"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A results folder with a run (with overrides), a sweep and a damaged run."""
    root = tmp_path_factory.mktemp("results")
    r = abm("run", BASELINE, "--trials", "1000", "--seed", "2", "--out", root / "b" / "run1",
            "--quiet", "--no-figures", "--set", "russia.pressure=0.3")
    assert r.returncode == 0, r.stderr
    r = abm("sweep", GRID, "--set", "sweep.trials_per_point=60", "--workers", "1", "--quiet",
            "--no-figures", "--out", root / "g" / "sweep1")
    assert r.returncode == 0, r.stderr
    bad = root / "b" / "broken"
    bad.mkdir(parents=True)
    (bad / "manifest.json").write_text("{not json")
    (bad / "summary.json").write_text("{}")
    return root


def test_ls_lists_runs_and_sweeps_and_notes_a_damaged_directory(results):
    r = abm("ls", results, "--json")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    by = {Path(e["path"]).name: e for e in entries}
    assert set(by) == {"run1", "sweep1", "broken"}
    run = by["run1"]
    summary = json.loads((results / "b" / "run1" / "summary.json").read_text())
    manifest = json.loads((results / "b" / "run1" / "manifest.json").read_text())
    assert run["kind"] == "run" and run["id"] == manifest["run_id"]
    assert run["trials"] == 1000 and run["seed"] == 2 and run["engine"] == "numpy"
    assert run["overrides"] == ["russia.pressure=0.3"]
    assert run["created"] == manifest["finished"]
    assert (run["p_any_base"], run["ci_low"], run["ci_high"]) == (
        summary["any_base"]["p"], summary["any_base"]["ci_low"], summary["any_base"]["ci_high"])
    sw = by["sweep1"]
    ssum = json.loads((results / "g" / "sweep1" / "summary.json").read_text())
    assert sw["kind"] == "sweep" and sw["id"] == ssum["sweep_id"] and sw["trials"] == 60
    assert sw["p_any_base"] == ssum["reference"]["any_base"]["p"]
    assert "manifest.json unreadable" in by["broken"]["note"]
    created = [e["created"] for e in entries]
    assert created == sorted(created)
    text = abm("ls", results)
    assert text.returncode == 0 and "Traceback" not in text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:3] == ["kind", "name", "id"]
    assert any(line.startswith("run ") and "russia.pressure=0.3" in line for line in lines)
    assert any("broken" in line and "unreadable" in line for line in lines)


def test_run_and_show_name_the_overrides_and_every_interval(results):
    r = abm("show", results / "b" / "run1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("baseline_2021 [russia.pressure=0.3]: 1,000")
    for head in ("P(veto) [95% CI]", "P(closed) [95% CI]", "months hosted [95% CI]",
                 "incidents [95% CI]", "median 1st | base", "final w mean [95% CI]"):
        assert head in r.stdout
    # no interval with a nonzero bound printed as all zeros
    summary = json.loads((results / "b" / "run1" / "summary.json").read_text())
    for sid, st in summary["states"].items():
        if st["ci_high"] > 0:
            line = next(x for x in r.stdout.splitlines() if x.startswith(sid))
            assert fmt_prob_ci(st["p_base"], st["ci_low"], st["ci_high"]) in line


def test_show_plot_reproduce_on_a_sweep_directory(results, tmp_path):
    import shutil

    d = results / "g" / "sweep1"
    summary = json.loads((d / "summary.json").read_text())
    r = abm("show", d)
    assert r.returncode == 0, r.stderr
    assert "grid over russia.pressure, spillover.rate" in r.stdout
    lines = r.stdout.splitlines()
    head = next(i for i, x in enumerate(lines) if x.lstrip().startswith("point"))
    assert "diff from reference" in lines[head]
    assert "more points" in r.stdout  # 55 points: the first 40 shown
    assert len(abm("show", d, "--all").stdout.splitlines()) > len(lines)
    assert json.loads(abm("show", d, "--json").stdout) == summary
    r = abm("plot", d)
    assert r.returncode == 0, r.stderr
    pngs = [Path(p) for p in r.stdout.split()]
    assert pngs and all(p.read_bytes()[:8] == PNG for p in pngs)
    r = abm("reproduce", d)
    assert r.returncode == 0, r.stderr
    assert summary["outputs_sha256"] in r.stdout
    other = tmp_path / "tampered"
    shutil.copytree(d, other)
    m = json.loads((other / "manifest.json").read_text())
    m["outputs_sha256"] = "0" * 64
    (other / "manifest.json").write_text(json.dumps(m))
    r = abm("reproduce", other)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "NOT reproduced" in r.stderr


def test_compare_writes_a_results_directory_with_score_intervals(tmp_path):
    out = tmp_path / "cmp"
    r = abm("compare", BASELINE, LIFTED, "--trials", "1000", "--seed", "4", "--out", out,
            "--set", "russia.pressure=0.4", "--json")
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    stored = json.loads((out / "comparison.json").read_text())
    for key in ("base", "trials", "seed", "p_base", "any_base", "rows"):
        assert printed[key] == stored[key]
    assert printed["compare_dir"] == str(out) and stored["overrides"] == ["russia.pressure=0.4"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "compare" and manifest["overrides"] == ["russia.pressure=0.4"]
    assert (out / "figures" / "compare.png").read_bytes()[:8] == PNG
    rows = stored["rows"]
    assert [x["state"] for x in rows][-1] == "any"
    for x in rows:
        assert x["ci_method"] == "newcombe-paired-score"
        assert x["ci_low"] < x["ci_high"] and x["ci_low"] <= x["delta"] <= x["ci_high"]
        d, lo, hi = newcombe_paired_counts(0, x["n_gained"], x["n_lost"], 1000 - x["n_gained"]
                                           - x["n_lost"])
        assert x["delta"] == pytest.approx(d)
    r = abm("compare", BASELINE, LIFTED, "--trials", "1000", "--seed", "4", "--out", out)
    assert r.returncode == 0 and "paired score interval" in r.stdout
    assert "+0.000 [+0.000, +0.000]" not in r.stdout


def test_progress_lines_off_a_terminal_with_time_left():
    import io

    from abm.commands.progress import Progress

    t = [0.0]
    out = io.StringIO()
    p = Progress(10_000, desc="x", stream=out, tty=False, delay=2.0, interval=5.0,
                 clock=lambda: t[0])
    for step in range(10):
        t[0] = 1.5 * (step + 1)  # 1,000 trials every 1.5 (fake) seconds
        p.update(1000)
    lines = out.getvalue().splitlines()
    # not before 2 s, then at most one line per 5 s, never for the last update
    assert lines[0] == "x: 2,000 of 10,000 trials (20%), 3 s elapsed, about 12 s left"
    assert lines[1:] == ["x: 6,000 of 10,000 trials (60%), 9 s elapsed, about 6 s left"]
    quick = io.StringIO()
    q = Progress(2000, desc="x", stream=quick, tty=False, clock=lambda: 0.5)
    q.update(1000)
    q.update(1000)
    assert quick.getvalue() == ""


def test_simulate_reports_progress_in_blocks():
    from abm.experiment.simulate import simulate
    from abm.model.rng import BLOCK_SIZE

    seen: list[int] = []
    res = simulate(BASELINE, trials=2500, seed=1, progress=seen.append)
    assert seen == [BLOCK_SIZE, BLOCK_SIZE, 500]
    assert res.summary["outputs_sha256"] == simulate(BASELINE, trials=2500,
                                                     seed=1).summary["outputs_sha256"]
