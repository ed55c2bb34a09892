"""Issue 4 end to end: crash vs clean exit, OOM, monitor-only and emergency stop,
events, warning capture, hooks, failing probes and captures, live runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import Guarded, child, guardrun, is_alive, levels, starts, wait_for

FAST = ["--cooldown", "100ms", "--grace", "2s", "--interval", "200ms"]


def state_root() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "guardrun"


def events() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted(state_root().glob("projects/*/runs/*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def kinds(evs: list[dict[str, object]]) -> list[object]:
    return [e["event"] for e in evs]


def states(cwd: Path) -> list[dict[str, object]]:
    r = subprocess.run(
        guardrun("state", "list", "--json"), cwd=cwd, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]  # JSON lines


def run(args: list[str], cwd: Path, timeout: float = 40) -> subprocess.CompletedProcess[str]:
    return subprocess.run(guardrun(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_crash_is_restarted_until_exhausted_then_exits_with_its_code(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    r = run(
        [
            *FAST,
            "--no-pty",
            "--max-restarts",
            "2",
            "--",
            *child("crash.py", "--starts", str(log), "--code", "3"),
        ],
        tmp_path,
    )
    assert r.returncode == 3, r.stderr
    assert len(starts(log)) == 3  # the first run and 2 restarts
    assert "exited with code 3" in r.stderr
    assert "not restarting" in r.stderr
    evs = events()
    assert kinds(evs).count("restarted") == 2
    assert [e["reason"] for e in evs if e["event"] == "child_exited"] == ["crash"] * 3
    assert any(s["reason"] == "crash" for s in states(tmp_path))


def test_clean_exit_and_user_interrupt_are_not_restarted(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    r = run(
        [*FAST, "--no-pty", "--", *child("crash.py", "--starts", str(log), "--code", "0")], tmp_path
    )
    assert r.returncode == 0 and len(starts(log)) == 1
    r = run(
        [
            *FAST,
            "--no-pty",
            "--",
            *child("crash.py", "--starts", str(log), "--signal", str(int(signal.SIGINT))),
        ],
        tmp_path,
    )
    assert r.returncode == 130 and len(starts(log)) == 2


def test_a_crash_is_saved_even_when_the_next_child_ends_at_once(tmp_path: Path) -> None:
    """The crash's state is begun only once the new child is up (its first output, or
    100 ms: the capture would slow that start, bench_restart.py); a new child that is gone
    before then must not take the crash's state with it."""
    marker = tmp_path / "crashed-once"
    script = f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; sleep 2.3; exit 1"
    r = run([*FAST, "--no-pty", "--", "sh", "-c", script], tmp_path)
    assert r.returncode == 0, r.stderr
    evs = kinds(events())
    assert evs.count("restarted") == 1 and evs.count("state_captured") == 1
    assert evs.index("state_captured") > evs.index("restarted"), evs
    assert [s["reason"] for s in states(tmp_path)] == ["crash"]


def test_on_restart_after_a_crash_names_the_crashs_state(tmp_path: Path) -> None:
    """The crash's state is saved once the new child is up; on_restart waits for it, so
    its GUARDRUN_STATE_FILE is that state, not an older one."""
    out = tmp_path / "hook-env.json"
    dump = (
        "import json, os; json.dump({k: v for k, v in os.environ.items() "
        f"if k.startswith('GUARDRUN_')}}, open({str(out)!r}, 'w'))"
    )
    (tmp_path / ".guardrun.yaml").write_text(
        f"hooks:\n  on_restart: [{sys.executable!r}, '-c', {dump!r}]\n"
    )
    marker = tmp_path / "crashed-once"
    script = f"if [ -e {marker} ]; then sleep 3; exit 0; fi; touch {marker}; sleep 2.3; exit 1"
    # --config: the user's own file, so its hooks run (a found .guardrun.yaml's would
    # wait for `guardrun config trust`).
    r = run([*FAST, "--config", ".guardrun.yaml", "--no-pty", "--", "sh", "-c", script], tmp_path)
    assert r.returncode == 0, r.stderr
    env = json.loads(out.read_text())
    assert "-crash-" in Path(env["GUARDRUN_STATE_FILE"]).name
    assert Path(env["GUARDRUN_STATE_FILE"]).exists()


def test_no_crash_restart_when_disabled_by_config(tmp_path: Path) -> None:
    (tmp_path / ".guardrun.yaml").write_text("restart:\n  on_crash: false\n")
    log = tmp_path / "starts"
    r = run(
        [*FAST, "--no-pty", "--", *child("crash.py", "--starts", str(log), "--code", "9")], tmp_path
    )
    assert r.returncode == 9 and len(starts(log)) == 1


