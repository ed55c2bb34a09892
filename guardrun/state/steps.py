"""An agent's transcript as timed steps: what the agent was doing, and when.

A step is a tool call (from the model's request to the tool's result), a model turn (the
model producing output: from the prompt, or from the last result it waited for, to its last
output before the next tool call or the end of its turn), a compaction, or a sub-agent run
(Claude Code's ``Task``/``Agent`` tool: the sub-agent's own lines, ``isSidechain``, are
folded into it). What no step covers is idle: the agent waiting for the user.

Each agent's file is first read into the same few events (``PROMPT``, ``OUTPUT``, ``CALL``,
``RESULT``, ``COMPACT``, ``STOP``), and one state machine (``build``) turns events into
steps. Only names leave this module: tool names, never inputs, outputs or prompts.

Cost: transcripts reach hundreds of MB (Claude Code keeps every tool result). Files are
read line by line as bytes; a line is parsed only when a byte test says it can be an event
(most lines of a Claude 2.x transcript, ``progress`` and ``file-history-snapshot``, are not).
A line over ``BIG`` bytes (a huge tool result or file write) is not parsed as JSON at all:
its few fields are found by byte search (``_big_claude``), since its bulk is one string.
"""

import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path

PROMPT, OUTPUT, CALL, RESULT = "prompt", "output", "call", "result"
COMPACT, STOP = "compact", "stop"
MODEL, COMPACTION, SUBAGENT, TOOL = "model turn", "compaction", "sub-agent", "tool"
# A compaction is written when it ends; it began at the line before it, but never longer
# ago than this (a manual /compact after an idle hour did not compact for an hour).
COMPACT_MAX = 300.0
# A model turn that never wrote a line (a prompt or results the transcript shows no answer
# to) is taken to have lasted at most this long: longer, the agent was waiting, not thinking.
MODEL_OPEN_MAX = 1800.0
BIG = 1 << 12  # lines longer than this are searched, not parsed (compact JSON only)
SUBAGENT_TOOLS = ("Task", "Agent")  # Claude Code's tool that starts a sub-agent
AGENTS_WITH_STEPS = ("claude", "codex", "gemini")


class Event(NamedTuple):
    t: float
    op: str
    key: str = ""  # a tool call's id
    name: str = ""  # a tool's name


class Step(NamedTuple):
    kind: str  # TOOL, MODEL, COMPACTION, SUBAGENT
    name: str  # the row it is counted in: the tool's name, or the kind
    start: float
    end: float  # math.inf: still going when the transcript ends
    open: bool = False  # never answered: its end is a guess (the next prompt, a restart, the end)
    detail: str = ""  # a sub-agent's tools, as "Bash×3, Read"


class Parsed(NamedTuple):
    steps: list[Step]
    version: str | None  # the agent's version, as its transcript records it
    lines: int  # lines read


