"""MemoryWatch: when the next sample comes (polling follows the growth rate) and the
trend it keeps. Samples are built here (``judge`` is given them), so nothing is spawned."""

from __future__ import annotations

from argparse import Namespace

import pytest

from guardrun.config.load import default_config
from guardrun.platform.cgroup import MemoryLimit
from guardrun.platform.types import ProcSample, TreeSample
from guardrun.runner import settings_from_config
from guardrun.supervisor.levels import NORMAL, WARNING
from guardrun.supervisor.memory import AIM, AIM_SHARE, FLOOR, MemoryWatch
from guardrun.supervisor.tree import Tree
from guardrun.units import Threshold

MB = 1_000_000
DEFAULTS = settings_from_config(default_config(), ["x"], Namespace(no_pty=False))


def watch(interval: float = 1.0, sustained: int = 3) -> MemoryWatch:
    settings = DEFAULTS._replace(
        warning=Threshold(500 * MB, False), critical=Threshold(700 * MB, False),
        emergency=Threshold(1000 * MB, False), interval=interval, sustained=sustained,
    )  # fmt: skip
    tree = Tree("test", set, lambda *a: None)
    return MemoryWatch(settings, MemoryLimit(16_000 * MB, "test"), tree, None, lambda m: None)


def sample(value: int, t: float) -> TreeSample:
    return TreeSample(t, (ProcSample(1, 0, value),))


def feed(mem: MemoryWatch, points: list[tuple[float, int]]) -> None:
    for t, value in points:
        mem.judge(sample(value, t), t)


def test_a_flat_tree_is_sampled_once_per_interval() -> None:
    mem = watch()
    feed(mem, [(0.0, 100 * MB), (1.0, 100 * MB)])
    assert mem.next_delay(NORMAL) == 1.0
    feed(mem, [(2.0, 99 * MB)])  # falling: nothing to catch up with
    assert mem.next_delay(NORMAL) == 1.0


def test_a_fast_leak_is_sampled_halfway_then_just_past_the_crossing() -> None:
    mem = watch()
    feed(mem, [(0.0, 100 * MB), (1.0, 200 * MB)])  # 100 MB/s, 300 MB under warning
    assert mem.next_delay(NORMAL) == pytest.approx(1.0)  # 3 s away: halfway is 1.5 s
    feed(mem, [(1.5, 300 * MB)])  # 200 MB/s, 200 MB left: 1 s away, halfway
    assert mem.next_delay(NORMAL) == pytest.approx(0.5)
    feed(mem, [(2.0, 430 * MB)])  # 260 MB/s, 70 MB left: 0.27 s away, halfway
    assert mem.next_delay(NORMAL) == pytest.approx(70 / 260 / 2)
    feed(mem, [(2.1, 460 * MB)])  # 300 MB/s, 40 MB left: 0.133 s away, halfway
    assert mem.next_delay(NORMAL) == pytest.approx(40 / 300 / 2)
    feed(mem, [(2.2, 490 * MB)])  # 300 MB/s, 10 MB left: 33 ms away, the floor
    assert mem.next_delay(NORMAL) == pytest.approx(FLOOR)
    feed(mem, [(2.3, 420 * MB), (2.4, 440 * MB)])  # 200 MB/s, 60 MB left: 0.3 s away
    feed(mem, [(2.5, 475 * MB)])  # 350 MB/s, 25 MB left: 71 ms away, just after it
    assert mem.next_delay(NORMAL) == pytest.approx(25 / 350 * (1 + AIM_SHARE) + AIM)


def test_past_a_threshold_the_next_one_is_aimed_at() -> None:
    mem = watch(sustained=1)
    feed(mem, [(0.0, 560 * MB), (0.5, 600 * MB)])  # warning now; 80 MB/s, 100 MB to critical
    assert mem.level == WARNING
    assert mem.next_delay(WARNING) == pytest.approx(0.5)  # warning's own interval: 0.5 s
    feed(mem, [(0.6, 680 * MB)])  # 800 MB/s, 20 MB left: 25 ms away, floored
    assert mem.next_delay(WARNING) == FLOOR


def test_a_sustain_building_polls_at_the_raw_levels_interval() -> None:
    """3 samples in a row at warning before acting: they come at warning's pace."""
    mem = watch(sustained=3)
    feed(mem, [(0.0, 510 * MB), (1.0, 510 * MB)])
    assert mem.level == NORMAL and mem.next_delay(NORMAL) == 0.5


def test_the_trend_is_fed_and_a_new_child_forgets_it() -> None:
    mem = watch()
    feed(mem, [(float(t), 100 * MB + t * MB // 2) for t in range(200)])  # 30 MB/min
    assert mem.estimate.rate == pytest.approx(MB / 2, rel=0.05)
    assert mem.estimate.eta_critical == pytest.approx((700 - 199.5) * 2, rel=0.05)
    mem.tree.new_child = lambda pid: None  # type: ignore[method-assign]
    mem.new_child(1)
    assert mem.estimate.rate is None and mem.next_delay(NORMAL) == 1.0


class _Cgroup:
    """Stands for platform.cgroup_tree.TreeCgroup (the real one is read in
    tests/e2e/memory/test_swapped_leak.py): whom it holds and what it is charged."""

    def __init__(self, strangers: set[int]) -> None:
        self.strangers = strangers
        self.looks = 0

    def holds_only(self, ours: set[int]) -> bool:
        self.looks += 1
        return not self.strangers - ours

    def charge(self, own: int = 0) -> object:
        from guardrun.platform.types import Charge

        return Charge(300 * MB, 200 * MB, "/sys/fs/cgroup/agent.scope")

    def close(self) -> None:
        pass


class _Tree:
    def __init__(self, value: int) -> None:
        self.value = value

    def sample(self) -> TreeSample:
        return TreeSample(0.0, (ProcSample(4242, 1, self.value, swap=10 * MB),))


def test_a_tree_alone_in_its_cgroup_is_read_from_it_checked_every_few_samples() -> None:
    from guardrun.supervisor.memory import ALONE_EVERY

    mem = watch()
    mem.tree = _Tree(100 * MB)  # type: ignore[assignment]
    cgroup = _Cgroup(strangers=set())
    mem._cgroup = cgroup  # type: ignore[assignment]
    got = mem.sample()
    assert got is not None and got.cgroup is not None
    assert got.total("footprint") == 500 * MB and got.swapped == 200 * MB
    assert mem.history[-1][1] == 500 * MB
    for _ in range(ALONE_EVERY - 1):
        mem.sample()
    assert cgroup.looks == 1  # looked once in ALONE_EVERY samples
    cgroup.strangers = {1}  # someone else joined the cgroup: seen at the next look
    got = mem.sample()
    assert cgroup.looks == 2 and got is not None and got.cgroup is None
    assert got.total("footprint") == 110 * MB  # the processes' resident + swapped
