"""An account's PSA connections: add, list, test and remove them, and open a connector to the account's PSA.

The secret (private key, API secret, client secret) is sealed with FLOWPILOT_SECRET_KEY before it is stored
and opened only to build a connector; a ConnectionView never carries it. Which client speaks to which PSA
is the composition root's business: it hands in `connect`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import psa as store
from storage import repo
from storage.models import Account

from .errors import IntakeError, NotConfigured, NotFound
from .psa import PSA_KINDS, PSA_NAMES, PsaConnector, PsaReach
from .psa_secrets import SecretBox


@dataclass(frozen=True)
class ConnectionSpec:
    """What a connector is built from: the PSA's kind, its settings and the one secret, in clear."""

    kind: str
    settings: Mapping[str, str]
    secret: str = ""

    def __repr__(self) -> str:  # a spec in a traceback or a log line never shows the secret
        return f"ConnectionSpec(kind={self.kind!r}, settings={dict(self.settings)!r}, secret='***')"


Connect = Callable[[ConnectionSpec], PsaConnector]

# Each PSA's settings (DESIGN.md, CLI): what must be given, and what may be.
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "connectwise": ("url", "company", "public_key", "client_id"),
    "autotask": ("username", "integration_code"),
    "halopsa": ("url", "client_id"),
}
OPTIONAL: Mapping[str, tuple[str, ...]] = {
    "connectwise": (),
    "autotask": ("url",),
    "halopsa": ("auth_url", "tenant"),
}
_URLS = ("url", "auth_url")
NO_PSA = (
    "No PSA is connected to this workspace, so there is no ticket to start from. An administrator can "
    "connect one with `flowpilot psa add connectwise|autotask|halopsa --account PLATFORM:WORKSPACE …`."
)
CONNECTION_NOT_FOUND = "There is no PSA connection with that id in this account."


@dataclass(frozen=True)
class ConnectionView:
    """A connection as an administrator sees it: never its secret."""

    id: uuid.UUID
    account: str  # platform:workspace
    kind: str
    label: str
    settings: Mapping[str, str]
    resolved_status: str | None
    note_visibility: str
    disabled: bool
    created_at: datetime

    @property
    def name(self) -> str:
        return PSA_NAMES.get(self.kind, self.kind)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "account": self.account,
            "kind": self.kind,
            "label": self.label,
            "settings": dict(self.settings),
            "resolved_status": self.resolved_status,
            "note_visibility": self.note_visibility,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
        }


def check_settings(kind: str, settings: Mapping[str, str | None]) -> dict[str, str]:
    """The settings a connection of `kind` keeps; IntakeError names what is missing or wrong."""
    if kind not in PSA_KINDS:
        raise IntakeError(f"Unknown PSA {kind!r}: choose one of {', '.join(PSA_KINDS)}.")
    kept = {k: str(v).strip() for k, v in settings.items() if k in REQUIRED[kind] + OPTIONAL[kind] and v}
    missing = [k for k in REQUIRED[kind] if not kept.get(k)]
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise IntakeError(f"A {PSA_NAMES[kind]} connection needs {flags}.")
    for key in _URLS:
        if key in kept:
            kept[key] = _checked_url(key, kept[key])
    return kept


def _checked_url(key: str, value: str) -> str:
    """An https URL (http only to this machine, for a local PSA or a test double), without a path's tail."""
    url = value if "://" in value else f"https://{value}"
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if not parts.hostname or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not local):
        raise IntakeError(f"--{key.replace('_', '-')} must be an https:// address of your PSA.")
    return url.rstrip("/")


