"""Kubernetes and registries, environment variables, connection strings and named settings.

Rules run in the order of `engine.RULES`: this family's place in it matters, and so does the order here.
"""

from __future__ import annotations

from .patterns import (
    _ASSIGN,
    _BARE_END,
    _EXPRESSION,
    _LINE,
    _NOT_MASKED,
    _PASSWORD_TRIGGERS,
    _PASSWORD_WORDS,
    _PLACEHOLDER,
    _SP,
    _WB,
    _assignment,
    _parameter,
    _plain_value,
    _Rule,
    _rule,
    _value,
    _word,
)

RULES: tuple[_Rule, ...] = (
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
