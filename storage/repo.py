"""Small queries the core and the adapters share; each takes an open AsyncSession."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Account, AISession, AISessionStep, ProcessedEvent, ThreadBinding, User


async def account_for(db: AsyncSession, *, platform: str, external_id: str) -> Account:
    """The account for a workspace or tenant, created on first sight."""
    await db.execute(
        insert(Account)
        .values(id=uuid.uuid4(), platform=platform, external_id=external_id)
        .on_conflict_do_nothing(index_elements=["platform", "external_id"])
    )
    return (
        await db.execute(
            sa.select(Account).where(Account.platform == platform, Account.external_id == external_id)
        )
    ).scalar_one()


async def find_account(db: AsyncSession, *, platform: str, external_id: str) -> Account | None:
    return (
        await db.execute(
            sa.select(Account).where(Account.platform == platform, Account.external_id == external_id)
        )
    ).scalar_one_or_none()


async def user_for(db: AsyncSession, *, account: Account, external_id: str, display_name: str | None) -> User:
    """The user for a platform identity; the display name follows the latest one seen."""
    stmt = insert(User).values(
        id=uuid.uuid4(), account_id=account.id, external_id=external_id, display_name=display_name or None
    )
    if display_name:
        stmt = stmt.on_conflict_do_update(
            index_elements=["account_id", "external_id"], set_={"display_name": display_name}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["account_id", "external_id"])
    await db.execute(stmt)
    return (
        await db.execute(
            sa.select(User).where(User.account_id == account.id, User.external_id == external_id)
        )
    ).scalar_one()


async def prompt_steps(db: AsyncSession, session_id: uuid.UUID, *, after: int = 0) -> Sequence[sa.Row[Any]]:
    """What Claude needs of each step after `after`, as light rows (no ORM objects: long sessions)."""
    return (
        await db.execute(
            sa.select(
                AISessionStep.step_order,
                AISessionStep.role,
                AISessionStep.content,
                AISessionStep.images,
                AISessionStep.questions,
                AISessionStep.actions,
            )
            .where(AISessionStep.session_id == session_id, AISessionStep.step_order > after)
            .order_by(AISessionStep.step_order)
        )
    ).all()


async def steps_of(db: AsyncSession, session_id: uuid.UUID) -> Sequence[AISessionStep]:
    return (
        (
            await db.execute(
                sa.select(AISessionStep)
                .where(AISessionStep.session_id == session_id)
                .order_by(AISessionStep.step_order)
            )
        )
        .scalars()
        .all()
    )


async def binding_for(
    db: AsyncSession, *, platform: str, workspace_id: str, channel_id: str, thread_id: str
) -> ThreadBinding | None:
    return (
        await db.execute(
            sa.select(ThreadBinding).where(
                ThreadBinding.platform == platform,
                ThreadBinding.workspace_id == workspace_id,
                ThreadBinding.channel_id == channel_id,
                ThreadBinding.thread_id == thread_id,
            )
        )
    ).scalar_one_or_none()


async def thread_workspaces(
    db: AsyncSession, *, platform: str, channel_id: str, thread_id: str
) -> Sequence[str]:
    """The workspaces whose sessions a thread holds (more than one only in a channel shared between them)."""
    return (
        (
            await db.execute(
                sa.select(ThreadBinding.workspace_id).where(
                    ThreadBinding.platform == platform,
                    ThreadBinding.channel_id == channel_id,
                    ThreadBinding.thread_id == thread_id,
                )
            )
        )
        .scalars()
        .all()
    )


async def bindings_of(db: AsyncSession, session_id: uuid.UUID) -> Sequence[ThreadBinding]:
    return (
        (await db.execute(sa.select(ThreadBinding).where(ThreadBinding.session_id == session_id)))
        .scalars()
        .all()
    )


async def forget_events_before(db: AsyncSession, *, days: int = 7) -> int:
    result = await db.execute(
        sa.delete(ProcessedEvent).where(
            ProcessedEvent.received_at < sa.func.now() - sa.text(f"interval '{days} days'")
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def users_by_id(db: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    rows = (await db.execute(sa.select(User).where(User.id.in_(set(ids))))).scalars().all()
    return {u.id: u for u in rows}


async def session_row(db: AsyncSession, session_id: uuid.UUID, *, lock: bool = False) -> AISession | None:
    stmt = sa.select(AISession).where(AISession.id == session_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await db.execute(stmt)).scalar_one_or_none()


# ── Teams ──


async def latest_binding(
    db: AsyncSession, *, platform: str, workspace_id: str, channel_id: str
) -> ThreadBinding | None:
    """The newest session bound to a conversation (a personal chat holds one session after another)."""
    return (
        await db.execute(
            sa.select(ThreadBinding)
            .where(
                ThreadBinding.platform == platform,
                ThreadBinding.workspace_id == workspace_id,
                ThreadBinding.channel_id == channel_id,
            )
            .order_by(ThreadBinding.created_at.desc(), ThreadBinding.id)
            .limit(1)
        )
    ).scalar_one_or_none()


async def bind_thread(
    db: AsyncSession,
    *,
    platform: str,
    workspace_id: str,
    channel_id: str,
    thread_id: str,
    session_id: uuid.UUID,
    extra: dict[str, Any],
) -> None:
    """Bind one more conversation to a session (the receiving engineer's chat after a take-over)."""
    await db.execute(
        insert(ThreadBinding)
        .values(
            id=uuid.uuid4(),
            platform=platform,
            workspace_id=workspace_id,
            channel_id=channel_id,
            thread_id=thread_id,
            session_id=session_id,
            extra=extra,
        )
        .on_conflict_do_nothing()
    )


async def merge_binding_extra(
    db: AsyncSession, *, binding_id: uuid.UUID, extra: dict[str, Any], header_message_id: str | None = None
) -> None:
    binding = await db.get(ThreadBinding, binding_id, with_for_update=True)
    if binding is None:
        return
    binding.extra = {**(binding.extra or {}), **extra}
    if header_message_id is not None:
        binding.header_message_id = header_message_id


# ── Slack ──
async def latest_open_binding(
    db: AsyncSession,
    *,
    account_id: uuid.UUID,
    platform: str,
    workspace_id: str,
    channel_id: str,
    user_external_id: str,
) -> ThreadBinding | None:
    """The thread of the user's most recently active open (active or paused) session in one channel."""
    return (
        await db.execute(
            sa.select(ThreadBinding)
            .join(AISession, AISession.id == ThreadBinding.session_id)
            .join(User, User.id == AISession.user_id)
            .where(
                ThreadBinding.platform == platform,
                ThreadBinding.workspace_id == workspace_id,
                ThreadBinding.channel_id == channel_id,
                AISession.account_id == account_id,
                User.account_id == account_id,
                User.external_id == user_external_id,
                AISession.status.in_(("active", "paused")),
            )
            .order_by(AISession.last_activity_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def last_assistant_message(db: AsyncSession, session_id: uuid.UUID) -> AISessionStep | None:
    """Claude's latest conversational reply in a session (not a handoff draft)."""
    stmt = (
        sa.select(AISessionStep)
        .where(
            AISessionStep.session_id == session_id,
            AISessionStep.role == "assistant",
            AISessionStep.kind == "message",
        )
        .order_by(AISessionStep.step_order.desc())
        .limit(1)
    )
    return (await db.execute(stmt)).scalar_one_or_none()
