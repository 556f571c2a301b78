"""Agent-based Monte Carlo simulator of US basing decisions in Central Asia.

``import abm`` is light: it loads the configuration layer only. The simulation API, the
Mesa engine and plotting are imported when first used.

>>> import abm
>>> sc = abm.load_scenario("experiments/baseline_2021.toml")  # doctest: +SKIP
>>> res = abm.simulate(sc, trials=2000, seed=1)                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .config import Scenario, load_scenario, scenario_from_dict
from .errors import ConfigError, ResultsError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ResultsError",
    "Scenario",
    "SimulationResult",
    "__version__",
    "load_scenario",
    "scenario_from_dict",
    "simulate",
]

_LAZY = {"simulate": "runner", "SimulationResult": "runner"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'abm' has no attribute {name!r}")
