"""The Python API of sweeps: :func:`sweep` runs an experiment file in memory and returns a
:class:`SweepResult`; :meth:`SweepResult.save` writes the sweep directory ``abm sweep``
writes (same files, same sweep id, through the same writer, :func:`.assemble.write_sweep`).

Unlike ``abm sweep``, nothing is checkpointed: an interrupted :func:`sweep` leaves nothing
behind. The numbers are those of ``abm sweep`` on the same file and overrides (same
``outputs_sha256``), whatever the executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import ConfigError
from ...model.kernels import releases_gil, resolve_kernel
from ...scenario import overrides_as_text
from ..executors import Executor
from .assemble import assemble, sweep_sensitivity, write_sweep
from .rounds import run_rounds
from .run import CHUNK_ROWS, plan_chunks, run_tasks
from .spec import Experiment, load_experiment

__all__ = ["SweepResult", "sweep"]


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    experiment : Experiment
        The loaded experiment: base scenario, ``[sweep]`` spec, design matrix ``X``.
    points : pandas.DataFrame
        One row per design point: the parameter values, P(base) per state and anywhere
        with Wilson intervals, the change against the reference with paired intervals.
    summary : dict
        ``summary.json`` (with the reference scenario's results and ``outputs_sha256``).
    sensitivity : dict
        ``sensitivity.json``: Sobol' or Morris indices, or why there are none.
    """

    experiment: Experiment
    points: pd.DataFrame
    summary: dict[str, Any]
    sensitivity: dict[str, Any]
    executor: Executor
    kernel: str
    started: datetime
    wall_seconds: float

    @property
    def sweep_id(self) -> str:
        return self.summary["sweep_id"]

    @property
    def outputs_sha256(self) -> str:
        return self.summary["outputs_sha256"]

    def save(self, path: str | Path | None = None, *,
             figures: Callable[..., Any] | None = None, replace: bool = False) -> Path:
        """Write the sweep directory (default ``results/<name>/sweep-<id>``, where
        ``abm sweep`` puts it); ``figures=abm.plots.draw_sweep_figures`` draws its figures
        into it; ``replace`` replaces a results directory already there. Returns its path;
        nothing is written if anything fails."""
        from ..api import check_destination

        if figures is not None and not callable(figures):
            raise ConfigError("save", "figures", figures, "pass the drawing function, "
                              "abm.plots.draw_sweep_figures (None: no figures)")
        exp = self.experiment
        out = (Path(path) if path is not None
               else Path("results") / exp.base.name / f"sweep-{self.sweep_id}")
        check_destination(out, "manifest.json", replace)
        extra = None
        if figures is not None:
            def extra(tmp: Path, points: Any, summary: Any, sens: Any) -> None:
                figures(points, summary, sens, tmp / "figures")
        write_sweep(exp, out, self.summary, self.points, self.executor, self.started,
                    self.wall_seconds, extra, self.kernel, sens=self.sensitivity)
        return out


def sweep(experiment: str | Path, overrides: Mapping[str, Any] | Sequence[str] | None = None,
          *, workers: int = 1, executor: Executor | None = None, kernel: str | None = None,
          progress: bool | Callable[[int, int], None] = False,
          posterior: Any = None) -> SweepResult:
    """Run a parameter sweep / sensitivity design from an experiment file (a scenario with
    a ``[sweep]`` table), in memory.

    Parameters
    ----------
    experiment : path
        The experiment TOML file.
    overrides : mapping or list of str, optional
        Changes by dotted key, as ``abm sweep --set`` makes them, ``sweep.*`` keys
        included: ``{"sweep.trials_per_point": 500, "russia.pressure": 0.3}``.
    workers : int
        Threads (compiled kernel) or processes on this machine; results do not depend on it.
    executor : Executor, optional
        Where chunks run (a Dask executor runs them on a cluster).
    kernel : {"compiled", "numpy"}, optional
        The month kernel; same numbers.
    progress : bool or callable
        ``True`` shows a tqdm bar; a callable receives ``(chunks done, chunks)``.
    posterior : path or Posterior, optional
        A calibration directory (default: the base scenario's ``posterior`` key): every
        point runs under it, group ``g`` of every point with the same parameter draw
        (docs/forecasts.md, "Sweeps under a posterior"), as ``abm sweep --posterior``.

    Returns
    -------
    SweepResult
    """
    from ... import limits

    exp = load_experiment(experiment, overrides_as_text(overrides), posterior=posterior)
    kernel = resolve_kernel(kernel)
    if executor is None:
        if (isinstance(workers, bool) or not isinstance(workers, int)
                or not 1 <= workers <= limits.MAX_WORKERS):
            raise ConfigError("--workers", "workers", workers,
                              f"must be an integer in [1, {limits.MAX_WORKERS}]")
        executor = Executor("threads" if releases_gil("numpy", kernel) else "pool", workers)
    n_total = exp.n_points + 1  # design points, then the reference (the base scenario)
    tpp, rule = exp.spec.trials_per_point, exp.spec.rule
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(unit="chunk", desc=exp.base.name, leave=False)
    batch: list[Any] = []
    before = [0]  # chunks of earlier rounds (an adaptive sweep)

    def execute(tasks: list[tuple[int, int, int, int]], n: int) -> dict[int, Any]:
        """Run the tasks of one round (all of a fixed-size sweep), points ending at n."""
        results: dict[int, Any] = {}
        done = [0]

        def tick() -> None:
            done[0] += 1
            if bar is not None:
                bar.total = before[0] + len(tasks)
                bar.update(1)
            elif callable(progress):
                progress(before[0] + done[0], before[0] + len(tasks))

        run_tasks(exp, tasks, list(range(len(tasks))), results, n, executor, kernel,
                  tick=tick, batch=batch)
        before[0] += len(tasks)
        return results

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        if rule is None:
            tasks = plan_chunks(n_total, tpp)
            results, stops = execute(tasks, tpp), None
        else:
            tasks, results, stops = run_rounds(rule, n_total, CHUNK_ROWS, execute)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    summary, points = assemble(exp, exp.sweep_id(), tasks, results, stops,
                               plan=batch[0] if exp.posterior is not None and batch else None)
    return SweepResult(experiment=exp, points=points, summary=summary,
                       sensitivity=sweep_sensitivity(exp, points), executor=executor,
                       kernel=kernel, started=started, wall_seconds=wall)
