"""What a long or busy deployment pays: prompt caching, token accounting, database connections."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from bot.commands import Actor, StartSession, UserMessage
from bot.events import AssistantTurn
from bot.handler import SessionHandler
from bot.limits import Limits
from fakes.anthropic import FakeAnthropic
from storage.engine import create_engine, session_factory
from storage.models import AISession, AISessionStep
from tests.conftest import collect, make_claude
from tests.test_session_lifecycle import first, start


async def test_later_turns_read_the_history_from_the_prompt_cache(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice, "Printer PRN-07 at Fabrikam prints blank pages. " * 60)
    for i in range(4):
        events = await collect(
            handler.handle(
                UserMessage(actor=alice, session_id=session_id, text=f"Checked item {i}: " + "x " * 300)
            )
        )
        assert first(events, AssistantTurn)
    body = fake_claude.last_request.body
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    marked = [b for m in body["messages"] for b in m["content"] if "cache_control" in b]
    assert len(marked) == 2, "one breakpoint where the last turn ended, one at the end of the history"
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        steps = (
            (await s.execute(sa.select(AISessionStep).where(AISessionStep.session_id == session_id)))
            .scalars()
            .all()
        )
    assert row.total_cache_read_tokens > 0
    last = max((st for st in steps if st.role == "assistant"), key=lambda st: st.step_order)
    # By the fifth turn most of the prompt comes from the cache, not as fresh input.
    assert last.cache_read_tokens > 3 * last.input_tokens
    assert row.total_input_tokens == sum(st.input_tokens for st in steps)
    assert row.total_output_tokens == sum(st.output_tokens for st in steps)


NO_LIMITS = Limits(sessions_per_user=0, sessions_per_workspace=0, turns_per_user=0, turns_per_workspace=0)


async def test_many_sessions_thinking_at_once_share_a_small_pool(
    db_url: str, fake_claude: FakeAnthropic, alice: Actor
) -> None:
    # Two connections for 30 sessions thinking at once: no connection is held while Claude thinks.
    engine = create_engine(db_url, pool_size=2, max_overflow=0)
    # One engineer starting 30 sessions at once is past the per-engineer limit: off for this test.
    handler = SessionHandler(
        db=session_factory(engine), claude=make_claude(fake_claude), lease_seconds=30, limits=NO_LIMITS
    )
    fake_claude.latency = 0.5
    try:
        results = await asyncio.gather(
            *[
                collect(handler.handle(StartSession(actor=alice, text=f"Issue {i} at Contoso")))
                for i in range(30)
            ]
        )
        assert all(first(events, AssistantTurn) for events in results)
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.checkedout() == 0
    finally:
        await engine.dispose()
