"""guardrun.state.redact: secrets never survive, ordinary text is never damaged.

The secrets below are fake but shaped like real ones (prefix, alphabet, length), built
from a seeded generator so that no real credential ever sits in the repository.
"""

from __future__ import annotations

import json
import random
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import CLAUDE_FIXTURES

from guardrun.errors import ConfigError
from guardrun.state.clip import clip, clipping_with
from guardrun.state.redact import DEFAULT, Redactor, redact

FIXTURES = CLAUDE_FIXTURES
if not FIXTURES.is_dir():  # a checkout elsewhere than /work/main
    FIXTURES = Path("/work/shared/fixtures/claude")

_rng = random.Random(20240615)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"


def rnd(alphabet: str, n: int) -> str:
    """n characters from alphabet, with at least one digit (as real random keys have)."""
    s = "".join(_rng.choice(alphabet) for _ in range(n - 1))
    return s + _rng.choice(string.digits)


def pem_body(lines: int = 6) -> list[str]:
    return [rnd(B64, 64) for _ in range(lines)]


def transcript_line(text: str) -> str:
    """A Claude Code transcript line whose message text holds `text` (JSON-escaped)."""
    return json.dumps(
        {
            "type": "user",
            "uuid": "1af7fc5e-8455-4414-9ccd-011d40f70b2a",
            "sessionId": "5c0375b4-57a5-4f26-b12d-d022ee4e51b7",
            "cwd": "/home/dev/project",
            "message": {"role": "user", "content": [{"type": "text", "text": text}]},
        }
    )


# (context, rendered text or argv, the secret's distinctive part, kind in the marker)
Case = tuple[str, Any, str, str]


