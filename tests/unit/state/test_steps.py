"""guardrun.state.steps: transcripts into timed steps (Claude Code, Codex, Gemini), the real
Claude transcripts of the shared fixtures included."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from support import CLAUDE_FIXTURES

from guardrun.state import steps as steps_mod
from guardrun.state.steps import (
    CALL,
    COMPACT,
    COMPACT_MAX,
    COMPACTION,
    MODEL,
    MODEL_OPEN_MAX,
    OUTPUT,
    PROMPT,
    RESULT,
    STOP,
    SUBAGENT,
    TOOL,
    Event,
    Step,
    build,
    parse,
    when,
)

T = 1_700_000_000.0


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{round(t * 1000) % 1000:03d}Z"


def spans(steps: list[Step]) -> list[tuple[str, float, float, bool]]:
    return sorted((s.name, s.start - T, s.end - T, s.open) for s in steps)


def test_times() -> None:
    assert when("2025-09-07T09:52:03.071Z") == pytest.approx(1757238723.071)
    assert when("2025-09-07T11:52:03.071+02:00") == pytest.approx(1757238723.071)
    assert when("2025-09-07T09:52:03.0712345Z") == pytest.approx(1757238723.0712345, abs=1e-5)
    assert when("2025-09-07T09:52:03") == pytest.approx(1757238723.0)
    for bad in ("", "yesterday", None, 12, "2025-13-07T09:52:03Z"):
        assert when(bad) is None


def test_a_turn_with_two_tool_calls() -> None:
    ev = [Event(T, PROMPT), Event(T + 1, OUTPUT), Event(T + 2, CALL, "a", "Bash"),
          Event(T + 5, RESULT, "a"), Event(T + 7, CALL, "b", "Read"), Event(T + 8, RESULT, "b"),
          Event(T + 9, OUTPUT), Event(T + 10, OUTPUT), Event(T + 30, PROMPT),
          Event(T + 31, OUTPUT)]  # fmt: skip
    assert spans(build(ev)) == [
        ("Bash", 2, 5, False),
        ("Read", 7, 8, False),
        (MODEL, 0, 2, False),
        (MODEL, 5, 7, False),
        (MODEL, 8, 10, False),
        (MODEL, 30, 31, False),
    ]  # fmt: skip  (10 to 30: idle, no step)


def test_parallel_calls_and_file_order_out_of_time_order() -> None:
    ev = [Event(T + 3, CALL, "b", "Glob"), Event(T, PROMPT), Event(T + 2, CALL, "a", "Glob"),
          Event(T + 6, RESULT, "a"), Event(T + 4, RESULT, "b"), Event(T + 7, OUTPUT)]  # fmt: skip
    assert spans(build(ev)) == [
        ("Glob", 2, 6, False),
        ("Glob", 3, 4, False),
        (MODEL, 0, 3, False),
        (MODEL, 6, 7, False),
    ]  # fmt: skip  (the model waits until the last result)


def test_unanswered_steps_end_where_the_transcript_went_silent_or_at_a_restart() -> None:
    ev = [Event(T, PROMPT), Event(T + 1, CALL, "a", "Bash"), Event(T + 100, PROMPT),
          Event(T + 101, CALL, "b", "Bash"), Event(T + 200, PROMPT)]  # fmt: skip
    got = spans(build(ev, cuts=[T + 150]))
    assert ("Bash", 1, 1, True) in got  # silent after the call: nothing known past it
    assert ("Bash", 101, 150, True) in got  # guardrun restarted the agent at 150
    # The last prompt has no answer yet: its model turn lasts until the end, at most
    # MODEL_OPEN_MAX (a model that writes nothing for longer is not at work).
    assert (MODEL, 200, 200 + MODEL_OPEN_MAX, True) in got


def test_a_call_still_running_at_the_end_is_open() -> None:
    got = spans(build([Event(T, PROMPT), Event(T + 1, CALL, "a", "Bash")]))
    assert got == [("Bash", 1, math.inf, True), (MODEL, 0, 1, False)]
    cut = spans(build([Event(T, PROMPT), Event(T + 1, CALL, "a", "Bash")], cuts=[T + 9]))
    assert ("Bash", 1, 9, True) in cut


def test_an_interruption_ends_what_ran() -> None:
    ev = [Event(T, PROMPT), Event(T + 1, CALL, "a", "Bash"), Event(T + 4, STOP),
          Event(T + 60, PROMPT), Event(T + 61, OUTPUT)]  # fmt: skip
    assert spans(build(ev)) == [("Bash", 1, 4, False), (MODEL, 0, 1, False),
                                (MODEL, 60, 61, False)]  # fmt: skip


def test_compaction_starts_at_the_line_before_it_but_not_long_before() -> None:
    ev = [Event(T, PROMPT), Event(T + 1, CALL, "a", "Bash"), Event(T + 2, RESULT, "a"),
          Event(T + 40, COMPACT), Event(T + 45, OUTPUT)]  # fmt: skip
    assert spans(build(ev)) == [("Bash", 1, 2, False), (COMPACTION, 2, 40, False),
                                (MODEL, 0, 1, False), (MODEL, 40, 45, False)]  # fmt: skip
    late = build([Event(T, OUTPUT), Event(T + 5000, COMPACT)])
    assert (COMPACTION, 5000 - COMPACT_MAX, 5000, False) in spans(late)


def claude_line(t: float, kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    """A line in Claude Code's own key order: ``type`` before ``message`` in user lines and
    after it in assistant lines."""
    line: dict[str, Any] = {"parentUuid": None, "isSidechain": False, "version": "2.1.197"}
    if kind == "user":
        line["type"] = kind
    line["message"] = {"role": kind, "content": content}
    line["type"] = kind
    return {**line, "uuid": "u", "timestamp": iso(t), **extra}


def use(t: float, ident: str, name: str, **extra: Any) -> dict[str, Any]:
    block = {"type": "tool_use", "id": ident, "name": name, "input": {"x": 1}}
    return claude_line(t, "assistant", [block], **extra)


def result(t: float, ident: str, text: str = "ok", **extra: Any) -> dict[str, Any]:
    block = {"tool_use_id": ident, "type": "tool_result", "content": text}
    return claude_line(t, "user", [block], toolUseResult={"stdout": text}, **extra)


def write(path: Path, records: list[Any], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records) + tail)
    return path


def claude_session(tmp_path: Path) -> Path:
    side = {"isSidechain": True}
    return write(
        tmp_path / "s.jsonl",
        [
            {"type": "file-history-snapshot", "snapshot": {}},
            claude_line(T, "user", "<command-name>/cost</command-name>"),
            claude_line(T + 1, "user", "find the leak"),
            claude_line(T + 2, "assistant", [{"type": "text", "text": "looking"}]),
            use(T + 3, "t1", "Task"),
            claude_line(T + 3.5, "user", "sub-agent prompt", **side),
            use(T + 4, "s1", "Bash", **side),
            result(T + 6, "s1", **side),
            use(T + 7, "s2", "Bash", **side),
            result(T + 8, "s2", **side),
            use(T + 8.5, "s3", "Read", **side),
            result(T + 9, "s3", **side),
            result(T + 10, "t1"),
            use(T + 11, "t2", "mcp__db__query"),
            result(T + 20, "t2", "x" * 5000),
            {
                "type": "system",
                "subtype": "compact_boundary",
                "timestamp": iso(T + 50),
                "compactMetadata": {"trigger": "auto"},
            },
            claude_line(
                T + 50.1, "user", [{"type": "text", "text": "summary"}], isCompactSummary=True
            ),
            claude_line(T + 55, "assistant", [{"type": "text", "text": "done"}]),
            claude_line(
                T + 90, "user", [{"type": "text", "text": "[Request interrupted by user]"}]
            ),
        ],
        tail='{"type":"assistant","timestamp":"2023-1',
    )  # fmt: skip  (a torn last line)


def test_a_claude_session(tmp_path: Path) -> None:
    parsed = parse(claude_session(tmp_path), "claude")
    assert parsed.version == "2.1.197" and parsed.lines == 20
    got = spans(parsed.steps)
    assert got == [
        (COMPACTION, 20, 50, False), ("mcp__db__query", 11, 20, False), (MODEL, 1, 3, False),
        (MODEL, 10, 11, False), (MODEL, 50, 55, False), (SUBAGENT, 3, 10, False),
    ]  # fmt: skip
    sub = next(s for s in parsed.steps if s.kind == SUBAGENT)
    assert sub.detail == "Bash×2, Read"


def test_big_lines_are_searched_not_parsed_with_the_same_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = claude_session(tmp_path)
    whole = parse(path, "claude")
    monkeypatch.setattr(steps_mod, "BIG", 0)  # every line through the byte search
    searched = parse(path, "claude")
    assert spans(searched.steps) == spans(whole.steps)
    assert [s.detail for s in searched.steps] == [s.detail for s in whole.steps]
    assert searched.version == whole.version


@pytest.mark.parametrize("name", sorted(p.name for p in CLAUDE_FIXTURES.glob("*.jsonl")))
def test_the_real_claude_transcripts_parse_into_steps(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = CLAUDE_FIXTURES / name
    parsed = parse(path, "claude")
    calls = 0
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        message = r.get("message") if isinstance(r, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(r, dict) and not r.get("isSidechain") and isinstance(content, list):
            calls += sum(1 for b in content if isinstance(b, dict) and b.get("type") == "tool_use"
                         and "timestamp" in r)  # fmt: skip
    assert len([s for s in parsed.steps if s.kind in (TOOL, SUBAGENT)]) == calls
    assert all(s.end >= s.start for s in parsed.steps)
    assert any(s.kind == MODEL for s in parsed.steps) == (calls > 0 or parsed.lines > 0)
    if name.startswith("5c0375b4"):  # 1.0.108, with sub-agents (isSidechain)
        subs = [s for s in parsed.steps if s.kind == SUBAGENT]
        assert len(subs) == 3 and "Bash×5" in {d for s in subs for d in s.detail.split(", ")}
        assert parsed.version == "1.0.108"
    if name[0].isdigit():  # recorded by Claude Code (compact JSON, as the byte search expects)
        monkeypatch.setattr(steps_mod, "BIG", 0)
        assert spans(parse(path, "claude").steps) == spans(parsed.steps)


def test_a_codex_rollout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def line(t: float, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"timestamp": iso(t), "type": kind, "payload": payload}

    msg = "message"
    context = [{"type": "input_text", "text": "<environment_context>"}]
    path = write(tmp_path / "rollout.jsonl", [
        line(T, "session_meta", {"id": "x", "cwd": "/p", "cli_version": "0.171.0"}),
        line(T, "response_item", {"type": msg, "role": "user",
                                  "content": context}),
        line(T + 1, "response_item", {"type": msg, "role": "user",
                                      "content": [{"type": "input_text", "text": "fix it"}]}),
        line(T + 2, "response_item", {"type": "reasoning", "summary": []}),
        line(T + 3, "response_item", {"type": "function_call", "name": "shell", "call_id": "c1",
                                      "arguments": "{}"}),
        line(T + 9, "response_item", {"type": "function_call_output", "call_id": "c1",
                                      "output": "y" * 100}),
        line(T + 10, "response_item", {"type": msg, "role": "assistant", "content": []}),
        line(T + 20, "compacted", {"message": ""}),
    ])  # fmt: skip
    parsed = parse(path, "codex")
    assert parsed.version == "0.171.0"
    assert spans(parsed.steps) == [(COMPACTION, 10, 20, False), (MODEL, 1, 3, False),
                                   (MODEL, 9, 10, False), ("shell", 3, 9, False)]  # fmt: skip
    monkeypatch.setattr(steps_mod, "BIG", 0)  # a tool's output searched, not parsed
    assert spans(parse(path, "codex").steps) == spans(parsed.steps)


def test_a_gemini_chat(tmp_path: Path) -> None:
    def msg(i: str, t: float, kind: str, text: str, **extra: Any) -> dict[str, Any]:
        return {"id": i, "timestamp": iso(t), "type": kind, "content": text, **extra}

    call = {"id": "k1", "name": "run_shell_command", "args": {}, "status": "success"}
    path = write(tmp_path / "session-x.jsonl", [
        {"sessionId": "a" * 8 + "-0000-0000-0000-" + "0" * 12, "startTime": iso(T)},
        {"$set": {"messages": [msg("0", T, "user", "<session_context> env")]}},
        msg("1", T + 1, "user", "list files"),
        msg("2", T + 3, "gemini", "", toolCalls=[{**call, "status": "executing"}]),
        msg("2", T + 3, "gemini", "", toolCalls=[{**call, "timestamp": iso(T + 8)}]),
        msg("3", T + 10, "gemini", "here they are"),
    ])  # fmt: skip
    assert spans(parse(path, "gemini").steps) == [
        (MODEL, 1, 3, False), (MODEL, 8, 10, False), ("run_shell_command", 3, 8, False),
    ]  # fmt: skip


def test_agents_without_times_claim_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".aider.chat.history.md"
    path.write_text("#### fix it\n")
    assert parse(path, "aider").steps == [] and parse(path, "generic").steps == []


def test_since_skips_what_came_before_by_bisection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session resumed run after run: a report of the last run reads about its own part."""
    monkeypatch.setattr(steps_mod, "BISECT_MIN", 16 << 10)
    records: list[Any] = []
    for i in range(2000):  # a turn every 10 minutes, for two weeks
        t = T + i * 600
        records += [claude_line(t, "user", "go"), use(t + 5, f"c{i}", "Bash"),
                    result(t + 50, f"c{i}", "z" * 200),
                    claude_line(t + 60, "assistant", "ok")]  # fmt: skip
    path = write(tmp_path / "long.jsonl", records)
    since = T + 1900 * 600
    whole, part = parse(path, "claude"), parse(path, "claude", since=since)
    wanted = [s for s in whole.steps if s.end >= since]
    assert [s for s in part.steps if s.end >= since] == wanted and len(wanted) == 300
    assert part.lines < whole.lines / 10
    records.reverse()  # not in time order: nothing can be skipped, nothing is lost
    backwards = write(tmp_path / "backwards.jsonl", records)
    assert parse(backwards, "claude", since=since).lines == whole.lines


