"""The trust model's parts (issue 26): each key's class, the floor, the owner check, the
record. The runs themselves are in tests/e2e/cli/test_config_trust.py."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from guardrun.config import trust
from guardrun.config.load import _defaults, load_config
from guardrun.config.schema import BY_PATH, FLOOR, KEYS, TRUST, TRUST_WHY


def test_every_key_has_a_known_class() -> None:
    classes = {k.path: k.trust for k in KEYS}
    assert set(classes.values()) <= {"safe", "floor", *TRUST_WHY}
    assert set(TRUST) | set(FLOOR) <= set(classes)  # no stale name in the tables
    for path in ("command", "agent", "restart.resume_args", "state.dir", "state.redact",
                 "metrics.textfile", "priority", "machine.budget"):  # fmt: skip
        assert classes[path] not in ("safe", "floor"), path
    for path in [k.path for k in KEYS if k.path.startswith("hooks.")]:
        assert classes[path] == "runs"
    for path in ("memory.warning", "memory.critical", "memory.interval", "notify.title"):
        assert classes[path] == "safe"


@pytest.mark.parametrize(
    ("path", "raw", "held"),
    [
        ("restart.max_attempts", 1000, True),
        ("restart.max_attempts", 3, False),
        ("restart.max_attempts", 0, False),
        ("restart.window", "1s", True),
        ("restart.window", "2h", False),
        ("restart.cooldown", "0s", True),
        ("restart.cooldown", "1m", False),
        ("restart.max_cooldown", "1m", True),
        ("restart.reset_after", "1m", True),
        ("restart.reset_after", "1h", False),
        ("state.keep", 100000, True),
        ("state.keep", 5, False),
        ("state.max_age", "30d", True),
        ("state.max_age", "1d", False),
        ("memory.critical", "1MB", False),
        ("hooks.on_exit", "[echo, hi]", True),
    ],
)
def test_the_floor(path: str, raw: object, held: bool) -> None:
    from guardrun.config.values import parse_value

    key = BY_PATH[path]
    value = parse_value(key, raw, "/")
    why = trust.needs_trust(key, value, _defaults()[path].value)
    assert (why is not None) == held
    if held and path in FLOOR:
        assert why is not None and why.startswith("looser than the default: ")


def test_digest_is_sha256_of_the_bytes() -> None:
    for text in ("", "memory: {warning: 40%}\n", "naïve: ✓\n"):
        assert trust.digest(text) == hashlib.sha256(text.encode()).hexdigest()


def test_owner_and_mode(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    f.chmod(0o644)
    assert trust.unsafe_owner(os.stat(f)) is None
    f.chmod(0o646)
    assert trust.unsafe_owner(os.stat(f)) == "writable by others"
    f.chmod(0o664)  # the user's own group (user private groups, umask 002)
    assert trust.unsafe_owner(os.stat(f)) is None
    if os.geteuid() == 0:
        os.chown(f, 0, 65534)  # a group that is not ours
        assert trust.unsafe_owner(os.stat(f)) == "writable by group 65534"
        os.chown(f, 65534, 0)
        assert trust.unsafe_owner(os.stat(f)) == "owned by another user (uid 65534)"


def test_a_damaged_record_trusts_nothing(tmp_path: Path) -> None:
    project = tmp_path / ".guardrun.yaml"
    project.write_text("priority: 5\n")
    key = trust.record_key(str(project))
    trust.trust(key, trust.digest(project.read_text()))
    assert trust.is_trusted(key, trust.digest(project.read_text()))
    record = Path(trust.record_path())
    wrong = json.dumps({"files": {key: "x"}})
    for junk in ("{", "[]", '{"files": []}', wrong, "\xff"):
        record.write_text(junk, encoding="latin-1")
        assert trust.records() == {}
        assert load_config(cwd=tmp_path, env={}, flags={}).priority == 0


def test_the_record_names_a_file_by_its_resolved_directory(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    assert trust.record_key(str(tmp_path / "alias" / ".guardrun.yaml")) == str(
        real / ".guardrun.yaml"
    )
    # The file itself is not resolved: a committed symlink is a file of its own.
    (real / "other.yaml").write_text("x")
    (real / ".guardrun.yaml").symlink_to(real / "other.yaml")
    assert trust.record_key(str(real / ".guardrun.yaml")).endswith("/.guardrun.yaml")


def test_untrust_and_notice(tmp_path: Path) -> None:
    project = tmp_path / ".guardrun.yaml"
    project.write_text("command: [x]\nhooks:\n  on_exit: [y]\n")
    cfg = load_config(cwd=tmp_path, env={}, flags={})
    assert [h.key for h in cfg.held] == ["command", "hooks.on_exit"]
    notice = trust.held_notice(cfg.held, cfg.trusted)
    assert notice == (
        ".guardrun.yaml is not trusted: ignored command (runs a command), hooks.on_exit "
        f"(runs a command); review it, then run: guardrun config trust {project}"
    )
    key = trust.record_key(str(project))
    assert trust.untrust(key) is False
    trust.trust(key, trust.digest(project.read_text()))
    assert load_config(cwd=tmp_path, env={}, flags={}).held == []
    assert trust.untrust(key) is True
    assert len(load_config(cwd=tmp_path, env={}, flags={}).held) == 2
