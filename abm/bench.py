"""``abm bench``: throughput of the core, the Mesa engine, workers and sweeps, in one process.

Every figure is measured in this run, repetitions interleaved (so drift in the machine's
load hits every case alike) and the median reported. Ratios compare numbers from the same
run. Nothing here passes or fails: absolute speeds depend on the machine; see
``docs/performance.md`` for how to read the table.

An agent-step is one state in one trial for one month.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .experiment.simulate import DEFAULT_CHUNK_TRIALS, simulate
from .model.compile import compile_scenario
from .model.numpy_engine import run_blocks
from .model.rng import BLOCK_SIZE, MonthDraws, block_generators, draw_month, resolve_seed
from .scenario import load_scenario

__all__ = ["run_bench"]

ROOT = Path(__file__).resolve().parents[1]


def _baseline() -> Path:
    for cand in (Path("experiments/baseline_2021.toml"), ROOT / "experiments/baseline_2021.toml"):
        if cand.is_file():
            return cand
    raise FileNotFoundError("experiments/baseline_2021.toml (run from the repository root)")


def _core_seconds(cm: Any, root: Any, trials: int, chunk_trials: int,
                  kernel: str | None = None) -> float:
    """The engine alone, chunked as ``simulate`` chunks it, one thread."""
    n_blocks = math.ceil(trials / BLOCK_SIZE)
    per = max(1, chunk_trials // BLOCK_SIZE)
    t0 = time.perf_counter()
    for b in range(0, n_blocks, per):
        run_blocks(cm, root, b, min(per, n_blocks - b), trials, kernel)
    return time.perf_counter() - t0


def _compile_seconds() -> float:
    """Seconds of the first compiled-kernel call in a fresh process with an empty numba
    cache, less a second call's (what a first run pays once; later processes load the
    cache)."""
    code = ("import time, numpy as np; from abm.bench import _baseline; "
            "from abm.scenario import load_scenario; "
            "from abm.model.compile import compile_scenario; "
            "from abm.model.numpy_engine import run_blocks; "
            "cm = compile_scenario(load_scenario(_baseline())); r = np.random.SeedSequence(1); "
            "t1 = time.perf_counter(); run_blocks(cm, r, 0, 1, 1000, 'compiled'); "
            "t2 = time.perf_counter(); run_blocks(cm, r, 0, 1, 1000, 'compiled'); "
            "t3 = time.perf_counter(); print((t2 - t1) - (t3 - t2))")
    with tempfile.TemporaryDirectory() as td:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "NUMBA_CACHE_DIR": td},
                           cwd=ROOT if ROOT.is_dir() else None)
    if r.returncode != 0:
        raise RuntimeError(f"the compile-time benchmark failed: {r.stderr.strip()}")
    return float(r.stdout.strip().splitlines()[-1])


def _rng_seconds(cm: Any, root: Any, trials: int, chunk_trials: int) -> float:
    """Exactly the generator calls the core makes for ``trials`` (abm.model.rng.draw_month)."""
    n_blocks = math.ceil(trials / BLOCK_SIZE)
    per = max(1, chunk_trials // BLOCK_SIZE)
    t0 = time.perf_counter()
    for b in range(0, n_blocks, per):
        nb = min(per, n_blocks - b)
        gens = [block_generators(root, k) for k in range(b, b + nb)]
        out = MonthDraws.empty(nb * BLOCK_SIZE, cm.S, cm.noise_on)
        for _ in range(cm.T):
            draw_month(gens, out)
    return time.perf_counter() - t0


def _median_runs(cases: dict[str, Any], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for k, fn in cases.items():
            times[k].append(fn())
    return {k: statistics.median(v) for k, v in times.items()}


def _peak_rss_mb(trials: int, workdir: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall seconds of ``abm run`` of the baseline, results written."""
    code = ("import resource, sys; from abm.cli import main; rc = main(sys.argv[1:]); "
            "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "file=sys.stderr); sys.exit(rc)")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, "run", str(_baseline()), "--trials",
                        str(trials), "--seed", "1", "--workers", "1", "--quiet", "--out",
                        str(workdir / f"rss{trials}")], capture_output=True, text=True,
                       cwd=ROOT if ROOT.is_dir() else None)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"abm run for the RSS benchmark failed: {r.stderr.strip()}")
    kb = int(next(line.split()[1] for line in r.stderr.splitlines() if line.startswith("MAXRSS")))
    return kb / 1024.0, wall