def test_claude_2_sub_agent_files_beside_the_session(tmp_path: Path) -> None:
    """Claude Code 2.x writes a sub-agent's lines to <session>/subagents/agent-<id>.jsonl."""
    session = write(tmp_path / "s.jsonl", [
        claude_line(T, "user", "review it"), use(T + 1, "t1", "Task"), result(T + 30, "t1"),
        claude_line(T + 31, "assistant", [{"type": "text", "text": "reviewed"}]),
    ])  # fmt: skip
    agents = tmp_path / "s" / "subagents"
    agents.mkdir(parents=True)
    write(agents / "agent-a1b2.jsonl", [claude_line(T + 2, "user", "sub prompt"),
          use(T + 3, "x1", "Grep"), result(T + 4, "x1"), use(T + 5, "x2", "Read"),
          result(T + 6, "x2"), use(T + 7, "x3", "Grep"), result(T + 8, "x3")])  # fmt: skip
    (agents / "agent-a1b2.meta.json").write_text("{}")
    steps = parse(session, "claude").steps
    sub = [s for s in steps if s.kind == SUBAGENT]
    assert [(s.start - T, s.end - T, s.detail) for s in sub] == [(1, 30, "Grep×2, Read")]
    assert not [s for s in steps if s.name in ("Grep", "Read")]  # not the session's own
