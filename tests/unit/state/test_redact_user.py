"""The user's own redaction patterns (``state.redact``, issue 26): a pattern that can
backtrack catastrophically is refused at load; one that passes sees bounded input; and
the patterns apply to values, never to the event log's JSON text."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from guardrun.observe.events import EventLog, read_events
from guardrun.state.redact import USER_MAX, USER_WINDOW, Redactor, check_pattern
from guardrun.state.redact_check import worst_case

CATASTROPHIC = [
    r"(a+)+$",
    r"(a*)*b",
    r"(\w+\s?)+$",
    r"(.*a){12}",
    r"(a|aa)+$",
    r"(ab|a)*c",
    r"(?:a|b|ab)+$",
    r".*.*=.*",
    r"\w+\d*\w+x",
    r"^(([a-z])+.)+[A-Z]([a-z])+$",
    r"x(?=(a+)+b)",
    r"(x+x+)+y",
]
FINE = [
    r"ACME-[0-9]+",
    r"secret_[A-Za-z0-9]{32}",
    r"corp-token-\w+",
    r"https?://[^/]+/secret/\w+",
    r"(?:key|token)=\S+",
    r"\w+\s*=\s*\w+;",
    r".*secret.*",
    r"(?:foo|bar)+",
    r"[A-Z]{3}-\d{4}",
    r"INTERNAL-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}",
    r"(\w|\d)*x",  # re's parser makes this one class: no alternation is left
    "a: b",
    '"',
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_catastrophic_pattern_is_refused(pattern: str) -> None:
    assert worst_case(pattern) is not None
    with pytest.raises(ValueError, match="can backtrack catastrophically"):
        check_pattern(pattern)


@pytest.mark.parametrize("pattern", FINE)
def test_an_ordinary_pattern_passes(pattern: str) -> None:
    assert worst_case(pattern) is None, pattern
    check_pattern(pattern)


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a*)*b", r"(\w+\s?)+$", r"x(?=(a+)+b)"])
def test_the_refused_ones_really_hang(pattern: str) -> None:
    """The check is not theatre: each of these takes a measurable time on a text of 24
    characters (0.4 to 4 s here), and doubles with each one more."""
    text = "x" + "a" * 22 + "!"
    started = time.perf_counter()
    re.compile(pattern).search(text)
    assert time.perf_counter() - started > 0.05


@pytest.mark.skipif(not hasattr(re, "NOFLAG"), reason="possessive/atomic: Python 3.11+")
@pytest.mark.parametrize("pattern", [r"(?>a+)+", r"(?:a+)++"])
def test_possessive_and_atomic_never_backtrack(pattern: str) -> None:
    assert worst_case(pattern) is None


def test_a_user_pattern_sees_bounded_input() -> None:
    """The worst pattern that passes, on the worst text for it, a long one: bounded."""
    r = Redactor([r"\w+\s*=\s*\w+;"])
    started = time.perf_counter()
    out = r.redact_custom("a" * 1_000_000)
    assert time.perf_counter() - started < 5.0  # ~0.9 s here; unbounded it is hours
    assert len(out) < USER_MAX + 100 and out.endswith("more characters)")


def test_windows_still_redact_each_line() -> None:
    r = Redactor([r"ACME-[0-9]+"])
    lines = [("x" * 50 + f" ACME-{i:04d} ") for i in range(200)]
    text = "\n".join(lines)
    assert len(text) > USER_WINDOW
    out = r.redact_custom(text)
    assert "ACME-" not in out and out.count("[REDACTED:custom]") == 200
    assert out.count("\n") == text.count("\n")


def test_user_patterns_apply_to_values_not_the_json_line(tmp_path: Path) -> None:
    """redact: ['"'] used to make every line invalid JSON; ':' or ',' as well."""
    r = Redactor(['"', ",", "run_id", "ACME-[0-9]+"])
    log = EventLog(tmp_path / "run.jsonl", "20260101T000000Z-abcdef", scrub_value=r.redact_custom)
    log.emit("started", argv=["tool", 'say "hi", ACME-1234'], cwd="/a,b")
    log.emit("hook_output", output="key: value, ACME-99")
    log.close()
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is JSON
    assert [e["event"] for e in events] == ["started", "hook_output"]
    custom = "[REDACTED:custom]"
    assert events[0]["argv"][1] == f"say {custom}hi{custom}{custom} {custom}"
    assert events[0]["cwd"] == "/a[REDACTED:custom]b"
    assert events[0]["run_id"] == "20260101T000000Z-abcdef"  # keys and envelope untouched
    assert read_events(tmp_path / "run.jsonl") == events


@pytest.mark.parametrize("at", [USER_WINDOW - 5, USER_WINDOW - 10, 2 * USER_WINDOW - 300, 8192 - 4])
def test_a_match_across_a_window_edge_is_redacted_whole(at: int) -> None:
    """Windows overlap, and a match that a window's end may have cut short is looked for
    again from its start: neither a fixed-length nor a greedy one leaks a part."""
    for pattern, secret in ((r"ACME-\d{6}", "ACME-123456"), (r"ACME-\d+", "ACME-1234567890")):
        text = "x" * at + " " + secret + " tail" * 2000
        out = Redactor([pattern]).redact_custom(text)
        assert "ACME" not in out and "7890" not in out, (pattern, at)
        assert out == "x" * at + " [REDACTED:custom]" + " tail" * 2000
