"""Results are read back only from JSON and Parquet, and a damaged file is an error.

1. A source scan of ``abm/``: no pickle (or its relatives), no ``np.load`` without
   ``allow_pickle=False``, no ``yaml.load``, no ``eval``/``exec``: nothing on a load path
   can run code from a file.
2. A truncated ``trials.parquet``, an invalid ``summary.json``, a deleted
   ``months.parquet`` or a truncated ``manifest.json``: ``abm show``, ``abm plot`` and
   ``abm reproduce`` answer with one line, exit 2 (1 for reproduce's "not reproduced"),
   and never a traceback or a number.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASELINE, ROOT

PACKAGE = ROOT / "abm"

#: Modules that unpickle or run code when they load data.
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
                  "marshal", "yaml", "jsonpickle"}
#: ``<anything>.<attr>(...)`` calls that load code-bearing formats.
UNSAFE_ATTRS = {"read_pickle", "loads_pickle", "unsafe_load", "full_load"}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(func: ast.expr) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def unsafe_uses(source: str, filename: str) -> list[str]:
    """Every place in ``source`` that could run code while loading data."""
    tree = ast.parse(source, filename)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{filename}:{node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNSAFE_MODULES:
                found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
    for call in _calls(tree):
        name = _name(call.func)
        last = name.rpartition(".")[2]
        kw = {k.arg: k.value for k in call.keywords}
        if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
            found.append(f"{filename}:{call.lineno}: {name}(...)")
        elif last in UNSAFE_ATTRS:
            found.append(f"{filename}:{call.lineno}: {name}(...)")
        elif name in ("np.load", "numpy.load"):
            safe = kw.get("allow_pickle")
            if not (isinstance(safe, ast.Constant) and safe.value is False):
                found.append(f"{filename}:{call.lineno}: {name}(...) without "
                             "allow_pickle=False")
    return found


def test_the_scan_finds_what_it_looks_for():
    bad = ("import pickle\nfrom yaml import load\nimport numpy as np\n"
           "np.load('x.npy')\nnp.load('y.npz', allow_pickle=True)\neval('1')\n"
           "import pandas as pd\npd.read_pickle('z')\nexec('x = 1')\n")
    assert len(unsafe_uses(bad, "bad.py")) == 7
    assert unsafe_uses("import numpy as np\nnp.load('a.npz', allow_pickle=False)\n",
                       "ok.py") == []


def test_no_code_runs_while_loading_results():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += unsafe_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "unsafe loading in abm/:\n" + "\n".join(found)


# --------------------------------------------------------------------------- damaged runs


def abm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abm", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "run"
    r = abm("run", BASELINE, "--trials", "300", "--seed", "5", "--out", out, "--quiet",
            "--no-figures", cwd=out.parent)
    assert r.returncode == 0, r.stderr
    return out


def _truncate_trials(d: Path) -> str:
    f = d / "trials.parquet"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return "trials.parquet"


def _corrupt_summary(d: Path) -> str:
    (d / "summary.json").write_text('{"name": "baseline_2021", "states": {')
    return "summary.json"


def _nan_summary(d: Path) -> str:
    f = d / "summary.json"
    f.write_text(f.read_text().replace('"p_base": 0.0', '"p_base": NaN', 1))
    return "summary.json"


def _delete_months(d: Path) -> str:
    (d / "months.parquet").unlink()
    return "months.parquet"


def _truncate_manifest(d: Path) -> str:
    f = d / "manifest.json"
    f.write_bytes(f.read_bytes()[:100])
    return "manifest.json"


DAMAGE = {"truncated trials.parquet": _truncate_trials,
          "invalid summary.json": _corrupt_summary,
          "NaN in summary.json": _nan_summary,
          "deleted months.parquet": _delete_months,
          "truncated manifest.json": _truncate_manifest}


@pytest.mark.parametrize("command", ["show", "plot", "reproduce"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_results_give_one_clear_line(good_run, tmp_path, damage, command):
    d = tmp_path / "run"
    shutil.copytree(good_run, d)
    name = DAMAGE[damage](d)
    r = abm(command, d, cwd=tmp_path)
    assert "Traceback" not in r.stderr, r.stderr
    allowed = (2, 1) if command == "reproduce" else (2,)
    assert r.returncode in allowed, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert name in lines[0], lines[0]
    if r.returncode == 1:
        assert "NOT reproduced" in lines[0]
    assert "P(base)" not in r.stdout and "matches" not in r.stdout  # no numbers shown


def test_a_damaged_parquet_file_that_matches_its_manifest_is_still_an_error(good_run, tmp_path):
    """Edit both a data file and the sha256 in the manifest: reading it still fails cleanly."""
    import hashlib
    import json

    d = tmp_path / "run"
    shutil.copytree(good_run, d)
    f = d / "months.parquet"
    f.write_bytes(b"PAR1 not really parquet PAR1")
    m = json.loads((d / "manifest.json").read_text())
    m["files"]["months.parquet"] = hashlib.sha256(f.read_bytes()).hexdigest()
    (d / "manifest.json").write_text(json.dumps(m))
    r = abm("plot", d, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert "months.parquet: not a readable Parquet file" in r.stderr
