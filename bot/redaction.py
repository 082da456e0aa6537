"""Mask secrets in pasted text before it is stored, logged or sent to Claude.

A rule masks only the secret itself (`password=[REDACTED:password]`) and keeps the key name and the
structure around it, so the text stays useful for troubleshooting.

Speed matters because engineers paste multi-megabyte logs:
- patterns start with a literal wherever they can (the regex engine finds those with a fast scan) and their
  repetitions never overlap, so nothing backtracks catastrophically;
- a scan along a command line commits to the first place it could match (an atomic group), so masking one
  value cannot bring the next into view on a later pass;
- a rule is skipped unless one of its trigger words occurs;
- case-insensitive rules are written in lower case and run case-sensitively on a lower-cased copy of the
  text, several times faster than `re.IGNORECASE`; the copy keeps every character at its position, so a
  match's position is also its position in the original.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["LogMask", "Redaction", "redact"]

_MAX_PASSES = 4
_MARK = "[REDACTED:"

_SP = r"[ \t\xa0]"  # NBSP too: chat clients turn spaces into it
_NOT_MASKED = r"(?![{(]?\[(?:REDACTED|redacted):)"
# Values that describe a setting rather than being the secret stay readable ("password: none").
_PLACEHOLDER = (
    r"(?:true|false|yes|no|none|null|nil|undefined|0|1|required|optional|enabled|disabled|empty"
    r"|\*+|x{3,}|\.{3}|…)"
)
_BARE_END = r"(?=[\s,;&\"'<>]|$)"
# A value that computes the secret rather than holding it: a variable, a template, a PowerShell call.
_EXPRESSION = (
    r"\$\{|\$\(|\$env:|\{\{|%\w+%"
    r"|(?:convert(?:to|from)-securestring|read-host|get-credential|get-content|get-secret|new-object)\b"
)
_ASSIGN = rf"[\"']?{_SP}*(?:=>|[:=]){_SP}*"
_B64 = r"[A-Za-z0-9+/=]"
_URLSAFE = r"[A-Za-z0-9_\-]"

_Mode = Literal["exact", "lower"]


@dataclass(frozen=True)
class Redaction:
    text: str
    count: int
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    # "lower": the pattern is written in lower case and runs on the lower-cased text.
    mode: _Mode
    # Lower-case words of which at least one must occur for the pattern to be tried at all.
    triggers: tuple[str, ...]
    # The masked span starts this many characters before the `x` group (the part a lookbehind checked).
    back: int
    secret_groups: tuple[str, ...]


def _rule(kind: str, regex: str, triggers: tuple[str, ...], *, mode: _Mode = "exact", back: int = 0) -> _Rule:
    """A rule masking the groups whose names start with `x`."""
    if mode == "lower":
        assert not re.search(r"[A-Z]", re.sub(r"\\.|REDACTED|\(\?P<", "", regex)), f"upper case in {regex!r}"
    pattern = re.compile(regex)
    groups = tuple(name for name in pattern.groupindex if name.startswith("x"))
    assert groups, f"nothing to mask in {regex!r}"
    return _Rule(kind, pattern, mode, triggers, back, groups)


def _value() -> str:
    """A quoted or bare value (lower-case mode); only the part inside quotes is masked."""
    dq = rf"\"(?!{_PLACEHOLDER}\"){_NOT_MASKED}(?P<xd>(?:[^\"\\\r\n]|\\.)+)\""
    sq = rf"'(?!{_PLACEHOLDER}'){_NOT_MASKED}(?P<xs>[^'\r\n]+)'"
    unclosed = rf"[\"']{_NOT_MASKED}(?P<xu>[^\s\"']+)"
    bare = (
        rf"(?!{_PLACEHOLDER}{_BARE_END}|{_EXPRESSION}|[<(]){_NOT_MASKED}"
        rf"(?P<xb>(?:[^\s\"'&;,<>]|,(?![\s,])|&(?![\w.\-]+=))+)"
    )
    return f"(?:{dq}|{sq}|{unclosed}|{bare})"


def _assignment(kind: str, keys: str, triggers: tuple[str, ...]) -> _Rule:
    """`key=value`, `key: value`, `"key": "value"`, `key => 'value'`.

    The key's prefix (`db_`, `MYSQL_ROOT_`, `$env:`) stays in place and is not matched, so each
    pattern starts with its keyword.
    """
    return _rule(kind, rf"(?:{keys}){_ASSIGN}{_value()}", triggers, mode="lower")


def _parameter(kind: str, keys: str, triggers: tuple[str, ...]) -> _Rule:
    """Command-line parameters: PowerShell `-Password 'x'`, `--token x`."""
    value = (
        rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)'"
        rf"|(?![-$(\[@]|{_PLACEHOLDER}{_BARE_END}){_NOT_MASKED}(?P<xb>[^\s\"']+))"
    )
    return _rule(kind, rf"-(?<![\w-]-)-?(?:{keys})(?![\w-]){_SP}+{value}", triggers, mode="lower")


def _quoted_or_word(*, exclude: str) -> str:
    """A quoted argument or one word not starting with any of `exclude` (lower-case mode)."""
    return (
        rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)'"
        rf"|(?![{exclude}\"']){_NOT_MASKED}(?P<xb>\S+))"
    )


_NET = rf"net(?<![\w.]net){_SP}+"

_RULES: tuple[_Rule, ...] = (
    # Whole private-key blocks first: their base64 could look like anything else. A block cut off before
    # its END line is masked as far as its base64 goes.
    _rule(
        "private_key",
        r"(?P<x>-----BEGIN (?:[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?|OpenVPN Static key V1)-----"
        r"(?:[\s\S]{0,20000}?-----END [^\r\n\-]{1,60}-----"
        rf"|(?:(?:\\[rn]|\s)+(?:{_B64}{{8,}}(?![^\s\\])|(?:Proc-Type|DEK-Info|Comment):[^\r\n\\]*))*))",
        ("-----begin",),
    ),
    _rule(
        "private_key",
        rf"\"private_key\"\s*:\s*\"{_NOT_MASKED}(?P<x>(?:[^\"\\\r\n]|\\.)+)\"",
        ("private_key",),
    ),
    _rule(  # PuTTY .ppk
        "private_key",
        rf"Private-Lines:{_SP}*[0-9]+{_SP}*\r?\n(?P<x>{_B64}+(?![^\r\n])(?:\r?\n{_B64}+(?![^\r\n]))*)",
        ("private-lines",),
    ),
    _rule(  # WireGuard
        "private_key",
        rf"(?:private|preshared)[_\-]?key[\"']?{_SP}*[:=]{_SP}*[\"']?{_NOT_MASKED}(?P<x>[a-z0-9+/]{{40,}}=*)",
        ("private", "preshared"),
        mode="lower",
    ),
    # Webhook URLs: the path is the credential.
    _rule(
        "webhook_url",
        r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<x>[a-z0-9/_\-]+)",
        ("hooks.slack.com",),
        mode="lower",
    ),
    _rule(
        "webhook_url",
        r"https?://[a-z0-9.\-]{0,100}(?:outlook\.office(?:365)?\.com|webhook\.office\.com)"
        rf"/webhook(?:b2)?/{_NOT_MASKED}(?P<x>[^\s\"'<>]+)",
        ("office",),
        mode="lower",
    ),
    _rule(
        "webhook_url",
        r"https?://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/(?P<x>[0-9]+/[a-z0-9_\-]+)",
        ("discord",),
        mode="lower",
    ),
    _rule(
        "azure_function_key",
        r"\.azurewebsites\.net/[^\s?#]{0,300}\?(?>(?:[^\s#&]{0,300}&){0,20}?code=)"
        rf"{_NOT_MASKED}(?P<x>[^\s&#\"'<>]+)",
        ("azurewebsites",),
        mode="lower",
    ),
    # Tokens recognisable by their own shape, wherever they appear.
    _rule("jwt", rf"(?P<x>eyJ{_URLSAFE}{{2,}}\.eyJ{_URLSAFE}{{2,}}\.{_URLSAFE}*)", ("eyj",)),
    _rule("anthropic_key", rf"(?P<x>sk-ant-{_URLSAFE}{{20,}})", ("sk-ant-",)),
    _rule(
        "openai_key",
        rf"(?P<x>sk-(?<![A-Za-z0-9_\-]sk-)(?!ant-)(?=[A-Za-z0-9_\-]{{0,200}}[0-9]){_URLSAFE}{{20,}})",
        ("sk-",),
    ),
    _rule("github_token", r"(?P<x>gh[pousr]_(?<![A-Za-z0-9]gh._)[A-Za-z0-9]{36,255})", ("gh",)),
    _rule("github_token", r"(?P<x>github_pat_[A-Za-z0-9_]{22,255})", ("github_pat_",)),
    _rule("gitlab_token", rf"(?P<x>gl(?:pat|ptt|dt|rt|soat|cbt)-{_URLSAFE}{{20,}})", ("gl",)),
    _rule(
        "slack_token",
        r"(?P<x>x(?<![A-Za-z0-9]x)(?:ox[abprs]|oxe(?:\.xox[bp])?|app)-[A-Za-z0-9\-]{10,})",
        ("xox", "xapp-"),
    ),
    _rule(
        "stripe_key",
        r"(?P<x>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})",
        ("_live_", "_test_", "whsec_"),
    ),
    _rule("sendgrid_key", rf"(?P<x>SG\.{_URLSAFE}{{16,32}}\.{_URLSAFE}{{16,64}})", ("sg.",)),
    _rule("npm_token", r"(?P<x>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])", ("npm_",)),
    _rule("pypi_token", rf"(?P<x>pypi-{_URLSAFE}{{50,}})", ("pypi-",)),
    _rule(
        "google_oauth_token",
        rf"(?P<x>ya29\.{_URLSAFE}{{20,}}|1//0{_URLSAFE}{{30,}})",
        ("ya29.", "1//0"),
    ),
    _rule("gcp_api_key", rf"(?P<x>AIza{_URLSAFE}{{35}})(?![A-Za-z0-9_\-])", ("aiza",)),
    _rule(
        "aws_access_key",
        r"(?P<x>A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16})(?![A-Za-z0-9])",
        ("akia", "asia", "abia", "acca"),
    ),
    _rule("twilio_api_key", r"(?P<x>SK(?<![A-Za-z0-9]SK)[0-9a-f]{32})(?![A-Za-z0-9])", ("sk",)),
    _rule(  # an auth token on the same line as its account SID
        "twilio_auth_token",
        r"AC(?<![A-Za-z0-9]AC)[0-9a-f]{32}[^\r\n]{1,40}?(?<![0-9a-fA-F])(?P<x>[0-9a-f]{32})(?![0-9a-zA-Z])",
        ("ac",),
    ),
    _rule(  # Entra ID (Azure AD) client secret values: `abc8Q~...`
        "client_secret",
        r"(?P<x>Q~(?<=[A-Za-z0-9_~.]{3}[0-9]Q~)[A-Za-z0-9_~.\-]{31,34})(?![A-Za-z0-9_~.\-])",
        ("q~",),
        back=4,
    ),
    # Keys with a fixed shape and no name around them; matching starts at the first dash.
    _rule(
        "windows_product_key",
        r"(?P<x>-(?<=(?<![A-Za-z0-9\-])[A-Z0-9]{5}-)[A-Z0-9]{5}(?:-[A-Z0-9]{5}){3})(?![A-Za-z0-9\-])",
        ("-",),
        back=5,
    ),
    _rule(
        "bitlocker_recovery_key",
        r"(?P<x>-(?<=(?<![0-9\-])[0-9]{6}-)[0-9]{6}(?:-[0-9]{6}){6})(?![0-9\-])",
        ("-",),
        back=6,
    ),
    # Azure connection strings and SAS URLs.
    _rule(
        "azure_storage_key",
        rf"accountkey{_SP}*={_SP}*{_NOT_MASKED}(?P<x>[a-z0-9+/]{{20,}}={{0,2}})",
        ("accountkey",),
        mode="lower",
    ),
    _rule(
        "azure_shared_access_key",
        rf"sharedaccesskey{_SP}*={_SP}*{_NOT_MASKED}(?P<x>[^;\s\"'<>]+)",
        ("sharedaccesskey",),
        mode="lower",
    ),
    _rule(
        "azure_sas_signature",
        rf"sig=(?<=[?&]sig=){_NOT_MASKED}(?P<x>[a-z0-9%+/=_\-]+)",
        ("sig=",),
        mode="lower",
    ),
    # Credentials inside URLs, any scheme: postgres://app:s3cret@db, mongodb+srv://u:p@host.
    _rule(
        "password",
        rf"://(?<=[A-Za-z0-9]://)[^\s:/@\"'<>\[\]]{{0,256}}:{_NOT_MASKED}(?P<x>[^\s/\"'<>]{{1,256}})@",
        ("://",),
    ),
    # HTTP headers.
    _rule(
        "bearer_token",
        rf"authorization[\"']?{_SP}*[:=]{_SP}*[\"']?bearer{_SP}+{_NOT_MASKED}(?P<x>[^\s\"',;]+)",
        ("authorization",),
        mode="lower",
    ),
    _rule(
        "basic_auth",
        rf"authorization[\"']?{_SP}*[:=]{_SP}*[\"']?basic{_SP}+{_NOT_MASKED}(?P<x>[^\s\"',;]+)",
        ("authorization",),
        mode="lower",
    ),
    _rule(
        "authorization",
        rf"authorization[\"']?{_SP}*[:=]{_SP}*[\"']?(?:(?:token|digest|ntlm|negotiate|bot|ssws|apikey"
        rf"|sharedkey|sharedaccesssignature){_SP}+{_NOT_MASKED}(?P<xs>[^\s\"']+)"
        rf"|(?!bearer\b|basic\b){_NOT_MASKED}(?P<x>[a-z0-9._~+/=:\-]{{16,}}))",
        ("authorization",),
        mode="lower",
    ),
    _rule(
        "bearer_token",
        rf"bearer{_SP}+{_NOT_MASKED}(?P<x>[a-z0-9._~+/\-]{{20,}}=*)",
        ("bearer",),
        mode="lower",
    ),
    # Command lines.
    _rule(  # net use \\srv\share /user:DOM\u P@ssw0rd
        "password",
        rf"{_NET}use\b(?>[^\r\n]{{0,300}}?{_SP}/u(?:ser)?:)\S+{_SP}+{_quoted_or_word(exclude='/*')}",
        ("net",),
        mode="lower",
    ),
    _rule(  # net use Z: \\srv\share P@ssw0rd /user:DOM\u
        "password",
        rf"{_NET}use{_SP}+(?:[a-z]:{_SP}+|\*{_SP}+)?\\\\\S+{_SP}+{_quoted_or_word(exclude='/*')}",
        ("net",),
        mode="lower",
    ),
    _rule(  # net user jdoe P@ssw0rd /add
        "password",
        rf"{_NET}user{_SP}+(?:\"[^\"\r\n]+\"|[^\s/\"]+){_SP}+{_quoted_or_word(exclude='/*')}",
        ("net",),
        mode="lower",
    ),
    _rule(  # cmdkey /pass:..., runas-style tools
        "password",
        rf"/(?<!\S/)pass(?:word)?:{_quoted_or_word(exclude='')}",
        ("/pass",),
        mode="lower",
    ),
    _rule(
        "password",
        rf"(?:psexec|paexec|sshpass)\b(?>[^\r\n]{{0,300}}?{_SP}-p{_SP}){_SP}*{_quoted_or_word(exclude='-$')}",
        ("psexec", "paexec", "sshpass"),
        mode="lower",
    ),
    _rule(
        "password",
        rf"mysql(?:dump|admin)?\b(?>[^\r\n]{{0,300}}?{_SP}-p(?=[^\s\-])){_NOT_MASKED}(?P<x>\S+)",
        ("mysql",),
    ),
    _rule(
        "password",
        rf"convertto-securestring{_SP}+(?:-string{_SP}+)?{_quoted_or_word(exclude='-$(')}",
        ("convertto-securestring",),
        mode="lower",
    ),
    _rule(
        "password",
        rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)')"
        rf"{_SP}*\|{_SP}*convertto-securestring",
        ("convertto-securestring",),
        mode="lower",
    ),
    _rule(  # curl -u user:pass
        "password",
        rf"-(?<![\w-]-)u{_SP}+[\"']?[^\s:\"'\[\]]+:{_NOT_MASKED}(?P<x>[^\s\"']+)",
        ("-u",),
    ),
    # XML: <AdminPassword>x</AdminPassword>, unattend.xml <Password><Value>x</Value>.
    _rule(
        "password",
        rf"(?:password|passwd)>(?:\s*<value>|{_SP}*){_NOT_MASKED}(?P<x>[^<\r\n]+)</",
        ("password>", "passwd>"),
        mode="lower",
    ),
    _rule(
        "secret",
        rf"(?:secret|token|apikey)>(?:\s*<value>|{_SP}*){_NOT_MASKED}(?P<x>[^<\r\n]+)</",
        ("secret>", "token>", "apikey>"),
        mode="lower",
    ),
    _rule(  # Wi-Fi profile XML
        "wifi_key",
        rf"keymaterial>{_SP}*{_NOT_MASKED}(?P<x>[^<\r\n]+)</",
        ("keymaterial>",),
        mode="lower",
    ),
    _rule(  # PHP: define('DB_PASSWORD', '...'), WordPress keys and salts
        "secret",
        rf"define\(\s*['\"]\w*(?:password|key|salt|secret|token)['\"]\s*,\s*['\"]{_NOT_MASKED}"
        rf"(?P<x>[^'\"\r\n]+)['\"]",
        ("define",),
        mode="lower",
    ),
    # Wi-Fi: `netsh wlan show profile name=X key=clear` output, and `netsh ... key=Passw0rd`.
    _rule(
        "wifi_key",
        rf"key{_SP}+content{_SP}*:{_SP}*{_NOT_MASKED}(?P<x>\S(?:[^\r\n]*\S)?)",
        ("key",),
        mode="lower",
    ),
    _rule(
        "wifi_key",
        rf"netsh\b(?>[^\r\n]{{0,300}}?\bkey(?:material)?{_SP}*={_SP}*)(?!clear\b){_quoted_or_word(exclude='')}",
        ("netsh",),
        mode="lower",
    ),
    # SNMP community strings.
    _rule(
        "snmp_community",
        rf"community(?:[_\-]?(?:string|name))?{_ASSIGN}{_value()}",
        ("community",),
        mode="lower",
    ),
    _rule(
        "snmp_community",
        rf"snmp-server{_SP}+community{_SP}+{_NOT_MASKED}(?P<x>\S+)",
        ("snmp-server",),
        mode="lower",
    ),
    _rule(
        "snmp_community",
        rf"r(?<!\Sr)[ow]community6?{_SP}+{_NOT_MASKED}(?P<x>\S+)",
        ("community",),
        mode="lower",
    ),
    _rule(
        "snmp_community",
        rf"snmp(?:walk|get|getnext|bulkwalk|bulkget|set|table|trap)\b(?>[^\r\n]{{0,300}}?{_SP}-c{_SP}*(?=[^\s\-]))"
        rf"{_NOT_MASKED}(?P<x>\S+)",
        ("snmp",),
        mode="lower",
    ),
    # Connection strings: `Password=...;` may hold spaces up to the next `;`.
    _rule(
        "password",
        rf"p(?:assword|wd(?!{_SP}*={_SP}*[/~])){_SP}*={_SP}*(?:\{{{_NOT_MASKED}(?P<xc>[^}}\r\n]+)\}}|{_NOT_MASKED}"
        rf"(?!{_PLACEHOLDER}{_SP}*;)(?P<x>[^;\r\n\"'{{]{{1,256}}?)){_SP}*;",
        ("password", "pwd"),
        mode="lower",
    ),
    # Named settings, most specific first.
    _rule(
        "aws_secret_key",
        rf"secret_?access_?key{_ASSIGN}[\"']?{_NOT_MASKED}(?P<x>[a-z0-9/+=]{{30,}})",
        ("secret",),
        mode="lower",
    ),
    _assignment("client_secret", r"client[_.\-]?secret", ("client",)),
    _assignment(  # one literal first letter keeps the scan fast
        "password",
        r"p(?:assword|asswd|assphrase|(?<![a-z0-9]p)(?:ass|sk|w)"
        rf"|(?<![a-z0-9]p)wd(?![\"']?{_SP}*[:=]{_SP}*[/~]))",
        ("pass", "psk", "pw"),
    ),
    _assignment("secret", r"secret(?:[_.\-]?(?:access[_.\-]?)?key)?", ("secret",)),
    _assignment("token", r"token", ("token",)),
    _assignment("api_key", r"api[_.\-]?key", ("api",)),
    _assignment("api_key", r"subscription[_.\-]?key", ("subscription",)),
    _assignment("api_key", r"functions[_.\-]key", ("functions",)),
    _parameter("password", r"\w*password|\w*passwd|\w*passphrase|pass", ("pass",)),
    _parameter("secret", r"\w*secret", ("secret",)),
    _parameter("token", r"\w*token", ("token",)),
    _parameter("api_key", r"api-?key", ("api",)),
)


def _lower(text: str) -> str:
    """Lower-case `text` keeping every character at its position."""
    # U+0130 is the one character whose lower case is two characters long.
    return text.replace("\u0130", "i").lower()


def _spans(rule: _Rule, subject: str) -> list[tuple[int, int]]:
    spans = []
    for match in rule.pattern.finditer(subject):
        for name in rule.secret_groups:
            start, end = match.span(name)
            if start >= 0:
                spans.append((max(start - rule.back, 0), end))
    return spans


def _mask(text: str, spans: list[tuple[int, int]], kind: str) -> str:
    mark = f"[REDACTED:{kind}]"
    parts: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:  # overlaps the previous span: widen that mask instead of adding another
            pos = max(pos, end)
            continue
        parts += (text[pos:start], mark)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _pass(text: str) -> tuple[str, int, set[str]]:
    """Apply every rule once, in order."""
    lowered = _lower(text)
    present: dict[str, bool] = {}

    def occurs(word: str) -> bool:
        if word not in present:
            present[word] = word in lowered
        return present[word]

    count = 0
    kinds: set[str] = set()
    for rule in _RULES:
        if not any(occurs(word) for word in rule.triggers):
            continue
        spans = _spans(rule, lowered if rule.mode == "lower" else text)
        if spans:
            text = _mask(text, spans, rule.kind)
            lowered = _lower(text)
            present.clear()
            count += len(spans)
            kinds.add(rule.kind)
    return text, count, kinds


def _around_masks(text: str, *, context: int = 2) -> str:
    """The lines holding a mask, with `context` lines either side: the only places where masking can
    have brought a new match into view (rules match within a line or two)."""
    pieces: list[str] = []
    covered = 0
    pos = text.find(_MARK)
    while pos >= 0:
        start = end = pos
        for _ in range(context + 1):
            start = text.rfind("\n", 0, start - 1) + 1 if start > 0 else 0
        for _ in range(context + 1):
            found = text.find("\n", end + 1)
            end = len(text) if found < 0 else found
        start = max(start, covered)
        if start < end:
            pieces.append(text[start:end])
        covered = end
        pos = text.find(_MARK, end)
    return "\n".join(pieces)


def redact(text: str) -> Redaction:
    """Mask every secret found in `text`."""
    text, found, kinds = _pass(text)
    count = found
    # Masking can bring a match for an earlier rule into view. Looking again only around the masks
    # keeps a second full pass (rarely needed) off the common path; repeating until nothing changes
    # keeps `redact` idempotent.
    for _ in range(_MAX_PASSES - 1):
        if not found or not _pass(_around_masks(text))[1]:
            break
        text, found, more = _pass(text)
        count += found
        kinds |= more
    return Redaction(text=text, count=count, kinds=tuple(sorted(kinds)))


class LogMask(logging.Filter):
    """A handler filter masking secrets in every record it passes: message, exception and stack.

    The configured credentials are masked by value; anything `redact` recognises is masked too, which covers
    credentials learnt at run time (a workspace's OAuth-installed bot token in a library's DEBUG line or in
    a SQL parameter). The record is changed in place, so every handler after this one sees it masked.
    """

    _MIN_SECRET = 8  # shorter values would mask ordinary words

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        unique = {s for s in secrets if len(s) >= self._MIN_SECRET}
        self._secrets = sorted(unique, key=len, reverse=True)  # a longer secret holding a shorter one first

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED:credential]")
        return redact(text).text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._mask_record(record)
        except Exception:  # never let masking break the code that logs, nor let an unmasked line through
            record.msg, record.args = "(log record withheld: it could not be masked)", None
            record.exc_info = record.exc_text = record.stack_info = None
        return True

    def _mask_record(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Arguments that do not fit the message: logging's own error report would print them raw.
            message = f"{record.msg} (log arguments withheld: they do not fit the message)"
            record.msg, record.args = message, None
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
