"""Text from the system, shown or written safely.

Names that come from outside (argv, a working directory, a process name set with
``prctl``, a title, fields of a state-directory file) may hold control characters and
bytes that are not UTF-8. On a terminal they are shown visibly (``visible``): ESC as
``\\x1b``, a newline as ``\\n``, a byte that was not UTF-8 (carried as a lone surrogate by
Python's ``surrogateescape``) as ``\\xff``, and the bidirectional overrides that reorder
what a reader sees as ``\\u202e``; never sent raw. HTML uses ``html.escape`` on every field.

Written to JSON, a string keeps its bytes: ``json_bytes`` writes UTF-8 and turns each
lone surrogate into the JSON escape ``\\udcff``, which reads back as the same string, so
``os.fsencode`` gives the original byte again (a working directory ``bad\\xffdir``
survives a state file and a resume).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# C0 controls, DEL, C1 controls, lone surrogates (undecodable bytes), and the Unicode
# format characters that reorder or hide text (bidi embeddings, overrides, isolates).
_UNSAFE = r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _show(m: re.Match[str]) -> str:
    ch = m.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """``text`` (any object, by ``str``) safe to print on a terminal: one line, nothing
    the terminal would act on."""
    return re.sub(_UNSAFE, _show, str(text))


def json_bytes(obj: Any, **kwargs: Any) -> bytes:
    """``json.dumps(obj)`` as UTF-8 bytes, never failing on a string that holds bytes that
    were not UTF-8 (see the module's docstring)."""
    kwargs.setdefault("ensure_ascii", False)
    kwargs.setdefault("default", str)
    # A lone surrogate can only stand inside a JSON string, where backslashreplace's
    # "\udcff" is that string's own escape for it.
    return json.dumps(obj, **kwargs).encode("utf-8", "backslashreplace")


def shell_word(arg: str) -> str:
    """``arg`` quoted for a POSIX shell like ``shlex.quote``; one that holds a control
    character or a byte that is not UTF-8 as bash's ``$'...'`` with ``\\xNN`` escapes, so a
    printed command neither drives the terminal nor loses a byte when pasted."""
    if not re.search(_UNSAFE, arg):
        import shlex

        return shlex.quote(arg)
    import os

    out = []
    for b in os.fsencode(arg):
        out.append(chr(b) if 0x20 <= b < 0x7F and b not in b"'\\" else f"\\x{b:02x}")
    return "$'" + "".join(out) + "'"
