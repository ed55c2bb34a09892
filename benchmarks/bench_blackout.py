"""Restart blackout with the real Claude Code CLI: from guardrun's restart decision to
Claude's prompt drawn again, at default settings, against Claude's own start time.

Run:  .venv/bin/python benchmarks/bench_blackout.py [--samples 5]

Claude Code 2.1.197 (installed by ``.ci/run`` in ``.cache/claude``) runs offline with a
prepared config directory, as the tests run it; its prompt is ready when its footer
("Not logged in") is drawn. Measured in the same run, interleaved:

* Claude's own start: ``claude`` in a PTY, from spawn to the footer;
* guardrun's first restart: ``guardrun -- claude`` at default settings, Claude SIGKILLed
  (a crash, as an OOM kill is): from the kill to the footer of the new Claude;
* guardrun's second restart in the same run (Claude killed again): it waits the cooldown
  (10 s by default).

Goal (issue 17): the first restart within 1.5x Claude's own start time; the second waits
the cooldown.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.claude import PROMPT_READY, child_env, claude_bin, prepare_config, spawn  # noqa: E402
from support.guarded_agent import agent_child  # noqa: E402

GOAL = 1.5


def until(screen: object, text: str, start: int, timeout: float = 60.0) -> float:
    """Time at which ``text`` appears in the screen after raw offset ``start``."""
    screen.wait_for(text, timeout=timeout, start=start)  # type: ignore[attr-defined]
    return time.monotonic()


def claude_start(bin_: Path, tmp: Path) -> float:
    cwd = tmp / f"p{os.urandom(3).hex()}"
    cwd.mkdir()
    env = child_env(prepare_config(tmp / f"c{os.urandom(3).hex()}", cwd))
    t0 = time.monotonic()
    child, screen = spawn([str(bin_)], cwd, env)
    try:
        return until(screen, PROMPT_READY, 0) - t0
    finally:
        child.terminate(force=True)
        child.close()


def guarded(bin_: Path, tmp: Path) -> tuple[float, float]:
    """guardrun -- claude at default settings; Claude is SIGKILLed twice (a crash, as an OOM
    kill would be): the time from each kill to the new Claude's prompt."""
    cwd = tmp / f"g{os.urandom(3).hex()}"
    cwd.mkdir()
    env = child_env(prepare_config(tmp / f"d{os.urandom(3).hex()}", cwd))
    env |= {"XDG_STATE_HOME": str(tmp / "state"), "XDG_CONFIG_HOME": str(tmp / "cfg")}
    child, screen = spawn(
        [sys.executable, "-m", "guardrun", "--no-config", "--", str(bin_)], cwd, env
    )
    try:
        mark = screen.wait_for(PROMPT_READY, timeout=60)
        took = []
        pid = 0
        for _ in range(2):
            time.sleep(2.5)  # past the 2 s in which a failure is a start failure
            pid, _args = agent_child(child.pid, bin_, other_than=pid, screen=screen)
            mark = len(screen.raw)
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            took.append(until(screen, PROMPT_READY, mark, timeout=120) - killed)
        return took[0], took[1]
    finally:
        child.terminate(force=True)
        child.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=5)
    a = p.parse_args()
    bin_ = claude_bin()
    if bin_ is None:
        raise SystemExit("Claude Code is not installed in .cache/claude (see .ci/run)")
    own: list[float] = []
    first: list[float] = []
    second: list[float] = []
    with tempfile.TemporaryDirectory(prefix="guardrun-bench-blackout-") as tmp:
        for _ in range(a.samples):
            own.append(claude_start(bin_, Path(tmp)))
            f, s = guarded(bin_, Path(tmp))
            first.append(f)
            second.append(s)
    m_own, m_first, m_second = (statistics.median(x) for x in (own, first, second))
    print(
        f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs (shared), "
        f"Python {platform.python_version()}; Claude Code 2.1.197 offline; median of "
        f"{a.samples} interleaved samples; load average {os.getloadavg()[0]:.2f}.\n"
    )
    print("| what | median | min | max |")
    print("|---|---:|---:|---:|")
    for name, xs in (
        ("Claude's own start (spawn → prompt)", own),
        ("guardrun, 1st restart (kill → prompt)", first),
        ("guardrun, 2nd restart in the window (kill → prompt)", second),
    ):
        print(f"| {name} | {statistics.median(xs):.2f} s | {min(xs):.2f} s | {max(xs):.2f} s |")
    ok = m_first <= GOAL * m_own and m_second >= 10.0
    print(
        f"\nGoal: the 1st restart within {GOAL}× Claude's own start, the 2nd after the 10 s "
        f"cooldown: {m_first / m_own:.2f}×, 2nd {m_second:.1f} s — **{'PASS' if ok else 'FAIL'}**"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
