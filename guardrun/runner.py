"""``guardrun [RUN OPTIONS] -- COMMAND``: configuration in, a supervised run out."""

from __future__ import annotations

import gc
import os
import time
from typing import TYPE_CHECKING

from guardrun.errors import UsageError
from guardrun.supervisor.breaker import Policy
from guardrun.supervisor.settings import RunSettings
from guardrun.units import Threshold

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from guardrun.config.schema import Config
    from guardrun.supervisor.external import ExternalPressure
    from guardrun.ui import Reporter


def load(
    ns: argparse.Namespace,
    flags: dict[str, tuple[object, str]],
    project_file: str | os.PathLike[str] | None = None,
) -> Config:
    """The effective configuration; ``project_file`` (config check FILE) beats ``--config``."""
    from guardrun.config.load import load_config

    return load_config(
        cwd=os.getcwd(),
        env=os.environ,
        flags=flags,
        config_path=project_file or (ns.config if ns.config else None),
        no_config=ns.no_config,
    )


def state_dir(cfg: Config) -> str:
    from guardrun.state.store import state_dir_setting

    return state_dir_setting(cfg.state.dir)


def _fraction(t: Threshold, total: int) -> float:
    return t.value / 100.0 if t.percent else t.value / max(total, 1)


def settings_from_config(cfg: Config, command: list[str], ns: argparse.Namespace) -> RunSettings:
    m, r = cfg.memory, cfg.restart
    hysteresis = m.hysteresis.value / 100.0 if m.hysteresis.percent else 0.05
    return RunSettings(
        argv=command,
        warning=m.warning,
        critical=m.critical,
        emergency=m.emergency,
        metric=m.metric,
        probe=m.probe,
        interval=m.interval,
        sustained=m.sustained,
        hysteresis=hysteresis,
        hysteresis_bytes=None if m.hysteresis.percent else int(m.hysteresis.value),
        grace=r.grace,
        idle_quiet=r.idle_quiet,
        idle_wait=r.idle_wait,
        trend_window=m.trend_window,
        max_growth=m.max_growth,
        plan_ahead=r.plan_ahead,
        idle=r.idle,
        restart=r.enabled,
        on_crash=r.on_crash,
        on_exhausted=r.on_exhausted,
        policy=Policy(
            max_attempts=r.max_attempts,
            window=r.window,
            cooldown=r.cooldown,
            max_cooldown=r.max_cooldown,
            reset_after=r.reset_after,
        ),
        pty=False if ns.no_pty else None,
        priority=cfg.priority,
    )


def shared(cfg: Config, total: int, warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The other runs of this user: the machine budget (a share of ``total``, the memory
    available to guardrun: the cgroup limit or RAM) and the lease for a shared restart."""
    from guardrun.fleet.lease import Lease
    from guardrun.fleet.machine import MachineWatch

    budget = cfg.machine.budget.resolve(total) if cfg.machine.budget is not None else None
    where = state_dir(cfg)
    return {"machine": MachineWatch(where, budget, warn), "lease": Lease(where, warn=warn)}


def external_pressure(cfg: Config) -> ExternalPressure:
    from guardrun.platform import physical_memory
    from guardrun.supervisor.external import ExternalPressure

    total = physical_memory()
    return ExternalPressure(
        system_warning=_fraction(cfg.system.warning, total),
        system_critical=_fraction(cfg.system.critical, total),
        psi=cfg.system.psi,
        gpu_warning=cfg.gpu.warning,
        gpu_critical=cfg.gpu.critical,
    )


def admit(cfg: Config, ui: Reporter, force: bool) -> bool:
    """Do not start another agent on a machine that is itself at system critical."""
    from guardrun.platform import physical_memory
    from guardrun.platform.pressure import system_memory

    limit = _fraction(cfg.system.critical, physical_memory())
    try:
        used = system_memory()[0]
    except (OSError, ValueError):
        return True
    if used < limit:
        return True
    if force:
        ui.warn(f"the machine has {used:.0%} of its RAM in use; starting anyway (--force)")
        return True
    ui.warn(
        f"the machine has {used:.0%} of its RAM in use (system.critical {limit:.0%}): "
        "waiting for memory before starting (Ctrl-C to give up, --force to start anyway)"
    )
    while True:
        time.sleep(2.0)
        used = system_memory()[0]
        if used < limit:
            ui.info(f"RAM in use down to {used:.0%}: starting")
            return True
        ui.detail(f"still {used:.0%} of RAM in use")


def run_command(
    ns: argparse.Namespace, command: list[str], flags: dict[str, tuple[object, str]]
) -> int:
    from guardrun.observe.observer import Observer
    from guardrun.platform.cgroup import memory_limit
    from guardrun.supervisor.run import Supervisor
    from guardrun.supervisor.sentinel import Sentinel
    from guardrun.ui import Reporter

    cfg = load(ns, flags)
    if not command:
        if not cfg.command:
            raise UsageError(
                "no command given (usage: guardrun [RUN OPTIONS] -- COMMAND [ARG...], "
                "or set `command:` in .guardrun.yaml)"
            )
        command = list(cfg.command)
    settings = settings_from_config(cfg, command, ns)
    reporter = Reporter(quiet=ns.quiet, verbose=ns.verbose, log_file=ns.log_file)
    try:
        admit(cfg, reporter, ns.force)
        observer = Observer(cfg, command, os.getcwd(), state_dir(cfg), reporter)
        limit = memory_limit()
        supervisor = Supervisor(
            settings,
            reporter,
            observer=observer,
            external=external_pressure(cfg),
            limit=limit,
            sentinel=Sentinel,
            **shared(cfg, limit.bytes, reporter.warn),
        )
        # Everything imported so far lives as long as guardrun: keep it out of the
        # collector's passes (each one walks it all), during the run and at exit. The
        # collector was off while it was made (cli.main).
        gc.freeze()
        gc.enable()
        return supervisor.run()
    finally:
        reporter.close()
