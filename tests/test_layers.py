"""The layer rule: a module imports only from its own floor or below, and the top-level units
(a package or a flat module) import each other without a cycle.

The floors are read from the table in README.md ("Layers"), the one place they are written.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "topicclf"


MODULES = sorted(PACKAGE.rglob("*.py"))
# `from topicclf import __version__` and the lazy names of the package's own __init__.
ROOT_NAMES = {"__version__", "TopicClassifier", "Config", "load_config", "open_corpus", "Document"}


def floors() -> dict[str, int]:
    """Unit name -> floor number (higher floors may import lower ones), from the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Layers", 1)[1].split("\n#", 1)[0]
    table: dict[str, int] = {}
    for floor, cells in re.findall(r"^\| (\d+) \| ([^|]+) \|", section, flags=re.M):
        for name in re.findall(r"`([\w/]+)`", cells):
            table[name.rstrip("/")] = int(floor)
    return table


def unit(module: str) -> str:
    """The top-level unit of a dotted module name inside topicclf: 'model' for
    'topicclf.model.networks', 'config' for 'topicclf.config'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "topicclf"


def _in_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every topicclf import that runs (at the top or inside a function),
    not those only for type checkers."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name == "__init__.py":
        package = module.removesuffix(".__init__")
    else:
        package = module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if _in_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("topicclf")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "topicclf":  # `from topicclf import x`: x may be a module
                found += [
                    (node.lineno, "topicclf" if a.name in ROOT_NAMES else f"topicclf.{a.name}")
                    for a in node.names
                ]
            elif name.startswith("topicclf."):
                found.append((node.lineno, name))
    return found


def test_every_unit_has_a_floor() -> None:
    table = floors()
    units = {
        p.name.removesuffix(".py")
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    missing = sorted(units - set(table) - {"__init__", "__main__"})
    assert not missing, f"units with no floor in README.md's Layers table: {missing}"
    stale = sorted(set(table) - units)
    assert not stale, f"README.md's Layers table names units that do not exist: {stale}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down(path: Path) -> None:
    table = floors()
    here = unit(".".join(path.relative_to(ROOT).with_suffix("").parts))
    if here in ("__init__", "__main__"):
        return  # the package's lazy names and `python -m topicclf` sit above everything
    wrong = []
    for line, name in imports(path):
        there = unit(name)
        if there == "topicclf":
            continue
        if table[there] > table[here]:
            wrong.append(f"line {line}: {name} (floor {table[there]} > {here}'s {table[here]})")
    assert not wrong, f"{path.relative_to(ROOT)} imports from a higher floor: " + "; ".join(wrong)


def test_units_form_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        here = unit(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for _, name in imports(path):
            there = unit(name)
            if there not in (here, "topicclf") and there in floors():
                graph.setdefault(here, set()).add(there)
    seen: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, trail: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                cycle = trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt]
                pytest.fail("units import each other in a cycle: " + " -> ".join(cycle))
            if nxt not in seen:
                visit(nxt, [*trail, nxt])
        seen[node] = 2

    for start in sorted(graph):
        if start not in seen:
            visit(start, [start])
