"""Secret scrubbing for every string guardrun writes to disk (pure: no I/O).

A secret is replaced by ``[REDACTED:<kind>]``; what gives the text its meaning
stays: the name of an assignment (``GITHUB_TOKEN=[REDACTED:github_token]``), the
scheme, user and host of a URL, the ``Authorization: Bearer`` prefix.

Speed: transcripts are megabytes. One alternation of every rule was ten times slower
(docs/benchmarks.md), because ``re`` then tries each branch at each position; one
pass per rule, each starting with a literal (``ghp_``, ``://``) or a one-character
class (``[tT]oken``), lets ``re`` skip to candidates in C. Conditions a regular
expression states badly (a word boundary that also accepts JSON's ``\\n`` escape,
whether a name ending in ``key`` is an API key, whether a value is code) are checked
in the callbacks, which see only the rare candidates.

Order matters: PEM blocks first (an assignment that took only the first line
of ``"private_key": "-----BEGIN ...\\n..."`` would hide the rest), then tokens
known by their shape, so that an assignment or URL holding one is labelled by
the token's kind. No rule matches a marker, but a replacement can change a
neighbour's context (a key glued to the end of another, ``AIza...sk-...``, gains
a word boundary once the first becomes a marker), so the built-in passes repeat
until nothing changes: ordinary text, the common case, costs one round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardrun.errors import ConfigError

if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Sequence
    from typing import Any

    _Replace = Callable[[re.Match[str]], str]


class _Lazy:
    """A regular expression compiled on first use. guardrun scrubs its argv at every
    start, and compiling all the rules would cost most of a start-up (docs/benchmarks.md);
    most never run on a given text (see the keywords in ``_BUILTIN``)."""

    __slots__ = ("_source", "_compiled")

    def __init__(self, source: str) -> None:
        self._source = source
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            import re  # at the first rule that runs: a start may need none

            self._compiled = re.compile(self._source)
        return self._compiled

    def sub(self, repl: Callable[[re.Match[str]], str], text: str) -> str:
        return self.compiled().sub(repl, text)

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled().search(text)

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled().match(text, pos)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.compiled().fullmatch(text)


MARKER = "[REDACTED:{}]"
MARKER_PREFIX = "[REDACTED:"
_NOT_MARKER = r"(?!\[REDACTED:)"

# Tokens known by their own shape: (kind, kept prefix, secret), from each vendor's docs.
# A rule runs only on text that holds one of its keywords (lower case), as in gitleaks:
# a literal every match contains, so a text without any is left alone without a scan.
_TOKENS: tuple[tuple[str, str, str], ...] = (
    ("anthropic_key", "", r"sk-ant-[A-Za-z0-9_-]{20,}"),
    # OpenAI keys (sk-, sk-proj-, sk-svcacct-) are random: a digit in 20+ characters is
    # near certain, and requiring one spares kebab-case words such as "sk-learn-...".
    ("openai_key", "", r"sk-(?!ant-)(?=[A-Za-z0-9_-]{0,200}\d)[A-Za-z0-9_-]{20,}"),
    # Access key ids: AKIA long-term, ASIA temporary, ABIA and ACCA service credentials.
    # AIDA, AROA and the other prefixes name users and roles: identifiers, not secrets.
    ("aws_access_key", "", r"A(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ("github_token", "", r"gh[pousr]_[A-Za-z0-9]{36,255}"),
    ("github_token", "", r"github_pat_[A-Za-z0-9_]{22,255}"),
    ("gitlab_token", "", r"gl(?:pat|dt|ptt|rt|soat|cbt|ft|imt|agent)-[A-Za-z0-9_-]{20,}"),
    ("slack_token", "", r"xox[abeoprs]-[A-Za-z0-9-]{10,}"),
    ("slack_token", "", r"xapp-\d-[A-Za-z0-9-]{10,}"),
    ("slack_webhook", r"hooks\.slack\.com/(?:services|workflows|triggers)/", r"[A-Za-z0-9_/+-]+"),
    ("stripe_key", "", r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"),
    ("stripe_key", "", r"whsec_[A-Za-z0-9]{20,}"),
    ("google_api_key", "", r"AIza[0-9A-Za-z_-]{35}"),
    ("google_oauth", "", r"ya29\.[0-9A-Za-z_-]{20,}"),
    ("jwt", "", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    ("npm_token", "", r"npm_[A-Za-z0-9]{36}"),
    ("pypi_token", "", r"pypi-AgE[A-Za-z0-9_-]{50,}"),
    ("huggingface_token", "", r"hf_[A-Za-z0-9]{30,}"),
    ("sendgrid_key", "", r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
)

_PEM = _Lazy(
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    # Base64, header lines (Proc-Type: 4,ENCRYPTED) and newlines, escaped or not, up to the
    # END line; the body cannot run past a character that no key holds, so this is linear.
    r"(?P<body>(?:[A-Za-z0-9+/=:,\s-]|\\+[rnt])*?)"
    r"(?P<end>-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|(?!\\+[rnt]|[A-Za-z0-9+/=:,\s-]))"
)
_BASE64_RUN = _Lazy(r"[A-Za-z0-9+/]{16}")


def _on_pem(m: re.Match[str]) -> str:
    if not m.group("end") and not _BASE64_RUN.search(m.group("body")):
        return m.group()  # a header alone, as in `line.startswith("-----BEGIN ...")`
    return MARKER.format("private_key")


# Only what lies between "user:" and "@" goes. A token there is already a marker, and
# the user part excludes "[" so that "://[REDACTED:kind]@" is not read as user:password.
_URL = _Lazy(r"(?P<k>://[^/\s:@\"'\\<>\[\]]{0,200}:)" + _NOT_MARKER + r"[^/\s@\"'\\<>]{1,500}(?=@)")
# Quotes may be escaped (a JSON string inside a transcript line holds `\"password\": \"x\"`).
# A quoted value must open on a character a secret starts with, never `,` `:` `}` or a
# space: so the closing quote of one JSON string and the opening quote of the next, as in
# `"Enter password:", "x"`, are never read as a quoted value, and JSON stays valid.
_QUOTE = r"\\*[\"']"
# It closes with the quote it opened with; a quote left open at the end of a line or of
# the text (a message cut short) still hides one word.
_QUOTED_VALUE = (
    _NOT_MARKER
    + r"(?:[^\s\"'\\,;:{}()\[\]][^\"'\\\r\n]{0,999}(?=\\*(?P=qc))"
    + r"|[^\s\"'\\,;:{}()\[\]]{3,1000}(?=[\r\n]|\\+[rn]|$))"
)
_AUTH = _Lazy(
    r"(?P<k>[aA](?i:uthorization)(?P<nq>" + _QUOTE + r")?[ \t]*[:=][ \t]*(?P<q>" + _QUOTE
    + r")?[ \t]*(?:(?P<s>(?i:bearer|basic|token|bot|negotiate))[ \t]+)?)"
    + _NOT_MARKER
    + r"(?P<v>[A-Za-z0-9._~+/=:-]{6,})"
)  # fmt: skip
_BEARER = _Lazy(r"(?P<k>[bB](?i:earer)[ \t]+)(?P<v>[A-Za-z0-9._~+/-]{16,}=*)")
# An assignment: the name's last word, the separator, the value. The rest of the name is
# kept as it is, so the match starts at the keyword (the first-character class lets `re`
# skip ahead in C).
_ASSIGN = _Lazy(
    r"(?P<h>(?P<kw>[pPsStTkK](?i:ass(?:word|wd|phrase)|ecret|oken|ey))(?![\w.-])"
    r"(?P<nq>" + _QUOTE + r")?(?P<sep>[ \t]*(?:=(?![=>])|:(?!:)=?|=>)[ \t]*|[ \t]+))"
    r"(?:(?P<q>\\*(?P<qc>[\"']))(?P<qv>" + _QUOTED_VALUE + r")"
    r"|(?P<v>[^\s\"'\\,;&|<>(){}\[\]`]{1,1000}))"
)  # fmt: skip
_KEYWORDS = ("password", "passwd", "passphrase", "secret", "token", "key")

# Names ending in "key" that hold secrets; "key" alone ("sort key", "primary_key") does not.
_KEY_NAME = _Lazy(
    r"(?i)(?:api|secret|access|private|auth|master|encryption|signing|client|app|account"
    r"|storage|license|deploy|session|subscription|webhook)[_.-]?$"
)
# AWS prints its secret key under these names (credentials file, env, `aws sts` JSON).
_AWS_SECRET_NAME = _Lazy(r"(?i)(?:aws_?secret_?(?:access_?)?|secret_?access_?)$")
_AWS_SECRET_VALUE = _Lazy(r"[A-Za-z0-9/+]{40}")
_FLAG_NAME = _Lazy(r"(?:^|[\s\"'=])--[\w-]*$")
# Values that are code or a reference, not a secret: `token = get_token()`,
# `password: str`, `api_key = os.environ[...]`, `TOKEN=$GH_TOKEN`.
_CODE_VALUE = _Lazy(
    r"(?i)(?:none|null|nil|true|false|undefined|str|string|int|bytes|bool|boolean|number"
    r"|any|object|optional|secretstr|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|\$\w*|%\w+%)"
)
_CODE_NEXT = _Lazy(r"[(\[{]")
# A value that is itself a secret's name is a variable (`password=password`), and one of
# one or two characters (`"token": i`) is no credential.
_NAME_VALUE = _Lazy(r"(?i)[\w.]*(?:password|passwd|passphrase|secret|token|key)s?")
_MIN_SECRET = 3
_LETTERS = _Lazy(r"[A-Za-z_]+")
# After `name: value`, the value must end its field: prose such as "token: a unit of
# text" is not an assignment, while YAML, JSON and HTTP headers are.
_FIELD_END = _Lazy(r"[ \t]*(?:$|[\r\n,;}\]#]|\\+[rnt\"']|[\"'])")
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# argv splits `--password VALUE` into two items; redact_obj redacts the second.
# Short names (`--pass`, `--pw`, plink's `-pw`, openssl's `-pass`) only as a whole word of
# the flag: `--bypass` and `--compass` are not secrets.
_ARGV_FLAG = _Lazy(
    r"(?i)--?(?:[\w-]*(?:password|passwd|passphrase|secret|token|key|auth|credentials?)"
    r"|(?:[\w-]*[-_])?(?:pass|pw|bearer|cookie))"
)
_FLAG_WORDS = ("pass", "secret", "token", "key", "auth", "credential", "pw", "bearer", "cookie")
# An environment-style name whose last word is PASS or PW (`DB_PASS=`, `MY_PW=`), in
# capitals as environment variables are written; PWD (a directory) is not one.
_ENV_PASS = _Lazy(
    r"(?<![A-Za-z0-9_])(?P<k>(?:[A-Z0-9]+_)*(?:PASS|PW)=)"
    r"(?!\[REDACTED:|\$)(?P<v>[^\s\"'\\,;&|<>(){}\[\]`]{1,1000})"
)
# Programs whose option takes `user:password` (curl's -u/--user, -U/--proxy-user): the
# user is kept, the password redacted.
_USER_PASS_FLAGS = {"curl": ("-u", "--user", "-U", "--proxy-user")}
# Programs whose -p is the password: sshpass always, a registry client only at `login`.
_P_IS_PASSWORD_LOGIN = frozenset({"docker", "podman", "nerdctl", "buildah", "skopeo"})


def _may_be_secret_flag(arg: str) -> bool:
    """The keyword prefilter of ``_ARGV_FLAG`` (as the rules have theirs): an ASCII
    argument without one of its words cannot match, so ``--resume`` or ``--model``
    compiles nothing. Any other text goes to the pattern: under IGNORECASE some
    non-ASCII letters match ASCII ones (the Kelvin sign a k, the long s an s)."""
    if not arg.startswith("-"):
        return False
    if not arg.isascii():
        return True
    lower = arg.lower()
    return any(word in lower for word in _FLAG_WORDS)


# Database clients whose -p is the password, attached (-pVALUE) or not (-p VALUE): for
# psql, ssh and most tools -p is a port, so only these.
_PASSWORD_P = frozenset({"mysql", "mysqldump", "mysqladmin", "mariadb", "mysqlsh",
                         "mysqlimport", "mysqlcheck", "mysqlshow"})  # fmt: skip


def _at_boundary(s: str, i: int) -> bool:
    """True when position i starts a word; JSON's ``\\n``, ``\\t``, ``\\r`` count as spaces."""
    if i == 0 or s[i - 1] not in _WORD:
        return True
    return i >= 2 and s[i - 2] == "\\" and s[i - 1] in "nrt"


