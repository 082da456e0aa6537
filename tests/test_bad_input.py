"""Bad input gets a clear message, the session stays consistent, nothing is half-written."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import uuid
from collections.abc import Sequence

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bindings import Bindings
from bot.commands import Actor, AnswerQuestion, EditTriage, RetryTurn, StartSession, ThreadRef, UserMessage
from bot.events import AssistantTurn, Notice, SessionStarted, TriageChanged
from bot.handler import SessionHandler
from bot.intake import Attachment
from fakes.anthropic import FakeAnthropic
from storage.models import AISession, AISessionStep, Base
from tests.conftest import collect
from tests.test_session_lifecycle import errors, first, start

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


async def count(db: async_sessionmaker[AsyncSession], model: type[Base] = AISession) -> int | None:
    async with db() as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(model))).scalar()


async def steps(db: async_sessionmaker[AsyncSession], session_id: uuid.UUID) -> Sequence[AISessionStep]:
    async with db() as s:
        return (
            (
                await s.execute(
                    sa.select(AISessionStep)
                    .where(AISessionStep.session_id == session_id)
                    .order_by(AISessionStep.step_order)
                )
            )
            .scalars()
            .all()
        )


async def test_empty_problem_is_refused_and_creates_nothing(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    events = await collect(handler.handle(StartSession(actor=alice, text="   \n ")))
    assert errors(events)[0].code == "bad_input"
    assert "describe" in errors(events)[0].text.lower()
    assert await count(db) == 0


async def test_a_2mb_paste_is_trimmed_to_fit_with_errors_kept(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    lines = [f"2026-11-24 10:{i % 60:02d}:00 INFO spooler heartbeat ok seq={i}" for i in range(40_000)]
    lines[23_456] = "2026-11-24 10:33:00 ERROR 0x80070005 Access is denied opening \\\\PRN01\\queue"
    log = "\n".join(lines)
    assert len(log) > 2_000_000
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text=log)))
    assert first(events, AssistantTurn)
    sent = json.dumps(fake_claude.last_request.body["messages"])
    assert len(sent) < 200_000
    assert "0x80070005 Access is denied" in sent
    notes = [e.text for e in events if isinstance(e, Notice) and e.level == "info"]
    assert any("Trimmed" in n or "kept" in n for n in notes)


async def test_a_binary_log_file_is_refused_and_the_session_is_untouched(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice)
    before = await steps(db, session_id)
    blob = Attachment(filename="dump.log", media_type="text/plain", data=b"\x00\x01\x02\xff" * 100)
    events = await collect(
        handler.handle(UserMessage(actor=alice, session_id=session_id, text="", attachments=(blob,)))
    )
    assert "dump.log" in errors(events)[0].text
    assert len(await steps(db, session_id)) == len(before)


async def test_a_screenshot_that_is_not_an_image_is_refused(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    fake_png = Attachment(filename="screen.png", media_type="image/png", data=b"this is not a png at all")
    events = await collect(
        handler.handle(StartSession(actor=alice, text="see screenshot", attachments=(fake_png,)))
    )
    assert errors(events) and "screen.png" in errors(events)[0].text
    assert await count(db) == 0


async def test_a_real_screenshot_reaches_claude_as_an_image(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic
) -> None:
    shot = Attachment(filename="error.png", media_type="image/png", data=PNG_1PX)
    events = await collect(handler.handle(StartSession(actor=alice, text="this dialog", attachments=(shot,))))
    assert first(events, AssistantTurn)
    blocks = fake_claude.last_request.body["messages"][0]["content"]
    assert any(b["type"] == "image" and b["source"]["media_type"] == "image/png" for b in blocks)


async def test_unknown_and_foreign_session_ids_look_the_same(
    handler: SessionHandler, alice: Actor, mallory: Actor
) -> None:
    session_id, _ = await start(handler, alice)
    unknown = await collect(handler.handle(UserMessage(actor=alice, session_id=uuid.uuid4(), text="hi")))
    foreign = await collect(handler.handle(UserMessage(actor=mallory, session_id=session_id, text="hi")))
    assert errors(unknown)[0].code == errors(foreign)[0].code == "not_found"
    assert errors(unknown)[0].text == errors(foreign)[0].text


async def test_claude_down_keeps_the_message_and_retry_answers_it(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    fake_claude.queue_error(529, error_type="overloaded_error")
    events = await collect(
        handler.handle(UserMessage(actor=alice, session_id=session_id, text="printer jammed"))
    )
    notice = errors(events)[0]
    assert "overloaded" in notice.text and isinstance(notice.retry, RetryTurn)
    assert (await steps(db, session_id))[-1].content == "printer jammed"
    events = await collect(handler.handle(notice.retry))
    assert first(events, AssistantTurn)
    rows = await steps(db, session_id)
    assert [r.role for r in rows[-2:]] == ["user", "assistant"]


async def test_claude_500_and_timeouts_are_reported_not_raised(
    db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, alice: Actor
) -> None:
    from tests.conftest import make_claude

    handler = SessionHandler(db=db, claude=make_claude(fake_claude, timeout=0.5), lease_seconds=30)
    fake_claude.queue_error(500)
    events = await collect(handler.handle(StartSession(actor=alice, text="DNS fails at Tailspin")))
    assert errors(events)[0].code == "claude_unavailable"
    session_id = first(events, SessionStarted).session_id
    assert session_id is not None
    fake_claude.latency = 2
    events = await collect(handler.handle(RetryTurn(actor=alice, session_id=session_id)))
    assert "timed out" in errors(events)[0].text
    fake_claude.latency = 0
    events = await collect(handler.handle(RetryTurn(actor=alice, session_id=session_id)))
    assert first(events, AssistantTurn)


async def test_schema_breaking_output_is_retried_once_then_reported(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    before = await handler.view(actor=alice, session_id=session_id)
    fake_claude.queue_turn({"message": "", "confidence": 7})
    fake_claude.queue_turn({"questions": "not a list"})
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="more info")))
    notice = errors(events)[0]
    assert notice.code == "claude_bad_output" and isinstance(notice.retry, RetryTurn)
    after = await handler.view(actor=alice, session_id=session_id)
    assert (after.hypothesis, after.evidence, after.confidence_score, after.questions) == (
        before.hypothesis,
        before.evidence,
        before.confidence_score,
        before.questions,
    )
    # Once is forgiven: a bad answer followed by a good one is a normal turn.
    fake_claude.queue_turn({"message": "", "confidence": 7})
    events = await collect(handler.handle(RetryTurn(actor=alice, session_id=session_id)))
    assert first(events, AssistantTurn)


async def test_secrets_are_masked_before_storage_and_claude(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    secret = "hunter2-Sup3r-S3cret"
    session_id, _ = await start(handler, alice, f"VPN login fails, config has password={secret} for Contoso")
    events = await collect(
        handler.handle(
            UserMessage(
                actor=alice, session_id=session_id, text="token is ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"
            )
        )
    )
    assert first(events, AssistantTurn)
    for request in fake_claude.requests:
        body = json.dumps(request.body)
        assert secret not in body and "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB" not in body
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert secret not in json.dumps(row.intake_content) and secret not in (row.title or "")
    for step in await steps(db, session_id):
        assert secret not in step.content and "ghp_abcdef" not in step.content
    assert "[REDACTED" in (await steps(db, session_id))[0].content


def end_every_other_connection(db_url: str) -> None:
    """End every connection to this database, as a PostgreSQL restart does, and wait until they are gone.

    From a thread of its own, blocking this event loop meanwhile: the server has ended this process's
    pooled connections, but the process has not read that yet (as under load), so only a fresh connection
    or a statement that tells can reveal it.
    """

    async def terminate() -> None:
        conn = await asyncpg.connect(make_url(db_url).set(drivername="postgresql").render_as_string(False))
        try:
            pids = await conn.fetch(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert pids, "nothing to end: the test would prove nothing"
            for (pid,) in pids:  # each returns once that server process has ended
                assert await conn.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, terminate()).result()


async def test_database_connections_dropped_mid_session_recover(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    thread = ThreadRef(platform="slack", workspace_id="T-ACME", channel_id="C-IT", thread_id="1700000000.1")
    events = await collect(handler.handle(StartSession(actor=alice, text="printer offline", thread=thread)))
    session_id = first(events, SessionStarted).session_id
    for attempt in ("after restart", "and again"):
        # Between one turn's last statement and the next message's first, every connection is cut.
        end_every_other_connection(db_url)
        # What a chat adapter does with a message: find the thread's session (the ORM's pool), then the
        # turn (storage.raw's pool). Neither connection it had is alive; each statement is sent again.
        binding = await Bindings(db).of_thread(
            platform="slack", workspace_id="T-ACME", channel_id="C-IT", thread_id="1700000000.1"
        )
        assert binding is not None and binding.session_id == session_id
        events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text=attempt)))
        assert not errors(events), errors(events)
        assert first(events, AssistantTurn)


async def test_editing_an_unknown_triage_field_is_refused(handler: SessionHandler, alice: Actor) -> None:
    session_id, _ = await start(handler, alice)
    events = await collect(
        handler.handle(EditTriage(actor=alice, session_id=session_id, changes={"status": "resolved"}))
    )
    assert errors(events)[0].code == "bad_input" and "status" in errors(events)[0].text
    view = await handler.view(actor=alice, session_id=session_id)
    assert view.status == "active"
    assert not [e for e in events if isinstance(e, TriageChanged)]


async def test_answering_a_stale_question_is_refused(handler: SessionHandler, alice: Actor) -> None:
    session_id, events = await start(handler, alice)
    old_question = first(events, AssistantTurn).questions[0]
    await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="new info")))
    events = await collect(
        handler.handle(
            AnswerQuestion(actor=alice, session_id=session_id, question_id=old_question.id, answer="Yes")
        )
    )
    assert "earlier turn" in errors(events)[0].text


async def test_an_unreachable_database_is_a_clear_notice_not_a_crash(
    fake_claude: FakeAnthropic, alice: Actor
) -> None:
    from storage.engine import create_engine, session_factory
    from tests.conftest import make_claude

    engine = create_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    handler = SessionHandler(db=session_factory(engine), claude=make_claude(fake_claude))
    try:
        events = await collect(handler.handle(StartSession(actor=alice, text="printer offline")))
        assert errors(events)[0].code == "database_unavailable"
        assert "database" in errors(events)[0].text
        events = await collect(handler.handle(UserMessage(actor=alice, session_id=uuid.uuid4(), text="hi")))
        assert errors(events)[0].code == "database_unavailable" and errors(events)[0].retry is not None
    finally:
        await engine.dispose()
