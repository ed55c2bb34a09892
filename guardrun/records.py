"""``NamedTuple`` without importing ``typing`` at run time: every start pays for imports.

``typing`` costs a start about as much as the rest of the standard library guardrun
needs, and each ``typing.NamedTuple`` class statement compiles every field's
annotation into a ``ForwardRef`` (~0.3 ms a class here, against ~0.09 ms for
``collections.namedtuple``, which it calls in the end). guardrun declares some forty
records, most of them on the start path. Type checkers see ``typing.NamedTuple``
itself (the ``TYPE_CHECKING`` branch); at run time a class statement ``class
P(NamedTuple): ...`` builds the same class ``typing`` would: a
``collections.namedtuple`` with the annotated fields in order, the defaults given in
the body, ``__annotations__`` (the strings, under ``from __future__ import
annotations``) and the body's methods, properties and docstring.

What ``typing``'s version has and this one does not: the functional form
``NamedTuple("P", [...])`` and generic records (``class P(NamedTuple, Generic[T])``);
guardrun uses neither, and a class statement that tries gets a ``TypeError``.

``Protocol`` is here for the same reason. Modules that need ``TYPE_CHECKING`` take it
from here too: ``typing.TYPE_CHECKING`` means importing ``typing``. (Type checkers
treat any name ``TYPE_CHECKING`` as true.)
"""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
    from typing import Protocol as Protocol
else:
    # A protocol is for type checkers only: at run time the class is a plain class
    # (guardrun never checks one with isinstance).
    Protocol = object

    from collections import namedtuple as _namedtuple

    # What a record's body may not define: the tuple machinery namedtuple builds.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
         "_make", "_replace", "_asdict", "_source"}
    )  # fmt: skip
    _NOT_COPIED = frozenset({"__module__", "__name__", "__annotations__"})  # as typing's

    class _RecordMeta(type):
        def __new__(mcs, name, bases, ns):  # noqa: N804 - a metaclass, as typing's
            if not bases:  # _Record itself
                return super().__new__(mcs, name, bases, ns)
            if bases != (_Record,):
                raise TypeError("a NamedTuple record can only inherit from NamedTuple")
            fields = tuple(ns.get("__annotations__", {}))
            defaults = []
            for field in fields:
                if field in ns:
                    defaults.append(ns[field])
                elif defaults:
                    raise TypeError(
                        f"{name}: field {field} without a default follows a field with one"
                    )
            cls = _namedtuple(name, fields, defaults=defaults, module=ns["__module__"])
            cls.__annotations__ = dict(ns.get("__annotations__", {}))
            for key, value in ns.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
                if key not in _NOT_COPIED and key not in fields:
                    setattr(cls, key, value)
            return cls

    class _Record(metaclass=_RecordMeta):
        pass

    def NamedTuple(*args, **kwargs):  # noqa: N802 - the name the class statements use
        raise TypeError("guardrun.records.NamedTuple supports the class syntax only")

    NamedTuple.__mro_entries__ = lambda bases: (_Record,)

__all__ = ["TYPE_CHECKING", "NamedTuple", "Protocol"]
