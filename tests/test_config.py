"""Scenario files: schema names, extends, overrides, validation errors, the influence matrix."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from abm.errors import ConfigError
from abm.scenario import Schedule, load_scenario, scenario_from_dict
from abm.scenario.schema import schema
from tests.conftest import BASELINE, ROOT, SHIPPED_BASELINE, make

# The public schema of ../shared/MODEL.md, spelled out so a rename fails here.
MODEL_MD_KEYS = {
    "russia": ["pressure", "reactive_gain", "alarm_level", "veto_strength", "campaign",
               "inducements", "drill_rate", "drill_pulse", "drill_decay", "hosting_penalty"],
    "us": ["demand", "incentives", "campaign"],
    "spillover": ["rate", "instability", "shock", "decay"],
    "dynamics": ["opinion_anchor", "us_campaign_effect", "russia_campaign_effect",
                 "sovereignty_cost", "pressure_effect", "incentive_effect", "security_us",
                 "security_russia", "retaliation", "rent_effect", "threshold", "close_threshold",
                 "consent_threshold", "decision_width", "opinion_noise", "willingness_noise"],
    "network": ["self_weight", "edges"],
    "csto": ["consent_rule"],
    "states": ["id", "csto", "afghan_border_km", "russia_dependence", "legal_bar",
               "responsiveness", "stubbornness", "willingness", "public_support", "hosting"],
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_schema_has_every_model_md_name():
    sch = schema()
    for table, keys in MODEL_MD_KEYS.items():
        have = [k for k, _, _ in sch[table]]
        missing = set(keys) - set(have)
        assert not missing, f"[{table}] lacks {missing}"


def test_docs_model_md_documents_every_key():
    text = (ROOT / "docs" / "model.md").read_text()
    for table, rows in schema().items():
        for key, _meta, _default in rows:
            assert re.search(rf"`{table}\.{key}`", text) or (
                table == "states" and re.search(rf"`states\.<ID>\.{key}`", text)
            ), f"docs/model.md does not document {table}.{key}"


def test_baseline_loads_with_six_states():
    sc = load_scenario(BASELINE)
    assert sc.state_ids == ("KAZ", "KGZ", "TJK", "UZB", "TKM", "PAK")
    assert sc.trials == 10_000 and sc.horizon_months == 36
    assert [s.csto for s in sc.states] == [True, True, True, False, False, False]
    assert sc.csto.consent_rule is True


def test_baseline_every_value_has_a_source_comment():
    """Each state attribute and driver line carries a comment (source or 'assumption').

    ``[dynamics]`` (calibrated as a whole, docs/model.md) and ``[record]`` (sourced in the
    block comment above it) are exempt.
    """
    table = ""
    for line in SHIPPED_BASELINE.read_text().splitlines():
        s = line.strip()
        if s.startswith("["):
            table = s.strip("[]")
            continue
        if not s or s.startswith("#") or table in ("dynamics", "record"):
            continue
        if s.startswith(("name =", "description =", "id =", "trials =")):
            continue
        assert "#" in s, f"no source comment: {s}"


def test_schedule_interpolates_and_holds():
    sch = Schedule(((0.0, 0.4), (12.0, 0.8)))
    v = sch.values(24)
    assert v[0] == 0.4 and v[12] == pytest.approx(0.8) and v[23] == pytest.approx(0.8)
    assert v[6] == pytest.approx(0.6)
    late = Schedule(((3.0, 0.2), (4.0, 0.6)))
    assert late.values(6).tolist() == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.6, 0.6])


def test_extends_relative_and_state_merge(tmp_path):
    child = write(tmp_path, "child.toml", f'''
extends = "{BASELINE}"
name = "child"
[russia]
pressure = 0.2
[[states]]
id = "TJK"
russia_dependence = 0.5
''')
    sc = load_scenario(child)
    base = load_scenario(BASELINE)
    assert sc.name == "child"
    assert sc.russia.pressure == Schedule.constant(0.2)
    assert sc.russia.veto_strength == base.russia.veto_strength  # merged, not replaced
    tjk = sc.states[sc.state_ids.index("TJK")]
    assert tjk.russia_dependence == 0.5
    assert tjk.afghan_border_km == 1357  # other attributes kept
    assert sc.state_ids == base.state_ids
    # relative path, two levels
    sub = tmp_path / "sub"
    sub.mkdir()
    grandchild = write(sub, "gc.toml", 'extends = "../child.toml"\nname = "gc"\n')
    assert load_scenario(grandchild).states == sc.states


def test_overrides_numbers_states_schedules():
    sc = load_scenario(BASELINE, ["russia.pressure=0.3", "states.TJK.russia_dependence=0.5",
                                  "us.demand=[[0, 0.4], [12, 0.8]]", "csto.consent_rule=false",
                                  "trials=123", "name=other"])
    assert sc.russia.pressure == Schedule.constant(0.3)
    assert sc.states[2].russia_dependence == 0.5
    assert sc.us.demand.points == ((0.0, 0.4), (12.0, 0.8))
    assert sc.csto.consent_rule is False
    assert sc.trials == 123 and sc.name == "other"


def test_round_trip_through_resolved_dict():
    sc = load_scenario(BASELINE, ["network.edges=[{source='KAZ', target='KGZ', weight=2.0}]"])
    again = scenario_from_dict(sc.to_dict())
    assert again == sc
    assert again.sha256() == sc.sha256()


def test_influence_matrix_peers_edges_and_isolated():
    states = [{"id": "A"}, {"id": "B"}, {"id": "C"}]
    W = make(states, network={"self_weight": 0.7}).influence_matrix()
    np.testing.assert_allclose(W, [[0.7, 0.15, 0.15], [0.15, 0.7, 0.15], [0.15, 0.15, 0.7]])
    W = make(states, network={"self_weight": 0.5, "edges": [
        {"source": "B", "target": "A", "weight": 3.0},
        {"source": "C", "target": "A", "weight": 1.0},
        {"source": "A", "target": "B"},
    ]}).influence_matrix()
    np.testing.assert_allclose(W[0], [0.5, 0.375, 0.125])
    np.testing.assert_allclose(W[1], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(W[2], [0.0, 0.0, 1.0])  # C listens to nobody: W_ii = 1
    np.testing.assert_allclose(W.sum(axis=1), 1.0)


# Every documented error, with the message that names what is allowed.
BAD_OVERRIDES = [
    (["russia.presure=0.3"], r"did you mean 'pressure'"),
    (["russia.pressure=1.5"], r"russia\.pressure = 1\.5: must be a number in \[0, 1\]"),
    (["russia.pressure=nan"], r"must be a finite number"),
    (["russia.pressure=abc"], r"must be a number"),
    (["states.XXX.legal_bar=0.1"], r"unknown state id"),
    (["states.TJK.legal_bat=0.1"], r"did you mean 'legal_bar'"),
    (["nonsense=1"], r"unknown key"),
    (["russia.pressure"], r"expected KEY=VALUE"),
    (["trials=0"], r"trials = 0: must be the number of trials"),
    (["horizon_months=-3"], r"horizon_months = -3"),
    (["russia.pressure=[[0, 0.4], [0, 0.8]]"], r"strictly increasing"),
    (["russia.pressure=[[0, 0.4], [5000, 0.8]]"], r"month must lie in \[0, 1200\]"),
    (["csto.consent_rule=1"], r"must be true or false"),
    (["name=../escape"], r"name = '\.\./escape'"),
    (["name=/abs"], r"name = '/abs'"),
    (["dynamics.decision_width=0"], r"\(0, 1\]"),
    (["network.edges=[{source='KAZ', target='NOPE'}]"], r"target = 'NOPE'.*unknown state id"),
    (["shocks=[{month=50, state='TJK', variable='willingness', add=0.1}]"], r"shocks\[0\]\.month"),
    (["shocks=[{month=1, state='TJK', variable='wilingness', add=0.1}]"], r"did you mean"),
    (["shocks=[{month=1, state='TJK', variable='willingness'}]"], r"exactly one of add"),
    (["seed=-1"], r"seed = -1"),
]


@pytest.mark.parametrize("overrides,pattern", BAD_OVERRIDES)
def test_bad_overrides_raise_config_error(overrides, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load_scenario(BASELINE, overrides)
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="malformed TOML"):
        load_scenario(write(tmp_path, "a.toml", "name = \n"))
    with pytest.raises(ConfigError, match="file not found"):
        load_scenario(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="states = .*non-empty list"):
        load_scenario(write(tmp_path, "b.toml", 'name = "b"\nstates = []\n'))
    dup = 'name = "d"\n[[states]]\nid = "AA"\n[[states]]\nid = "AA"\n'
    with pytest.raises(ConfigError, match="duplicate state id"):
        load_scenario(write(tmp_path, "d.toml", dup))
    loop_a = write(tmp_path, "la.toml", 'extends = "lb.toml"\nname = "a"\n')
    write(tmp_path, "lb.toml", 'extends = "la.toml"\nname = "b"\n')
    with pytest.raises(ConfigError, match="extends chain loops"):
        load_scenario(loop_a)
    with pytest.raises(ConfigError, match=r"extends = 'nope\.toml': file not found"):
        load_scenario(write(tmp_path, "e.toml", 'extends = "nope.toml"\nname = "e"\n'))
    with pytest.raises(ConfigError, match=r"c\.toml: russia\.bogus"):
        load_scenario(write(tmp_path, "c.toml", 'name = "c"\n[russia]\nbogus = 1\n'
                                                '[[states]]\nid = "AA"\n'))


def test_error_names_the_file_that_holds_the_bad_key(tmp_path):
    child = write(tmp_path, "child.toml", f'extends = "{BASELINE}"\nname = "x"\n'
                                          '[russia]\nalarm_level = 2.0\n')
    with pytest.raises(ConfigError, match=r"child\.toml: russia\.alarm_level = 2\.0"):
        load_scenario(child)


def test_docs_generated_blocks_equal_the_code():
    """docs/model.md's key tables, top-level limits and outcome table, and docs/odd.md's
    state variables, parameters, drivers, outcomes and initialisation, and docs/python.md's
    paths.parquet columns, are generated from the schema, abm.limits, the outcome record,
    the paths declaration and the baseline; `make docs` rewrites them."""
    from tests.conftest import load_script

    tables = load_script("schema_tables")
    assert set(tables.DOCUMENTS) == {"docs/model.md", "docs/odd.md", "docs/python.md"}
    for doc in tables.DOCUMENTS:
        for name, body in tables.blocks(doc).items():
            assert tables.current(name, ROOT / doc) == body, \
                f"{doc} block {name!r} is stale: run `make docs`"


def test_schedule_points_past_the_horizon_are_accepted_and_never_reached(tmp_path):
    """A schedule is defined for every month: an extending file may shorten the horizon
    below its parent's schedule points (issue: it used to be refused)."""
    child = write(tmp_path, "short.toml", f'extends = "{BASELINE}"\nname = "short"\n'
                                          "horizon_months = 6\n")
    sc = load_scenario(child)
    parent = load_scenario(BASELINE)
    assert sc.horizon_months == 6
    assert sc.us.demand == parent.us.demand  # the points past month 6 are kept
    np.testing.assert_array_equal(sc.us.demand.values(6), parent.us.demand.values(36)[:6])
    far = write(tmp_path, "far.toml", f'extends = "{BASELINE}"\nname = "far"\n'
                                      "[spillover]\ninstability = [[0, 1.0], [40, 2.0]]\n")
    assert load_scenario(far).spillover.instability.points[-1] == (40.0, 2.0)


