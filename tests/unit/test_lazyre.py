"""lazy(): a pattern compiled at its first use, that then reads as the compiled one."""

from __future__ import annotations

import re

import pytest

from guardrun import lazyre
from guardrun.lazyre import lazy


def test_compiled_at_first_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[object] = []
    real = re.compile

    def counting(pattern: str, flags: int = 0) -> re.Pattern[str]:
        compiled.append(pattern)
        return real(pattern, flags)

    monkeypatch.setattr(re, "compile", counting)  # lazyre imports re at the first compile
    p = lazy(r"^(\d+)-(x)$", re.I)
    assert compiled == []
    m = p.match("12-X")
    assert m is not None and m.groups() == ("12", "X")
    assert p.match("a") is None and p.sub("y", "1-x") == "y"
    assert p.pattern == r"^(\d+)-(x)$" and p.flags & re.I
    assert compiled == [r"^(\d+)-(x)$"]  # once, though three attributes were read


def test_bytes_patterns_too() -> None:
    title = lazy(rb"\x1b\]2;([^\x07]*)\x07")
    found = title.search(b"ab\x1b]2;hello\x07cd")
    assert found is not None and found.group(1) == b"hello"


def test_a_bad_pattern_fails_where_it_is_used() -> None:
    bad = lazy(r"(unclosed")
    with pytest.raises(re.error):
        bad.match("x")


def test_every_lazy_pattern_of_the_package_compiles() -> None:
    """A typo in a pattern no test happens to run would wait for a user: compile them all."""
    import importlib
    import pkgutil

    import guardrun

    seen = 0
    for info in pkgutil.walk_packages(guardrun.__path__, "guardrun."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, lazyre._Lazy):
                assert value.groups >= 0  # compiles it
                seen += 1
    assert seen >= 9
