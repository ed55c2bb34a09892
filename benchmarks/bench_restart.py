"""Crash restart latency: guardrun against PM2 (and supervisord), same child, same run.

Run:  .venv/bin/python benchmarks/bench_restart.py [--samples 7] [--cwd DIR] [--no-pm2]
      [--no-supervisord] [--no-second]

The child, a small Python script in a temp dir, appends ``start <time.time()>`` to
a log file as its very first action, prints a line, sleeps ``--uptime`` (2.3 s:
guardrun takes a crash in the first 2 s as a start failure and does not restart
it), appends ``exit <time.time()>`` and exits 1. Latency is the next ``start``
less the ``exit`` before it: the supervisor noticing the exit, its own work
(guardrun saves state before a crash restart: that is measured too), the spawn,
and the child interpreter's start-up up to its first line (the "direct" row gives
that floor: the same child spawned straight from this script).

After one warm-up round (not counted), samples are interleaved, one of each tool
per round (the order rotates), so load on a shared machine falls on all alike; the
median is reported:

* guardrun: a fresh ``guardrun --no-pty --no-config --max-restarts 1000 --window 1h``
  per sample, its first crash restart measured (what a user sees after hours
  of work; the 2nd restart within the window waits a cooldown), config and state
  in a fresh temp dir (``XDG_CONFIG_HOME``/``XDG_STATE_HOME``), working directory a
  fresh temp dir that is no git repository (``--cwd``: one of yours; capture runs
  git there), with bytecode (``PYTHONPYCACHEPREFIX`` in the temp dir, so the
  lazy imports of the restart path do not compile, as after ``pip install``,
  and nothing is written to the checkout). Its run log gives where the time
  goes: exit to ``child_exited``, to ``restarted`` (the new child spawned), to the
  child's first line; and, off that path, the crash's state (``state_captured``),
  saved once the new child is up.
* PM2 (``npm install pm2@latest`` into a temp dir, ``PM2_HOME`` there, one daemon
  for the run): ``pm2 start child.py --interpreter PY --name x`` with default
  restart settings per sample, its first restart measured, then ``pm2 delete x``.
* supervisord (``pip install supervisor`` into a temp venv, one daemon for the run),
  ``autorestart=true``, default ``startsecs``: ``supervisorctl start x`` per
  sample, its first restart measured, then ``supervisorctl stop x``.

Then once (``--no-second`` skips it, ~15 s): guardrun at default settings, the
latency of its 2nd crash restart, which waits the cooldown.

Goal: guardrun's median at most PM2's median in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

CHILD = """
import sys, time
with open(sys.argv[1], "a") as f:
    f.write(f"start {time.time()!r}\\n")
print("up", flush=True)
time.sleep(float(sys.argv[2]))
with open(sys.argv[1], "a") as f:
    f.write(f"exit {time.time()!r}\\n")
