"""tojson.dumps: the same text as json.dumps(ensure_ascii=False, default=str) on any value
guardrun writes, compact and indented."""

from __future__ import annotations

import json
import math
from enum import IntEnum
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrun.tojson import MAX_DEPTH, dumps, quote


class Level(IntEnum):
    WARNING = 2


def compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def indented(value: object, indent: int) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=indent)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and the infinities included, as json writes them
    | st.text()  # control characters, quotes, backslashes, any code point, lone surrogates
    | st.sampled_from([Level.WARNING, PurePosixPath("/tmp/a b"), b"bytes", 1 + 2j])
)
_KEYS = st.text() | st.integers() | st.floats() | st.booleans() | st.none()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(_KEYS, inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_VALUES)
def test_compact_text_is_json_dumps(value: object) -> None:
    assert dumps(value) == compact(value)


@given(_VALUES, st.integers(min_value=0, max_value=3))
def test_indented_text_is_json_dumps(value: object, indent: int) -> None:
    assert dumps(value, indent=indent) == indented(value, indent)


@given(st.text())
def test_a_string_reads_back_as_itself(text: str) -> None:
    assert json.loads(quote(text)) == text
    assert quote(text) == json.dumps(text, ensure_ascii=False)


def test_the_forms_the_run_writes() -> None:
    event = {
        "time": "2026-12-02T06:00:00.000Z",
        "event": "started",
        "argv": ["claude", "--resume"],
        "rss": 1_500_000,
        "ratio": 0.25,
        "ok": True,
        "none": None,
        "tab\t": 'a"b\\c\n\x00\x7f é',
    }
    assert dumps(event) == compact(event)
    assert dumps(event, indent=1) == indented(event, 1)
    assert (
        dumps({}) == "{}"
        and dumps([], indent=1) == "[]"
        and dumps({"a": []}, indent=1) == '{\n "a": []\n}'
    )
    assert dumps({2: 2, 1.5: 3, True: 4, None: 5}) == '{"2":2,"1.5":3,"true":4,"null":5}'
    assert dumps(math.nan) == "NaN" and dumps([-math.inf]) == "[-Infinity]"


def test_a_key_json_cannot_write_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None, not tuple"):
        dumps({(1, 2): 3})
    with pytest.raises(TypeError):
        compact({(1, 2): 3})


def test_nesting_is_bounded() -> None:
    deep: list[object] = []
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert dumps(deep) == compact(deep)  # as deep as it goes
    deep = [deep, deep]
    with pytest.raises(ValueError, match="too deeply nested"):
        dumps(deep)
