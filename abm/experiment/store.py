"""Self-describing results directories: write atomically, read back with integrity checks.

Layout of ``results/<name>/<run-id>/``::

    manifest.json     what was run, with what, when; sha256 of every data file
    summary.json      the summary (see abm.analysis.summary.summarize) with outputs_sha256
    trials.parquet    one row per (trial, state)
    months.parquet    per (month, state) quantile bands, means, share hosting
    paths.parquet     optional (--save-paths N): every month of trials 0 .. N-1
    figures/*.png     drawn from the three files above (abm plot re-draws them)

A directory is written under a temporary name beside its destination and renamed at the
end (:func:`atomic_dir`, for runs and sweeps alike), so a directory with the final name is
complete. The store never draws: a caller that wants figures in the same atomic step
passes ``extra``, a function that writes into the temporary directory after the data.
Reading verifies the sha256 of each data file against the manifest: a truncated or edited
file is an error, never a wrong number. Only JSON and Parquet are read; nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ResultsError
from ..model.outcomes import OUTPUTS_FORMAT
from ..model.rng import BLOCK_SIZE, GROUP_SIZE
from .paths import PATHS_FILE

__all__ = ["run_id", "default_run_dir", "write_run", "read_run", "file_problems", "RunFiles",
           "MANIFEST_VERSION", "write_parquet", "write_json", "read_json", "sha256_file",
           "package_versions", "git_commit", "swap_in", "build_manifest", "atomic_dir",
           "DATA_FILES", "OPTIONAL_FILES", "add_paths"]

MANIFEST_VERSION = 1
DATA_FILES = ("summary.json", "trials.parquet", "months.parquet")
#: Data files a run directory may also hold; listed in the manifest (with their sha256)
#: when it does, and checked like the others.
OPTIONAL_FILES = (PATHS_FILE,)


def run_id(scenario_sha256: str, trials: int, seed: int, engine: str, horizon: int,
           posterior_sha256: str | None = None,
           precision: dict[str, Any] | None = None) -> str:
    """12 hex digits naming a run: same resolved scenario, trials, seed, engine, horizon,
    same id (the horizon and trials are part of the resolved scenario too). The output
    format is part of the key, so a run of an older format is never reused as this one.
    A run under a posterior adds the sha256 of its ``posterior.parquet`` (and the group
    size), so it never shares an id with the plain run. ``precision``: a
    ``--target-halfwidth`` run's ``{"target_halfwidth", "max_trials"}`` (its trial count
    is not known before it runs; ``trials`` is then the maximum)."""
    spec = {"scenario": scenario_sha256, "trials": trials, "seed": seed,
            "engine": engine, "horizon": horizon, "block_size": BLOCK_SIZE,
            "format": MANIFEST_VERSION, "outputs": OUTPUTS_FORMAT}
    if posterior_sha256 is not None:
        spec.update(posterior=posterior_sha256, group_size=GROUP_SIZE)
    if precision is not None:
        spec.update(precision=precision)
    key = json.dumps(spec, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def default_run_dir(root: Path, name: str, rid: str) -> Path:
    return Path(root) / name / rid


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("abm", "numpy", "scipy", "pandas", "pyarrow", "mesa", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def git_commit() -> dict[str, Any] | None:
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=5)
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False, allow_nan=False)
        f.write("\n")


#: Rows per Parquet row group: the table is converted to Arrow one group at a time, so
#: writing a million-trial table does not hold a second full copy in memory.
ROW_GROUP = 600_000


def write_parquet(table: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame to Parquet in row groups of :data:`ROW_GROUP` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(table.iloc[:0], preserve_index=False)
    with pq.ParquetWriter(path, schema) as writer:
        for a in range(0, max(len(table), 1), ROW_GROUP):
            part = pa.Table.from_pandas(table.iloc[a:a + ROW_GROUP], schema=schema,
                                        preserve_index=False)
            writer.write_table(part)


def build_manifest(result: Any, *, rid: str, config: str | None, overrides: list[str],
                   files: dict[str, str]) -> dict[str, Any]:
    sc = result.scenario
    return {
        "format_version": MANIFEST_VERSION,
        "run_id": rid,
        "name": sc.name,
        "config": config,
        "overrides": list(overrides),
        "scenario": sc.to_dict(),
        "scenario_sha256": sc.sha256(),
        "seed": result.seed,
        "trials": sc.trials,
        "horizon_months": result.horizon,
        "engine": result.engine,
        "kernel": result.kernel,
        "kernel_version": result.kernel_version,
        "workers": result.workers,
        "executor": result.executor,
        "block_size": BLOCK_SIZE,
        "versions": package_versions(),
        "git": git_commit(),
        "platform": {"system": platform.platform(), "machine": platform.machine(),
                     "python_implementation": platform.python_implementation(),
                     "argv": sys.argv},
        "started": result.started,
        "finished": result.finished,
        "wall_seconds": round(result.wall_seconds, 3),
        "outputs_format": OUTPUTS_FORMAT,
        "outputs_sha256": result.summary["outputs_sha256"],
        "save_paths": saved_paths(getattr(result, "paths", None)),
        "files": files,
        # under a posterior: {calibration_id, path, sha256, ...} (abm.experiment.posterior)
        **({"posterior": result.posterior} if getattr(result, "posterior", None) else {}),
        # a --target-halfwidth run: target, max trials, looks, why it stopped (reproduce
        # runs the same rule)
        **({"adaptive": result.adaptive} if getattr(result, "adaptive", None) else {}),
    }


def saved_paths(paths: pd.DataFrame | None) -> int:
    """How many trials' paths a paths table holds (0 for None)."""
    return 0 if paths is None or paths.empty else int(paths["trial"].max()) + 1


@contextlib.contextmanager
def atomic_dir(final: Path, *, replace: bool = False,
               rename: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Write a directory atomically: yield a temporary directory beside ``final``, then
    rename it to ``final`` (``replace``: swap out an existing one, putting it back if the
    rename fails). On any exception the temporary directory is removed and ``final`` is
    untouched. ``rename(tmp)`` replaces the plain rename when the caller must decide what
    to do with a ``final`` that appeared meanwhile."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        do = (lambda: rename(tmp)) if rename else (lambda: os.rename(tmp, final))
        if final.exists() and replace:
            swap_in(tmp, final, do)
        else:
            do()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(result: Any, run_dir: Path, *, rid: str, config: str | None = None,
              overrides: list[str] | tuple[str, ...] = (),
              extra: Callable[[Path], None] | None = None, replace: bool = False) -> Path:
    """Write a :class:`~abm.experiment.simulate.SimulationResult` as a results directory,
    atomically.

    Parameters
    ----------
    rid : str
        The run id (:func:`run_id`), recorded in the manifest.
    run_dir : Path
        Final directory. Written as ``<parent>/.tmp-<name>-<pid>`` first, then renamed.
    extra : callable, optional
        ``extra(tmp_dir)`` writes more files (the figures) after the data, before the
        rename, so they appear together.
    replace : bool
        Replace an existing directory (``--force``; the caller checks it is a results
        directory). Otherwise, if the directory appears while this run writes, a complete
        one with the same run id is kept (same id, same numbers) and anything else is an
        error.

    Returns
    -------
    Path of the directory written.
    """
    run_dir = Path(run_dir)
    with atomic_dir(run_dir, replace=replace,
                    rename=lambda tmp: _rename_or_keep_theirs(tmp, run_dir, rid)) as tmp:
        write_json(tmp / "summary.json", result.summary)
        write_parquet(result.table, tmp / "trials.parquet")
        result.months.to_parquet(tmp / "months.parquet", index=False, engine="pyarrow")
        names = DATA_FILES
        if getattr(result, "paths", None) is not None:
            write_parquet(result.paths, tmp / PATHS_FILE)
            names += (PATHS_FILE,)
        files = {f: sha256_file(tmp / f) for f in names}
        write_json(tmp / "manifest.json",
                   build_manifest(result, rid=rid, config=config, overrides=list(overrides),
                                  files=files))
        if extra is not None:
            extra(tmp)
    return run_dir


def swap_in(tmp: Path, final: Path, rename: Any = None) -> None:
    """Replace ``final`` by ``tmp``: move the old directory aside, rename, then delete it;
    if the rename fails, the old directory is put back (nothing already written is lost)."""
    trash = final.parent / f".trash-{final.name}-{os.getpid()}"
    os.rename(final, trash)
    try:
        (rename or (lambda: os.rename(tmp, final)))()
    except BaseException:
        if not final.exists():
            os.rename(trash, final)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _rename_or_keep_theirs(tmp: Path, run_dir: Path, rid: str) -> None:
    """Rename ``tmp`` to ``run_dir``; if another process got there first with a complete
    directory of the same run, keep theirs and drop ours (same run id: same numbers).

    Anything else already at ``run_dir`` is left untouched and reported.
    """
    if not run_dir.exists():
        try:
            os.rename(tmp, run_dir)
            return
        except OSError:
            if not run_dir.exists():
                raise
    try:
        theirs = read_run(run_dir)
    except ResultsError as exc:
        raise ResultsError(f"{run_dir}: appeared while this run was being written and is "
                           f"not a complete results directory ({exc}); left untouched, "
                           "nothing was written") from None
    if theirs.manifest.get("run_id") != rid:
        raise ResultsError(f"{run_dir}: exists and holds a different run "
                           f"({theirs.manifest.get('run_id')!r}, not {rid!r}); left untouched, "
                           "nothing was written (use --force or another --out)")
    shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class RunFiles:
    """A results directory read back and verified."""

    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]

    def table(self) -> pd.DataFrame:
        return _read_parquet(self.path / "trials.parquet")

    def months(self) -> pd.DataFrame:
        return _read_parquet(self.path / "months.parquet")

    @property
    def save_paths(self) -> int:
        """Trials whose paths the directory holds (0: no paths.parquet)."""
        files = self.manifest.get("files")
        if not isinstance(files, dict) or PATHS_FILE not in files:
            return 0
        n = self.manifest.get("save_paths")
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0

    def paths(self) -> pd.DataFrame | None:
        """``paths.parquet`` (every month of the first trials), or None if not saved."""
        return _read_parquet(self.path / PATHS_FILE) if self.save_paths else None


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; the results directory is incomplete") from None
    except (OSError, ValueError, pa.ArrowException) as exc:
        msg = " ".join(str(exc).split())
        raise ResultsError(f"{path}: not a readable Parquet file ({msg}); the file is "
                           "damaged") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (results never hold NaN or infinity)")


