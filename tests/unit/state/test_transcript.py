"""Reading the last messages of JSONL transcripts: real fixtures, damage, and 1 GB files."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import CLAUDE_FIXTURES

from guardrun.state.agents.claude import message_of
from guardrun.state.transcript import MAX_TEXT, reversed_lines, tail_jsonl

FIXTURES = Path("/work/shared/fixtures/claude")
if not FIXTURES.is_dir():  # the fixtures travel with the repository's shared folder
    FIXTURES = CLAUDE_FIXTURES
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"no fixtures at {FIXTURES}")


def rchar() -> int:
    """Bytes this process has read so far (Linux /proc/self/io)."""
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar")


def line(kind: str, text: str, **extra: object) -> str:
    record = {"type": kind, "timestamp": f"t-{text}", "message": {"role": kind, "content": text}}
    record.update(extra)
    return json.dumps(record)


@needs_fixtures
def test_representative_fixture_last_messages() -> None:
    got = tail_jsonl(FIXTURES / "representative_messages.jsonl", message_of, 4)
    assert [m["role"] for m in got] == ["assistant", "user", "assistant", "user"]
    assert got[0]["text"].startswith('[tool_use Bash: {"command":"python /tmp/decorator_example')
    assert got[1]["text"] == "[tool_result: Hello, Alice! Hello, Alice! Hello, Alice!]"
    assert got[2]["text"].startswith("Perfect! As you can see, the `@repeat(3)` decorator")
    assert got[3]["text"].startswith("This is really helpful! Let me try to implement a timing")
    assert got[3]["timestamp"] == "2025-06-14T10:04:00Z"


@needs_fixtures
def test_edge_case_fixture_skips_junk_lines() -> None:
    """The fixture holds bare strings, numbers, arrays, a misspelt key, a string message and a
    summary: none of them is a message, and none breaks the reading. Its timestamps are out of
    file order, and the messages come back in time order."""
    got = tail_jsonl(FIXTURES / "edge_cases.jsonl", message_of, 50)
    texts = [m["text"] for m in got]
    assert texts[-2:] == [
        "wow error",  # a content list holding a bare string
        "Testing special characters: café, naïve, résumé, 中文, العربية, русский, 🎉 emojis 🚀 "
        "and symbols ∑∆√π∞",
    ]
    assert texts[0].startswith('[tool_use TodoWrite: {"todos":["broken_todo"')  # 10:02, last line
    assert not any("massive error" in t or "silly" in t or "User learned" in t for t in texts)
    assert [m["timestamp"] for m in got] == sorted(m["timestamp"] for m in got)
    assert len(got) == 12  # 19 lines less 4 non-objects, 1 unknown, 1 summary, 1 misspelt
    # "content", 1 string "message"


@needs_fixtures
@pytest.mark.parametrize("name", [p.name for p in sorted(FIXTURES.glob("*.jsonl"))])
def test_fixture_matches_a_full_forward_parse(name: str) -> None:
    """Reading backwards in tiny blocks finds the messages a forward parse of every line finds
    (parts of one assistant reply merged), whatever the block size."""
    path = FIXTURES / name
    forward = []
    for raw in path.read_bytes().splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            forward.extend(message_of(record))
    got = tail_jsonl(path, message_of, 1000, block=97)
    assert got == tail_jsonl(path, message_of, 1000)
    starts = {m["text"].strip()[:40] for m in forward}
    assert all(m["text"][:40] in starts for m in got)
    assert 0 < len(got) <= len(forward)
    assert {m["text"].strip()[:40] for m in forward if "_group" not in m} <= {
        m["text"][:40] for m in got
    }


@needs_fixtures
def test_torn_last_line_and_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    shutil.copy(FIXTURES / "representative_messages.jsonl", path)
    whole = tail_jsonl(path, message_of, 3)
    with open(path, "ab") as f:
        f.write(line("user", "a prompt the crash cut").encode()[:-25])  # torn: no end, no newline
    assert tail_jsonl(path, message_of, 3) == whole
    with open(path, "ab") as f:
        f.write(b"\n" + line("user", "cafXX").encode().replace(b"XX", b"\xff") + b"\n")
    got = tail_jsonl(path, message_of, 3)
    assert got[-1]["text"] == "caf\ufffd"  # the invalid byte became U+FFFD, the rest survived
    assert got[:2] == whole[1:]


def test_parts_of_one_reply_merge_and_count_once(tmp_path: Path) -> None:
    lines = [line("user", "q1")]
    for part in ("a", "b", "c"):
        record = json.loads(line("assistant", part))
        record["message"]["id"] = "msg_1"
        lines.append(json.dumps(record))
    lines += [line("user", "q2"), json.dumps({"type": "system", "subtype": "turn_duration"})]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    got = tail_jsonl(path, message_of, 2)
    assert got == [
        {"role": "assistant", "text": "a\nb\nc", "timestamp": "t-a"},
        {"role": "user", "text": "q2", "timestamp": "t-q2"},
    ]
    assert [m["text"] for m in tail_jsonl(path, message_of, 3)] == ["q1", "a\nb\nc", "q2"]


def test_lines_out_of_time_order_are_sorted(tmp_path: Path) -> None:
    """Claude Code sometimes writes its reply before the prompt line (seen with 2.1.197)."""
    reply = json.loads(line("assistant", "reply"))
    reply["timestamp"] = "2026-11-21T10:31:16.904Z"
    prompt = json.loads(line("user", "prompt"))
    prompt["timestamp"] = "2026-11-21T10:31:16.729Z"
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(reply) + "\n" + json.dumps(prompt) + "\n")
    assert [m["text"] for m in tail_jsonl(path, message_of, 5)] == ["prompt", "reply"]
    prompt["timestamp"] = "not a time"  # then file order is all there is
    path.write_text(json.dumps(reply) + "\n" + json.dumps(prompt) + "\n")
    assert [m["text"] for m in tail_jsonl(path, message_of, 5)] == ["reply", "prompt"]


def test_long_text_is_capped_and_meta_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        "\n".join(
            [
                line("user", "x" * 10_000),
                line("user", "caveat", isMeta=True),
                line("assistant", "subagent", isSidechain=True),
            ]
        )
    )
    (got,) = tail_jsonl(path, message_of, 5)
    assert len(got["text"]) == MAX_TEXT and got["text"].endswith("…")


def test_over_long_line_is_skipped_not_buffered(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    huge = line("user", "y" * 300_000)
    path.write_text("\n".join([line("user", "before"), huge, line("user", "after")]) + "\n")
    got = tail_jsonl(path, message_of, 5, max_line=100_000, block=4096)
    assert [m["text"] for m in got] == ["before", "after"]


def test_max_scan_bounds_the_work(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    filler = json.dumps({"type": "progress", "data": "z" * 200}) + "\n"
    path.write_text(line("user", "old") + "\n" + filler * 10_000)
    assert tail_jsonl(path, message_of, 5, max_scan=1 << 20) == []
    assert [m["text"] for m in tail_jsonl(path, message_of, 5, max_scan=8 << 20)] == ["old"]


def test_missing_file_and_zero_n(tmp_path: Path) -> None:
    assert tail_jsonl(tmp_path / "none.jsonl", message_of, 5) == []
    (tmp_path / "e.jsonl").write_text("")
    assert tail_jsonl(tmp_path / "e.jsonl", message_of, 5) == []
    assert tail_jsonl(tmp_path / "e.jsonl", message_of, 0) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    st.integers(min_value=1, max_value=64),
    st.booleans(),
)
def test_reversed_lines_equals_forward_split(lines: list[bytes], block: int, eol: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if eol else b"")
    expected = [x for x in data.split(b"\n") if x][::-1]
    assert list(reversed_lines(io.BytesIO(data), block=block)) == expected


def _one_gigabyte(path: Path, tail: list[str], dense: bool) -> None:
    """1 GiB of transcript, then ``tail``. Sparse: a hole plus 4 MiB of filler lines (instant,
    no disk); dense: 1 GiB of real filler lines written in 4 MiB chunks."""
    filler = (json.dumps({"type": "progress", "data": "f" * 1000}) + "\n").encode()
    chunk = filler * (4 * 1024 * 1024 // len(filler))
    with open(path, "wb") as f:
        if dense:
            while f.tell() < 1 << 30:
                f.write(chunk)
        else:
            f.truncate((1 << 30) - len(chunk))
            f.seek(0, os.SEEK_END)
            f.write(chunk)
        f.write(("\n".join(tail) + "\n").encode())


@pytest.mark.parametrize("dense", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_one_gigabyte_transcript_reads_in_milliseconds(tmp_path: Path, dense: bool) -> None:
    path = tmp_path / "big.jsonl"
    tail = [line("user" if i % 2 == 0 else "assistant", f"message {i}") for i in range(12)]
    _one_gigabyte(path, tail, dense)
    try:
        assert path.stat().st_size > 1 << 30
        before, start = rchar(), time.perf_counter()
        got = tail_jsonl(path, message_of, 10)
        elapsed, read = time.perf_counter() - start, rchar() - before
        assert [m["text"] for m in got] == [f"message {i}" for i in range(2, 12)]
        print(f"\n1 GiB ({'dense' if dense else 'sparse'}): {elapsed * 1000:.2f} ms, {read} B read")
        assert read < 1 << 20  # the last blocks only, not the gigabyte
        assert elapsed < 0.25  # about 1 ms here; generous for a loaded CI machine
        # With no message in the last 64 MiB, reading stops there rather than going on.
        start = time.perf_counter()
        assert tail_jsonl(path, message_of, 10, prefilter=b"never") == []
        print(f"no message found: {(time.perf_counter() - start) * 1000:.1f} ms for 64 MiB")
    finally:
        path.unlink()