def run_bench(quick: bool = False, out: Path | None = None, log=print) -> dict[str, Any]:
    """Run the benchmarks; return (and optionally write) the results dict."""
    sc = load_scenario(_baseline())
    cm = compile_scenario(sc)
    root = resolve_seed(1)
    steps_per_trial = cm.S * cm.T
    sizes = [1_000, 10_000, 100_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    repeats = 3
    res: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "scenario": sc.name, "states": cm.S, "months": cm.T, "quick": quick,
        "chunk_trials": DEFAULT_CHUNK_TRIALS,
    }
    from .model.kernels import DEFAULT_KERNEL, kernel_version

    res["kernel"] = DEFAULT_KERNEL
    res["kernel_version"] = kernel_version()
    log("compile time: first call of the compiled kernel, fresh process, empty cache")
    res["compile_s"] = _compile_seconds()
    run_blocks(cm, root, 0, 1, 1000)  # warm up imports and caches
    run_blocks(cm, root, 0, 1, 1000, "numpy")

    # 1. core throughput by trial count (the default, compiled kernel), the numpy reference
    #    kernel at 100,000, and the random-number floor, interleaved
    big = [n for n in sizes if n >= 100_000]
    cases: dict[str, Any] = {}
    for n in sizes:
        cases[f"core_{n}"] = (lambda n=n: _core_seconds(cm, root, n, DEFAULT_CHUNK_TRIALS))
    for n in big:
        cases[f"rng_{n}"] = (lambda n=n: _rng_seconds(cm, root, n, DEFAULT_CHUNK_TRIALS))
    cases["reference_100000"] = (lambda: _core_seconds(cm, root, 100_000, DEFAULT_CHUNK_TRIALS,
                                                       "numpy"))
    log(f"core and random-number floor: {sizes} trials, median of {repeats} interleaved runs")
    med = _median_runs(cases, repeats)
    core = {n: n * steps_per_trial / med[f"core_{n}"] for n in sizes}
    floor = {n: n * steps_per_trial / med[f"rng_{n}"] for n in big}
    res["core_by_trials"] = {str(n): core[n] for n in sizes}
    res["rng_floor_by_trials"] = {str(n): floor[n] for n in big}
    ref_n = 1_000_000 if 1_000_000 in core else 100_000
    res["core_agent_steps_per_s"] = core[ref_n]
    res["core_agent_steps_per_s_trials"] = ref_n
    res["core_over_rng_floor"] = core[ref_n] / floor[ref_n]
    res["core_over_rng_floor_by_trials"] = {str(n): core[n] / floor[n] for n in big}
    for n in big:
        res[f"core_over_rng_floor_1e{round(math.log10(n))}"] = core[n] / floor[n]
    if 1_000_000 in core:
        res["core_1e6_over_1e5"] = core[1_000_000] / core[100_000]
    res["reference_agent_steps_per_s"] = 100_000 * steps_per_trial / med["reference_100000"]
    res["core_over_reference"] = core[100_000] / res["reference_agent_steps_per_s"]
    res["small_over_large"] = core[1_000] / core[100_000]

    # 2. Mesa engine
    from .model.mesa_engine import run_blocks_mesa

    mesa_trials = 50 if quick else 300
    mcases = {
        "mesa": lambda: _timeit(lambda: run_blocks_mesa(cm, root, 0, 1, mesa_trials)),
        "core": lambda: _core_seconds(cm, root, 100_000, DEFAULT_CHUNK_TRIALS),
    }
    log(f"Mesa engine: {mesa_trials} trials against the core at 100,000, interleaved")
    mm = _median_runs(mcases, 3 if not quick else 1)
    mesa_rate = mesa_trials * steps_per_trial / mm["mesa"]
    core_rate = 100_000 * steps_per_trial / mm["core"]
    res["mesa_agent_steps_per_s"] = mesa_rate
    res["mesa_trials"] = mesa_trials
    res["core_over_mesa"] = core_rate / mesa_rate

    # 3. workers: the whole simulate() call with 1 and 2 workers, as a user runs it (threads
    #    with the compiled kernel)
    wtrials = 100_000 if quick else 400_000
    wcases = {f"w{w}": (lambda w=w: _timeit(lambda: simulate(sc, trials=wtrials, seed=1,
                                                             workers=w)))
              for w in (1, 2)}
    log(f"workers: simulate() of {wtrials:,} trials with 1 and 2 workers (threads)")
    wm = _median_runs(wcases, 1 if quick else 3)
    res["workers_trials"] = wtrials
    res["workers1_agent_steps_per_s"] = wtrials * steps_per_trial / wm["w1"]
    res["workers2_agent_steps_per_s"] = wtrials * steps_per_trial / wm["w2"]
    res["workers2_over_workers1"] = wm["w1"] / wm["w2"]

    # 4. sweep throughput at 1,000 trials per point (the shipped grid)
    from .experiment.executors import Executor
    from .experiment.sweep import load_experiment, run_sweep

    grid = _baseline().parent / "pressure_x_spillover.toml"
    exp = load_experiment(grid, ["sweep.trials_per_point=1000"])
    with tempfile.TemporaryDirectory() as td:
        def sweep(w: int, kernel: str | None = None) -> float:
            return _timeit(lambda: run_sweep(
                exp, out_dir=Path(td) / f"s{w}{kernel}-{time.perf_counter_ns()}",
                executor=Executor("threads" if w > 1 else "inprocess", w), kernel=kernel))

        scases = {"s1": lambda: sweep(1), "s2": lambda: sweep(2),
                  "ref": lambda: sweep(1, "numpy")}
        log(f"sweep: {exp.n_points} points x 1,000 trials, 1 and 2 workers; and the numpy "
            "reference kernel with 1")
        sm = _median_runs(scases, 1 if quick else 3)
    res["sweep_points"] = exp.n_points
    res["sweep_points_per_s_workers1"] = exp.n_points / sm["s1"]
    res["sweep_points_per_s_workers2"] = exp.n_points / sm["s2"]
    res["sweep_points_per_s"] = max(res["sweep_points_per_s_workers1"],
                                    res["sweep_points_per_s_workers2"])
    res["sweep_points_per_s_reference"] = exp.n_points / sm["ref"]
    res["sweep_over_reference"] = sm["ref"] / sm["s1"]

    # 5. peak memory of a large run, results written (a fresh process)
    rss_trials = 200_000 if quick else 1_000_000
    log(f"peak RSS: abm run of {rss_trials:,} trials, results and figures written")
    with tempfile.TemporaryDirectory() as td:
        rss, wall = _peak_rss_mb(rss_trials, Path(td))
    res[f"peak_rss_mb_{'1e6' if rss_trials == 1_000_000 else '2e5'}"] = rss
    res["peak_rss_run_wall_s"] = wall
    if rss_trials != 1_000_000:
        res["peak_rss_mb_1e6"] = None  # measured only without --quick
    res["targets"] = {
        "core_over_mesa >= 150": res["core_over_mesa"] >= 150,
        "core_over_rng_floor >= 0.6": res["core_over_rng_floor"] >= 0.6,
        "core_over_reference >= 2": res["core_over_reference"] >= 2,
        "small_over_large >= 0.5": res["small_over_large"] >= 0.5,
        "workers2_over_workers1 >= 1.8": res["workers2_over_workers1"] >= 1.8,
        "sweep_over_reference >= 2": res["sweep_over_reference"] >= 2,
    }
    for n in big:
        key = f"core_over_rng_floor_1e{round(math.log10(n))}"
        res["targets"][f"{key} >= 0.6"] = res[key] >= 0.6
    if "core_1e6_over_1e5" in res:
        res["targets"]["core_1e6 within 10% of core_1e5"] = res["core_1e6_over_1e5"] >= 0.9
    if res.get("peak_rss_mb_1e6") is not None:
        res["targets"]["peak_rss_mb_1e6 < 1024"] = res["peak_rss_mb_1e6"] < 1024
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")
    return res


