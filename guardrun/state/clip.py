"""``clip``: text cut to a cap, redacted before it is cut (a secret cut in two would be
redacted by no rule), and ``clipping_with``, the redactor a capture puts in force for
the adapters' reading of the last messages. Used where text is cut to a size (hooks'
output, the last messages, a state's view), never at a start.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from guardrun.state.redact import DEFAULT, MARKER_PREFIX, Redactor

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextvars import Token

# Text past a cap that is redacted with the part kept: a secret that starts before the cut
# is then seen whole, or by far more characters than any rule needs to know it (a prefix
# and 20 to 60 characters), and is a marker before anything is cut.
CLIP_MARGIN = 1024
# The redactor ``clip`` uses where its caller passes none: capture sets the run's own
# (built-in rules plus state.redact) around the adapters' reading of the last messages.
_IN_USE: ContextVar[Callable[[str], str] | None] = ContextVar("guardrun_clip", default=None)


class clipping_with:  # noqa: N801 - used as a context manager, like contextlib's
    """``with clipping_with(redactor):`` every ``clip`` inside redacts with ``redactor``."""

    def __init__(self, redactor: Redactor) -> None:
        self._scrub = redactor.redact
        self._token: Token[Callable[[str], str] | None] | None = None

    def __enter__(self) -> None:
        self._token = _IN_USE.set(self._scrub)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _IN_USE.reset(self._token)


def clip(text: str, limit: int, scrub: Callable[[str], str] | None = None) -> str:
    """``text`` in at most ``limit`` characters, redacted before it is cut.

    Cut first, a token would keep the part before the cut ("sk-ant-api03-" is too short
    for any rule) and the redaction that follows would leave it there. So the kept part
    and ``CLIP_MARGIN`` more are redacted (``scrub``, else the redactor of the enclosing
    ``clipping_with``, else the built-in rules), then
    cut, never inside a marker. The result ends with "…" when anything was cut; text
    within the limit is returned as it is (the caller redacts it with the rest).
    """
    if len(text) <= limit:
        return text
    end = limit + CLIP_MARGIN
    window = (scrub or _IN_USE.get() or DEFAULT.redact)(text[:end])
    if len(window) <= limit and len(text) <= end:
        return window  # the markers made it short enough
    cut = window[: max(0, limit - 1)]  # room for the "…"
    opened = cut.rfind("[")
    rest = cut[opened:]
    if opened >= 0 and "]" not in rest and (rest.startswith(MARKER_PREFIX) or
                                           MARKER_PREFIX.startswith(rest)):  # fmt: skip
        cut = cut[:opened]  # "[REDACTED:anthr…" or "[RED…" says less than nothing
    return cut + "…"
