"""The Prometheus textfile (``metrics.textfile``): parsed with prometheus_client's own
parser, values as ``guardrun status --json`` shows them, rewritten atomically and only
as often as the idle budget allows, removed at exit (kept after an emergency stop)."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from guardrun.commands.live import machine_plan
from guardrun.config import trust
from guardrun.config.load import load_config
from guardrun.config.values import to_plain
from guardrun.errors import ConfigError
from guardrun.observe import metrics
from guardrun.observe.metrics import HEARTBEAT, INTERVAL, MIN_GAP, Metrics
from guardrun.platform.types import ProcSample, TreeSample
from guardrun.runner import observers
from guardrun.supervisor.levels import Thresholds
from guardrun.supervisor.status import RunStatus
from guardrun.ui import Reporter

MB = 1_000_000
LABELS = {"run_id": "20250101T000000Z-abcdef", "project": "app-12345678", "agent": "claude"}


def status(**kw: object) -> RunStatus:
    procs = (ProcSample(4242, 1, 120 * MB), ProcSample(4243, 4242, 30 * MB))
    fields: dict[str, object] = dict(
        name="claude", metric="rss", mode="normal", level="warning", restarts=0,
        child_pid=4242, child_argv=["claude"], child_started_wall=time.time() - 5,
        sample=TreeSample(time.monotonic(), procs),
        thresholds=Thresholds(100 * MB, 200 * MB, 300 * MB), breaker={"state": "closed"},
        growth=1234.56, eta_critical=40.04, eta_emergency=None, machine_level="critical",
        budget=900 * MB,
    )  # fmt: skip
    fields.update(kw)
    return RunStatus(**fields)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as (name, labels other than the run's) -> value, through the parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert {k: s.labels[k] for k in LABELS} == LABELS  # every series is the run's
            rest = tuple(sorted((k, v) for k, v in s.labels.items() if k not in LABELS))
            out[(s.name, rest)] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[("guardrun_" + name, tuple(sorted(labels.items())))]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def m(tmp_path: Path, clock: Clock) -> Metrics:
    return Metrics(tmp_path / "g.prom", LABELS, {"version": "1"}, warn=print, clock=clock)


def test_every_family_parses_and_is_one_guardrun_declares(m: Metrics) -> None:
    text = m.render(status())
    names = {f.name for f in text_string_to_metric_families(text)}
    # prometheus_client names a counter family without its _total
    declared = {"guardrun_" + n.removesuffix("_total") for n in metrics.METRICS}
    assert names <= declared
    assert value(text, "tree_memory_bytes") == 150 * MB
    assert value(text, "tree_processes") == 2
    assert value(text, "level") == 1 and value(text, "machine_level") == 2
    assert value(text, "mode", mode="normal") == 1
    assert value(text, "mode", mode="emergency_stop") == 0
    assert value(text, "threshold_bytes", level="critical") == 200 * MB
    assert value(text, "growth_bytes_per_second") == 1234.6
    assert value(text, "eta_critical_seconds") == 40.0
    assert ("guardrun_eta_emergency_seconds", ()) not in samples(text)  # unknown: no sample
    assert value(text, "machine_budget_bytes") == 900 * MB
    assert value(text, "restarts_total", reason="critical") == 0  # seeded: increase() works
    assert value(text, "up") == 1
    assert value(text, "info", version="1") == 1


def test_label_values_are_escaped(tmp_path: Path) -> None:
    odd = dict(LABELS, project='a"b\\c\nd')
    text = Metrics(tmp_path / "x.prom", odd, {}, warn=print).render(status())
    family = next(iter(text_string_to_metric_families(text)))
    assert family.samples[0].labels["project"] == 'a"b\\c\nd'


def test_restarts_and_captures_are_counted_by_reason(m: Metrics, clock: Clock) -> None:
    m.note("restart_requested", {"reason": "critical"})
    m.note("state_captured", {"reason": "critical"})
    m.update(status(restarts=1), force=True)
    m.note("restart_requested", {"reason": "emergency"})
    m.note("restart_refused", {"reason": "emergency"})  # refused: no restart followed
    m.note("restart_requested", {"reason": "crash"})
    m.note("resume_refused", {})
    clock.now += 1
    m.update(status(restarts=2), force=True)  # the restart that followed the refusal
    text = m.path.read_text()
    assert value(text, "restarts_total", reason="critical") == 1
    assert value(text, "restarts_total", reason="resume_refused") == 1
    assert value(text, "restarts_total", reason="emergency") == 0
    assert value(text, "captures_total", reason="critical") == 1
    total = sum(v for (n, _), v in samples(text).items() if n == "guardrun_restarts_total")
    assert total == 2


def test_written_every_interval_at_most_and_only_with_news(m: Metrics, clock: Clock) -> None:
    assert m.update(status())  # the first sample
    clock.now += INTERVAL / 2
    assert not m.update(status(sample=None))  # not due
    clock.now += INTERVAL
    assert not m.update(status())  # due, but the same text: not written again
    clock.now += INTERVAL
    assert m.update(status(level="critical"))
    assert value(m.path.read_text(), "level") == 2
    clock.now += HEARTBEAT
    assert m.update(status(level="critical"))  # the heartbeat: the timestamp moves on


def test_news_is_written_at_once_and_a_burst_folds_into_the_next_sample(
    m: Metrics, clock: Clock
) -> None:
    assert m.update(status(), force=True)
    clock.now += MIN_GAP / 2
    assert not m.update(status(level="critical"), force=True)  # the same moment
    clock.now += MIN_GAP
    assert m.update(status(level="critical"))  # the next sample, before INTERVAL
    assert value(m.path.read_text(), "level") == 2


def test_a_reader_never_sees_half_a_file(m: Metrics, clock: Clock) -> None:
    done = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not done.is_set() and len(seen) < 5000:
            try:
                seen.append(m.path.read_text())
            except FileNotFoundError:
                pass
            time.sleep(0)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(300):
            clock.now += INTERVAL
            m.update(status(sample=TreeSample(0.0, (ProcSample(1, 0, i * MB),))))
    finally:
        done.set()
        reader.join()
    assert len(seen) > 10
    whole = m.path.read_text().count("\n")
    for text in set(seen):
        assert text.count("\n") == whole and text.endswith("\n")  # as long as a whole file
        assert "\nguardrun_last_update_timestamp_seconds{" in text  # its last line
    for text in list(set(seen))[:20]:
        assert value(text, "up") == 1  # parses
    assert [p.name for p in m.path.parent.iterdir()] == ["g.prom"]  # no temp file left


def test_file_is_world_readable_whatever_the_umask(m: Metrics) -> None:
    old = os.umask(0o077)
    try:
        m.update(status(), force=True)
    finally:
        os.umask(old)
    assert m.path.stat().st_mode & 0o777 == 0o644  # node_exporter is another user


def test_removed_at_exit_but_kept_after_an_emergency_stop(m: Metrics, clock: Clock) -> None:
    m.update(status(), force=True)
    m.close(status(), 0)
    assert not m.path.exists()
    m.close(status(mode="emergency_stop", level="emergency"), 75)
    text = m.path.read_text()
    assert value(text, "up") == 0 and value(text, "exit_code") == 75
    assert value(text, "mode", mode="emergency_stop") == 1


def test_a_failing_write_warns_once(tmp_path: Path, clock: Clock) -> None:
    said: list[str] = []
    m = Metrics(tmp_path / "missing" / "g.prom", LABELS, {}, warn=said.append, clock=clock)
    for _ in range(3):
        clock.now += INTERVAL
        assert not m.update(status(), force=True)
    assert len(said) == 1 and "missing" in said[0]
    (tmp_path / "missing").mkdir()
    clock.now += INTERVAL
    assert m.update(status(), force=True)
    assert list(tmp_path.glob("missing/.*tmp")) == []


def test_target_is_the_file_or_one_per_run_in_a_directory(tmp_path: Path) -> None:
    assert metrics.target(tmp_path / "a.prom", "R") == tmp_path / "a.prom"
    assert metrics.target(tmp_path, "R") == tmp_path / "guardrun-R.prom"


def test_the_setting_is_off_by_default_and_a_path_relative_to_its_file(tmp_path: Path) -> None:
    cfg = load_config(cwd=tmp_path, env={}, flags={}, no_config=True)
    assert cfg.metrics.textfile is None
    project = tmp_path / ".guardrun.yaml"
    project.write_text("metrics:\n  textfile: m/guardrun.prom\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    # A project file's metrics.textfile moves where guardrun writes: held until trusted.
    assert load_config(cwd=sub, env={}, flags={}).metrics.textfile is None
    trust.trust(trust.record_key(str(project)), trust.digest(project.read_text()))
    cfg = load_config(cwd=sub, env={}, flags={})
    assert cfg.metrics.textfile == tmp_path / "m" / "guardrun.prom"
    assert to_plain(cfg)["metrics"] == {"textfile": str(tmp_path / "m" / "guardrun.prom")}
    env = {"GUARDRUN_METRICS_TEXTFILE": "off"}
    assert load_config(cwd=sub, env=env, flags={}).metrics.textfile is None
    (tmp_path / ".guardrun.yaml").write_text("metrics:\n  textfile: 3\n")
    with pytest.raises(ConfigError, match=r"\.guardrun\.yaml:2: metrics\.textfile: expected off"):
        load_config(cwd=sub, env={}, flags={})


def test_the_file_says_what_status_json_says(tmp_path: Path) -> None:
    """The observer writes the live file and the textfile from the same snapshot."""
    prom = tmp_path / "prom"
    prom.mkdir()
    cfg = load_config(cwd=tmp_path, env={"GUARDRUN_METRICS_TEXTFILE": str(prom)}, flags={},
                      no_config=True)  # fmt: skip
    obs, conv = observers(
        cfg, ["claude"], tmp_path, tmp_path / "state", Reporter(stream=io.StringIO())
    )
    swapped = (ProcSample(4242, 1, 120 * MB, swap=80 * MB), ProcSample(4243, 4242, 30 * MB))
    st = status(restarts=1, metric="footprint", sample=TreeSample(time.monotonic(), swapped))
    obs.event("restart_requested", st, reason="planned")
    obs.started(st)  # "restarted": news, written at once, and the live file too
    assert obs.writer.drain()  # the writes run in the writer's thread (observe/writer.py)
    assert obs.metrics is not None and obs.metrics.path.parent == prom
    text = obs.metrics.path.read_text()
    # The live file as written (status believes only a running guardrun: this is pytest).
    run = json.loads(Path(obs.live.path).read_text())
    run["machine"] = machine_plan([run])  # as status adds it
    labels = {"run_id": run["run_id"], "project": conv.store.project, "agent": run["agent"]}
    assert labels == {k: v for k, v in samples_any(text)[0].items() if k in labels}
    assert value_any(text, "tree_memory_bytes") == run["memory_bytes"]
    assert value_any(text, "tree_processes") == run["processes"]
    assert value_any(text, "tree_memory_bytes") == 230 * MB  # the footprint: swap counted
    assert value_any(text, "tree_swapped_bytes") == run["swapped_bytes"] == 80 * MB
    levels = metrics.LEVELS
    assert value_any(text, "level") == levels.index(run["level"])
    assert value_any(text, "machine_level") == levels.index(run["machine_level"])
    assert value_any(text, "mode", mode=run["mode"]) == 1
    assert value_any(text, "restarts_total", reason="planned") == run["restarts"] == 1
    assert value_any(text, "growth_bytes_per_second") == run["growth_bytes_per_second"]
    assert value_any(text, "eta_critical_seconds") == run["eta_critical_seconds"]
    assert run["eta_emergency_seconds"] is None
    assert value_any(text, "machine_budget_bytes") == run["budget_bytes"]
    assert value_any(text, "machine_budget_bytes") == run["machine"]["budget_bytes"]
    obs.close(st, 0)
    assert list(prom.iterdir()) == []


def samples_any(text: str) -> list[dict[str, str]]:
    return [s.labels for f in text_string_to_metric_families(text) for s in f.samples]


def value_any(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "guardrun_" + name and all(s.labels[k] == v for k, v in labels.items()):
                return s.value
    raise KeyError(name)
