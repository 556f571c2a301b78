"""The Mesa engine agrees with the numpy core, trial by trial.

Both engines replay the same draws (:mod:`abm.model.rng`) through the same functions
(:func:`abm.model.step.month_step`), so every per-trial outcome and every per-month accumulator must
be equal; floats are compared within 1e-9 and, separately, bit for bit via
``outputs_sha256``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest

from abm.experiment.simulate import simulate
from abm.model.compile import compile_scenario
from abm.model.mesa_engine import (
    BasingModel,
    StateAgent,
    block_tape,
    influence_graph,
    model_for_trial,
    run_blocks_mesa,
)
from abm.model.numpy_engine import run_blocks
from abm.model.outcomes import ChunkResult
from abm.model.rng import BLOCK_SIZE, resolve_seed
from abm.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "experiments" / "baseline_2021.toml"
MIX = ROOT / "tests" / "data" / "mesa_mix.toml"
LIFE = ROOT / "tests" / "data" / "lifecycle_mix.toml"   # mesa_mix with the life-cycle
TRIALS = 200
FLOAT_TOL = 1e-9
INT_COLUMNS = ("trial", "first_base_month", "months_hosted", "closed", "vetoes", "incidents",
               "openings", "notices", "notices_withdrawn", "first_base_closed_month",
               "final_h")
FLOAT_COLUMNS = ("final_w", "final_p", "final_s")


def _both(path: Path, seed: int) -> tuple:
    return tuple(simulate(path, trials=TRIALS, seed=seed, engine=e, workers=1)
                 for e in ("numpy", "mesa"))


@pytest.fixture(scope="module")
def baseline_runs():
    return _both(BASELINE, seed=11)


@pytest.fixture(scope="module")
def mix_runs():
    return _both(MIX, seed=4242)


@pytest.fixture(scope="module")
def lifecycle_runs():
    return _both(LIFE, seed=4242)


def assert_tables_agree(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    pd.testing.assert_series_equal(a["state"], b["state"])
    for c in INT_COLUMNS:
        pd.testing.assert_series_equal(a[c], b[c], check_exact=True, obj=c)
    for c in FLOAT_COLUMNS:
        np.testing.assert_allclose(b[c].to_numpy(), a[c].to_numpy(), rtol=0, atol=FLOAT_TOL,
                                   err_msg=c)


def assert_chunks_equal(a: ChunkResult, b: ChunkResult) -> None:
    assert a.start == b.start
    assert set(a.outcomes) == set(b.outcomes) and set(a.acc) == set(b.acc)
    for f in [*a.outcomes, *a.acc]:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype, f
        assert x.shape == y.shape, f
        np.testing.assert_array_equal(y, x, err_msg=f)


# --------------------------------------------------------------------------- whole runs


@pytest.mark.parametrize("runs", ["baseline_runs", "mix_runs", "lifecycle_runs"])
def test_engines_agree_per_trial(runs, request):
    num, mes = request.getfixturevalue(runs)
    assert (num.engine, mes.engine) == ("numpy", "mesa")
    assert_tables_agree(num.table, mes.table)


@pytest.mark.parametrize("runs", ["baseline_runs", "mix_runs", "lifecycle_runs"])
def test_engines_agree_per_month(runs, request):
    num, mes = request.getfixturevalue(runs)
    # Every column comes from integer accumulators (histograms, fixed-point sums, host
    # counts), so the tables are equal exactly, not approximately.
    pd.testing.assert_frame_equal(num.months, mes.months, check_exact=True)


@pytest.mark.parametrize("runs", ["baseline_runs", "mix_runs", "lifecycle_runs"])
def test_engines_bit_identical(runs, request):
    num, mes = request.getfixturevalue(runs)
    assert num.outputs_sha256 == mes.outputs_sha256


def test_mix_fixture_is_not_vacuous(mix_runs):
    num, _ = mix_runs
    t = num.table
    assert (t["first_base_month"] > 0).sum() > 0          # bases opened during the run
    assert (t["first_base_month"] == 0).sum() == TRIALS   # KGZ hosts at month 0
    assert t["closed"].sum() > 0
    assert t["vetoes"].sum() > 0
    assert t["incidents"].sum() > 0
    assert t["months_hosted"].sum() > 0
    kgz0 = num.months.query("month == 0 and state == 'KGZ'")["share_hosting"]
    assert kgz0.item() == 1.0


# --------------------------------------------------------------------------- run_blocks


def test_second_block_partial_agrees():
    """Block offsets and a partial block: trials 1000 .. 1039 only."""
    sc = load_scenario(MIX)
    cm, root = compile_scenario(sc), resolve_seed(99)
    n = BLOCK_SIZE + 40
    n_ids = len(mesa.Agent._ids)
    got = run_blocks_mesa(cm, root, 1, 1, n)
    assert got.n == 40
    assert len(mesa.Agent._ids) == n_ids  # finished models are not kept alive by Mesa
    assert_chunks_equal(run_blocks(cm, root, 1, 1, n), got)


def test_block_past_last_trial_is_empty():
    sc = load_scenario(BASELINE)
    cm, root = compile_scenario(sc, horizon=3), resolve_seed(5)
    got = run_blocks_mesa(cm, root, 2, 1, 10)
    assert got.n == 0
    assert_chunks_equal(run_blocks(cm, root, 2, 1, 10), got)


def test_noise_off_and_no_consent_rule_agree():
    sc = load_scenario(MIX)
    sc = replace(sc, dynamics=replace(sc.dynamics, opinion_noise=0.0, willingness_noise=0.0),
                 csto=replace(sc.csto, consent_rule=False))
    cm, root = compile_scenario(sc), resolve_seed(3)
    assert not cm.noise_on
    assert block_tape(cm, root, 0).z_p is None
    assert_chunks_equal(run_blocks(cm, root, 0, 1, 30), run_blocks_mesa(cm, root, 0, 1, 30))


def test_lifecycle_agrees_with_either_month_step_and_agents_carry_the_phase():
    """The Mesa engine on the life-cycle fixture, running the compiled kernel's per-trial
    step or ``month_step``, equals the numpy core; each agent's ``phase`` is its row's."""
    cm, root = compile_scenario(load_scenario(LIFE)), resolve_seed(21)
    ref = run_blocks(cm, root, 0, 1, 60, kernel="numpy")
    for k in ("compiled", "numpy"):
        assert_chunks_equal(ref, run_blocks_mesa(cm, root, 0, 1, 60, kernel=k))
    seen = set()
    for trial in range(8):
        model = model_for_trial(LIFE, trial, seed=21)
        while model.running:
            model.step()
            for a in model.states:
                assert a.h == (a.phase in (2, 3))   # open or under notice
                assert a.timer >= 0 and (a.timer > 0) == (a.phase in (1, 3, 4))
                seen.add(a.phase)
    assert seen == {0, 1, 2, 3, 4}


# --------------------------------------------------------------------------- one model


def numpy_trajectory(sc, seed: int, trial: int) -> dict[str, np.ndarray]:
    """The core's ``w, p, s, h`` of one trial at the start of each month, ``(T + 1, S)``.

    The core keeps no trajectories, so it is run once per horizon ``T' = 1 .. T``; month
    ``t``'s draws do not depend on the horizon, so each run extends the same path.
    """
    root = resolve_seed(seed)
    b, row = divmod(trial, BLOCK_SIZE)
    cm = compile_scenario(sc)
    out = {"w": [cm.w_init], "p": [cm.p_init], "s": [np.zeros(cm.S)], "h": [cm.h_init]}
    for horizon in range(1, sc.horizon_months + 1):
        res = run_blocks(compile_scenario(sc, horizon=horizon), root, b, 1, trial + 1)
        for v in out:
            out[v].append(getattr(res, f"final_{v}")[row])
    return {v: np.array(x) for v, x in out.items()}


def test_model_for_trial_follows_the_core_month_by_month(mix_runs):
    sc = load_scenario(MIX)
    num = mix_runs[0].table
    # a trial in which something happens: a closure, a veto and a base opened in the run
    per_trial = num.groupby("trial")[["closed", "vetoes"]].sum()
    opened = num.loc[num["first_base_month"] > 0, "trial"].unique()
    trial = int(per_trial[(per_trial.closed > 0) & (per_trial.vetoes > 0)
                          & per_trial.index.isin(opened)].index[0])

    model = model_for_trial(MIX, trial, seed=4242)
    assert isinstance(model, BasingModel)
    assert all(isinstance(a, StateAgent) and isinstance(a, mesa.Agent) for a in model.agents)
    assert model.month == 0 and model.steps == 0
    for t in range(1, sc.horizon_months + 1):
        model.step()
        assert model.month == t and model.steps == t
    assert not model.running

    df = model.datacollector.get_agent_vars_dataframe()
    assert df.index.names == ["Step", "AgentID"]
    ref = numpy_trajectory(sc, 4242, trial)
    for v in ("w", "p", "s", "h"):
        got = df.reset_index().pivot(index="Step", columns="state", values=v)
        got = got[list(sc.state_ids)].to_numpy()
        assert got.shape == (sc.horizon_months + 1, len(sc.states))
        if v == "h":
            np.testing.assert_array_equal(got.astype(bool), ref[v], err_msg=v)
        else:
            np.testing.assert_allclose(got.astype(float), ref[v], rtol=0, atol=FLOAT_TOL,
                                       err_msg=v)

    # the model's counters are that trial's rows of the run
    rows = num[num["trial"] == trial]
    out = model.outcomes()
    np.testing.assert_array_equal(out["vetoes"], rows["vetoes"].to_numpy())
    np.testing.assert_array_equal(out["closed"], rows["closed"].to_numpy())
    np.testing.assert_array_equal(out["months_hosted"], rows["months_hosted"].to_numpy())
    fb = rows["first_base_month"].fillna(-1).to_numpy(dtype=np.int64)
    np.testing.assert_array_equal(out["first_base_month"], fb)


def test_run_steps_to_horizon_and_no_further():
    model = model_for_trial(BASELINE, 3, seed=1, months=4)
    assert model.run() is model
    assert model.month == 4 and model.steps == 4
    with pytest.raises(ValueError, match="horizon of 4 months"):
        model.step()
    assert model.steps == 4


def test_dynamics_never_use_mesa_generators():
    model = model_for_trial(MIX, 5, seed=8)
    rng_state = model.rng.bit_generator.state
    random_state = model.random.getstate()
    model.run()
    assert model.rng.bit_generator.state == rng_state
    assert model.random.getstate() == random_state


def test_mesa_seed_is_fixed_per_trial():
    a, b = model_for_trial(BASELINE, 5, seed=8), model_for_trial(BASELINE, 5, seed=8)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    c = model_for_trial(BASELINE, 6, seed=8)
    assert a.rng.bit_generator.state != c.rng.bit_generator.state


def test_seed_defaults_to_the_scenario_seed():
    sc = load_scenario(MIX)
    model = model_for_trial(sc, 0)
    assert model.seed == sc.seed


def test_network_is_the_influence_matrix():
    model = model_for_trial(MIX, 0, seed=1)
    W = model.cm.W
    G = influence_graph(model.cm)
    assert G.number_of_edges() == int(np.count_nonzero(W - np.diag(np.diag(W))))
    for agent in model.states:
        np.testing.assert_array_equal(agent.listen_weights(), W[agent.index])
        listened = {j for j in range(model.cm.S) if j != agent.index and W[agent.index, j]}
        assert set(agent.cell.connections) == listened
    tkm = model.states[model.cm.ids.index("TKM")]
    assert tkm.listen_weights()[tkm.index] == 1.0 and not tkm.cell.connections


def test_tape_layout():
    sc = load_scenario(MIX)
    cm, root = compile_scenario(sc), resolve_seed(4242)
    tape = block_tape(cm, root, 1)
    assert tape.u_threat.shape == (cm.T, BLOCK_SIZE, cm.S)
    assert tape.u_drill.shape == (cm.T, BLOCK_SIZE)
    model = model_for_trial(sc, BLOCK_SIZE + 17, seed=4242)
    row = tape.trial(17)
    for f in ("u_threat", "u_drill", "z_p", "z_w", "u_decide", "u_consent"):
        np.testing.assert_array_equal(getattr(model.tape, f), getattr(row, f), err_msg=f)


# --------------------------------------------------------------------------- errors


def test_model_for_trial_rejects_bad_trial():
    with pytest.raises(TypeError, match="trial must be an integer"):
        model_for_trial(BASELINE, 1.5)
    with pytest.raises(ValueError, match="trial must be >= 0"):
        model_for_trial(BASELINE, -1)


def test_model_rejects_short_tape():
    sc = load_scenario(BASELINE)
    root = resolve_seed(1)
    short = block_tape(compile_scenario(sc, horizon=2), root, 0).trial(0)
    with pytest.raises(ValueError, match="tape holds 2 months"):
        BasingModel(compile_scenario(sc), short)
