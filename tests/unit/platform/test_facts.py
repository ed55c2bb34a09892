"""Per-process facts: the /proc answers and psutil's (the portable module, which is what
macOS and Windows get) agree about this very process and its parent."""

from __future__ import annotations

import os
import re

import pytest

from guardrun import platform
from guardrun.platform import linux_facts, portable_facts

pytestmark = pytest.mark.skipif(not platform.IS_LINUX, reason="compares /proc with psutil")


def test_linux_and_portable_agree_on_this_process(tmp_path: object) -> None:
    me, parent = os.getpid(), os.getppid()
    assert linux_facts.alive(me) and portable_facts.alive(me)
    assert me in linux_facts.direct_children(parent)
    assert me in portable_facts.direct_children(parent)
    assert linux_facts.process_name(me) == portable_facts.process_name(me)
    entry = f"PATH={os.environ['PATH']}".encode()
    assert linux_facts.environ_has(me, entry) and portable_facts.environ_has(me, entry)
    assert not linux_facts.environ_has(me, b"GUARDRUN_TREE=nope")
    assert not portable_facts.environ_has(me, b"GUARDRUN_TREE=nope")


def test_open_files_are_found_by_both(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "held-open.jsonl")
    with open(path, "w"):
        pattern = re.compile(r"held-open\.jsonl$")
        assert linux_facts.open_files([os.getpid()], pattern) == [path]
        assert portable_facts.open_files([os.getpid()], pattern) == [path]


def test_a_start_time_is_an_identity() -> None:
    me = os.getpid()
    assert linux_facts.start_time(me) == linux_facts.start_time(me) is not None
    assert portable_facts.start_time(me) is not None
    identity = platform.process_identity(me)
    assert platform.is_same_process(me, identity)
    assert not platform.is_same_process(me, {"linux_ticks": identity["linux_ticks"] + 1})


def test_gone_pids_have_no_facts() -> None:
    gone = 2**22 + 12345  # above pid_max's default: never a process
    for facts in (linux_facts, portable_facts):
        assert not facts.alive(gone)
        assert facts.start_time(gone) is None
        assert facts.direct_children(gone) == []
        assert facts.process_name(gone) is None


def test_prctl_through_ctypes_c_half_answers_as_ctypes() -> None:
    """prctl is called through _ctypes (not ctypes, 2 ms of every start): the same answers
    as ctypes gives, for options that return their value, and -1 for one that is not."""
    import ctypes

    from guardrun.platform.linux_facts import prctl_call

    ours = prctl_call()
    theirs = ctypes.CDLL(None).prctl
    assert ours is not None
    for option in (3, 30):  # PR_GET_DUMPABLE, PR_GET_TIMERSLACK
        assert ours(option, 0, 0, 0, 0) == theirs(option, 0, 0, 0, 0) >= 0
    assert ours(999_999, 0, 0, 0, 0) == -1
    # set_subreaper's effect (orphans come to guardrun): e2e/memory/test_backends_agree.py.


def test_the_linux_start_time_is_when_the_process_started() -> None:
    """The start time is an identity (live files, the sentinel): it must be field 22 of
    ``stat``, the start, not a neighbour that merely stays put (vsize, field 23)."""
    import psutil

    ticks = linux_facts.start_time(os.getpid())
    assert ticks is not None
    started = psutil.boot_time() + ticks / os.sysconf("SC_CLK_TCK")
    assert abs(started - psutil.Process().create_time()) < 1.0
