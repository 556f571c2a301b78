"""Running a sweep: all points' trials through the engine as one ``(points, trials, states)``
array per chunk, checkpointed, on any executor.

Parameters become per-point arrays that broadcast. With common random numbers every point
uses the same block streams (so the block's draws are made once and shared) and differences
between points are not sampling noise; the scenario without the sweep runs alongside as the
*reference*, and every point's change against it comes with a paired interval. Chunks are
checkpointed; ``--resume`` completes a killed sweep with the same ``outputs_sha256``.
Results hold only integer counts, so they do not depend on chunks, workers or executor
(in-process, process pool, Dask).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, Terminated
from ...model.compile import Batch, compile_scenario, stack, take
from ...model.kernels import get_kernel, resolve_kernel
from ...model.numpy_engine import crn_drawer
from ...model.rng import (
    BLOCK_SIZE,
    MonthDraws,
    block_generators,
    draw_month,
    point_root,
    resolve_seed,
)
from ..executors import Executor
from ..store import lock_work_dir, save_npz
from .aggregate import chunk_aggregates
from .assemble import AGG_INT, assemble, read_finished, write_sweep
from .posterior import posterior_args, posterior_chunk, sweep_posterior
from .rounds import run_rounds
from .spec import Experiment

__all__ = ["CHUNK_ROWS", "sweep_chunk", "plan_chunks", "SweepInterrupted", "run_sweep",
           "run_tasks"]

#: Target rows (points x trials) per chunk of work.
CHUNK_ROWS = 16 * BLOCK_SIZE


def sweep_chunk(bt: Batch, entropy: Any, spawn_key: tuple[int, ...], p0: int, b0: int,
                nb: int, tpp: int, crn: bool, kernel: str | None = None
                ) -> dict[str, np.ndarray]:
    """Simulate points ``p0 .. p0 + bt.P - 1`` over blocks ``b0 .. b0 + nb - 1``.

    Returns integer aggregates per point and state (shape ``(P, S)``), ``n_any`` per point,
    and ``bits``: per point and trial, the packed indicators of a base per state and
    anywhere (for paired intervals). ``kernel``: the month kernel's name
    (:mod:`abm.model.kernels`; default compiled).
    """
    root = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    n = nb * BLOCK_SIZE
    m = max(0, min(n, tpp - b0 * BLOCK_SIZE))
    S, P = bt.S, bt.P
    if crn:
        draws = MonthDraws.empty(n, S, bt.noise_on)
        draw = crn_drawer(root, b0, nb)
    else:
        flat = MonthDraws.empty(P * n, S, bt.noise_on)
        gens = []
        for q in range(P):
            rq = point_root(root, p0 + q)
            gens += [block_generators(rq, b) for b in range(b0, b0 + nb)]

        def view(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a.reshape(P, n, *a.shape[1:])

        draws = MonthDraws(view(flat.u_threat), view(flat.u_drill), view(flat.z_p),
                           view(flat.z_w), view(flat.u_decide), view(flat.u_consent))

        def draw(_: MonthDraws) -> None:
            draw_month(gens, flat)

    out = get_kernel(kernel)(bt, draw, draws, n, m, collect_months=False)
    return chunk_aggregates(out, p0, b0, m)


def plan_chunks(n_points: int, tpp: int) -> list[tuple[int, int, int, int]]:
    """``(p0, p1, b0, nb)`` tasks covering every point and block, about CHUNK_ROWS rows each."""
    n_blocks = math.ceil(tpp / BLOCK_SIZE)
    rows_per_point = n_blocks * BLOCK_SIZE
    if rows_per_point >= CHUNK_ROWS:
        per = max(1, CHUNK_ROWS // BLOCK_SIZE)
        return [(p, p + 1, b, min(per, n_blocks - b))
                for p in range(n_points) for b in range(0, n_blocks, per)]
    pp = max(1, CHUNK_ROWS // rows_per_point)
    return [(p, min(p + pp, n_points), 0, n_blocks) for p in range(0, n_points, pp)]


class SweepInterrupted(Exception):
    """A sweep stopped by Ctrl-C or SIGTERM (``terminated``); its checkpoints are kept."""

    def __init__(self, message: str, terminated: bool = False):
        super().__init__(message)
        self.terminated = terminated




def _save_chunk(path: Path, res: dict[str, np.ndarray]) -> None:
    save_npz(path, **res)


def _load_chunk(path: Path, expect: tuple[int, int, int, int], S: int
                ) -> dict[str, np.ndarray] | None:
    """A checkpoint, or None if it is unreadable or does not match its task."""
    p0, p1, b0, _ = expect
    try:
        with np.load(path, allow_pickle=False) as z:
            res = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        return None
    try:
        ok = (int(res["p0"]) == p0 and int(res["b0"]) == b0
              and all(res[k].shape == (p1 - p0, S) for k in AGG_INT)
              and res["n_any"].shape == (p1 - p0,))
    except KeyError:
        return None
    return res if ok else None


def run_tasks(exp: Experiment, tasks: list[tuple[int, int, int, int]], todo: list[int],
              results: dict[int, dict[str, np.ndarray]], tpp: int, executor: Executor,
              kernel: str, keep: Callable[[int, dict[str, np.ndarray]], None] | None = None,
              tick: Callable[[], None] | None = None, batch: list[Any] | None = None
              ) -> None:
    """Run tasks ``todo`` (indices into ``tasks``, points ending at ``tpp`` trials) on
    ``executor`` into ``results``: ``keep(i, result)`` (a checkpoint) and ``tick()`` as
    each arrives. ``batch`` caches the stacked points across calls (rounds), or, under a
    posterior, the groups' particles (:mod:`.posterior`; points compile per chunk). On an
    interrupt the executor is closed at once and ``KeyboardInterrupt`` propagates."""
    if not todo:
        return
    batch = [] if batch is None else batch
    if exp.posterior is not None:  # points x parameter groups, compiled in each chunk
        if not batch:
            batch.append(sweep_posterior(exp))
        fn: Callable[..., dict[str, np.ndarray]] = posterior_chunk
        args = [posterior_args(exp, batch[0], tasks[i], tpp, kernel) for i in todo]
    else:
        if not batch:
            cms = [compile_scenario(sc) for sc in (exp.scenarios or [
                exp.point_scenario(i) for i in range(exp.n_points)])]
            cms.append(compile_scenario(exp.base))
            batch.append(stack(cms))
        bt = batch[0]
        root = resolve_seed(exp.seed)
        fn = sweep_chunk
        args = [(take(bt, slice(tasks[i][0], tasks[i][1])), root.entropy, root.spawn_key,
                 tasks[i][0], tasks[i][2], tasks[i][3], tpp, exp.spec.crn, kernel)
                for i in todo]
    stream = executor.map(fn, args)
    try:
        for j, res in stream:
            i = todo[j]
            if keep is not None:
                keep(i, res)
            results[i] = res
            if tick is not None:
                tick()
    except KeyboardInterrupt:
        # close the pool now (drop queued chunks) rather than when the generator is
        # collected, which at interpreter exit would run every queued chunk first
        stream.close()
        raise


def run_sweep(exp: Experiment, *, out_dir: Path | None = None, executor: Executor | None = None,
              resume: bool = False, force: bool = False,
              progress: Callable[[int, int], None] | None = None,
              extra: Callable[..., None] | None = None, kernel: str | None = None
              ) -> tuple[Path, dict[str, Any], bool]:
    """Run (or finish, or find) a sweep; returns ``(directory, summary, reused)``.

    ``extra(tmp_dir, points, summary, sensitivity)`` writes more files (the figures) into
    the sweep directory before it appears. ``kernel`` names the month kernel (default
    compiled; the results do not depend on it).
    """
    kernel = resolve_kernel(kernel)
    executor = executor or Executor()
    sid = exp.sweep_id()
    final = Path(out_dir) if out_dir else Path("results") / exp.base.name / f"sweep-{sid}"
    if final.exists():
        is_sweep = (final / "manifest.json").is_file() and (final / "points.parquet").exists()
        if not is_sweep and any(final.iterdir()):
            raise ConfigError("--out", "out", str(final), "exists and is not a sweep "
                              "directory; choose another path (--force will not replace it)")
    if final.exists() and not force and any(final.iterdir()):
        summary = read_finished(final)
        if summary.get("sweep_id") != sid:
            raise ConfigError("--out", "out", str(final),
                              "holds a different sweep; use --force or another --out")
        return final, summary, True
    work = final.with_name(final.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    failed = False
    lock = lock_work_dir(work / "lock", "sweep")
    try:
        chunks_dir = work / "chunks"
        n_total = exp.n_points + 1  # design points, then the reference (the base scenario)
        tpp, rule = exp.spec.trials_per_point, exp.spec.rule
        tasks = plan_chunks(n_total, tpp) if rule is None else []
        plan = {"sweep_id": sid, "points": exp.n_points, "trials_per_point": tpp,
                "tasks": [list(t) for t in tasks]}
        if rule is not None:  # rounds: each round's tasks follow from the ones before
            plan["looks"] = list(rule.looks)
        plan_path = work / "plan.json"
        if chunks_dir.exists() and any(chunks_dir.iterdir()) and not resume and not force:
            raise ConfigError("--resume", "resume", False,
                              f"a partial sweep is checkpointed in {work}; add --resume to "
                              "finish it or --force to start again")
        if force and chunks_dir.exists():
            shutil.rmtree(chunks_dir)
        if plan_path.exists() and resume:
            old = json.loads(plan_path.read_text())
            if old != plan:
                raise ConfigError("--resume", "resume", True,
                                  f"the checkpoints in {work} belong to a different plan; "
                                  "use --force to start again")
        chunks_dir.mkdir(exist_ok=True)
        plan_path.write_text(json.dumps(plan))

        S = len(exp.base.states)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        batch: list[Any] = []
        before = [0]  # chunks of earlier rounds (an adaptive sweep's progress)

        def execute(tasks: list[tuple[int, int, int, int]], tpp: int
                    ) -> dict[int, dict[str, np.ndarray]]:
            """Run (or read back from checkpoints) tasks whose points end at ``tpp``."""
            results: dict[int, dict[str, np.ndarray]] = {}
            todo = []
            for i, t in enumerate(tasks):
                cp = chunks_dir / f"chunk-{t[0]:06d}-{t[2]:06d}.npz"
                res = _load_chunk(cp, t, S) if cp.exists() else None
                if res is not None:
                    results[i] = res
                else:
                    todo.append(i)
            if todo:
                def keep(i: int, res: dict[str, np.ndarray]) -> None:
                    t = tasks[i]
                    _save_chunk(chunks_dir / f"chunk-{t[0]:06d}-{t[2]:06d}.npz", res)

                done = [len(results)]

                def tick() -> None:
                    done[0] += 1
                    if progress:
                        progress(before[0] + done[0], before[0] + len(tasks))

                try:
                    run_tasks(exp, tasks, todo, results, tpp, executor, kernel, keep, tick,
                              batch)
                except KeyboardInterrupt as exc:
                    raise SweepInterrupted(
                        f"interrupted: {before[0] + len(results)} of {before[0] + len(tasks)}"
                        f" chunks are checkpointed in {chunks_dir}; run the same command "
                        "with --resume to finish",
                        terminated=isinstance(exc, Terminated)) from None
            before[0] += len(tasks)
            return results

        try:
            if rule is None:
                results, stops = execute(tasks, tpp), None
            else:
                tasks, results, stops = run_rounds(rule, n_total, CHUNK_ROWS, execute)
        except ConfigError:
            # bad input found only where a point meets a parameter draw (a joint limit
            # under a posterior): the sweep can never finish as it is, so nothing of it is
            # kept (its checkpoints would only block the corrected sweep's directory)
            failed = True
            raise
        wall = time.perf_counter() - t0
        summary, points = assemble(exp, sid, tasks, results, stops,
                                   plan=batch[0] if exp.posterior is not None and batch else None)
        write_sweep(exp, final, summary, points, executor, started, wall, extra, kernel)
    finally:
        lock.close()
        if failed:
            shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return final, summary, False
