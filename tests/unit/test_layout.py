"""The house rules that a grep can check: no import cycle among guardrun's modules and no
import back up the layers (every import: module-level, type-only and function-level),
and no OS fact outside platform/."""

from __future__ import annotations

import re
import subprocess
import sys

from support import REPO

sys.path.insert(0, str(REPO / "tools"))
import import_cycles  # noqa: E402


def test_no_import_cycle() -> None:
    assert import_cycles.cycles(import_cycles.graph()) == []


def test_no_import_runs_back_up_the_layers() -> None:
    """The supervisor imports neither the teller (observe/), the conversation (state/)
    nor the fleet, not even for types: they come in through supervisor/ports.py."""
    assert import_cycles.upward(import_cycles.graph()) == []


def test_function_level_imports_count() -> None:
    """A lazy import inside a function is still an edge: config.schema's old
    ``to_plain`` (importing config.values, which imports config.schema) was a circle."""
    run = "guardrun.supervisor.run"
    lazy = "guardrun.supervisor.countdown"  # imported in Supervisor._cooldown
    assert lazy in import_cycles.graph()[run]
    assert lazy not in import_cycles.graph(functions=False)[run]


def test_the_layers_find_an_upward_import() -> None:
    g = {
        "guardrun.supervisor.run": {"guardrun.observe.observer", "guardrun.platform"},
        "guardrun.observe.observer": {"guardrun.supervisor.status"},
        "guardrun.runner": {"guardrun.supervisor.run"},
    }
    assert import_cycles.upward(g) == [("guardrun.supervisor.run", "guardrun.observe.observer")]
    assert import_cycles.layer("guardrun.state.conversation") > import_cycles.layer(
        "guardrun.supervisor.ports"
    )


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
