"""Self-describing results directories: write atomically, read back with integrity checks.

Layout of ``results/<name>/<run-id>/``::

    manifest.json     what was run, with what, when; sha256 of every data file
    summary.json      the summary (see abm.summary.summarize) with outputs_sha256
    trials.parquet    one row per (trial, state)
    months.parquet    per (month, state) quantile bands, means, share hosting
    figures/*.png     drawn from the three files above (abm plot re-draws them)

A directory is written under a temporary name beside its destination and renamed at the
end, so a directory with the final name is complete. Reading verifies the sha256 of each
data file against the manifest: a truncated or edited file is an error, never a wrong
number. Only JSON and Parquet are read; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ResultsError
from .rng import BLOCK_SIZE

__all__ = ["run_id", "default_run_dir", "write_run", "read_run", "RunFiles", "MANIFEST_VERSION"]

MANIFEST_VERSION = 1
DATA_FILES = ("summary.json", "trials.parquet", "months.parquet")


def run_id(scenario_sha256: str, trials: int, seed: int, engine: str, horizon: int) -> str:
    """12 hex digits naming a run: same resolved scenario, trials, seed, engine, horizon,
    same id (the horizon and trials are part of the resolved scenario too)."""
    key = json.dumps({"scenario": scenario_sha256, "trials": trials, "seed": seed,
                      "engine": engine, "horizon": horizon, "block_size": BLOCK_SIZE,
                      "format": MANIFEST_VERSION}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def default_run_dir(root: Path, name: str, rid: str) -> Path:
    return Path(root) / name / rid


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("abm", "numpy", "scipy", "pandas", "pyarrow", "mesa", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _git_commit() -> dict[str, Any] | None:
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


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False, allow_nan=False)
        f.write("\n")


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
        "horizon_months": sc.horizon_months,
        "engine": result.engine,
        "workers": result.workers,
        "block_size": BLOCK_SIZE,
        "versions": _versions(),
        "git": _git_commit(),
        "platform": {"system": platform.platform(), "machine": platform.machine(),
                     "python_implementation": platform.python_implementation(),
                     "argv": sys.argv},
        "started": result.started,
        "finished": result.finished,
        "wall_seconds": round(result.wall_seconds, 3),
        "outputs_sha256": result.summary["outputs_sha256"],
        "files": files,
    }


def write_run(result: Any, run_dir: Path, *, rid: str, config: str | None = None,
              overrides: list[str] | tuple[str, ...] = (), figures: bool = True,
              replace: bool = False) -> Path:
    """Write a :class:`~abm.runner.SimulationResult` as a results directory, atomically.

    Parameters
    ----------
    rid : str
        The run id (:func:`run_id`), recorded in the manifest.
    run_dir : Path
        Final directory. Written as ``<parent>/.tmp-<name>-<pid>`` first, then renamed.
    replace : bool
        Replace an existing directory (``--force``); otherwise an existing one is an error.

    Returns
    -------
    Path of the directory written.
    """
    run_dir = Path(run_dir)
    parent = run_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".tmp-{run_dir.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_json(tmp / "summary.json", result.summary)
        result.table.to_parquet(tmp / "trials.parquet", index=False, engine="pyarrow")
        result.months.to_parquet(tmp / "months.parquet", index=False, engine="pyarrow")
        files = {f: _sha256_file(tmp / f) for f in DATA_FILES}
        _write_json(tmp / "manifest.json",
                    build_manifest(result, rid=rid, config=config, overrides=list(overrides),
                                   files=files))
        if figures:
            from .plots import draw_figures

            draw_figures(result.table, result.months, result.summary, tmp / "figures")
        if run_dir.exists():
            if not replace:
                raise FileExistsError(str(run_dir))
            trash = parent / f".trash-{run_dir.name}-{os.getpid()}"
            os.rename(run_dir, trash)
            os.rename(tmp, run_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run_dir


@dataclass
class RunFiles:
    """A results directory read back and verified."""

    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]

    def table(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "trials.parquet", engine="pyarrow")

    def months(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "months.parquet", engine="pyarrow")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; not a complete results directory") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc}); the file is damaged") from None
    if not isinstance(obj, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return obj


def read_run(run_dir: str | Path, verify: bool = True) -> RunFiles:
    """Open a results directory, checking every data file against the manifest's sha256."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results directory")
    manifest = _read_json(path / "manifest.json")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(DATA_FILES):
        raise ResultsError(f"{path / 'manifest.json'}: files = {files!r}: expected sha256 of "
                           f"{', '.join(DATA_FILES)}")
    if verify:
        for name, want in files.items():
            f = path / name
            if not f.is_file():
                raise ResultsError(f"{f}: missing; the results directory is incomplete")
            got = _sha256_file(f)
            if got != want:
                raise ResultsError(f"{f}: sha256 {got[:12]}... does not match the manifest "
                                   f"({str(want)[:12]}...); the file was changed or truncated")
    summary = _read_json(path / "summary.json")
    return RunFiles(path=path, manifest=manifest, summary=summary)
