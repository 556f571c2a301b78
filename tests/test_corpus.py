"""Every bad input gets one clear line and exit code 2, and nothing is written.

The corpus ``tests/corpus/bad/*.toml`` holds one bad scenario per file, each with a first
line ``# expect: <regex>`` that the one-line error must match. Bad ``--set`` arguments and
bad command-line values are listed below. Each case goes through the real command line
(``python -m abm run FILE --trials 10 --quiet``, in a subprocess) in an empty working
directory, which must still be empty afterwards; ``abm validate`` gets the same cases
through ``abm.cli.main`` in this process (the same code, a third of the time).

``docs/errors.md`` lists the corpus messages; ``docs/scripts/error_catalogue.py`` generates
that list from the files here and a test below keeps the two equal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BASELINE, ROOT

CORPUS = ROOT / "tests" / "corpus" / "bad"
FILES = sorted(CORPUS.glob("*.toml"))


def expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")  # the rest may not be UTF-8
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: <regex>'"
    return first.removeprefix("# expect: ")


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    pattern: str
    names: str  # what the line must name: the file, "--set" or the option


def _run_case(path: Path) -> Case:
    return Case(f"run:{path.name}", ("run", str(path), "--trials", "10", "--quiet"),
                expected(path), path.name)


# Bad --set arguments: (argument, regex).
BAD_SETS = [
    ("russia.pressure", r"--set: 'russia\.pressure': expected KEY=VALUE"),
    ("=0.3", r"--set: '=0\.3': expected KEY=VALUE"),
    ("russia.presure=0.3",
     r"--set: russia\.presure = 0\.3: unknown key; did you mean 'pressure'\?"),
    ("horizon=12", r"--set: horizon = 12: unknown key; did you mean 'horizon_months'\?"),
    ("russa.pressure=0.3", r"--set: russa\.pressure = 0\.3: unknown key; did you mean 'russia'\?"),
    ("russia=0.3", r"--set: russia = 0\.3: expected russia\.<key>"),
    ("russia.pressure.level=0.3", r"--set: russia\.pressure\.level = 0\.3: expected russia\.<key>"),
    ("states.TJJ.legal_bar=0.1",
     r"--set: states\.TJJ\.legal_bar = 0\.1: unknown state id; did you mean 'TJK'\?"),
    ("states.AFG.legal_bar=0.1",
     r"--set: states\.AFG\.legal_bar = 0\.1: unknown state id; allowed"),
    ("states.TJK.legal_bat=0.1", r"unknown state attribute; did you mean 'legal_bar'\?"),
    ("states.TJK=0.5", r"--set: states\.TJK = 0\.5: expected states\.<ID>\.<attribute>"),
    ("russia.pressure=abc", r"--set: russia\.pressure = 'abc': must be a number or a schedule"),
    ("russia.alarm_level=high",
     r"--set: russia\.alarm_level = 'high': must be a number in \[0, 1\]"),
    ("russia.alarm_level=[0.1]", r"--set: russia\.alarm_level = \[0\.1\]: must be a number"),
    ("csto.consent_rule=1", r"--set: csto\.consent_rule = 1: must be true or false"),
    ("states.KAZ.csto=yes", r"--set: states\.KAZ\.csto = 'yes': must be true or false"),
    ("trials=ten", r"--set: trials = 'ten': must be the number of trials"),
    ("trials=0", r"--set: trials = 0: must be the number of trials"),
    ("horizon_months=2.5", r"--set: horizon_months = 2\.5: must be the number of months"),
    ("russia.pressure=nan", r"--set: russia\.pressure = nan: must be a finite number"),
    ("russia.pressure=[[0, 0.4], [5000, 0.8]]",
     r"--set: russia\.pressure\[1\] = \[5000, 0\.8\]: month must lie in \[0, 1200\]"),
    ("name=../escape", r"--set: name = '\.\./escape': must be 1-80 letters"),
    ("network.edges=[{source='KAZ', target='NOPE'}]",
     r"--set: network\.edges\[0\]\.target = 'NOPE': unknown state id"),
    ("shocks=[{month=50, state='TJK', variable='willingness', add=0.1}]",
     r"--set: shocks\[0\]\.month = 50: must be an integer month in \[0, 35\]"),
]

# Bad command-line values: (arguments after the scenario file, regex, option named).
BAD_OPTIONS = [
    (("--trials", "0"), r"--trials: trials = '0': must be a positive integer", "--trials"),
    (("--trials", "-3"), r"--trials: trials = '-3': must be a positive integer", "--trials"),
    (("--trials", "abc"), r"--trials: trials = 'abc': must be a positive integer", "--trials"),
    (("--trials", "1.5"), r"--trials: trials = '1\.5': must be a positive integer", "--trials"),
    (("--trials", "2000000000"), r"--trials: trials = '2000000000': must be a positive "
     r"integer in \[1, 1000000000\]", "--trials"),
    (("--months", "0"), r"--months: months = '0': must be a positive integer", "--months"),
    (("--months", "5000"), r"--months: months = '5000': must be a positive integer in "
     r"\[1, 1200\]", "--months"),
    (("--workers", "0"), r"--workers: workers = '0': must be a positive integer", "--workers"),
    (("--workers", "two"), r"--workers: workers = 'two': must be a positive integer",
     "--workers"),
    (("--seed", "-1"), r"--seed: seed = '-1': must be a non-negative integer", "--seed"),
    (("--seed", "x"), r"--seed: seed = 'x': must be a non-negative integer", "--seed"),
    (("--seed", str(2**128)), r"--seed: seed = '\d+': must be a non-negative integer in "
     r"\[0, 2\*\*128 - 1\]", "--seed"),
    (("--engine", "julia"), r"argument --engine: invalid choice: 'julia'", "--engine"),
    (("--bogus",), r"unrecognized arguments: --bogus", "--bogus"),
]


def _cases() -> list[Case]:
    cases = [_run_case(p) for p in FILES]
    for arg, pattern in BAD_SETS:
        cases.append(Case(f"run:--set {arg}", ("run", str(BASELINE), "--set", arg,
                                                "--trials", "10", "--quiet"), pattern, "--set"))
    for opts, pattern, flag in BAD_OPTIONS:
        cases.append(Case(f"run:{' '.join(opts)}", ("run", str(BASELINE), *opts, "--quiet"),
                          pattern, flag))
    cases.append(Case("run:missing file", ("run", str(CORPUS / "no_such_file.toml"),
                                           "--trials", "10", "--quiet"),
                      r"no_such_file\.toml: .*file not found", "no_such_file.toml"))
    cases.append(Case("run:a directory", ("run", str(CORPUS), "--trials", "10", "--quiet"),
                      r"is a directory, expected a TOML file", "bad"))
    return cases


CASES = _cases()
VALIDATE_CASES = (
    [Case(f"validate:{p.name}", ("validate", str(p)), expected(p), p.name) for p in FILES]
    + [Case(f"validate:--set {a}", ("validate", str(BASELINE), "--set", a), pat, "--set")
       for a, pat in BAD_SETS]
)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Run every case once, a few at a time, each in its own empty working directory."""

    def one(case: Case) -> tuple[str, tuple[subprocess.CompletedProcess, Path]]:
        cwd = tmp_path_factory.mktemp("cwd")
        r = subprocess.run([sys.executable, "-m", "abm", *case.args], cwd=cwd,
                           capture_output=True, text=True, timeout=120)
        return case.id, (r, cwd)

    # pytest makes its base temporary directory lazily, and two threads doing so at once
    # make two (the second then refuses paths under the first): make it here, once
    tmp_path_factory.getbasetemp()
    with ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 1) * 2)) as pool:
        return dict(pool.map(one, CASES))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_one_line_exit_2_nothing_written(case: Case, outcomes):
    r, cwd = outcomes[case.id]
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert re.search(case.pattern, line), f"{line!r} does not match {case.pattern!r}"
    assert case.names in line, f"{line!r} does not name {case.names!r}"
    assert r.stdout == "", r.stdout
    assert not (cwd / "results").exists()
    assert list(cwd.iterdir()) == [], "bad input wrote something"


