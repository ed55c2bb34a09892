"""Generate docs/configuration.md from the schema in guardrun/config/schema.py.

python tools/gen_config_doc.py          # rewrite docs/configuration.md
python tools/gen_config_doc.py --check  # exit 1 when the committed file is stale
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guardrun.config.load import NON_CONFIG_ENV, NON_CONFIG_ENV_PREFIXES  # noqa: E402
from guardrun.config.schema import KEYS, SECTIONS  # noqa: E402
from guardrun.config.yaml import flow  # noqa: E402
from guardrun.units import DURATION_EXAMPLES, SIZE_EXAMPLES  # noqa: E402

DOC = ROOT / "docs" / "configuration.md"

_NON_CONFIG = textwrap.fill(
    "These `GUARDRUN_` variables are set or read by guardrun itself and are not settings: "
    + ", ".join(f"`{n}`" for n in sorted(NON_CONFIG_ENV))
    + ", and any starting with "
    + ", ".join(f"`{p}`" for p in NON_CONFIG_ENV_PREFIXES)
    + ". Any other variable that looks like a setting (`GUARDRUN_MEMORY_...`) but is not one "
    "is an error, so that a typo is not silently ignored.",
    width=90,
    break_on_hyphens=False,
)

INTRO = f"""\
# Configuration

<!-- Generated from guardrun/config/schema.py by `python tools/gen_config_doc.py`.
     Do not edit by hand: change the schema and regenerate (a test checks this file). -->

## Where settings come from