sys.exit(1)
"""
SUPERVISORD_CONF = """
[unix_http_server]
file={d}/supervisor.sock
[supervisord]
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{d}/supervisor.sock
[program:x]
command={py} {child} {log} {uptime}
autostart=false
autorestart=true
stdout_logfile={d}/x.out
stderr_logfile={d}/x.err
"""
TIMEOUT = 20.0  # one sample, at most


def child_python() -> str:
    """A real interpreter binary for the child (not a venv's, not a pyenv shim)."""
    for cand in ("/usr/bin/python3", sys._base_executable):  # type: ignore[attr-defined]
        if cand and os.access(cand, os.X_OK):
            return os.path.realpath(cand)
    return os.path.realpath(sys.executable)


def read_log(path: Path) -> list[tuple[str, float]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            out.append((parts[0], float(parts[1])))
    return out


def wait_starts(path: Path, n: int, alive: Callable[[], bool] = lambda: True) -> float:
    """Wait for the ``n``-th start; the latency from the exit before it, in seconds."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        log = read_log(path)
        starts = [i for i, (kind, _) in enumerate(log) if kind == "start"]
        if len(starts) >= n:
            i = starts[n - 1]
            if i == 0 or log[i - 1][0] != "exit":
                raise RuntimeError(f"{path}: start {n} without an exit before it")
            return log[i][1] - log[i - 1][1]
        if not alive():
            raise RuntimeError(f"{path}: the supervisor ended before start {n}")
        time.sleep(0.02)
    raise RuntimeError(f"{path}: no start {n} within {TIMEOUT:g} s")


def end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def event_times(state: Path) -> dict[str, list[float]]:
    """event kind -> wall times (s) from the run log(s) guardrun wrote under ``state``."""
    times: dict[str, list[float]] = {}
    for f in sorted(state.glob("guardrun/projects/*/runs/*.jsonl")):
        for line in f.read_text().splitlines():
            ev = json.loads(line)
            t = datetime.fromisoformat(ev["time"].replace("Z", "+00:00")).timestamp()
            times.setdefault(ev["event"], []).append(t)
            if ev["event"] == "state_captured":
                times.setdefault("took_ms", []).append(float(ev.get("took_ms", 0.0)))
    return times


class Bench:
    def __init__(self, tmp: Path, py: str, uptime: float) -> None:
        self.tmp, self.py, self.uptime = tmp, py, uptime
        self.child = tmp / "child.py"
        self.child.write_text(CHILD)
        self.env = dict(os.environ)
        self.env.pop("VIRTUAL_ENV", None)
        # guardrun with bytecode, as ``pip install`` leaves it, written to a temp dir (not
        # the checkout): without it, each lazy import on the restart path compiles its module.
        self.gr_env = {k: v for k, v in self.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.gr_env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        self.cwd: Path | None = None
        self.n = 0
        self.phases: list[dict[str, float]] = []
        self.pm2: list[str] = []
        self.pm2_env: dict[str, str] = {}
        self.sv: subprocess.Popen[bytes] | None = None
        self.svctl: list[str] = []

    def fresh(self, name: str) -> Path:
        self.n += 1
        d = self.tmp / f"{name}-{self.n}"
        d.mkdir()
        return d

    # ------------------------------------------------------------- direct
    def direct(self) -> float:
        log = self.fresh("direct") / "log"
        t0 = time.time()
        subprocess.run([self.py, str(self.child), str(log), "0"], stdout=subprocess.DEVNULL,
                       env=self.env, check=False)  # fmt: skip
        return read_log(log)[0][1] - t0

    # ----------------------------------------------------------- guardrun
    def guardrun(self, nth: int = 2, defaults: bool = False) -> float:
        d = self.fresh("guardrun")
        env = {**self.gr_env, "XDG_STATE_HOME": str(d / "state"),
               "XDG_CONFIG_HOME": str(d / "config")}  # fmt: skip
        opts = [] if defaults else ["--max-restarts", "1000", "--window", "1h"]
        argv = [sys.executable, "-m", "guardrun", "--no-pty", "--no-config", *opts, "--",
                self.py, str(self.child), str(d / "log"), str(self.uptime)]  # fmt: skip
        with open(d / "stderr", "wb") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, env=env, cwd=self.cwd or d,
                                    start_new_session=True)  # fmt: skip
            try:
                latency = wait_starts(d / "log", nth, lambda: proc.poll() is None)
            finally:
                end(proc)
        if not defaults:
            self.phases.append(self._phases(d, latency))
        return latency

    def _phases(self, d: Path, latency: float) -> dict[str, float]:
        log = read_log(d / "log")
        ev = event_times(d / "state")
        exit_t, start_t = log[1][1], log[2][1]
        exited = next(t for t in ev["child_exited"] if t >= exit_t - 0.002)
        captured = next(t for t in ev["state_captured"] if t >= exited)
        restarted = ev["restarted"][0]
        # The crash's state is saved once the new child is up (run.CAPTURE_AFTER): after
        # ``restarted``, off the latency, so it is shown beside the path, not on it.
        return {
            "exit → `child_exited` event": exited - exit_t,
            "`child_exited` → `restarted` (decide, stop what is left, spawn)": restarted - exited,
            "`restarted` → child's first line": start_t - restarted,
            "total": latency,
            "(after) `restarted` → `state_captured`, the crash's state": captured - restarted,
            "(after)   of which the capture itself (`took_ms`)": ev["took_ms"][0] / 1e3,
        }

    # ---------------------------------------------------------------- PM2
    def pm2_setup(self) -> str:
        if not shutil.which("npm"):
            return "npm not found"
        prefix = self.tmp / "pm2"
        r = subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                            "--loglevel=error", "pm2@latest"],
                           capture_output=True, text=True, check=False)  # fmt: skip
        pm2 = prefix / "node_modules" / ".bin" / "pm2"
        if r.returncode != 0 or not pm2.exists():
            return f"npm install pm2 failed: {r.stderr.strip()[-200:]}"
        self.pm2 = [str(pm2)]
        self.pm2_env = {**self.env, "PM2_HOME": str(self.tmp / "pm2-home")}
        self._pm2("ping")  # starts the daemon, outside the measured samples
        version = self._pm2("--version").strip().splitlines()[-1]
        return f"PM2 {version}"

    def _pm2(self, *args: str) -> str:
        r = subprocess.run([*self.pm2, *args], env=self.pm2_env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, check=True, timeout=60)  # fmt: skip
        return r.stdout

    def pm2_sample(self) -> float:
        log = self.fresh("pm2") / "log"
        self._pm2("start", str(self.child), "--interpreter", self.py, "--name", "x", "--",
                  str(log), str(self.uptime))  # fmt: skip
        try:
            return wait_starts(log, 2)
        finally:
            self._pm2("delete", "x")

    def pm2_done(self) -> None:
        if self.pm2:
            subprocess.run([*self.pm2, "kill"], env=self.pm2_env, capture_output=True,
                           check=False, timeout=60)  # fmt: skip

    # --------------------------------------------------------- supervisord
    def sv_setup(self) -> str:
        venv = self.tmp / "sv-venv"
        r = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True,
                           check=False)  # fmt: skip
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "supervisor"]
        if r.returncode == 0:
            r = subprocess.run(pip, capture_output=True, check=False)
        if r.returncode != 0 or not (venv / "bin" / "supervisord").exists():
            return "pip install supervisor failed"
        d = self.tmp / "sv"
        d.mkdir()
        conf = d / "supervisord.conf"
        conf.write_text(SUPERVISORD_CONF.format(d=d, py=self.py, child=self.child,
                                                log=d / "log", uptime=self.uptime))  # fmt: skip
        self.sv = subprocess.Popen([str(venv / "bin" / "supervisord"), "-n", "-c", str(conf)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=self.env,
                                   start_new_session=True)  # fmt: skip
        self.svctl = [str(venv / "bin" / "supervisorctl"), "-c", str(conf)]
        deadline = time.monotonic() + 20
        while subprocess.run([*self.svctl, "status"], capture_output=True).returncode not in (0, 3):
            if time.monotonic() > deadline or self.sv.poll() is not None:
                return "supervisord did not come up"
            time.sleep(0.1)
        version = subprocess.run([str(venv / "bin" / "supervisord"), "--version"],
                                 capture_output=True, text=True).stdout.strip()  # fmt: skip
        return f"supervisord {version}"

    def sv_sample(self) -> float:
        log = self.tmp / "sv" / "log"
        log.unlink(missing_ok=True)
        subprocess.run([*self.svctl, "start", "x"], capture_output=True, check=False)
        try:
            return wait_starts(log, 2, lambda: self.sv is not None and self.sv.poll() is None)
        finally:
            subprocess.run([*self.svctl, "stop", "x"], capture_output=True, check=False)

    def sv_done(self) -> None:
        if self.sv is not None:
            end(self.sv)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=7, help="samples of each tool (median)")
    p.add_argument("--uptime", type=float, default=2.3, help="seconds the child runs")
    p.add_argument("--cwd", type=Path, help="guardrun's working directory (default: a temp "
                   "dir per sample, no git repository)")  # fmt: skip
    p.add_argument("--no-pm2", action="store_true", help="leave PM2 out")
    p.add_argument("--no-supervisord", action="store_true", help="leave supervisord out")
    p.add_argument("--no-second", action="store_true",
                   help="skip the note on guardrun's 2nd crash at default settings")  # fmt: skip
    a = p.parse_args()
    t_begin = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="guardrun-bench-restart-"))
    py = child_python()
    bench = Bench(tmp, py, a.uptime)
    bench.cwd = a.cwd.resolve() if a.cwd else None
    notes: list[str] = []
    tools: dict[str, Callable[[], float]] = {
        "direct spawn (child start-up floor)": bench.direct,
        "guardrun (fresh per sample, 1st crash)": bench.guardrun,
    }
    second: float | None = None
    try:
        if not a.no_pm2:
            what = bench.pm2_setup()
            notes.append(what)
            if bench.pm2:
                tools["PM2 (fresh `pm2 start` per sample, 1st restart)"] = bench.pm2_sample
        if not a.no_supervisord:
            what = bench.sv_setup()
            notes.append(what)
            if bench.svctl and bench.sv is not None and bench.sv.poll() is None:
                tools["supervisord (`supervisorctl start` per sample, 1st restart)"] = (
                    bench.sv_sample
                )
        runs: dict[str, list[float]] = {k: [] for k in tools}
        names = list(tools)
        for name in names:  # warm-up, not counted: bytecode written, daemons' first start
            tools[name]()
        bench.phases.clear()
        for i in range(a.samples):
            k = i % len(names)
            for name in names[k:] + names[:k]:
                runs[name].append(tools[name]())
        if not a.no_second:
            second = bench.guardrun(nth=3, defaults=True)
    finally:
        bench.pm2_done()
        bench.sv_done()
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs (shared), "
        f"Python {platform.python_version()} (guardrun: {sys.executable}; child: {py}); "
        f"{'; '.join(notes) + '; ' if notes else ''}child runs {a.uptime:g} s then exits 1; "
        f"guardrun's cwd {bench.cwd or 'a fresh temp dir (no git repository)'}; "
        f"median of {a.samples} interleaved samples each after one warm-up; load average "
        f"{os.getloadavg()[0]:.2f} at the end; {time.monotonic() - t_begin:.0f} s in all.\n"
    )
    print("| supervisor | latency (median) | min | max | samples |")
    print("|---|---:|---:|---:|---|")
    for name, rs in runs.items():
        each = ", ".join(f"{r * 1e3:.0f}" for r in rs)
        print(f"| {name} | {ms(statistics.median(rs))} | {ms(min(rs))} | {ms(max(rs))} "
              f"| {each} |")  # fmt: skip
    if bench.phases:
        print("\nWhere guardrun's time goes (its run log, ms resolution; median over samples):\n")
        print("| phase | median | min | max |")
        print("|---|---:|---:|---:|")
        for phase in bench.phases[0]:
            vs = [ph[phase] for ph in bench.phases]
            print(f"| {phase} | {ms(statistics.median(vs))} | {ms(min(vs))} | {ms(max(vs))} |")
    if second is not None:
        print(f"\nNote: at default settings guardrun's 2nd crash restart within the window waits "
              f"the cooldown (10 s, doubling): {second:.2f} s from exit to the next start, "
              f"one run.")  # fmt: skip
    g = statistics.median(runs["guardrun (fresh per sample, 1st crash)"])
    pm2 = [v for k, v in runs.items() if k.startswith("PM2")]
    if pm2:
        m = statistics.median(pm2[0])
        verdict = "PASS" if g <= m else "FAIL"
        print(f"\nGoal: guardrun at most PM2's median in the same run: {ms(g)} vs {ms(m)} "
              f"— **{verdict}**")  # fmt: skip
    else:
        print(f"\nGoal: guardrun at most PM2's median in the same run: {ms(g)} vs no PM2 "
              f"({'; '.join(notes) or 'left out'}) — **not evaluated**")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
