"""Issue 15 end to end through Slack: `/flowpilot ticket 12345` → session → resolve → confirm → exactly one
note on the fake ConnectWise ticket, flagged as a resolution, and the ticket moved to the resolved status.

Signed requests go into the real endpoint; the job worker (pgqueuer) posts the note; the thread says so.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
import sqlalchemy as sa

from fakes.anthropic import FakeAnthropic
from fakes.psa.connectwise import FakeConnectWise
from fakes.slack import FakeSlack
from storage.models import AISession
from storage.psa import PsaWriteback
from tests.slack.conftest import SlackHarness, action_ids, fake_slack, shown_text, wait_for

from .harness import TICKET, TICKET_PASSWORD, TICKET_SEED, slack_with_psa

__all__ = ["fake_slack"]  # the fixture, for this module's tests


async def _from_ticket(
    slack: SlackHarness, text: str = f"ticket {TICKET} user is remote today"
) -> dict[str, Any]:
    """Start from the ticket; returns the header once Claude's first reply is in the thread."""
    response = await slack.slash(text)
    assert response.status == 200
    turn = (await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the first questions"))[0]
    header = slack.fake.message(slack.fake.general, turn["thread_ts"])
    assert header is not None
    return header


async def _resolve_and_confirm(slack: SlackHarness, header: dict[str, Any]) -> None:
    await slack.click(slack.fake.message(slack.fake.general, header["ts"]) or header, "fp_resolve")
    controls = (await wait_for(lambda: slack.with_action("fp_confirm"), what="draft controls"))[0]
    await slack.click(controls, "fp_confirm")


def _flowpilot_notes(psa: FakeConnectWise) -> list[dict[str, Any]]:
    return [n for n in psa.notes(TICKET) if "[FlowPilot " in n["text"]]


async def test_a_session_from_a_ticket_ends_in_exactly_one_resolution_note_on_it(
    db_url: str,
    fake_claude: FakeAnthropic,
    fake_slack: FakeSlack,
    connectwise_fake: FakeConnectWise,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    connectwise_fake.add_ticket(TICKET_SEED)
    async with slack_with_psa(db_url, fake_claude, fake_slack, connectwise_fake) as slack:
        header = await _from_ticket(slack)
        # The header's client and asset come from the ticket's company and first configuration.
        shown = shown_text(slack.fake.message(slack.fake.general, header["ts"]) or header)
        assert "Contoso Ltd" in shown and "CONTOSO-LT-042" in shown
        session = await slack.session()
        assert session is not None and session.psa_ticket_id == str(TICKET)
        assert session.intake_type == "psa_ticket" and session.ticket_data is not None
        assert session.ticket_data["company"] == "Contoso Ltd"
        # Redacted like any paste: the ticket's password is in neither ticket_data nor what Claude read.
        assert TICKET_PASSWORD not in str(session.ticket_data)
        first_prompt = str(fake_claude.requests[0].body["messages"])
        assert "Laptop cannot reach the VPN" in first_prompt and "error 809" in first_prompt
        assert TICKET_PASSWORD not in first_prompt

        await _resolve_and_confirm(slack, header)
        posted = await wait_for(
            lambda: [
                m for m in slack.fake.messages(slack.fake.general) if "Posted to ConnectWise" in shown_text(m)
            ],
            what="the write-back's announcement",
        )
        assert f"Posted to ConnectWise #{TICKET} ✓" in shown_text(posted[0])
        notes = _flowpilot_notes(connectwise_fake)
        assert len(notes) == 1
        note = notes[0]
        assert note["resolutionFlag"] and note["internalAnalysisFlag"] and not note["detailDescriptionFlag"]
        assert "Root cause" in note["text"] or "ROOT CAUSE" in note["text"].upper()
        assert connectwise_fake.status_of(TICKET) == "Resolved"
        async with slack.runtime.db() as db:
            wb = (await db.execute(sa.select(PsaWriteback))).scalar_one()
        assert wb.state == "posted" and wb.note_id == str(note["id"]) and wb.attempts == 1
    # Every log line of the run, DEBUG included: neither the connection's key nor the ticket's password.
    assert connectwise_fake.private_key not in caplog.text and TICKET_PASSWORD not in caplog.text
    login = f"{connectwise_fake.company}+{connectwise_fake.public_key}:{connectwise_fake.private_key}"
    assert base64.b64encode(login.encode()).decode() not in caplog.text  # nor the Authorization header


async def test_500_500_429_on_the_note_post_still_make_exactly_one_note(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    async with slack_with_psa(db_url, fake_claude, fake_slack, connectwise_fake) as slack:
        header = await _from_ticket(slack)
        connectwise_fake.fail("/notes", 500, times=2, method="POST")
        connectwise_fake.fail("/notes", 429, retry_after=0.2, method="POST")
        await _resolve_and_confirm(slack, header)
        await wait_for(
            lambda: [
                m for m in slack.fake.messages(slack.fake.general) if "Posted to ConnectWise" in shown_text(m)
            ],
            what="the write-back's announcement",
        )
        assert len(connectwise_fake.calls("POST", "/notes")) == 4  # three refused, one taken
        assert len(_flowpilot_notes(connectwise_fake)) == 1
        assert connectwise_fake.status_of(TICKET) == "Resolved"
        async with slack.runtime.db() as db:
            wb = (await db.execute(sa.select(PsaWriteback))).scalar_one()
        assert wb.state == "posted" and wb.attempts == 4


async def test_a_permanent_failure_shows_in_the_thread_with_retry_which_posts_once(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    async with slack_with_psa(
        db_url, fake_claude, fake_slack, connectwise_fake, FLOWPILOT_PSA_ATTEMPTS=2
    ) as slack:
        header = await _from_ticket(slack)
        connectwise_fake.fail("/notes", 503, times=2, method="POST")
        await _resolve_and_confirm(slack, header)
        failed = (
            await wait_for(
                lambda: [
                    m for m in slack.fake.messages(slack.fake.general) if "Could not post" in shown_text(m)
                ],
                what="the failure in the thread",
            )
        )[0]
        assert f"ConnectWise #{TICKET}" in shown_text(failed)
        assert not _flowpilot_notes(connectwise_fake)
        retry = next(a for a in action_ids(failed) if a.startswith("fp_retry"))
        await slack.click(failed, retry)
        await wait_for(
            lambda: [
                m for m in slack.fake.messages(slack.fake.general) if "Posted to ConnectWise" in shown_text(m)
            ],
            what="the retried write-back's announcement",
        )
        assert len(_flowpilot_notes(connectwise_fake)) == 1


async def test_a_pasted_ticket_link_of_the_connected_psa_starts_from_that_ticket(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    async with slack_with_psa(db_url, fake_claude, fake_slack, connectwise_fake) as slack:
        # As Slack delivers a pasted link: in angle brackets, its & escaped.
        link = f"{connectwise_fake.url}/v4_6_release/services/system_io/Service/fv_sr100_request.rails?locale=en_US&amp;service_recid={TICKET}"
        await _from_ticket(slack, f"can you look at <{link}>")
        session = await slack.session()
        assert session is not None and session.psa_ticket_id == str(TICKET)
        assert session.client_name == "Contoso Ltd"


async def _no_session(slack: SlackHarness) -> bool:
    async with slack.runtime.db() as db:
        return not (await db.execute(sa.select(sa.func.count()).select_from(AISession))).scalar_one()


async def _private_reply(slack: SlackHarness, contains: str) -> str:
    found = await wait_for(
        lambda: [m for m in slack.fake.ephemerals(slack.fake.general) if contains in m.get("text", "")],
        what=contains,
    )
    return str(found[0]["text"])


async def test_a_ticket_that_does_not_exist_is_a_private_message_and_no_session(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, connectwise_fake: FakeConnectWise
) -> None:
    async with slack_with_psa(db_url, fake_claude, fake_slack, connectwise_fake) as slack:
        await slack.slash("ticket 99999 printer jammed")
        told = await _private_reply(slack, "#99999")
        assert "was not found in ConnectWise" in told
        assert await _no_session(slack) and not fake_claude.requests


async def test_credentials_the_psa_refuses_are_a_private_message_and_no_session(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    async with slack_with_psa(db_url, fake_claude, fake_slack, connectwise_fake) as slack:
        connectwise_fake.private_key = "rotated-by-someone"  # the stored key no longer works
        await slack.slash(f"ticket {TICKET}")
        told = await _private_reply(slack, "refused FlowPilot's credentials")
        assert "flowpilot psa test" in told
        assert await _no_session(slack) and not fake_claude.requests


async def test_a_psa_that_times_out_is_a_private_message_and_no_session(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    async with slack_with_psa(db_url, fake_claude, fake_slack, connectwise_fake) as slack:
        connectwise_fake.delay(f"/tickets/{TICKET}", 5, times=3)
        await slack.slash(f"ticket {TICKET}")
        told = await _private_reply(slack, "did not answer in time")
        assert "no session was started" in told
        assert await _no_session(slack) and not fake_claude.requests


async def test_no_psa_connected_is_a_private_message_and_no_session(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, connectwise_fake: FakeConnectWise
) -> None:
    async with slack_with_psa(db_url, fake_claude, fake_slack, connectwise_fake) as slack:
        for view in await slack.runtime.psa.list():
            await slack.runtime.psa.remove(view.id)
        await slack.slash(f"ticket {TICKET}")
        told = await _private_reply(slack, "No PSA is connected")
        assert "flowpilot psa add" in told
        assert await _no_session(slack)
        # The header Slack was shown while it started is gone again: nothing half-made is left.
        assert slack.fake.messages(slack.fake.general) == []


async def test_a_note_taken_whose_answer_was_lost_is_found_by_its_marker_not_posted_again(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    async with slack_with_psa(db_url, fake_claude, fake_slack, connectwise_fake) as slack:
        header = await _from_ticket(slack)
        # ConnectWise writes the note, then its answer is lost (a 502 from a proxy on the way back).
        connectwise_fake.fail("/notes", 502, method="POST", after=True)
        await _resolve_and_confirm(slack, header)
        await wait_for(
            lambda: [
                m for m in slack.fake.messages(slack.fake.general) if "Posted to ConnectWise" in shown_text(m)
            ],
            what="the write-back's announcement",
        )
        assert len(connectwise_fake.calls("POST", "/notes")) == 1, "the retry looked before it posted"
        assert len(_flowpilot_notes(connectwise_fake)) == 1
