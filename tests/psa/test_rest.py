"""/api/psa-connections scoped to the token's account with a write-only secret, and a REST session started
from a ticket whose detail shows the write-back after resolve."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from fakes.anthropic import FakeAnthropic
from fakes.psa.connectwise import FakeConnectWise
from storage.psa import PsaConnection
from tests.api.conftest import EVIL, TOKENS, Api
from tests.conftest import app_settings
from tests.slack.conftest import wait_for

from .harness import SECRET_KEY, TICKET, TICKET_PASSWORD, TICKET_SEED, running_with_jobs


@pytest.fixture
async def api(db_url: str, fake_claude: FakeAnthropic) -> AsyncIterator[Api]:
    settings = app_settings(
        db_url,
        fake_claude,
        FLOWPILOT_API_TOKENS=TOKENS,
        FLOWPILOT_SECRET_KEY=SECRET_KEY,
        FLOWPILOT_PSA_RETRY_SECONDS=0.05,
    )
    async with running_with_jobs(settings) as (base, runtime), aiohttp.ClientSession() as http:
        yield Api(base, http, runtime, fake_claude)


def _connection(fake: FakeConnectWise, **more: Any) -> dict[str, Any]:
    return {
        "kind": "connectwise",
        "url": fake.url,
        "company": fake.company,
        "public_key": fake.public_key,
        "client_id": fake.client_id,
        "secret": fake.private_key,
        "resolved_status": "Resolved",
        **more,
    }


async def test_connections_are_the_token_accounts_and_the_secret_never_comes_back(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    _, added = await api.call("POST", "/api/psa-connections", _connection(connectwise_fake), expect=201)
    assert added["account"] == "slack:T-ACME" and added["kind"] == "connectwise"
    _, listed = await api.call("GET", "/api/psa-connections", expect=200)
    assert [c["id"] for c in listed["items"]] == [added["id"]]
    for body in (added, listed):
        assert connectwise_fake.private_key not in str(body) and "secret" not in str(body)

    _, reached = await api.call("POST", f"/api/psa-connections/{added['id']}/test", expect=200)
    assert reached["company"] == "Contoso IT Services" and "Service Desk" in reached["boards"]

    # Another account's token sees nothing of it, cannot test it, cannot remove it.
    _, theirs = await api.call("GET", "/api/psa-connections", token=EVIL, expect=200)
    assert theirs["items"] == []
    await api.call("POST", f"/api/psa-connections/{added['id']}/test", token=EVIL, expect=404)
    await api.call("DELETE", f"/api/psa-connections/{added['id']}", token=EVIL, expect=404)
    await api.call("DELETE", f"/api/psa-connections/{added['id']}", expect=204)
    _, after = await api.call("GET", "/api/psa-connections", expect=200)
    assert after["items"] == []


async def test_bad_connections_are_refused_with_what_is_wrong(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    _, missing = await api.call(
        "POST", "/api/psa-connections", _connection(connectwise_fake, company=None), expect=422
    )
    assert "--company" in missing["error"]["message"]
    _, plain_http = await api.call(
        "POST",
        "/api/psa-connections",
        _connection(connectwise_fake, url="http://psa.example.com"),
        expect=422,
    )
    assert "https://" in plain_http["error"]["message"]
    await api.call("DELETE", "/api/psa-connections/not-a-uuid", expect=404)
    _, refused = await api.call(
        "POST", "/api/psa-connections", _connection(connectwise_fake, secret="wrong"), expect=201
    )
    _, failed = await api.call("POST", f"/api/psa-connections/{refused['id']}/test", expect=502)
    assert failed["error"]["code"] == "psa_refused" and "wrong" not in str(failed)


async def test_a_rest_session_from_a_ticket_shows_its_write_back(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    # No PSA yet: a clear refusal, nothing stored.
    _, refused = await api.call("POST", "/api/ai-sessions", {"psa_ticket_id": str(TICKET)}, expect=409)
    assert refused["error"]["code"] == "psa_not_connected"
    _, page = await api.call("GET", "/api/ai-sessions", expect=200)
    assert page["items"] == []

    await api.call("POST", "/api/psa-connections", _connection(connectwise_fake), expect=201)
    _, missing = await api.call("POST", "/api/ai-sessions", {"psa_ticket_id": "424242"}, expect=404)
    assert "#424242 was not found in ConnectWise" in missing["error"]["message"]

    started = await api.start("", psa_ticket_id=str(TICKET))
    session = started["session"]
    assert session["psa_ticket_id"] == str(TICKET) and session["intake_type"] == "psa_ticket"
    assert session["client_name"] == "Contoso Ltd" and session["asset_name"] == "CONTOSO-LT-042"
    assert session["ticket_data"]["title"] == TICKET_SEED.title
    assert TICKET_PASSWORD not in str(session)

    sid = session["id"]
    events = await api.draft(sid)
    assert events[-1][0] == "done"
    await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {}, expect=200)

    async def posted() -> dict[str, Any] | None:
        _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
        wb: dict[str, Any] | None = detail["psa_writeback"]
        return wb if wb and wb["state"] == "posted" else None

    wb = await wait_for(posted, what="the write-back posted")
    assert wb["ticket"] == str(TICKET) and wb["note_id"] and wb["attempts"] == 1
    notes = [n for n in connectwise_fake.notes(TICKET) if "[FlowPilot " in n["text"]]
    assert len(notes) == 1 and notes[0]["resolutionFlag"]


async def test_an_escalation_is_written_back_as_an_internal_note_and_leaves_the_status(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    await api.call("POST", "/api/psa-connections", _connection(connectwise_fake), expect=201)
    started = await api.start("needs the network team", psa_ticket_id=str(TICKET))
    sid = started["session"]["id"]
    assert (await api.draft(sid, kind="escalate"))[-1][0] == "done"
    await api.call("POST", f"/api/ai-sessions/{sid}/escalate", {"reason": "firewall change"}, expect=200)

    async def posted() -> list[dict[str, Any]]:
        return [n for n in connectwise_fake.notes(TICKET) if "[FlowPilot " in n["text"]]

    (note,) = await wait_for(posted, what="the escalation's note")
    assert note["internalAnalysisFlag"] and not note["resolutionFlag"] and not note["detailDescriptionFlag"]
    assert note["text"].rstrip().endswith("]") and "[FlowPilot " in note["text"].splitlines()[-1]
    assert connectwise_fake.status_of(TICKET) == TICKET_SEED.status, "an escalation leaves the status"


async def test_a_connection_removed_before_the_confirm_is_a_failed_write_back_not_a_failed_confirm(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    _, added = await api.call("POST", "/api/psa-connections", _connection(connectwise_fake), expect=201)
    sid = (await api.start("", psa_ticket_id=str(TICKET)))["session"]["id"]
    assert (await api.draft(sid))[-1][0] == "done"
    await api.call("DELETE", f"/api/psa-connections/{added['id']}", expect=204)
    _, resolved = await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {}, expect=200)
    assert resolved["session"]["status"] == "resolved"

    async def failed() -> dict[str, Any] | None:
        _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
        wb: dict[str, Any] | None = detail["psa_writeback"]
        return wb if wb and wb["state"] == "failed" else None

    wb = await wait_for(failed, what="the write-back failed")
    assert "connection was removed" in wb["error"]
    assert not [n for n in connectwise_fake.notes(TICKET) if "[FlowPilot " in n["text"]]


async def test_a_status_the_psa_does_not_know_leaves_the_note_posted_and_says_so(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    await api.call(
        "POST",
        "/api/psa-connections",
        _connection(connectwise_fake, resolved_status="Fixed Forever"),
        expect=201,
    )
    sid = (await api.start("", psa_ticket_id=str(TICKET)))["session"]["id"]
    assert (await api.draft(sid))[-1][0] == "done"
    await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {}, expect=200)

    async def done() -> dict[str, Any] | None:
        _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
        wb: dict[str, Any] | None = detail["psa_writeback"]
        return wb if wb and wb["state"] != "pending" else None

    wb = await wait_for(done, what="the write-back done")
    assert wb["state"] == "posted" and "status was not changed to 'Fixed Forever'" in wb["error"]
    assert len([n for n in connectwise_fake.notes(TICKET) if "[FlowPilot " in n["text"]]) == 1
    assert connectwise_fake.status_of(TICKET) == TICKET_SEED.status


async def test_credentials_sealed_with_another_key_fail_clearly_at_start_and_at_write_back(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    await api.call("POST", "/api/psa-connections", _connection(connectwise_fake), expect=201)
    sid = (await api.start("", psa_ticket_id=str(TICKET)))["session"]["id"]
    assert (await api.draft(sid))[-1][0] == "done"
    # FLOWPILOT_SECRET_KEY changed since the connection was added: its secret no longer opens.
    other = Fernet(Fernet.generate_key()).encrypt(b"whatever")
    async with api.runtime.db() as db, db.begin():
        await db.execute(sa.update(PsaConnection).values(secret_encrypted=other))
    _, refused = await api.call("POST", "/api/ai-sessions", {"psa_ticket_id": str(TICKET)}, expect=503)
    assert "another FLOWPILOT_SECRET_KEY" in refused["error"]["message"]
    await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {}, expect=200)

    async def failed() -> dict[str, Any] | None:
        _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
        wb: dict[str, Any] | None = detail["psa_writeback"]
        return wb if wb and wb["state"] == "failed" else None

    wb = await wait_for(failed, what="the write-back failed")
    assert "another FLOWPILOT_SECRET_KEY" in wb["error"]
