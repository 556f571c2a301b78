"""The `abm` command line, driven through its entry point in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import BASELINE, ROOT

PNG = b"\x89PNG\r\n\x1a\n"
SUMMARY_KEYS = {"name", "trials", "horizon_months", "seed", "engine", "any_base", "states",
                "outputs_sha256"}
STATE_KEYS = {"p_base", "ci_low", "ci_high", "p_closed", "p_veto", "mean_months_hosted",
              "mean_incidents", "median_first_base_month", "final_willingness",
              "p_hosting_end", "p_hosting_end_ci", "mean_openings", "mean_openings_ci",
              "p_notice", "p_notice_ci", "p_notice_reversed", "p_notice_reversed_ci",
              "median_base_duration", "median_base_duration_ci"}


def abm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abm", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "base"
    r = abm("run", BASELINE, "--trials", "600", "--seed", "3", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    return out


def test_run_writes_a_complete_results_directory(run_dir):
    for f in ("manifest.json", "summary.json", "trials.parquet", "months.parquet"):
        assert (run_dir / f).is_file(), f
    summary = json.loads((run_dir / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["trials"] == 600 and summary["seed"] == 3 and summary["engine"] == "numpy"
    assert set(summary["any_base"]) >= {"p", "ci_low", "ci_high"}
    assert list(summary["states"]) == ["KAZ", "KGZ", "TJK", "UZB", "TKM", "PAK"]
    for st in summary["states"].values():
        assert STATE_KEYS <= set(st)
        assert 0 <= st["ci_low"] <= st["p_base"] <= st["ci_high"] <= 1
        assert isinstance(st["p_veto"], float) and isinstance(st["mean_incidents"], float)
        assert st["median_first_base_month"] is None or isinstance(
            st["median_first_base_month"], int)
        assert set(st["final_willingness"]) >= {"mean", "q05", "q50", "q95"}
    assert len(summary["outputs_sha256"]) == 64
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key in ("scenario", "scenario_sha256", "seed", "trials", "horizon_months", "engine",
                "workers", "versions", "git", "platform", "started", "finished",
                "wall_seconds", "outputs_sha256", "outputs_format"):
        assert key in manifest, key
    assert manifest["outputs_format"] == "abm-trials-v2"
    assert set(manifest["versions"]) >= {"python", "numpy", "scipy", "mesa", "abm"}
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert list(trials.columns) == ["trial", "state", "first_base_month", "months_hosted",
                                    "closed", "vetoes", "incidents", "openings", "notices",
                                    "notices_withdrawn", "first_base_closed_month",
                                    "final_w", "final_p", "final_s", "final_h"]
    assert len(trials) == 600 * 6
    months = pd.read_parquet(run_dir / "months.parquet")
    assert len(months) == 37 * 6
    assert {"w_q05", "w_q50", "w_q95", "p_q25", "p_q75", "w_mean", "share_hosting"} <= set(
        months.columns)


def test_figures_are_pngs(run_dir):
    figs = sorted((run_dir / "figures").glob("*.png"))
    assert len(figs) >= 5
    for f in figs:
        assert f.read_bytes()[:8] == PNG, f


def test_second_identical_run_reuses_the_directory(run_dir):
    before = (run_dir / "manifest.json").stat().st_mtime_ns
    r = abm("run", BASELINE, "--trials", "600", "--seed", "3", "--out", run_dir)
    assert r.returncode == 0, r.stderr
    assert "found existing results" in r.stderr
    assert (run_dir / "manifest.json").stat().st_mtime_ns == before


def test_json_prints_only_the_summary(run_dir):
    """summary.json plus where it is: ``run_dir`` and ``run_id`` (a reused run too)."""
    r = abm("run", BASELINE, "--trials", "600", "--seed", "3", "--out", run_dir, "--json")
    assert r.returncode == 0
    out = json.loads(r.stdout)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert out.pop("run_dir") == str(run_dir)
    assert out.pop("run_id") == manifest["run_id"]
    assert out == json.loads((run_dir / "summary.json").read_text())


def test_show_validate_plot(run_dir, tmp_path):
    r = abm("show", run_dir)
    assert r.returncode == 0 and "P(base)" in r.stdout and "UZB" in r.stdout
    r = abm("validate", BASELINE, "--set", "russia.pressure=0.3")
    assert r.returncode == 0
    resolved = tomllib.loads(r.stdout)
    assert resolved["russia"]["pressure"] == 0.3 and len(resolved["states"]) == 6
    r = abm("plot", run_dir)
    assert r.returncode == 0 and r.stdout.count(".png") >= 5


def test_reproduce_passes_then_fails_on_tampering(run_dir, tmp_path):
    import shutil

    r = abm("reproduce", run_dir)
    assert r.returncode == 0, r.stderr
    assert "matches" in r.stdout
    bad = tmp_path / "tampered"
    shutil.copytree(run_dir, bad)
    t = pd.read_parquet(bad / "trials.parquet")
    t.loc[5, "incidents"] += 1
    t.to_parquet(bad / "trials.parquet", index=False)
    r = abm("reproduce", bad)
    assert r.returncode == 1
    assert "column incidents: 1 of" in r.stderr
    r = abm("show", bad)  # reading a tampered file is an error, not a wrong number
    assert r.returncode == 2 and "does not match the manifest" in r.stderr


def test_default_results_location_and_run_id(tmp_path):
    r = abm("run", BASELINE, "--trials", "50", "--seed", "1", "--quiet", "--no-figures",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    dirs = list((tmp_path / "results" / "baseline_2021").iterdir())
    assert len(dirs) == 1 and len(dirs[0].name) == 12
    r2 = abm("run", BASELINE, "--trials", "50", "--seed", "2", "--quiet", "--no-figures",
             cwd=tmp_path)
    assert r2.returncode == 0
    assert len(list((tmp_path / "results" / "baseline_2021").iterdir())) == 2
    assert not list((tmp_path / "results" / "baseline_2021").glob(".tmp-*"))


@pytest.mark.parametrize("args,pattern", [
    (["run", BASELINE, "--trials", "0"], r"--trials: trials = '0': must be a positive"),
    (["run", BASELINE, "--set", "russia.presure=0.3"], r"did you mean 'pressure'"),
    (["run", BASELINE, "--set", "russia.pressure"], r"expected KEY=VALUE"),
    (["run", BASELINE, "--set", "states.XYZ.legal_bar=0.1"], r"unknown state id"),
    (["run", BASELINE, "--seed", "-4"], r"--seed: seed = '-4'"),
    (["run", BASELINE, "--months", "2"], None),  # valid: no shocks in the baseline
    (["run", "no/such/file.toml"], r"file not found"),
    (["run", BASELINE, "--engine", "julia"], r"invalid choice"),
    (["validate", BASELINE, "--set", "dynamics.threshold=2"], r"dynamics\.threshold = 2"),
    (["show", "no/such/dir"], r"no such results directory"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, pattern):
    r = abm(*args, "--quiet", cwd=tmp_path) if args[0] == "run" else abm(*args, cwd=tmp_path)
    if pattern is None:
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "results").exists()


def test_internal_error_exits_1_with_one_line(monkeypatch, capsys):
    from abm import cli

    def boom(args):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(cli._COMMANDS, "show", boom)
    monkeypatch.delenv("ABM_DEBUG", raising=False)
    assert cli.main(["show", "anything"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: RuntimeError: kaboom" in err[0]


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path):
    r = abm("run", BASELINE, "--trials", "2000", "--seed", "1", "--no-figures",
            "--out", tmp_path / "r")
    assert r.returncode == 0
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]  # one note, no bar
    assert r.stderr.startswith("wrote ") and "trial/s" not in r.stderr


def test_force_never_replaces_a_directory_it_did_not_write(tmp_path):
    keep = tmp_path / "thesis"
    keep.mkdir()
    (keep / "chapter1.tex").write_text("precious")
    r = abm("run", BASELINE, "--trials", "50", "--out", keep, "--force", "--quiet")
    assert r.returncode == 2 and "is not an abm results directory" in r.stderr
    assert (keep / "chapter1.tex").read_text() == "precious"


def test_a_shorter_months_run_reproduces(tmp_path):
    """--months shorter than the file's schedules: the manifest keeps the file's scenario
    and records the horizon run, so reproduce re-validates and matches."""
    out = tmp_path / "short"
    r = abm("run", BASELINE, "--trials", "200", "--seed", "4", "--months", "12", "--out", out,
            "--quiet", "--no-figures")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["horizon_months"] == 12 and manifest["scenario"]["horizon_months"] == 36
    assert json.loads((out / "summary.json").read_text())["horizon_months"] == 12
    r = abm("reproduce", out)
    assert r.returncode == 0, r.stderr


def test_run_on_a_dask_local_cluster_matches_the_in_process_run(tmp_path):
    """`abm run` shares the executor layer with sweeps: --dask-local N and --workers N give
    the in-process numbers bit for bit; --trials takes 1e3 as well as 1000."""
    hashes = {}
    for label, opts in {"one": ("--workers", "1"), "pool": ("--workers", "2"),
                        "dask": ("--dask-local", "2")}.items():
        out = tmp_path / label
        r = abm("run", BASELINE, "--trials", "2.5e3", "--seed", "9", *opts, "--out", out,
                "--quiet", "--no-figures")
        assert r.returncode == 0, r.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert summary["trials"] == 2500
        hashes[label] = summary["outputs_sha256"]
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["workers"] == int(opts[1])
    assert hashes["one"] == hashes["pool"] == hashes["dask"]


def test_a_run_asked_again_draws_the_figures_it_lacks(tmp_path):
    out = tmp_path / "nofig"
    r = abm("run", BASELINE, "--trials", "300", "--seed", "2", "--out", out, "--quiet",
            "--no-figures")
    assert r.returncode == 0 and not (out / "figures").exists()
    r = abm("run", BASELINE, "--trials", "300", "--seed", "2", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "drew the missing figures" in r.stderr
    from abm.plots import FIGURE_NAMES

    assert all((out / "figures" / f).read_bytes().startswith(PNG) for f in FIGURE_NAMES)


def test_manifest_records_the_kernel_and_reproduce_names_another_version(tmp_path):
    out = tmp_path / "k"
    r = abm("run", BASELINE, "--trials", "500", "--seed", "5", "--out", out, "--quiet",
            "--no-figures", "--kernel", "numpy")
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["kernel"] == "numpy" and m["kernel_version"] == "numpy-1"
    assert abm("reproduce", out).returncode == 0
    # a run made by another version of the kernel whose numbers differ: one line, exit 1
    m["kernel_version"] = "numpy-0"
    m["outputs_sha256"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(m))
    r = abm("reproduce", out)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "made by kernel numpy version numpy-0" in lines[0], r.stderr
    # a run written before the life-cycle outcomes (no outputs_format: v1) is reproduced on
    # the nine columns it has: the v1 hash of the table as that code wrote it
    import pandas as pd

    from abm.model.outcomes import FORMAT_COLUMNS, outputs_sha256

    v1 = ["trial", "state", *FORMAT_COLUMNS["abm-trials-v1"]]
    table = pd.read_parquet(out / "trials.parquet")[v1]
    table.to_parquet(out / "trials.parquet", index=False)
    from abm.experiment.store import sha256_file

    m["kernel_version"] = "numpy-1"
    m["outputs_sha256"] = outputs_sha256(table, "abm-trials-v1")
    m["files"]["trials.parquet"] = sha256_file(out / "trials.parquet")
    del m["outputs_format"]
    (out / "manifest.json").write_text(json.dumps(m))
    r = abm("reproduce", out)
    assert r.returncode == 0, r.stderr
    # a format this installation does not know: one line, exit 1
    m["outputs_format"] = "abm-trials-v9"
    (out / "manifest.json").write_text(json.dumps(m))
    r = abm("reproduce", out)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "abm-trials-v9" in lines[0], r.stderr


def test_bad_places_and_whole_months_exit_2_with_one_line(tmp_path):
    """Found by a review: `abm ls` on a typo'd folder, `abm app` on a taken port or an
    unknown host, and every refusal of a whole-month key, say so in one line (exit 2)."""
    import socket

    r = abm("ls", tmp_path / "no-such-folder")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such directory" in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = abm("app", "--port", str(port))
    assert r.returncode == 2 and "cannot listen on 127.0.0.1" in r.stderr, r.stderr
    assert "serving" not in r.stdout
    r = abm("app", "--host", "no-such-host.invalid", "--port", "1")
    assert r.returncode == 2 and "cannot be resolved" in r.stderr, r.stderr
    for v in ("-1", "1.5", "99"):
        r = abm("validate", BASELINE, "--set", f"dynamics.notice_months={v}")
        assert r.returncode == 2 and r.stderr.count("\n") == 1
        assert "must be a whole number of months in [0, 24]" in r.stderr, r.stderr


def test_ctrl_c_while_the_parser_is_built_is_one_line(capsys):
    """Building the parser imports modules; a Ctrl-C landing then (after main() installed
    its handlers) gives the command's one line and 130, not a traceback."""
    from unittest import mock

    from abm import cli

    with mock.patch.object(cli, "_parser", side_effect=KeyboardInterrupt):
        assert cli.main(["run", "experiments/baseline_2021.toml"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["abm run: interrupted; nothing was written"]
