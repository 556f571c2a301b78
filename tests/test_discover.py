"""Scenario discovery (``abm discover``): PRIM and CART recover a known box, the bootstrap
is reproducible from its seed, switches are encoded for prim, bad options exit 2 with one
line and write nothing, and a real (tiny) sweep gives a complete discovery directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abm.analysis.discovery import (
    choose_step,
    decode_limit,
    discover,
    encode_inputs,
    parse_outcome,
)
from abm.cli import main
from abm.errors import ConfigError
from tests.conftest import BASELINE

#: How far a recovered limit may lie from the true one: with 1,000 uniform points a peel
#: removes 5% of the box's points, so a limit lands within a few hundredths of the edge.
TOL = 0.05


def synthetic(n: int = 1000, seed: int = 3) -> pd.DataFrame:
    """x1..x4 uniform on [0, 1], a switch ``sw``; ``box`` = x1 > 0.6 and x2 < 0.3 (x3, x4,
    sw are noise); ``both`` = x1 > 0.5 and sw."""
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({"point": np.arange(n), **{f"x{i}": rng.random(n) for i in range(1, 5)},
                      "sw": rng.random(n) < 0.5})
    t["box"] = ((t.x1 > 0.6) & (t.x2 < 0.3)).astype(float)
    t["both"] = ((t.x1 > 0.5) & t.sw).astype(float)
    return t


KEYS = ["x1", "x2", "x3", "x4", "sw"]


def limits(d):
    return {e["key"]: e for e in d["prim"]["box"]["limits"] if e["restricted"]}


@pytest.mark.slow
def test_prim_recovers_a_known_box():
    d = discover(synthetic(), KEYS, parse_outcome("box>0.5"), min_coverage=0.8, n_boot=0,
                 seed=1)
    lim = limits(d)
    assert set(lim) == {"x1", "x2"}
    # the box found lies within TOL of the true one, [0.6, 1] x [0, 0.3] (a peel may also
    # trim a sliver off the far edge, as here off x1's top: PRIM is greedy)
    for key, (lo, hi) in {"x1": (0.6, 1.0), "x2": (0.0, 0.3)}.items():
        assert abs(lim[key]["low"] - lo) < TOL and abs(lim[key]["high"] - hi) < TOL, lim[key]
    box = d["prim"]["box"]
    assert box["coverage"] >= 0.8 and box["density"] >= 0.9
    # the rule: no step with coverage >= 0.8 is denser than the one chosen
    assert box["density"] == max(t["density"] for t in d["prim"]["trajectory"]
                                 if t["coverage"] >= 0.8)
    assert d["n_positive"] == int(synthetic()["box"].sum())


def test_cart_rule_recovers_the_box():
    d = discover(synthetic(), KEYS, parse_outcome("box>0.5"), method="cart", n_boot=0,
                 seed=1)
    pos = [r for r in d["cart"]["leaves"] if r["positive"]]
    assert len(pos) == 1
    rule = {e["key"]: e for e in pos[0]["rule"]}
    assert set(rule) == {"x1", "x2"}
    assert abs(rule["x1"]["low"] - 0.6) < TOL and rule["x1"]["high"] is None
    assert abs(rule["x2"]["high"] - 0.3) < TOL and rule["x2"]["low"] is None
    assert pos[0]["coverage"] >= 0.95 and pos[0]["density"] >= 0.95
    assert d["prim"] is None


@pytest.mark.slow
def test_bootstrap_is_reproducible_from_its_seed():
    t = synthetic(400)
    a = discover(t, KEYS, parse_outcome("box>0.5"), n_boot=8, seed=11)
    b = discover(t, KEYS, parse_outcome("box>0.5"), n_boot=8, seed=11)
    c = discover(t, KEYS, parse_outcome("box>0.5"), n_boot=8, seed=12)
    assert json.dumps(a) == json.dumps(b)
    assert a["prim"]["box"]["limits"] != c["prim"]["box"]["limits"] or \
        a["feature_scores"] != c["feature_scores"]
    lim = limits(a)
    # every restricted limit carries an interval that holds the value found on all points
    for e in lim.values():
        side = e["restricted"]
        ci = e["low_ci"] if side == "low" else e["high_ci"]
        assert ci is not None and ci[0] <= ci[1]
    assert all(s["ci_low"] <= s["score"] <= s["ci_high"]
               for s in a["feature_scores"]["scores"])
    # the inputs that decide are scored above the noise, intervals apart
    sc = {s["key"]: s for s in a["feature_scores"]["scores"]}
    assert min(sc["x1"]["ci_low"], sc["x2"]["ci_low"]) > max(
        sc[k]["ci_high"] for k in ("x3", "x4", "sw"))


def test_a_switch_is_encoded_for_prim_and_decoded_in_the_report():
    t = synthetic()
    X, info, dropped = encode_inputs(t, KEYS)
    assert X["sw"].dtype == np.int64 and set(X["sw"]) == {0, 1}
    assert next(i for i in info if i["key"] == "sw")["kind"] == "bool" and not dropped
    d = discover(t, KEYS, parse_outcome("both>0.5"), min_coverage=0.8, n_boot=3, seed=2)
    lim = limits(d)
    assert lim["sw"]["values"] == [True]
    assert abs(lim["x1"]["low"] - 0.5) < TOL
    # a string column becomes codes of its sorted categories, decoded back
    s = pd.DataFrame({"c": ["b", "a", "c", "a"], "k": [1.0, 1.0, 1.0, 1.0]})
    X, info, dropped = encode_inputs(s, ["c", "k"])
    assert list(X["c"]) == [1, 0, 2, 0] and dropped == ["k"]
    assert decode_limit(info[0], 1, 2) == ["b", "c"]


def test_choose_step_rule():
    traj = [{"step": 0, "coverage": 1.0, "density": 0.1, "res_dim": 0},
            {"step": 1, "coverage": 0.8, "density": 0.5, "res_dim": 1},
            {"step": 2, "coverage": 0.6, "density": 0.7, "res_dim": 2},
            {"step": 3, "coverage": 0.4, "density": 0.9, "res_dim": 3}]
    assert choose_step(traj, 0.5) == 2
    assert choose_step(traj, 0.3) == 3
    assert choose_step(traj, 0.9) == 0


@pytest.mark.parametrize("text,pattern", [
    ("UZB.p_base", r"must be COLUMN OP NUMBER"),
    ("UZB.p_base==0.5", r"operator '==' is not allowed"),
    ("UZB.p_base>abc", r"threshold 'abc' must be a finite number"),
    ("UZB.p_base>nan", r"must be a finite number"),
    ("", r"must be COLUMN OP NUMBER"),
])
def test_parse_outcome_refuses_bad_expressions(text, pattern):
    with pytest.raises(ConfigError, match=pattern) as e:
        parse_outcome(text)
    assert e.value.source == "--outcome"


# --------------------------------------------------------------------------- a real sweep


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A tiny grid: the consent switch x 6 pressure levels, 200 trials a point."""
    from abm.experiment.executors import Executor
    from abm.experiment.sweep import load_experiment, run_sweep

    tmp = tmp_path_factory.mktemp("disc")
    f = tmp / "tiny.toml"
    f.write_text(f'extends = "{BASELINE}"\nname = "tiny"\n[sweep]\ndesign = "grid"\n'
                 'trials_per_point = 200\n[sweep.parameters."csto.consent_rule"]\n'
                 'values = [true, false]\n[sweep.parameters."russia.pressure"]\n'
                 'values = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]\n')
    d, _, _ = run_sweep(load_experiment(f), out_dir=tmp / "sweep",
                        executor=Executor("inprocess"))
    return d


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_end_to_end_writes_the_documented_files(sweep_dir, capsys, tmp_path):
    out = tmp_path / "disc"
    code, stdout, err = run_cli(["discover", sweep_dir, "--outcome", "KAZ.p_veto>0",
                                 "--bootstrap", "5", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    d = json.loads((out / "discovery.json").read_text())
    for key in ("kind", "discovery_id", "sweep", "outcome", "n_points", "n_positive",
                "base_density", "method", "inputs", "dropped_inputs", "seed", "bootstrap",
                "prim", "cart", "feature_scores", "versions"):
        assert key in d, key
    assert d["outcome"] == {"expression": "KAZ.p_veto>0", "column": "KAZ.p_veto", "op": ">",
                            "threshold": 0.0}
    assert d["n_points"] == 12 and d["n_positive"] == 6  # the rule on: Russia can veto
    assert d["seed"] == json.loads((sweep_dir / "summary.json").read_text())["seed"]
    assert {"prim", "scikit-learn"} <= set(d["versions"])
    for key in ("trajectory", "chosen_step", "rule", "box"):
        assert key in d["prim"]
    lim = {e["key"]: e for e in d["prim"]["box"]["limits"] if e["restricted"]}
    assert lim["csto.consent_rule"]["values"] == [True]
    assert d["prim"]["box"]["density"] == 1.0 and d["prim"]["box"]["coverage"] == 1.0
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "discovery" and m["seed"] == d["seed"]
    assert {p.name for p in (out / "figures").iterdir()} == {
        "peeling.png", "box_limits.png", "feature_scores.png"}
    assert "PRIM box" in stdout and "csto.consent_rule" in stdout
    # read back: show (table and JSON), ls, and a tampered file is refused
    code, stdout, _ = run_cli(["show", out], capsys)
    assert code == 0 and "Scenario discovery: KAZ.p_veto>0" in stdout
    code, stdout, _ = run_cli(["show", out, "--json"], capsys)
    assert code == 0 and json.loads(stdout)["discovery_id"] == d["discovery_id"]
    code, stdout, _ = run_cli(["ls", tmp_path], capsys)
    assert code == 0 and "discovery" in stdout and d["discovery_id"] in stdout
    (out / "discovery.json").write_text("{}")
    code, _, err = run_cli(["show", out], capsys)
    assert code == 2 and "does not match the manifest" in err


def test_default_directory_cart_and_json(sweep_dir, capsys):
    code, stdout, err = run_cli(["discover", sweep_dir, "--outcome", "KAZ.p_veto>=0.01",
                                 "--method", "cart", "--bootstrap", "0", "--json"], capsys)
    assert code == 0, err
    d = json.loads(stdout)
    assert Path(d["discovery_dir"]) == sweep_dir / "discovery" / "KAZ.p_veto-ge-0.01-cart"
    assert d["cart"]["leaves"] and d["prim"] is None
    assert d["feature_scores"]["scores"][0]["ci_low"] is None  # no resamples, no interval
    assert (sweep_dir / "discovery" / "KAZ.p_veto-ge-0.01-cart" / "figures" /
            "leaves.png").is_file()


@pytest.mark.parametrize("extra,pattern", [
    (["--outcome", "KAZ.p_veto"], r"--outcome: outcome = 'KAZ\.p_veto': must be COLUMN OP"),
    (["--outcome", "KAZ.p_vto>0"], r"unknown column; did you mean 'KAZ\.p_veto'\? allowed:"),
    (["--outcome", "KAZ.p_veto=>0"], r"operator '=' is not allowed|must be COLUMN OP"),
    (["--outcome", "russia.pressure>0.5"], r"is an input of the sweep, not an outcome"),
    (["--outcome", "KAZ.p_veto>2"], r"no point of 12 meets it .*choose a threshold"),
    (["--outcome", "KAZ.p_veto>=0"], r"every point of 12 meets it"),
    (["--outcome", "KAZ.p_veto>0", "--min-coverage", "0"], r"--min-coverage: .*\(0, 1\]"),
    (["--outcome", "KAZ.p_veto>0", "--bootstrap", "-1"], r"--bootstrap: .*integer in"),
    (["--outcome", "KAZ.p_veto>0", "--box", "999"], r"--box: box = 999: must be a step"),
    (["--outcome", "KAZ.p_veto>0", "--box", "1", "--method", "cart"], r"--method prim"),
    (["--outcome", "KAZ.p_veto>0", "--seed", "x"], r"--seed: seed = 'x'"),
])
def test_bad_options_exit_2_with_one_line_and_write_nothing(sweep_dir, capsys, tmp_path,
                                                            extra, pattern):
    import re

    out = tmp_path / "never"
    before = sorted(p.name for p in (sweep_dir / "discovery").iterdir()) \
        if (sweep_dir / "discovery").exists() else []
    code, stdout, err = run_cli(["discover", sweep_dir, *extra, "--bootstrap", "2", "--out",
                                 out, "--quiet"] if "--bootstrap" not in extra else
                                ["discover", sweep_dir, *extra, "--out", out, "--quiet"],
                                capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("abm discover: ") and re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in err and not out.exists()
    after = sorted(p.name for p in (sweep_dir / "discovery").iterdir()) \
        if (sweep_dir / "discovery").exists() else []
    assert after == before


def test_not_a_sweep_directory(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    code, _, err = run_cli(["discover", tmp_path / "x", "--outcome", "UZB.p_base>0.5"], capsys)
    assert code == 2 and "not a sweep directory" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["discover", tmp_path / "nope", "--outcome", "UZB.p_base>0.5"],
                           capsys)
    assert code == 2 and "no such directory" in err
