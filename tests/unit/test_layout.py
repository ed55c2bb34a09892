"""The house rules that a grep can check: no import cycle among guardrun's modules
(module-level imports, type-only ones included), and no OS fact outside platform/."""

from __future__ import annotations

import re
import subprocess
import sys

from support import REPO

sys.path.insert(0, str(REPO / "tools"))
import import_cycles  # noqa: E402


def test_no_import_cycle() -> None:
    assert import_cycles.cycles(import_cycles.graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles.cycles(g) == [["a", "b", "c"]]


def test_type_only_imports_count() -> None:
    tree = import_cycles.ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from guardrun.x import Y\n"
    )
    nodes = import_cycles._top_level(tree)
    assert any(
        isinstance(n, import_cycles.ast.ImportFrom) and n.module == "guardrun.x" for n in nodes
    )


OS_FACT = re.compile(r"/proc\b|sys\.platform")


def test_no_os_fact_outside_platform() -> None:
    offenders = []
    for path in sorted((REPO / "guardrun").rglob("*.py")):
        rel = path.relative_to(REPO / "guardrun")
        if rel.parts[0] == "platform":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if OS_FACT.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


def test_the_tool_runs_as_documented() -> None:
    r = subprocess.run(
        [sys.executable, str(REPO / "tools" / "import_cycles.py")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout
