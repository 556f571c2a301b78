"""Agent-steps per second of the two engines, measured in one process.

The numpy core runs the baseline scenario at 10,000 trials, the Mesa engine at 200 (it
is two to three orders of magnitude slower, being one Python object per state and
trial). Each is timed three times, interleaved so that drift in the machine's load hits
both alike, and the medians are reported. Only the engine is timed
(:func:`abm.model.numpy_engine.run_blocks` / :func:`abm.model.mesa_engine.run_blocks_mesa`
over the run's blocks); loading, compiling and summarising are left out. An agent-step is
one state in one trial for one month.

Run ``python -m benchmarks.engines`` from the repository root. Nothing here is a pass/fail
check: absolute times depend on the machine; the ratio is the number to compare.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

from abm.model.compile import compile_scenario
from abm.model.mesa_engine import run_blocks_mesa
from abm.model.numpy_engine import run_blocks
from abm.model.rng import BLOCK_SIZE, resolve_seed
from abm.scenario import load_scenario

BASELINE = Path(__file__).resolve().parents[1] / "experiments" / "baseline_2021.toml"
NUMPY_TRIALS = 10_000
MESA_TRIALS = 200
REPEATS = 3


def _time(fn, cm, root, trials: int) -> float:
    n_blocks = math.ceil(trials / BLOCK_SIZE)
    t0 = time.perf_counter()
    fn(cm, root, 0, n_blocks, trials)
    return time.perf_counter() - t0


def main() -> None:
    """Time both engines and print agent-steps per second and their ratio."""
    sc = load_scenario(BASELINE)
    cm = compile_scenario(sc)
    root = resolve_seed(sc.seed)
    per_trial = cm.S * cm.T
    runs = {"numpy": [], "mesa": []}
    for _ in range(REPEATS):
        runs["numpy"].append(_time(run_blocks, cm, root, NUMPY_TRIALS))
        runs["mesa"].append(_time(run_blocks_mesa, cm, root, MESA_TRIALS))
    trials = {"numpy": NUMPY_TRIALS, "mesa": MESA_TRIALS}
    rate = {}
    print(f"scenario {sc.name}: {cm.S} states x {cm.T} months; median of {REPEATS} "
          "interleaved runs")
    for name in ("numpy", "mesa"):
        med = statistics.median(runs[name])
        rate[name] = trials[name] * per_trial / med
        times = ", ".join(f"{x:.3f}" for x in runs[name])
        print(f"  {name:5s} {trials[name]:>6d} trials  median {med:8.3f} s  "
              f"({times})  {rate[name]:12,.0f} agent-steps/s")
    print(f"  numpy / mesa throughput ratio: {rate['numpy'] / rate['mesa']:,.0f}x")


if __name__ == "__main__":
    main()