@pytest.mark.parametrize("case", VALIDATE_CASES, ids=[c.id for c in VALIDATE_CASES])
def test_validate_refuses_with_one_line(case: Case, tmp_path, monkeypatch, capsys):
    from abm.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(list(case.args)) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(case.pattern, lines[0]), f"{lines[0]!r} does not match {case.pattern!r}"
    assert case.names in lines[0] and out == ""
    assert list(tmp_path.iterdir()) == []


def test_corpus_is_there_and_every_pattern_compiles():
    assert len(FILES) >= 60
    for p in FILES:
        re.compile(expected(p))
    names = {p.stem for p in FILES}
    # the kinds of bad input the issue asks for, by file-name prefix
    for prefix in ("malformed_", "unknown_", "type_", "range_", "nan_", "inf_", "schedule_",
                   "edge_", "shock_", "states_", "extends_", "name_", "trials_", "horizon_"):
        assert any(n.startswith(prefix) for n in names), prefix


def test_trials_beyond_memory_refused_before_any_work(tmp_path):
    """--trials 10**9 needs ~670 GiB for the per-trial table: refused with the amount."""
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        pytest.skip("this platform does not report available memory")
    if avail > 10**9 * 6 * 200:
        pytest.skip("this machine has enough memory for 10**9 trials")
    r = subprocess.run([sys.executable, "-m", "abm", "run", str(BASELINE), "--trials",
                        "1000000000", "--quiet"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert re.search(r"--trials: trials = 1000000000: needs about [\d.]+ GiB for the "
                     r"per-trial table; [\d.]+ GiB available: use fewer trials", lines[0]), lines[0]
    assert list(tmp_path.iterdir()) == []


def test_docs_errors_md_lists_the_corpus():
    sys.path.insert(0, str(ROOT / "docs" / "scripts"))
    try:
        from error_catalogue import BEGIN, END, catalogue
    finally:
        sys.path.pop(0)
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    block = text.split(BEGIN + "\n", 1)[1].split(END, 1)[0]
    assert block == catalogue(), ("docs/errors.md is stale: run "
                                  "`.venv/bin/python docs/scripts/error_catalogue.py --write`")


@pytest.mark.parametrize("where", ["deep", "elsewhere"])
def test_messages_do_not_depend_on_where_the_repository_lies(tmp_path, where):
    """docs/errors.md is generated from the messages; a clone at a long path (CI clones
    into a folder of its own choosing) or a run from another directory must give the
    same text. A copy of what the messages read is laid ~300 characters deep."""
    import shutil

    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 12)) / "clone"
    for sub in ("tests/corpus", "experiments", "docs/scripts"):
        shutil.copytree(ROOT / sub, deep / sub)
    shutil.copy(ROOT / "docs" / "errors.md", deep / "docs" / "errors.md")
    cwd = deep if where == "deep" else tmp_path
    r = subprocess.run([sys.executable, str(deep / "docs" / "scripts" / "error_catalogue.py")],
                       cwd=cwd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    block = text.split("<!-- corpus:start -->\n", 1)[1].split("<!-- corpus:end -->", 1)[0]
    assert r.stdout == block
