"""Keys with a fixed shape, Azure connection strings and SAS URLs, credentials in URLs, HTTP headers and cookies.

Rules run in the order of `engine.RULES`: this family's place in it matters, and so does the order here.
"""

from __future__ import annotations

from .patterns import (
    _COOKIE_ATTRIBUTE,
    _NOT_MASKED,
    _PLACEHOLDER,
    _SESSION_COOKIE,
    _SP,
    _WB,
    _Rule,
    _rule,
    _word,
)

RULES: tuple[_Rule, ...] = (
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
)
