"""Where each agent's own arguments start in an argv, or None when the argv does not run
it: the one question ``detect`` asks of every adapter. Kept apart from the adapters (and
their option tables, regexes and file readers) so that detection imports only the one
adapter a run needs; importing all four was a cost of every start-up (docs/benchmarks.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


NODES = ("node", "nodejs", "bun", "deno")


def basename(arg: str) -> str:
    """The command's name without directory or a Windows ``.exe``/``.cmd`` suffix."""
    name = arg.replace("\\", "/").rsplit("/", 1)[-1]
    lowered = name.lower()
    for suffix in (".exe", ".cmd", ".bat"):
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _version(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts)


def claude(argv: Sequence[str]) -> int | None:
    if not argv:
        return None
    first = argv[0]
    name = basename(first)
    if name == "claude":
        return 1
    if _version(name) and ("claude" in first.lower() or "versions" in first):
        return 1  # the native installer's binary, named after its version
    if name in NODES or name == "npx":
        for i, arg in enumerate(argv[1:], 1):
            if "claude-code" in arg or basename(arg) == "claude":
                return i + 1
            if not arg.startswith("-"):
                return None
    return None


def codex(argv: Sequence[str]) -> int | None:
    if not argv:
        return None
    if basename(argv[0]) == "codex":
        return 1
    if basename(argv[0]) in ("node", "nodejs", "bun") and len(argv) > 1:
        if basename(argv[1]) in ("codex", "codex.js"):
            return 2
    return None


def gemini(argv: Sequence[str]) -> int | None:
    return 1 if argv and basename(argv[0]) == "gemini" else None


def aider(argv: Sequence[str]) -> int | None:
    return 1 if argv and basename(argv[0]) == "aider" else None


STARTS = {"claude": claude, "codex": codex, "gemini": gemini, "aider": aider}


def which(argv: Sequence[str]) -> str:
    """The agent ``argv`` runs, by the rules above; "generic" for any other command."""
    for name, start in STARTS.items():
        if start(argv) is not None:
            return name
    return "generic"


__all__ = ["STARTS", "basename", "which"]
