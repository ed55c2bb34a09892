"""Pure decisions of the run loop, with the clock's value passed in (no I/O).

What level to act on (the tree's, raised by the machine's pressure or by a growth rate
over ``memory.max_growth``), when to restart (emergency at once; planned at an idle
moment when the trend says emergency is near; critical at a quiet moment, or after
``idle_wait`` at most), and whether an exit was clean, a crash or an out-of-memory death.
"""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

from guardrun.platform.signums import signal
from guardrun.supervisor.levels import CRITICAL, EMERGENCY, NORMAL, RANK, WARNING
from guardrun.supervisor.memory import Tick
from guardrun.supervisor.trend import Estimate

if TYPE_CHECKING:
    from typing import Protocol

    from guardrun.platform.types import TreeSample

    # For type checkers only: a class made at import is start-up every run pays.
    class Judge(Protocol):
        """What judges a sample: ``memory.MemoryWatch``."""

        estimate: Estimate

        def judge(self, sample: TreeSample, now: float) -> Tick: ...
        def next_delay(self, acting: str) -> float: ...

    class MayAsk(Protocol):
        """Whether restart protection may be asked now: ``protection.Protection``."""

        def may_ask(self, now: float) -> bool: ...


PLANNED = "planned"
GROWTH = "growth"

# What runtimes print when they die of memory (V8, CPython, glibc, Go, Rust).
OOM_MESSAGES = (
    b"JavaScript heap out of memory",
    b"FATAL ERROR: Reached heap limit",
    b"MemoryError",
    b"out of memory",
    b"Out of memory",
    b"memory allocation of",
)


class Acting(NamedTuple):
    level: str  # the level that decides what is done
    reason: str  # what it is named after: the level, or "system"/"gpu"


BUDGET, SYSTEM = "budget", "system"  # this run gives way for the machine (turns.py)
WAIT = "wait"  # another run gives way: the machine's pressure is not this run's to act on


def acting_level(
    tree_level: str,
    external_level: str,
    external_source: str,
    growth: float | None = None,
    max_growth: float | None = None,
    turn: str | None = None,
) -> Acting:
    """The tree's level, raised to critical when the machine (RAM, PSI, GPU) is critical
    or the tree grows faster than ``max_growth`` (bytes per second) over the trend's
    window: a runaway that will cross every threshold soon.

    ``turn``, when several runs share the machine (``supervisor.budget``): ``"budget"``
    or ``"system"`` when this run is the one that gives way (critical, named after why);
    ``"wait"`` when another run is, so the machine's pressure is not acted on here. The
    tree's own critical and emergency are its own whatever the turn."""
    if RANK[tree_level] < RANK[CRITICAL]:
        if turn in (BUDGET, SYSTEM):
            return Acting(CRITICAL, turn)
        if external_level == CRITICAL and turn != WAIT:
            return Acting(CRITICAL, external_source or "system")
        if max_growth is not None and growth is not None and growth > max_growth:
            return Acting(CRITICAL, GROWTH)
    return Acting(tree_level, tree_level)


def critical_since(acting: str, since: float | None, now: float) -> float | None:
    """When the current stretch at critical or above began (None: not there now)."""
    if RANK[acting] < RANK[CRITICAL]:
        return None
    return now if since is None else since


class Moment(NamedTuple):
    """When a restart may happen: settings of ``restart`` (seconds; their defaults are the
    config schema's, declared there once)."""

    idle_quiet: float  # at critical: this much quiet is a quiet moment
    idle_wait: float  # ... and this long at critical forces the restart
    plan_ahead: float  # planned: emergency predicted within this ... (0: off)
    idle: float  # ... and the agent idle this long (0: off)


def restart_now(
    acting: Acting,
    since: float | None,
    now: float,
    last_io: float | None,
    when: Moment,
    trend: Estimate | None = None,
) -> str | None:
    """The reason to restart now, or None.

    * Emergency restarts at once.
    * Planned (``last_io`` known, i.e. a terminal to judge idleness by; ``plan_ahead``
      and ``idle`` on): the agent has had no output and no keys for ``idle`` seconds,
      and critical holds, or the tree is at warning and the trend predicts emergency
      within ``plan_ahead``. Under warning the tree is where the user said it may be:
      on a fast leak the trend predicts emergency within ``plan_ahead`` from the
      child's first minute, and a restart then wins back a minute of growth for one of
      restart protection's attempts (three of them, and the circuit opens while the
      leak goes on).
    * Critical otherwise: at the first moment output and keys have been quiet
      ``idle_quiet`` seconds (``last_io`` None: the stretch's start is used), or after
      ``idle_wait`` at critical whatever the agent is doing. While planning is on and
      the trend puts emergency more than twice ``idle_wait`` away, critical waits for
      the planned moment instead: there is time to find the agent idle
      (``waits_for_plan``).
    """
    if acting.level == EMERGENCY:
        return EMERGENCY
    critical = acting.level == CRITICAL and since is not None
    if last_io is not None and when.plan_ahead > 0 and when.idle > 0:
        eta = trend.eta_emergency if trend is not None else None
        near = eta is not None and eta <= when.plan_ahead and RANK[acting.level] >= RANK[WARNING]
        if (critical or near) and now - last_io >= when.idle:
            return PLANNED
        if critical and waits_for_plan(eta, when):
            return None
    if not critical or since is None:
        return None
    quiet = now - (since if last_io is None else last_io)
    if quiet >= when.idle_quiet or now - since >= when.idle_wait:
        return acting.reason
    return None


