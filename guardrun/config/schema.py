"""Every configuration key: its type, default and description, in one place.

This table is the single source of truth: the loader (``guardrun.config``) parses and
checks values with it, ``guardrun config show`` renders values with it, and
``docs/configuration.md`` is generated from it (``python tools/gen_config_doc.py``).
Defaults are written as a user would write them in YAML, so the document shows them
in that form; a test parses every default. Below the table, the typed sections that
``Config`` is made of. They are NamedTuples, not dataclasses: immutable with typed
attributes all the same, and a frozen dataclass costs ten times a NamedTuple's
start-up (its methods are generated with exec; docs/benchmarks.md).
"""

import os
from typing import TYPE_CHECKING, Any, NamedTuple

from guardrun.units import Threshold

if TYPE_CHECKING:
    from pathlib import Path

AGENTS = ("auto", "claude", "codex", "gemini", "aider", "generic")

# What each kind is called in messages and in the document.
KIND_DOC = {
    "threshold": "size or percent",
    "margin": "size or percent (0 allowed)",
    "duration": "duration",
    "int": "integer",
    "float": "number",
    "enum": "one of",
    "bool": "boolean",
    "argv": "argv list",
    "command": "argv list or null",
    "path": "`auto` or a path",
    "regexes": "list of regular expressions",
    "rate": "size per time, or `off`",
    "budget": "size or percent, or `off`",
    "file": "`off` or a path",
}


class Key(NamedTuple):
    """One configuration key. ``lo``/``hi`` bound numbers and durations (seconds)."""

    path: str
    kind: str
    default: object
    doc: str
    choices: tuple[str, ...] = ()
    lo: float | None = None
    lo_open: bool = False  # True: the value must be greater than lo, not equal
    hi: float | None = None
    flag: str = ""  # the run option that sets it ("" for none), e.g. --max-restarts
    metavar: str = ""  # what the option's value is called in --help
    switch: object = None  # a flag without a value sets the key to this (--no-restart)

    @property
    def env(self) -> str:
        return "GUARDRUN_" + self.path.upper().replace(".", "_")

    @property
    def trust(self) -> str:
        """The key's class for a project file (``TRUST``): ``safe``, ``floor`` or a
        reason it needs the user's trust (``runs``, ``argv``, ``writes``, ...)."""
        if self.path in FLOOR:
            return "floor"
        return TRUST.get(self.path, "safe")

    @property
    def type_doc(self) -> str:
        if self.kind == "enum":
            return " \\| ".join(f"`{c}`" for c in self.choices)
        return KIND_DOC[self.kind]


_POS = {"lo": 0.0, "lo_open": True}  # durations that must be more than zero
_NONNEG = {"lo": 0.0}
_BOOLS = ("auto", "true", "false")


def _k(path: str, kind: str, default: object, doc: str, **kw: Any) -> Key:
    return Key(path, kind, default, doc, **kw)


