"""The pieces rules are made of: a rule, its value patterns and the words they key on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_MAX_PASSES = 4
_MARK = "[REDACTED:"

_SP = r"[ \t\xa0]"  # NBSP too: chat clients turn spaces into it
_NOT_MASKED = r"(?![{(]?\[(?:REDACTED|redacted):)"
# Values that describe a setting rather than being the secret stay readable ("password: none").
_PLACEHOLDER = (
    r"(?:true|false|yes|no|none|null|nil|undefined|0|1|required|optional|enabled|disabled|empty"
    r"|(?:system\.security\.)?securestring|\*+|x{3,}|\.{3}|…)"
)
_BARE_END = r"(?=[\s,;&\"'<>)\]}]|$)"
# A bare value that reads as prose, not as a secret: `check_ntlm_password: Authentication for user`,
# `passwd: files systemd` (nsswitch.conf), `fetch token: 400 Bad Request`. A passphrase of plain words is
# masked only when quoted.
_PROSE = r"(?:[a-z]+[ \t]+[a-z]+\b|[1-5][0-9]{2}[ \t]+[a-z])"
# A bare value after a keyword that is also an English word (`password`, `key`, a plain-language
# "password is"): it must hold a digit or a symbol, so "key chain", "Password expires", "Key Length:",
# "the password is incorrect." stay readable.
_SECRETISH = r"(?=\S{0,255}?[^a-z\s.,;:)'\"])"
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
    # When set, `pattern` finds a region (a command's line) and this finds the secrets inside it.
    inner: re.Pattern[str] | None = None


def _rule(
    kind: str,
    regex: str,
    triggers: tuple[str, ...],
    *,
    mode: _Mode = "exact",
    back: int = 0,
    inner: str | None = None,
) -> _Rule:
    """A rule masking the groups whose names start with `x` (of `inner` when given)."""
    for source in (regex, inner or ""):
        if mode == "lower":
            assert not re.search(r"[A-Z]", re.sub(r"\\.|REDACTED|\(\?P<", "", source)), (
                f"upper case in {source!r}"
            )
    pattern = re.compile(regex)
    finder = re.compile(inner) if inner is not None else None
    groups = tuple(name for name in (finder or pattern).groupindex if name.startswith("x"))
    assert groups, f"nothing to mask in {inner or regex!r}"
    return _Rule(kind, pattern, mode, triggers, back, groups, finder)


def _value(*, exact: bool = False) -> str:
    """A quoted or bare value (lower-case mode unless `exact`); only the part inside quotes is masked.

    A bare value ends at a space, a quote, `;`, `&key=` or `,key=` (`-o username=u,password=p,vers=3.0`);
    T-SQL's `N'…'` is a quoted value.
    """
    placeholder, expression = (
        (f"(?i:{_PLACEHOLDER})", f"(?i:{_EXPRESSION})") if exact else (_PLACEHOLDER, _EXPRESSION)
    )
    prose = f"(?i:{_PROSE})" if exact else _PROSE
    dq = rf"\"(?!{placeholder}\"){_NOT_MASKED}(?P<xd>(?:[^\"\\\r\n]|\\.)+)\""
    n = "[nN]" if exact else "n"
    sq = rf"{n}?'(?!{placeholder}'){_NOT_MASKED}(?P<xs>[^'\r\n]+)'"
    unclosed = rf"[\"']{_NOT_MASKED}(?P<xu>[^\s\"']+)"
    bare = (
        rf"(?!{placeholder}{_BARE_END}|{expression}|{prose}|[<({{\[]|{n}'){_NOT_MASKED}"
        rf"(?P<xb>(?:[^\s\"'&;,<>]|,(?![\s,]|[\w.\-]+=)|&(?![\w.\-]+=))+)"
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
        rf"|(?![-$(\[@]|{_PLACEHOLDER}{_BARE_END}|(?:pass|env|file|fd):){_NOT_MASKED}(?P<xb>[^\s\"']+))"
    )
    return _rule(kind, rf"-(?<![\w-]-)-?(?:{keys})(?![\w-]){_SP}+{value}", triggers, mode="lower")


def _quoted_or_word(*, exclude: str) -> str:
    """A quoted argument or one word not starting with any of `exclude` (lower-case mode)."""
    return (
        rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)'"
        rf"|(?![{exclude}\"']){_NOT_MASKED}(?P<xb>\S+))"
    )


def _word(*words: str, before: str = r"[\w.\-]") -> str:
    """Any of `words` where it starts a word: `psexec`, not `mypsexec`.

    Each word is checked after it is found (a lookbehind behind the literal), so the pattern still starts
    with a literal the regex engine can scan for; a lookbehind in front would be tried at every position.
    """
    return "(?:" + "|".join(f"{re.escape(w)}(?<!{before}{re.escape(w)})" for w in words) + ")"


# What may not stand right before a word (`_word`'s `before`): a word, a token, anything but a space.
_WB, _TB, _NS = r"[\w-]", r"[A-Za-z0-9_\-]", r"\S"


def _command(
    kind: str, commands: tuple[str, ...], flag: str, *, mode: _Mode = "lower", then: str = ""
) -> _Rule:
    """The value after `flag` wherever it stands on a command's line: `sqlcmd -S sql01 -U sa -P <x> -Q …`."""
    return _rule(
        kind,
        rf"{_word(*commands)}(?:\.exe)?{then}\b[^\r\n]*",
        tuple(c.lower() for c in commands),
        mode=mode,
        inner=rf"{_SP}{flag}{_quoted_or_word(exclude='-$(')}",
    )