def test_runtime_out_of_memory_message_is_named_oom(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    cmd = [
        *FAST,
        "--max-restarts",
        "1",
        "--",
        *child("crash.py", "--starts", str(log), "--oom-message"),
    ]
    # PTY mode: the runtime's last output passes through guardrun, which reads it.
    import pexpect

    full = guardrun(*cmd)
    p = pexpect.spawn(full[0], full[1:], cwd=str(tmp_path), timeout=30)
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 128 + signal.SIGABRT
    exits = [e for e in events() if e["event"] == "child_exited"]
    assert [e["reason"] for e in exits] == ["oom", "oom"]
    assert any(s["reason"] == "oom" for s in states(tmp_path))


def test_kernel_oom_kill_in_a_cgroup_is_named_oom(
    tmp_path: Path,
    cgroup_dir: tuple[int, Path],  # noqa: F811
) -> None:
    version, d = cgroup_dir
    log = tmp_path / "starts"
    cmd = guardrun(
        *FAST,
        "--no-pty",
        "--max-restarts",
        "0",
        "--emergency",
        "10GB",
        "--critical",
        "9GB",
        "--warning",
        "8GB",
        "--",
        *child("crash.py", "--starts", str(log), "--hog", "200"),
    )
    procs = d / "cgroup.procs"

    def enter() -> None:
        procs.write_text(str(os.getpid()))

    r = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, preexec_fn=enter
    )
    assert r.returncode == 128 + signal.SIGKILL, r.stderr
    exits = [e for e in events() if e["event"] == "child_exited"]
    assert exits and exits[-1]["reason"] == "oom"
    assert "out of memory" in r.stderr


