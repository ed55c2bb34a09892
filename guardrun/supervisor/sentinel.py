"""A watchdog that ends the tree when guardrun itself is SIGKILLed.

A SIGKILLed guardrun runs no cleanup. The PTY hangs up (SIGHUP to the child's
foreground group) and the child gets its parent-death signal, but a daemon that
double-forked into a session of its own (an MCP server) sees neither, and it
was guardrun, the subreaper, that held it. So at start guardrun starts this
small process in a session of its own, with nothing open but a pipe, and
sends it the tree's membership (pid and start time, so a reused pid is never
hit) whenever it changes. Members born since the last sample are found by the
marker every process of the tree inherits in its environment. EOF without a
"done" line means guardrun died: the sentinel sends SIGTERM to the last known
tree, waits a short grace, then SIGKILL.
Wherever the platform gives start times (not Windows).

The sentinel is a program of its own, started by ``posix_spawn``: ``python -I -S``
running :func:`main`, in a new session, stdio on /dev/null, the pipe's read end the
only other descriptor, an empty environment (so it carries no marker). A fork of
guardrun would do the same work, but after a fork every page guardrun writes is
first copied (about a thousand page faults a start: docs/benchmarks.md), and a
forked copy of a Python process that goes on running Python inherits whatever
locks other threads held. The spawned interpreter starts on another core while
guardrun goes on (its start's CPU is its own, once per run), and holds about the
memory the forked copy came to hold (docs/benchmarks.md). Where it cannot be spawned (no
interpreter path, no ``posix_spawn`` with a new session) it is forked, as before; one
that dies is replaced by a fork at the next update.

The dead man's switch. guardrun's loop can also stop without dying: SIGSTOP, a
debugger, a hung system call, a bug that spins. So the loop writes the time of each
sample (``time.monotonic``, the same clock for every process) into a page it shares
with the sentinel (a ``memfd``, else an unlinked file): one 8-byte ``pwrite`` per
sample (~1 us), nothing for the sentinel to wake up for. Once armed (``arm``: the
emergency threshold, the metric and probe, where to write), the sentinel reads the
page (``pread``) when the last beat it read would turn stale (one wake-up per stale
time while the loop samples); when the loop has not sampled for ``max(5 s, 10 intervals)`` it
reads the tree's memory itself and, at or over emergency, stops the tree (SIGTERM,
grace, SIGKILL), appends a ``sentinel_stopped`` event to the run's event log and
leaves a record beside it (``<run-id>.sentinel.json``, shown by the next start and
``guardrun report``) and in the run's live file (shown by ``guardrun status``). A
zero in the page means guardrun is between samples on purpose (stopping the tree
itself, or stopped with its own watch under job control): the sentinel waits.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from typing import TYPE_CHECKING, Any

from guardrun.platform import HAS_START_TIMES, marked, start_time
from guardrun.platform.signums import signal
from guardrun.supervisor.child import RESET_SIGNALS, fork

if TYPE_CHECKING:
    from collections.abc import Iterable

GRACE = 3.0
STALE_MIN = 5.0  # seconds without a sample before the sentinel looks (and 10 intervals)
STALE_INTERVALS = 10
LOOK_EVERY = 1.0  # seconds between two looks at a tree while the loop stays stuck
BEAT_SIZE = 8  # one double: the loop's last sample, monotonic seconds; 0: paused


def _sentinel_main(r: int, marker: bytes, beat_fd: int = -1) -> None:  # pragma: no cover
    members: dict[int, int] = {}
    pgid = 0
    buf = b""
    watch = _Switch(beat_fd)
    poller = select.poll()
    poller.register(r, select.POLLIN)
    while True:
        try:
            ready = poller.poll(watch.wait_ms())
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
                    watch.arm(json.loads(line[2:]))
                elif len(parts) == 2:
                    members[int(parts[0])] = int(parts[1])
        if watch.stale():
            watch.act(pgid, _live(members, marker))
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


class _Switch:
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
    from guardrun.platform import make_probe

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


def _group_is_ours(pgid: int, live: dict[int, int]) -> bool:
    for pid in live:
        try:
            if os.getpgid(pid) == pgid:
                return True
        except OSError:
            continue
    return False


# The spawned sentinel's program. Its arguments: the sys.path to take (guardrun's, the
# directory above the package first, for an editable install), the marker, the path
# separator, the pipe's descriptor, the heartbeat page's descriptor (-1: none).
BOOT = (
    "import sys; sys.path[:0] = sys.argv[1].split(sys.argv[3]);"
    "from guardrun.supervisor.sentinel import main; main()"
)
_IGNORED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGTSTP", "SIGUSR1", "SIGUSR2", "SIGPIPE")


def _serve(r: int, marker: bytes, beat: int = -1) -> None:  # pragma: no cover - sentinel
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
    _sentinel_main(r, marker, beat)


def main() -> None:  # pragma: no cover - the spawned sentinel; test_sentinel drives it
    """The spawned sentinel: ``argv`` is ``-c``, the path, the marker, the path separator,
    the pipe's descriptor."""
    _serve(int(sys.argv[4]), sys.argv[2].encode(), int(sys.argv[5]) if len(sys.argv) > 5 else -1)


def _path() -> str:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.pathsep.join([here, *(p for p in sys.path if p and p != here)])