# fmt: off
KEYS: tuple[Key, ...] = (
    _k("command", "command", None,
       "Command run when guardrun is given none, e.g. [claude]."),
    _k("agent", "enum", "auto",
       "Agent adapter; auto detects it from the command's name.", choices=AGENTS,
       flag="--agent", metavar="NAME"),

    _k("memory.metric", "enum", "footprint",
       "What counts as the tree's memory: footprint (what the OS charges: resident + "
       "swapped on Linux, phys_footprint on macOS, private bytes on Windows), rss "
       "(resident only), pss or uss (Linux).", choices=("footprint", "rss", "pss", "uss"),
       flag="--metric"),
    _k("memory.probe", "enum", "auto",
       "How memory is read; auto picks the best for this OS.",
       choices=("auto", "proc", "psutil", "ps", "wmi"),
       flag="--probe"),
    _k("memory.warning", "threshold", "50%",
       "Tree memory at which guardrun warns.",
       flag="--warning", metavar="SIZE"),
    _k("memory.critical", "threshold", "65%",
       "Tree memory at which guardrun saves state and restarts the command when it is idle.",
       flag="--critical", metavar="SIZE"),
    _k("memory.emergency", "threshold", "75%",
       "Tree memory at which guardrun saves state and restarts at once.",
       flag="--emergency", metavar="SIZE"),
    _k("memory.sustained", "int", 3,
       "Samples at or over a level before acting on it (emergency acts at once).",
       lo=1.0, hi=1000.0),
    _k("memory.hysteresis", "margin", "5%",
       "How far under a level memory must fall to leave it."),
    _k("memory.interval", "duration", "1s",
       "Poll interval at normal; faster at warning and critical, and as the growth rate "
       "requires (down to 50ms).",
       lo=0.05, hi=3600.0,
       flag="--interval", metavar="DURATION"),
    _k("memory.trend_window", "duration", "5m",
       "The tree's growth rate is estimated over this window.", lo=10.0, hi=86400.0),
    _k("memory.max_growth", "rate", "off",
       "A sustained growth rate above this (e.g. 200MB/min) counts as critical."),

    _k("system.warning", "threshold", "85%",
       "Whole-machine memory use at which guardrun warns."),
    _k("system.critical", "threshold", "95%",
       "Whole-machine memory use treated as critical."),
    _k("system.psi", "float", 40,
       "Memory pressure (PSI some avg10, percent) treated as critical; Linux only.",
       lo=0.0, lo_open=True, hi=100.0),
    _k("system.swap", "float", 80,
       "Swap in use (percent of the machine's swap, zram included) treated as critical.",
       lo=0.0, lo_open=True, hi=100.0),

    _k("gpu.warning", "threshold", "80%",
       "GPU memory use at which guardrun warns (with NVML)."),
    _k("gpu.critical", "threshold", "90%",
       "GPU memory use treated as critical (with NVML)."),

    _k("restart.enabled", "bool", True,
       "Restart the command at critical and emergency.",
       flag="--no-restart", switch=False),
    _k("restart.on_crash", "bool", True,
       "Restart after a crash or OOM kill, not after a clean exit."),
    _k("restart.resume", "bool", True,
       "Relaunch with the agent's resume arguments.",
       flag="--no-resume", switch=False),
    _k("restart.resume_args", "argv", [],
       "Generic agents: arguments to add when resuming."),
    _k("restart.grace", "duration", "10s",
       "SIGTERM to SIGKILL for the whole process group.", **_NONNEG,
       flag="--grace", metavar="DURATION"),
    _k("restart.idle_quiet", "duration", "5s",
       "At critical: restart once output and keys have been quiet this long.", **_POS),
    _k("restart.idle_wait", "duration", "2m",
       "At critical: restart after this long at most.", **_NONNEG),
    _k("restart.plan_ahead", "duration", "15m",
       "Planned restart when memory is at warning, emergency is predicted within this "
       "and the agent is idle; 0 turns planning off.", **_NONNEG),
    _k("restart.idle", "duration", "30s",
       "How long the agent must be idle (no output, no keys) for a planned restart; "
       "0 turns planning off.", **_NONNEG),
    _k("restart.min_uptime", "duration", "2s",
       "A command that fails sooner than this after starting has a start problem (a bad "
       "flag, a missing login), not a crash: it is not restarted.", **_NONNEG),
    _k("restart.max_attempts", "int", 3,
       "Restarts allowed within window.", lo=0.0, hi=1000.0,
       flag="--max-restarts", metavar="N"),
    _k("restart.window", "duration", "1h",
       "Time span over which restarts are counted.", **_POS,
       flag="--window", metavar="DURATION"),
    _k("restart.cooldown", "duration", "10s",
       "Wait before the 2nd restart within the window (the 1st is immediate); "
       "doubles per restart, up to max_cooldown.", **_NONNEG,
       flag="--cooldown", metavar="DURATION"),
    _k("restart.max_cooldown", "duration", "5m",
       "Longest wait before a restart.", **_NONNEG),
    _k("restart.reset_after", "duration", "10m",
       "This much stable uptime forgets earlier restarts.", **_NONNEG),
    _k("restart.on_exhausted", "enum", "monitor",
       "When restarts are used up: keep monitoring, or stop the command at emergency "
       "(exit 75).", choices=("monitor", "stop"),
       flag="--on-exhausted"),

    _k("state.dir", "path", "auto",
       "Where states and run logs go; auto is <user state dir>/guardrun.",
       flag="--state-dir", metavar="PATH"),
    _k("state.keep", "int", 50,
       "Saved states kept per project (newest first).", lo=1.0, hi=100000.0),
    _k("state.max_age", "duration", "7d",
       "Saved states older than this are pruned.", **_POS),
    _k("state.transcript", "enum", "copy",
       "What is kept of the agent's transcript: all, the end, or nothing.",
       choices=("copy", "tail", "none")),
    _k("state.redact", "regexes", [],
       "Extra regular expressions whose matches are scrubbed from saved states (each must "
       "match at least one character: `x*` or `^` is an error)."),

    _k("hooks.on_warning", "argv", [],
       "Command run (no shell) when memory reaches warning."),
    _k("hooks.on_critical", "argv", [],
       "Command run when memory reaches critical."),
    _k("hooks.on_restart", "argv", [],
       "Command run when guardrun restarts the command."),
    _k("hooks.on_degraded", "argv", [],
       "Command run when guardrun degrades (e.g. restarts exhausted)."),
    _k("hooks.on_exit", "argv", [],
       "Command run when the supervised command ends for good."),

    _k("agents.codex_no_daemon", "bool", True,
       "Codex: add --no-daemon, so the run's own codex holds its rollout and its memory "
       "(off: Codex's shared app-server daemon serves it, outside the tree)."),
    _k("agents.gemini_session_id", "bool", True,
       "Gemini: start new sessions with --session-id <new uuid>, so the run's chat is "
       "provably its own."),

    _k("priority", "int", 0,
       "Several runs over machine.budget (or the machine critical): the lowest priority "
       "gives way first.", lo=-1000.0, hi=1000.0, flag="--priority", metavar="N"),
    _k("machine.budget", "budget", "off",
       "All live guardrun runs of this user together (e.g. 60% or 12GB); over it, one "
       "run restarts, chosen by priority, idleness and size."),
    _k("metrics.textfile", "file", "off",
       "Prometheus text format for node_exporter's textfile collector: a file ending in "
       ".prom, or a directory where each run writes guardrun-<run id>.prom; rewritten "
       "every 5s and at level changes and restarts, removed at exit (kept, marked gone, "
       "after an emergency stop)."),

    _k("notify.title", "bool", True,
       "Show the memory level in the terminal title."),
    _k("notify.bell", "bool", True,
       "Ring the terminal bell at critical and emergency."),
    _k("notify.desktop", "enum", "auto",
       "Desktop notifications; auto: when a notifier exists.", choices=_BOOLS),
)
# fmt: on

