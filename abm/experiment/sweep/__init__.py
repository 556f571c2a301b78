"""Parameter sweeps and global sensitivity from experiment files: the spec
(:mod:`.spec`), the run (:mod:`.run`) and the assembly of its results (:mod:`.assemble`)."""

from .assemble import SWEEP_FILES, sweep_sensitivity
from .result import SweepResult, sweep
from .run import CHUNK_ROWS, SweepInterrupted, plan_chunks, run_sweep, run_tasks, sweep_chunk
from .spec import (
           DESIGNS,
           SWEEP_KEYS,
           Experiment,
           Parameter,
           SweepSpec,
           design_matrix,
           load_experiment,
)

__all__ = ["CHUNK_ROWS", "DESIGNS", "SWEEP_FILES", "SWEEP_KEYS", "Experiment", "Parameter",
           "SweepInterrupted", "SweepResult", "SweepSpec", "design_matrix", "load_experiment",
           "plan_chunks", "run_sweep", "run_tasks", "sweep", "sweep_chunk", "sweep_sensitivity"]
