"""Reading one config file: YAML nodes to (dotted key, raw value, line) triples.

The file is composed into nodes (not loaded into dicts) so that every key keeps its line
number for messages. Structure (sections, unknown and duplicate keys) is checked here;
values are parsed by ``guardrun.config.values``. Imported only when a file exists,
because importing yaml costs a few milliseconds of start-up.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode

from guardrun.config.schema import BY_PATH, KEYS, SECTIONS, TOP_LEVEL
from guardrun.config.values import describe
from guardrun.errors import ConfigError

_NULL = "tag:yaml.org,2002:null"
# The C parser is several times faster; it is optional in PyYAML builds.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_CONFIG = 1 << 20  # a config file is a few hundred bytes; nothing legitimate is 1 MiB


def _read_text(path: Path, shown: str) -> str:
    """The file's text, safely: a cloned repository may commit ``.guardrun.yaml`` as a
    symlink to ``/dev/zero`` (read it whole and guardrun grows without bound) or a FIFO
    (open it and guardrun hangs). So: open without blocking, accept a regular file only,
    and read at most ``MAX_CONFIG`` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{shown}: not a regular file (a device, FIFO or socket)")
        data = os.read(fd, MAX_CONFIG + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG:
        raise ConfigError(f"{shown}: larger than {MAX_CONFIG // 1024} KiB: not a config file")
    return data.decode("utf-8")


def read_file(path: Path, shown: str) -> list[tuple[str, object, int]]:
    """Read and structure-check ``path``; ``shown`` is how messages name it."""
    return parse_text(read_text(path, shown), shown)


def read_text(path: Path, shown: str) -> str:
    """The file's text (what a trust record's hash is taken of); ConfigError naming it."""
    try:
        return _read_text(path, shown)
    except FileNotFoundError:
        raise ConfigError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{shown}: is a directory, not a config file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{shown}: not UTF-8 text (bad byte at offset {err.start})") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or err
        raise ConfigError(f"{shown}: cannot read: {reason}") from None


def parse_text(text: str, shown: str) -> list[tuple[str, object, int]]:
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = err.problem or err.context or "cannot parse"
        ctx = err.context_mark
        if err.problem and err.context and ctx is not None and ctx.line != getattr(mark, "line", 0):
            problem += f" ({err.context} on line {ctx.line + 1})"
        raise ConfigError(f"{shown}{where}: YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as err:  # a character YAML does not allow; no mark
        line = text.count("\n", 0, max(err.position, 0)) + 1
        ch = err.character
        code = f"#x{ch:04x}" if isinstance(ch, int) else repr(ch)
        raise ConfigError(f"{shown}:{line}: YAML error: character {code}: {err.reason}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{shown}: YAML error: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise ConfigError(f"{shown}: YAML error: nested too deeply") from None
    if root is None or _is_null(root):
        return []  # an empty file, or one holding only comments
    if not isinstance(root, MappingNode):
        raise ConfigError(
            f"{shown}:{_line(root)}: the top level must be a mapping of keys such as "
            f"'memory:', got {_node_kind(root)}"
        )
    out: list[tuple[str, object, int]] = []
    constructor = SafeConstructor()
    for name, knode, vnode in _items(root, "", shown, constructor):
        if name in SECTIONS and name not in BY_PATH:
            if _is_null(vnode):
                continue  # "memory:" with nothing under it
            if not isinstance(vnode, MappingNode):
                raise ConfigError(
                    f"{shown}:{_line(knode)}: {name}: expected a mapping of {name}.* keys, "
                    f"got {_node_kind(vnode)}"
                )
            for leaf, lknode, lvnode in _items(vnode, name + ".", shown, constructor):
                dotted = f"{name}.{leaf}"
                out.append((dotted, _value(lvnode, shown, dotted, constructor), _line(lknode)))
        else:
            out.append((name, _value(vnode, shown, name, constructor), _line(knode)))
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,80}\Z")


def _items(
    node: MappingNode, prefix: str, shown: str, constructor: SafeConstructor
) -> list[tuple[str, Node, Node]]:
    """The known keys of one mapping, in order; unknown or repeated keys raise."""
    try:
        constructor.flatten_mapping(node)  # resolve YAML merge keys (<<: *defaults)
    except Exception as err:  # noqa: BLE001 - PyYAML raises assorted types on odd merges
        raise ConfigError(f"{shown}:{_line(node)}: bad merge key: {_problem(err)}") from None
    seen: set[str] = set()
    out: list[tuple[str, Node, Node]] = []
    for knode, vnode in node.value:
        if not isinstance(knode, ScalarNode):
            raise ConfigError(
                f"{shown}:{_line(knode)}: keys must be plain names, got {_node_kind(knode)}"
            )
        name = str(knode.value)
        dotted = prefix + name
        if dotted not in BY_PATH and (prefix or name not in TOP_LEVEL):
            # A key is a stranger's text too: quoted and shortened unless a plain name.
            what = dotted if _PLAIN_KEY.match(dotted) else describe(dotted)
            raise ConfigError(f"{shown}:{_line(knode)}: {what}: unknown key{suggest(dotted)}")
        if name in seen:
            raise ConfigError(f"{shown}:{_line(knode)}: {dotted}: repeated key")
        seen.add(name)
        out.append((name, knode, vnode))
    return out


def suggest(dotted: str) -> str:
    """`` (did you mean memory.critical?)`` when a known key is close, else ``""``."""
    import difflib

    leaf = dotted.rpartition(".")[2]
    # A key in the wrong section ("critical" at the top) names the first section holding it.
    close = [k.path for k in KEYS if k.path.rpartition(".")[2] == leaf and k.path != dotted][:1]
    if not close:
        close = difflib.get_close_matches(dotted, [k.path for k in KEYS] + list(SECTIONS), 1, 0.7)
    if not close:
        leaves = {}
        for k in reversed(KEYS):  # reversed: the first section wins a tie
            leaves[k.path.rpartition(".")[2]] = k.path
        near = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.8)
        close = [leaves[near[0]]] if near else []
    return f" (did you mean {close[0]}?)" if close else ""


def _value(node: Node, shown: str, dotted: str, constructor: SafeConstructor) -> object:
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError as err:
        raise ConfigError(f"{shown}:{_line(node)}: {dotted}: {_problem(err)}") from None
    except Exception:  # noqa: BLE001 - a bad explicit tag (!!timestamp 2020-99) raises anything
        what = describe(node.value) if isinstance(node, ScalarNode) else "this value"
        message = f"{shown}:{_line(node)}: {dotted}: cannot read {what} as {node.tag}"
        raise ConfigError(message) from None


def _problem(err: BaseException) -> str:
    problem = getattr(err, "problem", None)
    if problem:
        return str(problem)
    if isinstance(err, RecursionError):
        return "nested too deeply"
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _node_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, ScalarNode):
        return describe(node.value)
    return "a list"


def flow(value: object) -> str:
    """One value as YAML flow text (``[claude, --resume]``, ``65%``, ``'yes'``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()