def _config_value() -> str:
    """A device setting's value (lower-case mode): quoted, or a word of 4+ characters with a digit or a symbol."""
    return rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|{_NOT_MASKED}{_SECRETISH}(?=\S{{4}})(?P<xb>[^\s\"]+))"


def _plain_value() -> str:
    """A secret written in a sentence (lower-case mode): quoted, or a word with a digit or a symbol.

    A full stop, comma or bracket after it ends the sentence, not the secret; "is 14 characters" is a length.
    """
    return (
        rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)'"
        rf"|(?!{_PLACEHOLDER}{_BARE_END}|[0-9]{{1,3}}(?!\S)|[\"'<(]){_NOT_MASKED}{_SECRETISH}"
        rf"(?P<xb>[^\s\"']{{1,128}}?)[.,;:)]*(?![^\s\"']))"
    )


_NET = rf"net(?<![\w.]net){_SP}+"
# The start of a line: `(?m)^` would be tried at every position, a newline is scanned for.
_LINE = rf"(?:\A|\n){_SP}*"
# A device setting's type before its value: Cisco's `0`/`5`/`7`/`8`/`9`, FortiOS's `ENC`, Junos's
# `ascii-text`, `wpa-psk ascii 0`; taken whole, so "password 7 days" cannot fall back to masking "7".
_TYPE = rf"(?:{_SP}+(?:[0-9]|enc|ascii-text|ascii|hex|encrypted)(?={_SP})){{0,2}}+"
_SESSION_COOKIE = (
    r"(?:sess|auth|token|sid|jwt|ests|esctx|fedauth|rtfa|msis|saml|sso|login|remember|identity|xsrf|csrf"
    r"|antiforgery)"
)
_COOKIE_ATTRIBUTE = r"(?:path|domain|expires|max-age|samesite|priority|partitioned|version|comment)="
_PASSWORD_WORDS = (  # "password" in the languages an MSP meets
    rf"(?:{_word('mot', before=_WB)}{_SP}+de{_SP}+passe|"
    + _word(
        *"password passwort kennwort contraseña contrasena wachtwoord senha hasło lösenord passord adgangskode"
        " salasana heslo jelszó şifre parola passcode passphrase pwd pw".split(),
        before=_WB,
    )
    + ")"
)
# "pass" and "pw" first: the foreign words alone are [2:].
_PASSWORD_TRIGGERS = (
    *"pass pw passwort kennwort contrase wachtwoord senha hasło lösenord adgangskode salasana heslo jelszó"
    " şifre parola".split(),
    "mot de passe",
)
