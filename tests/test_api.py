"""The public Python surface: pinned names, a light import, documented entry points."""

from __future__ import annotations

import subprocess
import sys

import abm


def test_all_is_pinned():
    assert abm.__all__ == [
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
    for name in abm.__all__:
        assert getattr(abm, name) is not None


def test_import_abm_is_light():
    """`import abm` loads the configuration layer only: no pandas, scipy.stats,
    matplotlib, mesa or dask until a simulation or a figure needs them."""
    code = ("import sys, abm; heavy = [m for m in ('pandas', 'scipy.stats', 'matplotlib', "
            "'mesa', 'dask', 'SALib') if m in sys.modules]; print(','.join(heavy))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_simulate_is_the_function_not_a_module():
    from abm.experiment.simulate import simulate

    assert abm.simulate is simulate and callable(abm.simulate)