def when(text: object) -> float | None:
    """An ISO 8601 time (``2025-09-07T09:52:03.071Z``) as epoch seconds."""
    if not isinstance(text, str) or len(text) < 19:
        return None
    s = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        # Python 3.10 takes only 3 or 6 digits of a fraction: cut or pad to 6.
        m = _ISO.match(text)
        if m is None:
            return None
        try:
            d = datetime.fromisoformat(f"{m[1]}.{(m[2] or '0')[:6]:0<6}{m[3] or '+00:00'}")
        except ValueError:
            return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def build(events: Iterable[Event], cuts: Sequence[float] = ()) -> list[Step]:
    """Steps from events (any order: sorted here, ties kept in file order).

    ``cuts``: times the agent was stopped (guardrun's restarts): a step never answered
    ends at the first cut after its start, else at the last event before the next prompt
    (the transcript went silent there), else it is still going (``end`` infinite).
    """
    evs = sorted(events, key=lambda e: e.t)
    cut_list = sorted(cuts)
    steps: list[Step] = []
    pending: dict[str, tuple[str, float]] = {}  # call id -> (tool name, start)
    model_start: float | None = None  # the model has been working since
    last_out: float | None = None  # its last output in this stretch
    last_t: float | None = None

    def unanswered(start: float, until: float | None) -> float:
        for c in cut_list:
            if c > start:
                return c if until is None or c < until else max(start, last_t or start)
        return math.inf if until is None else max(start, last_t or start)

    def silent(start: float, until: float | None) -> Step:
        end = min(unanswered(start, until), start + MODEL_OPEN_MAX)
        return Step(MODEL, MODEL, start, end, True)

    def tool(name: str, start: float, end: float, is_open: bool = False) -> None:
        kind = SUBAGENT if name in SUBAGENT_TOOLS else TOOL
        steps.append(Step(kind, SUBAGENT if kind == SUBAGENT else name, start, end, is_open))

    def close_model() -> None:
        nonlocal model_start, last_out
        if model_start is not None and last_out is not None:
            steps.append(Step(MODEL, MODEL, model_start, last_out))
            model_start = last_out = None

    def drop_pending(until: float | None) -> None:
        for name, start in pending.values():
            tool(name, start, unanswered(start, until), True)
        pending.clear()

    for ev in evs:
        t = ev.t
        if ev.op in (OUTPUT, CALL):
            if model_start is None:
                model_start = t  # output with no cue seen (a file begun mid-turn)
            last_out = t
            if ev.op == CALL and ev.key:
                pending[ev.key] = (ev.name or "?", t)
        elif ev.op == RESULT:
            close_model()
            started = pending.pop(ev.key, None)
            if started is not None:
                tool(started[0], started[1], t)
                if not pending:
                    model_start = t  # the model goes on with the results
        elif ev.op == PROMPT:
            if last_out is not None:
                close_model()
            elif model_start is not None:  # a cue the model never answered
                steps.append(silent(model_start, t))
            drop_pending(t)
            model_start, last_out = t, None
        elif ev.op == STOP:  # the user interrupted: whatever ran ended here
            close_model()
            for name, start in pending.values():
                tool(name, start, t, False)
            pending.clear()
            model_start = last_out = None
        elif ev.op == COMPACT:
            begun = t if last_t is None else max(last_t, t - COMPACT_MAX)
            steps.append(Step(COMPACTION, COMPACTION, begun, t))
            if last_out is None and model_start is not None:
                model_start = t  # an automatic compaction before the model's next call
        last_t = t
    if last_out is not None:
        close_model()
    elif model_start is not None:
        steps.append(silent(model_start, None))
    drop_pending(None)
    return steps


def fold_sidechains(steps: list[Step], side: Sequence[tuple[float, Sequence[str]]]) -> list[Step]:
    """Claude's sub-agent lines (time, tools it called) folded into the sub-agent steps that
    span them: each gets its tools as ``detail``; lines outside every sub-agent step (a
    sub-agent whose ``Task`` call this file does not hold) become sub-agent steps of their
    own, one per stretch."""
    if not side:
        return steps
    subs = [i for i, s in enumerate(steps) if s.kind == SUBAGENT]
    tools: dict[int, dict[str, int]] = {i: {} for i in subs}
    loose: list[list[tuple[float, Sequence[str]]]] = []
    for t, names in sorted(side, key=lambda x: x[0]):
        home = next((i for i in subs if steps[i].start <= t <= steps[i].end), None)
        if home is None:
            if not loose or _inside_any(loose[-1][-1][0], t, steps, subs):
                loose.append([])
            loose[-1].append((t, names))
            continue
        for n in names:
            tools[home][n] = tools[home].get(n, 0) + 1
    out = list(steps)
    for i in subs:
        out[i] = out[i]._replace(detail=_tools_text(tools[i]))
    for run in loose:
        counted: dict[str, int] = {}
        for _, names in run:
            for n in names:
                counted[n] = counted.get(n, 0) + 1
        out.append(Step(SUBAGENT, SUBAGENT, run[0][0], run[-1][0], False, _tools_text(counted)))
    return out


def _inside_any(a: float, b: float, steps: list[Step], subs: list[int]) -> bool:
    """Whether a main-chain step lies between two loose sub-agent lines (they are then two
    separate stretches)."""
    return any(a < s.start < b for s in steps) or any(a < steps[i].end < b for i in subs)


