"""Calibration to the episode library by ABC-SMC: ``abm calibrate`` (docs/calibration.md).

:mod:`.spec` reads and checks a calibration file; :mod:`.evaluate` simulates batches of
particles on the episodes; :mod:`.smc` is the sampler; :mod:`.run` checkpoints, runs the
predictive check and writes the calibration directory.
"""

from .run import CalibrationInterrupted, read_calibration, run_calibration
from .spec import Calibration, load_calibration

__all__ = ["Calibration", "CalibrationInterrupted", "load_calibration", "read_calibration",
           "run_calibration"]
