"""Start-up cost: ``guardrun --no-pty -- true`` against ``python -c pass``.

Run:  .venv/bin/python benchmarks/bench_startup.py [--runs 51] [--install regular|current]
      [--pip current|bundled] [--no-bytecode]

``--install regular`` (the default) measures what a user gets from ``pip install
guardrun``: a fresh virtual environment in a temp dir with a regular, non-editable
install of this checkout (``pip install --no-deps .``), its own
``python -c pass`` as the baseline. The pip is this interpreter's (``--pip current``, as
up to date as a user's): it writes the ``guardrun`` launcher, and a current pip's
imports only ``sys``, where older ones (``--pip bundled``: the 23.2 a Python 3.11 venv
comes with) add ``import re``, 5-6 ms that guardrun itself no longer imports. An
editable install's finder slows every ``python -c pass`` of its venv and so hides
guardrun's own cost; ``--install
current`` measures the interpreter running this script and the guardrun beside it.

The three commands below are started in turn (interleaved, so load on a
shared machine falls on all of them alike), ``--runs`` times each, with stdio
on /dev/null and guardrun's config and state directories in a fresh temp dir:

* ``python -c pass`` of the interpreter guardrun is installed in (the baseline);
* ``python -c "import guardrun.cli"``: what the console script imports first;
* ``guardrun --no-pty -- true``: the whole run (parse, config, supervisor,
  spawn ``true``, wait, report).

Wall time is fork to reap; CPU is user + system of the process and its
children (``wait4``), steadier than wall on a loaded machine. Then, once each,
``-X importtime`` lists the imports the run adds over ``python -c pass``, and
cProfile lists guardrun's functions by the time spent in each and in
what it calls outside guardrun (imports done lazily inside a function count
in it). Goal of issue 2: at most 3x in wall time.

The commands run in a clean environment without ``PYTHONDONTWRITEBYTECODE``, so
the warm-up run leaves guardrun's ``.pyc`` files written, as ``pip install``
does. ``--no-bytecode`` measures instead a checkout run with that variable set
and nothing compiled: guardrun is imported from a copy of the package without
``__pycache__`` (first on ``PYTHONPATH``), recompiled in memory on every run.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 4.0  # issue 25: with the standard modules (re, json, typing) back
PROFILE = """
import cProfile, pstats, sys
from guardrun.cli import main
top = int(sys.argv[1])
sys.argv = ["guardrun", "--no-pty", "--", "true"]
prof = cProfile.Profile()
prof.enable()
try:
    main()
finally:
    prof.disable()
st = pstats.Stats(prof)
def ours(key):
    return "/guardrun/" in key[0] and "/site-packages/" not in key[0]
rows = []
for key, (cc, nc, tt, ct, callers) in st.stats.items():
    if ours(key) and key[2] != "<module>":
        # Time in this function and in what it calls outside guardrun (imports included),
        # leaving out the guardrun functions it calls: they have rows of their own.
        inner = sum(c[key][3] for k, (_, _, _, _, c) in st.stats.items()
                    if ours(k) and k != key and key in c)
        name = key[0].split("/guardrun/", 1)[1] + ":" + key[2]
        rows.append((ct - inner, ct, name))
for excl, ct, name in sorted(rows, reverse=True)[:top]:
    print(f"{excl * 1000:.1f}\t{ct * 1000:.1f}\t{name}")
