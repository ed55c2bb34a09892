"""Per-process facts on Linux, from ``/proc`` and ``prctl``: the answers the rest of
guardrun asks of the OS (who is a child of whom, when a process started, what it
holds open, whether it carries the tree's marker). ``portable_facts`` answers the
same questions through psutil; ``guardrun.platform`` picks one of the two.

``/proc/<pid>/stat``: field 2 (comm) is in parentheses and may itself hold spaces
and ``)``, so fields are split after the *last* ``)``; field 3 is the state (``Z``
for a zombie) and field 22 the start time in clock ticks since boot, which with
the pid identifies a process (a recycled pid has another start time).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the sentinel's program imports this module
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Sequence

PROC = "/proc"
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# The sentinel can name every pid with its start time; a subreaper keeps orphans.
HAS_START_TIMES = True
_prctl: Callable[..., int] | None = None


def _stat_fields(pid: int, proc: str = PROC) -> list[bytes] | None:
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()


def start_time(pid: int, proc: str = PROC) -> int | None:
    """Field 22 of ``stat`` (clock ticks since boot): with the pid, a process identity."""
    rest = _stat_fields(pid, proc)
    try:
        return int(rest[19]) if rest is not None else None
    except (IndexError, ValueError):
        return None


def parent_of(pid: int, proc: str = PROC) -> int | None:
    """Field 4 of ``stat``: the parent's pid (0 for a process without one), or None."""
    rest = _stat_fields(pid, proc)
    try:
        return int(rest[1]) if rest is not None else None
    except (IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """True for a process that exists and is not a zombie."""
    rest = _stat_fields(pid)
    if rest is not None:
        return bool(rest) and rest[0] != b"Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return os.path.exists(f"{PROC}/{pid}")


def direct_children(pid: int, proc: str = PROC) -> list[int]:
    """Children of ``pid`` across all its threads (one read per thread)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"{proc}/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"{proc}/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return out


_own: tuple[int, int] | None = None  # (our pid, fd of our main thread's children file)


def own_children() -> list[int]:
    """This process's children, read at every sample: a kept fd on the main thread's
    ``children`` file, ``pread`` each time (docs/benchmarks.md: far less than a listdir
    and an open per thread) into a page-sized buffer (a 1 MiB one was an mmap, mremap
    and munmap of its own at every call: a fifth of the idle budget). The main thread is
    the one that forks the child and the sentinel, and the kernel reparents orphans to a
    subreaper's main thread; helper threads (hooks, git during capture) fork only
    processes that are not the tree."""
    global _own
    me = os.getpid()
    if _own is None or _own[0] != me:
        try:
            _own = (me, os.open(f"{PROC}/{me}/task/{me}/children", os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            return direct_children(me)
    try:
        size = 4096  # ~580 pids; a bigger buffer each time costs an mmap and an munmap
        while True:
            data = os.pread(_own[1], size, 0)
            if len(data) < size:
                return [int(x) for x in data.split()]
            size *= 16
    except OSError:
        return direct_children(me)


def environ_has(pid: int, entry: bytes, proc: str = PROC) -> bool:
    """True when ``entry`` (``NAME=VALUE``) is in the environment ``pid`` started with."""
    try:
        with open(f"{proc}/{pid}/environ", "rb") as f:
            return entry in f.read().split(b"\0")
    except OSError:
        return False


def marked(entry: bytes, proc: str = PROC) -> dict[int, int]:
    """Every process (but this one) whose environment holds ``entry``, with its start
    time: the tree's members born since the last sample that kept what they inherited."""
    found: dict[int, int] = {}
    me = os.getpid()
    for name in os.listdir(proc):
        if not name.isdigit() or int(name) == me or not environ_has(int(name), entry, proc):
            continue
        st = start_time(int(name), proc)
        if st is not None:
            found[int(name)] = st
    return found


def open_files(pids: Sequence[int], pattern: re.Pattern[str], proc: str = PROC) -> list[str]:
    """Paths held open by ``pids`` that match ``pattern``, in order, without repeats."""
    found: list[str] = []
    for pid in pids:
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if pattern.search(target) and target not in found:
                found.append(target)
    return found


def process_argv(pid: int, proc: str = PROC) -> list[str]:
    """The command line of ``pid``; [] when gone or unreadable (a kernel thread has none)."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0")[:-1]]


def process_uid(pid: int, proc: str = PROC) -> int | None:
    """The real user id that owns ``pid`` (the owner of ``/proc/<pid>``), or None."""
    try:
        return os.stat(f"{proc}/{pid}").st_uid
    except OSError:
        return None


def process_name(pid: int, proc: str = PROC) -> str | None:
    """The process's name (``comm``: the executable's, or what it set with prctl)."""
    try:
        with open(f"{proc}/{pid}/comm", "rb") as f:
            return f.read().decode(errors="replace").strip()
    except OSError:
        return None


def prctl_call() -> Callable[..., int] | None:
    """libc's ``prctl`` (looked up once), or None without it.

    Called through ``_ctypes``, the C half of ``ctypes``: ``import ctypes`` builds its
    types in Python at import, at every start, for one call (docs/benchmarks.md). ``call_function``
    passes Python ints as C ints and returns the C int result, as a ctypes function with
    no ``argtypes`` does; ``ctypes`` is the fallback where ``_ctypes`` lacks it.
    """
    global _prctl
    if _prctl is None:
        try:
            from _ctypes import call_function, dlopen, dlsym

            # dlopen(NULL): the program and the libraries it has loaded, libc among them.
            address = dlsym(dlopen(None), "prctl")  # type: ignore[arg-type]
        except (ImportError, OSError):  # pragma: no cover - a Python without these
            import ctypes

            try:
                _prctl = ctypes.CDLL(None).prctl
            except (OSError, AttributeError):
                return None
        else:

            def call(*args: int) -> int:
                return int(call_function(address, args))

            _prctl = call
    return _prctl


def set_subreaper() -> bool:
    """Orphans of our descendants (double-forked daemons) are reparented to us, not init."""
    prctl = prctl_call()
    return prctl is not None and int(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def parent_death_signal(sig: int) -> Callable[[], None] | None:
    """A prepared call, for a forked child before exec, that asks the kernel to send it
    ``sig`` when its parent dies; prepared before the fork (no imports after it)."""
    prctl = prctl_call()
    if prctl is None:
        return None
    return lambda: None if prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) else None