def _token_replacer(kind: str, has_keep: bool) -> _Replace:
    marker = MARKER.format(kind)

    def replace(m: re.Match[str]) -> str:
        if not _at_boundary(m.string, m.start()):
            return m.group()  # inside a longer word: "ask-..." is not an OpenAI key
        return (m.group("k") if has_keep else "") + marker

    return replace


def _is_code(m: re.Match[str], value: str) -> bool:
    return bool(_CODE_VALUE.fullmatch(value) or _CODE_NEXT.match(m.string, m.end()))


def _marker_in_quotes(m: re.Match[str], kind: str) -> str:
    """The marker, quoted like the name when the value was not: `"pin": 1234` stays JSON."""
    nq = m.group("nq") if m.group("q") is None else None
    return f"{nq}{MARKER.format(kind)}{nq}" if nq else MARKER.format(kind)


def _on_auth(m: re.Match[str]) -> str:
    value, scheme = m.group("v"), m.group("s")
    if scheme is None and (value.isalpha() or _is_code(m, value)):
        return m.group()  # "Authorization: required" is prose, `authorization = x.get()` code
    kind = "basic_auth" if scheme and scheme.lower() == "basic" else "bearer_token"
    return m.group("k") + _marker_in_quotes(m, kind)


def _on_bearer(m: re.Match[str]) -> str:
    value = m.group("v")
    if not _at_boundary(m.string, m.start()) or not any(c.isdigit() for c in value):
        return m.group()  # "bearer authentication" is prose; tokens carry digits
    return m.group("k") + MARKER.format("bearer_token")


