"""The teller from RunStatus snapshots alone (no Supervisor, no child process):
events, the live file, the title and bell through the terminal sink, secrets
scrubbed from events, and the caller's title put back at close. It is built and wired
as a run builds it (``runner.observers``), with its conversation beside it."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from guardrun.config.load import load_config
from guardrun.observe.notify import POP_TITLE, PUSH_TITLE
from guardrun.observe.observer import Observer
from guardrun.platform.types import ProcSample, TreeSample
from guardrun.runner import observers
from guardrun.supervisor.levels import Thresholds
from guardrun.supervisor.status import RunStatus
from guardrun.ui import Reporter

MB = 1_000_000


def status(level: str = "normal", rss: int = 120 * MB, **kw: object) -> RunStatus:
    sample = TreeSample(time.monotonic(), (ProcSample(4242, 1, rss),))
    fields: dict[str, object] = dict(
        name="claude", metric="rss", mode="normal", level=level, restarts=0,
        child_pid=4242, child_argv=["claude", "--api-key", "sk-ant-api03-" + "x" * 40],
        child_started_wall=time.time() - 5, sample=sample,
        history=[(time.time() - 1, rss - MB), (time.time(), rss)],
        thresholds=Thresholds(100 * MB, 200 * MB, 300 * MB), breaker={"state": "closed"},
    )  # fmt: skip
    fields.update(kw)
    return RunStatus(**fields)  # type: ignore[arg-type]


@pytest.fixture
def observer(tmp_path: Path) -> Observer:
    cfg = load_config(cwd=tmp_path, env={}, flags={}, no_config=True)
    ui = Reporter(stream=io.StringIO())
    argv = ["claude", "--api-key", "sk-ant-api03-" + "x" * 40]
    return observers(cfg, argv, tmp_path, tmp_path / "state", ui)[0]


def events(obs: Observer) -> list[dict[str, object]]:
    assert obs.events.path is not None
    assert obs.writer.drain()  # the writes run in the writer's thread (observe/writer.py)
    return [json.loads(line) for line in Path(obs.events.path).read_text().splitlines()]


def test_events_carry_memory_level_and_mode_and_never_a_secret(observer: Observer) -> None:
    observer.started(status())
    observer.event("hook_output", status(), output="token sk-ant-api03-" + "y" * 40 + " leaked")
    evs = events(observer)
    assert [e["event"] for e in evs] == ["started", "hook_output"]
    assert evs[0]["memory_bytes"] == 120 * MB and evs[0]["level"] == "normal"
    assert evs[0]["child_pid"] == 4242 and evs[0]["agent"] == "claude"
    text = json.dumps(evs)
    assert "sk-ant-api03-x" not in text and "sk-ant-api03-y" not in text  # argv and free text
    assert "leaked" in text


def test_live_file_shows_the_snapshot(observer: Observer) -> None:
    observer.update_live(status(level="warning", restarts=2), force=True)
    assert observer.writer.drain()
    doc = json.loads(Path(observer.live.path).read_text())
    assert doc["level"] == "warning" and doc["restarts"] == 2 and doc["memory_bytes"] == 120 * MB
    assert doc["breaker"] == "closed" and doc["child_pid"] == 4242
    assert "sk-ant-api03-x" not in json.dumps(doc)
    assert oct(os.stat(observer.live.path).st_mode & 0o777) == "0o600"


def test_title_goes_through_the_sink_once_per_visible_change(
    observer: Observer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "isatty", lambda fd: True)  # the sink stands for a terminal
    out: list[bytes] = []
    observer.attach_terminal(out.append)
    observer.sampled(status(rss=120 * MB))
    observer.sampled(status(rss=120 * MB + 10_000))  # same rough figure: not rewritten
    observer.sampled(status(rss=120 * MB, child_title="✳ Claude Code"))
    written = b"".join(out)
    assert written.startswith(PUSH_TITLE + b"\x1b]0;guardrun: claude 120 MB\x07")
    assert written.count(b"\x1b]0;") == 2
    assert written.endswith("\x1b]0;120 MB · ✳ Claude Code\x07".encode())
    observer.level_changed(status(level="warning"), "normal", "warning", 120 * MB)
    assert out[-1] == b"\x07"  # the bell, queued like the title
    observer.close(status(), 0)
    assert b"".join(out).endswith(b"\x1b]0;\x07" + POP_TITLE)  # the caller's title is back


def test_no_sink_no_title(observer: Observer) -> None:
    observer.sampled(status())
    observer.close(status(), 0)
    assert observer._notifier is None  # nothing was ever going to the terminal


def test_live_file_is_rewritten_only_with_news(
    observer: Observer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most once a second, and then only when something changed or memory moved by
    2%, or every 10 s as a heartbeat (a rename costs ~1 ms: the idle budget)."""
    from guardrun.observe import live

    now = [1000.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: now[0])
    writes: list[int] = []
    real = observer.live.update
    monkeypatch.setattr(
        observer.live, "update", lambda info, force=False: writes.append(1) or real(info, force)
    )  # noqa: E501
    observer.sampled(status(rss=100 * MB))
    assert len(writes) == 1
    now[0] += 0.5
    observer.sampled(status(level="warning", rss=100 * MB))  # news, but within the second
    assert len(writes) == 1
    now[0] += 1.0
    observer.sampled(status(level="warning", rss=100 * MB))  # the level changed: written
    assert len(writes) == 2
    now[0] += 1.0
    observer.sampled(status(level="warning", rss=101 * MB))  # 1%: not news
    assert len(writes) == 2
    now[0] += 1.0
    observer.sampled(status(level="warning", rss=103 * MB))  # 3%: news
    assert len(writes) == 3
    now[0] += 9.0
    observer.sampled(status(level="warning", rss=103 * MB))  # nothing new, within 10 s
    assert len(writes) == 3
    now[0] += 1.0
    observer.sampled(status(level="warning", rss=103 * MB))  # the heartbeat
    assert len(writes) == 4


def test_samples_go_to_the_history_beside_the_event_log(observer: Observer) -> None:
    from guardrun.observe.history_read import read_history

    for i in range(3):
        observer.sampled(status(rss=(120 + i) * MB))
    observer.close(status(), 0)
    assert observer.events.path is not None
    got = read_history(Path(observer.events.path).with_name(f"{observer.run_id}.samples.ndjson"))
    assert [p["b"] for p in got.points] == [120 * MB, 121 * MB, 122 * MB]
    thresholds = {"warning": 100 * MB, "critical": 200 * MB, "emergency": 300 * MB}
    assert got.meta["thresholds"] == thresholds
    assert "sk-ant" not in json.dumps(got.meta)
    assert got.points[0]["p"] == [[4242, 120 * MB]]
