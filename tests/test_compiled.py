"""The compiled kernel (abm.model.compiled) against the numpy kernel
(abm.model.numpy_engine.kernel), the reference: identical integer outcomes and accumulators,
floats within 1e-12 (in practice bit for bit), on every mechanism; the single-trial step the
Mesa engine runs; thread-count invariance; the kernel recorded in manifests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from abm.experiment.executors import Executor
from abm.experiment.simulate import simulate
from abm.experiment.sweep import load_experiment, run_sweep, sweep_chunk
from abm.model import kernels
from abm.model.compile import compile_scenario, stack, take
from abm.model.compiled import KERNEL_VERSION, kernel_compiled, month_step_row, prepare
from abm.model.numpy_engine import crn_drawer, kernel, run_blocks
from abm.model.outcomes import OUTCOME_NAMES
from abm.model.rng import BLOCK_SIZE, MonthDraws, resolve_seed
from abm.model.step import initial_phase
from abm.scenario import load_scenario
from tests.conftest import BASELINE, ROOT
from tests.test_core import ACTIVE

MIX = ROOT / "tests" / "data" / "mesa_mix.toml"
LIFE = ROOT / "tests" / "data" / "lifecycle_mix.toml"   # mesa_mix with the life-cycle
GRID = ROOT / "experiments" / "pressure_x_spillover.toml"

SCENARIOS = {
    "baseline": (BASELINE, []),
    "active": (BASELINE, ACTIVE),                      # bases at month 0, vetoes, noise
    "consent_off": (BASELINE, [*ACTIVE, "csto.consent_rule=false"]),
    "mix": (MIX, []),                                  # explicit edges, shocks, drills
    "lifecycle": (LIFE, []),                           # talks, notices, cooling-off
}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.shape == y.shape and x.dtype == y.dtype, k
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(y, x, rtol=0, atol=1e-12, err_msg=k)
        else:
            np.testing.assert_array_equal(y, x, err_msg=k)


def both(bt, drawer, n: int, m: int, collect: bool, noise: bool, per_point: int = 0):
    outs = []
    P = per_point
    for k in (kernel, kernel_compiled):
        draws = MonthDraws.empty(n * max(P, 1), bt.S, noise)
        if P:
            def view(a):
                return None if a is None else a.reshape(P, n, *a.shape[1:])
            flat = draws
            draws = MonthDraws(view(flat.u_threat), view(flat.u_drill), view(flat.z_p),
                               view(flat.z_w), view(flat.u_decide), view(flat.u_consent))
            outs.append(k(bt, drawer(flat), draws, n, m, collect))
        else:
            outs.append(k(bt, drawer(draws), draws, n, m, collect))
    return outs


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_compiled_kernel_equals_numpy_kernel(name):
    path, over = SCENARIOS[name]
    cm = compile_scenario(load_scenario(path, over))
    root = resolve_seed(11)
    n = 2 * BLOCK_SIZE
    m = n - 250  # a padded last block
    a, b = both(stack([cm]), lambda _d: crn_drawer(root, 0, 2), n, m, True, cm.noise_on)
    assert_same(a, b)
    # not vacuous: the mechanisms happen
    if name in ("active", "mix", "lifecycle"):
        assert (a["first_base_month"] > 0).any() and a["closed"].any()
        assert (a["vetoes"] > 0).any() and (a["incidents"] > 0).any()
    if name == "lifecycle":
        assert (a["notices"] > 0).any() and (a["notices_withdrawn"] > 0).any()
        assert (a["openings"] > 1).any()  # re-opened after a closure and a cooling-off
    else:  # the memoryless rule: a base ends at once
        assert not a["notices"].any()
    # and in practice the floats are the same bits
    for k in ("final_w", "final_p", "final_s"):
        np.testing.assert_array_equal(b[k], a[k])


def _points(over_list):
    return stack([compile_scenario(load_scenario(BASELINE, [*ACTIVE, *o])) for o in over_list])


POINTS = [[], ["russia.pressure=0.6"], ["csto.consent_rule=false"],
          ["spillover.rate=2.0", "dynamics.willingness_noise=0.0"],
          ["us.demand=0.3", "russia.veto_strength=0.9"]]


def test_sweep_points_common_random_numbers():
    bt = _points(POINTS)
    root = resolve_seed(3)
    n = BLOCK_SIZE
    a, b = both(bt, lambda _d: crn_drawer(root, 0, 1), n, 900, True, bt.noise_on)
    assert_same(a, b)


def test_sweep_points_own_draws_and_sweep_chunk():
    from abm.model.rng import block_generators, draw_month

    bt = _points(POINTS)
    P, n = bt.P, BLOCK_SIZE

    def drawer(flat):
        gens = [block_generators(np.random.SeedSequence(5, spawn_key=(q,)), 0)
                for q in range(P)]
        return lambda _d: draw_month(gens, flat)

    a, b = both(bt, drawer, n, n, False, bt.noise_on, per_point=P)
    assert_same(a, b)
    for crn in (True, False):
        x = sweep_chunk(take(bt, slice(1, 4)), 9, (), 1, 0, 2, 1500, crn, kernel="numpy")
        y = sweep_chunk(take(bt, slice(1, 4)), 9, (), 1, 0, 2, 1500, crn, kernel="compiled")
        assert_same(x, y)


def test_grid_sweep_same_hash_with_both_kernels(tmp_path):
    exp = load_experiment(GRID, ["sweep.trials_per_point=200"])
    got = {}
    for k in ("numpy", "compiled"):
        _, summary, _ = run_sweep(exp, out_dir=tmp_path / k, executor=Executor("inprocess"),
                                  kernel=k)
        got[k] = summary["outputs_sha256"]
        manifest = json.loads((tmp_path / k / "manifest.json").read_text())
        assert manifest["kernel"] == k
        assert manifest["kernel_version"] == kernels.kernel_version(k)
    assert got["numpy"] == got["compiled"]


def test_simulate_outputs_sha256_identical_on_baseline():
    sc = load_scenario(BASELINE)
    got = {}
    for k in ("numpy", "compiled"):
        res = simulate(sc, trials=1500, seed=2, kernel=k)
        assert res.kernel == k and res.kernel_version == kernels.kernel_version(k)
        got[k] = res.outputs_sha256
    assert got["numpy"] == got["compiled"]
    for engine in ("mesa",):  # the Mesa engine with either kernel's month step
        for k in ("numpy", "compiled"):
            assert simulate(sc, trials=150, seed=2, engine=engine, kernel=k).outputs_sha256 \
                == simulate(sc, trials=150, seed=2, kernel="numpy").outputs_sha256


@pytest.mark.parametrize("name", ["active", "mix", "lifecycle"])
def test_month_step_row_replays_the_kernel_row(name):
    """One trial stepped alone with month_step_row ends where the kernel's row ends."""
    path, over = SCENARIOS[name]
    cm = compile_scenario(load_scenario(path, over))
    root = resolve_seed(4)
    n, S = BLOCK_SIZE, cm.S
    tape = []
    draw = crn_drawer(root, 0, 1)
    d = MonthDraws.empty(n, S, cm.noise_on)
    for _ in range(cm.T):
        draw(d)
        tape.append({k: None if v is None else v.copy() for k, v in vars(d).items()})
    ref = kernel(stack([cm]), crn_drawer(root, 0, 1), MonthDraws.empty(n, S, cm.noise_on),
                 n, n, False)
    pr = prepare(stack([cm]))
    for row in (0, 17, 999):
        h = cm.h_init.copy()
        st = {"w": cm.w_init.copy(), "p": cm.p_init.copy(), "s": np.zeros(S), "h": h,
              "pulse": np.zeros(1), "phase": initial_phase(h),
              "timer": np.zeros(S, np.int32),
              "first_base_month": np.where(h, 0, -1).astype(np.int32),
              "months_hosted": np.zeros(S, np.int32), "closed": np.zeros(S, bool),
              "vetoes": np.zeros(S, np.int32), "incidents": np.zeros(S, np.int64),
              "openings": np.zeros(S, np.int32), "notices": np.zeros(S, np.int32),
              "notices_withdrawn": np.zeros(S, np.int32),
              "first_base_closed_month": np.full(S, -1, np.int32)}
        for t in range(cm.T):
            month_step_row(pr, t, st, {k: None if v is None else v[row]
                                       for k, v in tape[t].items()})
        for k in OUTCOME_NAMES:
            got = st[k[len("final_"):] if k.startswith("final_") else k]
            np.testing.assert_array_equal(got, ref[k][0, row], err_msg=f"{k} row {row}")


