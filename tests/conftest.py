"""Shared fixtures. Tests run from the repository root (see pyproject's testpaths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abm.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "experiments" / "baseline_2021.toml"


def quiet_dynamics(**over):
    """A [dynamics] table with noise off (deterministic willingness and opinion)."""
    d = {"opinion_noise": 0.0, "willingness_noise": 0.0}
    d.update(over)
    return d


def make(states, **top):
    """Build a validated Scenario from plain dicts (name defaults to 'test')."""
    raw = {"name": "test", "states": states}
    raw.update(top)
    return scenario_from_dict(raw)


def load_script(name: str):
    """A script of ``docs/scripts/`` as a module (they are not a package)."""
    import importlib.util

    path = ROOT / "docs" / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_scripts_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def baseline_path() -> Path:
    return BASELINE
