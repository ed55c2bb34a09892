"""The sentinel's program: what runs in the sentinel process (``supervisor/sentinel.py``
starts it and talks to it; see there for what it is for).

It is started at every run, on the other core while guardrun, the child and, in a
benchmark, the next run start, and it reads guardrun's "done" only once its imports are
over. So it imports only what it uses: ``os``, ``select``, ``time``, ``marshal`` (the
arm line's format; built in), ``_signal`` (``platform.signums``) and the per-process
facts of ``guardrun.platform`` (on Linux ``linux_facts``, which imports only ``os``).
Not ``typing`` (``TYPE_CHECKING`` is this module's own), not ``json``, ``re``, ``enum``
or ``collections``, not ``platform.types``' NamedTuples. tests/unit/supervisor/
test_sentinel_imports.py spawns it as guardrun does and checks the list. The rare act
path (the loop stalled over emergency) imports what it needs (the probe, ``json``)
when it acts.

The pipe's lines, from guardrun: ``S <pgid>`` (a new membership follows), ``<pid>
<start time>`` (a member), ``A <hex>`` (arm the dead man's switch: a dict in
``marshal``'s format, hex so that it holds no newline; the pipe is guardrun's own, from
the same interpreter), ``done`` (guardrun exits on its own). EOF without ``done``:
guardrun died, and the tree is ended.
"""

from __future__ import annotations

import marshal
import os
import select
import sys
import time

from guardrun.platform import marked, start_time
from guardrun.platform.signums import signal

TYPE_CHECKING = False  # typing's own costs an import of typing; mypy reads it as true
if TYPE_CHECKING:
    from typing import Any

GRACE = 3.0
LOOK_EVERY = 1.0  # seconds between two looks at a tree while the loop stays stuck
BEAT_SIZE = 8  # one double: the loop's last sample, monotonic seconds; 0: paused
_IGNORED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGTSTP", "SIGUSR1", "SIGUSR2", "SIGPIPE")


def arm_line(conf: dict[str, object]) -> bytes:
    """The ``A`` line for ``conf``: its values as ``marshal`` takes them (a path as its
    str, surrogate escapes and all: ``marshal`` keeps lone surrogates, so a non-UTF-8
    path comes back as the same str and ``os.open`` gives it the same bytes)."""
    plain: dict[str, object] = {}
    for key, value in conf.items():
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, bytes):
            value = os.fsdecode(value)
        if value is not None and not isinstance(value, (str, int, float)):
            value = str(value)
        plain[key] = value
    return b"A " + marshal.dumps(plain).hex().encode() + b"\n"


def read_arm(line: bytes) -> dict[str, Any]:
    """The dict of an ``A`` line; {} (not armed) for one that does not read as a dict."""
    try:
        conf = marshal.loads(bytes.fromhex(line[2:].decode("ascii")))
    except (ValueError, EOFError, TypeError):
        return {}
    return conf if isinstance(conf, dict) else {}


def _watch(r: int, marker: bytes, beat_fd: int = -1) -> None:  # pragma: no cover
    members: dict[int, int] = {}
    pgid = 0
    buf = b""
    switch = Switch(beat_fd)
    poller = select.poll()
    poller.register(r, select.POLLIN)
    while True:
        try:
            ready = poller.poll(switch.wait_ms())
        except InterruptedError:
            continue
        if ready:
            try:
                chunk = os.read(r, 65536)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line == b"done":
                    os._exit(0)
                parts = line.split()
                if parts and parts[0] == b"S":
                    pgid = int(parts[1])
                    members = {}
                elif parts and parts[0] == b"A":
                    switch.arm(read_arm(line))
                elif len(parts) == 2:
                    members[int(parts[0])] = int(parts[1])
        if switch.stale():
            switch.act(pgid, _live(members, marker))
    _end_tree(pgid, _live(members, marker))
    os._exit(0)


def _live(members: dict[int, int], marker: bytes) -> dict[int, int]:
    """The tree's processes still alive (pid and start time checked), and those born
    since the last update (found by the marker they inherit)."""
    live = {pid: st for pid, st in members.items() if start_time(pid) == st}
    if marker:
        live.update(marked(marker))
    return live


def _end_tree(pgid: int, live: dict[int, int], grace: float = GRACE) -> None:
    """SIGTERM to the tree, ``grace`` seconds, then SIGKILL to what is left."""
    # The group is signalled only while one of the tree's own processes (pid and start
    # time checked) is still in it: after the tree is gone its pgid may be a recycled
    # pid's group, and killpg would end an unrelated program.
    if pgid and not _group_is_ours(pgid, live):
        pgid = 0
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if pgid:
            try:
                os.killpg(pgid, sig)
            except OSError:
                pass
        for pid, st in live.items():
            if start_time(pid) == st:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        deadline = time.monotonic() + grace
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if not any(start_time(p) == st for p, st in live.items()):
                return
            time.sleep(0.05)


