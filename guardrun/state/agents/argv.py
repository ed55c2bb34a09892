"""Split an agent CLI's arguments into options, their values and positionals.

The three parsers behind the supported CLIs agree on what matters here, so one tokenizer
with a per-CLI option table serves them all (each rule below checked against the parser):
- ``--`` ends the options; everything after it is positional (Commander, clap, yargs).
- ``--name=value`` carries its value inline; ``-xVALUE`` does for a short option that takes one.
- An option that requires a value (``one``) takes the next argument whatever it looks like
  (Commander ``<value>``, clap ``<VALUE>``).
- An optional value (``optional``: Commander ``[value]``) is the next argument only when that
  does not start with ``-``.
- A list option (``many``: Commander ``<values...>``, clap ``num_args = 1..``, yargs ``array``)
  takes every following argument up to the next option, so a prompt typed after it is one of
  its values, not a positional, for the CLI too.
Anything else starting with ``-`` is a flag; the rest is positional (prompt or subcommand).
"""

from collections.abc import Collection, Sequence
from typing import NamedTuple

from guardrun.state.agents.base import split_option


class Token(NamedTuple):
    text: str
    kind: str  # "option", "value", "positional" or "end" (the "--" itself)
    option: str  # the option a token belongs to ("" for positionals and "end")


def tokenize(
    args: Sequence[str],
    one: Collection[str] = (),
    optional: Collection[str] = (),
    many: Collection[str] = (),
) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            out.append(Token(arg, "end", ""))
            out.extend(Token(a, "positional", "") for a in args[i:])
            break
        if not arg.startswith("-") or arg == "-":
            out.append(Token(arg, "positional", ""))
            continue
        name, inline = split_option(arg)
        if inline is None and not arg.startswith("--") and len(arg) > 2:
            if arg[:2] in one or arg[:2] in optional:
                name, inline = arg[:2], arg[2:]  # -mMODEL, -r<id>
        out.append(Token(arg, "option", name))
        if inline is not None:
            continue
        if name in one:
            if i < len(args):
                out.append(Token(args[i], "value", name))
                i += 1
        elif name in optional or name in many:
            while i < len(args) and not args[i].startswith("-"):
                out.append(Token(args[i], "value", name))
                i += 1
                if name in optional:
                    break
    return out


def positionals(tokens: Sequence[Token]) -> list[str]:
    return [t.text for t in tokens if t.kind == "positional"]


def first_positional(tokens: Sequence[Token]) -> str | None:
    """The first positional before any ``--``: where a subcommand would be."""
    for token in tokens:
        if token.kind == "end":
            return None
        if token.kind == "positional":
            return token.text
    return None


def has_option(tokens: Sequence[Token], *names: str) -> bool:
    return any(t.kind == "option" and t.option in names for t in tokens)


def option_value(tokens: Sequence[Token], *names: str) -> str | None:
    """The last value given to any of ``names`` (inline or as the next argument)."""
    found = None
    for i, token in enumerate(tokens):
        if token.kind != "option" or token.option not in names:
            continue
        _, inline = split_option(token.text)
        if inline is None and token.text != token.option and not token.text.startswith("--"):
            inline = token.text[2:]  # -xVALUE
        if inline is not None:
            found = inline
        elif i + 1 < len(tokens) and tokens[i + 1].kind == "value":
            found = tokens[i + 1].text
    return found


def without(
    tokens: Sequence[Token], drop_options: Collection[str], drop_positionals: bool
) -> list[str]:
    """The arguments again, less the named options with their values, and less every
    positional (and the ``--`` before them) when ``drop_positionals``."""
    out: list[str] = []
    for token in tokens:
        if token.kind in ("option", "value") and token.option in drop_options:
            continue
        if drop_positionals and token.kind in ("positional", "end"):
            continue
        out.append(token.text)
    return out