def test_a_new_state_in_an_extending_file_must_be_complete(tmp_path):
    full = {"name": "Afghanistan", "csto": False, "afghan_border_km": 0.0,
            "russia_dependence": 0.1, "legal_bar": 0.0, "responsiveness": 0.1,
            "stubbornness": 0.5, "willingness": 0.2, "public_support": 0.2}
    body = "\n".join(f"{k} = {v!r}".replace("False", "false").replace("'", '"')
                     for k, v in full.items())
    ok = write(tmp_path, "seven.toml", f'extends = "{BASELINE}"\nname = "seven"\n'
                                       f'[[states]]\nid = "AFG"\n{body}\n')
    assert load_scenario(ok).state_ids[-1] == "AFG"
    typo = write(tmp_path, "typo.toml", f'extends = "{BASELINE}"\nname = "t"\n'
                                        '[[states]]\nid = "UZK"\nwillingness = 0.5\n')
    with pytest.raises(ConfigError, match=r"did you mean 'UZB'\?.*a new state must give"):
        load_scenario(typo)
    # changing an existing state needs only the changed attribute
    one = write(tmp_path, "one.toml", f'extends = "{BASELINE}"\nname = "o"\n'
                                      '[[states]]\nid = "UZB"\nlegal_bar = 0.0\n')
    assert load_scenario(one).states[3].legal_bar == 0.0


def test_an_empty_states_list_in_an_extending_file_is_refused(tmp_path):
    child = write(tmp_path, "empty.toml", f'extends = "{BASELINE}"\nstates = []\n')
    with pytest.raises(ConfigError, match=r"states = \[\]: must be a non-empty list"):
        load_scenario(child)
