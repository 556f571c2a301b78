"""The base life-cycle (negotiation, notice, cooling-off) on cases with known answers.

Hand-made draws through :func:`abm.model.step.month_step` (and the compiled kernel's
:func:`~abm.model.compiled.month_step_row` on the same draws), deterministic runs whose
probabilities are 0 or 1 to within 1e-9, the memoryless rule recovered bit for bit when the
new keys are 0 (pinned to the hashes of the code before the life-cycle), and one statistical
test against the exact Markov chain of the phases.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from abm.analysis.stats import km_median_ci
from abm.errors import ConfigError
from abm.experiment.simulate import simulate
from abm.model import outcomes as oc
from abm.model.compile import compile_scenario, stack
from abm.model.compiled import month_step_row, prepare
from abm.model.dynamics import COOLING, FREE, NOTICE, OPEN, TALKS
from abm.model.rng import MonthDraws
from abm.model.step import initial_state, month_step, new_record, update_record
from abm.scenario import load_scenario, scenario_from_dict
from tests.conftest import BASELINE, ROOT

MIX = ROOT / "tests" / "data" / "mesa_mix.toml"

# u_decide values against w = 0.9, threshold 0.6, close_threshold 0.2, width 0.08:
# agreement/withdrawal curve sigma(3.75) = 0.977, closure curve sigma(-8.75) = 1.6e-4
EVENT = 0.0      # below every curve: an agreement, a closure, a breakdown, a withdrawal
AGREE = 0.5      # an agreement (or a withdrawal), but no closure and no breakdown
NOTHING = 0.99   # above every curve


def scenario(*, w: float = 0.9, host: bool = False, horizon: int = 12, demand: float = 1.0,
             **dyn: float):
    """One state whose willingness stays at ``w`` (stubbornness 1, no forces, no noise)."""
    return scenario_from_dict({
        "name": "lifecycle", "horizon_months": horizon, "us": {"demand": demand},
        "csto": {"consent_rule": False},
        "dynamics": {"opinion_noise": 0.0, "willingness_noise": 0.0, "threshold": 0.6,
                     "close_threshold": 0.2, "decision_width": 0.08, **dyn},
        "states": [{"id": "A", "willingness": w, "stubbornness": 1.0, "hosting": host}],
    })


def trace(sc, us: list[float]) -> dict[str, list]:
    """Step month by month with ``u_decide = us[t]`` (other draws inert); return ``h``,
    the phase and the events after each month, and the final record. The compiled kernel's
    per-trial step runs on the same draws and must agree at every month."""
    bt = stack([compile_scenario(sc, horizon=len(us))])
    x = initial_state(bt, 1)
    rec = new_record(x)
    pr = prepare(bt)
    row = {"w": x.w[0, 0].copy(), "p": x.p[0, 0].copy(), "s": x.s[0, 0].copy(),
           "h": x.h[0, 0].copy(), "pulse": np.zeros(1), "phase": x.phase[0, 0].copy(),
           "timer": x.timer[0, 0].copy(), **{k: v[0, 0].copy() for k, v in rec.items()}}
    out: dict[str, list] = {"h": [], "phase": [], "timer": [], "opened": [], "closed": [],
                            "notice": [], "withdrawn": []}
    for t, u in enumerate(us):
        d = MonthDraws(np.full((1, 1), 0.5), np.full(1, 0.5), None, None,
                       np.full((1, 1), u), np.zeros((1, 1)))
        x, ev = month_step(x, bt, t, d)
        update_record(rec, ev, x, t)
        month_step_row(pr, t, row, {"u_threat": np.full(1, 0.5), "u_drill": 0.5,
                                    "u_decide": np.full(1, u), "u_consent": np.zeros(1)})
        for k in ("h", "phase", "timer"):
            out[k].append(getattr(x, k)[0, 0, 0].item())
            assert row[k][0] == out[k][-1], (k, t)
        for k in ("opened", "closed", "notice", "withdrawn"):
            out[k].append(bool(getattr(ev, k)[0, 0, 0]))
    for k, v in rec.items():
        assert row[k][0] == v[0, 0, 0], k
    out["record"] = {k: v[0, 0, 0].item() for k, v in rec.items()}
    return out


def months_where(flags: list[bool]) -> list[int]:
    return [t for t, f in enumerate(flags) if f]


# --------------------------------------------------------------------------- hand-made draws


def test_the_curves_the_draws_rely_on():
    assert expit((0.9 - 0.6) / 0.08) > AGREE and expit((0.2 - 0.9) / 0.08) < 1e-3
    assert expit((0.9 - 0.6) / 0.08) < NOTHING


@pytest.mark.parametrize("M", [1, 3, 6])
def test_a_notice_that_runs_out_closes_the_base_notice_months_later(M):
    got = trace(scenario(host=True, notice_months=M), [EVENT] + [NOTHING] * 10)
    assert months_where(got["notice"]) == [0]
    assert months_where(got["closed"]) == [M]               # given in month 0, closed in M
    assert got["h"] == [True] * M + [False] * (11 - M)       # hosting while under notice
    assert got["phase"][:M] == [NOTICE] * M and got["phase"][M] == FREE
    assert got["timer"][:M] == list(range(M, 0, -1))
    r = got["record"]
    assert r["notices"] == 1 and r["notices_withdrawn"] == 0 and r["closed"]
    assert r["first_base_closed_month"] == M + 1 and r["months_hosted"] == M
    assert r["first_base_month"] == 0 and r["openings"] == 0


def test_a_notice_withdrawn_in_time_does_not_close():
    got = trace(scenario(host=True, notice_months=3), [EVENT, NOTHING, AGREE] + [NOTHING] * 9)
    assert months_where(got["notice"]) == [0] and months_where(got["withdrawn"]) == [2]
    assert not any(got["closed"]) and all(got["h"])
    assert got["phase"] == [NOTICE, NOTICE] + [OPEN] * 10
    r = got["record"]
    assert r["notices"] == 1 and r["notices_withdrawn"] == 1 and not r["closed"]
    assert r["first_base_closed_month"] == -1 and r["months_hosted"] == 12
    # withdrawn, the base can be given notice again, and this time it runs out
    got = trace(scenario(host=True, notice_months=2),
                [EVENT, AGREE, EVENT, NOTHING, NOTHING, NOTHING])
    assert months_where(got["notice"]) == [0, 2] and months_where(got["closed"]) == [4]
    assert got["record"]["notices"] == 2 and got["record"]["notices_withdrawn"] == 1


def test_no_agreement_during_cooling_and_one_right_after():
    C = 4
    got = trace(scenario(host=True, cooling_months=C), [EVENT] * 8)
    assert months_where(got["closed"]) == [0, C + 2]           # closed at once (no notice)
    assert got["phase"][:C + 1] == [COOLING] * C + [FREE]      # months 1..C: no agreement
    assert got["timer"][:C + 1] == [4, 3, 2, 1, 0]
    assert months_where(got["opened"]) == [C + 1]              # month C + 1: agreed, open
    assert got["h"] == [False] * (C + 1) + [True, False, False]  # and closed again at once
    assert got["record"]["openings"] == 1 and got["record"]["first_base_closed_month"] == 1
    # without cooling the same draws re-open the base the month after it closed
    got = trace(scenario(host=True), [EVENT] * 4)
    assert got["h"] == [False, True, False, True]


@pytest.mark.parametrize("N", [1, 2, 5])
def test_negotiation_delays_the_opening_by_negotiation_months(N):
    got = trace(scenario(negotiation_months=N), [AGREE] + [NOTHING] * 8)
    assert months_where(got["opened"]) == [N]                  # agreed in 0, open at end of N
    assert got["h"] == [False] * N + [True] * (9 - N)
    assert got["phase"][:N] == [TALKS] * N and got["timer"][:N] == list(range(N, 0, -1))
    assert got["record"]["first_base_month"] == N + 1 and got["record"]["openings"] == 1
    # the talks break down (the closure curve) and start again from the beginning
    got = trace(scenario(negotiation_months=N), [AGREE, EVENT, AGREE] + [NOTHING] * 8)
    assert got["phase"][1] == FREE and months_where(got["opened"]) == [2 + N]


def test_with_the_keys_at_zero_only_free_and_open_occur():
    got = trace(scenario(host=True), [EVENT, AGREE, NOTHING, EVENT, AGREE])
    assert got["phase"] == [FREE, OPEN, OPEN, FREE, OPEN]
    assert got["record"]["openings"] == 2 and got["record"]["first_base_closed_month"] == 1
    assert not any(got["notice"]) and set(got["timer"]) == {0}


# --------------------------------------------------------------------------- whole runs


def lifecycle_run(sc, trials: int = 300, **kw):
    """The same run on the numpy kernel, the compiled kernel and (fewer trials) Mesa."""
    ref = simulate(sc, trials=trials, seed=3, kernel="numpy", **kw)
    assert simulate(sc, trials=trials, seed=3, kernel="compiled", **kw).outputs_sha256 \
        == ref.outputs_sha256
    assert simulate(sc, trials=40, seed=3, engine="mesa", **kw).outputs_sha256 == \
        simulate(sc, trials=40, seed=3, kernel="numpy", **kw).outputs_sha256
    return ref


def test_runs_with_certain_decisions():
    """width 0.01: every curve is 0 or 1 to within 1e-9, so every trial is the same."""
    # an unwilling host (w = 0) gives notice in month 0; it runs out in month 5
    res = lifecycle_run(scenario(w=0.0, host=True, decision_width=0.01, notice_months=5,
                                 horizon=24, cooling_months=120))
    t = res.table
    assert (t["notices"] == 1).all() and (t["notices_withdrawn"] == 0).all()
    assert (t["first_base_closed_month"] == 6).all() and (t["months_hosted"] == 5).all()
    st = res.summary["states"]["A"]
    assert st["p_notice"] == 1.0 and st["p_notice_reversed"] == 0.0
    assert st["p_hosting_end"] == 0.0 and st["mean_openings"] == 0.0
    assert st["median_base_duration"] == 6 and st["median_base_duration_ci"] == [6, 6]
    # a keen state (w = 1) agrees in month 0 and opens after 3 months of talks
    res = lifecycle_run(scenario(w=1.0, decision_width=0.01, negotiation_months=3,
                                 horizon=24))
    t = res.table
    assert (t["first_base_month"] == 4).all() and (t["openings"] == 1).all()
    assert (t["months_hosted"] == 24 - 3).all()
    st = res.summary["states"]["A"]
    assert st["p_hosting_end"] == 1.0 and st["p_hosting_end_ci"][1] == 1.0
    assert st["median_base_duration"] is None                  # every base still open
    assert st["mean_openings"] == 1.0 and st["mean_openings_ci"] == [1.0, 1.0]


def v1_hash(table) -> str:
    """``outputs_sha256`` as the code before the life-cycle computed it: format tag v1 and
    the nine columns it had (``FORMAT_COLUMNS``; pinned below against that code)."""
    assert len(oc.FORMAT_COLUMNS["abm-trials-v1"]) == 9
    return oc.outputs_sha256(table, "abm-trials-v1")


# outputs_sha256 of simulate(..., trials=1500, seed=5) before the life-cycle (commit 3bb1d39)
PINNED_V1 = {
    "baseline": "ee1050d0552aedd0e8458df0459b4258b4fb4c8e967e07dd734b32e2da225a80",
    "mix": "24bcbf617f5968c630a5339cf9e61e4ec3216e18813a1a0532c5773ac43e7bc9",
}


@pytest.mark.parametrize("name", list(PINNED_V1))
def test_keys_at_zero_recover_the_memoryless_rule_bit_for_bit(name):
    path = BASELINE if name == "baseline" else MIX
    zero = ["dynamics.negotiation_months=0", "dynamics.notice_months=0.0",
            "dynamics.cooling_months=0"]
    absent = simulate(load_scenario(path), trials=1500, seed=5, kernel="numpy")
    assert v1_hash(absent.table) == PINNED_V1[name]
    for k in ("numpy", "compiled"):
        got = simulate(load_scenario(path, zero), trials=1500, seed=5, kernel=k)
        assert got.outputs_sha256 == absent.outputs_sha256
        assert v1_hash(got.table) == PINNED_V1[name]
    # the memoryless rule: nothing but immediate openings and closures
    t = absent.table
    assert (t["notices"] == 0).all() and (t["notices_withdrawn"] == 0).all()
    assert (t["closed"] == t["first_base_closed_month"].notna()).all()


# --------------------------------------------------------------------------- statistics


def exact_chain(a: float, c: float, b: float, N: int, M: int, C: int, T: int, host: bool
                ) -> tuple[float, float]:
    """Expected openings and P(hosting at T) of the phase chain with constant monthly
    probabilities: agreement ``a``, closure/breakdown ``c``, withdrawal ``b``."""
    # states: ("F",), ("T", k), ("O",), ("N", k), ("C", k)
    dist = {("O", 0) if host else ("F", 0): 1.0}
    openings = 0.0

    def add(d, key, pr):
        d[key] = d.get(key, 0.0) + pr

    def closed(d, pr):
        add(d, ("C", C) if C > 0 else ("F", 0), pr)

    for _ in range(T):
        new: dict = {}
        for (ph, k), pr in dist.items():
            if ph == "F":
                if N == 0:
                    add(new, ("O", 0), pr * a)
                    openings += pr * a
                else:
                    add(new, ("T", N), pr * a)
                add(new, ("F", 0), pr * (1 - a))
            elif ph == "T":
                add(new, ("F", 0), pr * c)
                if k == 1:
                    add(new, ("O", 0), pr * (1 - c))
                    openings += pr * (1 - c)
                else:
                    add(new, ("T", k - 1), pr * (1 - c))
            elif ph == "O":
                add(new, ("O", 0), pr * (1 - c))
                if M == 0:
                    closed(new, pr * c)
                else:
                    add(new, ("N", M), pr * c)
            elif ph == "N":
                add(new, ("O", 0), pr * b)
                if k == 1:
                    closed(new, pr * (1 - b))
                else:
                    add(new, ("N", k - 1), pr * (1 - b))
            else:
                add(new, ("F", 0) if k == 1 else ("C", k - 1), pr)
        dist = new
    hosting = sum(pr for (ph, _), pr in dist.items() if ph in ("O", "N"))
    return openings, hosting


def test_mean_openings_matches_the_exact_phase_chain():
    """20,000 trials (seed fixed) against the exact chain: mean openings within 4 Monte
    Carlo standard errors, and P(hosting at the horizon) likewise."""
    w, D, N, M, C, T = 0.55, 0.8, 2, 1, 3, 36
    sc = scenario(w=w, demand=D, horizon=T, threshold=0.6, close_threshold=0.5,
                  decision_width=0.1, negotiation_months=N, notice_months=M,
                  cooling_months=C)
    sig_a, sig_c = expit((w - 0.6) / 0.1), expit((0.5 - w) / 0.1)
    exact, p_host = exact_chain(D * sig_a, sig_c, sig_a, N, M, C, T, host=False)
    res = simulate(sc, trials=20_000, seed=20240613)
    o = res.table["openings"].to_numpy(dtype=float)
    se = o.std(ddof=1) / np.sqrt(o.size)
    assert abs(o.mean() - exact) < 4 * se, (o.mean(), exact, se)
    h = res.table["final_h"].to_numpy(dtype=float)
    assert abs(h.mean() - p_host) < 4 * np.sqrt(p_host * (1 - p_host) / h.size)
    st = res.summary["states"]["A"]
    assert st["mean_openings"] == pytest.approx(o.mean())
    assert st["p_hosting_end"] == pytest.approx(h.mean())
    assert 0 < st["p_notice_reversed"] < st["p_notice"] < 1


# --------------------------------------------------------------------------- summary, schema


def test_km_median_ci_of_durations():
    # 10 durations of 1..10 months, all observed: median 5 (S(5) = 0.5)
    med, ci = km_median_ci(np.arange(1, 11), np.ones(10, bool), 12)
    assert med == 5 and ci[0] <= 5 <= ci[1]
    # all censored: nothing is known
    assert km_median_ci(np.full(5, 12), np.zeros(5, bool), 12) == (None, [None, None])
    # mostly censored beyond the median: no median within the horizon
    d = np.r_[np.full(3, 2), np.full(17, 12)]
    assert km_median_ci(d, np.r_[np.ones(3, bool), np.zeros(17, bool)], 12)[0] is None


@pytest.mark.parametrize("over,pattern", [
    ("dynamics.notice_months=2.5", r"must be a whole number of months in \[0, 24\]"),
    ("dynamics.negotiation_months=25", r"must be a whole number of months in \[0, 24\]"),
    ("dynamics.cooling_months=-1", r"must be a whole number of months in \[0, 120\]"),
    ("dynamics.cooling_months=true", r"must be a whole number of months in \[0, 120\]"),
])
def test_whole_month_keys_are_validated(over, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_scenario(BASELINE, [over])
    sc = load_scenario(BASELINE, ["dynamics.cooling_months=6", "dynamics.notice_months=6.0"])
    assert sc.dynamics.cooling_months == 6.0 and sc.dynamics.notice_months == 6.0


def test_a_whole_month_key_is_swept_only_by_values(tmp_path):
    from abm.experiment.sweep import load_experiment

    exp = tmp_path / "exp.toml"
    exp.write_text(f'extends = "{BASELINE}"\nname = "x"\nseed = 1\n[sweep]\n'
                   'design = "lhs"\npoints = 4\ntrials_per_point = 10\n'
                   '[sweep.parameters."dynamics.notice_months"]\nlow = 0\nhigh = 6\n')
    with pytest.raises(ConfigError, match="whole number of months: use values"):
        load_experiment(exp)
    exp.write_text(f'extends = "{BASELINE}"\nname = "x"\nseed = 1\n[sweep]\n'
                   'design = "grid"\ntrials_per_point = 10\n'
                   '[sweep.parameters."dynamics.notice_months"]\nvalues = [0, 3]\n')
    assert load_experiment(exp).n_points == 2
