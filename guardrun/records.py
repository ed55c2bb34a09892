"""``NamedTuple`` without importing ``typing`` at run time: every start pays for imports.

``typing`` costs a start about as much as the rest of the standard library guardrun
needs, and each ``typing.NamedTuple`` class statement compiles every field's
annotation into a ``ForwardRef`` and then a ``__new__`` (``collections.namedtuple``
``eval``s one per class): ~0.3 ms a class here, ~0.17 ms for the ``namedtuple`` part
alone at a cold start. guardrun declares some forty
records, most of them on the start path. Type checkers see ``typing.NamedTuple``
itself (the ``TYPE_CHECKING`` branch); at run time a class statement ``class
P(NamedTuple): ...`` builds the class ``typing`` would: what ``collections.namedtuple``
makes of the annotated fields in order and the defaults given in the body (the same
``_fields``, ``_field_defaults``, ``_make``, ``_replace``, ``_asdict``, repr, pickling
and argument errors; fields read by the same C getter), ``__annotations__`` (the
strings, under ``from __future__ import annotations``) and the body's methods,
properties and docstring; only its ``__new__`` is a closure, not compiled code.

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

    try:
        from _collections import _tuplegetter
    except ImportError:  # as collections does where the C helper is missing
        from operator import itemgetter as _itemgetter

        def _tuplegetter(index, doc):
            return property(_itemgetter(index), doc=doc)

    # What a record's body may not define: the tuple machinery built here.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
         "_make", "_replace", "_asdict", "_source"}
    )  # fmt: skip
    _NOT_COPIED = frozenset({"__module__", "__name__", "__annotations__"})  # as typing's
    _MISSING = object()
    _tuple_new = tuple.__new__

    def _binder(name, fields, defaults):
        """``__new__`` for these fields, with Python's own argument errors. No ``eval``:
        ``collections.namedtuple`` compiles a ``__new__`` per class (~0.1 ms each)."""
        n = len(fields)
        index = {field: i for i, field in enumerate(fields)}
        first_default = n - len(defaults)

        names = frozenset(fields)
        pairs = tuple(zip(fields, (_MISSING,) * first_default + defaults, strict=True))

        def __new__(cls, *args, **kwargs):  # noqa: N807
            if not kwargs:
                if len(args) == n:
                    return _tuple_new(cls, args)
            elif not args and names.issuperset(kwargs):  # all by name: one pass
                values = [kwargs.get(field, default) for field, default in pairs]
                if _MISSING not in values:
                    return _tuple_new(cls, values)
            if len(args) > n:
                takes = f"from {first_default + 1} to {n + 1}" if defaults else f"{n + 1}"
                raise TypeError(
                    f"{name}.__new__() takes {takes} positional arguments but "
                    f"{len(args) + 1} were given"
                )
            values = [*args, *([_MISSING] * (n - len(args)))]
            for key, value in kwargs.items():
                i = index.get(key)
                if i is None:
                    raise TypeError(f"{name}.__new__() got an unexpected keyword argument {key!r}")
                if i < len(args):
                    raise TypeError(f"{name}.__new__() got multiple values for argument {key!r}")
                values[i] = value
            missing = []
            for i in range(len(args), n):
                if values[i] is _MISSING:
                    if i >= first_default:
                        values[i] = defaults[i - first_default]
                    else:
                        missing.append(repr(fields[i]))
            if missing:
                if len(missing) == 1:
                    listed = missing[0]
                else:  # as Python lists them: 'a' and 'b'; 'a', 'b', and 'c'
                    listed = ", ".join(missing[:-1]) + ("," if len(missing) > 2 else "")
                    listed += f" and {missing[-1]}"
                raise TypeError(
                    f"{name}.__new__() missing {len(missing)} required positional "
                    f"argument{'s' if len(missing) > 1 else ''}: {listed}"
                )
            return _tuple_new(cls, values)

        return __new__

    def _record_class(name, fields, defaults, ns):
        """The class ``collections.namedtuple`` would build, with the body's own
        attributes, built in one ``type()`` call."""
        n = len(fields)

        @classmethod
        def _make(cls, iterable):
            result = _tuple_new(cls, iterable)
            if len(result) != n:
                raise TypeError(f"Expected {n} arguments, got {len(result)}")
            return result

        def _replace(self, /, **kwds):
            result = self._make(map(kwds.pop, fields, self))
            if kwds:
                raise ValueError(f"Got unexpected field names: {list(kwds)!r}")
            return result

        def __repr__(self):
            body = ", ".join(f"{f}={v!r}" for f, v in zip(fields, self, strict=True))
            return f"{self.__class__.__name__}({body})"

        def _asdict(self):
            return dict(zip(fields, self, strict=True))

        def __getnewargs__(self):
            return tuple(self)

        body = {
            "__doc__": f"{name}({', '.join(fields)})",
            "__slots__": (),
            "_fields": fields,
            "_field_defaults": dict(zip(fields[n - len(defaults) :], defaults, strict=True)),
            "__new__": _binder(name, fields, tuple(defaults)),
            "_make": _make,
            "_replace": _replace,
            "__repr__": __repr__,
            "_asdict": _asdict,
            "__getnewargs__": __getnewargs__,
            "__match_args__": fields,
            "__module__": ns["__module__"],
            "__annotations__": dict(ns.get("__annotations__", {})),
        }
        for i, field in enumerate(fields):
            body[field] = _tuplegetter(i, f"Alias for field number {i}")
        for key, value in ns.items():
            if key in _PROHIBITED:
                raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
            if key not in _NOT_COPIED and key not in fields:
                body[key] = value
        return type(name, (tuple,), body)

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
            return _record_class(name, fields, defaults, ns)

    class _Record(metaclass=_RecordMeta):
        pass

    def NamedTuple(*args, **kwargs):  # noqa: N802 - the name the class statements use
        raise TypeError("guardrun.records.NamedTuple supports the class syntax only")

    NamedTuple.__mro_entries__ = lambda bases: (_Record,)

__all__ = ["TYPE_CHECKING", "NamedTuple", "Protocol"]
