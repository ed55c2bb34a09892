"""Do the tests catch realistic bugs? Named one-line mutations, each applied to a fresh
copy of the repository and run against the tests that cover it.

    python tools/mutation_check.py              # every mutation, one at a time
    python tools/mutation_check.py --list       # names, files and covering tests
    python tools/mutation_check.py -k lease -k budget   # the mutations whose name has a word
    python tools/mutation_check.py -j 2         # two at a time (each in its own copy)
    python tools/mutation_check.py --check      # only: does every snippet still apply?
    python tools/mutation_check.py --baseline   # first: do the covering tests pass unmutated?

Each mutation is a file, an exact snippet of it (found exactly once), its replacement,
and the tests that should notice. Per mutation it prints one line:

    CAUGHT (by tests/unit/test_history.py::test_x)   a covering test failed: good
    SURVIVED (4 passed, 1 skipped)                     every covering test passed: a hole
    NOT APPLIED (snippet not found in FILE)            the code moved: fix the snippet
    BROKEN (...)                                       the tests could not run at all

and exits 1 unless every mutation was CAUGHT. The copy is made from ``git ls-files``
(tracked and untracked, not ignored: what you are about to commit), next to a link to
``../shared`` and ``.cache`` (fixtures, agent CLIs), and pytest runs there with this
interpreter and ``PYTHONPATH`` set to the copy, so the copy's ``guardrun`` is the one
imported, by the tests and by the ``python -m guardrun`` they start.

Run it before resolving an issue (not in CI: it takes minutes). When a snippet no longer
applies, find the line it meant and update the snippet: never delete a mutation to get
a clean run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900.0  # seconds for one mutation's tests: a hang counts as caught (by the timeout)


class Mutation(NamedTuple):
    name: str
    file: str  # relative to the repository root
    old: str  # exact, found exactly once
    new: str
    tests: tuple[str, ...]  # pytest node ids or files, relative to the root
    why: str = ""  # the bug it stands for, when the name does not say it


class NotApplied(Exception):
    pass


class Result(NamedTuple):
    mutation: Mutation
    verdict: str  # CAUGHT, SURVIVED, NOT APPLIED, BROKEN
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.verdict == "CAUGHT"

    def line(self) -> str:
        return f"{self.mutation.name:<40} {self.verdict} ({self.detail})  [{self.seconds:.0f}s]"


def M(name: str, file: str, old: str, new: str, *tests: str, why: str = "") -> Mutation:
    return Mutation(name, file, old, new, tuple(tests), why)


# --------------------------------------------------------------------------- mechanics
def mutate(text: str, m: Mutation) -> str:
    """``text`` with the mutation's snippet replaced; NotApplied when the snippet is not
    there exactly once (the code moved, or the snippet is ambiguous)."""
    count = text.count(m.old)
    if count == 0:
        raise NotApplied(f"snippet not found in {m.file}")
    if count > 1:
        raise NotApplied(f"snippet found {count} times in {m.file}: make it longer")
    return text.replace(m.old, m.new, 1)


def apply(root: Path, m: Mutation) -> None:
    path = root / m.file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotApplied(f"file {m.file} not found") from None
    path.write_text(mutate(text, m), encoding="utf-8")


def tracked_files(root: Path) -> list[str]:
    """What the copy holds: tracked and untracked-but-not-ignored files that exist."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return [name for name in out.decode().split("\0") if name and (root / name).is_file()]


def make_copy(src: Path, files: Iterable[str], dest: Path) -> Path:
    """``dest/<name of src>`` holding ``files``, with ``../shared`` and ``.cache`` linked
    to ``src``'s (fixtures, installed agent CLIs: the tests find them by path)."""
    copy = dest / src.name
    for name in files:
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / name, target, follow_symlinks=False)
    for link, real in (("shared", src.parent / "shared"), (f"{src.name}/.cache", src / ".cache")):
        if real.exists() and not (dest / link).exists():
            (dest / link).symlink_to(real)
    return copy


def pytest_env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)  # the copy's guardrun, not the editable install's
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return env


FAILED = re.compile(r"^(FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)
COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


def verdict(code: int, output: str) -> tuple[str, str]:
    """Pytest's exit code and output -> (verdict, detail)."""
    failed = FAILED.findall(output)
    if code == 1 and failed:
        return "CAUGHT", f"by {failed[0][1]}"
    counts = ", ".join(" ".join(c) for c in COUNTS.findall(output.rsplit("\n=", 1)[-1]))
    if code == 0:
        return "SURVIVED", counts or "all passed"
    if code == 5:
        return "BROKEN", "no tests collected: check the test ids"
    why = [ln for ln in output.splitlines() if ln.startswith("E ")]
    last = why[:1] or output.strip().splitlines()[-1:] or ["no output"]
    return "BROKEN", f"pytest exit {code}: {last[0][:200]}"


def run_one(
    m: Mutation, files: Sequence[str], timeout: float = TIMEOUT, root: Path = ROOT
) -> Result:
    """``m`` applied to a fresh copy of ``files`` of ``root``, its tests run there."""
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="guardrun-mutation-") as tmp:
        try:
            return _run_in(m, root, files, Path(tmp), timeout, t0)
        finally:
            # A mutation can leave what it broke running (a daemon the tree stop no longer
            # reaches): nothing started from the copy outlives its mutation.
            kill_started_from(tmp)


