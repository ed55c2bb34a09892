"""The supervisor's records as a default run builds them, for tests that set one or two
fields: the defaults are the config schema's (``config.schema.KEYS``), declared there
once, never again on the records themselves."""

from __future__ import annotations

from guardrun.config.load import default_config
from guardrun.supervisor.breaker import Policy
from guardrun.supervisor.decide import Moment


def policy(**fields: float) -> Policy:
    """``restart.*``'s protection settings at their defaults, ``fields`` changed."""
    r = default_config().restart
    base = Policy(r.max_attempts, r.window, r.cooldown, r.max_cooldown, r.reset_after)
    return base._replace(**fields)


def moment(**fields: float) -> Moment:
    """When a restart may happen (``restart.*``) at the defaults, ``fields`` changed."""
    r = default_config().restart
    return Moment(r.idle_quiet, r.idle_wait, r.plan_ahead, r.idle)._replace(**fields)
