"""What every start pays for: the start path's imports and the collector's state."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

from guardrun.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# What a start must not import (docs/architecture.md, "The start path imports little"):
# each costs every start milliseconds, and nothing in a run that needs no capture, no
# config file and no fallback probe uses it.
NOT_ON_THE_START_PATH = ("typing", "pathlib", "yaml", "psutil", "platformdirs", "hashlib",
                         "shlex", "zlib", "subprocess", "threading", "argparse")  # fmt: skip


def test_the_start_path_imports_none_of_the_heavy_modules() -> None:
    """typing (and typing.NamedTuple's ForwardRef compiles), pathlib (with urllib.parse
    and ipaddress), yaml...: a run that ends at once imports none of them."""
    code = (
        "import sys; sys.argv = ['guardrun', '--no-pty', '--no-config', '--', 'true']\n"
        "from guardrun.cli import main\n"
        "rc = main()\n"
        f"print(rc, *[m for m in {NOT_ON_THE_START_PATH!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
        check=True, env={**os.environ, "PYTHONPATH": ROOT},
    ).stdout  # fmt: skip
    assert out.split() == ["0"]


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
