"""The Python API: :func:`simulate` runs a scenario and returns a :class:`SimulationResult`.

Trials are cut into chunks of whole random-number blocks (:mod:`abm.model.rng`); chunks run
on an :class:`~abm.experiment.executors.Executor` (this process, a pool of worker
processes, or Dask) and are merged in block order. Because each
block has its own streams and the per-month accumulators are integers, the result is
identical for any chunk size, worker count or engine that follows the draw contract.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import limits
from ..analysis.summary import summarize
from ..errors import ConfigError
from ..model.accumulators import ACCUMULATORS, months_table
from ..model.compile import Compiled, compile_scenario
from ..model.engines import chunk_task, engine_names
from ..model.kernels import DEFAULT_KERNEL, kernel_version, releases_gil, resolve_kernel
from ..model.outcomes import OUTCOMES, ChunkResult, outputs_sha256, trial_table
from ..model.rng import BLOCK_SIZE, resolve_seed
from ..scenario import Scenario
from .executors import Executor
from .paths import check_save_paths, compute_paths

__all__ = ["simulate", "SimulationResult", "ENGINES", "DEFAULT_CHUNK_TRIALS"]

ENGINES = engine_names()
#: Trials per chunk of work (a multiple of BLOCK_SIZE); large enough to amortise numpy's
#: per-call overhead, small enough to stay in cache.
DEFAULT_CHUNK_TRIALS = 16 * BLOCK_SIZE
#: Bytes kept per trial-state for the per-trial table (arrays plus the DataFrame copy).
_BYTES_PER_TRIAL_STATE_KEPT = 120


@dataclass
class SimulationResult:
    """What a run produced.

    Attributes
    ----------
    scenario : Scenario
        The resolved scenario (``trials`` and ``seed`` as run; ``horizon_months`` as in the
        file, which may exceed the horizon run).
    horizon : int
        Months simulated.
    seed : int
        The seed actually used (the root ``SeedSequence`` entropy).
    table : pandas.DataFrame
        One row per (trial, state), columns :data:`abm.model.outcomes.TRIAL_COLUMNS`.
    months : pandas.DataFrame
        Per (month, state) mean and 5/25/50/75/95% quantiles of ``w`` and ``p``, and
        ``share_hosting``; months ``0 .. horizon``.
    summary : dict
        The ``summary.json`` content, including ``outputs_sha256``.
    kernel, kernel_version : str
        The month kernel that ran (:mod:`abm.model.kernels`) and its version.
    executor : dict
        Where the chunks ran (:meth:`Executor.describe`).
    paths : pandas.DataFrame or None
        With ``save_paths=N``: every month of trials ``0 .. N-1``, one row per (trial,
        month, state) (:func:`abm.model.paths.paths_table`); else None.
    config, overrides
        The scenario file run (None for a :class:`Scenario` given as such) and the
        overrides applied to it, as ``KEY=VALUE`` strings; :meth:`save` records both.
    """

    scenario: Scenario
    seed: int
    horizon: int
    engine: str
    workers: int
    table: pd.DataFrame
    months: pd.DataFrame
    summary: dict[str, Any]
    started: str
    finished: str
    wall_seconds: float
    kernel: str = DEFAULT_KERNEL
    kernel_version: str = ""
    executor: dict[str, Any] | None = None
    #: under a posterior: ``{calibration_id, path, sha256, keys, ...}`` (else None)
    posterior: dict[str, Any] | None = None
    #: ``target_halfwidth`` runs: the rule, the target and why it stopped (summary's
    #: ``adaptive`` block); None for a plain run
    adaptive: dict[str, Any] | None = None
    paths: pd.DataFrame | None = None
    config: str | None = None
    overrides: tuple[str, ...] = ()

    def save(self, path: str | Path | None = None, *, figures: Callable[..., Any] | None = None,
             replace: bool = False) -> Path:
        """Write this run as a results directory, as ``abm run`` does (same files, same
        run id); see :func:`abm.experiment.api.save_run`. Returns its path."""
        from .api import save_run

        return save_run(self, path, figures=figures, replace=replace)

    @property
    def trials(self) -> int:
        return self.scenario.trials

    @property
    def outputs_sha256(self) -> str:
        return self.summary["outputs_sha256"]


def _chunks(n_blocks: int, per_chunk: int) -> list[tuple[int, int]]:
    return [(b, min(per_chunk, n_blocks - b)) for b in range(0, n_blocks, per_chunk)]


def _available_memory() -> int | None:
    """Bytes the kernel could give this process: MemAvailable (free plus reclaimable page
    cache) where /proc/meminfo has it, else free pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_months(scenario: Scenario, months: int) -> None:
    """Refuse a horizon override that would drop one of the scenario's shocks."""
    if any(sh.month >= months for sh in scenario.shocks):
        raise ConfigError("--months", "horizon_months", months,
                          "a [[shocks]] entry falls at or after this month; use a longer horizon")


