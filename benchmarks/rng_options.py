"""What the random numbers of one agent-step cost, by generator and precision.

The core draws, per trial and month: 3 uniforms per state (incidents, decision, consent),
1 uniform per trial (drills) and 2 normals per state (noise). This script times exactly
that pattern for 6 states and 16,000 trials per call, with PCG64 (the project's generator),
SFC64 and Philox, in float64 and float32, interleaved, medians of 5 rounds, and prints
agent-steps per second of the draws alone. Run: ``.venv/bin/python -m benchmarks.rng_options``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

N, S, MONTHS = 16_000, 6, 36


def _month(g: np.random.Generator, dtype: type, out: dict[str, np.ndarray]) -> None:
    g.random(out=out["u3"][0], dtype=dtype)
    g.random(out=out["u1"], dtype=dtype)
    g.standard_normal(out=out["z"][0], dtype=dtype)
    g.standard_normal(out=out["z"][1], dtype=dtype)
    g.random(out=out["u3"][1], dtype=dtype)
    g.random(out=out["u3"][2], dtype=dtype)


def main() -> None:
    cases = {}
    for name, bitgen in (("PCG64", np.random.PCG64), ("SFC64", np.random.SFC64),
                         ("Philox", np.random.Philox)):
        for dtype in (np.float64, np.float32):
            out = {"u3": np.empty((3, N, S), dtype), "u1": np.empty(N, dtype),
                   "z": np.empty((2, N, S), dtype)}
            g = np.random.Generator(bitgen(1))
            cases[f"{name} {np.dtype(dtype).name}"] = (g, dtype, out)
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(5):
        for k, (g, dtype, out) in cases.items():
            t0 = time.perf_counter()
            for _m in range(MONTHS):
                _month(g, dtype, out)
            times[k].append(time.perf_counter() - t0)
    base = None
    print(f"draws of {N:,} trials x {S} states x {MONTHS} months, median of 5")
    for k, v in times.items():
        rate = N * S * MONTHS / statistics.median(v)
        base = base or rate
        print(f"  {k:16s} {rate:14,.0f} agent-steps/s  ({rate / base:.2f}x PCG64 float64)")


if __name__ == "__main__":
    main()
