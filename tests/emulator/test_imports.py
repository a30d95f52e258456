"""The shape of the house: who imports whom (issue 15).

The import graph is read from the sources (every ``import`` statement, at
the top of a file or inside a function), not from a running interpreter:

* no cycle among the project's modules, nor among emulator's packages
  (each subpackage one node, each top-level module its own);
* the rules (emulator/checks) know events and machine state only: nothing
  they import, directly or not, is the machine, the observer, the debugger
  or the kernel (guest_kernel);
* devices never import unicorn (DESIGN.md);
* an import inside a function says why on its line or just above
  (an optional or heavy dependency);
* no file of emulator/ is over 600 lines (STYLE.md).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("emulator", "guest_kernel", "asm")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def project_files() -> dict:
    """module name -> source file, for every module of the project's packages."""
    return {module_name(f): f for pkg in PACKAGES for f in sorted((ROOT / pkg).rglob("*.py"))}


@lru_cache(maxsize=None)
def import_nodes(path: Path) -> list:
    """(import node, line of the enclosing def or None) for every import
    statement of a file."""
    out = []

    def visit(node, def_line):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, def_line))
            inner = child.lineno if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                else def_line
            visit(child, inner)
    visit(ast.parse(path.read_text(), str(path)), None)
    return out


def imports_of(name: str, path: Path, known: dict) -> list:
    """(imported project module, ast node, line of the enclosing def or None)
    for each import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node, def_line in import_nodes(path):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        for t in targets:
            r = t
            while r and r not in known:         # a name inside a module: the module
                r = r.rpartition(".")[0]
            out.append((r or t, node, def_line))
    return out


@lru_cache(maxsize=1)
def graph() -> dict:
    known = project_files()
    return {name: {t for t, _n, _f in imports_of(name, path, known) if t in known and t != name}
            for name, path in known.items()}


def find_cycle(edges: dict):
    """One cycle of the directed graph as a list of nodes, or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = "done"
        return None

    for n in sorted(edges):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def package_of(module: str) -> str:
    """emulator.checks.core -> emulator.checks; emulator.machine -> itself."""
    parts = module.split(".")
    if parts[0] == "emulator" and len(parts) >= 2 and (ROOT / "emulator" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def closure(edges: dict, starts) -> set:
    seen, todo = set(), list(starts)
    while todo:
        n = todo.pop()
        for m in edges.get(n, ()):
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def test_no_module_of_the_project_imports_itself_back():
    assert find_cycle(graph()) is None


def test_no_cycle_among_emulators_packages():
    g = graph()
    packed: dict = {}
    for a, targets in g.items():
        if not a.startswith("emulator"):
            continue
        for b in targets:
            pa, pb = package_of(a), package_of(b)
            if b.startswith("emulator") and pa != pb:
                packed.setdefault(pa, set()).add(pb)
    assert find_cycle(packed) is None


def test_the_rules_know_events_and_machine_state_but_not_the_machine_or_the_kernel():
    g = graph()
    checks = [n for n in g if n == "emulator.checks" or n.startswith("emulator.checks.")]
    reached = closure(g, checks)
    forbidden = [n for n in reached if n.startswith(("guest_kernel", "emulator.machine",
                                                     "emulator.observe", "emulator.debugger",
                                                     "emulator.runloop", "emulator.cpu"))]
    assert forbidden == []
    assert "emulator.trace" in reached          # what they do know: the events


def test_devices_never_import_unicorn():
    known = project_files()
    for name, path in known.items():
        if name.startswith("emulator.devices"):
            imported = [t for t, _n, _f in imports_of(name, path, known)]
            assert not [t for t in imported if t.split(".")[0] == "unicorn"], name


def test_an_import_inside_a_function_says_why():
    """A comment on its line or above it in its function (an optional or
    heavy dependency, a Ctrl-C at start-up...)."""
    known = project_files()
    unexplained = []
    for name, path in known.items():
        if not name.startswith(("emulator", "guest_kernel")):
            continue
        lines = path.read_text().splitlines()
        for _t, node, def_line in imports_of(name, path, known):
            if def_line is not None and not any("#" in ln for ln in lines[def_line - 1:node.lineno]):
                unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert sorted(set(unexplained)) == []


MAX_LINES = 600      # STYLE.md: Python files under ~600 lines (issue 15)


def test_no_file_of_the_emulator_is_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "emulator").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
