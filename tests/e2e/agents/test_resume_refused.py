"""A resume the agent refuses at once starts a new conversation (supervisor/run.py), seen
end to end with a stand-in ``claude`` (a real program named claude, so guardrun takes it
for Claude Code) that keeps a sessions file as the real one does and refuses every
``--resume`` with exit 1, as Claude Code does for "No conversation found"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import guardrun

FAKE_CLAUDE = """#!{python}
import json, os, sys, time, uuid
log = {log!r}
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if "--resume" in sys.argv:
    print("No conversation found with session ID: " + sys.argv[-1], file=sys.stderr)
    sys.exit(1)
with open(log) as f:
    fresh = sum(1 for line in f if "--resume" not in line)
if fresh > {crashes}:
    sys.exit(0)  # the last new conversation: ends normally
config, cwd = os.environ["CLAUDE_CONFIG_DIR"], os.getcwd()
sid = str(uuid.uuid4())
project = os.path.join(config, "projects", "".join(c if c.isascii() and c.isalnum() else "-"
                                                   for c in cwd))
os.makedirs(project, exist_ok=True)
with open(os.path.join(project, sid + ".jsonl"), "w") as f:
    f.write(json.dumps({{"type": "user", "cwd": cwd, "sessionId": sid,
                        "message": {{"role": "user", "content": "hi"}}}}) + "\\n")
os.makedirs(os.path.join(config, "sessions"), exist_ok=True)
with open(os.path.join(config, "sessions", f"{{os.getpid()}}.json"), "w") as f:
    json.dump({{"pid": os.getpid(), "sessionId": sid, "cwd": cwd,
               "startedAt": int(time.time() * 1000)}}, f)
time.sleep(2.5)  # past min_uptime: a crash, restarted
sys.exit(3)
"""


def run_fake(
    tmp_path: Path, crashes: int, *args: str
) -> tuple[list[list[str]], subprocess.CompletedProcess[str]]:
    """guardrun over the stand-in claude whose first ``crashes`` conversations crash
    (each resume refused); the argv of each start, and guardrun's result."""
    log = tmp_path / "argv.jsonl"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "claude"
    fake.write_text(FAKE_CLAUDE.format(python=sys.executable, log=str(log), crashes=crashes))
    fake.chmod(0o755)
    project = tmp_path / "proj"
    project.mkdir()
    # TMPDIR: guardrun's crash report, if it writes one, stays in the test's directory.
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config"),
           "TMPDIR": str(tmp_path)}  # fmt: skip
    r = subprocess.run(
        guardrun("--no-pty", "--cooldown", "100ms", *args, "--", str(fake)),
        cwd=project, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    starts = [json.loads(line) for line in log.read_text().splitlines()]
    return starts, r


def test_a_refused_resume_starts_a_new_conversation(tmp_path: Path) -> None:
    starts, r = run_fake(tmp_path, crashes=1)
    assert len(starts) == 3 and starts[1][0] == "--resume" and starts[2] == [], starts
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "could not resume its conversation" in r.stderr
    assert r.returncode == 0, r.stderr


def test_the_new_conversation_after_a_refused_resume_is_not_counted(tmp_path: Path) -> None:
    """README and docs/agents.md: a refused resume's new conversation does not count
    toward --max-restarts. Two crashes, each resume refused: under --max-restarts 2 both
    crashes are restarted (had the new conversations counted, the second crash would
    find the breaker open after 2 restarts and guardrun would exit with its code 3)."""
    starts, r = run_fake(tmp_path, 2, "--max-restarts", "2")
    assert [s[:1] for s in starts] == [[], ["--resume"], [], ["--resume"], []], (starts, r.stderr)
    assert r.returncode == 0, r.stderr