Lowest to highest; a higher source overrides a lower one key by key (a project file that
sets `memory.critical` keeps the user file's `memory.warning`):

1. built-in defaults (below);
2. the user file, `<user config dir>/guardrun/config.yaml` (`~/.config/guardrun/config.yaml`
   on Linux; the directory can be moved with `GUARDRUN_CONFIG_HOME`);
3. the project file: the nearest `.guardrun.yaml` from the working directory upward, up to
   the repository root (the first directory holding `.git`) or your home directory,
   whichever comes first (else up to `/`); a file owned by another user (not root) or
   writable by others (or by a group other than your own) is skipped, with one line naming
   it. Its keys apply as the next section says. `--config PATH` reads PATH instead;
4. environment variables, `GUARDRUN_` and the key in capitals with `_` for `.`
   (`GUARDRUN_MEMORY_CRITICAL=12GB`, `GUARDRUN_RESTART_MAX_ATTEMPTS=5`); lists are YAML flow
   text (`GUARDRUN_COMMAND='[claude, --model, opus]'`) or words split as a shell would
   split them, without running a shell; an empty variable counts as unset;
5. command-line flags (`--critical 12GB`, `--max-restarts 5`, ...).

`--no-config` skips both files. `guardrun config show --sources` prints every value with
the file and line, variable or flag it came from; `guardrun config check [FILE]` validates.

{_NON_CONFIG}

## Trust: a project file is a stranger's until you trust it

A `.guardrun.yaml` found in a cloned repository was written by whoever wrote the
repository. Like `direnv allow` and `mise trust`, guardrun applies its **safe** keys
(thresholds, intervals, notifications, display) at once, and holds back every other key
until you have trusted that file's exact content:

```
guardrun config trust [PATH]     # records the file's sha256 (default: the file found here)
guardrun config untrust [PATH]
guardrun config show             # which keys were held back, and why; every key's class
```

A held-back key keeps your own value (your user file, the environment, a flag, or the
default), and a run says so once, on stderr before the agent starts (as every warning, not
with `-q`), with the command that trusts the file; `guardrun config check` notes it too:

```
guardrun: .guardrun.yaml is not trusted: ignored hooks.on_exit (runs a command),
state.dir (moves where data is written); review it, then run:
guardrun config trust /home/me/src/repo/.guardrun.yaml
```

The classes (column "project file" below):

- **safe**: applies at once.
- **runs** (`command`, `hooks.*`): runs a command as you, with your environment.
- **argv** (`agent`, `restart.resume`, `restart.resume_args`, `agents.*`): changes the
  agent's command line (e.g. `--dangerously-skip-permissions` on a resume).
- **writes** (`state.dir`, `metrics.textfile`): moves where guardrun writes (transcript
  copies into the working tree; a file through a committed symlink).
- **redaction** (`state.redact`): changes what is scrubbed.
- **others** (`priority`, `machine.budget`): changes how this run ranks against your
  other runs.
- **floor** (`restart.max_attempts`, `window`, `cooldown`, `max_cooldown`, `reset_after`,
  `state.keep`, `state.max_age`): a value as strict as the default or stricter applies at
  once; a looser one (more restarts, shorter waits, more files kept) waits for trust.

The record is `<user state dir>/guardrun/trust.json` (0600, in a 0700 directory; never
`state.dir`), keyed by the file's path with its directory resolved; any change to the file
(a `git pull`) makes it untrusted again, and a record that someone else could have written
trusts nothing. `guardrun config init` trusts the file it writes. Your user file, `GUARDRUN_*`
variables, flags and a file you name with `--config PATH` are yours and always trusted.
A project file is still read and checked whole: a bad value in it is an error even when
the key would be held back.

## Values

- **size or percent**: bytes as an integer, a size ({SIZE_EXAMPLES.replace(", 70%", "")};
  `GB` is 1000³ and `G`/`GiB` 1024³), or a percentage of the memory available: the cgroup v2
  `memory.max` when one is set, else physical RAM (for `system.*`, physical RAM; for
  `gpu.*`, the GPU's memory). `memory.hysteresis` may also be 0.
- **duration**: seconds as a number, or with a unit ({DURATION_EXAMPLES}).
- **boolean**: `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`).
- **argv list**: a command and its arguments, run directly (no shell), e.g.
  `[notify-send, guardrun, "memory high"]`; a string is split into words like a shell does.
  Hooks receive the event in `GUARDRUN_*` variables.
- A file may use YAML anchors and merge keys (`<<: *base`); a key given twice in one
  mapping is an error.
- `state.dir`: `~` is expanded; a relative path is taken from the directory of the file
  that sets it (from the working directory for variables and flags).
- `state.redact`: Python regular expressions, applied to values (a command's arguments,
  a hook's output, a state's fields) before they are written as JSON, never to the JSON
  text. `re` has no time limit, so a pattern that can backtrack catastrophically is refused
  where it is read (`config check` and a run alike): a repeated group holding a quantifier
  (`(a+)+`), a repeated alternation whose branches start alike (`(a|aa)+`), or two
  unbounded quantifiers in a row over the same characters (`.*.*`). What passes is at worst
  quadratic, and searches each value in overlapping windows of 1024 characters, up to 64 KiB
  of it (no value guardrun records is longer; the rest would be replaced by a marker): a
  pattern costs one value 1 s at the very worst. The check is conservative (it refuses e.g.
  `(?:\\d{{1,3}}\\.)+`); a possessive quantifier or atomic group (`(?>...)`) passes.

Checks across keys: `warning < critical < emergency` within `memory`, `system` and `gpu`
(compared when both are percentages or both sizes); `restart.cooldown <= restart.max_cooldown`.

## Errors

Every mistake stops guardrun before it starts anything, with exit status 2 and one line
naming the file and line, the variable or the flag, and the key:

```
.guardrun.yaml:4: memory.critical: 'lots' is not a size or a percentage ({SIZE_EXAMPLES})
.guardrun.yaml:7: restart.max_attemps: unknown key (did you mean restart.max_attempts?)
GUARDRUN_MEMORY_CRITCAL: not a guardrun setting (did you mean GUARDRUN_MEMORY_CRITICAL?)
--critical: 40% must be above memory.warning (50%, the default)
```
"""


def render() -> str:
    parts = [INTRO, "## Keys\n"]
    for section in ("", *SECTIONS):
        keys = [k for k in KEYS if k.path.rpartition(".")[0] == section]
        parts.append(f"### `{section}`\n" if section else "### Top level\n")
        parts.append("| key | type | default | variable | project file | description |")
        parts.append("|---|---|---|---|---|---|")
        for k in keys:
            bounds = _bounds(k.lo, k.lo_open, k.hi, k.kind)
            default = flow(k.default).replace("|", "\\|")
            parts.append(
                f"| `{k.path}` | {k.type_doc}{bounds} | `{default}` | `{k.env}` | {k.trust} "
                f"| {k.doc} |"
            )
        parts.append("")
    parts.append("## All defaults\n\n```yaml")
    for section in ("", *SECTIONS):
        if section:
            parts.append(f"{section}:")
        for k in KEYS:
            if k.path.rpartition(".")[0] == section:
                indent = "  " if section else ""
                parts.append(f"{indent}{k.path.rpartition('.')[2]}: {flow(k.default)}")
    parts.append("```\n")
    return "\n".join(parts)


def _bounds(lo: float | None, lo_open: bool, hi: float | None, kind: str) -> str:
    if kind == "duration":
        unit = "s"
    elif kind in ("int", "float"):
        unit = ""
    else:
        return ""
    out = []
    if lo is not None:
        out.append(f"{'>' if lo_open else '>='} {lo:g}{unit}")
    if hi is not None:
        out.append(f"<= {hi:g}{unit}")
    return f" ({', '.join(out)})" if out else ""


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is stale: run python tools/gen_config_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