def _on_assign(m: re.Match[str]) -> str:
    quoted, head, quote = m.group("qv"), m.group("h"), m.group("q") or ""
    value = quoted if quoted is not None else m.group("v")
    s, start = m.string, m.start()
    before = s[max(0, start - 64) : start]
    kw = m.group("kw").lower()
    if kw not in _KEYWORDS:  # the one-character class also admits e.g. "tassword"
        return head + quote + _ASSIGN.sub(_on_assign, value)
    if kw == "key" and _AWS_SECRET_NAME.search(before) and _AWS_SECRET_VALUE.fullmatch(value):
        return head + quote + _marker_in_quotes(m, "aws_secret_key")
    if not _is_secret_assignment(m, before, value, quoted is not None):
        # Not ours: the value may still hold an assignment ("key password=...").
        return head + quote + _ASSIGN.sub(_on_assign, value)
    return head + quote + _marker_in_quotes(m, "assignment")


def _is_secret_assignment(m: re.Match[str], before: str, value: str, quoted: bool) -> bool:
    if m.group("kw").lower() == "key" and not _KEY_NAME.search(before):
        return False
    sep = m.group("sep").strip()
    if not sep:  # `--token VALUE`: only after a long option, and a value with a non-letter
        if not _FLAG_NAME.search(before) or (not quoted and value.isalpha()):
            return False
    if quoted:
        return not (value.startswith(("$", "{{")) and len(value.split()) == 1)
    if _is_code(m, value) or _NAME_VALUE.fullmatch(value) or len(value) < _MIN_SECRET:
        return False
    if m.group("sep").startswith((" ", "\t")) and _LETTERS.fullmatch(value):
        # `token = Keyword`: spaces around "=" are code (shells allow none), and a word
        # without digits is a variable. An INI line `password = letmein` is the price.
        return False
    return sep != ":" or _FIELD_END.match(m.string, m.end()) is not None


