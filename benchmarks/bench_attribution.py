"""Growth by agent step for a day-long run with a 200 MB Claude Code transcript.

Run:  .venv/bin/python benchmarks/bench_attribution.py [--mb 200] [--repeats 3]

Set up in a temp dir, as a day of ``guardrun -- claude`` leaves it: the run's sample history
(a day at 1 s, compacted as ``History`` compacts it: ~3,000 points), its event log with
three restarts, each naming a saved state whose ``conversation.transcript`` is a 200 MB
transcript in Claude Code's own format (compact JSON, ``toolUseResult`` last): a tool call
every ~4 s through the day (~21,000), most results a few KB, one in 40 a 1-4 MB result
(a file read, a build log: the lines that make a transcript big), ``progress`` lines, a
sub-agent now and then, a compaction every two hours.

* the whole command, ``guardrun report --text`` (a new process, as a user runs it), median
  of ``--repeats``; beside it, in the same run, the same command on the same run without
  its states (no transcript: the report without attribution), and ``--for-issue`` and the
  HTML page. Goal of issue 29: the report with attribution under 2 s.
* in-process: the transcript into steps (``state.steps.parse``), the crediting
  (``state.attribution.attribute``), and the plain read of the file's lines (its floor).

The file is in the page cache (just written): these are CPU costs, not disk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guardrun.observe.history import downsample  # noqa: E402
from guardrun.state.attribution import attribute  # noqa: E402
from guardrun.state.project import project_root  # noqa: E402
from guardrun.state.steps import parse  # noqa: E402
from guardrun.state.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 2.0
DAY = 86400
MB = 1_000_000
RUN = "20250131T080000Z-be7c4a"
SESSION = "7d0c5a8e-2f4b-4c1d-9e3a-5b6f7a8c9d0e"


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def transcript(path: Path, start: float, size: int, rng: random.Random) -> int:
    """Claude Code lines through the day, about ``size`` bytes; returns the tool calls."""
    path.parent.mkdir(parents=True, exist_ok=True)
    filler = "".join(rng.choice('abcdefghij klmnop\n"\\/{}') for _ in range(4096))
    big = filler * 1024  # 4 MB of text with escapes, as a build log has
    head = {"parentUuid": "p", "isSidechain": False, "userType": "external", "cwd": "/home/dev/app",
            "sessionId": SESSION, "version": "2.1.197", "gitBranch": "main"}  # fmt: skip
    written = calls = 0
    t = start
    per_call = DAY / 21000
    # ~7 KB a call without the big results (a 2 KB result, twice, and the rest); each big one
    # is ~5 MB (2.5 MB, twice): one in ``every`` brings the file to ``size`` by the day's end.
    every = max(1, round(5 * MB / max(size / 21000 - 7000, 1)))
    with open(path, "w") as f:

        def put(record: dict[str, object]) -> None:
            nonlocal written
            line = json.dumps(record, separators=(",", ":")) + "\n"
            f.write(line)
            written += len(line)

        while t < start + DAY - 60:
            if calls % 30 == 0:
                put({**head, "type": "user", "message": {"role": "user", "content": "go on"},
                     "uuid": "u", "timestamp": iso(t)})  # fmt: skip
            if calls % 1800 == 1799:
                put({"type": "system", "subtype": "compact_boundary", "timestamp": iso(t),
                     "compactMetadata": {"trigger": "auto", "preTokens": 150000}})  # fmt: skip
            side = calls % 200 == 199
            name = rng.choice(["Bash", "Read", "Edit", "Grep", "Glob", "mcp__db__query"])
            if side:
                name = "Task"
            ident = f"toolu_{calls:08d}"
            use = {"type": "tool_use", "id": ident, "name": name, "input": {"command": "x" * 80}}
            put(
                {
                    **head,
                    "type": "assistant",
                    "message": {
                        "role": "assistant",
                        "content": [{"type": "text", "text": "ok"}, use],
                    },
                    "uuid": "a",
                    "timestamp": iso(t + 1),
                }
            )
            for k in range(3):  # a Bash call's progress lines
                put({"type": "progress", "data": {"type": "bash_progress", "output": "y" * 200},
                     "timestamp": iso(t + 1.2 + k * 0.1), "toolUseID": ident})  # fmt: skip
            if side:
                for k in range(6):
                    put(
                        {
                            **head,
                            "isSidechain": True,
                            "type": "assistant",
                            "message": {
                                "role": "assistant",
                                "content": [
                                    {"type": "tool_use", "id": f"s{k}", "name": "Read", "input": {}}
                                ],
                            },
                            "timestamp": iso(t + 1.5 + k * 0.2),
                        }
                    )
            if calls % every == every - 1:  # a big result: 1-4 MB, as often as size asks
                body = big[: rng.randint(1, 4) * MB]
            else:
                body = filler[: rng.randint(200, 4000)]
            put(
                {
                    **head,
                    "type": "user",
                    "message": {
                        "role": "user",
                        "content": [{"tool_use_id": ident, "type": "tool_result", "content": body}],
                    },
                    "uuid": "r",
                    "timestamp": iso(t + 2.5),
                    "toolUseResult": {"stdout": body},
                }
            )
            calls += 1
            t += per_call
            if written >= size:
                break
    return calls


def history(runs: Path, start: float, rng: random.Random) -> None:
    pts = []
    value = 600 * MB
    for i in range(DAY):
        value += rng.choice((0, 0, 0, 40_000, 120_000))
        if i % 28800 == 28799:
            value = 600 * MB  # a restart
        pts.append({"t": start + i, "b": value, "lv": "normal", "m": "normal",
                    "p": [[1000 + i // 28800, value - 100 * MB], [2000, 100 * MB]]})  # fmt: skip
    meta = {"k": "meta", "run_id": RUN, "name": "claude", "agent": "claude", "metric": "rss",
            "ram_total": 32_000 * MB}  # fmt: skip
    procs = [{"k": "proc", "pid": 1000 + n, "name": "claude"} for n in range(3)]
    lines = [meta, *procs, {"k": "proc", "pid": 2000, "name": "node"}]
    lines += downsample(pts, start + DAY)
    (runs / f"{RUN}.samples.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines))


def events(runs: Path, store: Store, start: float, path: Path, with_states: bool) -> None:
    evs = [{"event": "started", "t": start, "session_id": SESSION}]
    for r in range(3):
        t = start + r * 28800 + 28790
        state_id = store.new_id("critical", t)
        if with_states:
            conv = {"agent": "claude", "session_id": SESSION, "transcript": {"path": str(path)}}
            store.write_state({"schema": 1, "id": state_id, "created_at": iso(t),
                               "reason": "critical", "conversation": conv})  # fmt: skip
        evs += [{"event": "state_captured", "t": t, "state_id": state_id, "reason": "critical"},
                {"event": "restart_requested", "t": t + 1, "reason": "critical"},
                {"event": "restarted", "t": t + 9, "attempt": r + 1}]  # fmt: skip
    with (runs / f"{RUN}.jsonl").open("w") as f:
        for e in evs:
            f.write(json.dumps({"time": iso(float(e.pop("t"))), "run_id": RUN, **e}) + "\n")


CPU: list[float] = []  # the CPU time of each command run (user + system), as wall time is
# at the mercy of the machine's other work


def cli(project: Path, state: Path, env: dict[str, str], *args: str) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "guardrun", "--no-config", "--state-dir", str(state), "report",
         *args],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    took = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"guardrun report {' '.join(args)} failed: {done.stderr}")
    return took


def median(fn: object, repeats: int) -> tuple[float, float]:
    """Median wall time of ``fn`` (which returns its wall time), and of the CPU time its
    commands used (for in-process steps, ``time.process_time``)."""
    assert callable(fn)
    walls, cpus = [], []
    for _ in range(repeats):
        CPU.clear()
        cpu = time.process_time()
        walls.append(fn())
        cpus.append(sum(CPU) if CPU else time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="transcript size in MB")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(29)
    tmp = Path(tempfile.mkdtemp(prefix="bench-attribution-"))
    try:
        project, bare_project, state = tmp / "proj", tmp / "bare", tmp / "state"
        project.mkdir()
        bare_project.mkdir()
        start = time.mktime((2025, 1, 31, 8, 0, 0, 0, 0, -1))
        path = tmp / "claude" / "projects" / "-home-dev-app" / f"{SESSION}.jsonl"
        calls = transcript(path, start, args.mb * MB, rng)
        size = path.stat().st_size
        for proj, with_states in ((project, True), (bare_project, False)):
            store = Store(state, project_root(proj))
            store.ensure()
            history(store.runs_dir, start, rng)
            events(store.runs_dir, store, start, path, with_states)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CLAUDE_CONFIG_DIR": str(tmp / "nowhere")}
        out = str(tmp / "r.html")
        rows = [
            ("`report --text`, no transcript (baseline)",
             median(lambda: cli(bare_project, state, env, "--text"), args.repeats)),
            ("`report --text` with attribution",
             median(lambda: cli(project, state, env, "--text"), args.repeats)),
            ("`report --for-issue`",
             median(lambda: cli(project, state, env, "--for-issue"), args.repeats)),
            ("`report -o r.html`",
             median(lambda: cli(project, state, env, "-o", out), args.repeats)),
        ]  # fmt: skip
        html_kb = os.path.getsize(out) // 1024

        def read_lines() -> float:
            began = time.perf_counter()
            with open(path, "rb") as f:
                for _ in f:
                    pass
            return time.perf_counter() - began

        parsed = parse(path, "claude")

        def timed_parse() -> float:
            began = time.perf_counter()
            parse(path, "claude")
            return time.perf_counter() - began

        points = [json.loads(x) for x in (Store(state, project_root(project)).runs_dir /
                  f"{RUN}.samples.ndjson").read_text().splitlines()[5:]]  # fmt: skip

        def timed_attribute() -> float:
            began = time.perf_counter()
            attribute(points, parsed.steps)
            return time.perf_counter() - began

        inner = [
            ("read the lines (floor)", median(read_lines, args.repeats)),
            ("`steps.parse`", median(timed_parse, args.repeats)),
            ("`attribution.attribute`", median(timed_attribute, args.repeats)),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; transcript {size / MB:.0f} MB, {calls} tool calls, "
          f"{len(parsed.steps)} steps; history {len(points)} points; "
          f"HTML {html_kb} KB\n")  # fmt: skip
    print("| what | median wall s | median CPU s |\n|---|---:|---:|")
    for name, (wall, cpu) in rows + inner:
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    wall, cpu = rows[1][1]
    verdict = "PASS" if wall < GOAL_S else "FAIL"
    print(
        f"\nreport with attribution: {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"(goal < {GOAL_S:.0f} s): {verdict}; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
