"""The import graph: no cycles, and the simulated cloud never reaches into its callers.

DESIGN.md: data flows one way (adapter -> ``Broker.call`` -> operation -> core; the runtime
drives the cores), and ``broker/`` imports nothing from ``adapters/`` or ``scenarios/``. A lower
layer that needs something from a higher one declares it (a ``typing.Protocol``, or callables
passed in) instead of importing it, so the graph has no cycles at all -- not even through
imports under ``if TYPE_CHECKING:`` or inside functions, which are counted here like any other.

The modules are read with :mod:`ast`, never imported: the folders and the names they install as
come from ``[tool.setuptools] package-dir`` in pyproject.toml (``broker/`` is ``msgsim.broker``).
``from pkg import name`` is an edge to the submodule ``pkg.name`` when there is one, else to
``pkg`` itself; an import of a submodule is not counted as an import of its parent packages.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _package_dirs(root: Path) -> dict[str, Path]:
    """Top-level folder of each installed package name: {"msgsim.broker": root/"broker", ...}."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name: root / folder for name, folder in mapping.items()}


def _modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Every module of the installed package: dotted name -> (file, whether it is a package)."""
    out: dict[str, tuple[Path, bool]] = {}
    dirs = _package_dirs(root)
    for name, folder in dirs.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("").parts
            if any(part.startswith(".") for part in rel):
                continue
            is_package = rel[-1] == "__init__"
            parts = rel[:-1] if is_package else rel
            dotted = ".".join((name, *parts))
            out[dotted] = (path, is_package)
    return out


def _imports(module: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {name for name in found if name in known and name != module}


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules it imports."""
    modules = _modules(root)
    known = set(modules)
    return {
        name: _imports(name, path, is_package, known)
        for name, (path, is_package) in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) through each strongly connected component that has one
    (Tarjan's algorithm, iterative; modules and edges visited in sorted order, so the report is
    stable)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, by breadth-first search."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle found in component {sorted(component)}")  # pragma: no cover


def test_every_package_folder_is_read():
    """The graph covers broker/, adapters/, scenarios/ and msgsim/ (a mapping that moved would
    otherwise make the other tests here pass vacuously)."""
    modules = _modules()
    for package in ("msgsim", "msgsim.broker", "msgsim.adapters", "msgsim.scenarios"):
        assert package in modules
    assert "msgsim.broker.runtime" in modules
    assert "msgsim.broker.kinesis.shard" in modules


def test_the_import_graph_has_no_cycles():
    """No module imports itself through others: each cycle found is reported as a chain."""
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_broker_never_imports_adapters_or_scenarios():
    """broker/ is the simulated cloud; the ways into it (adapters/) and the scripts that drive it
    (scenarios/) sit above it. Importing the top-level ``msgsim`` counts too: its ``__init__``
    imports the adapters."""
    bad = [
        f"{module} imports {target}"
        for module, targets in sorted(_graph().items())
        if _within(module, "msgsim.broker")
        for target in sorted(targets)
        if _within(target, "msgsim.adapters")
        or _within(target, "msgsim.scenarios")
        or target == "msgsim"
    ]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_every_kind_of_import(tmp_path):
    """The checker itself: relative imports resolve to full names, imports under TYPE_CHECKING
    and inside functions count, and a cycle is reported as a chain."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\nA = 1\n"
    )
    (pkg / "b.py").write_text("def f():\n    from . import c\nB = 1\n")
    (pkg / "c.py").write_text("import msgsim.pkg.a\n")
    (pkg / "sub").mkdir()
    (pkg / "sub" / "__init__.py").write_text("")
    # Two levels up to a module; a name that is not a module is an edge to its package.
    (pkg / "sub" / "d.py").write_text("from .. import c\nfrom msgsim.pkg import A\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackage-dir = { "msgsim.pkg" = "pkg" }\n'
    )
    graph = _graph(tmp_path)
    assert graph == {
        "msgsim.pkg": {"msgsim.pkg.a"},
        "msgsim.pkg.a": {"msgsim.pkg.b"},
        "msgsim.pkg.b": {"msgsim.pkg.c"},
        "msgsim.pkg.c": {"msgsim.pkg.a"},
        "msgsim.pkg.sub": set(),
        "msgsim.pkg.sub.d": {"msgsim.pkg", "msgsim.pkg.c"},
    }
    assert _cycles(graph) == [["msgsim.pkg.a", "msgsim.pkg.b", "msgsim.pkg.c", "msgsim.pkg.a"]]
