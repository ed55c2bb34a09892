"""The sentinel's start: its program alone, and what it adds to a whole run.

Run:  .venv/bin/python benchmarks/bench_sentinel.py [--runs 31] [--guardrun PATH ...]

1. The program, started by ``supervisor.sentinel._spawn`` exactly as guardrun starts
   it (``python -I -S``, the pipe, an empty environment), against a bare ``python -I -S``
   that imports ``os``, ``select`` and ``time`` (the floor: what any program that waits
   on a pipe imports). Half the runs are sent "done" at once (wall and CPU of its start
   and exit, from ``wait4``); the other half are left to serve until they wait in
   ``poll``, when their resident and private memory are read (``smaps_rollup``). The
   package is compiled first, as ``pip install`` compiles it.
2. With ``--guardrun``: ``PATH --no-pty -- true`` for each PATH (several installs,
   interleaved), this process a subreaper, so the sentinel, which guardrun leaves to
   init, is reaped here: "all exited" is when the sentinel too has gone, and CPU counts
   guardrun, ``true`` and the sentinel (``bench_startup.py``'s CPU has no sentinel in it).
   Config and state directories in a fresh temp dir.

Medians; on a shared machine compare only figures from the same run.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shlex
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from guardrun.platform import set_subreaper  # noqa: E402
from guardrun.supervisor import sentinel  # noqa: E402


def _serving_memory(pid: int) -> tuple[int, int] | None:
    """kB resident and kB private (clean and dirty) once the sentinel waits in poll (None
    off Linux)."""
    try:
        while True:
            with open(f"/proc/{pid}/wchan") as f:
                if "poll" in f.read():
                    break
            time.sleep(0.002)
        with open(f"/proc/{pid}/smaps_rollup") as f:
            kb = {line.split(":")[0]: int(line.split()[1]) for line in f if line.endswith("kB\n")}
        return kb["Rss"], kb["Private_Clean"] + kb["Private_Dirty"]
    except (OSError, KeyError, ValueError, IndexError):
        return None


def program(runs: int) -> None:
    bare = [sys.executable, "-I", "-S", "-c", "import os, select, time"]
    walls: dict[str, list[float]] = {"sentinel": [], "bare": []}
    cpus: dict[str, list[float]] = {"sentinel": [], "bare": []}
    memory: list[tuple[int, int]] = []
    for i in range(2 * runs):
        r, w = os.pipe()
        t = time.perf_counter()
        pid = sentinel._spawn(r, b"GUARDRUN_TREE=bench", -1)
        os.close(r)
        assert pid is not None, "the sentinel cannot be spawned here"
        if i % 2 and (kb := _serving_memory(pid)) is not None:
            memory.append(kb)
        os.write(w, b"done\n")
        os.close(w)
        ru = os.wait4(pid, 0)[2]
        if not i % 2:
            walls["sentinel"].append(time.perf_counter() - t)
            cpus["sentinel"].append(ru.ru_utime + ru.ru_stime)
            t = time.perf_counter()
            pid = os.posix_spawn(bare[0], bare, {}, setsid=True)
            ru = os.wait4(pid, 0)[2]
            walls["bare"].append(time.perf_counter() - t)
            cpus["bare"].append(ru.ru_utime + ru.ru_stime)
        time.sleep(0.01)
    med = statistics.median
    for name in ("sentinel", "bare"):
        print(f"{name:9} start+exit: wall {med(walls[name]) * 1e3:5.1f} ms, "
              f"CPU {med(cpus[name]) * 1e3:5.1f} ms")  # fmt: skip
    if memory:
        rss, own = (med(m[k] for m in memory) / 1024 for k in (0, 1))
        print(f"sentinel serving: resident {rss:.1f} MiB, private {own:.1f} MiB")


def whole_runs(paths: list[str], runs: int) -> None:
    if not set_subreaper():
        sys.exit("no subreaper here: the sentinel would be init's")
    tmp = tempfile.mkdtemp(prefix="bench-sentinel-")
    env = {**os.environ, "XDG_STATE_HOME": f"{tmp}/state", "XDG_CONFIG_HOME": f"{tmp}/config"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    null = os.open(os.devnull, os.O_RDWR)
    stdio = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1)]
    figures: dict[str, tuple[list[float], list[float], list[float]]] = {
        p: ([], [], []) for p in paths
    }
    for i in range(runs + 1):  # the first: a warm-up
        for p in paths:
            argv = [*shlex.split(p), "--no-pty", "--", "true"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            os.waitpid(os.posix_spawn(argv[0], argv, env, file_actions=stdio), 0)
            wall = time.perf_counter() - t
            while True:
                try:
                    os.wait()
                except ChildProcessError:
                    break
            gone = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            if i:
                for into, value in zip(figures[p], (wall, gone, cpu), strict=True):
                    into.append(value)
            time.sleep(0.01)
    med = statistics.median
    for p, (wall_s, gone_s, cpu_s) in figures.items():
        print(f"wall {med(wall_s) * 1e3:6.1f} ms | all exited {med(gone_s) * 1e3:6.1f} ms | "
              f"CPU with the sentinel {med(cpu_s) * 1e3:6.1f} ms  {p}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=31)
    ap.add_argument("--guardrun", action="append", default=[], metavar="PATH")
    args = ap.parse_args()
    # Compiled as pip install compiles it: a sentinel started with -B (this interpreter's
    # PYTHONDONTWRITEBYTECODE) would otherwise compile its modules at every start.
    compileall.compile_dir(os.path.dirname(os.path.dirname(sentinel.__file__)), quiet=1)
    program(args.runs)
    if args.guardrun:
        whole_runs(args.guardrun, args.runs)


if __name__ == "__main__":
    main()
