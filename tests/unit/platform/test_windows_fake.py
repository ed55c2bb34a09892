"""The WMI backend, against tests/fakes/wmi.py.

WMI exists only on Windows: the ``wmi`` module here is a fake returning
``Win32_Process`` rows in the shapes the real package gives (see its
docstring). The "package absent" test is real: it hides any ``wmi`` module.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest
from support import FAKES

from guardrun.errors import ProbeError
from guardrun.platform import make_probe
from guardrun.platform.windows import QUERY, WmiProbe

FAKE = FAKES / "wmi.py"
MIB = 1 << 20


@pytest.fixture
def wmi(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("wmi", FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "wmi", module)
    spec.loader.exec_module(module)
    return module


def test_tree_from_one_query(wmi: ModuleType) -> None:
    probe = make_probe("wmi")
    assert probe.name == "wmi"
    sample = probe.sample([10300])
    assert wmi.queries == [QUERY]  # one query per poll, whatever the tree's size
    got = {p.pid: (p.ppid, p.rss) for p in sample.procs}
    assert got == {
        10300: (0, 412 * MIB),
        10388: (10300, 96 * MIB),
        10412: (10300, 12 * MIB),
        10520: (10388, 40 * MIB),
    }
    # PrivatePageCount is private commit, not USS: kept aside, not passed off as uss.
    assert all(p.uss is None and p.pss is None for p in sample.procs)
    assert isinstance(probe, WmiProbe)
    assert probe.last_private == {10300: 380 * MIB, 10388: 70 * MIB, 10412: 8 * MIB, 10520: 0}
    probe.sample([10300, 10244])
    assert len(wmi.queries) == 2
    probe.close()


def test_missing_roots_and_idle_process(wmi: ModuleType) -> None:
    probe = WmiProbe()
    assert probe.sample([99999]).procs == ()
    # pid 0 is its own parent; rooting at it must not loop or list the machine.
    assert probe.sample([0]).procs == ()


def test_query_failure_is_a_probe_error(wmi: ModuleType) -> None:
    probe = WmiProbe()
    wmi.QUERY_ERROR = wmi.x_wmi("<x_wmi: Unexpected COM Error (-2147023170, 'RPC call failed')>")
    with pytest.raises(ProbeError, match="WMI query of Win32_Process failed: .*RPC call failed"):
        probe.sample([10300])


def test_connect_failure_is_a_probe_error(wmi: ModuleType) -> None:
    wmi.CONNECT_ERROR = wmi.x_wmi("access denied")
    with pytest.raises(ProbeError, match="cannot connect to WMI: access denied"):
        WmiProbe()


def test_empty_answer_is_a_probe_error(wmi: ModuleType) -> None:
    wmi.ROWS = []
    with pytest.raises(ProbeError, match="no processes"):
        WmiProbe().sample([1])


def test_package_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wmi", None)  # import wmi -> ImportError, for real
    with pytest.raises(ProbeError, match=r"wmi package is not installed"):
        make_probe("wmi")
