"""No run ever loses or corrupts results: kill ``abm run`` and look at what is left.

A results directory with its final name must always be complete (``read_run`` verifies
every file against the manifest); after Ctrl-C (SIGINT) or SIGTERM no temporary directory
may remain; after SIGKILL a stale ``.tmp-*`` may remain but the next identical run must
succeed. Two identical runs at once must not clobber each other.

Kill times are drawn from a fixed seed. They count from the moment the command line has
installed its signal handlers (seen in ``/proc/<pid>/status``): before that the
interpreter is still importing numpy, and Python's own default handling applies.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abm.errors import ResultsError
from abm.experiment.store import read_run
from tests.conftest import BASELINE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(),
                       reason="needs /proc to see when the CLI is ready for signals"),
]

RNG = random.Random(20210612)
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
#: One kill time per signal, in [0.2, 2] s after the CLI is ready.
KILL_AT = {sig: round(RNG.uniform(0.2, 2.0), 3) for sig in SIGNALS}
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}
MESSAGE = {signal.SIGINT: "abm run: interrupted; nothing was written",
           signal.SIGTERM: "abm run: terminated (SIGTERM); nothing was written"}


def _default_sigint() -> None:
    # a child of a shell that ignores SIGINT (background jobs) inherits SIG_IGN, and then
    # Python never turns Ctrl-C into KeyboardInterrupt: start it with the default
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(out: Path, trials: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "abm", "run", str(BASELINE), "--trials", str(trials),
         "--seed", "1", "--out", str(out), "--quiet", *extra],
        cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint)


def wait_ready(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until ``abm.cli.main`` has installed its SIGTERM handler."""
    bit = 1 << (signal.SIGTERM - 1)
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except FileNotFoundError:
            return
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & bit:
            return
        time.sleep(0.005)


def leftovers(parent: Path) -> list[Path]:
    return sorted([*parent.glob(".tmp-*"), *parent.glob(".trash-*")])


def assert_absent_or_complete(out: Path, trials: int) -> None:
    if out.exists():
        run = read_run(out)  # raises ResultsError if anything is missing or changed
        assert run.manifest["trials"] == trials
        assert len(run.table()) == trials * 6


