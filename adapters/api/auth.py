"""Bearer tokens from FLOWPILOT_API_TOKENS, each scoped to one account; only their digests stay in memory."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import web

from bot.commands import Actor
from bot.queries import AccountRef

PLATFORMS = ("slack", "teams", "shell", "api")
USER_HEADER = "X-FlowPilot-User"
USER_NAME_HEADER = "X-FlowPilot-User-Name"
DEFAULT_USER = "api"
MAX_ID = 255

BAD_ENTRY = (
    "FLOWPILOT_API_TOKENS entry {n} is not token@platform:workspace_id "
    "(platform one of {platforms}; e.g. s3cret@slack:T0123)"
)


class TokenError(ValueError):
    """FLOWPILOT_API_TOKENS cannot be read; the message never contains a token."""


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    account: AccountRef


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenBook:
    """The accepted tokens; `account_for` compares against every one in constant time."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, raw: str) -> TokenBook:
        """Read `token@platform:workspace_id, …`; the token is everything before the last '@'."""
        entries: list[_Entry] = []
        for n, item in enumerate((part.strip() for part in raw.split(",")), 1):
            if not item:
                continue
            token, at, scope = item.rpartition("@")
            platform, colon, workspace = scope.partition(":")
            if not (at and colon and token and workspace.strip()) or platform not in PLATFORMS:
                raise TokenError(BAD_ENTRY.format(n=n, platforms=", ".join(PLATFORMS)))
            entries.append(_Entry(_digest(token), AccountRef(platform, workspace.strip())))
        if not entries:
            raise TokenError("FLOWPILOT_API_TOKENS is set but holds no token")
        return cls(entries)

    def account_for(self, token: str) -> AccountRef | None:
        digest = _digest(token)
        found: AccountRef | None = None
        # No early exit: the time taken does not depend on which entry (if any) matched.
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry.account
        return found


class Unauthorized(Exception):
    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error

    @property
    def challenge(self) -> str:
        realm = 'Bearer realm="flowpilot"'
        return f'{realm}, error="{self.error}"' if self.error else realm


def authenticate(request: web.Request, book: TokenBook) -> AccountRef:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("Send the API token as 'Authorization: Bearer <token>'.")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the API token as 'Authorization: Bearer <token>'.", error="invalid_request")
    account = book.account_for(token.strip())
    if account is None:
        raise Unauthorized("That API token is not accepted.", error="invalid_token")
    return account


def actor_for(
    request: web.Request, account: AccountRef, *, user_id: str | None = None, user_name: str | None = None
) -> Actor:
    """The engineer an API call acts for: the body's user_id, else X-FlowPilot-User, else "api".

    `via="api"` makes the change notifications say "api", so every chat adapter re-renders them.
    """
    uid = (user_id or request.headers.get(USER_HEADER) or "").strip() or DEFAULT_USER
    name = (user_name or request.headers.get(USER_NAME_HEADER) or "").strip()
    # Without a name the stored display name is left alone (Actor.name falls back to the user id).
    return Actor(
        platform=account.platform,
        workspace_id=account.workspace_id,
        user_id=uid[:MAX_ID],
        display_name=name[:MAX_ID],
        via="api",
    )
