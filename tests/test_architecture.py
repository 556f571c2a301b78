"""The package's layout keeps its rules: imports flow one way, no cycles, small modules.

Read from the source with ``ast`` (every import, at module level or inside a function),
so a lazy import cannot hide an upward dependency. The layers and what each owns are
described in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PKG = ROOT / "abm"

#: Layer of each top-level part of the package; a module may import its own layer and the
#: layers listed in ALLOWED.
LAYER = {
    "errors": "base", "limits": "base",
    "scenario": "scenario",
    "model": "model",
    "analysis": "analysis",
    "experiment": "experiment",
    "plots": "plots",
    "cli": "front", "bench": "front", "__main__": "front", "__init__": "front", "app": "front",
    "commands": "front",
}
ALLOWED = {
    "base": {"base"},
    "scenario": {"base", "scenario"},
    "model": {"base", "scenario", "model"},
    "analysis": {"base", "scenario", "model", "analysis"},
    "experiment": {"base", "scenario", "model", "analysis", "experiment"},
    # figures are drawn from data: never from storage or runs
    "plots": {"base", "scenario", "model", "analysis", "plots"},
    "front": {"base", "scenario", "model", "analysis", "experiment", "plots", "front"},
}
MAX_LINES = 650


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path) -> set[str]:
    """The ``abm`` modules that ``name`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "abm"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "abm":
                continue
            mods = modules()
            for a in node.names:  # "from .model import dynamics" imports a module
                sub = f"{mod}.{a.name}"
                found.add(sub if sub in mods else mod)
    return found


def layer(name: str) -> str:
    parts = name.split(".")
    return LAYER["__init__"] if len(parts) == 1 else LAYER[parts[1]]


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {n: {i for i in imports_of(n, p) if i in mods and i != n} for n, p in mods.items()}


def test_every_part_of_the_package_has_a_layer():
    for name in modules():
        parts = name.split(".")
        assert len(parts) == 1 or parts[1] in LAYER, f"{name}: add it to a layer"


def test_imports_flow_one_way():
    bad = []
    for name, deps in graph().items():
        for d in deps:
            if d == "abm":  # the package itself: only the front may import the facade
                if layer(name) != "front":
                    bad.append(f"{name} imports the facade abm")
                continue
            if layer(d) not in ALLOWED[layer(name)]:
                bad.append(f"{name} ({layer(name)}) imports {d} ({layer(d)})")
    assert not bad, "upward imports:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(g.get(n, ())):
            if d == "abm" or d not in g:
                continue
            # a package's __init__ importing its own submodules is not a cycle of logic,
            # but a submodule importing its package's __init__ back would be
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                cyc = visit(d)
                if cyc:
                    return cyc
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            cyc = visit(n)
            assert cyc is None, "import cycle: " + " -> ".join(cyc)


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_too_long(name):
    n = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{name} has {n} lines; split it (docs/architecture.md)"


def test_the_outcome_record_is_declared_once():
    """Engines, the table, the hash and the docs read the outcome names from
    abm.model.outcomes; no other module spells the whole list."""
    from abm.model.outcomes import OUTCOME_NAMES

    offenders = []
    for name, path in modules().items():
        # the month step is where each outcome is computed, so it names each one
        if name in ("abm.model.outcomes", "abm.model.step"):
            continue
        text = path.read_text(encoding="utf-8")
        if all(f'"{o}"' in text for o in OUTCOME_NAMES):
            offenders.append(name)
    assert not offenders, f"the outcome list is spelled out again in {offenders}"