def _tools_text(counts: dict[str, int]) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(n if c == 1 else f"{n}×{c}" for n, c in ranked[:6])


# ------------------------------------------------------------------------------- reading


def lines(path: "Path", since: float | None = None) -> Iterator[bytes]:
    """The file's lines as bytes; a ``.gz`` file (a state's transcript copy) decompressed
    as it is read. ``since``: start at the first line written at about that time or later,
    found by bisection (``start_of``): a session resumed run after run holds days that a
    report or a state of this run does not need."""
    if path.name.endswith(".gz"):
        import gzip

        with gzip.open(path, "rb") as g:
            yield from g
        return
    with open(path, "rb") as f:
        if since is not None:
            f.seek(start_of(f, since - SINCE_SLACK))
        yield from f


SINCE_SLACK = 600.0  # seconds before ``since`` still read: lines are not all in time order
BISECT_MIN = 4 << 20  # a file part smaller than this is read, not bisected


def start_of(f: Any, since: float) -> int:
    """The offset of a line at or before the first one stamped ``since`` or later, in a
    JSONL file appended in time order (0 when unsure): each probe reads the first stamped
    line after a point; a part under ``BISECT_MIN`` is not split further."""
    lo = 0
    hi = f.seek(0, 2)
    first = _stamp_after(f, -1, hi)
    if hi <= BISECT_MIN or first is None or first[1] >= since:
        return 0
    lo_t = first[1]
    while hi - lo > BISECT_MIN:
        mid = (lo + hi) // 2
        found = _stamp_after(f, mid, hi)
        if found is None:
            break
        at, t = found
        if t < lo_t:
            return 0  # not in time order after all: read it whole
        if t < since:
            lo, lo_t = at, t
        else:
            hi = mid
    return lo


def _stamp_after(f: Any, pos: int, end: int) -> tuple[int, float] | None:
    """The start and time of the first line after ``pos`` that has a ``timestamp`` (within
    64 lines and before ``end``); ``pos`` -1: the file's first such line."""
    f.seek(max(pos, 0))
    if pos >= 0:
        f.readline()  # the rest of the line ``pos`` falls in (-1: from the file's start)
    for _ in range(64):
        at = f.tell()
        if at >= end:
            return None
        line = f.readline()
        if not line:
            return None
        m = _B_TS.search(line)
        t = when(m[1].decode()) if m else None
        if t is not None:
            return at, t
    return None


def parse(
    path: "Path", agent: str, cuts: Sequence[float] = (), since: float | None = None
) -> Parsed:
    """The steps of the transcript at ``path`` written by ``agent`` (``claude``, ``codex``,
    ``gemini``); an agent whose files carry no times (aider, generic) has none. ``since``:
    steps before then are not wanted (the file may be skipped up to about then). OSError
    when the file cannot be read."""
    if agent == "claude":
        return _claude(path, cuts, since)
    if agent == "codex":
        return _codex(path, cuts, since)
    if agent == "gemini":
        return _gemini(path, cuts)
    return Parsed([], None, 0)


