"""Running a calibration: checkpoints per generation, the predictive check, the directory.

``results/<name>/calibration-<id>/`` (or ``--out``) holds ``manifest.json``,
``posterior.parquet`` (the last generation: a column per parameter by its dotted key, on
its natural scale, and ``weight``), ``generations.parquet`` (every generation, with its
number), ``diagnostics.json`` (per generation: tolerance, candidates, acceptance rate,
ESS, wall time), ``summary.json`` (prior and posterior quantiles per parameter, the
predictive check) and ``figures/``. While it runs, each finished generation is
checkpointed in ``calibration-<id>.partial/``; ``--resume`` continues from the last one
and gives the same result as a run never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...analysis.stats import grouped_proportion
from ...errors import ConfigError, ResultsError, Terminated
from ...model.kernels import kernel_version, resolve_kernel
from ...model.rng import BLOCK_SIZE, calibration_root
from ..executors import Executor
from ..store import (
    atomic_dir,
    file_problems,
    git_commit,
    lock_work_dir,
    package_versions,
    read_json,
    save_npz,
    sha256_file,
    write_json,
)
from .evaluate import predictive_hits, simulate_batch
from .smc import Generation, run_smc
from .spec import Calibration, Episode, is_calibration_file, read_episode

__all__ = ["CALIBRATION_FILES", "PREDICTIVE_DRAWS", "PREDICTIVE_TRIALS", "run_calibration",
           "read_calibration", "calibration_dir", "CalibrationInterrupted"]

CALIBRATION_FILES = ("posterior.parquet", "generations.parquet", "diagnostics.json",
                     "summary.json")
#: The predictive check: parameter sets drawn from the posterior, trials per set.
PREDICTIVE_DRAWS = 200
PREDICTIVE_TRIALS = 50


class CalibrationInterrupted(Exception):
    def __init__(self, message: str, terminated: bool = False):
        super().__init__(message)
        self.terminated = terminated


def calibration_dir(cal: Calibration, out: str | Path | None = None) -> Path:
    return Path(out) if out else Path("results") / cal.name / f"calibration-{cal.calibration_id()}"


def calib_task(episodes: tuple[Episode, ...], priors: Any, X: np.ndarray, seed: int, t: int,
               step: int, b: int, M: int, kernel: str | None) -> list[np.ndarray]:
    """One batch of one step (a module-level function, for process pools)."""
    return simulate_batch(episodes, priors, X, seed, t, step, b, M, kernel)


def _save_generation(folder: Path, g: Generation) -> None:
    meta = {**g.diagnostics(), "acceptance_per_move": g.acceptance, "moved": g.moved,
            "ess_reweighted": g.ess_reweighted, "wall_seconds": g.wall_seconds}
    save_npz(folder / f"gen-{g.t:03d}.npz", U=g.U, X=g.X, w=g.w,
             meta=np.array(json.dumps(meta)),
             **{f"counts_{e}": c for e, c in enumerate(g.counts)})


def _load_generations(folder: Path, n_episodes: int) -> list[Generation]:
    gens: list[Generation] = []
    for t in range(10_000):
        path = folder / f"gen-{t:03d}.npz"
        if not path.exists():
            break
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                g = Generation(t, meta["epsilon"], z["U"], z["X"], z["w"],
                               [z[f"counts_{e}"] for e in range(n_episodes)],
                               simulations=meta["simulations"],
                               ess_reweighted=meta["ess_reweighted"],
                               resampled=meta["resampled"],
                               acceptance=list(meta["acceptance_per_move"]),
                               moved=meta["moved"], wall_seconds=meta["wall_seconds"],
                               tolerances=(None if meta.get("tolerances") is None
                                           else tuple(meta["tolerances"])))
        except (OSError, ValueError, KeyError, EOFError):
            break  # an unreadable checkpoint is redone, and everything after it
        gens.append(g)
    return gens


def read_calibration(folder: str | Path) -> dict[str, Any]:
    """The manifest of a finished calibration directory, after checking its files."""
    folder = Path(folder)
    manifest = read_json(folder / "manifest.json")
    if manifest.get("kind") != "calibration":
        raise ResultsError(f"{folder}: not a calibration directory (manifest kind "
                           f"{manifest.get('kind')!r})")
    # generations.parquet may be left out of a shipped copy (experiments/history/calibrated/);
    # when present it is checked like the others
    names = tuple(f for f in CALIBRATION_FILES
                  if f != "generations.parquet" or (folder / f).exists())
    problems = file_problems(folder, manifest.get("files"), names)
    if problems:
        raise ResultsError(f"{folder}: " + "; ".join(problems))
    return manifest


def _posterior_frame(cal: Calibration, g: Generation) -> pd.DataFrame:
    df = pd.DataFrame(g.X, columns=cal.keys)
    df["weight"] = g.w
    return df


def _wquantile(x: np.ndarray, w: np.ndarray, q: list[float]) -> list[float]:
    o = np.argsort(x)
    cw = np.cumsum(w[o]) - 0.5 * w[o]
    cw /= w.sum()
    return [float(v) for v in np.interp(q, cw, x[o])]


def parameter_table(cal: Calibration, g: Generation) -> dict[str, Any]:
    """Per parameter: prior and posterior median and 90% interval, posterior mean and s.d.,
    and how much the data narrowed it (posterior 90% width / prior 90% width)."""
    out = {}
    for i, p in enumerate(cal.priors):
        x = g.X[:, i]
        pq = p.quantiles([0.05, 0.5, 0.95])
        qq = _wquantile(x, g.w, [0.05, 0.5, 0.95])
        mean = float(np.dot(g.w, x))
        sd = float(np.sqrt(max(np.dot(g.w, (x - mean) ** 2), 0.0)))
        width = pq[2] - pq[0]
        out[p.key] = {"prior": {**p.to_dict(), "q05": pq[0], "median": pq[1], "q95": pq[2]},
                      "posterior": {"mean": mean, "sd": sd, "q05": qq[0], "median": qq[1],
                                    "q95": qq[2]},
                      "width_ratio": (qq[2] - qq[0]) / width if width > 0 else None}
    return out


def library(cal: Calibration) -> list[tuple[Episode, str]]:
    """Every episode of the calibration's library with its role: "fitted", "left out",
    "out-of-sample" or "not fitted"."""
    folder = cal.path.parent
    fitted = {e.name for e in cal.episodes}
    left = {e.name for e in cal.left_out}
    out = []
    for path in sorted(folder.glob("*.toml")):
        if is_calibration_file(path):
            continue
        ep = read_episode(path, cal.keys)
        if ep is None:
            continue
        role = ("fitted" if ep.name in fitted else "left out" if ep.name in left else
                "out-of-sample" if ep.scenario.out_of_sample else "not fitted")
        out.append((ep, role))
    order = {"fitted": 0, "left out": 1, "out-of-sample": 2, "not fitted": 3}
    return sorted(out, key=lambda x: order[x[1]])


def predictive_check(cal: Calibration, g: Generation, kernel: str | None,
                     draws: int = PREDICTIVE_DRAWS, trials: int = PREDICTIVE_TRIALS
                     ) -> list[dict[str, Any]]:
    """P(recorded pattern) under the posterior for every episode of the library.

    ``draws`` parameter sets are drawn from the weighted posterior (its own stream) and each
    runs ``trials`` trials. ``p`` is the pooled frequency; its interval is the t interval
    on the mean of the per-draw frequencies (draws are independent; trials within a draw
    share parameters, so it carries parameter uncertainty), never narrower than the Wilson
    interval of the pooled counts; ``param_sd`` is the s.d. of P(pattern | theta) over the
    posterior, net of the within-draw binomial noise (floored at 0). Both as for forecasts
    under a posterior (:func:`~abm.analysis.stats.grouped_proportion`).
    """
    rng = np.random.Generator(np.random.PCG64(calibration_root(cal.seed, 2**20, 0, 0, 0)))
    idx = rng.choice(len(g.w), size=draws, p=g.w)
    X = g.X[idx]
    rows = []
    for e, (ep, role) in enumerate(library(cal)):
        hits = predictive_hits(ep, cal.priors, X, cal.seed, 1 + e, trials, kernel)  # (J, K, M)
        for j, pat in enumerate(ep.patterns):
            st = grouped_proportion(hits[j])
            p, lo, hi, psd = st["p"], st["ci_low"], st["ci_high"], st["param_sd"]
            verdict = "yes" if lo > 0.5 else "NO" if hi < 0.5 else "undecided"
            rows.append({"episode": ep.name, "role": role, "state": pat.state,
                         "pattern": pat.label(), "kind": pat.kind, "p_recorded": p,
                         "ci_low": lo, "ci_high": hi, "param_sd": psd, "verdict": verdict})
    return rows


def run_calibration(cal: Calibration, *, out: str | Path | None = None,
                    executor: Executor | None = None, resume: bool = False,
                    force: bool = False, kernel: str | None = None,
                    progress: Callable[[str], None] | None = None,
                    extra: Callable[..., None] | None = None, quick: bool = False,
                    ) -> tuple[Path, dict[str, Any], bool]:
    """Run (or finish, or find) a calibration; returns ``(directory, summary, reused)``."""
    kernel = resolve_kernel(kernel)
    executor = executor or Executor(kind="inprocess")
    cid = cal.calibration_id()
    final = calibration_dir(cal, out)
    if final.exists() and any(final.iterdir()):
        if not (final / "manifest.json").is_file():
            raise ConfigError("--out", "out", str(final), "exists and is not a calibration "
                              "directory; choose another path")
        if not force:
            manifest = read_calibration(final)
            if manifest.get("calibration_id") != cid:
                raise ConfigError("--out", "out", str(final), "holds a different calibration; "
                                  "use --force or another --out")
            return final, read_json(final / "summary.json"), True
        read_calibration(final)  # --force replaces only a calibration directory
    work = final.with_name(final.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    lock = lock_work_dir(work / "lock", "calibration")
    try:
        gdir = work / "generations"
        plan = {"calibration_id": cid}
        plan_path = work / "plan.json"
        if gdir.exists() and any(gdir.iterdir()):
            if force:
                shutil.rmtree(gdir)
            elif not resume:
                raise ConfigError("--resume", "resume", False,
                                  f"a partial calibration is checkpointed in {work}; add "
                                  "--resume to finish it or --force to start again")
            elif plan_path.exists() and json.loads(plan_path.read_text()) != plan:
                raise ConfigError("--resume", "resume", True,
                                  f"the checkpoints in {work} belong to another calibration; "
                                  "use --force to start again")
        gdir.mkdir(exist_ok=True)
        plan_path.write_text(json.dumps(plan))
        done = _load_generations(gdir, len(cal.episodes))
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        M = cal.method.trials_per_particle

        B = cal.method.batch

        def simulate(X: np.ndarray, t: int, step: int) -> list[np.ndarray]:
            args = [(cal.episodes, cal.priors, X[a:a + B], cal.seed, t, step, a // B, M,
                     kernel) for a in range(0, len(X), B)]
            res: dict[int, Any] = {}
            stream = executor.map(calib_task, args)
            try:
                for i, r in stream:
                    res[i] = r
            finally:
                close = getattr(stream, "close", None)
                if close:
                    close()
            return [np.concatenate([res[i][e] for i in range(len(args))])
                    for e in range(len(cal.episodes))]

        try:
            # one pool or cluster for every step (a step maps a few batches)
            with executor.session():
                gens, reason = run_smc(cal, simulate, done,
                                       on_generation=lambda g: _save_generation(gdir, g),
                                       progress=progress)
        except KeyboardInterrupt as exc:
            n = len(_load_generations(gdir, len(cal.episodes)))
            raise CalibrationInterrupted(
                f"interrupted: {n} generation{'s' if n != 1 else ''} checkpointed in {gdir}; "
                "run the same command with --resume to finish",
                terminated=isinstance(exc, Terminated)) from None
        if not gens:
            raise ResultsError(f"{cal.path}: no generation finished ({reason})")
        last = gens[-1]
        if progress:
            progress("posterior-predictive check")
        t1 = time.perf_counter()
        ppc = predictive_check(cal, last, kernel)
        # the calibration's own time: every generation (also those of an earlier,
        # interrupted invocation) and the predictive check
        wall = sum(g.wall_seconds for g in gens) + time.perf_counter() - t1
        if progress:
            progress(f"done; this invocation {time.perf_counter() - t0:.0f} s")
        summary = _summary(cal, gens, reason, ppc, wall, quick)
        _write(cal, final, gens, summary, executor, kernel, started, wall, extra, quick)
    finally:
        lock.close()
    shutil.rmtree(work, ignore_errors=True)
    return final, summary, False


def _summary(cal: Calibration, gens: list[Generation], reason: str,
             ppc: list[dict[str, Any]], wall: float, quick: bool) -> dict[str, Any]:
    last = gens[-1]
    return {"kind": "calibration", "name": cal.name, "calibration_id": cal.calibration_id(),
            "seed": cal.seed, "quick": quick, "generations": len(gens),
            "final_epsilon": last.epsilon, "exact": last.epsilon == 0,
            "final_tolerances": (None if last.tol is None else
                                 dict(zip([e.name for e in cal.episodes], last.tol,
                                          strict=True))),
            "stop_reason": reason, "population": len(last.w), "ess": round(last.ess, 2),
            "episodes": [e.name for e in cal.episodes],
            "left_out": [e.name for e in cal.left_out],
            "parameters": parameter_table(cal, last),
            "predictive": ppc,
            "wall_seconds": round(wall, 3)}


def _write(cal: Calibration, final: Path, gens: list[Generation], summary: dict[str, Any],
           executor: Executor, kernel: str, started: datetime, wall: float,
           extra: Callable[..., None] | None, quick: bool) -> None:
    last = gens[-1]
    with atomic_dir(final, replace=True) as tmp:
        _posterior_frame(cal, last).to_parquet(tmp / "posterior.parquet", index=False,
                                               engine="pyarrow")
        allg = pd.concat([_posterior_frame(cal, g).assign(generation=g.t,
                                                           epsilon=-1 if g.epsilon is None
                                                           else g.epsilon)
                          for g in gens], ignore_index=True)
        allg.to_parquet(tmp / "generations.parquet", index=False, engine="pyarrow")
        write_json(tmp / "diagnostics.json",
                   {"generations": [g.diagnostics() for g in gens],
                    "stop_reason": summary["stop_reason"], "wall_seconds": round(wall, 3)})
        write_json(tmp / "summary.json", summary)
        files = {f: sha256_file(tmp / f) for f in CALIBRATION_FILES}
        write_json(tmp / "manifest.json", {
            "kind": "calibration", "calibration_id": cal.calibration_id(), "name": cal.name,
            "description": cal.description, "config": str(cal.path),
            "config_sha256": cal.sha256, "seed": cal.seed, "quick": quick,
            "method": cal.method.to_dict(),
            "priors": {p.key: p.to_dict() for p in cal.priors},
            "episodes": [{"name": e.name, "file": str(e.path),
                          "scenario_sha256": e.scenario.sha256(), "kept": list(e.fixed)}
                         for e in cal.episodes],
            "left_out": [e.name for e in cal.left_out],
            "block_size": BLOCK_SIZE, "executor": executor.describe(), "kernel": kernel,
            "kernel_version": kernel_version(kernel), "versions": package_versions(),
            "git": git_commit(),
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_seconds": round(wall, 3),
            "posterior_sha256": hashlib.sha256(
                (tmp / "posterior.parquet").read_bytes()).hexdigest(),
            "files": files})
        if extra is not None:
            extra(tmp, cal, gens, summary)