def test_threads_do_not_change_results():
    """simulate on 1 and 2 threads, and on small chunks, equals the reference in process."""
    sc = load_scenario(MIX)
    ref = simulate(sc, trials=2600, seed=8, kernel="numpy", workers=1)
    for ex in (Executor("threads", 1), Executor("threads", 2), Executor("threads", 3)):
        got = simulate(sc, trials=2600, seed=8, executor=ex, chunk_trials=1000)
        assert got.executor["kind"] == "threads"
        assert got.outputs_sha256 == ref.outputs_sha256
        pd.testing.assert_frame_equal(got.months, ref.months)
    # the default for workers > 1 with the compiled kernel is threads, not processes
    assert simulate(sc, trials=1000, seed=8, workers=2).executor["kind"] == "threads"
    assert simulate(sc, trials=1000, seed=8, workers=2, kernel="numpy"
                    ).executor["kind"] == "pool"


def test_run_blocks_kernel_argument():
    cm = compile_scenario(load_scenario(MIX))
    root = resolve_seed(8)
    a = run_blocks(cm, root, 0, 3, 2600, kernel="numpy")
    b = run_blocks(cm, root, 0, 3, 2600, kernel="compiled")
    assert_same(a.outcomes, b.outcomes)
    assert_same(a.acc, b.acc)


def test_thread_executor_sweep_matches_inprocess(tmp_path):
    exp = load_experiment(GRID, ["sweep.trials_per_point=100"])
    _, a, _ = run_sweep(exp, out_dir=tmp_path / "a", executor=Executor("inprocess"))
    _, b, _ = run_sweep(exp, out_dir=tmp_path / "b", executor=Executor("threads", 2))
    assert a["outputs_sha256"] == b["outputs_sha256"]


def test_kernel_selection():
    assert kernels.get_kernel("numpy") is kernel
    assert kernels.get_kernel("compiled") is kernel_compiled
    assert kernels.get_kernel() is kernel_compiled and kernels.DEFAULT_KERNEL == "compiled"
    assert KERNEL_VERSION.startswith("numba-")
    assert kernels.kernel_version("numpy") == "numpy-1"
    with pytest.raises(ValueError):
        kernels.get_kernel("fortran")
