"""Agent-based Monte Carlo simulator of US basing decisions in Central Asia.

``import abm`` is light: it loads the scenario layer only. The simulation API, the Mesa
engine and plotting are imported when first used. The package's layers, and where a new
driver, outcome, figure or executor goes, are described in ``docs/architecture.md``.

>>> import abm
>>> sc = abm.load_scenario("experiments/baseline_2021.toml")  # doctest: +SKIP
>>> res = abm.simulate(sc, trials=2000, seed=1)                 # doctest: +SKIP
>>> res.save("results/mine")                                    # doctest: +SKIP

A walk through a notebook session: ``docs/python.md``.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError, ResultsError
from .scenario import Scenario, load_scenario, scenario_from_dict

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ResultsError",
    "Scenario",
    "SimulationResult",
    "SweepResult",
    "__version__",
    "load_scenario",
    "model_for_trial",
    "scenario_from_dict",
    "simulate",
    "sweep",
]

_LAZY = {"simulate": "experiment.simulate", "SimulationResult": "experiment.simulate",
         "model_for_trial": "model.mesa_engine", "sweep": "experiment.sweep.result",
         "SweepResult": "experiment.sweep.result"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'abm' has no attribute {name!r}")
