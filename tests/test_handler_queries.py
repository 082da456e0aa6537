"""The binding queries adapters use to find a session's threads (bot.bindings), through PostgreSQL."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bindings import Bindings
from bot.commands import Abandon, Actor, Command, Pause, StartSession, ThreadRef
from bot.events import Notice, SessionStarted
from bot.handler import SessionHandler
from storage import repo
from tests.conftest import collect

CHANNEL = "C-SUPPORT"


async def start(
    handler: SessionHandler,
    actor: Actor,
    *,
    thread: str,
    channel: str = CHANNEL,
    text: str = "VPN drops every hour",
) -> uuid.UUID:
    ref = ThreadRef(actor.platform, actor.workspace_id, channel, thread)
    events = await collect(handler.handle(StartSession(actor=actor, text=text, thread=ref)))
    assert not [e for e in events if isinstance(e, Notice) and e.level == "error"]
    session_id = next(e for e in events if isinstance(e, SessionStarted)).session_id
    assert session_id is not None
    return session_id


async def run(handler: SessionHandler, command: Command) -> None:
    events = await collect(handler.handle(command))
    assert not [e for e in events if isinstance(e, Notice) and e.level == "error"], events


async def latest(bindings: Bindings, actor: Actor, channel: str = CHANNEL) -> str | None:
    binding = await bindings.latest_open(actor=actor, platform="slack", channel_id=channel)
    return binding.thread_id if binding else None


async def test_latest_open_thread_is_the_actors_most_recently_active_open_session(
    handler: SessionHandler, alice: Actor, bob: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    bindings = Bindings(db)
    assert await latest(bindings, alice) is None
    first = await start(handler, alice, thread="1.0001")
    await start(handler, alice, thread="1.0002")
    assert await latest(bindings, alice) == "1.0002"

    await run(handler, Pause(actor=alice, session_id=first))  # paused still counts, and it is newer now
    assert await latest(bindings, alice) == "1.0001"
    await run(handler, Abandon(actor=alice, session_id=first))  # closed sessions do not
    assert await latest(bindings, alice) == "1.0002"

    assert await latest(bindings, alice, channel="C-OTHER") is None
    assert await latest(bindings, bob) is None  # Alice's sessions are not Bob's
    await start(handler, bob, thread="1.0003")
    assert await latest(bindings, bob) == "1.0003"
    assert await latest(bindings, alice) == "1.0002"


async def test_latest_open_thread_is_checked_against_the_actors_account(
    handler: SessionHandler, alice: Actor, mallory: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    bindings = Bindings(db)
    await start(handler, alice, thread="1.0001")
    # The same workspace and user ids under another platform are another account.
    twin = Actor(platform="teams", workspace_id=alice.workspace_id, user_id=alice.user_id)
    await start(handler, twin, thread="elsewhere", channel="19:teams-chat")
    assert await latest(bindings, twin) is None
    assert await latest(bindings, mallory) is None
    assert await latest(bindings, alice) == "1.0001"


async def test_threads_of_lists_a_sessions_threads_in_one_workspace_oldest_first(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    sid = await start(handler, alice, thread="1.0001")
    async with db() as session, session.begin():
        for workspace, channel, thread in [
            (alice.workspace_id, "D-ALICE", "2.0001"),  # shown again in a DM
            ("T-EVIL", CHANNEL, "3.0001"),  # a binding under another workspace is never listed
        ]:
            await repo.bind_thread(
                session,
                platform="slack",
                workspace_id=workspace,
                channel_id=channel,
                thread_id=thread,
                session_id=sid,
                extra={},
            )

    bindings = Bindings(db)
    threads = await bindings.of_session(sid, platform="slack", workspace_id=alice.workspace_id)
    assert [(t.channel_id, t.thread_id) for t in threads] == [(CHANNEL, "1.0001"), ("D-ALICE", "2.0001")]
    assert all(t.session_id == sid for t in threads)
    assert await bindings.of_session(sid, platform="teams", workspace_id=alice.workspace_id) == []
    assert await bindings.of_session(uuid.uuid4(), platform="slack", workspace_id=alice.workspace_id) == []


async def test_a_second_session_in_a_thread_that_has_one_is_refused_and_leaves_nothing(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    first = await start(handler, alice, thread="2.0001")
    ref = ThreadRef(alice.platform, alice.workspace_id, CHANNEL, "2.0001")
    events = await collect(handler.handle(StartSession(actor=alice, text="printer jams", thread=ref)))
    refused = [e for e in events if isinstance(e, Notice) and e.level == "error"]
    assert refused and "already has a FlowPilot session" in refused[0].text
    assert not [e for e in events if isinstance(e, SessionStarted)]
    async with db() as s:
        sessions = await s.scalar(sa.text("SELECT count(*) FROM ai_sessions"))
        steps = await s.scalar(
            sa.text("SELECT count(*) FROM ai_session_steps WHERE content = 'printer jams'")
        )
        bound = await repo.binding_for(
            s,
            platform=alice.platform,
            workspace_id=alice.workspace_id,
            channel_id=CHANNEL,
            thread_id="2.0001",
        )
    assert sessions == 1 and steps == 0, "nothing of the refused session was written"
    assert bound is not None and bound.session_id == first
