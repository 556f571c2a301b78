"""``abm app`` without a browser: controls, validation, paired runs, saving."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import numpy as np
import pytest

import abm
from abm.app import logic as L
from abm.experiment.episodes import compare
from abm.scenario.schema import schema
from tests.conftest import BASELINE, ROOT

pytest.importorskip("solara")


@pytest.fixture(scope="module")
def base():
    return abm.load_scenario(BASELINE)


def test_controls_carry_the_schema_ranges_and_units(base):
    ctrls = {c.key: c for c in L.controls(base)}
    meta = {t: {k: m for k, m, _ in rows} for t, rows in schema().items()}
    for key in ("russia.pressure", "russia.drill_rate", "russia.veto_strength", "us.demand",
                "us.incentives", "spillover.rate", "spillover.instability"):
        t, k = key.split(".")
        c = ctrls[key]
        assert (c.lo, c.hi, c.unit, c.kind) == (meta[t][k]["lo"], meta[t][k]["hi"],
                                               meta[t][k]["unit"], meta[t][k]["kind"])
    assert ctrls["csto.consent_rule"].kind == "bool"
    for st in base.states:
        for attr in ("willingness", "public_support", "russia_dependence", "legal_bar"):
            assert ctrls[f"states.{st.id}.{attr}"].hi == 1


def test_values_round_trip_and_only_changes_count(base):
    texts = {c.key: L.value_text(L.current(base, c.key)) for c in L.controls(base)}
    assert texts["russia.pressure"] == "[[0, 0.6], [2, 0.8]]"  # a schedule shown as values
    assert L.changed(base, texts) == {}
    assert L.build_scenario(base, {}) == base
    texts["russia.pressure"] = "0.3"
    texts["states.UZB.legal_bar"] = " 0 "
    assert L.changed(base, texts) == {"russia.pressure": 0.3, "states.UZB.legal_bar": 0}


@pytest.mark.parametrize("key, text, message", [
    ("states.UZB.legal_bar", "2", "page: states.UZB.legal_bar = 2: must be a number in [0, 1]"),
    ("states.UZB.legal_bar", "abc",
     "page: states.UZB.legal_bar = 'abc': must be a number in [0, 1]"),
    ("russia.pressure", "-0.1", "page: russia.pressure = -0.1: must be a number in [0, 1]"),
    ("russia.pressure", "[[0, 0.5], [-1, 0.1]]", "russia.pressure[1] = [-1, 0.1]: month must lie"),
    ("csto.consent_rule", "maybe", "csto.consent_rule = 'maybe': must be true or false"),
])
def test_bad_values_give_the_project_message(base, key, text, message):
    with pytest.raises(abm.ConfigError) as exc:
        L.build_scenario(base, L.changed(base, {key: text}))
    assert message in str(exc.value)
    assert exc.value.key.startswith(key)


@pytest.mark.parametrize("text", ["0", "-5", "abc", "1.5", "true", "2000000"])
def test_bad_trials(text):
    with pytest.raises(abm.ConfigError, match="trials"):
        L.parse_trials(text)


def test_run_equals_simulate_and_the_paired_difference_equals_compare(base):
    edited = L.build_scenario(base, {"russia.pressure": 0.3, "states.UZB.legal_bar": 0.0},
                              trials=2000, seed=7)
    unchanged = L.build_scenario(base, {}, trials=2000, seed=7)
    seen = []
    out = L.run(unchanged, edited, 2000, 7, progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    ref = abm.simulate(edited, trials=2000, seed=7)
    assert out.result.outputs_sha256 == ref.outputs_sha256
    cmp = compare(unchanged, [edited], trials=2000, seed=7)
    by = {r["state"]: r for r in cmp["rows"]}
    for row in out.rows:
        if row["state"] != "any":
            assert row["p_base"] == ref.summary["states"][row["state"]]["p_base"]
        assert row["p_base0"] == pytest.approx(
            cmp["p_base"].get(row["state"], cmp["any_base"]))
        r = by[row["state"]]
        assert (row["delta"], row["d_low"], row["d_high"]) == pytest.approx(
            (r["delta"], r["ci_low"], r["ci_high"]))
    uzb = next(r for r in out.rows if r["state"] == "UZB")
    assert uzb["d_low"] > 0  # lifting Uzbekistan's bar raises its P(base)
    surv = L.survival(out.result)["UZB"]
    assert surv[0] == 1.0 and np.all(np.diff(surv) <= 0)
    assert surv[-1] == pytest.approx(1 - uzb["p_base"])


def test_saved_scenario_extends_the_original_and_reproduces(tmp_path):
    # the saved file sits beside a copy of the experiments, so `extends` is relative
    for f in ("baseline_2021.toml",):
        (tmp_path / f).write_text((ROOT / "experiments" / f).read_text())
    original = tmp_path / "baseline_2021.toml"
    base = abm.load_scenario(original)  # the shipped baseline: its stances from the rule
    edits = {"us.incentives": 0.9, "csto.consent_rule": False, "states.KGZ.willingness": 0.5}
    sc = L.build_scenario(base, edits, trials=1500, seed=11)
    out = L.save_scenario(tmp_path / "mine.toml", original, sc, edits, name="mine")
    doc = tomllib.loads(out.read_text())
    assert doc["extends"] == "baseline_2021.toml"
    assert doc["states"] == [{"id": "KGZ", "willingness": 0.5}]
    assert doc["csto"] == {"consent_rule": False} and doc["trials"] == 1500
    back = abm.load_scenario(out)
    assert back.name == "mine" and back.seed == 11
    assert abm.simulate(back).summary["states"] == abm.simulate(sc).summary["states"]
    with pytest.raises(abm.ConfigError, match="exists already"):
        L.save_scenario(out, original, sc, edits, name="mine")
    with pytest.raises(abm.ConfigError, match="name"):
        L.save_scenario(tmp_path / "x.toml", original, sc, edits, name="bad name/..")
    with pytest.raises(abm.ConfigError, match=r"\.toml"):
        L.save_scenario(tmp_path / "x.txt", original, sc, edits, name="x")
    r = subprocess.run([sys.executable, "-m", "abm", "run", str(out), "--json", "--quiet",
                        "--no-figures", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr


def test_run_and_save_writes_a_results_directory(base, tmp_path):
    from abm.experiment.store import read_run

    edits = {"russia.veto_strength": 0.2}
    sc = L.build_scenario(base, edits, trials=1000, seed=3)
    out = L.run(L.build_scenario(base, {}, trials=1000, seed=3), sc, 1000, 3)
    d, wrote = L.run_and_save(out.result, tmp_path, config=BASELINE, edits=edits)
    assert wrote and (d / "manifest.json").is_file()
    assert list((d / "figures").glob("*.png"))  # drawn into the run, as `abm run` does
    run = read_run(d)
    assert run.summary["outputs_sha256"] == out.result.outputs_sha256
    assert run.manifest["overrides"] == ["russia.veto_strength=0.2"]
    assert run.manifest["seed"] == 3 and run.manifest["trials"] == 1000
    # the manifest's config and overrides reproduce the run, as `abm run --set` would
    again = abm.simulate(abm.load_scenario(BASELINE, run.manifest["overrides"]), trials=1000,
                         seed=3)
    assert again.outputs_sha256 == out.result.outputs_sha256
    assert L.run_and_save(out.result, tmp_path, config=BASELINE, edits=edits) == (d, False)


def test_sources_are_the_comments(tmp_path):
    text = L.read_sources(ROOT / "experiments" / "csto_rule_lifted.toml")
    assert "Lavrov" in text and "consent_rule: counterfactual" in text


def test_cli_refuses_bad_input_before_serving(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[states]]\nid = "A"\nwillingness = 3\n')
    for args in (["app", str(bad)], ["app", "--port", "abc"], ["app", "--port", "70000"]):
        r = subprocess.run([sys.executable, "-m", "abm", *args], capture_output=True,
                           text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
