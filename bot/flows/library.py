"""The flow library: which flows an account sees, their versions, matching an intake, and the counters.

The SQL lives in storage.flows; this turns its rows into the core's values (FlowRef, Candidate, FlowSummary)
and a stored version's body back into a Flow.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import flows as store
from storage import raw, repo

from ..errors import NotFound
from .model import Flow
from .validate import validate

# The intake text matching reads: a long log paste adds nothing after its first lines but cost.
MATCH_TEXT_LIMIT = 2000

Event = Literal["started", "resolved", "escalated", "left"]
Origin = Literal["starter", "cli", "api"]


@dataclass(frozen=True)
class FlowRef:
    flow_id: uuid.UUID
    version_id: uuid.UUID
    version: int
    slug: str
    title: str


@dataclass(frozen=True)
class Candidate:
    ref: FlowRef
    score: float  # 0..1, best first


@dataclass(frozen=True)
class Counters:
    started: int = 0
    resolved: int = 0
    escalated: int = 0
    left_at: Mapping[str, int] = field(default_factory=dict)  # node id → sessions that left the flow there

    @property
    def left(self) -> int:
        return sum(self.left_at.values())


@dataclass(frozen=True)
class FlowSummary:
    """A flow as a listing shows it: what it is, whose it is, how its current version has fared."""

    ref: FlowRef
    domain: str
    tags: tuple[str, ...]
    # "platform:workspace" of the one account it serves; None: it serves every account.
    account: str | None
    counters: Counters


@dataclass(frozen=True)
class VersionInfo:
    version_id: uuid.UUID
    version: int
    content_hash: str
    created_at: datetime
    counters: Counters


@dataclass(frozen=True)
class Imported:
    ref: FlowRef
    changed: bool  # False: the current version already had this content


@dataclass(frozen=True)
class Stored:
    ref: FlowRef
    flow: Flow
    source: str  # the text it was imported from (YAML or JSON), comments and all


def content_hash(flow: Flow) -> str:
    """The hash of a flow's content: the same flow written with other spacing or comments is unchanged."""
    canonical = json.dumps(body_of(flow), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def body_of(flow: Flow) -> dict[str, Any]:
    """The flow as stored (and exported): its YAML keys, defaults written out."""
    return flow.model_dump(mode="json", by_alias=True, exclude_none=True)


def _ref(row: Mapping[str, Any]) -> FlowRef:
    return FlowRef(
        flow_id=row["id"],
        version_id=row.get("version_id") or row["current_version_id"],
        version=row.get("version") or row["current_version"],
        slug=row["slug"],
        title=row["title"],
    )


def _counters(row: Mapping[str, Any]) -> Counters:
    left_at = row["left_at"]
    if isinstance(left_at, str):  # JSONB arrives as text through the driver's codec
        left_at = json.loads(left_at)
    return Counters(
        started=row["started"], resolved=row["resolved"], escalated=row["escalated"], left_at=left_at
    )


def _flow(body: Any) -> Flow:
    return Flow.model_validate(json.loads(body) if isinstance(body, str) else body)


class FlowLibrary:
    """The flows of every account, read and written through the one engine's pool."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def version(self, version_id: uuid.UUID) -> tuple[FlowRef, Flow]:
        """One stored version (a session keeps following the version it started on)."""
        async with raw.autocommit(self._db) as conn:
            row = await store.version(conn, version_id)
        if row is None:
            raise NotFound("That flow version does not exist.")
        values = dict(row.items())
        return _ref(values), _flow(values["body"])

    async def current(self, *, account_id: uuid.UUID, slug_or_id: str) -> tuple[FlowRef, Flow] | None:
        """The current version of the flow the account sees under this slug or id (None: no such flow)."""
        async with raw.autocommit(self._db) as conn:
            row = await store.current(conn, account_id=account_id, slug_or_id=slug_or_id)
        if row is None:
            return None
        values = dict(row.items())
        return _ref(values), _flow(values["body"])

    async def visible(self, *, account_id: uuid.UUID) -> list[FlowRef]:
        """The flows the account sees (its own, and the shared ones it has not hidden or replaced)."""
        return [s.ref for s in await self.summaries(account_id=account_id)]

    async def summaries(self, *, account_id: uuid.UUID | None) -> list[FlowSummary]:
        """Flows with their current version's counters: an account's view, or every flow (None)."""
        async with raw.autocommit(self._db) as conn:
            rows = await store.listing(conn, account_id=account_id)
        return [_summary(dict(row.items())) for row in rows]

    async def versions(self, *, account_id: uuid.UUID | None, slug_or_id: str) -> list[VersionInfo]:
        """A flow's versions, newest first; NotFound when the account does not see it."""
        flow_id = await self._flow_id(account_id=account_id, slug_or_id=slug_or_id)
        async with raw.autocommit(self._db) as conn:
            rows = await store.versions(conn, flow_id)
        return [
            VersionInfo(
                version_id=r["id"],
                version=r["version"],
                content_hash=r["content_hash"],
                created_at=r["created_at"],
                counters=_counters(dict(r.items())),
            )
            for r in rows
        ]

    async def candidates(
        self, *, account_id: uuid.UUID, text: str, client_name: str | None, limit: int = 5
    ) -> list[Candidate]:
        """The flows that best fit an intake, best first: the account's and the shared ones it sees, for
        this client (a flow for other clients is never offered; with no client known, only flows for
        every client are)."""
        async with raw.autocommit(self._db) as conn:
            rows = await store.candidates(
                conn,
                account_id=account_id,
                text=text[:MATCH_TEXT_LIMIT],
                client_name=client_name.strip() if client_name else None,
                limit=limit,
            )
        return [Candidate(ref=_ref(dict(r.items())), score=round(float(r["score"]), 4)) for r in rows]

    async def count(self, version_id: uuid.UUID, *, event: Event, node: str | None = None) -> None:
        """Count a session's moment on a flow version: started, resolved inside it, escalated, or left at
        `node`."""
        if event == "left" and node is None:
            raise ValueError("a session leaves a flow at a node: pass node")
        async with raw.autocommit(self._db) as conn:
            await store.count(
                conn,
                version_id,
                started=int(event == "started"),
                resolved=int(event == "resolved"),
                escalated=int(event == "escalated"),
                left_at=node if event == "left" else None,
            )

    async def save(
        self,
        flow: Flow,
        *,
        source: str,
        account_id: uuid.UUID | None = None,
        origin: Origin = "cli",
    ) -> Imported:
        """Store a validated flow: a new version when its content changed, else the current one.

        A starter flow (origin "starter") never replaces a version an engineer imported over it.
        """
        async with raw.transaction(self._db) as conn:
            flow_id, version_id, number, changed = await store.save(
                conn,
                account_id=account_id,
                body=body_of(flow),
                source=source,
                content_hash=content_hash(flow),
                origin=origin,
                keep_others=origin == "starter",
            )
        ref = FlowRef(flow_id=flow_id, version_id=version_id, version=number, slug=flow.id, title=flow.title)
        return Imported(ref=ref, changed=changed)

    async def get(self, *, account_id: uuid.UUID | None, slug_or_id: str) -> Stored:
        """The current version of a flow the account sees (any flow for None), with its source text."""
        flow_id = await self._flow_id(account_id=account_id, slug_or_id=slug_or_id)
        async with raw.autocommit(self._db) as conn:
            row = await store.current_of(conn, flow_id)
        if row is None:  # deleted in between
            raise NotFound(f"There is no flow {slug_or_id!r}.")
        values = dict(row.items())
        # The source keeps the author's node order (JSONB sorts keys): diagrams and exports read it.
        flow = validate(values["source"], file=slug_or_id).flow or _flow(values["body"])
        return Stored(ref=_ref(values), flow=flow, source=values["source"])

    async def set_hidden(self, *, account_id: uuid.UUID, slug_or_id: str, hidden: bool = True) -> None:
        """Hide a flow from one account (a shared starter flow it does not want), or show it again."""
        flow_id = await self._flow_id(account_id=account_id, slug_or_id=slug_or_id, include_hidden=True)
        async with raw.autocommit(self._db) as conn:
            await store.set_hidden(conn, account_id=account_id, flow_id=flow_id, hidden=hidden)

    async def account_id(self, *, platform: str, workspace_id: str, create: bool = False) -> uuid.UUID | None:
        """The id of the account `platform:workspace_id` (made when `create`), None if unknown."""
        async with self._db() as db, db.begin():
            if create:
                return (await repo.account_for(db, platform=platform, external_id=workspace_id)).id
            account = await repo.find_account(db, platform=platform, external_id=workspace_id)
            return account.id if account is not None else None

    async def _flow_id(
        self, *, account_id: uuid.UUID | None, slug_or_id: str, include_hidden: bool = False
    ) -> uuid.UUID:
        async with raw.autocommit(self._db) as conn:
            flow_id = await store.find(
                conn, account_id=account_id, slug_or_id=slug_or_id, include_hidden=include_hidden
            )
        if flow_id is None:
            raise NotFound(f"There is no flow {slug_or_id!r}.")
        return flow_id


def _summary(row: dict[str, Any]) -> FlowSummary:
    account = None
    if row["account_id"] is not None:
        account = f"{row['account_platform']}:{row['account_external_id']}"
    return FlowSummary(
        ref=_ref(row),
        domain=row["domain"],
        tags=tuple(row["tags"] or ()),
        account=account,
        counters=_counters(row),
    )
