"""A worst-case check of a user's ``state.redact`` pattern, at load (pure: no I/O).

Python's ``re`` backtracks and has no time limit, and it holds the GIL while it matches:
a pattern such as ``(a+)+$`` takes seconds at 30 characters and years at 100, and
no thread around it would keep sampling going. So a pattern that can backtrack
catastrophically is refused where it is read (``config check`` and a run alike), by
looking at its structure as ``re``'s own parser gives it:

- a repeated group that holds a variable quantifier: ``(a+)+``, ``(\\w+\\s?)*``,
  ``(.*a){12}`` (exponential: each character may go to either quantifier);
- a repeated alternation whose branches can start with the same character:
  ``(a|aa)+``, ``(\\w|\\d)*`` (exponential, for the same reason);
- two unbounded quantifiers in a row, with only optional items between them, over
  characters they share: ``.*.*=``, ``\\w+\\d*\\w+x`` (polynomial: cubic and worse).

What passes is at worst quadratic in its input (one unbounded quantifier tried at each
start), and ``Redactor`` bounds that input: a user pattern searches a value in
overlapping windows of ``redact.USER_WINDOW`` characters. The check is conservative (it
refuses some harmless patterns, e.g. ``(?:\\d{1,3}\\.)+``); possessive quantifiers and
atomic groups (Python 3.11+: ``(?:a+)++``, ``(?>a+)+``) never backtrack and pass.
"""

from __future__ import annotations

import importlib
import string
from typing import Any

_Set = frozenset[str] | None  # the characters an item may consume; None: any

_WORD = frozenset(string.ascii_letters + string.digits + "_")
_DIGIT = frozenset(string.digits)
_SPACE = frozenset(" \t\n\r\f\v")


def _parser() -> Any:
    try:
        return importlib.import_module("re._parser")  # 3.11+; sre_parse warns there
    except ImportError:  # pragma: no cover - Python 3.10
        return importlib.import_module("sre_parse")


def worst_case(pattern: str, flags: int = 0) -> str | None:
    """Why ``pattern`` can backtrack catastrophically, or None when it cannot."""
    p = _parser()
    try:
        tree = p.parse(pattern, flags)
    except Exception:  # noqa: BLE001 - compile() already accepted it; a parser that changed
        return None  # pragma: no cover
    return _Checker(p).sequence(list(tree), in_repeat=False)