_TOKEN_KEYWORDS: tuple[tuple[str, ...], ...] = (
    ("sk-ant-",),
    ("sk-",),
    ("akia", "asia", "abia", "acca"),
    ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ("github_pat_",),
    ("glpat-", "gldt-", "glptt-", "glrt-", "glsoat-", "glcbt-", "glft-", "glimt-", "glagent-"),
    ("xoxa-", "xoxb-", "xoxe-", "xoxo-", "xoxp-", "xoxr-", "xoxs-"),
    ("xapp-",),
    ("hooks.slack.com/",),
    ("k_live_", "k_test_"),
    ("whsec_",),
    ("aiza",),
    ("ya29.",),
    ("eyj",),
    ("npm_",),
    ("pypi-age",),
    ("hf_",),
    ("sg.",),
)
# The assignment's keyword class admits non-words ("tassword") whose callback changes
# nothing unless the value holds a real keyword, which the text then holds too.
_BUILTIN: tuple[tuple[tuple[str, ...], _Lazy, _Replace], ...] = (
    *(
        (
            words,
            _Lazy(f"(?P<k>{keep}){body}" if keep else body),
            _token_replacer(kind, bool(keep)),
        )
        for (kind, keep, body), words in zip(_TOKENS, _TOKEN_KEYWORDS, strict=True)
    ),
    (("://",), _URL, lambda m: m.group("k") + MARKER.format("url_password")),
    (("authorization",), _AUTH, _on_auth),
    (("bearer",), _BEARER, _on_bearer),
    (("pass", "secret", "token", "key"), _ASSIGN, _on_assign),
    (("pass=", "pw="), _ENV_PASS, lambda m: m.group("k") + MARKER.format("assignment")),
)
# One round for text without secrets, two with (the second confirms); glued keys take three.
_MAX_ROUNDS = 4