def check_memory(trials: int, n_states: int, source: str = "trials") -> None:
    """Refuse a run whose kept per-trial table cannot fit in this machine's memory."""
    need = trials * n_states * _BYTES_PER_TRIAL_STATE_KEPT
    avail = _available_memory()
    if avail is None:
        return
    if need > 0.8 * avail:
        raise ConfigError(source, "trials", trials,
                          f"needs about {need / 2**30:.1f} GiB for the per-trial table; "
                          f"{avail / 2**30:.1f} GiB available: use fewer trials")


def simulate(
    scenario: Scenario | str | Path,
    trials: int | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    *,
    months: int | None = None,
    workers: int = 1,
    engine: str = "numpy",
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    progress: bool | Callable[[int], None] = False,
    executor: Executor | None = None,
    kernel: str | None = None,
    posterior: Any = None,
    target_halfwidth: float | None = None,
    max_trials: int | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    save_paths: int = 0,
) -> SimulationResult:
    """Run a scenario's Monte Carlo trials.

    Parameters
    ----------
    scenario : Scenario or path
        A validated scenario, or a TOML file to load.
    trials : int, optional
        Number of trials (default: the scenario's ``trials``). Must be >= 1.
    seed : int, SeedSequence, Generator or None, optional
        Default: the scenario's ``seed``; if that is absent too, fresh OS entropy. The
        seed actually used is ``result.seed``.
    months : int, optional
        Horizon override (default: ``horizon_months``).
    workers : int
        Workers on this machine: threads of this process for the compiled kernel (it
        releases the GIL), processes otherwise; 1 runs in this process. Results do not
        depend on it.
    executor : Executor, optional
        Where chunks run (default: ``workers`` threads or processes as above); a Dask
        executor runs them on a cluster. Results do not depend on it.
    kernel : {"compiled", "numpy"}, optional
        The month kernel (:mod:`abm.model.kernels`); default compiled. ``"numpy"`` is the
        reference implementation; both give the same numbers.
    overrides : mapping or list of str, optional
        Changes to the scenario by dotted key, as ``abm run --set`` makes them:
        ``{"russia.pressure": 0.3, "states.UZB.legal_bar": 0.0}`` (Python values) or
        ``["russia.pressure=0.3"]`` (TOML text). Recorded in ``result.overrides``.
    save_paths : int
        Also keep every month of trials ``0 .. save_paths - 1`` (``result.paths``); at
        most :data:`abm.limits.MAX_SAVE_PATHS` and the number of trials. They are
        recomputed after the run with the reference month step and are exactly the run's
        own trials (:mod:`abm.experiment.paths`). With ``target_halfwidth``, N is checked
        against ``max_trials`` and the paths are those of the first N trials that ran.
    engine : {"numpy", "mesa"}
        The vectorised core, or the Mesa agent model (same draws, same results).
    posterior : path or Posterior, optional
        A calibration directory (:mod:`abm.experiment.posterior`; default: the scenario's
        ``posterior`` key, if any): each group of ``GROUP_SIZE`` trials runs one parameter
        set drawn from it, and the summary gains parameter-uncertainty intervals
        (docs/forecasts.md). Needs the numpy engine and whole groups of trials.
    chunk_trials : int
        Trials per unit of work, rounded up to whole blocks of ``BLOCK_SIZE``.
    progress : bool or callable
        ``True`` shows a tqdm bar on stderr; a callable receives trials done per chunk.
        With either, chunks are at most 1/50 of the run (one block of ``BLOCK_SIZE``
        trials for a run of up to 50 blocks), so that progress moves.
    target_halfwidth : float, optional
        Precision on demand (:mod:`abm.experiment.adaptive`): run looks of 1,000, 2,000,
        4,000, ... trials until every probability's 95% interval, adjusted for the looks,
        is at most this on each side, or ``max_trials`` is reached; ``trials`` must then
        be None. ``result.summary["adaptive"]`` says how many trials and why it stopped.
    max_trials : int, optional
        The last look (default :data:`abm.limits.DEFAULT_MAX_TRIALS`).

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> from abm import simulate
    >>> res = simulate("experiments/baseline_2021.toml", trials=2000, seed=1)  # doctest: +SKIP
    >>> res.summary["states"]["UZB"]["p_base"]  # doctest: +SKIP
    """
    from .api import apply_overrides

    config = None if isinstance(scenario, Scenario) else str(scenario)
    scenario, overrides = apply_overrides(scenario, overrides)
    rule = None
    if target_halfwidth is not None or max_trials is not None:
        from .adaptive import precision_rule

        if target_halfwidth is None or trials is not None:
            raise ConfigError("--target-halfwidth", "target_halfwidth", target_halfwidth,
                              "give a target half-width with max trials, and no fixed trials")
        rule = precision_rule(target_halfwidth, max_trials)
        trials = rule.max_trials
    if trials is None:
        trials = scenario.trials
    if isinstance(trials, bool) or not isinstance(trials, int | np.integer) or trials < 1:
        raise ConfigError("--trials", "trials", trials, "must be a positive integer (>= 1)")
    if months is not None:
        if isinstance(months, bool) or not isinstance(months, int | np.integer) or months < 1:
            raise ConfigError("--months", "horizon_months", months,
                              "must be a positive integer number of months")
        check_months(scenario, int(months))
    if (isinstance(workers, bool) or not isinstance(workers, int) or not
            1 <= workers <= limits.MAX_WORKERS):
        raise ConfigError("--workers", "workers", workers,
                          f"must be an integer in [1, {limits.MAX_WORKERS}]")
    if engine not in ENGINES:
        raise ConfigError("--engine", "engine", engine, f"must be one of {', '.join(ENGINES)}")
    kernel = resolve_kernel(kernel)
    if executor is None:
        executor = Executor("threads" if releases_gil(engine, kernel) else "pool", workers)
    workers = executor.workers
    check_memory(int(trials), len(scenario.states))
    from .posterior import as_posterior, check_posterior_run, posterior_plan

    post = as_posterior(posterior, scenario)
    if post is not None:
        if rule is not None:
            raise ConfigError("--target-halfwidth", "target_halfwidth", target_halfwidth,
                              "cannot be combined with a posterior (--posterior); give "
                              "--trials")
        check_posterior_run(int(trials), engine)
    save_paths = check_save_paths(
        save_paths, int(trials), scenario.horizon_months if months is None else int(months),
        len(scenario.states), source="save_paths",
        posterior=post is not None)

    seed_in = scenario.seed if seed is None else seed
    root = resolve_seed(seed_in)
    seed_used = root.entropy
    horizon = scenario.horizon_months if months is None else int(months)
    # the scenario keeps its own horizon (its schedules may reach past ``months``); the
    # horizon run is ``result.horizon``
    scenario = replace(scenario, trials=int(trials), seed=int(seed_used))
    cm = compile_scenario(scenario, horizon=horizon)
    plan = None if post is None else posterior_plan(post, scenario, root, trials, horizon)

    def tasks_of(n_blocks: int) -> list[tuple[int, int]]:
        per_chunk = max(1, math.ceil(chunk_trials / BLOCK_SIZE))
        if workers > 1:
            per_chunk = min(per_chunk, max(1, math.ceil(n_blocks / (2 * workers))))
        if progress:
            # progress moves in blocks of trials, not in chunks of 16: about 50 steps, at
            # most one block each for a run of up to 50 blocks (chunking never changes
            # results)
            per_chunk = min(per_chunk, max(1, math.ceil(n_blocks / 50)))
        return _chunks(n_blocks, per_chunk)

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=trials, unit="trial", desc=scenario.name, leave=False)

    def tick(done: int) -> None:
        if bar is not None:
            bar.update(done)
        elif callable(progress):
            progress(done)

    # Each chunk is copied into preallocated per-trial arrays as it arrives and then
    # dropped, so peak memory is one copy of the per-trial table (plus one chunk).
    S = cm.S
    per_trial = {o.name: np.empty((trials, S), dtype=o.dtype) for o in OUTCOMES}
    acc: dict[str, np.ndarray] = {}

    def run_blocks(first: int, n_blocks: int, n_trials: int) -> None:
        """Blocks ``first ..`` of a run of ``n_trials`` into ``per_trial`` and ``acc``."""
        chunks = [(first + fb, nb) for fb, nb in tasks_of(n_blocks)]
        task, args = chunk_task, [(engine, kernel, cm, root.entropy, root.spawn_key, fb, nb,
                                   n_trials) for fb, nb in chunks]
        if plan is not None:  # one parameter set per group of trials (abm.model.groups)
            from ..model.groups import run_groups

            task, args = run_groups, plan.args(kernel, root, chunks, n_trials)
        stream = executor.map(task, args)
        try:
            for _i, res in stream:
                res: ChunkResult
                a, b = res.start, res.start + res.n
                for k, arr in per_trial.items():
                    arr[a:b] = res.outcomes[k]
                for k in ACCUMULATORS:  # integers: the order of addition does not matter
                    acc[k] = res.acc[k] + acc[k] if k in acc else res.acc[k].copy()
                tick(res.n)
                del res
        finally:
            stream.close()  # stops a worker pool now, not when the generator is collected

    adaptive = None
    try:
        if rule is None:
            run_blocks(0, math.ceil(trials / BLOCK_SIZE), trials)
        else:  # arrays of max_trials rows: pages never written take no memory
            from .adaptive import run_looks

            trials, adaptive = run_looks(rule, cm.ids, per_trial, run_blocks,
                                         lambda n: _set_total(bar or progress, n))
            per_trial = {k: v[:trials] for k, v in per_trial.items()}
            scenario = replace(scenario, trials=trials)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    finished = datetime.now(UTC)
    result = _assemble(scenario, int(seed_used), engine, workers, cm, per_trial, acc, trials,
                       started, finished, wall)
    result.kernel, result.kernel_version = kernel, kernel_version(kernel)
    result.executor = executor.describe()
    if plan is not None:
        from ..analysis.summary import add_posterior_summary
        from ..model.rng import GROUP_SIZE

        result.posterior = plan.record(scenario)
        add_posterior_summary(result.summary, result.table, trials=trials, state_ids=cm.ids,
                              group_size=GROUP_SIZE, posterior=result.posterior)
    if adaptive is not None:
        from .adaptive import finish_summary

        finish_summary(result.summary, rule, per_trial, cm.ids, adaptive)
        result.adaptive = adaptive
    result.config, result.overrides = config, tuple(overrides)
    if save_paths:
        result.paths = compute_paths(scenario, int(seed_used), cm.T,
                                     min(save_paths, scenario.trials))
    return result