"""
THIRD_PARTY = ("psutil", "rich", "yaml", "pexpect", "ptyprocess", "platformdirs")


def guardrun_path() -> str:
    here = Path(sys.executable).with_name("guardrun")
    found = str(here) if here.exists() else shutil.which("guardrun")
    if not found:
        raise SystemExit("guardrun is not installed next to this Python or on PATH")
    return found


def regular_install(venv: Path, pip: str) -> tuple[str, str, str]:
    """A fresh venv with this checkout installed the way users get it (not editable):
    (python, guardrun, the pip that wrote the launcher). ``pip="current"``: this
    interpreter's pip (as up to date as the user's, in CI upgraded first) installs into
    the venv; ``"bundled"``: the venv's own, the one ensurepip ships with this Python."""
    repo = Path(__file__).resolve().parents[1]
    own = pip == "bundled"
    subprocess.run([sys.executable, "-m", "venv", *([] if own else ["--without-pip"]), str(venv)],
                   check=True)  # fmt: skip
    py = str(venv / "bin" / "python")
    installer = [py, "-m", "pip"] if own else [sys.executable, "-m", "pip", "--python", py]
    subprocess.run([*installer, "install", "-q", "--no-deps", str(repo)], check=True, cwd=venv)
    version = subprocess.run([*installer, "--version"], capture_output=True, text=True).stdout
    # pip compiles the installed modules, as it does for users; the build dir must go.
    shutil.rmtree(repo / "build", ignore_errors=True)
    return py, str(venv / "bin" / "guardrun"), " ".join(version.split()[:2])


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the process and its children, exit code)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    finally:
        os.close(devnull)
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def import_times(argv: list[str], env: dict[str, str]) -> dict[str, tuple[int, int, int]]:
    """module -> (depth, self µs, cumulative µs) from ``-X importtime``."""
    out = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, text=True,
                         capture_output=True, stdin=subprocess.DEVNULL).stderr  # fmt: skip
    found: dict[str, tuple[int, int, int]] = {}
    for m in re.finditer(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", out, re.M):
        found.setdefault(m.group(4), (len(m.group(3)) // 2, int(m.group(1)), int(m.group(2))))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=51, help="runs of each command (median)")
    parser.add_argument("--top", type=int, default=15, help="rows in the import and profile lists")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="guardrun from a copy without .pyc files")  # fmt: skip
    parser.add_argument(
        "--install",
        choices=("regular", "current"),
        default="regular",
        help="a fresh non-editable install (default), or this interpreter's",
    )
    parser.add_argument(
        "--pip",
        choices=("current", "bundled"),
        default="current",
        help="the pip that installs (and writes the launcher): this interpreter's (default), "
        "or the one the fresh venv comes with (older pips, as the 23.2 of Python 3.11's venv, "
        "write `import re` into the launcher)",
    )
    args = parser.parse_args()
    python = sys.executable
    guardrun = guardrun_path() if args.install == "current" else ""
    pip = ""
    venv_dir = tempfile.mkdtemp(prefix="guardrun-bench-venv-")
    if args.install == "regular":
        python, guardrun, pip = regular_install(Path(venv_dir), args.pip)
    commands = {
        "`python -c pass`": [python, "-c", "pass"],
        '`python -c "import guardrun.cli"`': [python, "-c", "import guardrun.cli"],
        "`guardrun --no-pty -- true`": [guardrun, "--no-pty", "--", "true"],
    }
    with tempfile.TemporaryDirectory(prefix="guardrun-bench-startup-") as tmp:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "LANG": "C.UTF-8"}
        for d in ("config", "state", "data", "cache"):
            env[f"XDG_{d.upper()}_HOME"] = os.path.join(tmp, d)
        if args.no_bytecode:
            # PYTHONPATH comes before the editable install's finder (appended to sys.meta_path).
            package = Path(__file__).resolve().parents[1] / "guardrun"
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(package, os.path.join(tmp, "src", "guardrun"), ignore=ignore)
            env |= {"PYTHONPATH": os.path.join(tmp, "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        runs: dict[str, list[tuple[float, float, int]]] = {k: [] for k in commands}
        for argv in commands.values():  # warm the page cache and .pyc files
            timed(argv, env)
        for _ in range(args.runs):
            for name, argv in commands.items():
                runs[name].append(timed(argv, env))
        base_imports = import_times([python, "-c", "pass"], env)
        imports = import_times([python, guardrun, "--no-pty", "--", "true"], env)
        profile = subprocess.run([python, "-c", PROFILE, str(args.top)], env=env, text=True,
                                 capture_output=True, stdin=subprocess.DEVNULL)  # fmt: skip

    shutil.rmtree(venv_dir, ignore_errors=True)
    bytecode = " guardrun without bytecode (no .pyc files)." if args.no_bytecode else ""
    how = (
        f"a regular (non-editable) install in a fresh venv, by {pip}"
        if args.install == "regular"
        else ("the current environment's install")
    )
    bytecode = f" Measured on {how}." + bytecode
    print(
        f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs (shared), "
        f"Python {platform.python_version()} ({python}); median of {args.runs} interleaved "
        f"runs each; load average {os.getloadavg()[0]:.2f} at the end.{bytecode}\n"
    )
    print("| command | wall (median) | wall (min) | CPU (median) | wall vs `python -c pass` "
          "| CPU vs `python -c pass` | exit |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    base = runs["`python -c pass`"]
    base_wall = statistics.median(r[0] for r in base)
    base_cpu = statistics.median(r[1] for r in base)
    ratio = 0.0
    for name, rs in runs.items():
        wall = statistics.median(r[0] for r in rs)
        cpu = statistics.median(r[1] for r in rs)
        codes = ",".join(str(c) for c in sorted({r[2] for r in rs}))
        ratio = wall / base_wall  # the last row is guardrun's
        low = min(r[0] for r in rs)
        print(f"| {name} | {wall * 1e3:.1f} ms | {low * 1e3:.1f} ms | {cpu * 1e3:.1f} ms "
              f"| {ratio:.2f}× | {cpu / base_cpu:.2f}× | {codes} |")  # fmt: skip
    verdict = "PASS" if ratio <= GOAL else "FAIL"
    print(f"\nGoal: `guardrun --no-pty -- true` at most {GOAL:.0f}× `python -c pass` in wall "
          f"time: {ratio:.2f}× — **{verdict}**")  # fmt: skip

    added = {m: v for m, v in imports.items() if m not in base_imports}
    total = sum(cum for depth, _, cum in added.values() if depth == 0)
    print(f"\nImports the run adds over `python -c pass` (`-X importtime`, one run): "
          f"{len(added)} modules, {total / 1e3:.1f} ms in all.\n")  # fmt: skip
    print("| outermost imports, by cumulative time | ms | | largest self times | ms |")
    print("|---|---:|---|---|---:|")
    outer = sorted(((cum, m) for m, (d, _, cum) in added.items() if d == 0), reverse=True)
    own = sorted(((self_us, m) for m, (_, self_us, _) in added.items()), reverse=True)
    for i in range(args.top):
        left = f"`{outer[i][1]}` | {outer[i][0] / 1e3:.1f}" if i < len(outer) else " | "
        right = f"`{own[i][1]}` | {own[i][0] / 1e3:.1f}" if i < len(own) else " | "
        print(f"| {left} | | {right} |")
    loaded = [f"{p} ({added[p][2] / 1e3:.1f} ms)" for p in THIRD_PARTY if p in added]
    absent = [p for p in THIRD_PARTY if p not in added]
    print(f"\nThird-party packages imported: {', '.join(loaded) or 'none'}; "
          f"not imported: {', '.join(absent) or 'none'}.")  # fmt: skip
    if profile.returncode == 0 and profile.stdout.strip():
        print("\nWhere the run's time goes (cProfile, one run, its overhead included): each "
              "guardrun function with what it calls outside guardrun (lazy imports "
              "included), without the guardrun functions it calls.\n")  # fmt: skip
        print("| function | own + non-guardrun callees, ms | cumulative, ms |")
        print("|---|---:|---:|")
        for line in profile.stdout.strip().splitlines():
            excl, ct, name = line.split("\t", 2)
            print(f"| `{name}` | {excl} | {ct} |")
    else:
        print(f"\n(cProfile run failed: {profile.stderr.strip()[-300:]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
