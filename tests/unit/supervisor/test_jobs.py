"""jobs and the child's reports: who can be stopped, and what the monitor's lines mean.

Real processes where the fact is the kernel's (an orphaned group is one whose members'
parents are all outside it or outside its session); the report parser over a real pipe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from guardrun.supervisor import jobs
from guardrun.supervisor.child import Child

ASK = (
    "import sys; sys.path.insert(0, {root!r}); from guardrun.supervisor import jobs; "
    "print(int(jobs.group_orphaned()))"
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def _ask(**popen: object) -> str:
    done = subprocess.run(
        [sys.executable, "-c", ASK.format(root=ROOT)],
        capture_output=True,
        text=True,
        timeout=30,
        **popen,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, done.stderr
    return str(done.stdout.strip())


def test_a_session_leader_is_an_orphaned_group() -> None:
    # Its parent (this test) is in another session: nobody could `fg` it.
    assert _ask(start_new_session=True) == "1"


def test_a_group_of_its_own_under_a_parent_of_the_same_session_is_not() -> None:
    # A job of a shell: the parent is in the same session, in another group.
    assert _ask(process_group=0) == "0"


@pytest.mark.parametrize(
    ("popen", "orphaned"),
    [({"start_new_session": True}, "1"), ({"process_group": 0}, "0")],
    ids=["shell-leads-a-session", "shell-is-a-job"],
)
def test_a_group_shared_with_the_parent_looks_further_up(
    popen: dict[str, object], orphaned: str
) -> None:
    """`sh -c 'guardrun ...'` without job control: guardrun shares the shell's group, so
    the shell's parent decides (the walk up the ancestry). ``; exit`` keeps the shell
    there as the parent instead of letting it exec the command."""
    code = ASK.format(root=ROOT)
    done = subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -c "{code}"; exit $?'],
        capture_output=True,
        text=True,
        timeout=30,
        **popen,  # type: ignore[call-overload]
    )
    assert done.stdout.strip() == orphaned, done.stderr


def test_not_a_terminal_counts_as_the_foreground() -> None:
    r, w = os.pipe()
    try:
        assert jobs.in_foreground(r)
    finally:
        os.close(r)
        os.close(w)


def _child_with_reports() -> tuple[Child, int, int]:
    """A real child (a plain pid: Child reaps it, not subprocess) and the write end of its
    report pipe, standing for the monitor."""
    argv = [sys.executable, "-c", "import time; time.sleep(30)"]
    pid = os.posix_spawn(sys.executable, argv, dict(os.environ))
    r, w = os.pipe()
    os.set_blocking(r, False)
    return Child(["x"], pid, None, time.monotonic(), time.time(), None, r), w, pid


def _end(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def test_the_monitors_lines_say_stopped_continued_exited() -> None:
    c, w, pid = _child_with_reports()
    try:
        os.write(w, b"S20\n")
        assert c.poll() is None and c.stopped == signal.SIGTSTP
        os.write(w, b"C\nS")  # half a line waits for the rest
        assert c.poll() is None and c.stopped is None
        os.write(w, b"19\n")
        c.poll()
        assert c.stopped == signal.SIGSTOP
        os.write(w, b"X%d\n" % (3 << 8))
        assert c.poll() == 3 and c.stopped is None
    finally:
        os.close(w)
        _end(pid)


def test_a_monitor_gone_without_a_last_word_hands_the_child_to_waitpid() -> None:
    c, w, pid = _child_with_reports()
    os.close(w)  # EOF: the monitor died; the child is waited for directly from now on
    assert c.poll() is None and c.status is None
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while c.stopped is None and time.monotonic() < deadline:
        c.poll()
        time.sleep(0.01)
    assert c.stopped == signal.SIGSTOP
    os.kill(pid, signal.SIGKILL)
    while c.status is None and time.monotonic() < deadline:
        c.poll()
        time.sleep(0.01)
    assert c.returncode == 128 + signal.SIGKILL