def _load(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:  # a torn last line, invalid UTF-8, garbage: skipped
        return None
    return record if isinstance(record, dict) else None


# Claude Code ------------------------------------------------------------------------------

# Before parsing, a line must hold ``"timestamp"`` and one of ``"user"``, ``"assistant"``,
# ``"compact_boundary"`` (spaced JSON too: hand-written files have ``"type": "user"``); most
# lines of Claude 2.x (``progress``, ``file-history-snapshot``) are not even parsed.
_NOT_PROMPT = ("<command-", "<local-command", "<bash-", "Caveat:", "<system-reminder>")
_INTERRUPTED = "[Request interrupted by user"


def _claude(path: "Path", cuts: Sequence[float], since: float | None = None) -> Parsed:
    events: list[Event] = []
    side: list[tuple[float, list[str]]] = []
    version: str | None = None
    count = 0
    for t, record in _claude_records(path, since):
        count += 1
        if t is None:
            continue
        v = record.get("version")
        if isinstance(v, str):
            version = v
        if record.get("isSidechain") is True:
            if record.get("type") in ("user", "assistant"):
                side.append((t, [n for _, n in _tool_uses(record)]))
            continue
        events.extend(_claude_events(record, t))
    # Claude Code 2.x writes each sub-agent's lines to <session>/subagents/agent-<id>.jsonl
    # beside the session's file, not into it: they are sub-agent lines whatever they say.
    for sub in sorted(path.with_suffix("").joinpath("subagents").glob("agent-*.jsonl")):
        try:
            for t, record in _claude_records(sub, since):
                if t is not None and record.get("type") in ("user", "assistant"):
                    side.append((t, [n for _, n in _tool_uses(record)]))
        except OSError:
            continue  # one unreadable sub-agent file: the session's own steps still count
    steps = fold_sidechains(build(events, cuts), side)
    return Parsed(steps, version, count)


def _claude_records(
    path: "Path", since: float | None
) -> Iterator[tuple[float | None, dict[str, Any]]]:
    """Each line of a Claude transcript that can be a step boundary, with its time (None
    when it has none): parsed, searched (a big line) or skipped unparsed (``_claude``)."""
    for raw in lines(path, since):
        if len(raw) > BIG and raw.startswith(b'{"') and b'": ' not in raw[:HEAD]:
            record = _big_claude(raw)  # compact JSON, as Claude Code writes it
        elif b'"timestamp"' in raw and (
            b'"user"' in raw or b'"assistant"' in raw or b'"compact_b' in raw
        ):
            record = _load(raw)
        else:
            record = None
        if record is None:
            yield None, {}
        else:
            yield when(record.get("timestamp")), record


def _claude_events(record: dict[str, Any], t: float) -> list[Event]:
    kind = record.get("type")
    if kind == "system":
        return [Event(t, COMPACT)] if record.get("subtype") == "compact_boundary" else []
    message = record.get("message")
    if not isinstance(message, dict) or record.get("isMeta") or record.get("isCompactSummary"):
        return []
    content = message.get("content")
    if kind == "assistant":
        calls = [Event(t, CALL, i, n) for i, n in _tool_uses(record)]
        return calls or [Event(t, OUTPUT)]
    if kind != "user":
        return []
    if isinstance(content, list):
        results = [
            Event(t, RESULT, str(b.get("tool_use_id")))
            for b in content
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        if results:
            return results
        texts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        text = next((x for x in texts if isinstance(x, str)), "")
    else:
        text = content if isinstance(content, str) else ""
    text = text.lstrip()
    if text.startswith(_INTERRUPTED):
        return [Event(t, STOP)]
    if not text or text.startswith(_NOT_PROMPT):
        return []
    return [Event(t, PROMPT)]


def _tool_uses(record: dict[str, Any]) -> list[tuple[str, str]]:
    message = record.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if record.get("type") != "assistant" or not isinstance(content, list):
        return []
    return [
        (str(b.get("id") or ""), str(b.get("name") or "?"))
        for b in content
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]


# Fields of a big line, found without parsing it. Inside a JSON string every quote is
# escaped, so ``"key":"`` with bare quotes is structure, never the text of a tool result.
# Claude Code writes the top-level fields (``isSidechain``, ``version``) before ``message``
# and ``timestamp`` after it, then ``toolUseResult``; each search below is a
# ``bytes.find`` (several GB/s), and a line is scanned about twice whatever its size.
HEAD = 4096  # where the fields before ``message`` are
_B_TS = re.compile(rb'"timestamp":"([0-9T:.+Z-]{19,40})"')
_B_RESULT = re.compile(rb'"tool_use_id":"([^"\\]{1,200})"')
_B_USE = re.compile(rb'"type":"tool_use","id":"([^"\\]{1,200})","name":"([^"\\]{1,200})"')
_B_VERSION = re.compile(rb'"version":"([0-9][^"\\]{0,40})"')


def _every(raw: bytes, key: bytes, pattern: re.Pattern[bytes], end: int) -> list[re.Match[bytes]]:
    """``pattern`` matched at each ``key`` in ``raw[:end]`` (found by ``bytes.find``)."""
    out = []
    i = raw.find(key, 0, end)
    while i >= 0:
        m = pattern.match(raw, i, end)
        if m:
            out.append(m)
        i = raw.find(key, i + len(key), end)
    return out


def _kind(kind: bytes, head: bytes, tail: bytes) -> bool:
    """Whether the line is a ``kind`` line: its ``type`` comes before ``message`` in user
    lines and after it in assistant lines (Claude Code 1.x and 2.x); ``role`` is in both."""
    typed = b'"type":"' + kind + b'"'
    return typed in head or typed in tail or b'"role":"' + kind + b'"' in head


def _big_claude(raw: bytes) -> dict[str, Any] | None:
    """The fields ``_claude`` reads, from a line too big to parse: its type, flags, time,
    version, tool ids and the start of a prompt. The line's own time is its last
    ``"timestamp"`` before ``toolUseResult`` (which may hold times of its own)."""
    end = raw.find(b'"toolUseResult"')
    end = len(raw) if end < 0 else end
    at = raw.rfind(b'"timestamp":"', 0, end)
    stamp = _B_TS.match(raw, at, end) if at >= 0 else None
    if stamp is None:
        return None
    head = raw[:HEAD]
    tail = raw[max(end - HEAD, 0) : end]
    record: dict[str, Any] = {"timestamp": stamp[1].decode()}
    for flag in (b'"isSidechain":true', b'"isMeta":true', b'"isCompactSummary":true'):
        if flag in head or flag in tail:
            record[flag[1:-6].decode()] = True
    version = _B_VERSION.search(head)
    if version:
        record["version"] = version[1].decode()
    if b'"subtype":"compact_boundary"' in head:
        record.update(type="system", subtype="compact_boundary")
    elif _kind(b"assistant", head, tail):
        uses = _every(raw, b'"type":"tool_use"', _B_USE, end)
        blocks = [{"type": "tool_use", "id": m[1].decode(), "name": m[2].decode()} for m in uses]
        record["type"] = "assistant"
        record["message"] = {"content": blocks or [{"type": "text"}]}
    elif not _kind(b"user", head, tail):
        return None
    elif results := _every(raw, b'"tool_use_id":"', _B_RESULT, end):
        blocks = [{"type": "tool_result", "tool_use_id": m[1].decode()} for m in results]
        record["type"] = "user"
        record["message"] = {"content": blocks}
    else:  # a prompt (a paste, an image): only its first characters tell what kind
        start = _B_PROMPT.search(head)
        if start is None:
            return None
        try:  # cut before the last escape: a half escape is not JSON
            text = json.loads(b'"' + start[1].rsplit(b"\\", 1)[0] + b'"')
        except ValueError:
            text = ""
        record["type"] = "user"
        record["message"] = {"content": [{"type": "text", "text": text}]}
    return record


_B_PROMPT = re.compile(rb'"content":(?:"|\[\{"type":"text","text":")((?:[^"\\]|\\.){0,60})')


# Codex CLI --------------------------------------------------------------------------------

_CODEX_CALLS = ("function_call", "custom_tool_call", "local_shell_call")
_CODEX_RESULTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output")
_CODEX_CONTEXT = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions")


def _codex(path: "Path", cuts: Sequence[float], since: float | None = None) -> Parsed:
    events: list[Event] = []
    version: str | None = None
    count = 0
    for raw in lines(path, since):
        count += 1
        if b'"timestamp"' not in raw:
            continue
        if len(raw) > BIG and b'"response_item"' in raw[:200] and b"_output" in raw[:400]:
            record = _big_codex(raw)
        else:
            record = _load(raw)
        if record is None:
            continue
        t = when(record.get("timestamp"))
        payload = record.get("payload")
        if t is None or not isinstance(payload, dict):
            continue
        kind, item = record.get("type"), payload.get("type")
        if kind == "session_meta" and isinstance(payload.get("cli_version"), str):
            version = payload["cli_version"]
        elif kind == "compacted":
            events.append(Event(t, COMPACT))
        elif kind == "event_msg" and item == "turn_aborted":
            events.append(Event(t, STOP))
        elif kind != "response_item":
            continue
        elif item in _CODEX_CALLS:
            key = str(payload.get("call_id") or payload.get("id") or "")
            events.append(Event(t, CALL, key, str(payload.get("name") or item)))
        elif item in _CODEX_RESULTS:
            events.append(Event(t, RESULT, str(payload.get("call_id") or "")))
        elif item == "reasoning" or (item == "message" and payload.get("role") == "assistant"):
            events.append(Event(t, OUTPUT))
        elif item == "message" and payload.get("role") == "user":
            if not _first_text(payload.get("content")).lstrip().startswith(_CODEX_CONTEXT):
                events.append(Event(t, PROMPT))
    return Parsed(build(events, cuts), version, count)


_B_CALL_ID = re.compile(rb'"call_id":"([^"\\]{1,200})"')


def _big_codex(raw: bytes) -> dict[str, Any] | None:
    stamp = _B_TS.search(raw, 0, 200)
    call = _B_CALL_ID.search(raw)
    if stamp is None or call is None:
        return None
    payload = {"type": "function_call_output", "call_id": call[1].decode()}
    return {"timestamp": stamp[1].decode(), "type": "response_item", "payload": payload}


def _first_text(content: object) -> str:
    if isinstance(content, str):
        return content
    for block in content if isinstance(content, list) else ():
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            return str(block["text"])
    return ""


# Gemini CLI -------------------------------------------------------------------------------

_GEMINI_CONTEXT = "<session_context>"


def _gemini(path: "Path", cuts: Sequence[float]) -> Parsed:
    """Gemini rewrites a message in full when it changes (its tool calls gain results): the
    first time a message id is seen is when it began; a tool call ends at its own
    ``timestamp`` (the last one written), or when its message began if it has none."""
    first: dict[str, tuple[float, str, bool]] = {}  # message id -> (time, type, real prompt)
    calls: dict[str, tuple[float, str, float]] = {}  # call id -> (start, name, end)
    count = 0
    for record in _gemini_records(path):
        count += 1
        ident, kind = record.get("id"), record.get("type")
        t = when(record.get("timestamp"))
        if not isinstance(ident, str) or t is None:
            continue
        if ident not in first:
            first[ident] = (t, str(kind), kind == "user" and _gemini_prompt(record))
        begun = first[ident][0]
        for call in record.get("toolCalls") or ():
            if not isinstance(call, dict) or not isinstance(call.get("id"), str):
                continue
            end = when(call.get("timestamp"))
            key = call["id"]
            start = calls[key][0] if key in calls else begun
            calls[key] = (start, str(call.get("name") or "?"), max(end or begun, start))
    events: list[Event] = []
    for t, kind, prompt in first.values():
        if kind == "user" and prompt:
            events.append(Event(t, PROMPT))
        elif kind == "gemini":
            events.append(Event(t, OUTPUT))
    for key, (start, name, end) in calls.items():
        events += [Event(start, CALL, key, name), Event(end, RESULT, key)]
    return Parsed(build(events, cuts), None, count)


def _gemini_records(path: "Path") -> Iterator[dict[str, Any]]:
    if path.suffix == ".json":  # a legacy chat: one object with every message
        from guardrun.state.agents.base import read_json_file

        data = read_json_file(path, limit=64 << 20)
        messages = data.get("messages") if isinstance(data, dict) else None
        yield from (m for m in messages or () if isinstance(m, dict))
        return
    for raw in lines(path):
        record = _load(raw) if b'"timestamp"' in raw else None
        if record is None:
            continue
        update = record.get("$set")
        if isinstance(update, dict) and isinstance(update.get("messages"), list):
            yield from (m for m in update["messages"] if isinstance(m, dict))
        else:
            yield record


def _gemini_prompt(record: dict[str, Any]) -> bool:
    content = record.get("content")
    text = content if isinstance(content, str) else _first_text(content)
    return bool(text.strip()) and not text.startswith(_GEMINI_CONTEXT)