def waits_for_plan(eta_emergency: float | None, when: Moment) -> bool:
    """At critical with planning on (and a terminal): emergency is more than twice
    ``idle_wait`` away, so critical waits for an idle moment rather than a quiet one.
    Then it waits for a quiet moment, ``idle_wait`` at most (the ``Decider`` counts it
    from the end of this wait), so a restart forced at the end of that still comes
    about ``idle_wait`` before emergency."""
    return eta_emergency is not None and eta_emergency > 2 * when.idle_wait


class Decider:
    """The per-sample decision of the watch loop, in one place for the supervisor and
    the trace simulator (``tools/simulate.py``): the acting level, how long it has been
    critical, and whether to restart now. Pure: the sample's facts and the time in.

    ``since`` is when the critical stretch began, or when it last waited for a planned
    moment: ``idle_wait`` bounds the wait for a quiet moment, and the time spent waiting
    for an idle one does not count toward it (else, once the trend's emergency came
    within ``idle_wait``, critical would restart at once, mid-answer)."""

    def __init__(self, when: Moment, max_growth: float | None = None) -> None:
        self.when = when
        self.max_growth = max_growth
        self.since: float | None = None  # when the current stretch at critical began

    def reset(self) -> None:
        self.since = None

    def level(
        self,
        tree: str,
        external: str,
        source: str,
        trend: Estimate,
        now: float,
        turn: str | None = None,
    ) -> Acting:
        acting = acting_level(tree, external, source, trend.rate, self.max_growth, turn)
        self.since = critical_since(acting.level, self.since, now)
        return acting

    def restart(
        self,
        acting: Acting,
        now: float,
        last_io: float | None,
        trend: Estimate,
        stopped: bool = False,
    ) -> str | None:
        """``restart_now`` for this sample. A stopped child (Ctrl-Z) is neither idle nor
        at a quiet moment: the user put it aside, and only emergency restarts it."""
        if stopped:
            return EMERGENCY if acting.level == EMERGENCY else None
        reason = restart_now(acting, self.since, now, last_io, self.when, trend)
        w = self.when
        if (
            reason is None
            and acting.level == CRITICAL
            and self.since is not None
            and last_io is not None
            and w.plan_ahead > 0
            and w.idle > 0
            and waits_for_plan(trend.eta_emergency, w)
        ):
            self.since = now
        return reason


class Step(NamedTuple):
    tick: Tick  # the sample as judged: value, level before and after, the machine's
    acting: Acting  # the level acted on, and what it is named after
    delay: float  # seconds until the next sample
    restart: str | None  # the reason to restart now (None: not now)


def step(
    decider: Decider,
    watch: "Judge",
    protection: "MayAsk",
    sample: "TreeSample",
    now: float,
    *,
    restart: bool,
    last_io: float | None,
    stopped: bool = False,
    turn: Callable[[bool], str | None] | None = None,
    judged: Callable[[Tick], None] | None = None,
) -> Step:
    """One sample's decision, the same for the run loop and the trace simulator: judge
    the sample, tell ``judged`` (the loop's teller, before anything else is asked), ask
    whose ``turn`` it is to give way for the machine, take the acting level, say when to
    look again and, when restarts are on (``restart``) and protection may be asked,
    whether to restart now. Pure but for what ``watch`` and the callbacks keep."""
    tick = watch.judge(sample, now)
    if judged is not None:
        judged(tick)
    ext = tick.external
    ext_level = ext.level if ext is not None else NORMAL
    mine = turn(ext_level == CRITICAL) if turn is not None else None
    acting = decider.level(
        tick.level, ext_level, ext.source if ext is not None else "", watch.estimate, now, mine
    )
    delay = watch.next_delay(acting.level)
    reason = None
    if restart and protection.may_ask(now):
        reason = decider.restart(acting, now, last_io, watch.estimate, stopped=stopped)
    return Step(tick, acting, delay, reason)


def retry_at(now: float, wait: float, interval: float) -> float:
    """When to ask restart protection again after a refusal (never sooner than a poll)."""
    return now + max(wait, interval)


def clean_exit(returncode: int | None, term_signal: int | None, sent: Iterable[int]) -> bool:
    """True when an exit is the user's or guardrun's doing, not a crash."""
    if returncode == 0:
        return True
    if term_signal in (signal.SIGINT, signal.SIGQUIT) or returncode in (130, 131):
        return True  # the user's Ctrl-C or Ctrl-\
    return term_signal is not None and term_signal in set(sent)


def exit_kind(
    returncode: int | None,
    term_signal: int | None,
    sent: Iterable[int],
    oom_kills: int,
    output_tail: bytes,
) -> str | None:
    """None for a clean exit; "oom" when the kernel's OOM killer or the runtime's own
    message says memory; else "crash"."""
    if clean_exit(returncode, term_signal, sent):
        return None
    if term_signal == signal.SIGKILL and oom_kills > 0:
        return "oom"
    if any(m in output_tail for m in OOM_MESSAGES):
        return "oom"
    return "crash"


def start_failure(ran: float, min_uptime: float) -> bool:
    """A command that fails this soon has a start problem (a bad flag, a missing login),
    not a crash: restarting it would only burn attempts."""
    return ran < min_uptime
