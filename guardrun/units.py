"""Sizes, percentages and durations as users write them, and as guardrun prints them."""

from typing import NamedTuple

# Decimal and binary suffixes; a bare "G"/"M"/"K" is binary, as `free -g` and
# most memory tools use, and "GB" is decimal as the SI says.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}

SIZE_EXAMPLES = "examples: 800MB, 12GiB, 1.5G, 70%"
SHOWN = 60  # characters of a value a message repeats; the rest is counted, not echoed
DURATION_EXAMPLES = "examples: 250ms, 2s, 5m, 1h, 7d"
RATE_EXAMPLES = "examples: 200MB/min, 5MB/s, 1GB/h, off"
_RATE_PER = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def number(text: str) -> float | None:
    """A plain decimal as configs write it (``12``, ``1.5``, ``.5``: no sign, exponent,
    ``_``, ``inf`` or ``nan``, which ``float`` would take), or None.

    Written with ``str`` methods, not a regular expression: parsing the defaults is part
    of every start, and ``re`` is not imported by a run that never needs it. A digit is
    what ``\\d`` matches (``str.isdecimal``, Unicode's Nd), as ``float`` reads it.
    """
    whole, dot, frac = text.partition(".")
    if (whole.isdecimal() or (dot and not whole)) and (not dot or frac.isdecimal()):
        return float(text)
    return None


def split_number(text: str) -> tuple[str, str]:
    """``text`` without surrounding whitespace, cut after its leading digits and dots,
    the rest without leading whitespace: ``" 1.5 GB"`` is ``("1.5", "GB")``."""
    text = text.strip()
    end = 0
    while end < len(text) and (text[end] == "." or text[end].isdecimal()):
        end += 1
    return text[:end], text[end:].lstrip()


def shown(value: object, limit: int = SHOWN) -> str:
    """``repr(value)`` for a message, shortened past ``limit`` characters: a 1 MB bad value
    in a config file is named by its start and its length, never echoed whole."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, (str, bytes)) else len(text)
    return f"{text[:limit]}… ({size} characters)"


class Threshold(NamedTuple):
    """A memory threshold: an absolute size in bytes, or a percent of the memory available."""

    value: float
    percent: bool

    def resolve(self, total_bytes: int) -> int:
        """Bytes this threshold stands for when ``total_bytes`` are available."""
        if self.percent:
            return int(total_bytes * self.value / 100.0)
        return int(self.value)

    def __str__(self) -> str:
        if self.percent:
            return f"{self.value:g}%"
        return format_bytes(int(self.value))


def parse_size(text: str | int) -> int:
    """Parse ``800MB``, ``12GiB``, ``1.5G`` or a plain number of bytes."""
    if isinstance(text, bool):
        raise ValueError(f"{shown(text)} is not a size ({SIZE_EXAMPLES})")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{shown(text)} is not a size ({SIZE_EXAMPLES})")
        return text
    digits, unit = split_number(str(text))
    value = number(digits)
    # ASCII first: "\u212a".lower() is "k" (the Kelvin sign), and a unit is ASCII letters.
    scale = _SIZE_UNITS.get(unit.lower()) if unit.isascii() else None
    if value is None or scale is None:
        raise ValueError(f"{shown(text)} is not a size ({SIZE_EXAMPLES})")
    return int(value * scale)


def parse_threshold(text: str | int | float) -> Threshold:
    """Parse a size or a percentage (``70%``, between 0 and 100)."""
    if isinstance(text, str):
        digits, rest = split_number(text)
        value = number(digits) if rest == "%" and digits[:1] != "." else None
        if value is not None:
            if not 0 < value <= 100:
                raise ValueError(f"{shown(text)} is not a percentage between 0 and 100")
            return Threshold(value, True)
    if isinstance(text, float) and not isinstance(text, bool):
        text = int(text)
    try:
        size = parse_size(text)
    except ValueError:
        raise ValueError(f"{shown(text)} is not a size or a percentage ({SIZE_EXAMPLES})") from None
    if size <= 0:
        raise ValueError(f"{shown(text)} is not a size or a percentage ({SIZE_EXAMPLES})")
    return Threshold(float(size), False)


def parse_duration(text: str | int | float) -> float:
    """Parse ``250ms``, ``2s``, ``5m``, ``1h``, ``7d`` or a number of seconds."""
    if isinstance(text, bool):
        raise ValueError(f"{shown(text)} is not a duration ({DURATION_EXAMPLES})")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"{shown(text)} is not a duration ({DURATION_EXAMPLES})")
        return float(text)
    digits, unit = split_number(text)
    value = number(digits)
    scale = _DURATION_UNITS.get(unit)
    if value is None or scale is None:
        raise ValueError(f"{shown(text)} is not a duration ({DURATION_EXAMPLES})")
    return value * scale


def parse_rate(text: str) -> float | None:
    """Parse a growth rate ``200MB/min``, ``5MB/s``, ``1GB/h`` as bytes per second;
    ``off`` (or ``false``, ``none``) is None."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a rate ({RATE_EXAMPLES})")
    if text.strip().lower() in ("off", "false", "none", "no"):
        return None
    size, slash, per = text.strip().rpartition("/")
    seconds = _RATE_PER.get(per.strip().lower())
    if not slash or seconds is None:
        raise ValueError(f"{text!r} is not a rate ({RATE_EXAMPLES})")
    try:
        amount = parse_size(size.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a rate ({RATE_EXAMPLES})") from None
    if amount <= 0:
        raise ValueError(f"{text!r} is not a rate above zero ({RATE_EXAMPLES})")
    return amount / seconds


def format_rate(bytes_per_second: float) -> str:
    """``+40 MB/min``: two significant figures, per minute (how leaks are talked about)."""
    per_minute = bytes_per_second * 60
    sign = "+" if per_minute >= 0 else "-"
    value = abs(per_minute)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 999.5 or unit == "TB":
            text = f"{value:.0f}" if value >= 9.95 or unit == "B" else f"{value:.1f}"
            return f"{sign}{text} {unit}/min"
        value /= 1000
    raise AssertionError("unreachable")


def format_eta(seconds: float) -> str:
    """``~25 min``, ``~3 h``, ``<1 min``: coarse on purpose, so a title does not tick."""
    if seconds < 60:
        return "<1 min"
    if seconds < 3600:
        minutes = seconds / 60
        step = 1 if minutes < 10 else 5
        return f"~{max(1, round(minutes / step) * step)} min"
    if seconds < 172800:
        return f"~{round(seconds / 3600)} h"
    return f"~{round(seconds / 86400)} d"


def format_bytes(n: int | float) -> str:
    """``12.3 GB`` style, decimal units as people read them on dashboards."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.0f}s" if seconds == int(seconds) else f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"