def _cases() -> list[Case]:
    c: list[Case] = []

    def add(ctx: str, render: Callable[[str], Any], secret: str, kind: str) -> None:
        c.append((ctx, render(secret), secret, kind))

    ant = "sk-ant-api03-" + rnd(URLSAFE, 93) + "AA"
    add("env", lambda s: f"ANTHROPIC_API_KEY={s}", ant, "anthropic_key")
    ant2 = "sk-ant-api03-" + rnd(URLSAFE, 93) + "AA"
    add("transcript", lambda s: transcript_line(f"my key is {s}, why does it fail?"), ant2,
        "anthropic_key")  # fmt: skip
    oai = "sk-" + rnd(ALNUM, 48)
    add("code", lambda s: f'openai.api_key = "{s}"', oai, "openai_key")
    proj = "sk-proj-" + rnd(URLSAFE, 156)
    add("env", lambda s: f"export OPENAI_API_KEY='{s}'", proj, "openai_key")
    akia = "AKIA" + rnd(string.ascii_uppercase + string.digits, 16)
    add("ini", lambda s: f"[default]\naws_access_key_id = {s}\nregion = eu-west-1", akia,
        "aws_access_key")  # fmt: skip
    aws_secret = rnd(B64, 40)
    add("ini", lambda s: f"[default]\naws_secret_access_key = {s}\n", aws_secret, "aws_secret_key")
    aws_secret2 = rnd(B64, 40)
    add("transcript", lambda s: transcript_line(
        '{"Credentials": {"AccessKeyId": "ASIA' + rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        + f'", "SecretAccessKey": "{s}"}}}}'), aws_secret2, "aws_secret_key")  # fmt: skip
    asia = "ASIA" + rnd(string.ascii_uppercase + string.digits, 16)
    add("env", lambda s: f"AWS_ACCESS_KEY_ID={s}", asia, "aws_access_key")
    session = rnd(B64, 300)
    add("env", lambda s: f"AWS_SESSION_TOKEN={s}", session, "assignment")
    ghp = "ghp_" + rnd(ALNUM, 36)
    add("git remote", lambda s: f"origin\thttps://{s}@github.com/acme/api.git (fetch)", ghp,
        "github_token")  # fmt: skip
    gho = "gho_" + rnd(ALNUM, 36)
    add("transcript", lambda s: transcript_line(f"gh auth status shows\n  Token: {s}\n"), gho,
        "github_token")  # fmt: skip
    ghs = "ghs_" + rnd(ALNUM, 36)
    add("git remote", lambda s: f"https://x-access-token:{s}@github.com/acme/api", ghs,
        "github_token")  # fmt: skip
    pat = "github_pat_11A" + rnd(ALNUM, 19) + "_" + rnd(ALNUM, 59)
    add("env", lambda s: f"GH_TOKEN={s}", pat, "github_token")
    ghr = "ghr_" + rnd(ALNUM, 76)
    add("yaml", lambda s: f"github:\n  refresh_token: {s}\n  user: dev\n", ghr, "github_token")
    ghu = "ghu_" + rnd(ALNUM, 36)
    add("argv", lambda s: ["git", "clone", f"https://{s}@github.com/acme/app"], ghu,
        "github_token")  # fmt: skip
    glpat = "glpat-" + rnd(URLSAFE, 20)
    add("git remote", lambda s: f"git remote set-url origin https://oauth2:{s}@gitlab.com/a/b.git",
        glpat, "gitlab_token")  # fmt: skip
    xoxb = "xoxb-" + rnd(string.digits, 12) + "-" + rnd(string.digits, 13) + "-" + rnd(ALNUM, 24)
    add("env", lambda s: f"SLACK_BOT_TOKEN={s}", xoxb, "slack_token")
    xoxp = "xoxp-" + rnd(string.digits, 12) + "-" + rnd(string.digits, 12) + "-" + rnd(ALNUM, 32)
    add("argv", lambda s: ["curl", "-H", f"Authorization: Bearer {s}", "https://slack.com/api"],
        xoxp, "slack_token")  # fmt: skip
    xapp = "xapp-1-A" + rnd(ALNUM, 10) + "-" + rnd(string.digits, 13) + "-" + rnd("abcdef0123", 64)
    add("yaml", lambda s: f"slack:\n  app_token: {s}\n", xapp, "slack_token")
    hook = "T" + rnd(ALNUM, 8) + "/B" + rnd(ALNUM, 10) + "/" + rnd(ALNUM, 24)
    add("json", lambda s: json.dumps({"webhook": f"https://hooks.slack.com/services/{s}"}), hook,
        "slack_webhook")  # fmt: skip
    sk_live = "sk_live_" + rnd(ALNUM, 99)
    add("env", lambda s: f"STRIPE_SECRET_KEY={s}", sk_live, "stripe_key")
    rk_live = "rk_live_" + rnd(ALNUM, 99)
    add("transcript", lambda s: transcript_line(f"the restricted key {s} was rejected"), rk_live,
        "stripe_key")  # fmt: skip
    sk_test = "sk_test_" + rnd(ALNUM, 24)
    add("code", lambda s: f"stripe.api_key = '{s}'", sk_test, "stripe_key")
    aiza = "AIza" + rnd(URLSAFE, 35)
    add("url", lambda s: f"GET https://maps.googleapis.com/maps/api/geocode/json?address=x&key={s}",
        aiza, "google_api_key")  # fmt: skip
    ya29 = "ya29." + rnd(URLSAFE, 120)
    add("transcript", lambda s: transcript_line(f"access token: {s}"), ya29, "google_oauth")
    jwt_sig = rnd(URLSAFE, 43)
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI" + rnd(URLSAFE, 30) + "." + jwt_sig
    add("argv", lambda s: ["curl", "-H", f"Authorization: Bearer {s}", "https://api.acme.dev"],
        jwt, "jwt")  # fmt: skip
    jwt2 = (
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhY21lIiwic3ViIjoi"
        + rnd(URLSAFE, 20)
        + "."
        + rnd(URLSAFE, 86)
    )
    add("transcript", lambda s: transcript_line(f"Cookie: session={s}; Path=/"), jwt2, "jwt")
    rsa = pem_body()
    add("pem", lambda s: "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(rsa)
        + "\n-----END RSA PRIVATE KEY-----\n", rsa[3], "private_key")  # fmt: skip
    ssh = pem_body(4)
    add("transcript", lambda s: transcript_line(
        "cat ~/.ssh/id_ed25519\n-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(ssh)
        + "\n-----END OPENSSH PRIVATE KEY-----\ndone"), ssh[2], "private_key")  # fmt: skip
    ec = pem_body(3)
    add("yaml", lambda s: "tls:\n  key: |\n    -----BEGIN EC PRIVATE KEY-----\n    "
        + "\n    ".join(ec) + "\n    -----END EC PRIVATE KEY-----\n",
        ec[1], "private_key")  # fmt: skip
    gcp = pem_body(5)
    add("json", lambda s: json.dumps({"type": "service_account", "private_key": (
        "-----BEGIN PRIVATE KEY-----\n" + "\n".join(gcp) + "\n-----END PRIVATE KEY-----\n"),
        "client_email": "svc@acme.iam.gserviceaccount.com"}), gcp[4], "private_key")  # fmt: skip
    cut = pem_body(2)
    add("transcript", lambda s: transcript_line("-----BEGIN PRIVATE KEY-----\n" + "\n".join(cut)),
        cut[1], "private_key")  # fmt: skip
    basic = rnd(B64, 28) + "=="
    add("http", lambda s: f"> GET /v1 HTTP/1.1\n> Authorization: Basic {s}\n> Accept: */*", basic,
        "basic_auth")  # fmt: skip
    opaque = rnd(ALNUM, 40)
    add("json", lambda s: json.dumps({"headers": {"Authorization": f"Bearer {s}"}}), opaque,
        "bearer_token")  # fmt: skip
    pg = "S3cr3t" + rnd(ALNUM, 10)
    add("env", lambda s: f"DATABASE_URL=postgres://app:{s}@db.internal:5432/app", pg,
        "url_password")  # fmt: skip
    redis = "p4ss" + rnd(ALNUM, 12)
    add("yaml", lambda s: f"cache:\n  url: redis://:{s}@cache:6379/0\n", redis, "url_password")
    dbpw = "correct-horse-" + rnd(ALNUM, 8)
    add("env", lambda s: f"DB_PASSWORD={s}", dbpw, "assignment")
    yamlpw = "hunter2-" + rnd(ALNUM, 8)
    add("yaml", lambda s: f"database:\n  user: app\n  password: {s}\n  host: db\n", yamlpw,
        "assignment")  # fmt: skip
    cs = rnd(URLSAFE, 32)
    add("transcript",
        lambda s: transcript_line(json.dumps({"client_id": "abc", "client_secret": s})),
        cs, "assignment")  # fmt: skip
    argpw = "Zq8!vL2#" + rnd(ALNUM, 6)
    add("argv", lambda s: ["mysql", "-u", "root", "--password", s, "app"], argpw, "assignment")
    argkey = rnd(ALNUM, 24)
    add("argv", lambda s: ["deploy", f"--api-key={s}", "--verbose"], argkey, "assignment")
    dockerpw = "d0ck3r" + rnd(ALNUM, 10)
    add("transcript", lambda s: transcript_line(f"run: docker login --password {s} registry.io"),
        dockerpw, "assignment")  # fmt: skip
    npm = "npm_" + rnd(ALNUM, 36)
    add("npmrc", lambda s: f"//registry.npmjs.org/:_authToken={s}\n", npm, "npm_token")
    hf = "hf_" + rnd(ALNUM, 34)
    add("env", lambda s: f"HF_TOKEN={s}", hf, "huggingface_token")
    pypi = "pypi-AgEIcHlwaS5vcmc" + rnd(URLSAFE, 70)
    add("ini", lambda s: f"[pypi]\nusername = __token__\npassword = {s}\n", pypi, "pypi_token")
    xkey = rnd(ALNUM, 32)
    add("http", lambda s: f"X-Api-Key: {s}\r\nHost: api.acme.dev\r\n", xkey, "assignment")
    sg = "SG." + rnd(URLSAFE, 22) + "." + rnd(URLSAFE, 43)
    add("env", lambda s: f"SENDGRID_API_KEY={s}", sg, "sendgrid_key")
    whsec = "whsec_" + rnd(ALNUM, 32)
    add("env", lambda s: f"STRIPE_WEBHOOK_SECRET={s}", whsec, "stripe_key")
    cut_pw = "Hx" + rnd(ALNUM, 10)
    add("cut message", lambda s: f'config: password="{s}', cut_pw, "assignment")
    pin = "739" + rnd(string.digits, 5)
    add("json", lambda s: '{"user": "ann", "pin_token": ' + s + "}", pin, "assignment")
    query = rnd(ALNUM, 30)
    add("url", lambda s: f"https://api.acme.dev/callback?access_token={s}&state=xyz", query,
        "assignment")  # fmt: skip
    return c


