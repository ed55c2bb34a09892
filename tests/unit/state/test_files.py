"""state.files helpers that need no process."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from guardrun.state.files import sha256


@given(st.lists(st.binary(max_size=300), max_size=5))
def test_sha256_is_hashlibs(chunks: list[bytes]) -> None:
    ours, theirs = sha256(), hashlib.sha256()
    for c in chunks:
        ours.update(c)
        theirs.update(c)
    assert ours.hexdigest() == theirs.hexdigest()
    assert sha256(b"".join(chunks)).hexdigest() == theirs.hexdigest()


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_capture_times_are_datetimes_isoformat(epoch: float) -> None:
    import datetime

    from guardrun.state.capture import _iso

    want = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    assert _iso(epoch) == want.isoformat(timespec="milliseconds")