def _group_is_ours(pgid: int, live: dict[int, int]) -> bool:
    for pid in live:
        try:
            if os.getpgid(pid) == pgid:
                return True
        except OSError:
            continue
    return False


class Switch:
    """The dead man's switch, in the sentinel: armed by guardrun's ``A`` line."""

    def __init__(self, beat_fd: int) -> None:
        self.beat_fd = beat_fd  # read with pread once a second: one system call
        self.conf: dict[str, Any] = {}
        self.next_look = 0.0
        self.acted_on = -1.0  # the beat the sentinel last acted on: once per stall

    def arm(self, conf: dict[str, Any]) -> None:
        self.conf = conf

    def beat(self) -> float:
        try:
            data = os.pread(self.beat_fd, BEAT_SIZE, 0)
        except OSError:
            return 0.0
        return float(memoryview(data).cast("d")[0]) if len(data) == BEAT_SIZE else 0.0

    def wait_ms(self) -> int:
        """How long the sentinel may sleep: for ever until armed."""
        if self.beat_fd < 0 or not self.conf:
            return -1
        return max(0, int((self.next_look - time.monotonic()) * 1000)) + 1

    def stale(self) -> bool:
        """Has the loop stopped sampling? Looked at when the last beat read would turn
        stale (so a sampling loop costs one wake-up per stale time, ~10 us), then, while
        the loop stays stuck, once a second."""
        if self.beat_fd < 0 or not self.conf:
            return False
        now = time.monotonic()
        if now < self.next_look:
            return False
        stale_s = float(self.conf["stale_s"])
        beat = self.beat()
        if beat <= 0.0 or beat == self.acted_on:  # paused, or this stall was acted on
            self.next_look = now + stale_s
            return False
        if now - beat < stale_s:
            self.next_look = beat + stale_s
            return False
        self.next_look = now + LOOK_EVERY
        return True

    def act(self, pgid: int, live: dict[int, int]) -> None:
        """The loop is stuck: read the tree, and stop it at or over emergency."""
        conf = self.conf
        beat = self.beat()
        total = _tree_total(conf, list(live)) if live else 0
        if total is None or total < int(conf["emergency"]):
            return  # under emergency (or unreadable): look again in a second
        self.acted_on = beat
        stalled = round(time.monotonic() - beat, 1)
        _end_tree(pgid, live, float(conf.get("grace", GRACE)))
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "run_id": conf.get("run_id"),
            "event": "sentinel_stopped",
            "guardrun_pid": conf.get("pid"),
            "memory_bytes": total,
            "emergency_bytes": int(conf["emergency"]),
            "processes": len(live),
            "stalled_s": stalled,
            "reason": f"guardrun had not sampled for {stalled:.0f}s",
        }
        _tell(conf, record)


def _tree_total(conf: dict[str, Any], roots: list[int]) -> int | None:
    from guardrun.platform import make_probe  # the act path only: the probe's modules

    try:
        probe = make_probe(str(conf.get("probe") or "proc"))
        try:
            sample = probe.sample(roots)
        finally:
            probe.close()
        try:
            return sample.total(str(conf.get("metric") or "rss"))
        except AttributeError:  # a metric this probe's samples do not carry
            return sample.rss
    except Exception:  # noqa: BLE001 - the last resort reads what it can
        return None


def _tell(conf: dict[str, Any], record: dict[str, Any]) -> None:
    """The event log, the record beside it, and the live file: each best effort (the
    tree is already stopped, so a hung disk holds up nothing that matters)."""
    import json  # the act path only: arming and watching never need it

    line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    log = conf.get("event_log")
    if log:
        try:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError:
            pass
    path = conf.get("record")
    if path:
        _write_json(path, record)
    live = conf.get("live")
    if live:
        try:
            with open(live, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            doc = None
        if isinstance(doc, dict):
            doc["sentinel"] = record
            _write_json(live, doc)


def _write_json(path: str, doc: dict[str, Any]) -> None:
    import json

    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps(doc, indent=1).encode())
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def serve(r: int, marker: bytes, beat: int = -1) -> None:  # pragma: no cover - sentinel
    """Deaf to the signals a terminal or a user sends guardrun's group, holding nothing but
    the pipe's read end ``r`` and the heartbeat page ``beat`` (and stdio), watch until
    guardrun is done or gone."""
    for name in _IGNORED:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    keep = sorted({r, beat} - {-1})
    low = 3
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
    _watch(r, marker, beat)


def main() -> None:  # pragma: no cover - the spawned sentinel; test_sentinel drives it
    """The spawned sentinel: ``argv`` is ``-c``, the path, the marker, the path separator,
    the pipe's descriptor, the heartbeat page's descriptor (-1: none)."""
    serve(int(sys.argv[4]), sys.argv[2].encode(), int(sys.argv[5]) if len(sys.argv) > 5 else -1)
