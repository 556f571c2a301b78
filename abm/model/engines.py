"""The engines behind one small registry, and the unit of work a worker runs.

An engine simulates a range of random-number blocks of one compiled scenario and returns
a :class:`~abm.model.outcomes.ChunkResult`; every engine follows the draw contract of
:mod:`abm.model.rng` and calls :func:`abm.model.step.month_step`, so they agree trial by
trial. A new engine is one entry in :data:`ENGINES` (a module and a function name; the
module is imported only when the engine is used, so workers of the numpy engine never
import Mesa).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

import numpy as np

from .compile import Compiled
from .outcomes import ChunkResult

__all__ = ["ENGINES", "engine_names", "engine", "chunk_task"]

#: name -> (module, function). The function has the signature of
#: :func:`abm.model.numpy_engine.run_blocks` (the kernel's name the sixth argument).
ENGINES: dict[str, tuple[str, str]] = {
    "numpy": ("abm.model.numpy_engine", "run_blocks"),
    "mesa": ("abm.model.mesa_engine", "run_blocks_mesa"),
}


def engine_names() -> tuple[str, ...]:
    return tuple(ENGINES)


def engine(name: str) -> Callable[..., ChunkResult]:
    """The block runner of engine ``name`` (``KeyError`` if there is none)."""
    module, fn = ENGINES[name]
    return getattr(import_module(module), fn)


def chunk_task(name: str, kernel: str | None, cm: Compiled, entropy: Any,
               spawn_key: tuple[int, ...], first_block: int, n_blocks: int, n_trials: int
               ) -> ChunkResult:
    """A unit of work for a worker (thread, process or Dask): blocks of one run, by engine
    and kernel name (:mod:`abm.model.kernels`).

    It takes the seed as plain data (entropy and spawn key) so that it pickles small, and
    lives in the model layer so that a worker imports only numpy and the model.
    """
    root = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    return engine(name)(cm, root, first_block, n_blocks, n_trials, kernel)