CASES = _cases()


def test_corpus_is_big_and_varied() -> None:
    assert len(CASES) >= 30
    assert {ctx for ctx, *_ in CASES} >= {"env", "transcript", "argv", "git remote", "yaml", "pem"}


@pytest.mark.parametrize(
    ("ctx", "rendered", "secret", "kind"),
    CASES,
    ids=[f"{i}-{ctx}-{kind}" for i, (ctx, _, _, kind) in enumerate(CASES)],
)
def test_no_secret_survives(ctx: str, rendered: Any, secret: str, kind: str) -> None:
    out = DEFAULT.redact_obj(rendered)
    flat = json.dumps(out)
    assert secret not in flat, f"{ctx}: secret survived in {flat}"
    assert f"[REDACTED:{kind}]" in flat, f"{ctx}: no {kind} marker in {flat}"
    if ctx in ("transcript", "json"):
        json.loads(str(out))  # still valid JSON: nothing cut inside an escape


def test_all_secrets_in_one_text() -> None:
    """The same secrets concatenated: no rule swallows another's secret half-way."""
    text = "\n".join(json.dumps(r) if not isinstance(r, str) else r for _, r, _, _ in CASES)
    out = redact(text)
    for ctx, _, secret, _ in CASES:
        if ctx != "argv":  # a flag and its value are one text here, not two argv items
            assert secret not in out, ctx


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export GITHUB_TOKEN=ghp_" + "aB3" * 12, "export GITHUB_TOKEN=[REDACTED:github_token]"),
        ("git remote add origin https://oauth2:glpat-" + "x1" * 10 + "@gitlab.com/g/p.git",
         "git remote add origin https://oauth2:[REDACTED:gitlab_token]@gitlab.com/g/p.git"),
        ("https://user:pa55@db.acme.dev:5432/x", "https://user:[REDACTED:url_password]@db.acme.dev:5432/x"),
        ("curl -H 'Authorization: Bearer abcdef0123456789xyz' https://a.io",
         "curl -H 'Authorization: Bearer [REDACTED:bearer_token]' https://a.io"),
        ('{"password": "hunter2"}', '{"password": "[REDACTED:assignment]"}'),
        ("mysql --password=hunter2 db", "mysql --password=[REDACTED:assignment] db"),
        ("SLACK=https://hooks.slack.com/services/T0/B1/abcdef",
         "SLACK=https://hooks.slack.com/services/[REDACTED:slack_webhook]"),
    ],
)  # fmt: skip
def test_meaning_around_the_secret_is_kept(text: str, expected: str) -> None:
    assert redact(text) == expected


