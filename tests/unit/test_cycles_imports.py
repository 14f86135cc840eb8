"""No import cycles between BBX's modules: dependencies point one way, so a shared piece
lives in the module below both users (docs/architecture.md). Every import counts — at
module level, inside a function and under ``TYPE_CHECKING`` — except a module's import of
its own package, which Python has always loaded first."""

import ast
from pathlib import Path

from bbx import settings

PLUGINS = settings.PROJECT_ROOT / "plugins"


def _modules(root: Path = PLUGINS) -> dict[str, Path]:
    modules = {}
    for path in (root / "bbx").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the BBX modules it imports (``from bbx.a import b``: ``bbx.a.b`` when that is
    a module, else ``bbx.a``)."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                names += [f"{base}.{alias.name}" for alias in node.names]
        graph[module] = {t for n in names if (t := known(n)) and t != module and not module.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while (member := stack.pop()) != node:
                    component.append(member)
                component.append(node)
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_check_finds_a_cycle():
    graph = {"bbx.a": {"bbx.b"}, "bbx.b": {"bbx.c"}, "bbx.c": {"bbx.a"}, "bbx.d": {"bbx.a"}}
    assert cycles(graph) == [["bbx.a", "bbx.b", "bbx.c"]]


def test_function_level_and_type_checking_imports_count_a_package_import_does_not(tmp_path):
    (tmp_path / "bbx" / "store").mkdir(parents=True)
    files = {
        "bbx/__init__.py": "",
        "bbx/store/__init__.py": "",
        "bbx/store/users.py": "def end():\n    from bbx.store import api_keys\n",
        "bbx/store/api_keys.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .users import User\n",
        "bbx/store/db.py": "import bbx.store\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    graph = import_graph(_modules(tmp_path))
    assert graph["bbx.store.db"] == set()
    assert cycles(graph) == [["bbx.store.api_keys", "bbx.store.users"]]


def test_bbx_has_no_import_cycles():
    modules = _modules()
    graph = import_graph(modules)
    assert graph["bbx.api.auth"] >= {"bbx.api.principal", "bbx.api.client_certs"}  # the graph is read
    assert cycles(graph) == []