# The trust model (docs/configuration.md, "Trust"): a project file (a cloned repository's
# .guardrun.yaml) is a stranger's until the user trusts its exact content. Its keys that
# are not "safe" apply only then; until then those keys keep the user's own values.
# Reasons a key needs trust, as `config show` and the run's notice name them:
TRUST_WHY = {
    "runs": "runs a command",
    "argv": "changes the agent's argv",
    "writes": "moves where data is written",
    "redaction": "changes redaction",
    "others": "affects other runs",
    "floor": "looser than the default",
}
TRUST: dict[str, str] = {
    "command": "runs",
    "hooks.on_warning": "runs",
    "hooks.on_critical": "runs",
    "hooks.on_restart": "runs",
    "hooks.on_degraded": "runs",
    "hooks.on_exit": "runs",
    "agent": "argv",
    "restart.resume": "argv",
    "restart.resume_args": "argv",
    "agents.codex_no_daemon": "argv",
    "agents.gemini_session_id": "argv",
    "state.dir": "writes",
    "metrics.textfile": "writes",
    "state.redact": "redaction",
    "priority": "others",
    "machine.budget": "others",
}
# Protection and retention limits: a project file may make them stricter than the
# defaults at once; looser needs trust. "max": the default is the most it may set
# untrusted (more restarts, more files kept), "min": the least (shorter waits).
FLOOR: dict[str, str] = {
    "restart.max_attempts": "max",
    "restart.window": "min",
    "restart.cooldown": "min",
    "restart.max_cooldown": "min",
    "restart.reset_after": "min",
    "restart.min_uptime": "min",  # shorter: a command failing at start is restarted
    "state.keep": "max",
    "state.max_age": "max",
}

BY_PATH = {k.path: k for k in KEYS}
BY_ENV = {k.env: k for k in KEYS}
SECTIONS = tuple(dict.fromkeys(k.path.split(".")[0] for k in KEYS if "." in k.path))
TOP_LEVEL = tuple(dict.fromkeys(k.path.split(".")[0] for k in KEYS))


