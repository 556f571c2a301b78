"""The documentation stands alone: no citation of files outside the repository, and no
relative link in README.md or docs/*.md that leads nowhere."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: The folder beside the repository that held the project's brief and seed texts; a clone
#: does not have it, so nothing outside tests may cite it (docs/sources.md replaces it).
OUTSIDE = "../" + "shared"
#: Tracked folders the check leaves out: tests (which may name it, as this file does) and
#: the CI script, which describes the machine CI runs on rather than citing a source.
NOT_CHECKED = ("tests", ".ci")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / p for p in out.decode().split("\0") if p]


def links(page: Path) -> list[str]:
    """Link targets of a Markdown page, outside fenced code blocks."""
    return LINK.findall(FENCE.sub("", page.read_text()))


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a page: lower case, punctuation dropped, spaces to '-'."""
    out = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return out


def test_no_tracked_file_outside_tests_cites_the_folder_beside_the_repository():
    bad = []
    for path in tracked_files():
        rel = path.relative_to(ROOT)
        if rel.parts[0] in NOT_CHECKED or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        bad += [f"{rel}:{n}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE in line]
    assert not bad, f"cite docs/sources.md (or the right docs/ page) instead of {OUTSIDE}: {bad}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    bad = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):      # https:, mailto:, ...
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not bad, f"{page.relative_to(ROOT)}: {bad}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md")}
    missing = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md's Documentation list lacks {missing}"


def test_the_link_checker_sees_a_broken_link_and_a_broken_anchor(tmp_path):
    (tmp_path / "a.md").write_text("# Title here\n\n[x](b.md) [y](a.md#nowhere) "
                                   "[z](a.md#title-here)\n```\n[code](ignored.md)\n```\n")
    assert links(tmp_path / "a.md") == ["b.md", "a.md#nowhere", "a.md#title-here"]
    assert anchors(tmp_path / "a.md") == {"title-here"}


def test_the_calibration_tables_of_validation_md_are_current():
    """docs/validation.md's calibration block is what docs/scripts/calibration_tables.py
    makes from the shipped calibration (experiments/history/calibrated/)."""
    import json

    from tests.conftest import load_script

    mod = load_script("calibration_tables")
    want = mod.block(json.loads((mod.SHIPPED / "summary.json").read_text()))
    doc = (ROOT / "docs" / "validation.md").read_text()
    got = doc[doc.index(mod.BEGIN) + len(mod.BEGIN):doc.index(mod.END)].strip()
    assert got == want.strip(), "run: python docs/scripts/calibration_tables.py --write"


def test_the_baseline_holds_the_shipped_posterior_medians():
    """experiments/baseline_2021.toml's [dynamics] keys and stance coefficients are the
    weighted posterior medians of the shipped calibration, as
    docs/scripts/posterior_medians.py writes them, and its comments name that calibration."""
    from tests.conftest import load_script

    mod = load_script("posterior_medians")
    text = mod.BASELINE.read_text(encoding="utf-8")
    assert mod.rewritten(text) == text, "run: python docs/scripts/posterior_medians.py --write"
    cid, values = mod.medians()
    assert f"calibration {cid}" in text
    assert sum(len(v) for v in values.values()) == 30


