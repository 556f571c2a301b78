"""What the Python API adds to the runs and sweeps: overrides by dotted key, and saving a
result as the results directory the command line writes.

Saving goes through the one writer of each kind (:func:`abm.experiment.store.write_run`
for a run, :func:`abm.experiment.sweep.assemble.write_sweep` for a sweep), with the run
id or sweep id the command line would give, so ``abm show``, ``abm plot``,
``abm reproduce`` and ``abm ls`` read a saved result like any other.

Figures are drawn by :mod:`abm.plots`, a layer above this one: pass the drawing function
(``figures=abm.plots.draw_figures`` for a run, ``abm.plots.draw_sweep_figures`` for a
sweep) and they are written into the directory before it appears.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ResultsError
from ..scenario import (
    Scenario,
    apply_override,
    load_scenario,
    overrides_as_text,
    parse_override,
    scenario_from_dict,
)

__all__ = ["apply_overrides", "save_run", "check_destination"]


def apply_overrides(scenario: Scenario | str | Path,
                    overrides: Mapping[str, Any] | Sequence[str] | None
                    ) -> tuple[Scenario, list[str]]:
    """The scenario with ``overrides`` applied (a file is loaded with them, as
    ``--set`` does; a :class:`Scenario` is changed through its dict and validated again),
    and the overrides as ``KEY=VALUE`` strings."""
    texts = overrides_as_text(overrides)
    if not isinstance(scenario, Scenario):
        if not isinstance(scenario, str | Path):
            raise ConfigError("simulate", "scenario", scenario,
                              "expected a Scenario or the path of a scenario file")
        return load_scenario(scenario, texts), texts
    if not texts:
        return scenario, texts
    raw = scenario.to_dict()
    for text in texts:
        key, value = parse_override(text)
        apply_override(raw, key, value)
    return scenario_from_dict(raw, source=scenario.source), texts


def check_destination(path: Path, marker: str, replace: bool) -> bool:
    """Whether ``path`` is to be replaced: False if it does not exist; an error if it
    exists and ``replace`` is off, or if it is not empty and not a directory this package
    wrote (no ``marker`` file)."""
    if not path.exists():
        return False
    if not path.is_dir():
        raise ResultsError(f"{path}: exists and is not a directory; choose another path")
    empty = not any(path.iterdir())
    if not empty and not (path / marker).is_file():
        raise ResultsError(f"{path}: exists and is not an abm results directory (no "
                           f"{marker}); it will not be replaced: choose another path")
    if not empty and not replace:
        raise ResultsError(f"{path}: exists; pass replace=True to replace it, or another path")
    return True


def save_run(result: Any, path: str | Path | None = None, *,
             figures: Callable[..., Any] | None = None, replace: bool = False) -> Path:
    """Write a :class:`~abm.experiment.simulate.SimulationResult` as a results directory.

    Parameters
    ----------
    path : str or Path, optional
        The directory; default ``results/<name>/<run-id>``, where ``abm run`` would put
        the same run.
    figures : callable, optional
        ``abm.plots.draw_figures``, to draw the run's figures into ``path/figures``.
    replace : bool
        Replace a results directory already at ``path`` (never anything else).

    Returns
    -------
    Path
        The directory written; nothing is written if anything fails.
    """
    from .store import default_run_dir, run_id, write_run

    if figures is not None and not callable(figures):
        raise ConfigError("save", "figures", figures,
                          "pass the drawing function, abm.plots.draw_figures (None: no figures)")
    post = getattr(result, "posterior", None)  # a run under a posterior: its own id
    rid = run_id(result.scenario.sha256(), result.trials, result.seed, result.engine,
                 result.horizon, post["sha256"] if post else None)
    out = Path(path) if path is not None else default_run_dir(Path("results"),
                                                              result.scenario.name, rid)
    swap = check_destination(out, "manifest.json", replace)
    extra = None
    if figures is not None:
        def extra(tmp: Path) -> None:
            kw = {} if result.paths is None else {"paths": result.paths}
            figures(result.table, result.months, result.summary, tmp / "figures", **kw)
    return write_run(result, out, rid=rid, config=result.config, overrides=result.overrides,
                     extra=extra, replace=swap)
