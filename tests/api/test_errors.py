"""Every way a client can get it wrong, or Claude can fail, answers with a status and a body it can act on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.api.routes import BODY_LIMIT
from storage.models import AISession, SessionHandoff
from tests.api.conftest import Api

from .conftest import EVIL


async def test_tokens_are_required_and_scoped_to_one_account(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    async with api.http.get(f"{api.base}/api/ai-sessions") as r:
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await r.json())["error"]["code"] == "unauthorized"
    for header in ("Bearer nope", "Basic dG9rLWFjbWU6", "Bearer "):
        async with api.http.get(f"{api.base}/api/ai-sessions/{sid}", headers={"Authorization": header}) as r:
            assert r.status == 401 and "error=" in r.headers["WWW-Authenticate"]
    # Another account's token: the session exists, but not for it.
    for method, path, body in (
        ("GET", f"/api/ai-sessions/{sid}", None),
        ("PATCH", f"/api/ai-sessions/{sid}/triage", {"client_name": "Evil Corp"}),
        ("POST", f"/api/ai-sessions/{sid}/resolve", {}),
        ("POST", f"/api/ai-sessions/{sid}/handoff-draft", {"kind": "resolve"}),
    ):
        status, data = await api.call(method, path, body, token=EVIL)
        assert status == 403 and data["error"]["code"] == "forbidden", (method, path)
    _, page = await api.call("GET", "/api/ai-sessions", token=EVIL, expect=200)
    assert page["items"] == []
    _, read = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert read["client_name"] != "Evil Corp"


async def test_unknown_and_malformed_ids_are_not_found(api: Api) -> None:
    for sid in (str(uuid.uuid4()), "not-a-uuid", "123"):
        for method, path in (("GET", ""), ("PATCH", "/triage"), ("POST", "/messages"), ("POST", "/rating")):
            status, data = await api.call(method, f"/api/ai-sessions/{sid}{path}", {"text": "hi"})
            assert status == 404 and data["error"]["code"] == "not_found", (sid, path)


async def test_bad_bodies_are_client_errors_with_the_fields_named(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    status, data = await api.call("POST", f"/api/ai-sessions/{sid}/rating", {"rating": "five"})
    assert status == 422 and data["error"]["fields"][0]["loc"] == ["body", "rating"]
    status, data = await api.call("POST", f"/api/ai-sessions/{sid}/rating", {"rating": 9})
    assert status == 422 and data["error"]["fields"][0]["type"] == "less_than_equal"
    status, data = await api.call("PATCH", f"/api/ai-sessions/{sid}/triage", {"client": "typo"})
    assert status == 422 and data["error"]["fields"][0]["loc"] == ["body", "client"]
    status, data = await api.call("POST", f"/api/ai-sessions/{sid}/handoff-draft", {"kind": "finish"})
    assert status == 422 and data["error"]["fields"][0]["loc"][:2] == ["body", "kind"]
    status, data = await api.call(
        "POST",
        "/api/ai-sessions",
        {"text": "x", "attachments": [{"filename": "a.log", "content_base64": "%%%"}]},
    )
    assert status == 422 and data["error"]["fields"][0]["loc"] == ["body", "attachments", 0, "content_base64"]
    status, data = await api.call("POST", "/api/ai-sessions", {"text": "   "})
    assert status == 422 and data["error"]["code"] == "bad_input"  # the core's own check, same answer
    status, data = await api.call("POST", "/api/ai-sessions", ["a list"])
    assert status == 422
    status, data = await api.call("GET", "/api/ai-sessions?limit=1000&stauts=active")
    assert status == 422 and {tuple(f["loc"]) for f in data["error"]["fields"]} == {
        ("query", "limit"),
        ("query", "stauts"),
    }
    status, data = await api.call("GET", "/api/ai-sessions?cursor=garbage")
    assert status == 422 and data["error"]["fields"][0]["loc"] == ["query", "cursor"]
    status, data = await api.call("GET", "/api/ai-sessions?created_after=2026-01-01T00:00:00")
    assert status == 422  # a time without a zone is ambiguous
    # NUL characters cannot be stored by PostgreSQL: they are dropped, not a 500.
    _, edited = await api.call(
        "PATCH", f"/api/ai-sessions/{sid}/triage", {"asset_name": "PC\u0000-1\ud800"}, expect=200
    )
    assert edited["asset_name"] == "PC-1"
    # A bad evidence index is refused before anything is applied.
    status, data = await api.call(
        "PATCH", f"/api/ai-sessions/{sid}/triage",
        {"client_name": "Changed", "evidence_status": [{"index": 99, "status": "confirmed"}]},
    )  # fmt: skip
    assert status == 422 and data["error"]["fields"][0]["loc"] == ["body", "evidence_status", 0, "index"]
    _, read = await api.call("GET", f"/api/ai-sessions/{sid}")
    assert read["client_name"] != "Changed"
    status, data = await api.call("POST", f"/api/ai-sessions/{sid}/rating", {"rating": 4})
    assert status == 409  # not resolved yet


async def test_malformed_json_and_huge_bodies(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    headers = {**api.headers(), "Content-Type": "application/json"}
    for raw in (b"{", b'{"text": "unterminated', b"\xff\xfe", b"[" * 100_000):
        async with api.http.post(
            f"{api.base}/api/ai-sessions/{sid}/messages", data=raw, headers=headers
        ) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad_json"
    huge = b'{"client_name": "' + b"x" * (BODY_LIMIT + 10) + b'"}'
    async with api.http.patch(f"{api.base}/api/ai-sessions/{sid}/triage", data=huge, headers=headers) as r:
        assert r.status == 413 and (await r.json())["error"]["code"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(BODY_LIMIT // 1024 + 10):
            yield b" " * 1024

    async with api.http.patch(
        f"{api.base}/api/ai-sessions/{sid}/triage", data=chunks(), headers=headers
    ) as r:
        assert r.status == 413  # no Content-Length: counted while reading
    _, read = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert read["status"] == "active"


async def test_claude_overloaded_is_a_retryable_502_and_the_message_is_kept(api: Api) -> None:
    api.fake.queue_error(529)
    status, data = await api.call(
        "POST", "/api/ai-sessions", {"text": "Outlook at Contoso keeps asking for the password"}
    )
    assert status == 502
    error = data["error"]
    assert error["code"] == "claude_unavailable" and error["retryable"] is True
    sid = error["session_id"]
    assert error["retry"] == {
        "method": "POST",
        "path": f"/api/ai-sessions/{sid}/messages",
        "body": {"retry": True},
    }
    _, read = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert read["awaiting_reply"] is True and "asking for the password" in read["steps"][0]["content"]

    _, retried = await api.call("POST", error["retry"]["path"], error["retry"]["body"], expect=200)
    assert retried["turn"]["message"] and retried["session"]["awaiting_reply"] is False

    api.fake.queue_error(529)
    status, data = await api.call("POST", f"/api/ai-sessions/{sid}/messages", {"text": "Still failing"})
    assert status == 502 and data["error"]["retryable"]
    _, read = await api.call("GET", f"/api/ai-sessions/{sid}")
    assert read["steps"][-1]["content"] == "Still failing"


async def test_claude_failing_mid_draft_ends_the_stream_with_an_error_event(
    api: Api, db: async_sessionmaker[AsyncSession]
) -> None:
    sid = (await api.start())["session"]["id"]
    api.fake.queue_cut_stream(
        {"root_cause": "The spooler " + "x" * 400, "steps_taken": ["x"], "recommendations": ""},
        after_chars=60,
        error_type="overloaded_error",
    )
    events = await api.draft(sid)
    assert events[-1][0] == "error" and events[0][0] == "delta"
    error = events[-1][1]
    assert error["code"] == "claude_unavailable" and error["retryable"] is True
    assert error["retry"] == {
        "method": "POST",
        "path": f"/api/ai-sessions/{sid}/handoff-draft",
        "body": {"kind": "resolve"},
    }
    async with db() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(SessionHandoff))).scalar() == 0
    events = await api.draft(sid)  # the retry works
    assert events[-1][0] == "done"


async def test_a_draft_refused_before_streaming_is_a_plain_json_error(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    await api.call(
        "POST", f"/api/ai-sessions/{sid}/escalate",
        {"root_cause": "r", "steps_taken": "s", "recommendations": "x"}, expect=200,
    )  # fmt: skip
    status, data = await api.call("POST", f"/api/ai-sessions/{sid}/handoff-draft", {"kind": "resolve"})
    assert status == 409 and data["error"]["code"] == "invalid_transition"


async def test_a_client_leaving_mid_draft_cancels_it_and_leaves_nothing_half_made(
    api: Api, db: async_sessionmaker[AsyncSession]
) -> None:
    sid = (await api.start())["session"]["id"]
    api.fake.chunk_delay = 0.05
    api.fake.queue_turn(
        {"root_cause": "The print spooler was stuck. " * 60, "steps_taken": ["x"], "recommendations": ""}
    )
    loop = asyncio.get_running_loop()
    async with api.http.post(
        f"{api.base}/api/ai-sessions/{sid}/handoff-draft", json={"kind": "resolve"}, headers=api.headers()
    ) as r:
        assert r.status == 200
        line = await r.content.readline()
        assert line.startswith(b"event: delta")
        left_at = loop.time()
        r.close()  # the browser tab is closed
    full_stream = 60 * len("The print spooler was stuck. ") / api.fake.chunk_chars * api.fake.chunk_delay

    # The turn ends well before Claude would have finished writing: the lease is free, no draft was stored.
    while True:
        async with db() as s:
            row = (await s.execute(sa.select(AISession).where(AISession.id == sid))).scalar_one()
        if row.lease_owner is None:
            break
        assert loop.time() - left_at < full_stream / 2, "the draft kept running after the client left"
        await asyncio.sleep(0.05)
    async with db() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(SessionHandoff))).scalar() == 0
    api.fake.chunk_delay = 0.0

    # The session is still usable.
    _, after = await api.call(
        "POST", f"/api/ai-sessions/{sid}/messages", {"text": "The queue is empty now"}, expect=200
    )
    assert after["turn"]["message"] and after["session"]["status"] == "active"
    assert (await api.draft(sid))[-1][0] == "done"


async def test_the_openapi_document_needs_no_token(api: Api) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{api.base}/api/openapi.json") as r:
        doc = await r.json()
    assert r.status == 200 and doc["openapi"].startswith("3.1")
    assert "/api/ai-sessions/{session_id}/handoff-draft" in doc["paths"]


async def test_a_refused_command_does_not_break_the_next_one_of_the_same_engineer(api: Api) -> None:
    """Found by schemathesis: a new engineer's first command is refused (409), their next one must work."""
    sid = (await api.start())["session"]["id"]
    status, _ = await api.call(
        "POST",
        f"/api/ai-sessions/{sid}/messages",
        {"answer": {"question_id": "nope", "answer": "x"}, "user_id": "U-NEW"},
    )
    assert status == 409
    status, data = await api.call(
        "POST",
        f"/api/ai-sessions/{sid}/messages",
        {"text": "hello", "user_id": "U-NEW", "user_name": "New Person"},
    )
    assert status == 200, data
