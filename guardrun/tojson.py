"""JSON text for what guardrun writes at run time (events, live file, history, lease),
without the ``json`` module.

``import json`` imports ``re`` (the decoder's scanner and the pure-Python encoder compile
patterns at import), with the ``enum``, ``functools`` and ``collections`` that ``re``
brings: 6-8 ms of every start, more than any part of guardrun's own. What a run writes
is made of dicts, lists, strings, numbers, booleans and None, and its text is what
``json.dumps(obj, ensure_ascii=False, default=str)`` gives, with ``separators=(",", ":")``
or ``indent``: ``tests/unit/test_tojson.py`` holds the two to the same output on any
such value. Reading stays with ``json.loads`` (commands, a lease held by another run),
imported where it is used.
"""

from __future__ import annotations

# What json escapes with ensure_ascii=False: the quote, the backslash, the control
# characters (short forms where JSON has them). Everything else is written as it is.
_ESCAPES: dict[int, str] = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update(
    {
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("\b"): "\\b",
        ord("\f"): "\\f",
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord("\t"): "\\t",
    }
)
_INF = float("inf")
MAX_DEPTH = 400  # levels of lists and dicts; what guardrun writes has a handful


def quote(text: str) -> str:
    """``text`` as a JSON string."""
    return '"' + text.translate(_ESCAPES) + '"'


def _float(value: float) -> str:
    if value != value:
        return "NaN"  # as json.dumps: not JSON, but what Python's json reads back
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def dumps(obj: object, indent: int | None = None) -> str:
    """``obj`` as JSON: compact (``,`` and ``:``) without ``indent``, else one item a line,
    indented by ``indent`` spaces a level, with ``": "`` after keys (as ``json.dumps``).
    A value of another type is written as its ``str`` (``default=str``); a tuple is a list."""
    out: list[str] = []
    _write(obj, out, None if indent is None else " " * indent, "\n", 0)
    return "".join(out)


def _write(
    obj: object,
    out: list[str],
    step: str | None,
    newline: str,
    depth: int,
) -> None:
    if isinstance(obj, str):
        out.append(quote(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(_float(obj))
    elif isinstance(obj, (list, tuple, dict)):
        if depth > MAX_DEPTH:  # a clear error well before the interpreter's recursion limit
            raise ValueError(f"too deeply nested for JSON (more than {MAX_DEPTH} levels)")
        if not obj:
            out.append("{}" if isinstance(obj, dict) else "[]")
            return
        inner = newline if step is None else newline + step  # the items' line start
        comma = "," if step is None else "," + inner
        out.append("{" if isinstance(obj, dict) else "[")
        if step is not None:
            out.append(inner)
        first = True
        if isinstance(obj, dict):
            colon = ":" if step is None else ": "
            for key, value in obj.items():
                if not first:
                    out.append(comma)
                first = False
                out.append(quote(_key(key)) + colon)
                _write(value, out, step, inner, depth + 1)
        else:
            for value in obj:
                if not first:
                    out.append(comma)
                first = False
                _write(value, out, step, inner, depth + 1)
        if step is not None:
            out.append(newline)
        out.append("}" if isinstance(obj, dict) else "]")
    else:
        out.append(quote(str(obj)))  # default=str


__all__ = ["dumps", "quote"]
