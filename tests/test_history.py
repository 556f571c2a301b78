"""Scenario library, the historical check and paired counterfactual comparisons."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from abm.analysis.stats import paired_difference
from abm.experiment.episodes import HISTORY_FILES, compare, validate_history
from abm.scenario import load_scenario
from tests.conftest import BASELINE, ROOT

EXPERIMENTS = ROOT / "experiments"
COUNTERFACTUALS = ("no_russian_pressure", "spillover_surge", "russia_distracted",
                   "us_incentives_high", "csto_rule_lifted", "uzbek_bar_repealed")


def test_every_episode_and_counterfactual_shares_the_baseline_dynamics():
    base = load_scenario(BASELINE)
    names = ("opening_2001", *COUNTERFACTUALS)
    for name in names:
        path = EXPERIMENTS / f"{name}.toml"
        sc = load_scenario(path)
        assert sc.name == name
        assert sc.dynamics == base.dynamics, name
        assert sc.network == base.network, name
        assert path.read_text().startswith("# "), f"{name}: no opening comment block"


def test_recorded_outcome_is_the_most_likely_for_every_state_in_both_episodes():
    """The check of issue 8. 4,000 trials: the Wilson interval's lower end must clear 1/2,
    so "most likely" holds beyond Monte Carlo error, not just in the point estimate."""
    rows, _ = validate_history([ROOT / p for p in HISTORY_FILES], trials=4000)
    assert {r.scenario for r in rows} == {"opening_2001", "baseline_2021"}
    assert len(rows) == 12
    for r in rows:
        assert r.ci_low > 0.5, r
    recorded = {(r.scenario, r.state): r.recorded for r in rows}
    assert recorded[("opening_2001", "UZB")] and recorded[("opening_2001", "KGZ")]
    assert recorded[("opening_2001", "PAK")] and not recorded[("opening_2001", "TKM")]
    assert not any(v for (sc, _), v in recorded.items() if sc == "baseline_2021")


def test_paired_difference_closed_form():
    a = np.array([0, 1, 1, 0, 1], dtype=float)
    b = np.array([1, 1, 1, 0, 1], dtype=float)
    m, lo, hi = paired_difference(a, b)
    d = b - a
    half = 1.959963984540054 * d.std(ddof=1) / np.sqrt(5)
    assert m == pytest.approx(0.2) and lo == pytest.approx(0.2 - half)
    assert hi == pytest.approx(0.2 + half)


def test_counterfactuals_move_the_states_they_should():
    cmp = compare(BASELINE, [EXPERIMENTS / "uzbek_bar_repealed.toml",
                             EXPERIMENTS / "csto_rule_lifted.toml"], trials=4000, seed=8)
    rows = {(r["scenario"], r["state"]): r for r in cmp["rows"]}
    uzb = rows[("uzbek_bar_repealed", "UZB")]
    assert uzb["ci_low"] > 0.05  # repealing the bar clearly raises Uzbekistan's chance
    tkm = rows[("uzbek_bar_repealed", "TKM")]
    assert tkm["delta"] == 0.0
    for sid in ("KAZ", "KGZ"):
        assert rows[("csto_rule_lifted", sid)]["ci_low"] > 0.0  # the rule binds members
    for sid in ("UZB", "TKM", "PAK"):  # non-members: the rule cannot matter to them
        assert abs(rows[("csto_rule_lifted", sid)]["delta"]) < 0.005


def test_compare_refuses_different_state_lists(tmp_path):
    from abm.errors import ConfigError

    other = tmp_path / "other.toml"
    other.write_text('name = "other"\n[[states]]\nid = "KAZ"\n')
    with pytest.raises(ConfigError, match="same states in the same order"):
        compare(BASELINE, [other], trials=10, seed=1)


def test_validate_history_command(tmp_path):
    fig = tmp_path / "v.png"
    r = subprocess.run([sys.executable, "-m", "abm", "validate-history", "--trials", "2000",
                        "--figure", str(fig)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "| opening_2001 | UZB | base |" in r.stdout
    assert "most likely one for every state" in r.stdout
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validate_history_needs_a_record(tmp_path):
    f = tmp_path / "norecord.toml"
    f.write_text('name = "x"\n[[states]]\nid = "AA"\n')
    r = subprocess.run([sys.executable, "-m", "abm", "validate-history", str(f)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "a [record] table" in r.stderr


# --------------------------------------------------------------------- the stance rule

RULE_FILE = '''
name = "rule"
[stances]
rule = true
w_intercept = 0.4
p_intercept = -0.2
p_troops = -0.5
[[states]]
id = "AA"
csto = true
afghan_border_km = 500
legal_bar = 0.3
remittances_gdp = 0.3
remittances_russia = 0.9
russia_trade = 0.2
russian_troops = 1.0
us_approval = 0.42
[[states]]
id = "BB"
willingness = 0.7
'''


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_stance_rule_computes_the_closed_form(tmp_path):
    f = tmp_path / "rule.toml"
    f.write_text(RULE_FILE)
    sc = load_scenario(f)
    aa, bb = sc.states
    rem = 0.3 * 0.9
    w = _sig(0.4 - 6.0 * rem - 5.0 * 0.2 - 1.5 * 1.0 - 2.0 * 0.3 - 1.0 * 1 + 0.0 * 0.5)
    p = _sig(-0.2 + 1.0 * np.log(0.42 / 0.58) + 0.0 * rem - 0.5 * 1.0)
    assert aa.willingness == pytest.approx(w, abs=1e-12)
    assert aa.public_support == pytest.approx(p, abs=1e-12)
    assert bb.willingness == 0.7  # explicit value overrides the rule
    # absent poll: the default 0.3; the shared coefficients apply to every state
    assert bb.public_support == pytest.approx(_sig(-0.2 + np.log(0.3 / 0.7)), abs=1e-12)
    # the rule off (the default): an absent stance is the schema default, as before
    off = load_scenario(f, ["stances.rule=false"])
    assert off.states[0].willingness == 0.0


def test_stance_rule_override_by_set_and_by_coefficient(tmp_path):
    f = tmp_path / "rule.toml"
    f.write_text(RULE_FILE)
    sc = load_scenario(f, ["states.AA.willingness=0.55", "stances.p_poll=0"])
    assert sc.states[0].willingness == 0.55
    assert sc.states[0].public_support == pytest.approx(_sig(-0.2 - 0.5))


@pytest.mark.parametrize("setting, fragment", [
    ("stances.w_trade=99", "stances.w_trade"),
    ("stances.rule=1", "stances.rule"),
    ("states.AA.us_approval=1.5", "states.AA.us_approval"),
    ("states.AA.remittances_gdp=-0.1", "states.AA.remittances_gdp"),
])
def test_stance_rule_bad_values_exit_2_with_one_line(tmp_path, setting, fragment):
    f = tmp_path / "rule.toml"
    f.write_text(RULE_FILE)
    r = subprocess.run([sys.executable, "-m", "abm", "validate", str(f), "--set", setting],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