class PsaConnections:
    """The PSA connections of every account, as the core, the CLI and the REST API use them."""

    def __init__(
        self, *, db: async_sessionmaker[AsyncSession], box: SecretBox, connect: Connect | None
    ) -> None:
        self._db = db
        self.box = box
        self._connect = connect

    async def add(
        self,
        *,
        platform: str,
        workspace_id: str,
        kind: str,
        settings: Mapping[str, str | None],
        secret: str,
        resolved_status: str | None = None,
        note_visibility: str = "internal",
        label: str | None = None,
    ) -> ConnectionView:
        """Store a connection (its secret sealed); refused without FLOWPILOT_SECRET_KEY."""
        kept = check_settings(kind, settings)
        if note_visibility not in ("internal", "public"):
            raise IntakeError("--note-visibility must be internal or public.")
        if not secret.strip():
            raise IntakeError(f"The {PSA_NAMES[kind]} secret is empty: give it on standard input.")
        sealed = self.box.seal(secret.strip())
        async with self._db() as db, db.begin():
            account = await repo.account_for(db, platform=platform, external_id=workspace_id)
            row = store.PsaConnection(
                account_id=account.id,
                kind=kind,
                label=(label or kept.get("company") or kept.get("url") or kept.get("username") or kind)[:255],
                settings=kept,
                secret_encrypted=sealed,
                resolved_status=(resolved_status or "").strip() or None,
                note_visibility=note_visibility,
            )
            db.add(row)
            await db.flush()
            return _view(row, f"{platform}:{workspace_id}")

    async def list(
        self, *, platform: str | None = None, workspace_id: str | None = None
    ) -> list[ConnectionView]:
        """Every connection, or one account's."""
        async with self._db() as db:
            account_id = None
            if platform is not None and workspace_id is not None:
                account = await repo.find_account(db, platform=platform, external_id=workspace_id)
                if account is None:
                    return []
                account_id = account.id
            rows = await store.connections_of(db, account_id)
            accounts = await store.accounts_by_id(db, {r.account_id for r in rows})
        return [
            _view(r, f"{accounts[r.account_id].platform}:{accounts[r.account_id].external_id}")
            for r in rows
            if r.account_id in accounts
        ]

    async def remove(
        self, connection_id: uuid.UUID, *, platform: str | None = None, workspace_id: str | None = None
    ) -> ConnectionView:
        """Delete a connection (of that account only, when one is named); NotFound otherwise."""
        async with self._db() as db, db.begin():
            row, account = await self._find(db, connection_id, platform=platform, workspace_id=workspace_id)
            view = _view(row, account)
            await db.delete(row)
        return view

    async def _find(
        self, db: AsyncSession, connection_id: uuid.UUID, *, platform: str | None, workspace_id: str | None
    ) -> tuple[store.PsaConnection, str]:
        row = await db.get(store.PsaConnection, connection_id)
        account = await db.get(Account, row.account_id) if row is not None else None
        if row is None or account is None:
            raise NotFound(CONNECTION_NOT_FOUND)
        if platform is not None and (account.platform, account.external_id) != (platform, workspace_id):
            raise NotFound(CONNECTION_NOT_FOUND)  # another account's: told exactly like a missing one
        return row, f"{account.platform}:{account.external_id}"

    async def test(
        self, connection_id: uuid.UUID, *, platform: str | None = None, workspace_id: str | None = None
    ) -> PsaReach:
        """Reach the PSA with the stored credentials and say what is there (PsaError when it fails)."""
        async with self._db() as db:
            row, _ = await self._find(db, connection_id, platform=platform, workspace_id=workspace_id)
        async with self.opened(row) as connector:
            return await connector.test()

    @asynccontextmanager
    async def opened(self, row: store.PsaConnection) -> AsyncIterator[PsaConnector]:
        """A connector for one stored connection, closed when done."""
        if self._connect is None:
            raise NotConfigured("This FlowPilot was built without PSA clients.")
        connector = self._connect(
            ConnectionSpec(row.kind, dict(row.settings), self.box.open(row.secret_encrypted))
        )
        try:
            yield connector
        finally:
            await connector.close()

    async def of_account(self, account_id: uuid.UUID) -> store.PsaConnection | None:
        """The account's PSA connection in use (its newest not disabled), if any."""
        async with self._db() as db:
            return await store.active_connection(db, account_id)

    async def by_id(self, connection_id: uuid.UUID) -> store.PsaConnection | None:
        async with self._db() as db:
            return await db.get(store.PsaConnection, connection_id)


def _view(row: store.PsaConnection, account: str) -> ConnectionView:
    return ConnectionView(
        id=row.id,
        account=account,
        kind=row.kind,
        label=row.label,
        settings=dict(row.settings),
        resolved_status=row.resolved_status,
        note_visibility=row.note_visibility,
        disabled=row.disabled,
        created_at=row.created_at,
    )
