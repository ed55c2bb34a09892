"""``guardrun doctor``: what this machine supports, in one screen (or one JSON object).

Everything here is read, never changed: no directory is created, no config
written. Each check catches its own failures and reports them as values, so
one broken part (a hung agent CLI, an NVML error) never hides the rest, and
doctor exits 0.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun import __version__
from guardrun.errors import GuardrunError
from guardrun.platform import (
    PROBE_NAMES,
    SYSTEM,
    backend_order,
    footprint_reads,
    make_probe,
    physical_memory,
    swap_info,
)
from guardrun.units import format_bytes

if TYPE_CHECKING:
    from typing import Any

AGENTS = ("claude", "codex", "gemini", "aider")
AGENT_TIMEOUT = 10.0  # seconds; `claude --version` answers in ~0.1-0.7 s here


def _probes() -> dict[str, Any]:
    """Every backend: can it be built here, and one timed sample of this process's tree."""
    order = backend_order()
    names = order + [n for n in PROBE_NAMES if n not in order]
    results: list[dict[str, Any]] = []
    for name in names:
        entry: dict[str, Any] = {"name": name, "in_order": name in order, "ok": False}
        try:
            probe = make_probe(name)
            try:
                start = time.perf_counter()
                sample = probe.sample([os.getpid()])
                entry["sample_ms"] = round((time.perf_counter() - start) * 1000, 3)
            finally:
                probe.close()
            entry.update(ok=True, processes=len(sample.procs), rss=sample.rss)
        except GuardrunError as err:
            entry["error"] = str(err)
        results.append(entry)
    chosen = next((r["name"] for r in results if r["ok"] and r["in_order"]), None)
    return {"order": order, "chosen": chosen, "results": results}


def _metric(cwd: Path) -> dict[str, Any]:
    """The metric this run would use (the config here, or its error) and what it reads."""
    from guardrun.config.load import load_config

    try:
        cfg = load_config(cwd=cwd, env=os.environ, flags={})
        metric, source = cfg.memory.metric, cfg.sources.get("memory.metric", "default")
    except GuardrunError as err:
        metric, source = "footprint", f"default (the config did not load: {err})"
    reads = footprint_reads()
    if metric != "footprint":
        reads = {"rss": "resident only (RSS)", "pss": "PSS (smaps_rollup, Linux)"}.get(
            metric, "USS (smaps_rollup, Linux)"
        )
    info = swap_info()
    return {
        "metric": metric,
        "source": str(source),
        "reads": reads,
        "swap": {
            "on": info.on,
            "total": info.total,
            "used": info.used,
            "devices": list(info.devices),
            "zram": info.zram,
            "zswap": info.zswap,
            "compressor": info.compressor,
            "describe": info.describe(),
        },
    }


def _memory() -> dict[str, Any]:
    from guardrun.platform.cgroup import memory_limit
    from guardrun.platform.cgroup_events import read_memory
    from guardrun.platform.pressure import (
        psi_memory,
        swap_fraction_now,
        system_level,
        system_memory,
    )
    from guardrun.platform.smaps import supported

    limit = memory_limit()
    cg = read_memory()
    used, total, available = system_memory()
    psi = psi_memory()
    some = psi["some"]["avg10"] if psi else None
    swapped = swap_fraction_now()
    return {
        "physical": physical_memory(),
        "limit": {"bytes": limit.bytes, "source": limit.source},
        "cgroup": None
        if cg is None
        else {
            "version": cg.version,
            "path": str(cg.path),
            "current": cg.current,
            "max": cg.max,
            "high": cg.high,
            "oom_kills": cg.oom_kills,
        },
        "pss_uss": supported(),
        "system": {
            "used_fraction": round(used, 4),
            "total": total,
            "available": available,
            "swap_used_fraction": None if swapped is None else round(swapped, 4),
            "level": system_level(used, some, swap_used=swapped),
        },
        "psi": {"available": psi is not None, "memory": psi},
    }


