"""Writing a confirmed handoff back to its PSA ticket, exactly once.

The policy: a resolution is posted as the PSA's resolution note (public instead when the connection says
so) and moves the ticket to the connection's resolved status when one is set; an escalation is an internal
note. The note ends with a marker naming the handoff, `[FlowPilot <handoff id>]`.

Exactly once, however often the job runs (a retry, a worker killed mid-post, a second worker):
- the write-back row (unique per handoff) and its job (storage.jobs.enqueue keys it by the handoff, so one
  job at a time) are written together, right after the confirm commits and before the engineer sees it;
  should the process die in between, the sweep records it: no confirm from a ticket goes without its job;
- the job counts an attempt before it calls the PSA, and any attempt after the first looks for the marker
  on the ticket before it posts: a note that went through just before a crash is found, not posted again;
- the row says when it is done (posted or failed for good): a job for a finished row does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import jobs, notify
from storage import psa as store
from storage.models import Account, AISession, User

from .commands import Actor, RetryWriteBack
from .errors import FlowPilotError, InvalidTransition, NotFound
from .events import Event, Notice, StatusChanged
from .psa import PSA_NAMES, NoteKind, PostedNote, PsaConnector, PsaError, PsaUnavailable
from .psa_connections import PsaConnections

logger = logging.getLogger(__name__)

ENTRYPOINT = "psa_writeback"
CHANGE_KIND = "psa"  # the session change a write-back's outcome is announced with
POSTED = "Posted to {psa} #{number} ✓"
FAILED = "Could not post the ticket note to {psa} #{number}: {error}"
STATUS_NOT_SET = "the ticket's status was not changed to {status!r}: {error}"
RETRYING = "Trying again to post the ticket note to {psa} #{number}…"
NOT_FAILED = "There is no failed ticket note to post again in this session."
CONNECTION_GONE = "the PSA connection was removed; add it again, then press Retry"
MAX_WAIT_SECONDS = 300.0
REQUEUE_TRIES, REQUEUE_PAUSE_SECONDS = (
    10,
    0.2,
)  # the longest pause between two attempts, whatever a Retry-After asks


MARKER = "[FlowPilot {}]"  # the note's last line: what a retried post looks for


def marker(handoff_id: uuid.UUID) -> str:
    return MARKER.format(handoff_id)


def note_kind(handoff_kind: str, visibility: str) -> NoteKind:
    """How the note is marked: an escalation stays internal; a resolution is the PSA's resolution note, or
    public when the connection shows FlowPilot's notes to the contact."""
    if handoff_kind != "resolve":
        return "internal"
    return "public" if visibility == "public" else "resolution"