def read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f, parse_constant=_reject_constant)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; not a complete results directory") from None
    except IsADirectoryError:
        raise ResultsError(f"{path}: is a directory; not a complete results directory") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ResultsError(f"{path}: not valid JSON ({exc}); the file is damaged") from None
    if not isinstance(obj, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return obj


def file_problems(path: Path, files: Any, names: tuple[str, ...] = DATA_FILES) -> list[str]:
    """What is wrong with the data files ``names`` of a results directory (a run's or a
    sweep's), against the sha256 the manifest recorded (``files``); empty if every file is
    there and unchanged."""
    if not isinstance(files, dict) or not set(names) <= set(files):
        return [f"{path / 'manifest.json'}: files = {files!r}: expected sha256 of "
                f"{', '.join(names)}"]
    out = []
    for name in names:
        f, want = path / name, files[name]
        if not f.is_file():
            out.append(f"{f}: missing; the results directory is incomplete")
            continue
        got = sha256_file(f)
        if got != want:
            out.append(f"{f}: sha256 {got[:12]}... does not match the manifest "
                       f"({str(want)[:12]}...); the file was changed or truncated")
    return out


def read_run(run_dir: str | Path, verify: bool = True) -> RunFiles:
    """Open a results directory, checking every data file against the manifest's sha256."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results directory")
    manifest = read_json(path / "manifest.json")
    files = manifest.get("files")
    names = DATA_FILES + tuple(f for f in OPTIONAL_FILES if isinstance(files, dict)
                               and f in files)
    problems = file_problems(path, files, names) if verify else []
    if not isinstance(files, dict) or set(files) != set(names):
        problems = [f"{path / 'manifest.json'}: files = {files!r}: expected sha256 of "
                    f"{', '.join(DATA_FILES)} (and {', '.join(OPTIONAL_FILES)} if saved)"]
    if problems:
        raise ResultsError(problems[0])
    summary = read_json(path / "summary.json")
    return RunFiles(path=path, manifest=manifest, summary=summary)


def add_paths(run: RunFiles, paths: pd.DataFrame) -> Path:
    """Add (or replace) ``paths.parquet`` in an existing results directory and list it in
    the manifest, as missing figures are drawn into one.

    The file is written under a temporary name and renamed; then the manifest is rewritten
    the same way. Until the manifest is replaced the directory reads as it was (an unlisted
    file is not read); the data files the manifest already lists are not touched.
    """
    path = run.path
    tmp = path / f".tmp-{PATHS_FILE}-{os.getpid()}"
    tmp_manifest = path / f".tmp-manifest.json-{os.getpid()}"
    try:
        write_parquet(paths, tmp)
        manifest = {**run.manifest, "save_paths": saved_paths(paths),
                    "files": {**run.manifest["files"], PATHS_FILE: sha256_file(tmp)}}
        write_json(tmp_manifest, manifest)
        os.replace(tmp, path / PATHS_FILE)
        os.replace(tmp_manifest, path / "manifest.json")
    finally:
        tmp.unlink(missing_ok=True)
        tmp_manifest.unlink(missing_ok=True)
    run.manifest = manifest
    return path / PATHS_FILE


def lock_work_dir(path: Path, what: str) -> Any:
    """Hold an exclusive lock on ``path`` (a file in a sweep's or calibration's ``.partial``
    directory) for as long as the returned handle is open; if another process holds it,
    :class:`ResultsError` naming ``what`` ("sweep", "calibration")."""
    import fcntl

    fh = open(path, "a+")  # noqa: SIM115 - held until the caller closes it
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ResultsError(f"{path.parent}: another process is running this {what} "
                           "(lock held); wait for it or use another --out") from None
    return fh


def save_npz(path: Path, **arrays: Any) -> None:
    """A checkpoint written atomically: ``np.savez`` to a temporary name, then renamed."""
    import numpy as np

    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def manifest_kind(folder: str | Path) -> str | None:
    """The ``kind`` a directory's ``manifest.json`` records, or ``None`` (no manifest, not
    a JSON object, or no kind): how ``abm show``/``plot``/``ls`` tell directories apart."""
    try:
        m = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m.get("kind") if isinstance(m, dict) else None