def test_the_sweeps_span_the_shipped_posterior_90_percent_intervals():
    """experiments/global_sobol.toml and discovery_lhs_2021.toml sweep every key that the
    shipped calibration fits and a sweep can sample over its posterior 90% interval,
    rounded outward, as docs/scripts/posterior_ranges.py writes it, and name that
    calibration; every other swept range (an assumption) contains the baseline's value."""
    from tests.conftest import load_script

    mod = load_script("posterior_ranges")
    cid, calibrated = mod.ranges()
    assert len(calibrated) == 27  # 30 fitted keys less the 3 whole-month ones
    summary = json.loads((mod.CALIBRATED / "summary.json").read_text(encoding="utf-8"))
    for key, (lo, hi, _) in calibrated.items():
        post = summary["parameters"][key]["posterior"]
        assert float(lo) <= post["q05"] < post["q95"] <= float(hi), key
        for bound, q in ((lo, post["q05"]), (hi, post["q95"])):
            assert abs(float(bound) - q) <= 0.01 * abs(q), key  # 3 significant figures
    for path in mod.FILES:
        text = path.read_text(encoding="utf-8")
        assert mod.rewritten(text) == text, "run: python docs/scripts/posterior_ranges.py --write"
        assert f"calibration {cid}" in text
        assert mod.outside(text) == [], path.name
        swept = mod.swept(text)
        for key in calibrated:
            if key.startswith("dynamics.") or path.name == "global_sobol.toml":
                assert key in swept, f"{path.name} does not sweep {key}"
            if key in swept:
                lo, hi, _ = calibrated[key]
                assert swept[key] == (float(lo), float(hi)), key


def test_the_shipped_calibration_copy_is_intact():
    """experiments/history/calibrated/ passes the calibration directory's checks (every
    file against the manifest's sha256; generations.parquet is not shipped)."""
    from abm.experiment.calibrate import read_calibration

    m = read_calibration(ROOT / "experiments" / "history" / "calibrated")
    assert m["name"] == "history" and "k2_eviction_2005" not in {
        e["name"] for e in m["episodes"]}


PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def test_every_python_block_of_the_notebook_walkthrough_runs(tmp_path, monkeypatch):
    """docs/python.md's code blocks run as written, in order, in one namespace, from a
    directory that has the repository's experiments (its results go to tmp_path)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    blocks = PYTHON_BLOCK.findall((ROOT / "docs" / "python.md").read_text())
    assert len(blocks) >= 10
    namespace: dict = {"__name__": "__main__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"docs/python.md block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block, not only the line
            raise AssertionError(f"docs/python.md block {i + 1} fails: {exc!r}\n{code}") from exc
    assert (tmp_path / "results" / "notebook" / "incentives" / "figures").is_dir()
    assert (tmp_path / "results" / "notebook" / "sweep" / "points.parquet").is_file()
    assert (tmp_path / "results" / "notebook" / "pak_paths.png").is_file()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_leave_one_out_table_script(tmp_path):
    """docs/scripts/loo_table.py writes one row per pattern of each left-out episode, from
    its calibration's summary, and refuses a --quick run or the wrong episode left out."""
    import json

    import pytest

    from tests.conftest import load_script

    mod = load_script("loo_table")
    for ep in mod.EPISODES:
        (tmp_path / ep).mkdir()
        rows = [{"role": "left out", "state": "UZB", "pattern": "no base",
                 "p_recorded": 0.25, "ci_low": 0.0, "ci_high": 0.5, "verdict": "NO"},
                {"role": "fitted", "state": "KAZ", "pattern": "no base",
                 "p_recorded": 1.0, "ci_low": 0.99, "ci_high": 1.0, "verdict": "yes"}]
        (tmp_path / ep / "summary.json").write_text(json.dumps(
            {"left_out": [ep], "quick": False, "seed": 7, "calibration_id": "0" * 12,
             "final_epsilon": 0, "predictive": rows}))
    text = mod.block(tmp_path)
    body = [x for x in text.splitlines() if x.startswith("| ") and "left out |" not in x]
    assert len(body) == 5 and all("| UZB | no base | 0.250 [0.000, 0.500] | NO |" in x
                                  for x in body), body
    assert "seed 7" in text
    (tmp_path / "shamsi_2011" / "summary.json").write_text(json.dumps(
        {"left_out": ["opening_2001"], "quick": False, "seed": 7, "calibration_id": "0" * 12,
         "final_epsilon": 0, "predictive": []}))
    with pytest.raises(SystemExit):
        mod.block(tmp_path)
