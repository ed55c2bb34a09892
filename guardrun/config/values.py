"""Values as users write them, parsed into the types a key declares, and rendered back.

``parse_value`` accepts what YAML gives (str, int, float, bool, list, None, ...), what an
environment variable gives (a string) and what a flag gives (either); it raises
ValueError with a message that names the value but not the key (the loader adds the
file, line and key). ``render_value`` writes a value back exactly, so ``config show``
output loads again to the same configuration.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from guardrun.config.schema import KEYS, Key
from guardrun.units import (
    DURATION_EXAMPLES,
    RATE_EXAMPLES,
    SIZE_EXAMPLES,
    Threshold,
    number,
    parse_duration,
    parse_rate,
    parse_size,
    parse_threshold,
    shown,
    split_number,
)

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from guardrun.config.schema import Config

_OFF = {"off", "none", "false", "no"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


_INF = float("inf")


def _finite(value: float) -> bool:
    """``math.isfinite`` without the math module (a shared library to load at every
    start), and true of an int too large for a float, where isfinite raises."""
    return -_INF < value < _INF


def _is_int(text: str) -> bool:
    """What ``int`` takes for an integer setting: a sign and digits, with whitespace
    around (not ``_``, which ``int`` would take too)."""
    text = text.strip()
    return text[1:].isdecimal() if text[:1] in ("+", "-") else text.isdecimal()


def describe(raw: object) -> str:
    """How a wrong value is named in a message."""
    if raw is None:
        return "nothing"
    if isinstance(raw, (set, frozenset)):
        return "a set"
    if isinstance(raw, (list, tuple)):
        return "a list"
    if isinstance(raw, dict):
        return "a mapping"
    return shown(raw)


def parse_value(key: Key, raw: object, base: str | os.PathLike[str]) -> object:
    """Turn ``raw`` (from YAML, an environment string or a flag) into the key's type.

    Raises ValueError with a message that does not repeat the key (the caller adds it).
    ``base`` is the directory a relative ``state.dir`` is taken from.
    """
    try:
        value = _parse(key, raw, base)
    except OverflowError:
        raise ValueError(f"{describe(raw)} is too large") from None
    if key.kind in ("int", "float", "duration"):
        _check_bounds(key, raw, value)  # type: ignore[arg-type]
    return value


def _parse(key: Key, raw: object, base: str | os.PathLike[str]) -> object:
    kind = key.kind
    if kind in ("threshold", "margin", "duration") and isinstance(raw, float):
        if not _finite(raw):
            raise ValueError(f"{raw!r} is not a finite number")
    if kind == "budget":
        if raw is None or raw is False or (isinstance(raw, str) and raw.strip().lower() in _OFF):
            return None
        kind = "threshold"
    if kind in ("threshold", "margin"):
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise ValueError(
                f"expected a size or percentage ({SIZE_EXAMPLES}), got {describe(raw)}"
            )
        return parse_threshold(raw) if kind == "threshold" else _parse_margin(raw)
    if kind == "duration":
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise ValueError(f"expected a duration ({DURATION_EXAMPLES}), got {describe(raw)}")
        seconds = parse_duration(raw)
        if not _finite(seconds):
            raise ValueError(f"{describe(raw)} is too long a duration")
        return seconds
    if kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and _is_int(raw):
            return int(raw)
        raise ValueError(f"expected an integer, got {describe(raw)}")
    if kind == "float":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and _finite(raw):
            return float(raw)
        if isinstance(raw, str):
            digits, rest = split_number(raw)
            value = number(digits) if rest in ("", "%") else None
            if value is not None:
                return value
        raise ValueError(f"expected a number, got {describe(raw)}")
    if kind == "bool":
        return _parse_bool(raw)
    if kind == "enum":
        text = ("true" if raw else "false") if isinstance(raw, bool) else raw
        if not isinstance(text, str) or text.strip().lower() not in key.choices:
            raise ValueError(f"expected one of {', '.join(key.choices)}, got {describe(raw)}")
        return text.strip().lower()
    if kind in ("argv", "command", "regexes"):
        if raw is None and kind == "command":
            return None
        items = _parse_list(raw)
        if kind == "command" and not items:
            raise ValueError("expected a command such as [claude], got an empty list")
        if kind == "regexes":
            for i, item in enumerate(items, 1):
                try:
                    _check_regex(item)
                except ValueError as err:
                    raise ValueError(f"item {i}: {err}") from None
        return items
    if kind == "path":
        return _parse_path(raw, base)
    if kind == "file":
        if raw is None or raw is False or (isinstance(raw, str) and raw.strip().lower() in _OFF):
            return None
        return _parse_path(raw, base, "off")
    if kind == "rate":
        if raw is None or raw is False:
            return None
        if not isinstance(raw, str):
            raise ValueError(f"expected a rate ({RATE_EXAMPLES}), got {describe(raw)}")
        return parse_rate(raw)
    raise AssertionError(f"unknown kind {kind}")


def _parse_margin(raw: str | int | float) -> Threshold:
    text = str(raw).strip()
    if text.endswith("%"):
        try:
            value = float(text[:-1])
        except ValueError:
            raise ValueError(f"{shown(raw)} is not a percentage") from None
        if not 0 <= value < 100:
            raise ValueError(f"{shown(raw)} is not a percentage from 0 up to 100")
        return Threshold(value, True)
    try:
        return Threshold(float(parse_size(raw if isinstance(raw, (int, str)) else text)), False)
    except ValueError:
        raise ValueError(f"{shown(raw)} is not a size or a percentage ({SIZE_EXAMPLES})") from None


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        low = raw.strip().lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
    raise ValueError(f"expected true or false, got {describe(raw)}")


def _parse_list(raw: object) -> list[str]:
    """A YAML list, or text: YAML flow (``[a, b]``) or words split as a shell would (no shell)."""
    if isinstance(raw, str):
        if raw.strip().startswith("["):
            raw = _flow_list(raw)
        else:
            import shlex  # for a list given as text only: every start imports this module

            try:
                raw = shlex.split(raw)
            except ValueError as err:
                raise ValueError(f"cannot split {describe(raw)} into words: {err}") from None
    if not isinstance(raw, (list, tuple)):
        raise ValueError(f"expected a list of strings, got {describe(raw)}")
    items: list[str] = []
    for i, item in enumerate(raw, 1):
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise ValueError(f"item {i}: expected a string, got {describe(item)}")
        if "\0" in item:
            raise ValueError(f"item {i}: contains a NUL character")
        items.append(item)
    return items


def _flow_list(text: str) -> object:
    import yaml  # only when a list is given as text: keeps `import guardrun.config` light

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{describe(text)} is not a YAML list: {_one_line(err)}") from None
    except (RecursionError, ValueError, TypeError, AttributeError, OverflowError):
        raise ValueError(f"{describe(text)} is not a YAML list") from None


def _one_line(err: BaseException) -> str:
    problem = getattr(err, "problem", None)
    return str(problem) if problem else " ".join(str(err).split())


def _check_regex(pattern: str) -> None:
    # The redactor's own check, so `config check` and a run reject the same patterns (an
    # empty-matching one used to pass here and then turn every custom pattern off).
    from guardrun.state.redact import check_pattern

    check_pattern(pattern)


def _parse_path(raw: object, base: str | os.PathLike[str], none: str = "auto") -> Path | None:
    """A path (relative to ``base``, ``~`` expanded); ``auto`` is None (``state.dir``)."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"expected {none} or a path, got {describe(raw)}")
    if none == "auto" and raw.strip() == "auto":
        return None
    if "\0" in raw:
        raise ValueError("contains a NUL character")
    from pathlib import Path  # only for a path given: a start without one goes without

    return Path(base) / Path(raw).expanduser()


