"""``abm app``: a local browser explorer for scenarios (Solara).

Pick a scenario, move its drivers, the CSTO rule and each state's main attributes, run N
trials with one click, and read P(base) with intervals, fan charts of willingness, the
survival of time to first base and the paired difference from the unchanged scenario;
step one trial's Mesa model month by month; save the edited scenario as TOML or a run
as a results directory.

The page logic that does not need a browser lives in :mod:`abm.app.logic` (tested
directly); :mod:`abm.app.figures` draws the charts; :mod:`abm.app.page` is the Solara
page; :mod:`abm.app.server` serves it on loopback. Only this package imports Solara.

It sits in the front layer with the command line (``docs/architecture.md``): nothing
else in :mod:`abm` imports it. The rest of the package is used through these names only:
``abm.errors.ConfigError``, ``abm.scenario.load_scenario``,
``abm.scenario.scenario_from_dict``, ``abm.scenario.schema.schema``,
``abm.experiment.simulate.simulate``, ``abm.analysis.stats.newcombe_paired``,
``abm.analysis.history.based``, ``abm.model.mesa_engine.model_for_trial``,
``abm.experiment.store.run_id`` and ``write_run``, and ``abm.plots.draw_figures`` (the
figures of a saved run, drawn into its directory as ``abm run`` does).
"""

from __future__ import annotations

__all__ = ["serve"]


def serve(config: str | None = None, *, host: str = "127.0.0.1", port: int = 8521,
          experiments: str = "experiments", results: str = "results") -> None:
    """Serve the explorer on ``http://host:port`` until interrupted (see :mod:`.server`).

    ``experiments`` is the folder of scenarios offered and where "save as scenario" writes
    by default; ``results`` the root of saved runs."""
    try:  # the app's dependencies are optional for the library: say so in one line
        import solara  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        from abm.errors import ConfigError

        raise ConfigError("app", "", str(exc), "the app needs Solara: pip install -e "
                          "'.[app]'") from None
    from .server import serve as _serve

    _serve(config, host=host, port=port, experiments=experiments, results=results)
