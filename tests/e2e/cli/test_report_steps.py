"""Growth by agent step, end to end: a stand-in for Claude Code (tests/children/
stepping_claude.py, a real process writing Claude Code's files) grows during its ``Bash``
call and not during its ``Read`` call; guardrun runs it, and the text report, the HTML page,
the saved state and ``--for-issue`` credit the right one. ``--for-issue`` holds no secret of
the redaction corpus and no transcript text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import CHILDREN, ROOT
from support.secrets import corpus

from guardrun.state.project import project_root
from guardrun.state.store import Store

MB = 1_000_000
SESSION = "0d6f3a52-54b1-4f3e-9b4e-8a2b7c1d9e01"
SECRET = "ghp_" + "Q7rT2mX9kL4pV8nB3cZ6wY1sD5fG0hJ2aE4u"  # shaped as a GitHub token


def guardrun(project: Path, state: Path, *args: str, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "guardrun", "--no-config", "--state-dir", str(state), *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stepped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """One real run of the stand-in agent (module-scoped: it takes ~12 s)."""
    tmp = tmp_path_factory.mktemp("stepped")
    project, state, config, bin_dir = (tmp / n for n in ("proj", "state", "claude", "bin"))
    for d in (project, bin_dir):
        d.mkdir()
    claude = bin_dir / "claude"  # guardrun knows Claude Code by its command's name
    claude.write_text(f'#!/bin/sh\nexec {sys.executable} {CHILDREN / "stepping_claude.py"} "$@"\n')
    claude.chmod(0o755)
    env = {"CLAUDE_CONFIG_DIR": str(config), "STEP_SESSION": SESSION, "STEP_SECRET": SECRET,
           "STEP_GROW": "80"}  # fmt: skip
    run = guardrun(project, state, "--no-pty", "--interval", "200ms", "--", str(claude), env=env)
    assert run.returncode == 0, run.stderr
    return project, state, env


def kinds(text: str) -> dict[str, float]:
    """``Bash  1 call  +74.7 MB ...`` lines as {name: MB}."""
    out = {}
    for m in re.finditer(r"^ {4}(\S[^\n]*?)\s+\d+ \w+\s+([+-][\d.]+) (B|KB|MB|GB)", text, re.M):
        scale = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}[m[3]]
        out[m[1].strip()] = float(m[2]) * scale
    return out


def test_the_text_report_credits_the_growing_tool(
    stepped: tuple[Path, Path, dict[str, str]],
) -> None:
    project, state, env = stepped
    done = guardrun(project, state, "report", "--text", env=env)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Growth by agent step:" in text and "correlation, not cause" in text
    rows = kinds(text)
    assert rows["Bash"] > 55, text  # 80 MB allocated during the call
    assert abs(rows["Read"]) < 8, text  # as long, nothing allocated
    assert "idle" in rows and "model turn" in rows
    top = text.split("Steps the tree grew most during:")[1].splitlines()[1]
    assert "Bash" in top, text
    assert SECRET not in text and "please look" not in text


def test_the_saved_state_holds_the_top_steps(stepped: tuple[Path, Path, dict[str, str]]) -> None:
    project, state, env = stepped
    saved = Store(state, project_root(project)).load("latest")
    att = saved["memory"]["attribution"]
    assert att["caveat"].startswith("correlation")
    assert att["top"][0]["name"] == "Bash" and att["top"][0]["growth_bytes"] > 40 * MB
    read = next(r for r in att["by_kind"] if r["name"] == "Read")
    assert abs(read["growth_bytes"]) < 8 * MB


def test_the_html_draws_the_steps(
    stepped: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    project, state, env = stepped
    out = tmp_path / "r.html"
    assert guardrun(project, state, "report", "-o", str(out), env=env).returncode == 0
    page = out.read_text()
    lane = page[page.index('<svg class="lane"') :]
    lane = lane[: lane.index("</svg>")]
    bars = re.findall(r'<rect class="step" data-kind="([^"]+)"[^>]*><title>([^<]*)</title>', lane)
    assert any(k == "tool" and t.startswith("Bash") and "memory +" in t for k, t in bars), bars
    assert any(k == "tool" and t.startswith("Read") for k, t in bars), bars
    assert '<table class="steps">' in page and "Growth by agent step" in page
    assert SECRET not in page and "please look" not in page


def test_for_issue_holds_no_secret_and_no_transcript_text(
    stepped: tuple[Path, Path, dict[str, str]],
) -> None:
    project, state, env = stepped
    done = guardrun(project, state, "report", "--for-issue", env=env)
    assert done.returncode == 0, done.stderr
    md = done.stdout
    for part in (
        "guardrun",
        "claude 2.1.197",
        "RAM",
        "| Bash |",
        "| Read |",
        "growth idle",
        "growth working",
        "Memory of the tree",
        "Processes of the tree at the peak",
    ):
        assert part in md, (part, md)  # fmt: skip
    for leak in (SECRET, "please look", "grew, secret", "cat ", "done:", "grow --token",
                 str(project), SESSION):  # fmt: skip
        assert leak not in md, leak


def write_run(runs: Path, rid: str, start: float, strings: list[str]) -> None:
    """A run whose every free-text field (command, cwd, process names and command lines,
    event reasons) holds a string of the corpus."""
    runs.mkdir(parents=True, exist_ok=True)
    meta = {"k": "meta", "run_id": rid, "name": strings[0], "agent": "claude", "metric": "rss",
            "ram_total": 8_000 * MB, "argv": strings, "cwd": strings[1]}  # fmt: skip
    procs = [{"k": "proc", "pid": 100 + i, "name": s[:60], "cmd": s} for i, s in enumerate(strings)]
    points = [{"t": start + i, "b": (100 + i) * MB, "lv": "normal",
               "p": [[100 + (i % len(strings)), 50 * MB], [100 + (i + 1) % len(strings), MB]]}
              for i in range(120)]  # fmt: skip
    lines = [meta, *procs, *points]
    (runs / f"{rid}.samples.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + 60))
    events = [{"time": stamp, "run_id": rid, "event": "restart_requested", "reason": s,
               "why": s, "memory_bytes": 160 * MB, "session_id": SESSION}
              for s in strings]  # fmt: skip
    (runs / f"{rid}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_for_issue_passes_the_secret_corpus_through_redaction(tmp_path: Path) -> None:
    cases = corpus()
    strings = [" ".join(r) if isinstance(r, list) else str(r) for _, r, _, _ in cases]
    project, state, config = tmp_path / "proj", tmp_path / "state", tmp_path / "claude"
    project.mkdir()
    start = time.time() - 3600
    write_run(Store(state, project_root(project)).runs_dir, "20250131T080000Z-c0ffee", start,
              strings)  # fmt: skip
    # The session's transcript: tools named by secrets, and every corpus text as a prompt.
    transcript = config / "projects" / "-x" / f"{SESSION}.jsonl"
    transcript.parent.mkdir(parents=True)
    with transcript.open("w") as f:
        for i, s in enumerate(strings):
            t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + i)) + ".000Z"
            f.write(json.dumps({"type": "user", "timestamp": t, "message": {"role": "user",
                    "content": s}}) + "\n")  # fmt: skip
            use = {"type": "tool_use", "id": f"t{i}", "name": s[:80], "input": {"cmd": s}}
            f.write(json.dumps({"type": "assistant", "timestamp": t, "version": "2.1.197",
                    "message": {"role": "assistant", "content": [use]}}) + "\n")  # fmt: skip
    done = guardrun(project, state, "report", "--for-issue",
                    env={"CLAUDE_CONFIG_DIR": str(config)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    md = done.stdout
    assert "Growth by agent step" in md and "restart requested" in md
    assert "| sub-agent |" not in md
    for ctx, _, secret, _ in cases:
        assert secret not in md, f"{ctx}: {secret} in\n{md}"


@pytest.mark.parametrize(
    ("agent", "why"),
    [("aider", "aider writes no times in its files"),
     ("claude", "no transcript of this run was found")],
)  # fmt: skip
def test_nothing_is_claimed_without_timed_steps(tmp_path: Path, agent: str, why: str) -> None:
    project, state = tmp_path / "proj", tmp_path / "state"
    project.mkdir()
    runs = Store(state, project_root(project)).runs_dir
    write_run(runs, "20250131T080000Z-0a1b2c", time.time() - 600, ["aider --model x", "/p"])
    meta = runs / "20250131T080000Z-0a1b2c.samples.ndjson"
    meta.write_text(meta.read_text().replace('"agent": "claude"', f'"agent": "{agent}"'))
    env = {"CLAUDE_CONFIG_DIR": str(tmp_path / "none")}
    text = guardrun(project, state, "report", "--text", env=env).stdout
    assert f"Growth by agent step:\n    none: {why}" in text, text
    md = guardrun(project, state, "report", "--for-issue", env=env).stdout
    assert f"(none: {why}" in md and "growth idle" not in md


def test_the_states_copy_stands_in_for_a_lost_transcript(
    stepped: tuple[Path, Path, dict[str, str]],
) -> None:
    project, state, env = stepped
    original = next(Path(env["CLAUDE_CONFIG_DIR"]).glob(f"projects/*/{SESSION}.jsonl"))
    away = original.with_name("moved-away")
    original.rename(away)
    try:
        text = guardrun(project, state, "report", "--text", env=env).stdout
    finally:
        away.rename(original)
    assert kinds(text)["Bash"] > 55, text