# The typed shape, one immutable record per section; a test checks it matches KEYS.


class MemoryConfig(NamedTuple):
    metric: str
    probe: str
    warning: Threshold
    critical: Threshold
    emergency: Threshold
    sustained: int
    hysteresis: Threshold
    interval: float
    trend_window: float
    max_growth: float | None


class SystemConfig(NamedTuple):
    warning: Threshold
    critical: Threshold
    psi: float
    swap: float


class MachineConfig(NamedTuple):
    budget: Threshold | None


class MetricsConfig(NamedTuple):
    textfile: os.PathLike[str] | None  # None: off


class GpuConfig(NamedTuple):
    warning: Threshold
    critical: Threshold


class RestartConfig(NamedTuple):
    enabled: bool
    on_crash: bool
    resume: bool
    resume_args: list[str]
    grace: float
    idle_quiet: float
    idle_wait: float
    plan_ahead: float
    idle: float
    min_uptime: float
    max_attempts: int
    window: float
    cooldown: float
    max_cooldown: float
    reset_after: float
    on_exhausted: str


class StateConfig(NamedTuple):
    dir: os.PathLike[str] | None  # None: auto, <user state dir>/guardrun
    keep: int
    max_age: float
    transcript: str
    redact: list[str]


class HooksConfig(NamedTuple):
    on_warning: list[str]
    on_critical: list[str]
    on_restart: list[str]
    on_degraded: list[str]
    on_exit: list[str]


class AgentsConfig(NamedTuple):
    codex_no_daemon: bool
    gemini_session_id: bool


class NotifyConfig(NamedTuple):
    title: bool
    bell: bool
    desktop: str  # auto | true | false


class Config:
    """The effective configuration. A plain class, not a dataclass: building a
    dataclass and importing dataclasses (which imports inspect) are start-up a run
    pays before its agent starts (docs/benchmarks.md). Equality ignores
    where values came from (``sources``, ``files``)."""

    # The values (what equality and repr look at), then where they came from.
    _COMPARED = ("command", "agent", "priority", "memory", "system", "gpu", "restart",
                 "state", "hooks", "agents", "machine", "metrics", "notify")  # fmt: skip
    __slots__ = (*_COMPARED, "sources", "files", "held", "notes", "trusted")

    def __init__(
        self,
        command: list[str] | None,
        agent: str,
        memory: MemoryConfig,
        system: SystemConfig,
        gpu: GpuConfig,
        restart: RestartConfig,
        state: StateConfig,
        hooks: HooksConfig,
        agents: AgentsConfig,
        notify: NotifyConfig,
        machine: MachineConfig | None = None,
        metrics: MetricsConfig | None = None,
        priority: int = 0,
        sources: dict[str, str] | None = None,
        files: "list[Path] | None" = None,
    ) -> None:
        self.command = command
        self.agent = agent
        self.memory = memory
        self.system = system
        self.gpu = gpu
        self.restart = restart
        self.state = state
        self.hooks = hooks
        self.agents = agents
        self.notify = notify
        self.machine = machine if machine is not None else MachineConfig(None)
        self.metrics = metrics if metrics is not None else MetricsConfig(None)
        self.priority = priority
        # dotted key -> "default" | "<file>:<line>" | "env GUARDRUN_X" | "flag --x"
        self.sources: dict[str, str] = sources if sources is not None else {}
        self.files: list[Path] = files if files is not None else []
        # A project file's keys held back until the user trusts it (config.trust.Held),
        # and lines to say before the run (a project file skipped at discovery).
        self.held: list[Any] = []
        self.notes: list[str] = []
        self.trusted: dict[str, str] = {}  # project file shown -> how it is taken

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self._COMPARED)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._COMPARED)
        return f"Config({inner})"

    def get(self, path: str) -> object:
        """The value of a dotted key, e.g. ``cfg.get("memory.critical")``."""
        obj: object = self
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj


SECTION_TYPES: dict[str, Any] = {  # section name -> its record type
    "memory": MemoryConfig,
    "system": SystemConfig,
    "gpu": GpuConfig,
    "restart": RestartConfig,
    "state": StateConfig,
    "hooks": HooksConfig,
    "agents": AgentsConfig,
    "machine": MachineConfig,
    "metrics": MetricsConfig,
    "notify": NotifyConfig,
}