def check_after_signal(proc: subprocess.Popen, sig: int, out: Path, trials: int,
                       may_finish: bool) -> None:
    _, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, err
    if proc.returncode == 0:  # finished (renamed into place) before the signal arrived
        assert may_finish, f"{sig.name} did not stop the run: {err}"
        assert_absent_or_complete(out, trials)
        assert out.exists()
        return
    assert proc.returncode == EXIT[sig], (proc.returncode, err)
    assert_absent_or_complete(out, trials)
    if sig != signal.SIGKILL:
        assert err.splitlines() == [MESSAGE[sig]], err
        assert leftovers(out.parent) == [], leftovers(out.parent)


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_kill_at_a_random_moment(tmp_path, sig):
    out, trials = tmp_path / "run", 200_000
    proc = start_run(out, trials)
    try:
        wait_ready(proc)
        time.sleep(KILL_AT[sig])
        proc.send_signal(sig)
        check_after_signal(proc, sig, out, trials, may_finish=False)  # 200,000 take longer
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGKILL:
        again = start_run(out, trials)
        _, err = again.communicate(timeout=600)
        assert again.returncode == 0, err
        assert_absent_or_complete(out, trials)
        assert out.exists()


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_kill_while_the_results_are_being_written(tmp_path, sig):
    """Signal as soon as the temporary directory appears (data files, figures, rename)."""
    out, trials = tmp_path / "run", 30_000
    proc = start_run(out, trials)
    try:
        end = time.monotonic() + 300
        while not list(tmp_path.glob(".tmp-*")) and proc.poll() is None:
            assert time.monotonic() < end, "the run never started writing"
            time.sleep(0.002)
        time.sleep(RNG.uniform(0.0, 0.3))
        if proc.poll() is None:
            proc.send_signal(sig)
        check_after_signal(proc, sig, out, trials, may_finish=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGKILL:
        # the killed run's .tmp-* may remain; the next identical run must not mind it
        again = start_run(out, trials)
        _, err = again.communicate(timeout=600)
        assert again.returncode == 0, err
        assert_absent_or_complete(out, trials)
        assert out.exists()


def test_stale_temporary_directory_does_not_break_the_next_run(tmp_path):
    out, trials = tmp_path / "run", 2_000
    stale = tmp_path / ".tmp-run-4194304"  # as a killed run leaves it: half written
    stale.mkdir()
    (stale / "trials.parquet").write_bytes(b"PAR1 half a file")
    (stale / "summary.json").write_text('{"name": ')
    proc = start_run(out, trials, "--no-figures")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert_absent_or_complete(out, trials)
    assert out.exists()


def test_write_run_replaces_its_own_stale_temporary_directory(tmp_path):
    """A stale .tmp with this very pid (a reused pid) is cleared, not merged into."""
    import os

    from abm.experiment.simulate import simulate
    from abm.experiment.store import write_run

    res = simulate(BASELINE, trials=100, seed=1)
    out = tmp_path / "run"
    stale = tmp_path / f".tmp-run-{os.getpid()}"
    stale.mkdir()
    (stale / "junk.txt").write_text("left by a killed run")
    write_run(res, out, rid="abc")
    assert not (out / "junk.txt").exists()
    assert read_run(out).manifest["run_id"] == "abc"
    assert leftovers(tmp_path) == []


def test_a_directory_that_appears_meanwhile_is_kept_or_left_alone(tmp_path):
    """What write_run does when another process renamed first."""
    from abm.experiment.simulate import simulate
    from abm.experiment.store import write_run

    res = simulate(BASELINE, trials=100, seed=1)
    out = tmp_path / "run"
    write_run(res, out, rid="abc")
    before = (out / "manifest.json").read_bytes()
    # the same run: keep theirs, drop ours, no error
    assert write_run(res, out, rid="abc") == out
    assert (out / "manifest.json").read_bytes() == before
    # a different run: left untouched, and said so
    with pytest.raises(ResultsError, match="holds a different run"):
        write_run(res, out, rid="other")
    assert (out / "manifest.json").read_bytes() == before
    # a damaged directory: left untouched, and said so
    (out / "months.parquet").unlink()
    with pytest.raises(ResultsError, match="not a complete results directory"):
        write_run(res, out, rid="abc")
    assert leftovers(tmp_path) == []


def test_two_identical_runs_at_once_do_not_clobber_each_other(tmp_path):
    out, trials = tmp_path / "same", 20_000
    procs = [start_run(out, trials, "--no-figures") for _ in range(2)]
    errs = []
    for p in procs:
        _, err = p.communicate(timeout=600)
        errs.append(err)
        assert "Traceback" not in err, err
    assert [p.returncode for p in procs] == [0, 0], errs
    assert_absent_or_complete(out, trials)
    assert out.exists()
    assert leftovers(tmp_path) == []


def test_an_interrupt_turned_into_an_import_error_is_still_an_interrupt(monkeypatch, capsys):
    """A Ctrl-C that lands inside an extension module's import comes out as
    ``ImportError: initialization failed`` with no KeyboardInterrupt in its chain (seen
    under load in test_kill_at_a_random_moment): still one line and exit 130, not an
    "internal error"; an ImportError with no interrupt stays an internal error."""
    import abm.cli as cli

    def interrupted_import(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises here
        except KeyboardInterrupt:
            pass
        raise ImportError("initialization failed") from None

    monkeypatch.setitem(cli._COMMANDS, "run", interrupted_import)
    assert cli.main(["run", str(BASELINE)]) == 130
    assert capsys.readouterr().err.splitlines() == [MESSAGE[signal.SIGINT]]

    def broken_import(args):
        raise ImportError("initialization failed")

    monkeypatch.setitem(cli._COMMANDS, "run", broken_import)
    assert cli.main(["run", str(BASELINE)]) == 1
    assert "internal error: ImportError" in capsys.readouterr().err
