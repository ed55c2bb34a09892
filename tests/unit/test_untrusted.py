"""guardrun.untrusted and guardrun.escape: a state directory's files are a stranger's input
(issue 27). Real files, FIFOs, symlinks and devices: nothing here is faked."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from guardrun.escape import json_bytes, visible
from guardrun.untrusted import (
    Unreadable,
    integer,
    loads,
    number,
    parse_lines,
    read_json_object,
    read_lines,
)


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "123.json"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(Unreadable, match="not a regular file"):
        read_json_object(fifo)
    with pytest.raises(Unreadable, match="not a regular file"):
        read_lines(fifo)
    assert time.monotonic() - start < 1.0


def test_symlinks_devices_and_directories_are_refused(tmp_path: Path) -> None:
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    for path in (zero, link):
        with pytest.raises(Unreadable):
            read_json_object(path)
        with pytest.raises(Unreadable):
            read_lines(path)
    with pytest.raises(Unreadable, match="not a regular file"):
        read_json_object(tmp_path)
    with pytest.raises(Unreadable, match="not a regular file"):
        read_json_object("/dev/null")


def test_a_large_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # sparse: a GiB that costs nothing to make
    with pytest.raises(Unreadable, match="larger than"):
        read_json_object(big, limit=1 << 20)


@pytest.mark.parametrize(
    "text",
    [
        '{"memory_bytes": Infinity}',
        '{"memory_bytes": -Infinity}',
        '{"memory_bytes": NaN}',
        '{"memory_bytes": 1e400}',
        "[" * 100_000 + "]" * 100_000,
        b'{"a": "\xff"}',
        "[1, 2]",
        "",
    ],
)
def test_what_is_not_a_finite_json_object_is_unreadable(tmp_path: Path, text: str | bytes) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(Unreadable):
        read_json_object(path)


def test_numbers_are_believed_only_finite_and_in_range() -> None:
    assert loads('{"t": 1e308}') == {"t": 1e308}  # finite: the caller's range decides
    assert number(1e308, 0, 1 << 34) is None
    assert number(float("nan"), 0, 1) is None and number(True, 0, 1) is None
    assert number("5", 0, 10) is None and number(10**400, 0, 1e300) is None
    assert number(5, 0, 10) == 5.0
    assert integer(5, 0, 10) == 5 and integer(5.0, 0, 10) is None
    assert integer(True, 0, 10) is None and integer(11, 0, 10) is None


def test_a_log_over_the_bound_keeps_its_start_and_end_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "s.ndjson"
    with open(path, "w") as f:
        f.write(json.dumps({"k": "meta", "name": "first"}) + "\n")
        for i in range(200_000):
            f.write(json.dumps({"t": i, "b": i}) + "\n")
    lines, cut = read_lines(path, limit=1 << 20)
    assert cut is not None and "MiB" in cut
    assert sum(len(x) + 1 for x in lines) <= 1 << 20
    objs, late = parse_lines(lines)
    assert objs[0] == {"k": "meta", "name": "first"} and objs[-1] == {"t": 199_999, "b": 199_999}
    assert not late
    lines, cut = read_lines(path, limit=64 << 20, max_lines=1000)
    assert len(lines) == 1000 and cut is not None and "1000" in cut
    assert read_lines(path, limit=64 << 20).cut is None


def test_parsing_stops_at_its_time_bound() -> None:
    lines = [b'{"t": 1, "b": 2}'] * 50_000
    objs, late = parse_lines(lines, seconds=0.0)
    assert late and len(objs) < 50_000


def test_visible_shows_controls_and_undecodable_bytes() -> None:
    assert visible("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert visible("line\nnext\ttab\r") == "line\\nnext\\ttab\\r"
    assert visible("\x9b31m") == "\\x9b31m"  # C1 CSI
    assert visible(os.fsdecode(b"bad\xffdir")) == "bad\\xffdir"
    assert visible("abc\u202etxt.exe") == "abc\\u202etxt.exe"
    assert visible("plain é ü 漢字") == "plain é ü 漢字"
    assert visible(42) == "42"


def test_json_bytes_keeps_bytes_that_are_not_utf8() -> None:
    cwd = os.fsdecode(b"/tmp/bad\xffdir")
    data = json_bytes({"cwd": cwd, "argv": ["a\x1bb", "é"]})
    data.decode("utf-8")  # valid UTF-8, so valid JSON text
    back = json.loads(data)
    assert back["cwd"] == cwd and os.fsencode(back["cwd"]) == b"/tmp/bad\xffdir"
    assert back["argv"] == ["a\x1bb", "é"]
