"""Shared fixtures. Tests run from the repository root (see pyproject's testpaths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abm.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parent.parent
#: The scenario most tests run: the 2021 baseline as it was hand-fitted, with typed stances
#: (frozen, so that a new calibration of experiments/baseline_2021.toml does not move the
#: regression pins); tests of the shipped file use SHIPPED_BASELINE.
BASELINE = ROOT / "tests" / "data" / "baseline_2021_handfit.toml"
SHIPPED_BASELINE = ROOT / "experiments" / "baseline_2021.toml"


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


def write_calibration(path: Path, columns: dict, weights=None, *, calibration_id: str =
                      "0123456789ab", name: str = "test", seed: int = 1) -> Path:
    """A calibration directory as ``abm calibrate`` writes it (the contract of
    docs/forecasts.md): ``posterior.parquet`` with one float64 column per key of
    ``columns`` (arrays of K values) and ``weight`` (default uniform), and
    ``manifest.json`` with the file's sha256."""
    import hashlib
    import json

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cols = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
    K = len(next(iter(cols.values())))
    w = np.full(K, 1.0 / K) if weights is None else np.asarray(weights, dtype=np.float64)
    pq.write_table(pa.table({**cols, "weight": w}), path / "posterior.parquet")
    sha = hashlib.sha256((path / "posterior.parquet").read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps({
        "kind": "calibration", "calibration_id": calibration_id, "name": name, "seed": seed,
        "files": {"posterior.parquet": sha}}))
    return path