def _gpu() -> dict[str, Any]:
    from guardrun.platform.gpu import GpuProbe

    gpu = GpuProbe()
    try:
        ok, reason = gpu.available()
        devices = gpu.devices() if ok else []
        # devices() may have hit an NVML error: report the state it left.
        ok, reason = gpu.available()
    finally:
        gpu.close()
    return {"available": ok, "reason": reason, "devices": devices}


def _agent(name: str, timeout: float) -> dict[str, Any]:
    path = shutil.which(name)
    entry: dict[str, Any] = {"name": name, "path": path, "version": None}
    if path is None:
        entry["error"] = "not on PATH"
        return entry
    try:
        done = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        entry["error"] = f"`{name} --version` did not answer in {timeout:g}s"
        return entry
    except OSError as err:
        entry["error"] = f"cannot run {path}: {err.strerror or err}"
        return entry
    lines = [ln.strip() for ln in (done.stdout + "\n" + done.stderr).splitlines() if ln.strip()]
    if done.returncode != 0:
        entry["error"] = f"`{name} --version` exited with {done.returncode}"
    if lines:
        entry["version"] = lines[0][:200]
    return entry


def _agents(timeout: float) -> list[dict[str, Any]]:
    # In parallel: a Node CLI takes up to a second to start, four of them add up.
    with ThreadPoolExecutor(max_workers=len(AGENTS)) as pool:
        return list(pool.map(lambda n: _agent(n, timeout), AGENTS))


def _state_dir(state_dir: Path | None) -> dict[str, Any]:
    if state_dir is None:
        from guardrun.dirs import user_state_dir

        state_dir = Path(user_state_dir())
    existing = state_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # free space of the filesystem it would be created on
    try:
        free: int | None = shutil.disk_usage(existing).free
    except OSError:
        free = None
    return {"path": str(state_dir), "exists": state_dir.is_dir(), "free_bytes": free}


def _config_files(cwd: Path) -> dict[str, Any]:
    # The same places guardrun.config reads (docs/configuration.md).
    from guardrun.config.load import CONFIG_HOME_ENV, PROJECT_FILE, USER_FILE

    home = os.environ.get(CONFIG_HOME_ENV)
    if home:
        user_dir = Path(home).expanduser()
    else:
        from guardrun.dirs import user_config_dir

        user_dir = Path(user_config_dir())
    user = user_dir / USER_FILE
    project = next(
        (d / PROJECT_FILE for d in (cwd, *cwd.parents) if (d / PROJECT_FILE).is_file()), None
    )
    return {
        "user": {"path": str(user), "exists": user.is_file()},
        "project": None if project is None else str(project),
    }


def collect(
    state_dir: Path | None = None, cwd: Path | None = None, agent_timeout: float = AGENT_TIMEOUT
) -> dict[str, Any]:
    """The doctor's report as plain data (what ``--json`` prints)."""
    cwd = cwd or Path.cwd()
    return {
        "guardrun": __version__,
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "platform": SYSTEM,
        },
        "probes": _probes(),
        "memory": _memory(),
        "metric": _metric(cwd),
        "gpu": _gpu(),
        "agents": _agents(agent_timeout),
        "state_dir": _state_dir(state_dir),
        "config_files": _config_files(cwd),
    }


def run_doctor(json_out: bool, state_dir: Path | None, cwd: Path) -> int:
    """``guardrun doctor [--json]``: print the report on stdout; always 0."""
    report = collect(state_dir, cwd)
    if json_out:
        print(json.dumps(report, indent=2), flush=True)
        return 0
    from rich.console import Console

    render(report, Console(highlight=False))
    return 0


def _size(n: int | None) -> str:
    return "?" if n is None else format_bytes(n)


def _yes(ok: bool, text: str) -> str:
    return f"[green]yes[/] {text}" if ok else f"[yellow]no[/]  {text}"


