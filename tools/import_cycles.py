"""Import cycles among guardrun's modules, and imports that run back up the layers.

Every import counts: module-level ones, those under ``if TYPE_CHECKING:`` (a cycle
there is still a knot for a reader) and those inside functions (lazy for start-up, but
still a dependency: a function-level import that closes a circle is a circle).

The layers, lowest first (``LAYERS``): a module may import its own layer and those
below; an import of a higher layer is reported. The supervisor is the core: it
declares what it needs from the teller (``observe``), the conversation (``state``) and
the other runs (``fleet``) as Protocols, and ``runner`` wires the real ones in.

    python tools/import_cycles.py          # prints each cycle and upward import; exit 1 if any
    python tools/import_cycles.py --count  # also: upward imports reachable from guardrun.runner
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "guardrun"

# Lowest first; a module's layer is that of its longest listed prefix.
LAYERS: list[tuple[str, ...]] = [
    ("guardrun", "guardrun.errors", "guardrun.units"),
    ("guardrun.platform", "guardrun.dirs", "guardrun.ui"),
    ("guardrun.supervisor",),
    ("guardrun.state",),
    ("guardrun.config",),
    ("guardrun.observe",),
    ("guardrun.fleet",),
    ("guardrun.flags", "guardrun.runparser", "guardrun.runner", "guardrun.commands"),
    ("guardrun.cli", "guardrun.__main__"),
]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    best, found = -1, 0
    for i, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best:
                best, found = len(n), i
    return found


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, descending into if/try blocks (TYPE_CHECKING, fallbacks)."""
    out: list[ast.stmt] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        out.append(node)
        if isinstance(node, ast.If):
            todo.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            todo.extend(node.body + node.orelse + node.finalbody)
            for h in node.handlers:
                todo.extend(h.body)
    return out


def _all_imports(tree: ast.Module) -> list[ast.stmt]:
    """Every import statement, wherever it is (functions and methods included)."""
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def imports_of(path: Path, modules: set[str], functions: bool = True) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in _all_imports(tree) if functions else _top_level(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            # The deepest guardrun module the import names (a submodule or its package).
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph(functions: bool = True) -> dict[str, set[str]]:
    files = sorted((ROOT / PACKAGE).rglob("*.py"))
    modules = {module_name(f) for f in files}
    # Importing a.b.c runs a/__init__ and a/b/__init__ first, but only the package's
    # own imports count as edges: a package is not a cycle with its submodules.
    return {module_name(f): imports_of(f, modules, functions) for f in files}


def upward(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports of a higher layer than the importer's, sorted."""
    return sorted((a, b) for a, deps in g.items() for b in deps if layer(b) > layer(a))


def reachable(g: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for w in g.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main(argv: list[str]) -> int:
    g = graph()
    found = cycles(g)
    for comp in found:
        print("import cycle: " + " <-> ".join(comp))
    up = upward(g)
    for a, b in up:
        print(f"import up the layers: {a} -> {b}")
    if "--count" in argv:
        seen = reachable(g, "guardrun.runner")
        run_up = [(a, b) for a, b in up if a in seen]
        print(
            f"modules reachable from guardrun.runner: {len(seen)}; "
            f"upward imports among them: {len(run_up)}"
        )
    return 1 if found or up else 0


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    raise SystemExit(main(sys.argv[1:]))