def test_emergency_with_restarts_exhausted_and_stop_exits_75(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    r = run(
        [
            *FAST,
            "--no-pty",
            "--max-restarts",
            "0",
            "--on-exhausted",
            "stop",
            "--warning",
            "30MB",
            "--critical",
            "40MB",
            "--emergency",
            "60MB",
            "--",
            *child("leak.py", "--starts", str(log), "--to", "120"),
        ],
        tmp_path,
    )
    assert r.returncode == 75, r.stderr
    assert "guardrun state resume" in r.stderr
    assert not is_alive(starts(log)[0])
    assert any(s["reason"] == "emergency" for s in states(tmp_path))
    assert "degraded" in kinds(events())


def test_warning_captures_once_and_events_record_transitions(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    leak = child("leak.py", "--starts", str(log), "--to", "60")
    with Guarded(*FAST, "--no-pty", *levels("30MB", "5GB", "6GB"), "--", *leak, cwd=tmp_path) as g:
        wait_for(lambda: "state_captured" in kinds(events()), timeout=15)
        time.sleep(1.0)
        g.stop()
    evs = events()
    reasons = [s["reason"] for s in states(tmp_path)]
    assert reasons.count("warning") == 1
    assert "stop" in reasons
    assert kinds(evs)[0] == "started"
    changed = [e for e in evs if e["event"] == "level_changed"]
    assert changed and changed[0]["level"] == "warning"
    assert all(e["run_id"] == evs[0]["run_id"] and "time" in e for e in evs)
    assert kinds(evs)[-1] == "stopped"


def test_hooks_run_with_env_and_a_hung_hook_does_not_delay_the_restart(tmp_path: Path) -> None:
    out = tmp_path / "hook-env.json"
    dump = (
        "import json, os, sys; json.dump({k: v for k, v in os.environ.items() "
        f"if k.startswith('GUARDRUN_')}}, open({str(out)!r}, 'w'))"
    )
    (tmp_path / ".guardrun.yaml").write_text(
        "hooks:\n"
        f"  on_critical: [{sys.executable!r}, '-c', 'import time; time.sleep(60)']\n"
        f"  on_restart: [{sys.executable!r}, '-c', {dump!r}]\n"
    )
    log = tmp_path / "starts"
    leak = child("leak.py", "--starts", str(log), "--to", "80")
    with Guarded(*FAST, "--config", ".guardrun.yaml", "--no-pty",
                 *levels("30MB", "40MB", "60MB"), "--max-restarts", "1",
                 "--", *leak, cwd=tmp_path) as g:  # fmt: skip
        t0 = time.monotonic()
        wait_for(lambda: len(starts(log)) >= 2, timeout=20)
        assert time.monotonic() - t0 < 8, "the hung on_critical hook delayed the restart"
        env = wait_for(
            lambda: out.exists() and out.stat().st_size and json.loads(out.read_text()), timeout=10
        )
        g.stop(timeout=20)
    assert isinstance(env, dict)
    assert env["GUARDRUN_EVENT"] == "on_restart"
    assert env["GUARDRUN_PID"] == str(g.pid)
    for key in (
        "GUARDRUN_RUN_ID",
        "GUARDRUN_CHILD_PID",
        "GUARDRUN_MEMORY_BYTES",
        "GUARDRUN_LEVEL",
        "GUARDRUN_STATE_FILE",
    ):
        assert key in env
    assert Path(env["GUARDRUN_STATE_FILE"]).exists()


def test_no_working_probe_keeps_the_child_running_unwatched(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    r = subprocess.run(
        guardrun("--no-pty", "--probe", "ps", "--", sys.executable, "-c", "print('child ran')"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "child ran" in r.stdout
    assert "cannot be watched" in r.stderr


def test_capture_failure_still_restarts(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    m = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(full)],
        capture_output=True,
        text=True,
    )
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {m.stderr.strip()}")
    try:
        log = tmp_path / "starts"
        leak = child("leak.py", "--starts", str(log), "--to", "1")
        with Guarded(*FAST, "--no-pty", "--state-dir", str(full), "--", *leak, cwd=tmp_path) as g:
            wait_for(lambda: starts(log), timeout=10)
            # Fill the state directory's disk to the last block.
            try:
                with open(full / "filler", "wb") as f:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
            except OSError:
                pass  # ENOSPC: full, as intended
            os.kill(g.pid, signal.SIGUSR1)
            wait_for(lambda: len(starts(log)) == 2, timeout=15)
            err = g.stop()
        assert "could not save state" in err
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)


def test_status_sees_two_runs_and_restart_reaches_the_right_one(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()

    def leak(d: Path) -> list[str]:
        return child("leak.py", "--starts", str(d / "starts"), "--to", "1")

    with (
        Guarded(*FAST, "--no-pty", "--", *leak(a), cwd=a) as run_a,
        Guarded(*FAST, "--no-pty", "--", *leak(b), cwd=b) as run_b,
    ):
        procs = {a: run_a, b: run_b}
        for d in (a, b):
            wait_for(lambda d=d: starts(d / "starts"), timeout=10)
        runs = wait_for(
            lambda: (
                (x := json.loads(run(["status", "--json"], tmp_path).stdout)) and len(x) == 2 and x
            ),
            timeout=10,
        )
        assert isinstance(runs, list)
        assert {run_["pid"] for run_ in runs} == {procs[a].pid, procs[b].pid}
        r = run(["restart"], b)  # no RUN: the one run in this directory
        assert r.returncode == 0, r.stderr
        wait_for(lambda: len(starts(b / "starts")) == 2, timeout=10)
        r = run(["capture", str(procs[a].pid)], tmp_path)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: any(s["reason"] == "manual" for s in states(a)), timeout=10)
        assert len(starts(a / "starts")) == 1
        assert not any(s["reason"] == "manual" for s in states(b))
        run_a.stop()
        run_b.stop()


def test_percentages_are_of_the_cgroup_limit(
    tmp_path: Path,
    cgroup_dir: tuple[int, Path],  # noqa: F811
) -> None:
    version, d = cgroup_dir  # a real memory cgroup with a 64 MiB limit
    procs = d / "cgroup.procs"

    def enter() -> None:
        procs.write_text(str(os.getpid()))

    r = subprocess.run(
        guardrun("-v", "--no-pty", "--warning", "50%", "--critical", "60%", "--emergency", "70%",
                 "--", sys.executable, "-c", "pass"),
        cwd=tmp_path, capture_output=True, text=True, timeout=30, preexec_fn=enter,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    # 50% of 64 MiB (67.1 MB) is 33.6 MB, not half of this machine's RAM.
    assert "warning 33.6 MB" in r.stderr and f"cgroup v{version}" in r.stderr


def test_secrets_in_argv_never_reach_the_event_log_or_states(tmp_path: Path) -> None:
    secret = "sk-ant-api03-" + "Zq7" * 12 + "AA"
    plain = "hunter2plainvalue"  # no telltale shape: only its flag says it is a secret
    argv = ["--no-pty", "--", sys.executable, "-c", "import sys", "--api-key", secret]
    r = run([*argv, "--password", plain], tmp_path)
    assert r.returncode == 0, r.stderr
    started = [e for e in events() if e["event"] == "started"]
    assert started and "[REDACTED" in json.dumps(started[0]["argv"])
    assert plain not in json.dumps(started[0]["argv"])
    for path in state_root().rglob("*"):
        if path.is_file() and not path.name.endswith(".gz"):
            text = path.read_text(errors="replace")
            assert secret not in text and plain not in text, path


def test_unwatched_recovers_when_a_probe_works_again(tmp_path: Path) -> None:
    """No backend works at first (``--probe ps`` with no ps on PATH); once ps appears,
    the next retry (every 10 polls) brings back normal with a ``recovered`` event, and
    memory is watched again: the leak that follows is restarted at emergency."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {**os.environ, "PATH": str(bin_dir)}
    log = tmp_path / "starts"
    leak = child("leak.py", "--starts", str(log), "--to", "200", "--rate", "50")
    with Guarded(
        *FAST, "--no-pty", "--probe", "ps", *levels("40MB", "60MB", "90MB"), "--", *leak,
        cwd=tmp_path, env=env,
    ) as g:  # fmt: skip
        wait_for(lambda: "unwatched" in kinds_modes(), timeout=10)
        os.symlink(shutil.which("ps") or "/bin/ps", bin_dir / "ps")
        wait_for(lambda: "recovered" in kinds(events()), timeout=10)
        wait_for(lambda: len(starts(log)) >= 2, timeout=20)  # restarted: watched again
        g.stop()
    evs = events()
    degraded = next(e for e in evs if e["event"] == "degraded")
    recovered = next(e for e in evs if e["event"] == "recovered")
    assert degraded["mode"] == "unwatched" and recovered["previous"] == "unwatched"
    assert recovered["mode"] == "normal" and "probe ps" in str(recovered["reason"])
    assert "emergency" in [e.get("level") for e in evs if e["event"] == "level_changed"]


def kinds_modes() -> list[object]:
    return [e.get("mode") for e in events()]


def test_a_refused_restart_does_not_enter_the_level_again(tmp_path: Path) -> None:
    """After restart protection refuses, watching goes on from the level it was at: the
    level change, the bell, the notification and on_critical happen once, not again."""
    log = tmp_path / "starts"
    leak = child("leak.py", "--starts", str(log), "--to", "70")
    with Guarded(
        *FAST, "--no-pty", "--max-restarts", "0", *levels("30MB", "50MB", "900MB"),
        "--grace", "1s", "--", *leak, cwd=tmp_path,
    ) as g:  # fmt: skip
        wait_for(lambda: kinds(events()).count("restart_refused") >= 3, timeout=30)
        g.stop()
    changes = [e for e in events() if e["event"] == "level_changed" and "source" not in e]
    assert [e["level"] for e in changes] == ["critical"], changes  # once, after 3 refusals
    assert kinds(events()).count("degraded") == 1


def _start_times(log: Path, want: int, timeout: float) -> list[float]:
    """When each start appeared in ``log`` (polled every 20 ms)."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while len(seen) < want and time.monotonic() < deadline:
        n = len(starts(log))
        while len(seen) < n:
            seen.append(time.monotonic())
        time.sleep(0.02)
    return seen


@pytest.mark.slow
def test_first_restart_is_immediate_then_the_cooldown_doubles(tmp_path: Path) -> None:
    """Issue 17: no cooldown before the first restart after a stable period; the second
    within the window waits the cooldown, the third twice that; the limit is unchanged."""
    log = tmp_path / "starts"
    crash = child("crash.py", "--starts", str(log), "--code", "3", "--after", "2.3")
    with Guarded(
        "--no-pty", "--cooldown", "1s", "--grace", "1s", "--interval", "200ms",
        "--max-restarts", "3", "--", *crash, cwd=tmp_path,
    ) as g:  # fmt: skip
        times = _start_times(log, 4, timeout=40)
        g.proc.communicate(timeout=30)
    assert g.returncode == 3  # the 4th crash is refused: the window's limit is unchanged
    assert len(times) == 4 and len(starts(log)) == 4
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    run = gaps[0]  # 2.3 s of running, nothing waited
    assert run < 2.3 + 0.8, gaps
    assert 0.6 < gaps[1] - run < 1.6, gaps  # then the cooldown (1 s)
    assert 1.6 < gaps[2] - run < 2.6, gaps  # then twice that (2 s)


def test_a_restart_the_user_asks_for_is_never_delayed(tmp_path: Path) -> None:
    """SIGUSR1 (and `guardrun restart`) restarts at once, even where a memory restart
    would wait the cooldown, and still counts toward the window's limit."""
    log = tmp_path / "starts"
    leak = child("leak.py", "--starts", str(log), "--to", "1")
    with Guarded(
        "--no-pty", "--cooldown", "10s", "--grace", "1s", "--max-restarts", "2", "--",
        *leak, cwd=tmp_path,
    ) as g:  # fmt: skip
        wait_for(lambda: len(starts(log)) == 1, timeout=10)
        for n in (2, 3):
            asked = time.monotonic()
            g.proc.send_signal(signal.SIGUSR1)
            wait_for(lambda n=n: len(starts(log)) == n, timeout=5)  # not the 10 s cooldown
            assert time.monotonic() - asked < 4.0
            time.sleep(0.5)
        g.proc.send_signal(signal.SIGUSR1)  # a third within the window: refused
        wait_for(lambda: "restart_refused" in kinds(events()), timeout=10)
        assert len(starts(log)) == 3
        g.stop()


def test_secrets_never_reach_the_log_file_or_verbose_lines(tmp_path: Path) -> None:
    """-v and --log-file print the command guardrun watches: scrubbed like the event log,
    and the log file is created 0600."""
    log = tmp_path / "guardrun.log"
    secret = "sk-ant-api03-" + "Q" * 40
    r = run(
        ["--no-pty", "-v", "--log-file", str(log), "--", sys.executable, "-c", "pass",
         "--api-key", secret, "--password", "hunter2hunter2"],
        tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = log.read_text()
    assert "watching" in text and "[REDACTED:" in text
    for shown in (text, r.stderr):
        assert secret not in shown and "hunter2hunter2" not in shown
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_signals_guardrun_has_no_use_for_reach_the_child(tmp_path: Path) -> None:
    """Issue 15: SIGQUIT, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGPWR, SIGURG and SIGCONT
    sent to guardrun reach the child (guardrun does not die of them, nor swallow them)."""
    got = tmp_path / "got"
    names = ["SIGQUIT", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGPWR", "SIGURG",
             "SIGCONT"]  # fmt: skip
    with Guarded("--no-pty", "--", *child("signal_printer.py", str(got)), cwd=tmp_path) as g:
        assert g.proc.stdout is not None and g.proc.stdout.readline() == "READY\n"
        for name in names:
            g.proc.send_signal(getattr(signal, name))
            wait_for(lambda name=name: got.exists() and name in got.read_text().split(), timeout=5)
        assert g.proc.poll() is None  # guardrun is still there
        err = g.stop()
    assert got.read_text().split() == names, err
    assert g.returncode == 0


def test_on_exit_hook_runs_when_guardrun_ends(tmp_path: Path) -> None:
    """on_exit is asked for just before the hooks close: it must run, not be killed at
    birth by that close."""
    out = tmp_path / "on_exit"
    cfg = tmp_path / ".guardrun.yaml"
    cfg.write_text(f"hooks:\n  on_exit: [{sys.executable!r}, -c, \"open({str(out)!r}, 'w')\"]\n")
    r = run(["--config", str(cfg), "--no-pty", "--", sys.executable, "-c", "pass"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert out.exists()


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--no-pty", "--", ""], 127, "command name is empty"),
        (["--interval", "1ms", "--no-pty", "--", "true"], 2, "--interval"),
    ],
)
def test_small_faults_are_clear_errors(
    tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    r = run(args, tmp_path)
    assert r.returncode == code, r.stderr
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("store", ["full", "read-only"])
def test_emergency_stop_without_a_saved_state_says_so(
    tmp_path: Path, request: pytest.FixtureRequest, store: str
) -> None:
    """A full disk or a read-only state dir: the state cannot be written, and guardrun
    says so with the path and the system's reason, instead of offering `guardrun state
    resume`, which would go back to an older state than this session."""
    state_dir = request.getfixturevalue("full_fs" if store == "full" else "read_only_dir")
    log = tmp_path / "starts"
    r = run(
        [*FAST, "--no-pty", "--state-dir", str(state_dir), "--max-restarts", "0",
         "--on-exhausted", "stop", *levels("30MB", "40MB", "60MB"), "--",
         *child("leak.py", "--starts", str(log), "--to", "120")],
        tmp_path,
    )  # fmt: skip
    assert r.returncode == 75, r.stderr
    assert not is_alive(starts(log)[0])
    lines = r.stderr.splitlines()
    stopped = [line for line in lines if "at emergency memory after restarts" in line]
    assert len(stopped) == 1 and "state saved" not in stopped[0], r.stderr
    (why,) = [line for line in lines if line.startswith("guardrun: the state could not be saved")]
    reason = "No space left on device" if store == "full" else "Read-only file system"
    assert str(state_dir) in why and why.endswith(reason), why
    assert "state resume" not in r.stderr
