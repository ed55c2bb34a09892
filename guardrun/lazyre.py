"""Regular expressions compiled at their first use, not at import.

A module-level ``re.compile`` costs every start 0.05-0.25 ms, and most of the
patterns on the start path (state ids, temp-file names, session ids, the title
sequence under a PTY) are not used by a run that ends early, or not until later.
``lazy(pattern)`` stands in for ``re.compile(pattern)``: the first attribute read
(``.match``, ``.sub``, ``.pattern``...) compiles it, and keeps what it read on the
stand-in, so later reads are plain attribute reads.

``re`` itself is imported at the first compile: with the json module kept off the start
path too, a run that needs no pattern never imports it (5-6 ms with the enum and
functools it brings).

A stand-in is not a ``re.Pattern``: call its methods, never pass it to ``re.sub``
and the like (they would take it for a pattern string).
"""

from __future__ import annotations

from guardrun.records import TYPE_CHECKING

if TYPE_CHECKING:
    import re
    from typing import Any, AnyStr


class _Lazy:
    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self._source: tuple[Any, int] = (pattern, flags)  # str or bytes

    def __getattr__(self, name: str) -> object:  # only for what is not kept yet
        if name.startswith("__"):
            raise AttributeError(name)
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            import re  # here, not at import: a run may need no pattern at all

            compiled = self._compiled = re.compile(*self._source)
        value = getattr(compiled, name)
        setattr(self, name, value)
        return value

    def __repr__(self) -> str:
        return f"lazy({self._source[0]!r})"


def lazy(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)``, compiled when first used."""
    return _Lazy(pattern, flags)  # type: ignore[return-value]


__all__ = ["lazy"]
