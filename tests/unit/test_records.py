"""guardrun.records.NamedTuple builds what typing.NamedTuple builds, without typing."""

from __future__ import annotations

import pickle
import typing

import pytest

from guardrun.records import NamedTuple


class Mine(NamedTuple):
    """A record."""

    a: int
    b: str | None = None
    c: tuple[int, ...] = ()

    @property
    def double(self) -> int:
        return self.a * 2

    def both(self) -> tuple[int, str | None]:
        return self.a, self.b


class Theirs(typing.NamedTuple):
    """A record."""

    a: int
    b: str | None = None
    c: tuple[int, ...] = ()

    @property
    def double(self) -> int:
        return self.a * 2

    def both(self) -> tuple[int, str | None]:
        return self.a, self.b


def test_the_same_class_as_typing_builds() -> None:
    mine, theirs = Mine(3, "x"), Theirs(3, "x")
    assert tuple(mine) == tuple(theirs) == (3, "x", ())
    assert Mine._fields == Theirs._fields == ("a", "b", "c")
    assert Mine._field_defaults == Theirs._field_defaults == {"b": None, "c": ()}
    # Strings here (as any class's under `from __future__ import annotations`), ForwardRefs
    # there: what they resolve to is the same.
    assert typing.get_type_hints(Mine) == typing.get_type_hints(Theirs)
    assert Mine.__doc__ == Theirs.__doc__ == "A record."
    assert (Mine.__module__, Mine.__qualname__) == (Theirs.__module__, "Mine")
    assert Mine.__mro__[1:] == Theirs.__mro__[1:] == (tuple, object)
    assert repr(mine) == repr(theirs).replace("Theirs", "Mine")
    assert mine.double == theirs.double == 6
    assert mine.both() == theirs.both() == (3, "x")
    assert mine._replace(b=None) == Mine(3)
    assert mine._asdict() == theirs._asdict()
    assert Mine._make([1, 2, 3]) == (1, 2, 3)
    assert pickle.loads(pickle.dumps(mine)) == mine
    with pytest.raises(TypeError):
        Mine()  # type: ignore[call-arg]


class MineBare(NamedTuple):
    a: int
    b: int
    c: int


class TheirsBare(typing.NamedTuple):
    a: int
    b: int
    c: int


@pytest.mark.parametrize(
    "args, kwargs",
    [((), {}), ((1, 2, 3, 4), {}), ((1,), {"d": 3}), ((1,), {"a": 3}), ((), {"b": 1}),
     ((1,), {}), ((), {"c": 1}), ((1, 2), {"c": 3, "a": 1})],
)  # fmt: skip
def test_arguments_bind_as_typing_binds_them(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    """The same tuple, or the same TypeError, word for word."""

    def call(cls: type) -> object:
        try:
            return tuple(cls(*args, **kwargs))
        except TypeError as err:
            return str(err).replace("Theirs", "Mine")

    assert call(Mine) == call(Theirs)
    assert call(MineBare) == call(TheirsBare)
    assert isinstance(call(MineBare), str) or len(args) + len(kwargs) == 3
    with pytest.raises(TypeError, match="Expected 3 arguments, got 1"):
        Mine._make([1])
    with pytest.raises(ValueError, match="unexpected field names"):
        Mine(1)._replace(d=1)  # type: ignore[call-arg]


def test_what_typing_refuses_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default"):

        class Bad(NamedTuple):
            a: int = 1
            b: int  # type: ignore[misc]

    with pytest.raises(AttributeError, match="_replace"):

        class Worse(NamedTuple):
            a: int

            def _replace(self) -> None:  # type: ignore[override]
                pass

    with pytest.raises(TypeError):
        NamedTuple("P", [("a", int)])  # type: ignore[operator]
