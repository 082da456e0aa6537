"""The engineer's manual edits of the triage header; they win over Claude's until changed again."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AISession

from . import messages as msg
from .commands import (
    TRIAGE_FIELDS,
    EditTriage,
    SetEvidenceStatus,
)
from .errors import (
    IntakeError,
)
from .events import (
    Event,
    TriageChanged,
)
from .intake import visible
from .redaction import redact
from .session_core import Sessions, add_step, changed, now, require_open, touch
from .triage import (
    COLUMN,
    EVIDENCE_TEXT_LIMIT,
    LIMITS,
    MAX_EVIDENCE,
    RENAMED,
    RENAMED_FIELDS,
    apply_renames,
    renames_of,
)


class TriageEdits:
    """Manual edits of the triage header."""

    def __init__(self, *, db: async_sessionmaker[AsyncSession], sessions: Sessions) -> None:
        self._db = db
        self._sessions = sessions

    # ── triage ─────────────────────────────────────────────────────────────────────────────────────
    async def edit(self, command: EditTriage) -> AsyncIterator[Event]:
        unknown = [f for f in command.changes if f not in TRIAGE_FIELDS]
        if unknown:
            raise IntakeError(
                msg.TRIAGE_UNKNOWN_FIELD.format(field=unknown[0], fields=", ".join(TRIAGE_FIELDS))
            )
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id)
            s = loaded.session
            require_open(s)
            touch(s, now())
            manual = set(s.manual_fields or [])
            told: list[str] = []
            renames: list[tuple[str, str]] = []
            for name, raw in command.changes.items():
                value = visible(redact(raw).text)[: LIMITS[name]] or None
                old = getattr(s, COLUMN[name])
                if name in RENAMED_FIELDS and old and value and old != value:
                    renames.append((old, value))
                setattr(s, COLUMN[name], value)
                # Clearing a field hands it back to Claude.
                (manual.add if value else manual.discard)(name)
                told.append(f"{name} = {value!r}" if value else f"{name} cleared")
            evidence = list(s.evidence_items or [])
            added = [
                c for c in (visible(redact(t).text)[:EVIDENCE_TEXT_LIMIT] for t in command.add_evidence) if c
            ]
            if len(evidence) + len(added) > MAX_EVIDENCE:
                # Refused whole, before anything is written: the header stays as it was.
                raise IntakeError(
                    msg.EVIDENCE_FULL.format(count=len(evidence), adding=len(added), limit=MAX_EVIDENCE)
                )
            for clean in added:
                evidence.append({"text": clean, "status": "pending", "manual": True})
                told.append(f"evidence added: {clean!r}")
            s.evidence_items = evidence
            s.manual_fields = sorted(manual)
            if renames:
                _rename(s, renames, keep=manual | set(command.changes))
            if told:
                add_step(
                    db,
                    s,
                    role="user",
                    kind="triage_edit",
                    user_id=loaded.user.id,
                    content="[The engineer edited the triage header: " + "; ".join(told) + "]",
                )
            await changed(db, s, command.actor, "triage")
            view = await self._sessions.view_of(db, loaded)
        yield TriageChanged(command.session_id, view)

    async def set_evidence(self, command: SetEvidenceStatus) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id)
            s = loaded.session
            require_open(s)
            evidence = [dict(e) for e in s.evidence_items or []]
            if not 1 <= command.index <= len(evidence):
                raise IntakeError(msg.EVIDENCE_RANGE.format(index=command.index, count=len(evidence)))
            touch(s, now())
            item = evidence[command.index - 1]
            item["status"], item["manual"] = command.status, True
            s.evidence_items = evidence
            add_step(
                db,
                s,
                role="user",
                kind="triage_edit",
                user_id=loaded.user.id,
                content=f"[The engineer marked evidence {item['text']!r} as {command.status.replace('_', ' ')}]",
            )
            await changed(db, s, command.actor, "triage")
            view = await self._sessions.view_of(db, loaded)
        yield TriageChanged(command.session_id, view)


def _rename(s: AISession, renames: list[tuple[str, str]], *, keep: set[str]) -> None:
    """Remember the corrected names (Claude's later text and drafts follow them) and apply them now."""
    s.intake_content = {**(s.intake_content or {}), RENAMED: [*renames_of(s), *renames]}
    apply_renames(s, renames, keep=keep)
