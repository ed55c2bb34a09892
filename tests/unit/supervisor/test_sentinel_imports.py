"""The sentinel's program imports only what it uses (supervisor/sentinel_program.py): it
starts at every run, beside guardrun's own start, and reads guardrun's "done" only once
its imports are over. Run here as ``_spawn`` runs it (the same command line: ``-I -S``,
guardrun's path, the pipe and the heartbeat page its descriptors, an empty
environment), with a profiling hook put in front of its ``-c`` program that prints
``sys.modules`` at each of its waits (``poll``): once it serves, then once guardrun's
lines (a membership, the arm line: one write, read at once) were read."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest

from guardrun.supervisor import sentinel
from guardrun.supervisor.sentinel_program import arm_line

# In front of the program: at every wait of the sentinel (a poll object's poll), the
# modules imported so far, one line.
PROBE = """\
import sys
def _probe(frame, event, arg):
    if event == "c_call" and getattr(arg, "__name__", "") == "poll":
        if type(getattr(arg, "__self__", None)).__name__ == "poll":
            sys.stdout.write(" ".join(sorted(sys.modules)) + "\\n")
            sys.stdout.flush()
sys.setprofile(_probe)
"""

# What the program may add to a bare interpreter that imported os, select and time.
ALLOWED = {
    "__future__",  # 0.1 ms: linux_facts' annotations
    "guardrun",
    "guardrun.platform",
    "guardrun.platform.linux_facts",
    "guardrun.platform.portable_facts",  # in its place off Linux (psutil imported late)
    "guardrun.platform.signums",
    "guardrun.supervisor",
    "guardrun.supervisor.sentinel_program",
}
NEVER = {
    "typing",
    "json",
    "re",
    "collections",
    "enum",
    "functools",
    "guardrun.platform.types",
    "guardrun.errors",
    "guardrun.supervisor.child",
    "guardrun.supervisor.sentinel",
}


def _line(out: int, deadline: float) -> str:
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, f"no report from the sentinel (got {buf!r})"
        if select.select([out], [], [], left)[0]:
            chunk = os.read(out, 65536)
            assert chunk, f"the sentinel exited before it served (got {buf!r})"
            buf += chunk
    return buf.decode()


def _bare(flags: list[str]) -> set[str]:
    code = "import sys, os, select, time; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, *flags, "-c", code], env={}, capture_output=True,
                          text=True, timeout=30, check=True)  # fmt: skip
    return set(done.stdout.split())


@pytest.mark.skipif(not hasattr(os, "posix_spawn"), reason="the sentinel is forked here")
def test_the_spawned_sentinel_imports_only_what_it_uses() -> None:
    r, w = os.pipe()
    beat = os.memfd_create("test-beat") if hasattr(os, "memfd_create") else -1
    if beat >= 0:
        os.pwrite(beat, bytes(8), 0)  # paused: the armed switch waits, never acts
    argv = sentinel.argv(r, b"GUARDRUN_TREE=imports", beat)
    at = argv.index("-c")
    flags = argv[1:at]
    assert "-I" in flags and "-S" in flags
    argv[at + 1] = PROBE + argv[at + 1]
    proc = subprocess.Popen(argv, env={}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, pass_fds=[fd for fd in (r, beat) if fd >= 0],
                            start_new_session=True)  # fmt: skip
    os.close(r)
    assert proc.stdout is not None
    out = proc.stdout.fileno()
    try:
        deadline = time.monotonic() + 20
        serving = set(_line(out, deadline).split())
        # guardrun's lines at a start: the tree, then the arm line (paths not UTF-8 too).
        me = os.getpid()
        odd = os.fsdecode(b"/nonexistent/\xff-run.jsonl")
        conf = {"stale_s": 5.0, "emergency": 1 << 40, "pid": me, "metric": "rss",
                "probe": "proc", "grace": 1.0, "run_id": "r", "event_log": odd,
                "record": odd, "live": None}  # fmt: skip
        os.write(w, f"S {me}\n{me} 1\n".encode() + arm_line(conf))
        after = set(_line(out, deadline).split())  # the next wait: all of it was read
        os.write(w, b"done\n")
        assert proc.wait(timeout=10) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        os.close(w)
        if beat >= 0:
            os.close(beat)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert "guardrun.supervisor.sentinel_program" in serving  # the report is the program's
    for mods in (serving, after):
        assert not mods & NEVER, sorted(mods & NEVER)
        assert mods - _bare(flags) <= ALLOWED, sorted(mods - _bare(flags) - ALLOWED)


def test_the_arm_line_reads_back_as_sent_non_utf8_paths_included() -> None:
    from pathlib import Path

    from guardrun.supervisor.sentinel_program import read_arm

    odd = os.fsdecode(b"/tmp/\xff\xfe/run.jsonl")
    line = arm_line({"stale_s": 5.0, "emergency": 7, "record": odd, "live": Path(odd),
                     "event_log": os.fsencode(odd), "run_id": None, "other": 1j})  # fmt: skip
    assert line.startswith(b"A ") and line.endswith(b"\n") and line.count(b"\n") == 1
    conf = read_arm(line[:-1])
    assert conf == {"stale_s": 5.0, "emergency": 7, "record": odd, "live": odd,
                    "event_log": odd, "run_id": None, "other": "1j"}  # fmt: skip
    assert os.fsencode(conf["record"]) == b"/tmp/\xff\xfe/run.jsonl"
    assert read_arm(b"A zz") == {} and read_arm(b"A " + b"00" * 4) == {}
