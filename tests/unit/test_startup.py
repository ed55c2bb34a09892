"""What every start pays for: the start path's imports and the collector's state."""

from __future__ import annotations

import gc
import subprocess
import sys

from guardrun.cli import main


def test_the_start_path_imports_no_typing() -> None:
    """typing (and the ForwardRef compiles of typing.NamedTuple) cost every start."""
    code = (
        "import sys; sys.argv = ['guardrun', '--no-pty', '--', 'true']\n"
        "from guardrun.cli import main\n"
        "rc = main()\n"
        "print(rc, 'typing' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.split() == ["0", "False"]


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