def kill_started_from(directory: str) -> list[int]:
    """SIGKILL every process whose command line names ``directory``; their pids."""
    import signal

    killed = []
    needle = os.fsencode(directory)
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if needle not in f.read():
                    continue
            os.kill(int(name), signal.SIGKILL)
            killed.append(int(name))
        except OSError:
            continue
    return killed


def _run_in(
    m: Mutation, root: Path, files: Sequence[str], tmp: Path, timeout: float, t0: float
) -> Result:
    copy = make_copy(root, files, tmp)
    try:
        if m.old or m.new:  # else the baseline: the tests on the tree as it is
            apply(copy, m)
    except NotApplied as err:
        return Result(m, "NOT APPLIED", str(err), time.monotonic() - t0)
    missing = [t for t in m.tests if not (copy / t.split("::")[0]).exists()]
    if missing:
        return Result(m, "BROKEN", f"no test file {missing[0]}", time.monotonic() - t0)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-o", "addopts=-rfE --strict-markers", *m.tests]  # fmt: skip
    try:
        done = subprocess.run(
            cmd, cwd=copy, env=pytest_env(copy), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        seconds = time.monotonic() - t0
        return Result(m, "CAUGHT", f"by the {timeout:.0f}s timeout: the tests hung", seconds)
    what, detail = verdict(done.returncode, done.stdout + done.stderr)
    return Result(m, what, detail, time.monotonic() - t0)


def check_only(m: Mutation) -> Result:
    try:
        mutate((ROOT / m.file).read_text(encoding="utf-8"), m)
    except (NotApplied, FileNotFoundError) as err:
        return Result(m, "NOT APPLIED", str(err), 0.0)
    missing = [t for t in m.tests if not (ROOT / t.split("::")[0]).exists()]
    if missing:
        return Result(m, "BROKEN", f"no test file {missing[0]}", 0.0)
    return Result(m, "CAUGHT", "applies; tests not run (--check)", 0.0)


def select(mutations: Sequence[Mutation], words: Sequence[str]) -> list[Mutation]:
    if not words:
        return list(mutations)
    return [m for m in mutations if any(w.lower() in m.name.lower() for w in words)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--list", action="store_true", help="list the mutations and exit")
    p.add_argument("-k", action="append", default=[], metavar="WORD",
                   help="only mutations whose name contains WORD (repeatable)")  # fmt: skip
    p.add_argument("-j", type=int, default=1, metavar="N", help="N mutations at a time")
    p.add_argument("--check", action="store_true",
                   help="only check that every snippet applies (no tests run)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per mutation")
    p.add_argument("--baseline", action="store_true",
                   help="first run the covering tests unmutated: they must pass")  # fmt: skip
    a = p.parse_args(argv)
    chosen = select(MUTATIONS, a.k)
    if not chosen:
        print(f"no mutation matches {a.k}", file=sys.stderr)
        return 2
    if a.list:
        for m in chosen:
            print(f"{m.name}\n    {m.file}\n    tests: {' '.join(m.tests)}")
            if m.why:
                print(f"    {m.why}")
        return 0
    t0 = time.monotonic()
    if a.check:
        results = [check_only(m) for m in chosen]
        for r in results:
            print(f"{r.mutation.name:<40} {'OK' if r.ok else r.verdict} ({r.detail})")
        bad = [r for r in results if not r.ok]
        print(f"{len(results) - len(bad)} of {len(results)} apply")
        return 1 if bad else 0
    files = tracked_files(ROOT)
    if a.baseline:
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        base = run_one(Mutation("baseline", "", "", "", tests), files, a.timeout)
        if base.verdict != "SURVIVED":  # a test that fails unmutated would "catch" anything
            print(f"BASELINE FAILED ({base.verdict} {base.detail}): fix the tests first")
            return 1
        print(f"baseline: the covering tests pass unmutated ({base.detail}) [{base.seconds:.0f}s]")
    results = []
    with ThreadPoolExecutor(max_workers=max(1, a.j)) as pool:
        for r in pool.map(lambda m: run_one(m, files, a.timeout), chosen):
            print(r.line(), flush=True)
            results.append(r)
    took = time.monotonic() - t0
    tally: dict[str, int] = {}
    for r in results:
        tally[r.verdict] = tally.get(r.verdict, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(tally.items()))
    print(f"\n{len(results)} mutations in {took:.0f}s: {summary}")
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"  {r.verdict}: {r.mutation.name} ({r.detail})")
    return 1 if bad else 0


# --------------------------------------------------------------------------- the list
# Snippets are short and specific; when one moves, update it (the tool says NOT APPLIED).
# The tests are the narrowest that should notice: node ids where one test is enough.
#
# Holes found and not closed yet (each a one-line bug no test notices; add the test, then
# the mutation): a double-forked daemon that clears its environment; Turns giving way when
# not chosen (the lease covers for it); a system percentage read as a fraction
# (runner._fraction); newest-first in agents/base.newest; the relay's short-write
# remainder; cgroup_limit's tightest limit up a v2 tree; the countdown's keys; flock under
# concurrency; the sentinel's pause (`_put(0.0)`) written as a stale beat, which makes it
# act while guardrun stops the tree itself or is suspended with Ctrl-Z.
UNIT = "tests/unit"
E2E = "tests/e2e"
# fmt: off
MUTATIONS: list[Mutation] = [
    # -- the last audit's ----------------------------------------------------------------
    M("stop: the tree stop signals the root only", "guardrun/supervisor/stop.py",
      "        _send(child, pids, first)\n        if child.stopped",
      "        _send(child, [child.pid], first)\n        if child.stopped",
      f"{E2E}/run/test_stop_tree.py"),
    M("store: fsync before the rename dropped", "guardrun/state/store.py",
      "                store_op(os.fsync, final, fd)\n",
      "",
      f"{E2E}/state/test_store.py::test_each_file_is_fsynced_before_its_rename_and_the_directory_after"),
    M("events: the scrubbed line is thrown away", "guardrun/observe/events.py",
      "            line = self.scrub(line)",
      "            self.scrub(line)",
      f"{E2E}/run/test_events.py::test_secrets_outside_argv_are_scrubbed_from_each_line"),
    M("claude: the newest transcript before the sessions file", "guardrun/state/agents/claude.py",
      "        found = self._from_sessions_files(config, pids, cwd, started_at)",
      "        found = self._from_newest(config, cwd, started_at)",
      f"{E2E}/agents/test_claude_files.py::test_sessions_file_wins_over_a_newer_transcript_of_another_session"),
    M("store: a state written in place", "guardrun/state/store.py",
      '        tmp = directory / f"{TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}-{name}"',
      "        tmp = final",
      f"{E2E}/state/test_store_faults.py::test_the_final_name_appears_only_once_the_file_is_complete",
      f"{E2E}/state/test_store_faults.py::test_writer_killed_mid_write_leaves_no_file_under_the_final_name"),
    # -- this audit's ----------------------------------------------------------------------
    M("lease: always grants", "guardrun/fleet/lease.py",
      'lambda held: None if held and held["pid"] != self.pid else record',
      "lambda held: record",
      f"{E2E}/fleet/test_machine_budget.py::test_restarts_for_the_budget_are_one_at_a_time"),
    M("budget: the highest priority gives way first", "guardrun/fleet/budget.py",
      "            m.priority,\n            m.idle_since",
      "            -m.priority,\n            m.idle_since",
      f"{UNIT}/supervisor/test_budget.py::test_lowest_priority_first_then_idle_longest_then_largest_then_oldest"),
    M("trend: the rate from the bucket maxima", "guardrun/supervisor/trend.py",
      "            self._closed.append((self._min_at, self._min, self._jump))",
      "            self._closed.append((self._max_at, self._max, self._jump))",
      f"{UNIT}/supervisor/test_trend.py"),
    M("decide: a planned restart without the agent idle", "guardrun/supervisor/decide.py",
      "        if (critical or near) and now - last_io >= when.idle:",
      "        if critical or near:",
      f"{UNIT}/supervisor/test_decide.py"),
    M("history: compaction written in place", "guardrun/observe/history.py",
      '        tmp = os.path.join(where, f".{name}.{os.getpid()}.tmp")',
      "        tmp = self.path",
      f"{UNIT}/test_history.py"),
    M("run: SIGTSTP to guardrun not passed on", "guardrun/supervisor/watch.py",
      "                    child.killpg(signal.SIGTSTP)",
      "                    pass",
      f"{E2E}/run/test_job_control.py::test_sigtstp_to_guardrun_stops_the_agent_and_the_job"),
    M("observer: the title not restored at exit", "guardrun/observe/observer.py",
      "            self._notifier.restore_title()\n        if self._hooks is not None:",
      "            pass\n        if self._hooks is not None:",
      f"{E2E}/run/test_title.py::test_title_saved_shown_and_restored_at_a_normal_exit"),
    M("metrics: label values not escaped", "guardrun/observe/metrics.py",
      """    return value.replace("\\\\", "\\\\\\\\").replace('"', '\\\\"')""",
      "    return value",  # newlines still escaped; backslashes and quotes not
      f"{UNIT}/test_metrics.py::test_label_values_are_escaped"),
    M("report: a process name not escaped", "guardrun/commands/report_html.py",
      "<td>{escape(str(info.get('name') or '?'))}</td>",
      "<td>{str(info.get('name') or '?')}</td>",
      f"{E2E}/cli/test_report.py"),
    M("run: a refused resume counted toward the breaker", "guardrun/supervisor/run.py",
      "                p.restarts += 1\n                argv = p.conv.launch_argv()",
      "                p.protection.record_restart()\n"
      "                p.restarts += 1\n                argv = p.conv.launch_argv()",
      f"{E2E}/agents/test_resume_refused.py"),
    M("linux: the probe reads the root only", "guardrun/platform/linux.py",
      "                stack.extend(items)",
      "                del items",
      f"{E2E}/memory/test_run_memory.py::test_a_small_parent_with_a_big_grandchild_counts"),
    # -- one per module: a realistic one-line bug where one would matter ----------------
    M("breaker: one restart more than max_attempts", "guardrun/supervisor/breaker.py",
      "        if len(self.restarts) >= p.max_attempts:",
      "        if len(self.restarts) > p.max_attempts:",
      f"{UNIT}/supervisor/test_breaker.py::test_max_attempts_within_window_then_open"),
    M("levels: sustain needs one sample more", "guardrun/supervisor/levels.py",
      "            if RANK[level] > current and self._streak[level] >= self.sustained:",
      "            if RANK[level] > current and self._streak[level] > self.sustained:",
      f"{UNIT}/supervisor/test_levels.py::test_warning_needs_three_consecutive_samples"),
    M("protection: a restart the user asked for waits", "guardrun/supervisor/protection.py",
      "        wait = 0.0 if asked else self.breaker.cooldown()",
      "        wait = self.breaker.cooldown()",
      f"{UNIT}/supervisor/test_protection.py"),
    M("degrade: on_exhausted stop read as monitor", "guardrun/supervisor/degrade.py",
      '        if on_exhausted == "stop":',
      '        if on_exhausted != "stop":',
      f"{UNIT}/supervisor/test_degrade.py"),
    M("memory: a fast leak sampled at the full interval", "guardrun/supervisor/memory.py",
      "                return min(ceiling, delay)",
      "                return ceiling",
      f"{UNIT}/supervisor/test_memory.py::test_a_fast_leak_is_sampled_halfway_then_just_past_the_crossing"),
    M("jobs: an orphaned group judged by the wrong session", "guardrun/supervisor/jobs.py",
      "                return os.getsid(ppid) != sid",
      "                return os.getsid(ppid) == sid",
      f"{UNIT}/supervisor/test_jobs.py"),
    M("signals: SIGUSR2 captures nothing", "guardrun/supervisor/signals.py",
      '    signal.SIGUSR2: "capture",',
      '    signal.SIGUSR2: "forward",',
      f"{UNIT}/supervisor/test_signals.py"),
    M("relay: the agent's own title not looked for", "guardrun/supervisor/relay.py",
      "                            self._see_title(data)",
      "                            pass",
      f"{UNIT}/supervisor/test_relay.py::test_the_agents_own_title_is_seen"),
    M("units: a percentage threshold of a tenth of what it says", "guardrun/units.py",
      "            return int(total_bytes * self.value / 100.0)",
      "            return int(total_bytes * self.value / 1000.0)",
      f"{UNIT}/test_units.py"),
    M("config: the lower source blamed for two keys out of order", "guardrun/config/load.py",
      "    if lo.rank > hi.rank:",
      "    if lo.rank < hi.rank:",
      f"{UNIT}/config/test_config_errors.py"),
    M("yaml: line numbers off by one", "guardrun/config/yaml.py",
      "    return int(node.start_mark.line) + 1",
      "    return int(node.start_mark.line)",
      f"{UNIT}/config/test_config_errors.py::test_file_errors"),
    M("notify: control characters kept in the title", "guardrun/observe/notify.py",
      '    clean = _CONTROLS.sub("", text)[:200]',
      "    clean = text[:200]",
      f"{UNIT}/test_notify.py::test_title_strips_control_characters"),
    M("hooks: a hook's group not killed after SIGTERM", "guardrun/observe/hooks.py",
      "        # Also when the leader obeyed: members that ignore SIGTERM are still in the group.\n"
      "        _killpg(proc.pid, signal.SIGKILL)",
      "        # Also when the leader obeyed: members that ignore SIGTERM are still in the group.\n"
      "        pass",
      f"{E2E}/run/test_hooks.py::test_hung_hook_killed_at_timeout_without_blocking"),
    M("live: written at every sample, not once a second", "guardrun/observe/live.py",
      "        if not force and now - self._last < MIN_INTERVAL:",
      "        if force and now - self._last < MIN_INTERVAL:",
      f"{E2E}/cli/test_live.py::test_update_rate_limited_atomic_private"),
    M("machine: a run's memory read as nothing", "guardrun/fleet/machine.py",
      '        memory=int(number("memory_bytes") or 0),',
      "        memory=0,",
      f"{E2E}/fleet/test_machine_budget.py::test_status_shows_the_plan"),
    M("capture: credential names kept in the saved environment", "guardrun/state/capture.py",
      "        if (k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)) and not _ENV_DENY.search(k)",
      "        if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)",
      f"{E2E}/state/test_capture.py::test_env_allow_list_drops_credential_names"),
    M("project: ahead and behind swapped", "guardrun/state/project.py",
      '        git["ahead"], git["behind"] = int(ahead.lstrip("+")), int(behind.lstrip("-"))',
      '        git["behind"], git["ahead"] = int(ahead.lstrip("+")), int(behind.lstrip("-"))',
      f"{E2E}/state/test_project.py::test_ahead_behind_and_remote_of_the_upstream"),
    M("retention: prune keeps one state too many", "guardrun/state/retention.py",
      "        expired = i >= keep or",
      "        expired = i > keep or",
      f"{E2E}/state/test_store.py::test_prune_keep_age_and_newest_of_each_session"),
    M("ps: RSS in KB of 1000 bytes", "guardrun/platform/ps.py",
      "        table[pid] = (ppid, rss_kib * 1024)",
      "        table[pid] = (ppid, rss_kib * 1000)",
      f"{E2E}/memory/test_ps_probe.py::test_parse_ps_output"),
    M("smaps: USS without the dirty private pages", "guardrun/platform/smaps.py",
      '_USS_KEYS = (b"Private_Clean:", b"Private_Dirty:", b"Private_Hugetlb:")',
      '_USS_KEYS = (b"Private_Clean:", b"Private_Hugetlb:")',
      f"{E2E}/memory/test_smaps.py"),
    M("cgroup: a cgroup limit under the RAM ignored", "guardrun/platform/cgroup.py",
      "    if limit is not None and limit.bytes < ram:",
      "    if limit is not None and limit.bytes > ram:",
      f"{E2E}/memory/test_cgroup.py::test_real_cgroup_limit_usage_and_oom_kill"),
    M("cgroup_events: the higher of max and high binds", "guardrun/platform/cgroup_events.py",
      "        return min(set_) if set_ else None",
      "        return max(set_) if set_ else None",
      f"{E2E}/memory/test_cgroup.py::test_v2_files"),
    M("pressure: PSI alone never critical", "guardrun/platform/pressure.py",
      "    if used_fraction >= critical or (psi_some_avg10 is not None and psi_some_avg10 >= psi):",
      "    if used_fraction >= critical:",
      f"{UNIT}/platform/test_pressure.py"),
    M("external: the machine read at every sample", "guardrun/supervisor/external.py",
      "            self._next_system = now + self.system_every",
      "            self._next_system = now",
      f"{E2E}/run/test_external.py::test_readings_are_rate_limited"),
    M("gpu: a percent threshold needs every device full", "guardrun/platform/gpu.py",
      '            return any(d["total"] and d["used"] >= t.resolve(d["total"]) for d in devices)',
      '            return all(d["total"] and d["used"] >= t.resolve(d["total"]) for d in devices)',
      f"{UNIT}/platform/test_gpu_fake.py::test_gpu_level_percent_of_the_fullest_device"),
    M("windows: private bytes read as the working set", "guardrun/platform/windows.py",
      "_int(row.ParentProcessId), _int(row.WorkingSetSize))",
      "_int(row.ParentProcessId), _int(row.PrivatePageCount))",
      f"{UNIT}/platform/test_windows_fake.py"),
    M("linux_facts: the start time from the wrong stat field", "guardrun/platform/linux_facts.py",
      "        return int(rest[19]) if rest is not None else None",
      "        return int(rest[20]) if rest is not None else None",
      f"{UNIT}/platform/test_facts.py::test_the_linux_start_time_is_when_the_process_started"),
    M("sentinel: a recycled process group signalled", "guardrun/supervisor/sentinel_program.py",
      "    if pgid and not _group_is_ours(pgid, live):\n        pgid = 0",
      "    if pgid and not _group_is_ours(pgid, live):\n        pass",
      f"{E2E}/run/test_sentinel.py::test_the_sentinel_never_signals_a_recycled_process_group"),
    M("sentinel: its program imports typing", "guardrun/supervisor/sentinel_program.py",
      "TYPE_CHECKING = False  # typing's own costs an import of typing; mypy reads it as true",
      "from typing import TYPE_CHECKING",
      f"{UNIT}/supervisor/test_sentinel_imports.py::test_the_spawned_sentinel_imports_only_what_it_uses"),
    M("sentinel: the arm line read with json", "guardrun/supervisor/sentinel_program.py",
      "                    switch.arm(read_arm(line))",
      "                    switch.arm(__import__('json').loads(b'{}'))",
      f"{UNIT}/supervisor/test_sentinel_imports.py::test_the_spawned_sentinel_imports_only_what_it_uses"),
    M("sentinel: the platform facade imports its NamedTuples at once",
      "guardrun/platform/__init__.py",
      "TYPE_CHECKING = False\n",
      "TYPE_CHECKING = False\nfrom guardrun.platform.types import Probe  # noqa: E402, F401\n",
      f"{UNIT}/supervisor/test_sentinel_imports.py::test_the_spawned_sentinel_imports_only_what_it_uses"),
    M("child: death by signal N is N, not 128+N", "guardrun/supervisor/child.py",
      "        return 128 + os.WTERMSIG(status)",
      "        return os.WTERMSIG(status)",
      f"{E2E}/run/test_run_pty.py::test_death_by_signal_is_128_plus_n"),
    M("terminal: the caller's modes not restored", "guardrun/supervisor/terminal.py",
      "                termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)",
      "                pass",
      f"{E2E}/run/test_run_pty.py::test_terminal_restored_after_normal_exit"),
    M("tree: adopted orphans left out of the tree to stop", "guardrun/supervisor/tree.py",
      "        roots = ([self.child_pid] if child_alive else []) + self.adopted",
      "        roots = [self.child_pid] if child_alive else []",
      f"{E2E}/memory/test_run_memory.py::test_daemon_double_forked_is_cleaned_up_at_exit"),
    M("turns: budget and system reasons swapped", "guardrun/fleet/turns.py",
      "        return BUDGET if verdict.over else SYSTEM",
      "        return SYSTEM if verdict.over else BUDGET",
      f"{E2E}/fleet/test_machine_budget.py::test_the_lowest_priority_gives_way_and_the_others_keep_their_agents"),
    M("agents: the mtime slack added, not allowed", "guardrun/state/agents/base.py",
      "        if when is not None and when >= since - MTIME_SLACK:",
      "        if when is not None and when >= since + MTIME_SLACK:",
      f"{E2E}/agents/test_claude_files.py", f"{E2E}/agents/test_codex_files.py"),
    M("claude_argv: --continue kept on resume", "guardrun/state/agents/claude_argv.py",
      '_SESSION = {"-c", "--continue", "-r",',
      '_SESSION = {"-r",',
      f"{E2E}/agents/test_claude_files.py::test_resume_argv"),
    M("codex: a refused resume read from the wrong code", "guardrun/state/agents/codex.py",
      "        return exit_code == 1  # \"No saved session found with ID ...\"",
      "        return exit_code == 2  # \"No saved session found with ID ...\"",
      f"{E2E}/agents/test_codex_files.py::test_resume_refused_is_exit_1"),
    M("gemini: the user's --session-id kept on resume", "guardrun/state/agents/gemini.py",
      '_SESSION = {"-r", "--resume", "--session-id", "--session-file"}',
      '_SESSION = {"-r", "--resume", "--session-file"}',
      f"{UNIT}/state/test_agents_gemini.py::test_resume_argv"),
    M("aider: --no-restore-chat-history kept on resume", "guardrun/state/agents/aider.py",
      '        kept = [a for a in argv if a not in ("--no-restore-chat-history", _RESTORE)]',
      "        kept = [a for a in argv if a != _RESTORE]",
      f"{E2E}/agents/test_aider_files.py::test_aider_resume_argv_needs_no_session"),
    M("argv: the first argument after -- lost", "guardrun/state/agents/argv.py",
      '            out.extend(Token(a, "positional", "") for a in args[i:])',
      '            out.extend(Token(a, "positional", "") for a in args[i + 1 :])',
      f"{UNIT}/state/test_agents_argv.py::test_tokenize"),
    M("transcript: the prefilter inverted", "guardrun/state/transcript.py",
      "                if prefilter is not None and prefilter not in line:",
      "                if prefilter is not None and prefilter in line:",
      f"{UNIT}/state/test_transcript.py"),
    M("state resume: run in the current directory", "guardrun/commands/state.py",
      '    return list(argv), str(proc.get("cwd") or "."), resumed',
      '    return list(argv), ".", resumed',
      f"{E2E}/state/test_statecmd.py::test_resume_execs_in_the_saved_directory"),
    M("live command: restart sends SIGUSR2", "guardrun/commands/live.py",
      '        return run_signal(args, state_dir, cwd, _signal("SIGUSR1"))',
      '        return run_signal(args, state_dir, cwd, _signal("SIGUSR2"))',
      f"{E2E}/cli/test_livecmd.py::test_restart_and_capture_reach_the_right_run"),
    M("report_data: a restart's reason left out", "guardrun/commands/report_data.py",
      '    if kind in ("restart_requested", "restart_refused", "child_exited",',
      '    if kind in ("restart_refused", "child_exited",',
      f"{E2E}/cli/test_report.py::test_text_summary_and_since",
      f"{E2E}/cli/test_report.py::test_a_real_leaking_run_is_reported"),
    M("cli: an error's exit code replaced by 1", "guardrun/cli.py",
      "        return err.exit_code",
      "        return 1",
      f"{E2E}/cli/test_cli.py::test_bad_values_exit_2_with_one_line_naming_the_flag"),
    M("runner: restart.on_crash from the config ignored", "guardrun/runner.py",
      "        on_crash=r.on_crash,",
      "        on_crash=True,",
      f"{E2E}/run/test_run_lifecycle.py::test_no_crash_restart_when_disabled_by_config"),
    M("dirs: the state directory under the cache directory", "guardrun/dirs.py",
      '        return _xdg("XDG_STATE_HOME", "~/.local/state")',
      '        return _xdg("XDG_CACHE_HOME", "~/.cache")',
      f"{E2E}/memory/test_run_memory.py::test_a_small_parent_with_a_big_grandchild_counts"),
    M("redact: the user's extra patterns applied and thrown away", "guardrun/state/redact.py",
      "            text = _sub_bounded(extra, text)",
      "            _sub_bounded(extra, text)",
      f"{UNIT}/state/test_redact.py::test_extra_pattern_applied"),
    M("files: a transcript tail starts on the newline", "guardrun/state/files.py",
      "            return offset + i + 1",
      "            return offset + i",
      f"{E2E}/state/test_store.py::test_transcript_above_limit_keeps_tail_from_a_line_boundary"),
    M("flags: the fast path takes a choice the option does not allow", "guardrun/flags.py",
      "        if choices and value not in choices:\n            return None",
      "        if False:\n            return None",
      f"{UNIT}/test_flags.py"),
    M("portable: psutil's virtual size read as resident", "guardrun/platform/portable.py",
      "                    rss = info.rss",
      "                    rss = info.vms",
      f"{E2E}/memory/test_backends_agree.py::test_all_backends_agree"),
    M("report: --since keeps every event", "guardrun/commands/report.py",
      '        events=[e for e in data.events if e["t"] >= cut],',
      "        events=data.events,",
      f"{E2E}/cli/test_report.py::test_text_summary_and_since"),
    M("config init: an existing file overwritten", "guardrun/commands/config.py",
      "        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)",
      "        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)",
      f"{UNIT}/config/test_configcmd.py::test_init_writes_a_loadable_commented_file"),
    M("doctor: an agent that fails --version looks fine", "guardrun/commands/doctor.py",
      "    if done.returncode != 0:",
      "    if done.returncode < 0:",
      f"{E2E}/cli/test_doctor.py::test_agent_that_hangs_or_fails"),
    M("countdown: the cooldown not waited", "guardrun/supervisor/countdown.py",
      "            if left <= 0:\n                return True",
      "            if left <= seconds:\n                return True",
      f"{E2E}/run/test_run_lifecycle.py::test_first_restart_is_immediate_then_the_cooldown_doubles"),
    M("starts: Claude's versioned binary not recognised", "guardrun/state/agents/starts.py",
      "    return len(parts) == 3 and",
      "    return len(parts) == 2 and",
      f"{E2E}/agents/test_claude_files.py::test_detects_claude"),
    M("errors: an emergency stop exits 1", "guardrun/errors.py",
      "EXIT_EMERGENCY_STOP = 75",
      "EXIT_EMERGENCY_STOP = 1",
      f"{E2E}/run/test_run_lifecycle.py::test_emergency_with_restarts_exhausted_and_stop_exits_75"),
    M("platform: any process with a start time is the same", "guardrun/platform/__init__.py",
      '        return IS_LINUX and start_time(pid) == identity["linux_ticks"]',
      "        return IS_LINUX and start_time(pid) is not None",
      f"{UNIT}/platform/test_facts.py::test_a_start_time_is_an_identity"),
    # -- this round's work: trust (#26), footprint (#24), strangers' files (#27), steps (#29)
    M("trust: an untrusted file's hooks and command applied", "guardrun/config/trust.py",
      "    if key.path in TRUST:\n        return TRUST_WHY[TRUST[key.path]]",
      "    if key.path in ():\n        return TRUST_WHY[TRUST[key.path]]",
      f"{E2E}/cli/test_config_trust.py::test_hooks_and_command_run_only_once_trusted"),
    M("trust: the protection floor off", "guardrun/config/trust.py",
      '(direction == "min" and value < default)',
      '(direction == "min" and value < 0)',
      f"{UNIT}/config/test_trust.py::test_the_floor"),
    M("trust: a file of another user read", "guardrun/config/trust.py",
      "    if st.st_uid not in (os.geteuid(), 0):",
      "    if st.st_uid not in (os.geteuid(), 0, 65534):",
      f"{E2E}/cli/test_config_trust.py::test_a_file_another_user_put_in_a_shared_directory_is_skipped"),
    M("redact_check: a nested quantifier let through", "guardrun/state/redact_check.py",
      "            if hi > 1 and self._variable_inside(body):",
      "            if hi > 1 and False:",
      f"{UNIT}/state/test_redact_user.py::test_a_catastrophic_pattern_is_refused"),
    M("budget: a run that cannot restart chosen", "guardrun/fleet/budget.py",
      "if m.can_restart and not (m.passed or m.stopped)]",
      "if not (m.passed or m.stopped)]",
      f"{UNIT}/supervisor/test_budget.py::test_a_run_that_cannot_restart_is_never_chosen"),
    M("linux: swap never read", "guardrun/platform/linux.py",
      "        return swap_used(data) > 0",
      "        return False",
      f"{UNIT}/platform/test_swap.py::test_swap_is_read_only_while_the_machine_swaps"),
    M("untrusted: a FIFO opened blocking", "guardrun/untrusted.py",
      "    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, \"O_NOFOLLOW\", 0)",
      "    flags = os.O_RDONLY | getattr(os, \"O_NOFOLLOW\", 0)",
      f"{UNIT}/test_untrusted.py::test_a_fifo_is_refused_at_once_not_waited_on"),
    M("redact: sshpass -p kept", "guardrun/state/redact.py",
      '                or program == "sshpass"\n',
      '                or program == "sshpass-never"\n',
      f"{UNIT}/state/test_redact.py::test_argv_forms_that_carry_a_password_are_redacted"),
    M("attribution: overlapping steps each take the whole growth", "guardrun/state/attribution.py",
      "                    each = share / len(active)",
      "                    each = share",
      f"{UNIT}/state/test_attribution.py::test_overlapping_steps_share_the_growth"),
    M("termout: guardrun's terminal opened blocking", "guardrun/supervisor/termout.py",
      "                flags = os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | getattr(",
      "                flags = os.O_WRONLY | os.O_NOCTTY | getattr(",
      f"{E2E}/stall/test_terminal_stall.py::test_a_terminal_nobody_reads_does_not_stop_the_emergency_restart"),
    M("writer: its thread never started", "guardrun/observe/writer.py",
      "                    _thread.start_new_thread(self._run, ())",
      "                    pass",
      f"{UNIT}/test_writer.py::test_a_hung_write_never_makes_the_caller_wait_and_drops_are_said_once"),
    M("sentinel: the loop's samples not told", "guardrun/supervisor/sentinel.py",
      "        self._put(time.monotonic())",
      "        pass",
      # No beat reads as "paused": the switch never arms, so the stopped guardrun's tree
      # is never stopped (the never-acts test cannot see this one).
      f"{E2E}/stall/test_dead_mans_switch.py::test_a_stopped_guardrun_leaking_tree_is_stopped_by_the_sentinel"),

    M("termout: the pending buffer handed to write itself", "guardrun/supervisor/termout.py",
      "                n = write(fd, bytes(pend[:CHUNK]))",
      "                n = write(fd, pend)",
      f"{UNIT}/supervisor/test_relay.py::test_a_line_put_while_the_terminal_write_is_in_the_kernel_is_kept"),
    # Start-up (issue 25): the rules that keep the start path light.
    M("units: a NamedTuple field annotated with a string", "guardrun/units.py",
      "    value: float\n", '    value: "float"\n',
      f"{UNIT}/test_startup.py::test_no_module_makes_a_forward_ref_at_import"),
    M("config.load: trust imported at every level of the walk up", "guardrun/config/load.py",
      "        if os.path.lexists(candidate):", "        if True:",
      f"{UNIT}/test_startup.py::test_the_start_path_imports_none_of_the_heavy_modules"),
    M("cli: a run's end leaves without flushing stdout", "guardrun/cli.py",
      "    for stream in (sys.stdout, sys.stderr):", "    for stream in ():",
      f"{UNIT}/test_startup.py::test_the_console_entry_gives_the_code_and_the_output_whole"),
    M("retention: one run past state.keep left", "guardrun/state/retention.py",
      "    if len({run for run, _ in ours}) <= keep and (",
      "    if len({run for run, _ in ours}) <= keep + 1 and (",
      f"{E2E}/state/test_prune_runs.py::test_a_start_looks_no_further_than_the_names_when_nothing_can_be_due"),
    M("watch: the sentinel started for a child already gone", "guardrun/supervisor/watch.py",
      "                if child.status is None and not p.signals.pending and clock() < until:",
      "                if True:",
      f"{E2E}/run/test_sentinel.py::test_the_sentinel_starts_when_the_loop_first_waits_and_not_for_a_command_gone_by_then"),
    M("history: a child caught in its exec named once, with no command line",
      "guardrun/observe/history.py",
      "                if known is None or facts.get(\"cmd\"):",
      "                if known is None:",
      f"{UNIT}/test_history.py::test_a_process_caught_in_its_exec_is_named_again_while_it_runs"),
    M("history: the first write appends to a file already there", "guardrun/observe/history.py",
      "            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC",
      "            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC",
      f"{UNIT}/test_history.py::test_the_first_write_makes_the_file_private_and_a_taken_name_is_replaced"),
]
# fmt: on


if __name__ == "__main__":
    sys.exit(main())
