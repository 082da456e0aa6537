"""Mask secrets in pasted text before it is stored, logged or sent to Claude.

A rule masks only the secret itself (`password=[REDACTED:password]`) and keeps the key name and the
structure around it, so the text stays useful for troubleshooting.

Speed matters because engineers paste multi-megabyte logs:
- patterns start with a literal wherever they can (the regex engine finds those with a fast scan) and their
  repetitions never overlap, so nothing backtracks catastrophically; that a word starts a word is checked
  by a lookbehind behind it (`_word`), and the start of a line by finding a newline, since a lookbehind or
  `(?m)^` in front would be tried at every position;
- a scan along a command line commits to the first place it could match (an atomic group), so masking one
  value cannot bring the next into view on a later pass;
- a rule is skipped unless one of its trigger words occurs;
- a flag's value on a command line (`sqlcmd … -P x`, `snmpwalk … -A x -X y`) is found in two steps: the
  rule's pattern finds the command's line, its inner pattern every flag on that line, so flags may come in
  any order and any number without a pattern that scans a line once per flag;
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
        "vault_token", r"(?P<x>hv[sbr]\.(?<![A-Za-z0-9_]hv.\.)[A-Za-z0-9_\-]{24,})", ("hvs.", "hvb.", "hvr.")
    ),
    _rule("google_oauth_secret", r"(?P<x>GOCSPX-[A-Za-z0-9_\-]{20,})", ("gocspx-",)),
    _rule(
        "atlassian_token",
        r"(?P<x>A(?<![A-Za-z0-9]A)T(?:ATT|CTT|BB)[A-Za-z0-9_\-=]{20,})",
        ("atatt", "atctt", "atbb"),
    ),
    _rule(
        "grafana_token",
        r"(?P<x>glsa_[A-Za-z0-9]{32}_[0-9a-fA-F]{8}|glc_[A-Za-z0-9+/]{20,}={0,2}|eyJrIjoi[A-Za-z0-9+/]{20,}={0,2})",
        ("glsa_", "glc_", "eyjrijoi"),
    ),
    _rule(  # Discord bot token: the bot's id in base64, a timestamp, an HMAC
        "discord_token",
        r"(?P<x>[MNO](?<![A-Za-z0-9_\-.][MNO])(?=[A-Za-z0-9_\-]{0,27}[0-9])[A-Za-z0-9_\-]{23,27}"
        r"\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})(?![A-Za-z0-9_\-.])",
        (".",),
    ),
    _rule(  # Telegram bot token
        "api_token",
        r"(?P<x>[0-9](?<![0-9][0-9])[0-9]{7,9}:AA[A-Za-z0-9_\-]{33})(?![A-Za-z0-9_\-])",
        (":aa",),
    ),
    _rule(  # SaaS tokens named by their prefix: Shopify, DigitalOcean, Docker Hub, Postman, New Relic, …
        "api_token",
        rf"(?P<x>(?:{_word('shp', before=_TB)}(?:at|ss|ca|pa)_[a-fA-F0-9]{{32}}"
        rf"|{_word('do', before=_TB)}[opr]_v1_[a-f0-9]{{64}}"
        rf"|{_word('dckr_pat_', 'PMAK-', 'NRAK-', 'dapi', 'lin_api_', 'pul-', 'sntr', 'dt0c01.', 'dp.', 'ops_eyJ', 'hf_', before=_TB)}"
        r"(?:(?<=dckr_pat_)[A-Za-z0-9_\-]{20,}|(?<=PMAK-)[a-fA-F0-9]{24}-[a-fA-F0-9]{34}|(?<=NRAK-)[A-Z0-9]{27}"
        r"|(?<=dapi)[a-f0-9]{32}|(?<=lin_api_)[A-Za-z0-9]{40}|(?<=pul-)[a-f0-9]{40}|(?<=sntr)[ysu]_[A-Za-z0-9_=+/\-]{40,}"
        r"|(?<=dt0c01\.)[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}|(?<=dp\.)(?:st|ct|sa|scim|audit)\.[A-Za-z0-9_\-]{40,}"
        r"|(?<=ops_eyJ)[A-Za-z0-9+/=_\-]{40,}|(?<=hf_)[A-Za-z0-9]{34,})))(?![A-Za-z0-9_\-])",
        tuple("shp _v1_ dckr_pat_ pmak- nrak- dapi lin_api_ pul- sntr dt0c01. ops_ hf_".split()),
    ),
    _rule(
        "google_oauth_token",
        rf"(?P<x>ya29\.{_URLSAFE}{{20,}}|1//0{_URLSAFE}{{30,}})",
        ("ya29.", "1//0"),
    ),
    _rule("gcp_api_key", rf"(?P<x>AIza{_URLSAFE}{{35}})(?![A-Za-z0-9_\-])", ("aiza",)),
    # The AWS console's credentials.csv: `User name,Password,Access key ID,Secret access key,Console login link`.
    _rule(
        "aws_secret_key",
        r",(?<=(?<![A-Za-z0-9])A(?:KIA|SIA)[A-Z0-9]{16},)(?P<x>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        ("akia", "asia"),
    ),
    _rule(
        "password",
        rf"{_LINE}[^,\r\n]{{1,128}},{_NOT_MASKED}(?P<x>[^,\r\n]{{1,128}}),"
        r"(?=A(?:KIA|SIA)[A-Z0-9]{16},|https://[^,\s]{1,100}\.signin\.aws\.amazon\.com)",
        ("signin.aws.amazon.com", "akia", "asia"),
    ),
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
    # Password hashes: as good as the password to whoever holds them (pass-the-hash, offline cracking).
    _rule(  # pwdump / secretsdump: user:rid:LM:NT:::
        "password_hash",
        r":[0-9]{1,10}:(?P<x>[0-9a-f]{32}:[0-9a-f]{32}):::",
        (":::",),
        mode="lower",
    ),
    _rule(  # mimikatz: `* NTLM : <hash>`, `* SHA1 : <hash>`
        "password_hash",
        rf"(?:\*{_SP}*(?:ntlm|lm|sha1)|ntlm(?:{_SP}*hash)?){_SP}*:{_SP}*(?P<x>[0-9a-f]{{32}}(?:[0-9a-f]{{8}})?)(?![0-9a-z])",
        ("ntlm", "sha1", "lm"),
        mode="lower",
    ),
    _rule(  # mimikatz ekeys / secretsdump Kerberos keys
        "password_hash",
        rf"(?:aes(?:128|256)[_\-](?:cts[_\-])?hmac(?:[_\-]sha1[_\-]96)?|rc4[_\-]hmac(?:[_\-]nt)?|des[_\-]cbc[_\-]md5)"
        rf"(?:{_SP}+|:)(?P<x>[0-9a-f]{{16,64}})(?![0-9a-z])",
        ("hmac", "des"),
        mode="lower",
    ),
    _rule(  # NetNTLMv2 (Responder, hashcat 5600): user::DOMAIN:challenge:NTProofStr:blob
        "password_hash",
        r"::[^:\s]{0,64}:[0-9a-f]{16}:(?P<x>[0-9a-f]{32}:[0-9a-f]{40,})",
        ("::",),
        mode="lower",
    ),
    _rule(  # crypt(3) hashes: /etc/shadow, htpasswd, Cisco type 5/8/9, Junos $9$, bcrypt, yescrypt, argon2
        "password_hash",
        r"(?P<x>\$(?<![\w$]\$)(?:1|2[abxy]?|5|6|7|8|9|y|gy|sha1|md5|apr1|argon2(?:id|i|d)|pbkdf2(?:-sha(?:1|256|512))?"
        r"|scrypt)\$(?=[./0-9$=,+\-]{0,511}[A-Za-z])[./A-Za-z0-9$=,+\-]{8,512})",
        ("$",),
    ),
    _rule("password_hash", r"(?P<x>\$krb5(?:tgs|asrep|pa)\$[^\s\"'<>]{16,})", ("$krb5",)),
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
    # Cookies: whoever holds a session cookie is signed in. Cookie names vary too much to list, so in a
    # `Cookie:` or `Set-Cookie:` header a session-looking name (ESTSAUTH, .AspNetCore.Cookies, JSESSIONID,
    # FedAuth, connect.sid, …) is masked whatever its value, and any other value of 16+ characters too;
    # short preferences (`lang=en-US`, `theme=dark`) and the attributes (`path=/`) stay readable.
    _rule(
        "session_cookie",
        rf"{_word('set-cookie', 'cookie', before=_WB)}{_SP}*:[^\r\n]*",
        ("cookie",),
        mode="lower",
        inner=rf"(?<=[:;]){_SP}*(?!{_COOKIE_ATTRIBUTE})(?:[^=;\s]{{0,64}}?{_SESSION_COOKIE}[^=;\s]{{0,64}}="
        rf"(?!{_PLACEHOLDER}(?:;|\s|$)){_NOT_MASKED}(?P<xa>[^;\s]+)|[^=;\s]{{1,128}}={_NOT_MASKED}(?P<xb>[^;\s]{{16,}}))",
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
    # A password flag on the command line of the tool it belongs to (the same flag means something else
    # elsewhere: sqlcmd's -P is the password, its -p prints statistics).
    _command(
        "password",
        tuple("psexec psexec64 paexec sshpass evil-winrm smbmap crackmapexec netexec nxc rdesktop".split()),
        rf"-p{_SP}*",
    ),
    _command(
        "password", ("sqlcmd", "SQLCMD", "osql", "OSQL", "isql", "bcp", "BCP"), rf"-P{_SP}*", mode="exact"
    ),
    _command(  # docker login -u ci -p x, az login -u x -p y
        "password",
        ("docker", "podman", "nerdctl", "buildah", "skopeo", "oras", "helm", "az"),
        rf"-p{_SP}+",
        then=rf"(?:{_SP}+(?:registry|acr))?{_SP}+login",
    ),
    _command(
        "password",
        tuple(
            "ldapsearch ldapmodify ldapadd ldapdelete ldappasswd ldapwhoami ldapcompare ldapmodrdn".split()
        ),
        rf"-w{_SP}*",
        mode="exact",
    ),
    _command("password", ("redis-cli",), rf"-a{_SP}+"),
    _command("password", ("mysqladmin",), rf"password{_SP}+"),
    _command("password", ("xfreerdp", "wfreerdp", "sdl-freerdp", "freerdp", "xfreerdp3"), r"[/\-]p:"),
    _command("password", ("plink", "pscp", "psftp", "putty", "kitty"), rf"-pw{_SP}+"),
    _command("password", ("schtasks",), rf"/r?p{_SP}+(?!\*)"),
    _command("password", ("7z", "7za", "7zr", "7zz", "rar", "unrar", "winrar"), r"-h?p(?=[^\s\-])"),
    _command("password", ("zip",), rf"-P{_SP}+", mode="exact"),
    _command("password", ("ssh-keygen",), rf"-[NP]{_SP}*", mode="exact"),
    _command("wifi_key", ("nmcli",), rf"(?:password|wifi-sec\.psk|802-11-wireless-security\.psk){_SP}+"),
    _rule(  # smbclient -U 'DOM\user%pass'
        "password",
        rf"(?:{_word('smbclient', 'rpcclient', 'smbcacls', 'smbget', 'smbmap', 'smbtree', 'crackmapexec', 'netexec')}"
        rf"|{_word('nxc', 'enum4linux', 'impacket-', 'mount.cifs')}|{_NET}(?:rpc|ads))[^\r\n]*",
        ("net rpc", "net ads", *"smb rpcclient crackmapexec netexec nxc enum4linux impacket cifs".split()),
        mode="lower",
        inner=rf"{_SP}(?:-u|--user(?:name)?)(?:{_SP}+|=)[\"']?[^\s%\"']+%{_NOT_MASKED}(?P<x>[^\s\"']+)",
    ),
    _rule(  # htpasswd -b file user password
        "password",
        rf"{_word('htpasswd')}(?=[^\r\n]{{0,100}}?{_SP}-[a-zA-Z]*b)(?:{_SP}+-[a-zA-Z]+)*{_SP}+(?!-)\S+{_SP}+(?!-)\S+"
        rf"{_SP}+{_quoted_or_word(exclude='-')}",
        ("htpasswd",),
    ),
    _rule(  # openssl -passin pass:x
        "password",
        rf"-pass(?:in|out|word)?{_SP}+pass:{_NOT_MASKED}(?P<x>\S+)",
        ("pass:",),
        mode="lower",
    ),
    _rule(  # echo pw | sudo -S …, echo pw | passwd --stdin u, echo pw | docker login --password-stdin
        "password",
        rf"{_word('echo', 'printf', before=_WB)}(?:{_SP}+-[a-z]+)*{_SP}+(?:\"(?!\$){_NOT_MASKED}(?P<xd>[^\"\r\n]+)\""
        rf"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)'|(?![-$]){_NOT_MASKED}(?P<xb>[^\s|\"']+)){_SP}*\|{_SP}*"
        rf"(?:sudo\b(?>[^|\r\n]{{0,80}}?{_SP}-[a-z]*s[a-z]*\b)|sudo{_SP}+--stdin|passwd\b[^|\r\n]{{0,60}}--stdin|kinit\b"
        rf"|[^|\r\n]{{0,80}}?--password-stdin)",
        ("echo", "printf"),
        mode="lower",
    ),
    _rule(  # echo 'user:pw' | chpasswd
        "password",
        rf"{_word('echo', before=_WB)}(?:{_SP}+-[a-z]+)*{_SP}+[\"']?[^\s:\"'|]+:{_NOT_MASKED}(?P<x>[^\s\"'|]+)[\"']?{_SP}*\|"
        rf"{_SP}*(?:sudo{_SP}+)?chpasswd",
        ("chpasswd",),
        mode="lower",
    ),
    _rule(  # sqlplus system/pw@db, expdp, rman target sys/pw@db
        "password",
        rf"{_word('sqlplus', 'sqlldr', 'expdp', 'impdp', 'rman', 'dgmgrl')}(?:\.exe)?(?:{_SP}+-\w+)*{_SP}+"
        rf"(?:(?:target|catalog|userid){_SP}*={_SP}*|(?:target|catalog){_SP}+)?[\w$#\"]+/{_NOT_MASKED}(?P<x>[^\s@/\"]+)"
        rf"(?=@|\s|$)",
        ("sqlplus", "sqlldr", "expdp", "impdp", "rman", "dgmgrl"),
        mode="lower",
    ),
    _rule(
        "password",
        rf"jdbc:oracle:[a-z0-9]+:[^/\s@:]+/{_NOT_MASKED}(?P<x>[^@\s]+)@",
        ("jdbc:oracle",),
        mode="lower",
    ),
    _rule(  # SQL: IDENTIFIED BY 'x', WITH PASSWORD 'x', PASSWORD N'x'
        "password",
        rf"(?:{_word('identified', before=_WB)}(?:{_SP}+with{_SP}+\S+)?{_SP}+by{_SP}+(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\""
        rf"|(?![\"']){_NOT_MASKED}{_SECRETISH}(?P<xb>[^\s;'\"]+))|(?:{_word('identified', before=_WB)}{_SP}+by"
        rf"|{_word('password', before=_WB)}){_SP}+n?'{_NOT_MASKED}(?P<xs>[^'\r\n]+)')",
        ("identified", "password"),
        mode="lower",
    ),
    _rule(  # New-Object System.Net.NetworkCredential('user', 'pw'), C# new NetworkCredential("u", "p")
        "password",
        rf"networkcredential(?:{_SP}*\(|{_SP}+-argumentlist{_SP}+\(?){_SP}*(?:\"[^\"\r\n]*\"|'[^'\r\n]*'){_SP}*,{_SP}*"
        rf"(?:\"{_NOT_MASKED}(?P<xd>[^\"\r\n]+)\"|'{_NOT_MASKED}(?P<xs>[^'\r\n]+)')",
        ("networkcredential",),
        mode="lower",
    ),
    _rule(
        "password",
        rf"mysql(?:dump|admin)?\b(?>[^\r\n]{{0,300}}?{_SP}-p(?=[^\s\-])){_NOT_MASKED}(?P<x>\S+)",
        ("mysql",),
    ),
    _rule(  # its flags in any order, before or after the value: -AsPlainText -Force -String 'x'
        "password",
        rf"convertto-securestring(?:{_SP}+-(?:asplaintext|force|string)(?::\$true)?)*{_SP}+"
        rf"{_quoted_or_word(exclude='-$(')}",
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
    _rule(  # curl -u user:pass, curl --user user:pass
        "password",
        rf"-(?<![\w-]-)(?:u|-user)(?:{_SP}+|=)[\"']?[^\s:\"'\[\]]+:{_NOT_MASKED}(?P<x>[^\s\"']+)",
        ("-u", "--user"),
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
        rf"(?:secret|token|apikey|pre-shared-key|psk|passphrase)>(?:\s*<value>|{_SP}*){_NOT_MASKED}(?P<x>[^<\r\n]+)</",
        ("secret>", "token>", "apikey>", "key>", "psk>", "passphrase>"),
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
        rf"snmp(?:walk|get|getnext|bulkwalk|bulkget|set|table|trap)\b(?>[^\r\n]{{0,300}}?{_SP}-c{_SP}*(?=[^\s\-$]))"
        rf"{_NOT_MASKED}(?P<x>\S+)",
        ("snmp",),
        mode="lower",
    ),
    _rule(  # snmp-server host 10.0.0.5 version 2c <community>
        "snmp_community",
        rf"snmp-server{_SP}+host{_SP}+\S+(?:{_SP}+(?:informs|traps))?(?:{_SP}+version{_SP}+(?:1|2c|3{_SP}+(?:auth|noauth|priv)))?"
        rf"{_SP}+(?!(?:version|informs|traps|vrf)\b){_NOT_MASKED}(?P<x>\S+)",
        ("snmp-server",),
        mode="lower",
    ),
    _rule(  # Junos `set snmp community x`, net-snmp `com2sec name source x`
        "snmp_community",
        rf"(?:{_word('snmp', before=_WB)}{_SP}+community{_SP}+{_config_value()}"
        rf"|com2sec6?{_SP}+\S+{_SP}+\S+{_SP}+{_NOT_MASKED}(?P<x>\S+))",
        ("snmp", "com2sec"),
        mode="lower",
    ),
    _rule(  # SNMPv3 users: snmp-server user u g v3 auth sha <x> priv aes 128 <y>; net-snmp createUser
        "snmp_key",
        r"(?:snmp-server[ \t]+user|createuser)\b[^\r\n]*",
        ("snmp-server", "createuser"),
        mode="lower",
        inner=rf"{_SP}(?:md5|sha[0-9\-]*|3?des|aes(?:{_SP}*(?:128|192|256))?+){_SP}+{_quoted_or_word(exclude='-')}",
    ),
    _rule(  # snmpwalk -v3 … -A <auth> -X <priv>
        "snmp_key",
        rf"{_word('snmp', 'SNMP', before=_WB)}[a-zA-Z]*\b[^\r\n]*",
        ("snmp",),
        inner=rf"{_SP}-[AX]{_SP}*{_quoted_or_word(exclude='-$')}",
    ),
    # IPsec / IKE pre-shared keys and RADIUS / TACACS+ shared secrets.
    _rule(
        "shared_secret",
        rf"crypto{_SP}+isakmp{_SP}+key{_TYPE}{_SP}+{_NOT_MASKED}(?P<x>\S+)",
        ("isakmp",),
        mode="lower",
    ),
    _rule(  # strongSwan ipsec.secrets: `left right : PSK "x"`
        "shared_secret",
        rf"(?:psk(?<=: psk)|eap(?<=: eap)|xauth(?<=: xauth)){_SP}+{_config_value()}",
        ("psk", "eap", "xauth"),
        mode="lower",
    ),
    _rule(
        "shared_secret",
        rf"{_LINE}(?:radius|tacacs)-server\b(?>[^\r\n]{{0,200}}?{_SP}key(?={_SP})){_TYPE}{_SP}+{_config_value()}",
        ("radius-server", "tacacs-server"),
        mode="lower",
    ),
    _assignment("shared_secret", r"(?:pre[_.\-]?)?shared[_.\-]?(?:key|secret)", ("shared",)),
    _parameter("shared_secret", r"(?:pre-?)?shared-?key|psk", ("shared", "psk")),
    # Device configurations (IOS, ASA, NX-OS, FortiOS, Junos, Aruba, Redis): the keyword, its type and the
    # value. IOS's `enable secret` and `username … password` are unambiguous; keywords that are also
    # English words (password, secret, key) count only at the start of a line, with a value that holds a
    # digit or a symbol, so "Password expires …", "key chain OSPF" and "Key Length: 0" stay readable.
    _rule(
        "password",
        rf"{_LINE}(?:enable{_SP}+(?:password|secret)(?:{_SP}+level{_SP}+[0-9]+)?|username{_SP}+\S+"
        rf"(?:{_SP}+privilege{_SP}+[0-9]+)?(?:{_SP}+algorithm-type{_SP}+\S+)?{_SP}+(?:password|secret))"
        rf"{_TYPE}{_SP}+{_config_value()}",
        ("enable", "username"),
        mode="lower",
    ),
    _rule(
        "secret",
        rf"{_LINE}(?:set{_SP}+)?(?:password|passwd|secret|key|requirepass|masterauth"
        rf"|neighbor{_SP}+\S+{_SP}+password|ppp{_SP}+(?:chap|pap){_SP}+(?:sent-username{_SP}+\S+{_SP}+)?password"
        rf"|l2tp{_SP}+tunnel{_SP}+password){_TYPE}{_SP}+{_config_value()}",
        ("pass", "secret", "key", "requirepass", "masterauth"),
        mode="lower",
    ),
    _rule(
        "secret",
        rf"(?:{_word('authentication-key', 'key-string', 'pre-shared-key', 'encrypted-password', before=_NS)}"
        rf"|{_word('psksecret', 'wpa-passphrase', before=_NS)}"
        rf"|(?<=authentication-key){_SP}+[0-9]+{_SP}+md5|{_word('message-digest-key', before=_NS)}{_SP}+[0-9]+{_SP}+md5"
        rf"|{_word('wpa-psk', before=_NS)}(?={_SP}+(?:ascii|hex))|{_word('psk', before=_NS)}{_SP}+set-key)"
        rf"{_TYPE}{_SP}+{_config_value()}",
        ("-key", "key-", "encrypted-password", "psksecret", "wpa-passphrase", "wpa-psk", "set-key"),
        mode="lower",
    ),
    _rule(  # Android / iOS Wi-Fi QR code: WIFI:S:name;T:WPA;P:x;;
        "wifi_key",
        r"wifi:[^\r\n]*",
        ("wifi:",),
        mode="lower",
        inner=rf"(?<=[:;])p:{_NOT_MASKED}(?P<x>(?:\\.|[^;\\\r\n])+)",
    ),
    # LAPS: legacy ms-Mcs-AdmPwd in clear; Windows LAPS's msLAPS-Password is JSON with the password in "p".
    _assignment("password", r"ms-mcs-admpwd(?![a-z])", ("ms-mcs-admpwd",)),
    _rule(
        "password",
        rf"mslaps-password\b(?>[^\r\n]{{0,300}}?\"p\"{_SP}*:{_SP}*)\"{_NOT_MASKED}(?P<x>(?:[^\"\\\r\n]|\\.)+)\"",
        ("mslaps-password",),
        mode="lower",
    ),
    # Kubernetes and container registries.
    _assignment("private_key", r"client[_\-]key[_\-]data", ("client-key-data", "client_key_data")),
    _assignment("secret", r"\.docker(?:configjson|cfg)", (".dockerconfigjson", ".dockercfg")),
    _rule(
        "secret",
        rf"\"auth\"{_SP}*:{_SP}*\"{_NOT_MASKED}(?P<x>[a-z0-9+/]{{8,}}={{0,2}})\"",
        ('"auth"',),
        mode="lower",
    ),
    # Environment variables: `ENV X_PASSWORD value` (Dockerfile), and `DD_API_KEY <key>` /
    # `aws_secret_access_key <key>` with a space; a spaced value must look like a key (8+ characters with a
    # digit), so "DB_PASSWORD not set" stays readable.
    _rule(
        "secret",
        rf"{_LINE}ENV{_SP}+(?=[A-Z0-9_]{{0,128}}?(?:PASSWORD|PASSWD|SECRET|TOKEN|_KEY|_PASS|_PWD|_PAT))[A-Z0-9_]{{1,128}}"
        rf"{_SP}+(?!=)"
        rf"{_NOT_MASKED}(?P<x>\S+)",
        ("env",),
    ),
    _rule(
        "secret",
        rf"_(?<=[a-z0-9]_)(?:api_?key|app_?key|access_?key|secret(?:_access)?(?:_key)?|client_secret"
        rf"|(?:auth|access|session|refresh)?_?token|password|passwd|pass|pwd|pat|license_?key|master_?key|private_?key"
        rf"|signing_?key|encryption_?key|sas)(?![\w-]){_SP}+(?!{_PLACEHOLDER}{_BARE_END}|{_EXPRESSION}){_NOT_MASKED}"
        rf"(?=[^\s\"']{{0,255}}[0-9])(?P<x>[^\s\"'<>(\-][^\s\"']{{7,255}})(?![^\s\"'])",
        ("key", "secret", "token", "pass", "pwd", "pat", "sas"),
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
        rf"secret_?access_?key(?:{_ASSIGN}|{_SP}+)[\"']?{_NOT_MASKED}(?P<x>[a-z0-9/+=]{{30,}})",
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
    _assignment("secret", r"secret(?:[_.\-]?(?:access[_.\-]?)?key|text)?", ("secret",)),
    _assignment("token", r"token", ("token",)),
    _assignment("api_key", r"api[_.\-]?key", ("api",)),
    _assignment("api_key", r"subscription[_.\-]?key", ("subscription",)),
    _assignment("api_key", r"functions[_.\-]key", ("functions",)),
    _rule(  # .env: APP_KEY=…, ENCRYPTION_KEY=…, AZURE_DEVOPS_PAT=… (upper case: an environment variable)
        "secret",
        rf"_(?<=[A-Z0-9]_)(?:KEY(?<!PUBLIC_KEY)(?<!PUBLISHABLE_KEY)|PAT|SALT|CREDENTIALS?)(?![A-Za-z0-9_])"
        rf"{_ASSIGN}{_value(exact=True)}",
        ("_key", "_pat", "_salt", "_credential"),
    ),
    _parameter(
        "password", r"[\w-]*password|\w*passwd|\w*passphrase|(?:src|dest|new)?(?:store|key)?pass", ("pass",)
    ),
    _parameter("secret", r"\w*secret", ("secret",)),
    _parameter("token", r"\w*token", ("token",)),
    _parameter("api_key", r"api-?key", ("api",)),
    # Plain language: "Passwort: x", "the new password is x", "password for bob is x", "temp password x",
    # "creds: admin / x". The value must hold a digit or a symbol: "the password is incorrect" is prose.
    _assignment(
        "password",
        rf"passwort|kennwort|mot{_SP}+de{_SP}+passe|mdp|contraseña|contrasena|wachtwoord|senha|hasło|haslo|lösenord"
        r"|losenord|passord|adgangskode|salasana|heslo|jelszó|şifre|sifre|parola",
        (*_PASSWORD_TRIGGERS[2:], "mdp", "sifre", "haslo", "losenord"),
    ),
    _rule(
        "password",
        rf"{_PASSWORD_WORDS}(?:{_SP}+(?:for|für|fuer|pour|para|voor|van|of|de|do|da|del)"
        rf"(?:{_SP}+(?:the|le|la|el|der|die|das|het|o|a))?{_SP}+\S{{1,64}}?)?{_SP}+"
        rf"(?:(?:(?:has{_SP}+been|was|is){_SP}+)?(?:re)?set{_SP}+to|(?:has{_SP}+been{_SP}+|was{_SP}+)?changed{_SP}+to"
        rf"|is(?:{_SP}+(?:now|nu|still))?|now{_SP}+is|was|will{_SP}+be|ist(?:{_SP}+jetzt)?|lautet(?:{_SP}+jetzt)?"
        rf"|wird|est|es|era|é|è|sera){_SP}*:?{_SP}+{_plain_value()}",
        _PASSWORD_TRIGGERS,
        mode="lower",
    ),
    _rule(
        "password",
        rf"(?:{_word('temp', 'temporary', 'new', 'initial', 'one-time', 'default', 'wifi', 'wi-fi', 'guest', 'admin', before=_WB)}"
        rf"(?:{_SP}+(?:admin|user|wi-?fi|account|login))?{_SP}+(?:password|passwort|kennwort|pw)(?:{_SP}*:)?"
        rf"|{_word('pw', before=_WB)}){_SP}+{_plain_value()}",
        ("pass", "pw", "kennwort"),
        mode="lower",
    ),
    _rule(
        "password",
        rf"{_word('cred', before=_WB)}(?:s|entials){_SP}*[:=]{_SP}*[^\s/:]{{1,128}}{_SP}*[/:]{_SP}*(?!/){_plain_value()}",
        ("cred",),
        mode="lower",
    ),
)


def _lower(text: str) -> str:
    """Lower-case `text` keeping every character at its position."""
    # U+0130 is the one character whose lower case is two characters long.
    return text.replace("\u0130", "i").lower()


def _spans(rule: _Rule, subject: str) -> list[tuple[int, int]]:
    spans = []
    for region in rule.pattern.finditer(subject):
        matches = [region] if rule.inner is None else rule.inner.finditer(subject, *region.span())
        for match in matches:
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