ORDINARY = [
    "1af7fc5e-8455-4414-9ccd-011d40f70b2a",
    "commit 5d22aec49092a238a224245513580f864d1537eb",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "/home/dev/.claude/projects/-home-dev-project/5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl",
    "C:\\Users\\dev\\AppData\\Roaming\\token-cache\\keys.json",
    "https://github.com/acme/api.git",
    "git@github.com:acme/api.git",
    "ssh://git@git.acme.dev:2222/acme/api.git",
    "http://localhost:8080/api/v1/users?page=2&sort=name",
    "the token count is 5 and the secret to good code is tests",
    "Never include sensitive information (API keys, tokens) in code or commits",
    "Your password must be at least 12 characters. Enter password:",
    "token: a unit of text that a model reads",
    "pass the --token flag to authenticate, or --password to log in",
    "Use bearer authentication with an Authorization header.",
    "Authorization: required",
    '"usage": {"input_tokens": 35, "output_tokens": 145, "max_tokens": 4096}',
    "def login(token: str, password: Optional[str] = None) -> None:",
    "    token = get_token()\n    api_key = os.environ['API_KEY']\n    secret = self.secret",
    "TOKEN=$GH_TOKEN ./deploy.sh && PASSWORD=${DB_PASSWORD} make",
    "sorted(items, key=len); primary_key=True; {'key': 'value'}; monkey: banana",
    "PWD=/home/dev/project TERM=xterm-256color LANG=en_US.UTF-8",
    "ask-the-user-before-deleting-anything-2 and task-runner-configuration-v10",
    "if line.startswith('-----BEGIN PRIVATE KEY-----'):",
    "AKIA is the prefix of AWS access key ids; eyJ starts a JWT",
    "tokenizer = AutoTokenizer.from_pretrained(name); token_count = len(tokens)",
    "if token == expected_token: return True",
    'Token::new(kind, span) and std::env::var("KEY")',
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY is a 40-char string with no context",
    "| token | secret | password |\n|---|---|---|",
    "token = Keyword\nself.token = nextchar\nexposed, token = result",
    "password = getpass.getpass('Password: ')",
    'authorization = self.headers.get("authorization")',
    "return console.input(prompt, password=password, stream=stream)",
    '{"text": "Enter password:", "next": "token:", "n": 1}',
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert redact(text) == text
    line = transcript_line(text)
    assert redact(line) == line


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.jsonl"))


def test_real_transcripts_are_unchanged() -> None:
    files = fixture_files()
    assert len(files) >= 4, FIXTURES
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert redact(text) == text, path.name


def test_megabyte_of_transcript_is_fast() -> None:
    """Catches a quadratic rule; the measured figure is ~30 ms per MB on this machine."""
    data = "".join(p.read_text(encoding="utf-8") for p in fixture_files())
    text = (data * (1_000_000 // len(data) + 1))[:1_000_000]
    start = time.perf_counter()
    redact(text)
    assert time.perf_counter() - start < 1.5


@pytest.mark.parametrize(
    "chunk",
    ["-----BEGIN PRIVATE KEY----- ", "token=", "password: x ", "https://a:", "Bearer " + "a" * 20,
     "sk-" + "a" * 30, "Authorization: ", "\\n" * 10, "key key key ", "A" * 64],
)  # fmt: skip
def test_hostile_repetition_stays_linear(chunk: str) -> None:
    text = chunk * (200_000 // len(chunk))
    start = time.perf_counter()
    out = redact(text)
    assert time.perf_counter() - start < 3
    assert redact(out) == out


def test_redact_obj_recurses_and_keeps_keys() -> None:
    ghp = "ghp_" + rnd(ALNUM, 36)
    obj = {
        "argv": ["gh", "auth", "login", "--with-token", ghp],
        "env": {"GH_TOKEN": ghp, "PATH": "/usr/bin"},
        "pair": ("--token", "plainvalue", 3),
        "n": 5,
        "none": None,
        ghp: "keys are kept as they are",
    }
    out = DEFAULT.redact_obj(obj)
    assert out == {
        "argv": ["gh", "auth", "login", "--with-token", "[REDACTED:github_token]"],
        "env": {"GH_TOKEN": "[REDACTED:github_token]", "PATH": "/usr/bin"},
        "pair": ("--token", "[REDACTED:assignment]", 3),
        "n": 5,
        "none": None,
        ghp: "keys are kept as they are",
    }


def test_argv_flag_value_only_after_a_secret_flag() -> None:
    argv = ["tool", "--tokens", "5", "--secret-file", "/etc/x", "--password", "-", "-v"]
    assert DEFAULT.redact_obj(argv) == [
        "tool", "--tokens", "5", "--secret-file", "/etc/x", "--password", "-", "-v"
    ]  # fmt: skip


def test_bad_extra_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        Redactor(["ACME-[0-9]+", "(unclosed"])
    message = str(info.value)
    assert "state.redact" in message and "(unclosed" in message and "\n" not in message
    assert info.value.exit_code == 2


def test_extra_pattern_matching_nothing_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"state\.redact.*'x\*'"):
        Redactor(["x*"])


def test_extra_pattern_applied() -> None:
    custom = Redactor([r"ACME-\d{6}", r"(?i)internal-[a-z]+-id"])
    text = "ticket ACME-123456 for INTERNAL-Billing-ID with GH_TOKEN=ghp_" + "Ab1" * 12
    assert custom.redact(text) == (
        "ticket [REDACTED:custom] for [REDACTED:custom] with GH_TOKEN=[REDACTED:github_token]"
    )
    assert custom.redact(custom.redact(text)) == custom.redact(text)
    assert "ACME-123456" in redact(text)  # the default redactor does not know it


# --- properties -----------------------------------------------------------------

SECRET_SAMPLES = [r for _, r, _, _ in CASES if isinstance(r, str)]
FRAGMENTS = [
    "token", "TOKEN", "password", "secret", "api_key", "key", "Bearer ", "Authorization: ",
    "=", ": ", ":", " ", "\n", "\\n", '"', "'", '\\"', "--", "://", "@",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----", "sk-", "ghp_", "AKIA", "eyJ", "[REDACTED:x]", "abc123", "$", "(",
]  # fmt: skip
pieces = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.sampled_from(SECRET_SAMPLES).map(lambda s: s[: len(s) // 2] if len(s) > 400 else s),
    st.text(alphabet=string.printable, max_size=12),
)
mixed_text = st.lists(pieces, max_size=12).map("".join)

TRIGGERS = (
    "sk-", "sk_", "rk_", "akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva",
    "aroa", "apka", "gh", "gl", "xox", "xapp", "hooks", "whsec", "aiza", "ya29", "eyj", "npm_",
    "pypi-", "hf_", "sg.", "://", "-----begin", "authorization", "bearer", "passw", "passphrase",
    "secret", "token", "key",
)  # fmt: skip


def test_glued_keys_are_redacted_in_one_call() -> None:
    """Found by hypothesis: the second key gains a word boundary once the first is a marker."""
    aiza = "AIza" + rnd(URLSAFE, 35)
    text = f"&key={aiza}sk-tokentokentokenabc123"
    once = redact(text)
    assert once == "&key=[REDACTED:google_api_key][REDACTED:openai_key]"
    assert redact(once) == once


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_text)
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_text_without_trigger_is_unchanged(text: str) -> None:
    if any(t in text.lower() for t in TRIGGERS):
        return  # rare with random text; the mixed strategy covers triggers
    assert redact(text) == text


prose_words = st.sampled_from(
    ["the", "token", "tokens", "secret", "password", "key", "keys", "is", "count", "5", "API",
     "bearer", "authorization", "passphrase", "a", "unit", "of", "text", "Secret", "Token"]
)  # fmt: skip
punct = st.sampled_from([" ", " ", " ", ", ", ". ", "! ", "? ", " (", ") "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(prose_words, punct), max_size=20))
def test_prose_about_secrets_is_unchanged(words: list[tuple[str, str]]) -> None:
    text = "".join(w + p for w, p in words)
    assert redact(text) == text


json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), mixed_text
)
json_like = st.recursive(
    json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
    ),
    max_leaves=20,
)


def same_shape(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same_shape(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same_shape(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, str):
        return isinstance(b, str)
    return a == b and type(a) is type(b)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_redact_obj_preserves_structure(obj: object) -> None:
    out = DEFAULT.redact_obj(obj)
    assert same_shape(obj, out)
    assert DEFAULT.redact_obj(out) == out


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["text", "token", "password", "api_key", "x"]), mixed_text))
def test_jsonl_lines_stay_valid_json(record: dict[str, str]) -> None:
    """Transcripts are redacted as raw JSONL: no replacement may cross a quote or escape."""
    for line in (json.dumps(record), json.dumps(record, ensure_ascii=False)):
        out = redact(line)
        parsed = json.loads(out)
        assert list(parsed) == list(record)