class WriteBacks:
    """Records write-backs at confirm, runs their jobs, and tells the thread how they went."""

    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        connections: PsaConnections,
        retry_seconds: float = 2.0,
        attempts: int = 6,
    ) -> None:
        self._db = db
        self._connections = connections
        self._retry_seconds = retry_seconds
        self._attempts = attempts

    # ── at confirm ─────────────────────────────────────────────────────────────────────────────────
    async def after_confirm(self, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """A resolution's or escalation's events, passed on; once its transaction has committed (it says so
        with StatusChanged) and before the engineer sees it, the write-back is recorded and queued."""
        async for event in events:
            if isinstance(event, StatusChanged) and event.outputs and event.session_id is not None:
                try:
                    await self.record(event.session_id)
                except Exception as err:  # the confirm stands; the sweep records it soon
                    logger.warning(
                        "could not queue the write-back of %s (%s)", event.session_id, type(err).__name__
                    )
            yield event

    async def record(self, session_id: uuid.UUID) -> None:
        """The write-back of the session's latest confirmed handoff, when the session came from a ticket."""
        async with self._db() as db, db.begin():
            await self._record(db, session_id=session_id)

    async def _record(
        self, db: AsyncSession, *, handoff_id: uuid.UUID | None = None, session_id: uuid.UUID | None = None
    ) -> None:
        """The handoff's write-back row and job, once (a second call, or the sweep's, finds the row there)."""
        before, _, after = MARKER.partition("{}")
        added = await store.record_writeback(
            db, marker=(before, after), handoff_id=handoff_id, session_id=session_id
        )
        if added is not None:
            await self._queue(db, added)

    # ── the job ────────────────────────────────────────────────────────────────────────────────────
    async def run(self, payload: bytes) -> None:
        """The job: post the note (or find it posted), set the status, record the outcome."""
        handoff_id = uuid.UUID(payload.decode())
        async with self._db() as db:
            wb = await store.writeback_for(db, handoff_id)
            row = await db.get(store.PsaConnection, wb.connection_id) if wb and wb.connection_id else None
            resolved = row.resolved_status if row is not None else None
        if wb is None or wb.state != "pending":
            return  # done already (a second copy of the job, or one re-run after its worker died)
        if row is None:
            await self._finish(wb, error=CONNECTION_GONE)
            return
        try:
            async with self._connections.opened(row) as connector:
                posted = await self._post(connector, wb, kind=note_kind(wb.kind, row.note_visibility),
                                          status=resolved if wb.kind == "resolve" else None)  # fmt: skip
        except (PsaError, FlowPilotError) as err:  # FlowPilotError: the secret cannot be read (another key)
            await self._finish(wb, error=err.message)
            return
        await self._finish(wb, note_id=posted.id, warning=wb.error)

    async def _post(
        self, connector: PsaConnector, wb: store.PsaWriteback, *, kind: NoteKind, status: str | None
    ) -> PostedNote:
        """Try until the note is on the ticket (and the status set), waiting between tries as the PSA asks."""
        for attempt in range(1, self._attempts + 1):
            earlier = await self._count_attempt(wb.handoff_id)
            try:
                found = (
                    await connector.find_note(wb.ticket_number, marker=marker(wb.handoff_id))
                    if earlier
                    else None
                )
                posted = found or await connector.add_note(wb.ticket_number, text=wb.note_text, kind=kind)
                if status:
                    await _set_status(connector, wb.ticket_number, status, wb)
                return posted
            except PsaUnavailable as err:
                if attempt == self._attempts:
                    raise
                wait = (
                    err.retry_after
                    if err.retry_after is not None
                    else self._retry_seconds * 2 ** (attempt - 1)
                )
                logger.info(
                    "PSA unavailable for write-back %s (%s); again in %.1fs", wb.id, err.message, wait
                )
                await asyncio.sleep(min(wait, MAX_WAIT_SECONDS))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def _count_attempt(self, handoff_id: uuid.UUID) -> int:
        """Count an attempt before the PSA is called; returns how many were made before it (committed first,
        so a worker that dies mid-call leaves its successor knowing it must look before posting)."""
        async with self._db() as db, db.begin():
            earlier = await db.scalar(
                sa.update(store.PsaWriteback)
                .where(store.PsaWriteback.handoff_id == handoff_id)
                .values(attempts=store.PsaWriteback.attempts + 1, updated_at=sa.func.now())
                .returning(store.PsaWriteback.attempts - 1)
            )
        return int(earlier or 0)

    async def _finish(
        self,
        wb: store.PsaWriteback,
        *,
        note_id: str | None = None,
        error: str | None = None,
        warning: str | None = None,
    ) -> None:
        """Record the outcome and announce it to every process (its chat adapters tell the thread)."""
        async with self._db() as db, db.begin():
            await db.execute(
                sa.update(store.PsaWriteback)
                .where(store.PsaWriteback.id == wb.id, store.PsaWriteback.state == "pending")
                .values(
                    state="failed" if error else "posted",
                    note_id=note_id,
                    error=error or warning,
                    updated_at=sa.func.now(),
                )
            )
            platform = await db.scalar(
                sa.select(Account.platform).join(AISession, AISession.account_id == Account.id)
                .where(AISession.id == wb.session_id)
            )  # fmt: skip
            await notify.publish(
                db, notify.SessionChange(wb.session_id, CHANGE_KIND, CHANGE_KIND, platform or "")
            )
        if error:
            logger.warning("write-back of handoff %s failed: %s", wb.handoff_id, error)

    async def sweep(self, *, older_than: float = 60.0) -> int:
        """Queue what a process left undone: a confirmed handoff of a ticket's session with no write-back yet
        (it died between the confirm and recording it), and a write-back left pending without a job (its
        worker failed before it could record an outcome, e.g. the database went away mid-job). A job still
        queued or running keeps its key, so nothing is queued twice. Returns how many were queued."""
        queued = 0
        async with self._db() as db, db.begin():
            # Confirmed, but the process died before it recorded the write-back.
            for handoff_id in await store.unrecorded_handoffs(db, older_than=timedelta(seconds=older_than)):
                await self._record(db, handoff_id=handoff_id)
                queued += 1
            stale = (
                (
                    await db.execute(
                        sa.select(store.PsaWriteback.handoff_id).where(
                            store.PsaWriteback.state == "pending",
                            store.PsaWriteback.updated_at < sa.func.now() - timedelta(seconds=older_than),
                        )
                    )
                )
                .scalars()
                .all()
            )
            for handoff_id in stale:
                queued += await jobs.enqueue(
                    db, ENTRYPOINT, str(handoff_id).encode(), key=f"psa:{handoff_id}"
                )
        return queued

    # ── Retry ──────────────────────────────────────────────────────────────────────────────────────
    async def retry(self, command: RetryWriteBack) -> AsyncIterator[Event]:
        """Queue the session's failed write-back again (its marker keeps a second note out)."""
        async with self._db() as db, db.begin():
            s = await db.get(AISession, command.session_id)
            account = await db.get(Account, s.account_id) if s is not None else None
            if account is None or (account.platform, account.external_id) != (
                command.actor.platform,
                command.actor.workspace_id,
            ):
                raise NotFound("That session does not exist, or it is not in your workspace.")
            wb = await store.latest_writeback(db, command.session_id)
            if wb is None or wb.state != "failed":
                raise InvalidTransition(NOT_FAILED)
            wb.state, wb.error = "pending", None
            if wb.connection_id is None:  # removed since: the account's PSA now, if it has one again
                row = await store.active_connection(db, s.account_id) if s is not None else None
                wb.connection_id = row.id if row is not None else None
            queued = await self._queue(db, wb.handoff_id)
            name = await self._psa_name(db, wb)
        # The failed job may not be marked done yet (pgqueuer records outcomes in batches, within a moment),
        # and its key keeps a new one out until it is: try again shortly (else the sweep will).
        for _ in range(REQUEUE_TRIES):
            if queued:
                break
            await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
            async with self._db() as db, db.begin():
                queued = await self._queue(db, wb.handoff_id)
        yield Notice(command.session_id, RETRYING.format(psa=name, number=wb.ticket_number))

    @staticmethod
    async def _queue(db: AsyncSession, handoff_id: uuid.UUID) -> bool:
        return await jobs.enqueue(db, ENTRYPOINT, str(handoff_id).encode(), key=f"psa:{handoff_id}")

    # ── what the thread is told ────────────────────────────────────────────────────────────────────
    async def ticket_of(self, session_id: uuid.UUID) -> str | None:
        """The ticket ("ConnectWise #12345") of the session's latest write-back, whatever its state (a
        worker in this process may have posted it already); None when the session has none."""
        async with self._db() as db:
            wb = await store.latest_writeback(db, session_id)
            return f"{await self._psa_name(db, wb)} #{wb.ticket_number}" if wb is not None else None

    async def outcome(self, session_id: uuid.UUID) -> tuple[str, Notice] | None:
        """The notice of the session's finished write-back, with a key that names this outcome once."""
        async with self._db() as db:
            wb = await store.latest_writeback(db, session_id)
            if wb is None or wb.state == "pending":
                return None
            s = await db.get(AISession, session_id)
            assert s is not None
            owner = await _owner(db, s)
            name = await self._psa_name(db, wb)
        key = f"psa:{wb.id}:{wb.state}:{wb.attempts}"
        if wb.state == "posted":
            url = (s.ticket_data or {}).get("url")
            text = POSTED.format(psa=name, number=wb.ticket_number) + (f" {url}" if url else "")
            text += f" (but {wb.error})" if wb.error else ""
            return key, Notice(session_id, text, code="psa_posted", owner=owner)
        text = FAILED.format(psa=name, number=wb.ticket_number, error=wb.error or "unknown error")
        retry = RetryWriteBack(actor=owner, session_id=session_id)
        return key, Notice(session_id, text, level="error", code="psa_failed", retry=retry, owner=owner)

    @staticmethod
    async def _psa_name(db: AsyncSession, wb: store.PsaWriteback) -> str:
        row = await db.get(store.PsaConnection, wb.connection_id) if wb.connection_id else None
        return PSA_NAMES.get(row.kind, row.kind) if row is not None else "the PSA"


async def _set_status(connector: PsaConnector, number: str, status: str, wb: store.PsaWriteback) -> None:
    """Move the ticket; a refusal retrying cannot fix (a status the board lacks) leaves the note posted and
    is told beside it (`wb.error`), while a PSA that is away is retried with the rest."""
    try:
        await connector.set_status(number, status=status)
    except PsaUnavailable:
        raise
    except PsaError as err:
        wb.error = STATUS_NOT_SET.format(status=status, error=err.message)


async def _owner(db: AsyncSession, s: AISession) -> Actor:
    account = await db.get(Account, s.account_id)
    user = await db.get(User, s.user_id)
    assert account is not None and user is not None
    return Actor(account.platform, account.external_id, user.external_id, user.display_name or "")


def writeback_state(wb: store.PsaWriteback | None) -> dict[str, object] | None:
    """The write-back as the REST detail shows it."""
    if wb is None:
        return None
    return {
        "state": wb.state,
        "ticket": wb.ticket_number,
        "note_id": wb.note_id,
        "error": wb.error,
        "attempts": wb.attempts,
        "updated_at": wb.updated_at.isoformat(),
    }
