"""What every start pays for: the start path's imports and the collector's state."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from guardrun.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# What a start must not import (docs/architecture.md, "The start path imports little"):
# each costs every start milliseconds, and nothing in a run that needs no capture, no
# config file and no fallback probe uses it. The standard modules every run uses (typing,
# json, re and what they bring) are imported as they are: the start-up goal (<= 4x
# ``python -c pass``, docs/benchmarks.md) is met by importing the rest late.
NOT_ON_THE_START_PATH = ("pathlib", "yaml", "psutil", "platformdirs", "hashlib",
                         "shlex", "zlib", "subprocess", "threading", "argparse",
                         "signal", "ctypes", "encodings.ascii", "math", "struct",
                         "termios", "tty", "fcntl", "contextvars",
                         # guardrun's own, for what a plain run never meets: a crash's or a
                         # restart's words, a project file, an agent's sessions
                         "guardrun.supervisor.why", "guardrun.config.trust",
                         "guardrun.state.agents.base", "guardrun.state.agents.session",
                         # ... nor reads a stranger's file, where there is none
                         "guardrun.untrusted", "guardrun.observe.live_read",
                         "guardrun.observe.history_read")  # fmt: skip


def test_the_start_path_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    """pathlib (with urllib.parse and ipaddress), yaml, psutil, subprocess...: a run that
    ends at once imports none of them, nor one that lives a few samples (the GPU, the
    machine's pressure, the history and live file are read or written at the first).
    Twice in one state directory: the second start finds the first one's files; the
    third looks for config files (a user file, a project file from a directory up to /)
    and finds none."""
    env = {**os.environ, "PYTHONPATH": ROOT, "XDG_STATE_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fmt: skip
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    for command in (["--no-config", "--", "true"],
                    ["--no-config", "--interval", "100ms", "--", "sleep", "0.5"],
                    ["--", "true"]):  # fmt: skip
        argv = ["guardrun", "--no-pty", *command]
        code = (
            f"import sys; sys.argv = {argv!r}\n"
            f"{_COUNT_FORWARD_REFS}"
            "from guardrun.cli import main\n"
            "rc = main()\n"
            f"print(rc, *[m for m in {NOT_ON_THE_START_PATH!r} if m in sys.modules])\n"
            "print(*made or ['no-forward-refs'])"
        )
        out = subprocess.run(
            [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
            check=True, env=env, cwd=work,
        ).stdout  # fmt: skip
        assert out.split() == ["0", "no-forward-refs"], command
    assert any(tmp_path.rglob("*.jsonl"))  # the runs did write where this test looks


# Every ForwardRef typing makes is a compile() of its text, and the first one in a process
# also builds the interpreter's AST types: ~1.3 ms, then ~12 us a field (docs/benchmarks.md).
# A NamedTuple makes one for each field annotated with a string, as every field is in a module
# with ``from __future__ import annotations``: modules that define NamedTuples evaluate theirs.
_COUNT_FORWARD_REFS = (
    "import typing\n"
    "made = []\n"
    "_init = typing.ForwardRef.__init__\n"
    "def _counted(self, arg, *args, **kwargs):\n"
    "    made.append(repr(arg).replace(' ', ''))\n"
    "    _init(self, arg, *args, **kwargs)\n"
    "typing.ForwardRef.__init__ = _counted\n"
)


def test_no_module_makes_a_forward_ref_at_import() -> None:
    """Every module of the package imported in a fresh interpreter: typing made no
    ForwardRef (a NamedTuple field annotated with a string, a quoted name in a field)."""
    code = (
        f"{_COUNT_FORWARD_REFS}"
        "import importlib, pkgutil, guardrun\n"
        "for m in pkgutil.walk_packages(guardrun.__path__, 'guardrun.'):\n"
        "    if not m.name.endswith(('__main__', '.windows', '.darwin')):\n"
        "        importlib.import_module(m.name)\n"
        "print(*made or ['none'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    ).stdout  # fmt: skip
    assert out.split() == ["none"]


def test_main_hands_the_collector_back_as_it_found_it(capsys: object) -> None:
    """The collector is off while the start allocates what guardrun keeps (cli.main);
    an in-process caller gets it back as it was, on the error paths too."""
    assert gc.isenabled()
    assert main(["--no-config"]) == 2  # no command: a usage error before any run
    assert gc.isenabled()
    gc.disable()
    try:
        assert main(["--no-config"]) == 2
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_console_entry_gives_the_code_and_the_output_whole(tmp_path: Path) -> None:
    """``entry`` ends a run with ``os._exit`` (no interpreter teardown): the child's exit
    code still comes out, and so does everything written to stdout and stderr, into pipes
    (block-buffered). A subcommand exits as usual, its output whole too."""
    env = {**os.environ, "PYTHONPATH": ROOT, "XDG_STATE_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}  # fmt: skip
    env.pop("PYTHONUNBUFFERED", None)  # stdout into a pipe is block-buffered, as for users
    run = subprocess.run(
        [sys.executable, "-m", "guardrun", "--no-pty", "--no-config", "--verbose", "--",
         "sh", "-c", "echo out; exit 7"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert run.returncode == 7 and run.stdout == "out\n"
    assert "guardrun:" in run.stderr and run.stderr.endswith("\n")
    code = (
        "import sys; sys.argv = ['guardrun', '--no-pty', '--no-config', '--', 'true']\n"
        "from guardrun import cli\n"
        "run = cli.main\n"
        "def main():\n"
        "    code = run()\n"
        "    sys.stdout.write('x' * 100)  # in the buffer as the run ends\n"
        "    return code\n"
        "cli.main = main\n"
        "cli.entry()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env)  # fmt: skip
    assert run.returncode == 0 and run.stdout == "x" * 100
    closed = subprocess.run(  # stdout closed at the start: sys.stdout is None
        [sys.executable, "-m", "guardrun", "--no-pty", "--no-config", "--", "true"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60, env=env,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert closed.returncode == 0, closed.stderr
    shown = subprocess.run([sys.executable, "-m", "guardrun", "config", "show"],
                           capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert shown.returncode == 0 and shown.stdout.endswith("desktop: auto\n")