def render(report: dict[str, Any], console: Any) -> None:
    """The report for people: one section per part, what is off and why."""
    from rich.markup import escape
    from rich.table import Table

    o = report["os"]
    console.print(
        f"[bold]guardrun {report['guardrun']}[/] on {o['system']} {o['release']} "
        f"({o['machine']}), Python {o['python']}"
    )

    probes = report["probes"]
    table = Table(title="Memory probes", title_justify="left", show_edge=False)
    for col in ("probe", "works", "one sample", "tree", "note"):
        table.add_column(col)
    for r in probes["results"]:
        chosen = " (chosen)" if r["name"] == probes["chosen"] else ""
        note = "" if r["in_order"] else "not used on this OS unless forced"
        if r["ok"]:
            tree = f"{r['processes']} proc, {format_bytes(r['rss'])}"
            table.add_row(
                r["name"] + chosen, "[green]yes[/]", f"{r['sample_ms']:.2f} ms", tree, note
            )
        else:
            table.add_row(r["name"], "[yellow]no[/]", "", "", escape(r.get("error", "")))
    console.print(table)

    mt = report["metric"]
    console.print(
        f"[bold]Metric[/]: {mt['metric']} ({escape(mt['source'])}): {escape(mt['reads'])}"
    )
    sw = mt["swap"]
    console.print(
        "  memory out of RAM: "
        + _yes(sw["on"], f"({escape(sw['describe'])})")
        + ("" if sw["on"] or mt["metric"] != "footprint" else " [dim]footprint = RSS here[/]")
    )
    m = report["memory"]
    cg = m["cgroup"]
    console.print("[bold]Memory[/]")
    console.print(
        f"  percentages are of: {format_bytes(m['limit']['bytes'])} ({m['limit']['source']})"
    )
    if cg is None:
        console.print("  cgroup: none with a memory controller")
    else:
        console.print(
            f"  cgroup v{cg['version']} {escape(cg['path'])}: using {_size(cg['current'])}, "
            f"max {_size(cg['max']) if cg['max'] else 'none'}, "
            f"high {_size(cg['high']) if cg['high'] else 'none'}, OOM kills {cg['oom_kills']}"
        )
    console.print("  PSS/USS (smaps_rollup): " + _yes(m["pss_uss"], ""))
    s = m["system"]
    console.print(
        f"  machine: {s['used_fraction']:.0%} of {format_bytes(s['total'])} in use, "
        f"{format_bytes(s['available'])} available, level {s['level']}"
    )
    psi = m["psi"]
    if psi["available"]:
        some = psi["memory"]["some"]
        console.print("  PSI: " + _yes(True, f"(some avg10 {some['avg10']:.2f}%)"))
    else:
        from guardrun.platform.pressure import PSI_MEMORY

        console.print("  PSI: " + _yes(False, f"({PSI_MEMORY} absent or unreadable)"))

    g = report["gpu"]
    console.print("[bold]GPU[/]: " + _yes(g["available"], escape(g["reason"])))
    for d in g["devices"]:
        console.print(
            f"  {d['index']}: {escape(d['name'])}, {format_bytes(d['used'])} of "
            f"{format_bytes(d['total'])} in use"
        )

    console.print("[bold]Agents[/]")
    for a in report["agents"]:
        if a["path"] is None:
            console.print(f"  {a['name']}: [dim]not on PATH[/]")
            continue
        detail = escape(a["version"] or "")
        if a.get("error"):
            detail = f"{detail} [yellow]{escape(a['error'])}[/]".strip()
        console.print(f"  {a['name']}: {escape(a['path'])} {detail}")

    sd = report["state_dir"]
    exists = "" if sd["exists"] else " (created on first use)"
    console.print(
        f"[bold]State directory[/]: {escape(sd['path'])}{exists}, {_size(sd['free_bytes'])} free"
    )
    c = report["config_files"]
    user = c["user"]
    console.print(
        f"[bold]Config files[/]: user {escape(user['path'])}"
        f"{'' if user['exists'] else ' (none)'}; project {escape(c['project'] or '(none)')}"
    )