SHAPED = [
    (secret, kind)
    for _, _, secret, kind in CASES
    if kind not in ("assignment", "url_password", "bearer_token", "basic_auth", "private_key")
    and kind != "aws_secret_key"
    and kind != "slack_webhook"
]
noise = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=string.printable, max_size=12)),
    max_size=10,
).map("".join)
around = st.sampled_from([" ", "\n", "\t", "(", ")", '"', "'", "\\n", "=", ":", ",", "<", ">"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SHAPED), around, around, noise, noise)
def test_shaped_tokens_never_survive_any_surrounding(
    sample: tuple[str, str], left: str, right: str, prefix: str, suffix: str
) -> None:
    secret, kind = sample
    out = redact(prefix + left + secret + right + suffix)
    assert secret not in out
    # The kind may be lost only when a wider secret took the token in: a (cut-off) key
    # block after a generated BEGIN line, or a quoted assignment opened before it.
    assert f"[REDACTED:{kind}]" in out or (
        "[REDACTED:private_key]" in out or "[REDACTED:assignment]" in out
    )


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["tool", "--auth", "s3cr3tv4lue"], ["tool", "--auth", "[REDACTED:assignment]"]),
        (["tool", "--credentials", "u:p4ss"], ["tool", "--credentials", "[REDACTED:assignment]"]),
        (["tool", "--openai-key", "abc123xyz"], ["tool", "--openai-key", "[REDACTED:assignment]"]),
        (["tool", "--github-token", "abc123"], ["tool", "--github-token", "[REDACTED:assignment]"]),
        (
            ["mysql", "-uroot", "-phunter2", "db"],
            ["mysql", "-uroot", "-p[REDACTED:assignment]", "db"],
        ),
        (["/usr/bin/mysql", "-p", "hunter2"], ["/usr/bin/mysql", "-p", "[REDACTED:assignment]"]),
        (["psql", "-p", "5432", "db"], ["psql", "-p", "5432", "db"]),  # psql's -p is a port
        (["ssh", "-p2222", "host"], ["ssh", "-p2222", "host"]),
    ],
)
def test_argv_rules_for_auth_credentials_keys_and_database_passwords(
    argv: list[str], want: list[str]
) -> None:
    assert DEFAULT.redact_obj(argv) == want


