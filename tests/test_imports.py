"""The package's import structure: config imports without torch (the Snakefile checks a
config before any job, where torch may be missing), and no module of ``mnistrobust``
imports itself back through others (each floor builds on the floors below it)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"


def test_every_config_module_imports_with_torch_blocked():
    modules = sorted(path.stem for path in (SRC / "mnistrobust" / "config").glob("*.py"))
    script = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(SRC)!r})\n"
        "sys.modules['torch'] = None  # any 'import torch' now raises ImportError\n"
        f"for name in {modules!r}:\n"
        "    module = 'mnistrobust.config' + ('' if name == '__init__' else '.' + name)\n"
        "    importlib.import_module(module)\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('mnistrobust'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert {f"mnistrobust.config.{name}" for name in modules if name != "__init__"} <= set(loaded)
    assert [name for name in loaded if not name.startswith("mnistrobust.config")] == ["mnistrobust", "mnistrobust.errors"]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, package: str = "mnistrobust") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, at module level or inside functions,
    relatively or absolutely (``from x import name`` counts as importing x.name where that
    is a module, else x)."""
    files = {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = here.split(".")
                    base = ".".join([*parts[: len(parts) - node.level + 1], *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names)
        graph[name] = {
            found
            for target in targets
            if target == package or target.startswith(f"{package}.")
            if (found := known(target)) is not None and found != name
        }
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path that ends where it starts) per group of modules that import each
    other, found by depth-first search; [] when the graph has none."""
    cycles, done = [], set()
    for start in sorted(graph):
        if start in done:
            continue
        stack, on_path = [(start, iter(sorted(graph[start])))], [start]
        while stack:
            node, edges = stack[-1]
            step = next(edges, None)
            if step is None:
                stack.pop()
                done.add(on_path.pop())
            elif step in on_path:
                cycle = on_path[on_path.index(step):] + [step]
                if not any(set(cycle) <= set(known) for known in cycles):
                    cycles.append(cycle)
            elif step not in done:
                stack.append((step, iter(sorted(graph.get(step, ())))))
                on_path.append(step)
    return cycles


def test_the_cycle_search_names_a_cycle_and_only_a_cycle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_import_graph_sees_relative_absolute_and_function_level_imports(tmp_path):
    package = tmp_path / "mnistrobust"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .leaf import x\n")
    (package / "sub" / "leaf.py").write_text("def f():\n    from ..top import y\n")
    (package / "top.py").write_text("import mnistrobust.sub.leaf\n")
    (package / "other.py").write_text("import os\nfrom mnistrobust import sub\n")
    graph = import_graph(tmp_path)
    assert graph == {
        "mnistrobust": set(),
        "mnistrobust.other": {"mnistrobust.sub"},
        "mnistrobust.sub": {"mnistrobust.sub.leaf"},
        "mnistrobust.sub.leaf": {"mnistrobust.top"},
        "mnistrobust.top": {"mnistrobust.sub.leaf"},
    }
    assert import_cycles(graph) == [["mnistrobust.sub.leaf", "mnistrobust.top", "mnistrobust.sub.leaf"]]


def test_the_package_has_no_import_cycle():
    graph = import_graph(SRC)
    assert "mnistrobust.nets.plugins" in graph["mnistrobust.nets.methods"]  # the graph is the package's
    cycles = import_cycles(graph)
    assert not cycles, "import cycle(s): " + "; ".join(" -> ".join(cycle) for cycle in cycles)