def _spawn(r: int, marker: bytes, beat: int = -1) -> int | None:
    """The sentinel started as a program of its own; None where that cannot be done."""
    exe = sys.executable
    if not exe or getattr(sys, "frozen", False) or not hasattr(os, "posix_spawn"):
        return None  # no interpreter to start (a frozen guardrun's executable is itself)
    null = os.open(os.devnull, os.O_RDWR)
    os.set_inheritable(r, True)  # the caller closes it once the sentinel has it
    if beat >= 0:
        os.set_inheritable(beat, True)
    try:
        flags = ["-I", "-S", *(["-B"] if sys.flags.dont_write_bytecode else [])]  # -I drops env
        argv = [exe, *flags, "-c", BOOT, _path(), marker.decode(), os.pathsep, str(r), str(beat)]
        actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
        return os.posix_spawn(
            exe, argv, {}, file_actions=actions, setsid=True, setsigmask=(), setsigdef=RESET_SIGNALS
        )
    except (OSError, NotImplementedError, ValueError):
        return None
    finally:
        os.close(null)
        if beat >= 0:
            os.set_inheritable(beat, False)  # hooks and children never get it


def _fork(r: int, marker: bytes, beat: int = -1) -> int:
    """The sentinel as a fork of guardrun (where it cannot be spawned)."""
    pid = fork()  # quiet about hook threads
    if pid == 0:  # pragma: no cover
        try:
            os.setsid()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)  # guardrun's wake-up pipe is not the sentinel's
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            _serve(r, marker, beat)
        finally:
            os._exit(0)
    return pid


class Sentinel:
    def __init__(self, marker: bytes = b"") -> None:
        self.pid: int | None = None
        self._w: int | None = None
        self._last: tuple[int, frozenset[int]] | None = None
        self._marker = marker
        self.spawned = False  # a program of its own (else a fork of guardrun)
        self._beat_fd = -1
        self._buf = bytearray(BEAT_SIZE)  # one double, written with pwrite
        self._double = memoryview(self._buf).cast("d")
        self._armed = b""  # the "A" line, sent again to a replacement
        if HAS_START_TIMES:
            self._beat_fd = _beat_page()
            self._start(spawn=True)

    def _start(self, spawn: bool) -> None:
        r, w = os.pipe()
        try:
            pid = _spawn(r, self._marker, self._beat_fd) if spawn else None
            self.spawned = pid is not None
            if pid is None and hasattr(os, "fork"):
                pid = _fork(r, self._marker, self._beat_fd)
        finally:
            os.close(r)
        if pid is None:
            os.close(w)
            return
        os.set_blocking(w, False)
        self.pid, self._w = pid, w

    # ------------------------------------------------------- the dead man's switch
    def arm(self, interval: float, emergency: int, **where: object) -> None:
        """Let the sentinel stop the tree at ``emergency`` bytes when the loop has not
        sampled for ``max(STALE_MIN, STALE_INTERVALS * interval)``; ``where``: metric,
        probe, grace, run_id, event_log, record, live (paths for what it leaves)."""
        if self._beat_fd < 0:
            return
        conf = {"stale_s": max(STALE_MIN, STALE_INTERVALS * interval), "emergency": emergency,
                "pid": os.getpid(), **where}  # fmt: skip
        self._armed = b"A " + json.dumps(conf, default=str).encode() + b"\n"
        self._write(self._armed)

    def beat(self) -> None:
        """The loop sampled: one ``pwrite`` of 8 bytes into the shared page (~1 us)."""
        self._put(time.monotonic())

    def pause(self) -> None:
        """Between samples on purpose (guardrun stops the tree itself, or is stopped with
        its own watch): the sentinel waits for the next beat."""
        self._put(0.0)

    def _put(self, value: float) -> None:
        if self._beat_fd >= 0:
            self._double[0] = value
            try:
                os.pwrite(self._beat_fd, self._buf, 0)
            except OSError:
                pass

    def _replaced_if_gone(self) -> None:
        """A sentinel that exited (it could not start, or was killed) is replaced by a
        fork, told the tree anew."""
        if self.pid is None:
            return
        try:
            gone = os.waitpid(self.pid, os.WNOHANG)[0] == self.pid
        except ChildProcessError:
            gone = True
        if gone:
            if self._w is not None:
                os.close(self._w)
            self.pid = self._w = self._last = None
            self._start(spawn=False)
            if self._armed:
                self._write(self._armed)

    def update(self, pgid: int, pids: Iterable[int]) -> None:
        """Tell the sentinel the tree's members (sent only when they changed)."""
        if self._w is None:
            return
        key = (pgid, frozenset(pids))
        if key == self._last:
            return
        self._replaced_if_gone()
        if self._w is None:
            return
        self._last = key
        lines = [f"S {pgid}"]
        for pid in key[1]:
            st = start_time(pid)
            if st is not None:
                lines.append(f"{pid} {st}")
        self._write(("\n".join(lines) + "\n").encode())

    def _write(self, data: bytes) -> None:
        if self._w is None:
            return
        try:
            os.write(self._w, data)
        except OSError:
            pass  # full or gone: the sentinel is best effort, supervision goes on

    def done(self) -> None:
        """guardrun is exiting on its own: the sentinel leaves quietly."""
        self.pause()
        if self._w is None:
            return
        os.set_blocking(self._w, True)
        self._write(b"done\n")
        os.close(self._w)
        self._w = None
        if self.pid is not None:
            # Reaped if it is already gone; otherwise not waited for (a wait would be on
            # every exit): it exits on "done", and once guardrun has exited init reaps it.
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _beat_page() -> int:
    """The shared page of the heartbeat: a memfd (Linux), else an unlinked file; -1
    where neither can be made."""
    fd = -1
    try:
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("guardrun-heartbeat", os.MFD_CLOEXEC)
        else:
            import tempfile

            fd, path = tempfile.mkstemp(prefix=".guardrun-beat-")
            os.unlink(path)
        os.pwrite(fd, bytes(BEAT_SIZE), 0)  # 0.0: paused until the first sample
        return fd
    except OSError:
        if fd >= 0:
            os.close(fd)
        return -1