class _Checker:
    def __init__(self, p: Any) -> None:
        self.p = p
        self.repeats = {p.MAX_REPEAT, p.MIN_REPEAT}
        self.unbounded = p.MAXREPEAT

    # -- the walk ------------------------------------------------------------------------
    def sequence(self, items: list[tuple[Any, Any]], in_repeat: bool) -> str | None:
        for op, av in items:
            why = self.item(op, av, in_repeat)
            if why:
                return why
        return self._adjacent(items)

    def item(self, op: Any, av: Any, in_repeat: bool) -> str | None:
        p = self.p
        if op in self.repeats:
            lo, hi, body = av
            body = list(body)
            if hi > 1 and self._variable_inside(body):
                return "a repeated group holds a quantifier (as in (a+)+)"
            if hi > 1 and self._overlapping_branch(body):
                return "a repeated alternation has branches that start alike (as in (a|aa)+)"
            return self.sequence(body, in_repeat or hi > 1)
        if op is p.SUBPATTERN:
            return self.sequence(list(av[-1]), in_repeat)
        if op is p.BRANCH:
            for branch in av[1]:
                why = self.sequence(list(branch), in_repeat)
                if why:
                    return why
            return None
        if op in (p.ASSERT, p.ASSERT_NOT):
            return self.sequence(list(av[1]), in_repeat)
        return None  # literals, classes, anchors; possessive and atomic never backtrack

    def _variable_inside(self, body: list[tuple[Any, Any]]) -> bool:
        """A quantifier with a choice of counts anywhere in ``body``."""
        for op, av in body:
            if op in self.repeats and av[0] != av[1]:
                return True
            if any(self._variable_inside(list(sub)) for sub in self._children(op, av)):
                return True
        return False

    def _children(self, op: Any, av: Any) -> list[Any]:
        p = self.p
        if op in self.repeats:
            return [av[2]]
        if op is p.SUBPATTERN:
            return [av[-1]]
        if op is p.BRANCH:
            return list(av[1])
        if op in (p.ASSERT, p.ASSERT_NOT):
            return [av[1]]
        return []

    def _overlapping_branch(self, body: list[tuple[Any, Any]]) -> bool:
        p = self.p
        for op, av in body:
            if op is p.BRANCH:
                # A branch that can match nothing lets the repeat's next turn start
                # here too: it overlaps whatever the others start with.
                firsts = [None if _least(b) == 0 else self._first(list(b)) for b in av[1]]
                for i, a in enumerate(firsts):
                    if any(_overlap(a, b) for b in firsts[i + 1 :]):
                        return True
            if any(self._overlapping_branch(list(sub)) for sub in self._children(op, av)):
                return True
        return False

    def _adjacent(self, items: list[tuple[Any, Any]]) -> str | None:
        """Two unbounded quantifiers over shared characters with only optional items
        between them."""
        open_sets: list[_Set] = []  # unbounded quantifiers still "touching" this point
        for op, av in items:
            if op in self.repeats and av[1] == self.unbounded:
                chars = self._chars(list(av[2]))
                if any(_overlap(chars, prior) for prior in open_sets):
                    return "two unbounded quantifiers in a row take the same characters (.*.*)"
                open_sets.append(chars)
                if av[0] > 0:
                    open_sets = [chars]
                continue
            if self._optional(op, av):
                continue
            open_sets = []
        return None

    def _optional(self, op: Any, av: Any) -> bool:
        p = self.p
        if op in self.repeats:
            return bool(av[0] == 0)
        return op is p.AT  # anchors consume nothing

    # -- character sets ------------------------------------------------------------------
    def _first(self, items: list[tuple[Any, Any]]) -> _Set:
        """What the first character of a match of ``items`` may be (None: anything)."""
        out: set[str] = set()
        for op, av in items:
            if op in self.repeats:
                got = self._first(list(av[2]))
                if got is None:
                    return None
                out |= got
                if av[0] > 0:
                    return frozenset(out)
                continue
            if op is self.p.SUBPATTERN:
                return _union(out, self._first(list(av[-1])))
            if op is self.p.AT:
                continue
            if op is self.p.BRANCH:
                for b in av[1]:
                    got = self._first(list(b))
                    if got is None:
                        return None
                    out |= got
                return frozenset(out)
            return _union(out, self._one(op, av))
        return frozenset(out)

    def _chars(self, items: list[tuple[Any, Any]]) -> _Set:
        """Every character a match of ``items`` may consume (None: anything)."""
        out: set[str] = set()
        for op, av in items:
            got: _Set
            if op in self.repeats:
                got = self._chars(list(av[2]))
            elif op is self.p.SUBPATTERN:
                got = self._chars(list(av[-1]))
            elif op is self.p.BRANCH:
                got = frozenset()
                for b in av[1]:
                    got = _union(set(got), self._chars(list(b))) if got is not None else None
            elif op is self.p.AT:
                continue
            else:
                got = self._one(op, av)
            if got is None:
                return None
            out |= got
        return frozenset(out)

    def _one(self, op: Any, av: Any) -> _Set:
        p = self.p
        if op is p.LITERAL:
            return frozenset({chr(av)})
        if op is p.IN:
            out: set[str] = set()
            for iop, iav in av:
                if iop is p.NEGATE:
                    return None
                if iop is p.LITERAL:
                    out.add(chr(iav))
                elif iop is p.RANGE:
                    if iav[1] - iav[0] > 512:
                        return None
                    out |= {chr(c) for c in range(iav[0], iav[1] + 1)}
                elif iop is p.CATEGORY:
                    got = _category(p, iav)
                    if got is None:
                        return None
                    out |= got
                else:
                    return None
            return frozenset(out)
        if op is p.CATEGORY:  # pragma: no cover - the parser wraps categories in IN
            return _category(p, av)
        return None  # ANY, NOT_LITERAL, a backreference...: anything


def _least(sub: Any) -> int:
    try:
        return int(sub.getwidth()[0])
    except Exception:  # noqa: BLE001 - a parser that changed shape: assume it can be empty
        return 0  # pragma: no cover


def _category(p: Any, cat: Any) -> _Set:
    if cat in (p.CATEGORY_DIGIT,):
        return _DIGIT
    if cat in (p.CATEGORY_WORD,):
        return _WORD
    if cat in (p.CATEGORY_SPACE,):
        return _SPACE
    return None  # the negated ones: nearly anything


def _union(out: set[str], more: _Set) -> _Set:
    return None if more is None else frozenset(out | more)


def _overlap(a: _Set, b: _Set) -> bool:
    if a is None or b is None:
        return True
    return bool(a & b)
