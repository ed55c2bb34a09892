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
    from guardrun.fleet.turns import Turns
    from guardrun.observe.observer import Observer
    from guardrun.state.conversation import Conversation
    from guardrun.supervisor.external import ExternalPressure
    from guardrun.supervisor.ports import Watchdog
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


def say_config_notes(cfg: Config, ui: Reporter) -> None:
    """Once, before the agent starts: a project file skipped at discovery, and the keys
    of an untrusted one that were held back (with the command that trusts it)."""
    for note in cfg.notes:
        ui.warn(note)
    if cfg.held:
        from guardrun.config.trust import held_notice

        notice = held_notice(cfg.held, cfg.trusted)
        if notice:
            ui.warn(notice)


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
        min_uptime=r.min_uptime,
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


def shared(
    cfg: Config, total: int, name: str, warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The other runs of this user: the machine budget (a share of ``total``, the memory
    available to guardrun: the cgroup limit or RAM), the lease for a shared restart, and
    how this run (``name``) makes its turns to give way when first needed."""
    from guardrun.fleet.lease import Lease
    from guardrun.fleet.machine import MachineWatch

    budget = cfg.machine.budget.resolve(total) if cfg.machine.budget is not None else None
    where = state_dir(cfg)
    machine = MachineWatch(where, budget, warn)

    def make_turns(tell: Callable[..., None], warn: Callable[[str], None]) -> Turns:
        from guardrun.fleet.turns import Turns  # most runs never share: lazily

        return Turns(machine, os.getpid(), name, tell, warn)

    return {
        "machine": machine, "lease": Lease(where, warn=warn), "make_turns": make_turns
    }  # fmt: skip


def observers(
    cfg: Config,
    command: list[str],
    cwd: str | os.PathLike[str],
    where: str | os.PathLike[str],
    ui: Reporter,
) -> tuple[Observer, Conversation]:
    """The teller and the asker of one run, wired: the conversation tells its captures
    through the teller, and the teller's hooks wait for the state a capture is writing."""
    from guardrun.observe.events import new_run_id
    from guardrun.observe.observer import Observer
    from guardrun.state.agents import AgentSettings
    from guardrun.state.conversation import Conversation, Keep

    run_id = new_run_id()
    r, st = cfg.restart, cfg.state
    keep = Keep(r.resume, r.resume_args, st.keep, st.max_age, st.transcript, st.redact)
    agents = AgentSettings(cfg.agents.codex_no_daemon, cfg.agents.gemini_session_id)
    conv = Conversation(command, cwd, where, ui, run_id, agent=cfg.agent, agents=agents, keep=keep)
    teller = Observer(
        cfg, command, cwd, where, ui,
        run_id=run_id, agent=conv.agent.name, project=conv.store.project,
        project_dir=conv.project_dir, saved=conv,
    )  # fmt: skip
    conv.tell = teller.event
    conv.submit = teller.writer.submit
    history = teller.history.path
    if history is not None:

        def read_points(since: float | None) -> list[dict[str, Any]]:
            from guardrun.observe.history_read import read_history  # at a capture only

            return read_history(history, since=since).points

        conv.read_points = read_points
    return teller, conv


def external_pressure(cfg: Config) -> ExternalPressure:
    from guardrun.platform import physical_memory
    from guardrun.supervisor.external import ExternalPressure

    total = physical_memory()
    return ExternalPressure(
        system_warning=_fraction(cfg.system.warning, total),
        system_critical=_fraction(cfg.system.critical, total),
        psi=cfg.system.psi,
        swap=cfg.system.swap / 100.0,
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


def sentinel(marker: bytes) -> Watchdog:
    """The last resort (``supervisor.sentinel``), imported when the loop first waits on a
    running child: a command gone by then never loads it."""
    from guardrun.supervisor.sentinel import Sentinel

    return Sentinel(marker)


def run_command(
    ns: argparse.Namespace, command: list[str], flags: dict[str, tuple[object, str]]
) -> int:
    from guardrun.platform.cgroup import memory_limit
    from guardrun.supervisor.run import Supervisor
    from guardrun.ui import Reporter

    cfg = load(ns, flags)
    if not command:
        if not cfg.command:
            held = [h for h in cfg.held if h.key == "command"]
            if held:
                from guardrun.config.trust import trust_command

                path = next(p for p, how in cfg.trusted.items() if how == "not trusted")
                raise UsageError(
                    f"no command given: {held[0].where}: command is ignored until you "
                    f"trust the file (review it, then run: {trust_command(path)})"
                )
            raise UsageError(
                "no command given (usage: guardrun [RUN OPTIONS] -- COMMAND [ARG...], "
                "or set `command:` in .guardrun.yaml)"
            )
        command = list(cfg.command)
    settings = settings_from_config(cfg, command, ns)
    reporter = Reporter(quiet=ns.quiet, verbose=ns.verbose, log_file=ns.log_file)
    try:
        say_config_notes(cfg, reporter)
        admit(cfg, reporter, ns.force)
        teller, conversation = observers(cfg, command, os.getcwd(), state_dir(cfg), reporter)
        limit = memory_limit()
        supervisor = Supervisor(
            settings,
            reporter,
            teller=teller,
            asker=conversation,
            external=external_pressure(cfg),
            limit=limit,
            sentinel=sentinel,
            **shared(cfg, limit.bytes, os.path.basename(command[0]), reporter.warn),
        )
        # Everything imported so far lives as long as guardrun: keep it out of the
        # collector's passes (each one walks it all), during the run and at exit. The
        # collector was off while it was made (cli.main).
        gc.freeze()
        gc.enable()
        return supervisor.run()
    finally:
        reporter.close()