def can_match_empty(compiled: re.Pattern[str]) -> bool:
    """Whether the pattern can match the empty string anywhere in some text: ``x*``,
    ``a|``, ``^``, ``\\b``, ``(?=x)``. An empty match hides nothing, and such a
    pattern was accepted and then turned every custom pattern off; ``fullmatch("")``
    alone misses ``\\b`` and lookarounds.

    The least width ``re``'s own parser computes for the pattern is exact for this; a
    Python without that parser falls back to ``fullmatch("")``.
    """
    import importlib

    try:
        parser: Any = importlib.import_module("re._parser")  # 3.11+; sre_parse warns there
    except ImportError:  # pragma: no cover - Python 3.10
        parser = importlib.import_module("sre_parse")
    try:
        least = parser.parse(compiled.pattern, compiled.flags).getwidth()[0]
    except Exception:  # pragma: no cover - a parser that changed shape
        return compiled.fullmatch("") is not None
    return bool(least == 0)


def check_pattern(pattern: str) -> re.Pattern[str]:
    """An extra pattern compiled; ValueError (naming the pattern, shortened) when it is
    not a regular expression or can match the empty string."""
    import re

    from guardrun.units import shown

    try:
        compiled = re.compile(pattern)
    except RecursionError:  # the message differs from one Python to the next
        why = "nested too deeply"
        raise ValueError(f"{shown(pattern)} is not a regular expression: {why}") from None
    except (re.error, OverflowError, ValueError) as err:
        raise ValueError(f"{shown(pattern)} is not a regular expression: {err}") from None
    if can_match_empty(compiled):
        raise ValueError(
            f"{shown(pattern)} can match the empty string: a pattern must match at least "
            "one character"
        )
    from guardrun.state.redact_check import worst_case

    danger = worst_case(pattern, compiled.flags)
    if danger is not None:  # re has no timeout and holds the GIL: refuse it before it runs
        raise ValueError(f"{shown(pattern)} can backtrack catastrophically: {danger}")
    return compiled


def _compile_extra(pattern: str) -> re.Pattern[str]:
    try:
        return check_pattern(pattern)
    except ValueError as err:
        raise ConfigError(f"state.redact: pattern {err}") from None


def _on_extra(m: re.Match[str]) -> str:
    return MARKER.format("custom") if m.group() else ""


# The most of a value one user pattern searches at a time (_sub_bounded): a
# pattern check_pattern accepts is at worst quadratic in it (docs/benchmarks.md: a
# window of 1024 characters, `\w+\s*=\s*\w+;` on a run of letters), and a value is checked up
# to USER_MAX characters (no value guardrun records comes near: messages are cut at
# 2000, hook output at 8 KiB), so one value costs a user pattern ~1 s at the very worst.
USER_WINDOW = 1024
USER_MAX = 64 * 1024
USER_OVERLAP = 256  # windows overlap by this much: a match this long is never cut by one


def _sub_bounded(pattern: re.Pattern[str], text: str) -> str:
    """``pattern.sub`` with every search confined to a window of ``USER_WINDOW``
    characters (``search``'s pos and endpos). A window without a match moves on by
    ``USER_WINDOW - USER_OVERLAP``, so a match that a window's end cut is seen whole by
    the next; a match that ends at a window's end may have been cut short there
    (``ACME-\\d+``), so it is looked for again in a window that starts where it does."""
    n = len(text)
    if n <= USER_WINDOW:
        return pattern.sub(_on_extra, text)
    out: list[str] = []
    last = pos = 0
    while pos < n:
        end = min(n, pos + USER_WINDOW)
        m = pattern.search(text, pos, end)
        if m is None:
            if end == n:
                break
            pos = end - USER_OVERLAP
            continue
        if m.end() == end < n and m.start() > pos:
            pos = m.start()  # it may go on past the window: look again from its start
            continue
        out += (text[last : m.start()], MARKER.format("custom"))
        last = pos = max(m.end(), m.start() + 1)
    out.append(text[last:])
    return "".join(out)


