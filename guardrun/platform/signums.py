"""The ``signal`` module's functions and numbers, taken from the C module it wraps.

``import signal`` builds three enums (``Signals``, ``Handlers``, ``Sigmasks``) at import
and brings ``enum``, ``functools`` and ``collections`` with it, at every start
(docs/benchmarks.md), for names guardrun prints only when a signal arrives. ``_signal``
has the same functions and constants, as plain ints (the numbers the enums stand for, and
what a handler is called with in either case). Type checkers see ``signal`` itself, so
every use is checked against its real signatures; ``signal.Signals`` is not to be used
through this module (``_signal`` has none): :func:`signal_name` gives the name.

Use as ``from guardrun.platform.signums import signal``.
"""

TYPE_CHECKING = False  # not typing's: the sentinel's program imports this module
if TYPE_CHECKING:
    import signal as signal
else:
    try:
        import _signal as signal
    except ImportError:  # pragma: no cover - a Python whose signal module is all its own
        import signal


def signal_name(sig: int) -> str:
    """``SIGTERM`` for 15, as ``signal.Signals(sig).name``; the number as text when the
    OS has no such signal. Imports ``signal`` (the enums) at the first call."""
    import signal as full

    try:
        return full.Signals(sig).name
    except ValueError:
        return str(sig)


__all__ = ["signal", "signal_name"]