def _check_bounds(key: Key, raw: object, value: float) -> None:
    unit = format_duration_exact if key.kind == "duration" else _fmt_number
    if key.lo is not None and (value < key.lo or (key.lo_open and value == key.lo)):
        word = "more than" if key.lo_open else "at least"
        raise ValueError(f"must be {word} {unit(key.lo)}, got {describe(raw)}")
    if key.hi is not None and value > key.hi:
        raise ValueError(f"must be at most {unit(key.hi)}, got {describe(raw)}")


def _fmt_number(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


_SIZE_UNITS = (
    ("TiB", 1024**4),
    ("TB", 1000**4),
    ("GiB", 1024**3),
    ("GB", 1000**3),
    ("MiB", 1024**2),
    ("MB", 1000**2),
    ("KiB", 1024),
    ("KB", 1000),
)
_DURATION_UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))


def format_size_exact(n: int) -> str:
    """The shortest exact spelling: 12GiB, 12GB, 1536MiB, or plain bytes."""
    for unit, mult in _SIZE_UNITS:
        if n >= mult and n % mult == 0:
            return f"{n // mult}{unit}"
    return str(n)


def format_duration_exact(seconds: float) -> str:
    for unit, mult in _DURATION_UNITS:
        count = seconds / mult
        if seconds >= mult and abs(count - round(count)) < 1e-9:
            return f"{round(count)}{unit}"
    return "0s" if seconds == 0 else f"{seconds:g}s"


def _rate_exact(bytes_per_second: float) -> str:
    """A rate as ``parse_rate`` reads it back: per minute, second or hour, whichever
    makes a whole number of bytes."""
    for per, seconds in (("min", 60.0), ("s", 1.0), ("h", 3600.0)):
        amount = bytes_per_second * seconds
        if abs(amount - round(amount)) < 1e-3:
            return f"{format_size_exact(round(amount))}/{per}"
    return f"{format_size_exact(round(bytes_per_second * 60))}/min"


def render_value(key: Key, value: object) -> object:
    """A parsed value back in the notation a config file uses (so it loads again)."""
    if isinstance(value, Threshold):
        if value.percent:
            return f"{value.value:g}%"
        return format_size_exact(int(value.value))
    if key.kind == "duration":
        return format_duration_exact(float(value))  # type: ignore[arg-type]
    if key.kind == "path":
        return "auto" if value is None else str(value)
    if key.kind == "file":
        return "off" if value is None else str(value)
    if key.kind == "budget" and value is None:
        return "off"
    if key.kind == "rate":
        return "off" if value is None else _rate_exact(float(value))  # type: ignore[arg-type]
    if key.kind == "float":
        return int(value) if value == int(value) else value  # type: ignore[call-overload]
    if isinstance(value, list):
        return list(value)
    return value


def to_plain(cfg: Config) -> dict[str, object]:
    """Nested dict in config-file notation (``65%``, ``10s``): dumps as a loadable file."""
    out: dict[str, Any] = {}
    for key in KEYS:
        section, _, leaf = key.path.rpartition(".")
        target = out.setdefault(section, {}) if section else out
        target[leaf] = render_value(key, cfg.get(key.path))
    return out
