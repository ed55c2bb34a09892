"""PTY relay throughput: ``guardrun -- sh -c 'base64 FILE'`` against ``script -q -c``.

Run:  .venv/bin/python benchmarks/bench_relay.py [--repeats 5] [--mb 150]

A 150 MB file of random bytes is written once; ``base64`` turns it into about
200 MB of text (76-column lines). Each contender runs under a real PTY made
here (``pty.fork``: its stdin, stdout and stderr are the slave, so guardrun
takes its PTY path and ``script`` its usual one), and this process reads the
master as fast as it can, discarding, until the PTY hangs up. Both relays set
their own terminal raw and pass the child's output through a second PTY, so
the kernel's line discipline works twice in each. Runs are interleaved, the
median of ``--repeats`` is reported; throughput is base64's output bytes over
wall time from fork to hang-up. CPU is user + system of the relay and
everything under it (``wait4``), base64 included. A third row writes base64
straight into the outer PTY (no relay) for the kernel's own ceiling.
The goal of issue 2: guardrun at least 0.95x script's throughput.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import platform
import pty
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.95
READ_SIZE = 1 << 16


def guardrun_path() -> str:
    here = Path(sys.executable).with_name("guardrun")
    found = str(here) if here.exists() else shutil.which("guardrun")
    if not found:
        raise SystemExit("guardrun is not installed next to this Python or on PATH")
    return found


class Run(NamedTuple):
    wall: float  # seconds, fork to reap
    cpu: float  # user + system seconds of the process and everything under it
    own_cpu: float  # user + system seconds of the process itself (the relay)
    got: int  # bytes read from the master
    code: int  # exit status


def own_cpu(pid: int) -> float:
    """utime + stime of ``pid`` alone (not its children), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_under_pty(argv: list[str], env: dict[str, str]) -> Run:
    t0 = time.perf_counter()
    pid, master = pty.fork()
    if pid == 0:  # the child: the slave is already stdin, stdout, stderr and ctty
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    got = 0
    read = os.read
    try:
        while True:
            try:
                data = read(master, READ_SIZE)
            except OSError as err:
                if err.errno == errno.EIO:  # every slave fd closed: the run is over
                    break
                raise
            if not data:
                break
            got += len(data)
    finally:
        os.close(master)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped: stat stays
    own = own_cpu(pid)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return Run(wall, usage.ru_utime + usage.ru_stime, own, got, os.waitstatus_to_exitcode(status))


def make_input(directory: Path, megabytes: int) -> Path:
    path = directory / "random.bin"
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(1_000_000))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each (median)")
    parser.add_argument("--mb", type=int, default=150, help="MB of random input to base64")
    args = parser.parse_args()
    if not shutil.which("script") or not shutil.which("base64"):
        raise SystemExit("needs script (util-linux) and base64 (coreutils)")

    with tempfile.TemporaryDirectory(prefix="guardrun-bench-relay-") as tmp:
        tmpdir = Path(tmp)
        src = make_input(tmpdir, args.mb)
        out_bytes = len(subprocess.run(["base64", str(src)], capture_output=True,
                                       check=True).stdout)  # fmt: skip
        for d in ("config", "state", "data"):
            (tmpdir / d).mkdir(mode=0o700)
        # A clean environment: no user config, guardrun's own files under tmp.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", tmp),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "SHELL": "/bin/sh",  # what script -c runs the command with
            "XDG_CONFIG_HOME": str(tmpdir / "config"),
            "XDG_STATE_HOME": str(tmpdir / "state"),
            "XDG_DATA_HOME": str(tmpdir / "data"),
        }
        cmd = f"base64 {src}"
        contenders = {
            "guardrun": [guardrun_path(), "--", "sh", "-c", cmd],
            "script": ["script", "-q", "-c", cmd, "/dev/null"],
            "no relay": ["sh", "-c", cmd],
        }
        results: dict[str, list[Run]] = {k: [] for k in contenders}
        run_under_pty(contenders["no relay"], env)  # warm the page cache and binaries
        for i in range(args.repeats):
            for name, argv in contenders.items():
                if name != "no relay" or i % 2 == 0:  # the ceiling needs fewer runs
                    results[name].append(run_under_pty(argv, env))

    print(
        f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs (shared), "
        f"Python {platform.python_version()}; {out_bytes / 1e6:.1f} MB of base64 output "
        f"({args.mb} MB random input); median of {args.repeats} interleaved runs each "
        f"(no relay: {len(results['no relay'])}).\n"
    )
    print("| relay | MB/s | wall | CPU, relay + base64 | CPU, relay process alone "
          "| bytes read | exit | vs script |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rate: dict[str, float] = {}
    script_wall = statistics.median(r.wall for r in results["script"])
    for name, runs in results.items():
        wall = statistics.median(r.wall for r in runs)
        own = f"{statistics.median(r.own_cpu for r in runs):.2f} s" if name != "no relay" else "—"
        codes = ",".join(str(c) for c in sorted({r.code for r in runs}))
        rate[name] = out_bytes / wall / 1e6
        print(f"| {name} | {rate[name]:.1f} | {wall:.2f} s "
              f"| {statistics.median(r.cpu for r in runs):.2f} s | {own} "
              f"| {statistics.median(r.got for r in runs) / 1e6:.1f} MB | {codes} "
              f"| {script_wall / wall:.3f}× |")  # fmt: skip
    ratio = rate["guardrun"] / rate["script"]
    rounds = [s.wall / g.wall for g, s in zip(results["guardrun"], results["script"], strict=True)]
    verdict = "PASS" if ratio >= GOAL else "FAIL"
    print(
        f"\nPer round (guardrun vs the script run beside it): "
        f"{', '.join(f'{r:.2f}' for r in rounds)}; median {statistics.median(rounds):.3f}×."
    )
    print(f"Goal: guardrun at least {GOAL}× script's throughput (ratio of the medians): "
          f"{ratio:.3f}× — **{verdict}**")  # fmt: skip
    print("Bytes read exceed base64's output by the CRs the inner PTY adds (onlcr).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
