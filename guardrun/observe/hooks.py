"""User hooks: argv lists run in the background, never through a shell.

``HookRunner.run`` only starts threads and returns: the fork+exec it leaves to the
thread costs many times that (docs/benchmarks.md). One daemon thread per
hook starts it, reads its output (keeping the first ``OUTPUT_CAP`` characters,
redacted before they are cut, and draining the rest so a chatty hook never
blocks on a full pipe), enforces the timeout, and records one event when the
hook ends: ``hook_output`` on exit 0, ``hook_failed`` otherwise.

Each hook is a session leader (``start_new_session``), so at its timeout its
whole process group gets SIGTERM and, ``KILL_AFTER`` seconds later, SIGKILL.
Because guardrun is a child subreaper on Linux, a hook's orphans are
re-parented to guardrun; ``pids()`` names them too so the supervisor does not
count them as part of the agent's tree.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from guardrun.observe.events import EventLog
from guardrun.platform.signums import signal

if TYPE_CHECKING:
    from collections.abc import Sequence

OUTPUT_CAP = 8192  # characters of a hook's output in its event
# Bytes read into memory: the cap and the margin redacted with it (``clip.CLIP_MARGIN``),
# at up to 4 bytes a character.
_KEEP = 4 * (OUTPUT_CAP + 1024)
KILL_AFTER = 1.0
MAX_RUNNING = 16  # a flapping supervisor must not fork-bomb the machine with hooks
# Orphans found after a hook ends are still named by pids() for this long.
_SESSION_MEMORY = 60.0
HOOK_ENV = (
    "GUARDRUN_EVENT",
    "GUARDRUN_RUN_ID",
    "GUARDRUN_PID",
    "GUARDRUN_CHILD_PID",
    "GUARDRUN_MEMORY_BYTES",
    "GUARDRUN_LEVEL",
    "GUARDRUN_STATE_FILE",
)


def hook_env(
    run_id: str,
    child_pid: int | None,
    memory_bytes: int | None,
    level: str,
    state_file: str | None = None,
) -> dict[str, str]:
    """The documented variables (less GUARDRUN_EVENT and GUARDRUN_PID, which ``run`` adds)."""
    return {
        "GUARDRUN_RUN_ID": run_id,
        "GUARDRUN_CHILD_PID": "" if child_pid is None else str(child_pid),
        "GUARDRUN_MEMORY_BYTES": "" if memory_bytes is None else str(memory_bytes),
        "GUARDRUN_LEVEL": level,
        "GUARDRUN_STATE_FILE": state_file or "",
    }


def _as_argvs(argv_list: Sequence[str] | Sequence[Sequence[str]]) -> list[list[str]]:
    """One argv (``["notify", "x"]``) or a list of them; empty entries are skipped."""
    if not argv_list:
        return []
    if all(isinstance(a, str) for a in argv_list):
        return [[str(a) for a in argv_list]]
    return [[str(a) for a in argv] for argv in argv_list if argv and not isinstance(argv, str)]


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Hook:
    def __init__(self, argv: list[str], event: str, proc: subprocess.Popen[bytes]) -> None:
        self.argv = argv
        self.event = event
        self.proc = proc
        self.started = time.monotonic()
        self.timed_out = False
        self.killed_reason: str | None = None


class HookRunner:
    def __init__(self, log: EventLog, timeout: float = 10.0) -> None:
        self.log = log
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: dict[int, _Hook] = {}
        self._threads: list[threading.Thread] = []
        self._active = 0  # hooks started or starting, for MAX_RUNNING
        self._sessions: dict[int, float] = {}  # session id -> when its hook ended (0: running)
        self._closed = False  # no new hooks (close() was called)
        # close() waited its time: hooks still starting are not started. Hooks asked for
        # before close() (on_exit, just before it) do run, within its wait.
        self._expired = False

    def run(
        self,
        event: str,
        argv_list: Sequence[str] | Sequence[Sequence[str]],
        env_extra: dict[str, str],
    ) -> None:
        """Start every hook for ``event`` and return at once."""
        argvs = _as_argvs(argv_list)
        if not argvs or self._closed:
            return
        env = dict(os.environ)
        env.update({name: "" for name in HOOK_ENV})
        env.update({k: str(v) for k, v in env_extra.items()})
        env["GUARDRUN_EVENT"] = event
        env["GUARDRUN_PID"] = str(os.getpid())
        for argv in argvs:
            with self._lock:
                busy = self._active >= MAX_RUNNING
                if not busy:
                    self._active += 1
                    # fork+exec is slow (docs/benchmarks.md): in the thread, not the caller.
                    thread = threading.Thread(
                        target=self._run_one,
                        args=(event, argv, env),
                        daemon=True,
                        name="guardrun-hook",
                    )
                    self._threads = [t for t in self._threads if t.is_alive()]
                    self._threads.append(thread)
            if busy:
                self.log.emit(
                    "hook_failed",
                    trigger=event,
                    argv=argv,
                    reason=f"{MAX_RUNNING} hooks still running; not started",
                )
            else:
                thread.start()

    def _run_one(self, event: str, argv: list[str], env: dict[str, str]) -> None:
        try:
            if self._expired:  # close() gave up waiting before this hook even started
                return
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as err:
                reason = "not found" if isinstance(err, FileNotFoundError) else "cannot start"
                self.log.emit(
                    "hook_failed",
                    trigger=event,
                    argv=argv,
                    reason=f"{reason}: {err.strerror or err}",
                )
                return
            hook = _Hook(argv, event, proc)
            with self._lock:
                self._running[proc.pid] = hook
                self._sessions[proc.pid] = 0.0
                expired = self._expired
            if expired:  # close() stopped waiting while this hook was starting
                hook.killed_reason = "killed at guardrun exit"
                _killpg(proc.pid, signal.SIGKILL)
            self._watch(hook)
        finally:
            with self._lock:
                self._active -= 1

    def _watch(self, hook: _Hook) -> None:
        proc = hook.proc
        assert proc.stdout is not None
        deadline = hook.started + self.timeout
        kept = bytearray()
        total = 0
        fd = proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        exited_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    hook.timed_out = True
                    break
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                # After the hook exits, an orphan may hold the pipe open: stop reading soon.
                if exited_at is not None and now - exited_at > 0.5:
                    break
                if not sel.select(timeout=min(0.2, deadline - now)):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                total += len(chunk)
                if len(kept) < _KEEP:
                    kept += chunk[: _KEEP - len(kept)]
        except OSError:
            pass
        finally:
            sel.close()
            proc.stdout.close()
        if hook.timed_out:
            self._kill_group(proc)
        else:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                hook.timed_out = True
                self._kill_group(proc)
        self._record(hook, bytes(kept), total)
        with self._lock:
            self._running.pop(proc.pid, None)
            self._sessions[proc.pid] = time.monotonic()

    def _kill_group(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the hook's process group, SIGKILL it ``KILL_AFTER`` later."""
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=KILL_AFTER)
        except subprocess.TimeoutExpired:
            pass
        # Also when the leader obeyed: members that ignore SIGTERM are still in the group.
        _killpg(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=KILL_AFTER)
        except subprocess.TimeoutExpired:
            pass

    def _record(self, hook: _Hook, output: bytes, total: int) -> None:
        from guardrun.state.clip import clip

        code = hook.proc.returncode
        whole = output.decode("utf-8", "replace")
        # Redacted before it is cut: a token the cap splits would keep its start otherwise.
        text = clip(whole, OUTPUT_CAP, self.log.scrub_text)
        fields: dict[str, object] = {
            "trigger": hook.event,
            "argv": hook.argv,
            "pid": hook.proc.pid,
            "returncode": code,
            "duration_s": round(time.monotonic() - hook.started, 3),
            "output": text,
            "truncated": total > len(output) or (len(whole) > OUTPUT_CAP and text.endswith("…")),
        }
        if hook.killed_reason:
            self.log.emit("hook_failed", reason=hook.killed_reason, **fields)
        elif hook.timed_out:
            self.log.emit("hook_failed", reason=f"timed out after {self.timeout:g}s", **fields)
        elif code is not None and code < 0:
            self.log.emit("hook_failed", reason=f"killed by signal {-code}", **fields)
        elif code != 0:
            self.log.emit("hook_failed", reason=f"exit {code}", **fields)
        else:
            self.log.emit("hook_output", **fields)

    def pids(self) -> set[int]:
        """Hooks still running, and their orphans re-parented to guardrun (Linux)."""
        with self._lock:
            out = set(self._running)
            now = time.monotonic()
            for sid, ended in list(self._sessions.items()):
                if ended and now - ended > _SESSION_MEMORY:
                    del self._sessions[sid]
            sessions = set(self._sessions)
        if sessions:
            from guardrun.platform import direct_children

            for pid in direct_children(os.getpid()):
                try:
                    if os.getsid(pid) in sessions:
                        out.add(pid)
                except OSError:
                    continue
        return out

    def close(self, wait: float = 2.0) -> None:
        """Give running hooks up to ``wait`` seconds, then kill their groups; no new hooks."""
        self._closed = True
        deadline = time.monotonic() + wait
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._expired = True
            hooks = list(self._running.values())
        for hook in hooks:
            hook.killed_reason = "killed at guardrun exit"
            _killpg(hook.proc.pid, signal.SIGKILL)
        for t in threads:
            t.join(KILL_AFTER + 1.0)