class Redactor:
    """The built-in rules plus the user's extra patterns (config ``state.redact``)."""

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        self._extra = tuple(_compile_extra(p) for p in extra_patterns)

    def redact(self, text: str) -> str:
        """Return text with every secret found replaced by ``[REDACTED:<kind>]``."""
        for _ in range(_MAX_ROUNDS):
            before = text
            if "-----BEGIN" in text:
                text = _PEM.sub(_on_pem, text)
            lower = text.lower()
            for words, pattern, replace in _BUILTIN:
                if any(w in lower for w in words):
                    text = pattern.sub(replace, text)
            if text == before:
                break
        return self.redact_custom(text)

    def redact_custom(self, text: str) -> str:
        """Only the user's patterns (``state.redact``), each seeing at most
        ``USER_WINDOW`` characters at a time (``_sub_bounded``), so that a pattern that
        passed ``check_pattern`` (at worst quadratic) costs milliseconds per window."""
        if not self._extra:
            return text
        if len(text) > USER_MAX:  # no value guardrun records is this long; never unchecked
            cut = len(text) - USER_MAX
            text = f"{text[:USER_MAX]}{MARKER.format('custom')} ({cut} more characters)"
        for extra in self._extra:
            text = _sub_bounded(extra, text)
        return text

    def redact_obj(self, obj: object) -> object:
        """Redact every str inside dicts, lists and tuples; keys, shapes and other types stay.

        In a list or tuple, the string after a secret flag (``--password``, ``--token``)
        is redacted whole: argv splits the name from its value.
        """
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            items = [self.redact_obj(v) for v in obj]
            first = obj[0] if obj and isinstance(obj[0], str) else ""
            program = first.replace("\\", "/").rsplit("/", 1)[-1]
            p_is_password = (
                program in _PASSWORD_P
                or program == "sshpass"
                or (program in _P_IS_PASSWORD_LOGIN and "login" in obj)
            )
            user_flags = _USER_PASS_FLAGS.get(program, ())
            for i in range(1, len(items)):
                prev, cur = obj[i - 1], items[i]
                if not isinstance(cur, str):
                    continue
                if p_is_password and cur.startswith("-p") and len(cur) > 2 and cur[:2] != "--":
                    items[i] = "-p" + MARKER.format("assignment")  # -pVALUE
                    continue
                if user_flags:
                    items[i] = _user_password(cur, prev, user_flags)
                    if items[i] is not cur:
                        continue
                name, eq, value = cur.partition("=")
                if eq and value and not value.startswith(MARKER_PREFIX) and name[:1] == "-":
                    if _may_be_secret_flag(name) and _ARGV_FLAG.fullmatch(name):
                        items[i] = f"{name}={MARKER.format('assignment')}"  # --pw=VALUE
                        continue
                flag = isinstance(prev, str) and (
                    (_may_be_secret_flag(prev) and _ARGV_FLAG.fullmatch(prev))
                    or (p_is_password and prev == "-p")
                )
                if flag and cur and not cur.startswith(("-", MARKER_PREFIX)):
                    items[i] = MARKER.format("assignment")
            return tuple(items) if isinstance(obj, tuple) else items
        return obj


def _user_password(cur: str, prev: object, flags: Sequence[str]) -> str:
    """``cur`` with the password of a ``user:password`` redacted when it is the value of
    one of ``flags`` (after it, attached as ``-uUSER:PW`` or ``--user=USER:PW``);
    ``cur`` itself (the same object) otherwise."""
    head = ""
    value = cur
    if prev not in flags:
        for flag in flags:
            glue = "=" if flag.startswith("--") else ""
            if cur.startswith(flag + glue) and len(cur) > len(flag + glue):
                head, value = flag + glue, cur[len(flag + glue) :]
                break
        else:
            return cur
    user, colon, password = value.partition(":")
    if not colon or not password or password.startswith(MARKER_PREFIX):
        return cur  # no password given: curl asks for it
    return f"{head}{user}:{MARKER.format('assignment')}"


DEFAULT = Redactor()


def redact(text: str) -> str:
    """Redact text with the built-in rules (``DEFAULT``)."""
    return DEFAULT.redact(text)