# --- redact before cutting ----------------------------------------------------------

CUT_CASES = [c for c in CASES if isinstance(c[1], str) and c[2] in c[1]]


@pytest.mark.parametrize(
    ("ctx", "rendered", "secret", "kind"),
    CUT_CASES,
    ids=[f"{i}-{ctx}-{kind}" for i, (ctx, _, _, kind) in enumerate(CUT_CASES)],
)
def test_a_cut_never_keeps_the_start_of_a_secret(
    ctx: str, rendered: str, secret: str, kind: str
) -> None:
    """Wherever the cap falls inside the secret, what a plain cut would keep of it (a
    prefix too short for any rule) is not in the clipped text."""
    text = "lead " * 40 + rendered + " and the rest" * 200
    if secret in redact(text):  # e.g. a quote left open: not a secret in this text at all
        return
    start = text.index(secret)
    for kept in sorted({4, 6, 9, 13, 20, len(secret) // 2, len(secret) - 1}):
        if not 4 <= kept < len(secret):
            continue
        limit = start + kept + 1  # clip keeps limit - 1 characters and an ellipsis
        out = clip(text, limit)
        assert len(out) <= limit and out.endswith("…")
        before = text[:start].count(secret[:kept])  # "[pypi]" ahead of a pypi- token
        assert out.count(secret[:kept]) == before, (kept, out[-80:])


def test_clip_uses_the_redactor_in_use_and_keeps_short_text() -> None:
    custom = Redactor([r"ACME-\d{6}"])
    text = "x" * 90 + " ACME-123456 " + "y" * 200
    assert clip(text, 100).endswith(" ACME-123…")  # the built-in rules do not know it
    with clipping_with(custom):
        out = clip(text, 100)
    assert out == "x" * 90 + " …"  # redacted, and never half a marker
    assert clip("short ghp_x", 100) == "short ghp_x"  # within the limit: the caller redacts
    assert clip(text, 100, custom.redact) == out
    marker = "[REDACTED:custom]"
    assert clip("ACME-123456" * 10, 40, custom.redact) == marker * 2 + "…"
    many = "ACME-123456 " * 20  # 240 characters; 360 once redacted
    assert clip(many, 200, custom.redact) == (marker + " ") * 11 + "…"
    assert clip("ACME-12345678" * 10, 100, custom.redact) == (marker + "78") * 5 + "…"


_FLAG_PIECES = ["-", "--", "api", "-", "_", "KEY", "key", "Pass", "word", "wd", "phrase", "secret",
                "TOKEN", "auth", "credential", "s", "x", "\u212a", "\u017f", "é", "1"]  # fmt: skip


@given(st.lists(st.sampled_from(_FLAG_PIECES), max_size=6).map("".join))
def test_the_flag_prefilter_lets_through_everything_the_pattern_matches(arg: str) -> None:
    """``_may_be_secret_flag`` stands before ``_ARGV_FLAG`` (so ``--resume`` compiles and
    imports nothing); it may let more through, never less."""
    from guardrun.state.redact import _ARGV_FLAG, _may_be_secret_flag

    if _ARGV_FLAG.fullmatch(arg):
        assert _may_be_secret_flag(arg), arg


def test_the_flag_prefilter_turns_the_common_flags_away() -> None:
    from guardrun.state.redact import _ARGV_FLAG, _may_be_secret_flag

    for arg in ("--resume", "--model", "-p", "--dangerously-skip-permissions", "sleep"):
        assert not _may_be_secret_flag(arg)
    for arg in ("--api-key", "--PASSWORD", "-token", "--db-passwd", "--\u212aey"):
        assert _may_be_secret_flag(arg) and _ARGV_FLAG.fullmatch(arg), arg


# --- issue 27: argv forms that carried secrets past the redaction ----------------------

R = "[REDACTED:assignment]"
SECRET_ARGV = [
    (["curl", "-u", "user:pa55word", "https://x"], ["curl", "-u", f"user:{R}", "https://x"]),
    (["/usr/bin/curl", "--user", "u:p"], ["/usr/bin/curl", "--user", f"u:{R}"]),
    (["curl", "-uuser:s3cret"], ["curl", f"-uuser:{R}"]),
    (["curl", "--user=u:p4ss", "-U", "proxy:pw"], ["curl", f"--user=u:{R}", "-U", f"proxy:{R}"]),
    (["sshpass", "-p", "hunter2", "ssh", "host"], ["sshpass", "-p", R, "ssh", "host"]),
    (["sshpass", "-phunter2", "ssh", "host"], ["sshpass", f"-p{R}", "ssh", "host"]),
    (["docker", "login", "-u", "me", "-p", "X9x"], ["docker", "login", "-u", "me", "-p", R]),
    (["podman", "login", "-pX9x", "quay.io"], ["podman", "login", f"-p{R}", "quay.io"]),
    (["tool", "--pass", "hunter2"], ["tool", "--pass", R]),
    (["tool", "--db-pass", "hunter2"], ["tool", "--db-pass", R]),
    (["tool", "--pw", "hunter2"], ["tool", "--pw", R]),
    (["plink", "-pw", "hunter2", "host"], ["plink", "-pw", R, "host"]),
    (["tool", "--bearer", "abc"], ["tool", "--bearer", R]),
    (["tool", "--cookie", "session=abc"], ["tool", "--cookie", R]),
    (["tool", "--pw=hunter2", "--cookie=sid=1"], ["tool", f"--pw={R}", f"--cookie={R}"]),
    (["env", "DB_PASS=hunter2", "app"], ["env", f"DB_PASS={R}", "app"]),
    (["env", "MY_PW=hunter2", "PASS=x1"], ["env", f"MY_PW={R}", f"PASS={R}"]),
]
NOT_SECRET_ARGV = [
    ["curl", "-u", "user", "https://x"],  # no password: curl asks for it
    ["docker", "run", "-p", "8080:80", "img"],  # -p publishes a port
    ["ssh", "-p", "2222", "host"],
    ["psql", "-p", "5432", "db"],
    ["tool", "--bypass", "cache", "--compass", "north"],
    ["tool", "--pwd", "/x", "--cookie-jar", "jar.txt"],
    ["env", "PWD=/home/me", "OLDPWD=/tmp", "BYPASS=1", "X=$MY_PW"],
    ["claude", "--resume", "abc", "--model", "opus"],
    ["git", "commit", "-m", "pass the tests"],
]


@pytest.mark.parametrize(
    ("argv", "want"), SECRET_ARGV, ids=[" ".join(a[:3]) for a, _ in SECRET_ARGV]
)
def test_argv_forms_that_carry_a_password_are_redacted(argv: list[str], want: list[str]) -> None:
    assert DEFAULT.redact_obj(argv) == want
    assert DEFAULT.redact_obj(tuple(argv)) == tuple(want)


@pytest.mark.parametrize("argv", NOT_SECRET_ARGV, ids=[" ".join(a[:3]) for a in NOT_SECRET_ARGV])
def test_argv_without_secrets_is_not_over_redacted(argv: list[str]) -> None:
    assert DEFAULT.redact_obj(argv) == argv


def test_environment_style_passwords_in_text() -> None:
    text = "export DB_PASS=hunter2; MY_PW=s3cret ./run; cd $PWD; PWD=/x"
    assert redact(text) == f"export DB_PASS={R}; MY_PW={R} ./run; cd $PWD; PWD=/x"