def _set_total(bar: Any, n: int) -> None:
    """Tell a progress bar (tqdm, or the command line's ``Progress``) the trials of the
    current look of a ``target_halfwidth`` run."""
    if hasattr(bar, "set_total"):
        bar.set_total(n)
    elif hasattr(bar, "total"):
        bar.total = n


def _assemble(scenario: Scenario, seed: int, engine: str, workers: int, cm: Compiled,
              per_trial: dict[str, np.ndarray], acc: dict[str, np.ndarray], trials: int,
              started: datetime, finished: datetime, wall: float) -> SimulationResult:
    table = trial_table(per_trial, trials, cm.ids)

    months = months_table(acc["hist_w"], acc["hist_p"], acc["sum_w"], acc["sum_p"],
                          acc["hosting"], trials, cm.ids)

    def summary_of() -> dict[str, Any]:
        return summarize(table, name=scenario.name, trials=trials, horizon=cm.T, seed=seed,
                         engine=engine, state_ids=cm.ids,
                         state_names=tuple(st.name or st.id for st in scenario.states))

    if workers > 1 and trials >= 50_000:
        # the two largest serial steps read the table and write nothing shared: with more
        # than one worker allowed, run them side by side (numpy and hashlib release the GIL)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="abm-assemble") as ex:
            digest = ex.submit(outputs_sha256, table)
            summary = summary_of()
            summary["outputs_sha256"] = digest.result()
    else:
        summary = summary_of()
        summary["outputs_sha256"] = outputs_sha256(table)
    return SimulationResult(
        scenario=scenario, seed=seed, horizon=cm.T, engine=engine, workers=workers,
        table=table,
        months=months, summary=summary, started=started.isoformat(timespec="seconds"),
        finished=finished.isoformat(timespec="seconds"), wall_seconds=wall,
    )