def _timeit(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def format_bench(res: dict[str, Any]) -> str:
    """The results as the table of ``docs/performance.md``."""
    rows = [("measure", "value"), ("kernel", f"{res['kernel']} ({res['kernel_version']})")]
    for n, v in res["core_by_trials"].items():
        rows.append((f"core, {int(n):,} trials (agent-steps/s)", f"{v:,.0f}"))
    for n, v in res["rng_floor_by_trials"].items():
        rows.append((f"random-number floor, {int(n):,} trials (agent-steps/s)", f"{v:,.0f}"))
    rows += [
        (f"core / floor at {res['core_agent_steps_per_s_trials']:,} trials",
         f"{res['core_over_rng_floor']:.2f}"),
    ]
    if "core_1e6_over_1e5" in res:
        rows.append(("core at 1e6 / core at 1e5", f"{res['core_1e6_over_1e5']:.2f}"))
    rows += [
        ("numpy reference kernel, 100,000 trials (agent-steps/s)",
         f"{res['reference_agent_steps_per_s']:,.0f}"),
        ("compiled / reference kernel, 100,000 trials", f"{res['core_over_reference']:.2f}"),
        ("core at 1,000 trials / at 100,000", f"{res['small_over_large']:.2f}"),
        ("first-call compile time, empty cache (s)", f"{res['compile_s']:.1f}"),
        (f"Mesa engine, {res['mesa_trials']} trials (agent-steps/s)",
         f"{res['mesa_agent_steps_per_s']:,.0f}"),
        ("core / Mesa", f"{res['core_over_mesa']:,.0f}x"),
        (f"simulate(), {res['workers_trials']:,} trials, 1 worker (agent-steps/s)",
         f"{res['workers1_agent_steps_per_s']:,.0f}"),
        ("... 2 workers (agent-steps/s)", f"{res['workers2_agent_steps_per_s']:,.0f}"),
        ("2 workers / 1 worker", f"{res['workers2_over_workers1']:.2f}"),
        (f"sweep, {res['sweep_points']} points x 1,000 trials, 1 worker (points/s)",
         f"{res['sweep_points_per_s_workers1']:.2f}"),
        ("... 2 workers (points/s)", f"{res['sweep_points_per_s_workers2']:.2f}"),
        ("... numpy reference kernel, 1 worker (points/s)",
         f"{res['sweep_points_per_s_reference']:.2f}"),
        ("sweep, compiled / reference kernel", f"{res['sweep_over_reference']:.2f}"),
    ]
    for k in ("peak_rss_mb_1e6", "peak_rss_mb_2e5"):
        if res.get(k) is not None:
            rows.append((f"peak RSS, {k[-3:]} trials, results written (MB)", f"{res[k]:,.0f}"))
    w = max(len(a) for a, _ in rows)
    lines = [f"| {a:<{w}} | {b:>14} |" for a, b in rows]
    lines.insert(1, f"|{'-' * (w + 2)}|{'-' * 16}|")
    lines.append("")
    lines += [f"target {k}: {'met' if v else 'NOT met'}" for k, v in res["targets"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller sizes; under a minute")
    p.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    args = p.parse_args(argv)
    res = run_bench(quick=args.quick, out=args.out, log=lambda m: print(m, file=sys.stderr))
    print(format_bench(res))
    if args.out:
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
