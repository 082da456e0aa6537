"""One contract for the three PSA clients, each against its faithful fake over real HTTP.

Every test here runs once per PSA: what the core relies on (a full snapshot, errors it can act on, notes marked
as that PSA expects, exactly-once lookups, statuses by name) must hold for all of them. What only one PSA does
(ConnectWise's codebase, Autotask's zone and picklists, HaloPSA's tokens) is in test_contract_per_psa.py.
"""

from __future__ import annotations

import email.utils
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
import pytest

from adapters.psa.connect import open_connector
from adapters.psa.http import retry_after_seconds
from bot.psa import (
    NoteKind,
    PsaAuthFailed,
    PsaBadRequest,
    PsaConnector,
    PsaError,
    PsaKind,
    PsaUnavailable,
    TicketNotFound,
)
from fakes.psa.base import FakePsa
from tests.psa.conftest import Connect, connector_for, settings_for
from tests.psa.kinds import (
    EXPECTED_MARKS,
    NOTE_POST_PATH,
    SECRET_FIELD,
    SEED,
    TICKET_PATH,
    TICKET_URLS,
    URL_FIELDS,
    note_marks,
    note_text,
    secrets_of,
    seeded,
    stored_notes,
    url_bases,
)

# ---- reading a ticket ------------------------------------------------------------------------------------


async def test_a_ticket_is_read_with_every_field(psa_connector: PsaConnector, psa_fake: FakePsa) -> None:
    seed = seeded(psa_fake)

    snapshot = await psa_connector.get_ticket(str(seed.number))

    assert snapshot.number == str(seed.number)
    assert snapshot.title == seed.title
    assert snapshot.description == seed.description
    assert (snapshot.company, snapshot.contact, snapshot.site) == (seed.company, seed.contact, seed.site)
    assert snapshot.configurations == seed.configurations
    assert (snapshot.status, snapshot.board, snapshot.priority) == (seed.status, seed.board, seed.priority)
    assert snapshot.url is not None and psa_connector.ticket_from_url(snapshot.url) == str(seed.number)
    # The most recent note first.
    texts = [n.text for n in snapshot.notes]
    assert texts[:2] == [seed.notes[1], seed.notes[0]]
    assert all(n.created_at is not None and n.id for n in snapshot.notes)
    assert snapshot.as_data()["configurations"] == list(seed.configurations)


async def test_a_ticket_number_with_a_hash_is_read(psa_connector: PsaConnector, psa_fake: FakePsa) -> None:
    seed = seeded(psa_fake)
    assert (await psa_connector.get_ticket(f"#{seed.number}")).title == seed.title


async def test_a_missing_ticket_is_not_found(psa_connector: PsaConnector, psa_fake: FakePsa) -> None:
    with pytest.raises(TicketNotFound) as caught:
        await psa_connector.get_ticket("999999")
    assert "999999" in caught.value.message


@pytest.mark.parametrize("number", ["12/../../system", "12345?x=1", "abc", "0", "1" * 13, "", "-5", "12 34"])
async def test_a_ticket_number_that_is_not_digits_never_reaches_the_psa(
    psa_connector: PsaConnector, psa_fake: FakePsa, number: str
) -> None:
    before = len(psa_fake.requests)
    with pytest.raises(PsaBadRequest) as caught:
        await psa_connector.get_ticket(number)
    assert "ticket number" in caught.value.message
    assert len(psa_fake.requests) == before


# ---- failures the core must tell apart -------------------------------------------------------------------


async def test_refused_credentials_say_what_to_fix(
    connect: Connect, psa_kind: PsaKind, psa_fake: FakePsa
) -> None:
    seeded(psa_fake)
    connector = connect(psa_kind, psa_fake, **{SECRET_FIELD[psa_kind]: "not-the-secret"})
    for attempt in (connector.get_ticket(str(SEED.number)), connector.test()):
        with pytest.raises(PsaAuthFailed) as caught:
            await attempt
        assert "credentials" in caught.value.message and not caught.value.retryable


async def test_429_is_unavailable_with_retry_after(
    psa_kind: PsaKind, psa_connector: PsaConnector, psa_fake: FakePsa
) -> None:
    seeded(psa_fake)
    psa_fake.fail(TICKET_PATH[psa_kind].format(n=SEED.number), 429, retry_after=7)

    with pytest.raises(PsaUnavailable) as caught:
        await psa_connector.get_ticket(str(SEED.number))

    assert caught.value.retry_after == 7 and caught.value.retryable
    assert "7 s" in caught.value.message
    assert (
        await psa_connector.get_ticket(str(SEED.number))
    ).title == SEED.title  # the next call goes through


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_unavailable(
    psa_kind: PsaKind, psa_connector: PsaConnector, psa_fake: FakePsa, status: int
) -> None:
    seeded(psa_fake)
    psa_fake.fail(TICKET_PATH[psa_kind].format(n=SEED.number), status)
    with pytest.raises(PsaUnavailable) as caught:
        await psa_connector.get_ticket(str(SEED.number))
    assert f"HTTP {status}" in caught.value.message and caught.value.retry_after is None


async def test_a_redirect_is_not_followed(
    psa_kind: PsaKind, psa_connector: PsaConnector, psa_fake: FakePsa
) -> None:
    """A 302 (a login page, a moved instance) would carry the keys elsewhere: it is a set-up problem instead."""
    seeded(psa_fake)
    psa_fake.fail(TICKET_PATH[psa_kind].format(n=SEED.number), 302)
    with pytest.raises(PsaBadRequest) as caught:
        await psa_connector.get_ticket(str(SEED.number))
    assert "check the connection's URL" in caught.value.message


async def test_a_psa_that_does_not_answer_in_time_is_unavailable(
    psa_kind: PsaKind, psa_connector: PsaConnector, psa_fake: FakePsa
) -> None:
    seeded(psa_fake)
    psa_fake.delay(TICKET_PATH[psa_kind].format(n=SEED.number), 10)
    with pytest.raises(PsaUnavailable) as caught:
        await psa_connector.get_ticket(str(SEED.number))
    assert "did not answer" in caught.value.message


async def test_an_unreachable_psa_is_unavailable(
    connect: Connect, psa_kind: PsaKind, psa_fake: FakePsa
) -> None:
    seeded(psa_fake)
    connector = connect(psa_kind, psa_fake)
    await connector.get_ticket(str(SEED.number))  # set up (codebase, zone, token) while the PSA is up
    await psa_fake.stop()
    with pytest.raises(PsaUnavailable) as caught:
        await connector.get_ticket(str(SEED.number))
    assert "Could not reach" in caught.value.message


# ---- writing back ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["internal", "resolution", "public"])
async def test_a_note_is_posted_once_marked_as_the_psa_expects(
    psa_kind: PsaKind, psa_connector: PsaConnector, psa_fake: FakePsa, kind: NoteKind
) -> None:
    seeded(psa_fake)
    before = stored_notes(psa_fake, SEED.number)
    text = f"Root cause: stale credentials in Credential Manager.\n[flowpilot:{kind}-1]"

    posted = await psa_connector.add_note(str(SEED.number), text=text, kind=kind)

    new = stored_notes(psa_fake, SEED.number)[len(before) :]
    assert len(new) == 1
    assert note_text(psa_kind, new[0]) == text and str(new[0]["id"]) == posted.id and not posted.already_there
    assert note_marks(psa_kind, psa_fake, new[0]) == EXPECTED_MARKS[psa_kind][kind]


async def test_find_note_finds_the_marked_note_only(psa_connector: PsaConnector, psa_fake: FakePsa) -> None:
    seeded(psa_fake)
    assert await psa_connector.find_note(str(SEED.number), marker="[flowpilot:h-42]") is None

    posted = await psa_connector.add_note(
        str(SEED.number), text="Fixed.\n[flowpilot:h-42]", kind="resolution"
    )

    found = await psa_connector.find_note(str(SEED.number), marker="[flowpilot:h-42]")
    assert found is not None and found.id == posted.id and found.already_there
    assert await psa_connector.find_note(str(SEED.number), marker="[flowpilot:h-43]") is None


async def test_a_note_on_a_missing_ticket_is_not_found(
    psa_connector: PsaConnector, psa_fake: FakePsa
) -> None:
    with pytest.raises(TicketNotFound):
        await psa_connector.add_note("999998", text="x", kind="internal")


async def test_a_failed_note_post_is_unavailable_and_writes_nothing(
    psa_kind: PsaKind, psa_connector: PsaConnector, psa_fake: FakePsa
) -> None:
    seeded(psa_fake)
    before = len(stored_notes(psa_fake, SEED.number))
    psa_fake.fail(NOTE_POST_PATH[psa_kind], 500, method="POST")
    with pytest.raises(PsaUnavailable):
        await psa_connector.add_note(str(SEED.number), text="Fixed.", kind="resolution")
    assert len(stored_notes(psa_fake, SEED.number)) == before


@pytest.mark.parametrize("lost", ["500", "timeout"])
async def test_a_note_whose_answer_was_lost_is_found_before_a_retry(
    psa_kind: PsaKind, psa_connector: PsaConnector, psa_fake: FakePsa, lost: str
) -> None:
    """The PSA wrote the note but the answer never came: the retry's look finds it, so it is not written twice."""
    seeded(psa_fake)
    if lost == "500":
        psa_fake.fail(NOTE_POST_PATH[psa_kind], 500, method="POST", after=True)
    else:
        psa_fake.delay(NOTE_POST_PATH[psa_kind], 10, method="POST", after=True)
    text = "Resolved: cleared the cached credentials.\n[flowpilot:handoff-7]"
    with pytest.raises(PsaUnavailable):
        await psa_connector.add_note(str(SEED.number), text=text, kind="resolution")

    found = await psa_connector.find_note(str(SEED.number), marker="[flowpilot:handoff-7]")

    assert found is not None and found.already_there
    written = [n for n in stored_notes(psa_fake, SEED.number) if note_text(psa_kind, n) == text]
    assert [str(n["id"]) for n in written] == [found.id]


async def test_the_status_is_set_by_its_name(psa_connector: PsaConnector, psa_fake: FakePsa) -> None:
    seeded(psa_fake)
    await psa_connector.set_status(str(SEED.number), status="resolved")  # names match whatever the case
    assert cast(Any, psa_fake).status_of(SEED.number) == "Resolved"
    assert (await psa_connector.get_ticket(str(SEED.number))).status == "Resolved"


async def test_an_unknown_status_is_a_clear_bad_request(
    psa_connector: PsaConnector, psa_fake: FakePsa
) -> None:
    seeded(psa_fake)
    with pytest.raises(PsaBadRequest) as caught:
        await psa_connector.set_status(str(SEED.number), status="Fixed By Magic")
    assert "'Fixed By Magic'" in caught.value.message and "Resolved" in caught.value.message
    assert cast(Any, psa_fake).status_of(SEED.number) == SEED.status


# ---- set-up ----------------------------------------------------------------------------------------------


async def test_test_says_what_it_reached(psa_kind: PsaKind, psa_connector: PsaConnector) -> None:
    reach = await psa_connector.test()
    assert reach.company
    assert "Service Desk" in reach.boards
    assert {"New", "Resolved"} <= set(reach.statuses)
    if psa_kind == "autotask":
        assert reach.note_types


async def test_a_given_session_is_used_and_left_open(psa_kind: PsaKind, psa_fake: FakePsa) -> None:
    seeded(psa_fake)
    async with aiohttp.ClientSession(headers={"User-Agent": "FlowPilot-test"}) as session:
        connector = open_connector(settings_for(psa_kind, psa_fake), session=session)
        assert (await connector.get_ticket(str(SEED.number))).title == SEED.title
        await connector.close()
        assert not session.closed  # the runtime's session outlives one connector
    assert psa_fake.requests and all(r.headers["User-Agent"] == "FlowPilot-test" for r in psa_fake.requests)


@pytest.mark.parametrize(
    "url",
    [
        "http://psa.example.com",
        "ftp://psa.example.com",
        "https://user:pw@psa.example.com",
        "https://psa.example.com/?next=https://evil.example",
        "https://psa.example.com/#frag",
        "javascript:alert(1)",
        "psa.example.com",
    ],
)
async def test_a_set_up_url_must_be_https(psa_kind: PsaKind, psa_fake: FakePsa, url: str) -> None:
    for field in URL_FIELDS[psa_kind]:
        with pytest.raises(PsaBadRequest) as caught:
            connector_for(psa_kind, psa_fake, **{field: url})
        assert "https://" in caught.value.message
    assert psa_fake.requests == []


async def test_ticket_from_url_reads_links_to_this_instance_only(
    connect: Connect, psa_kind: PsaKind, psa_fake: FakePsa
) -> None:
    connector = connect(psa_kind, psa_fake)
    await connector.test()  # set up, as `psa add` does: Autotask learns its web host from the zone
    for template, expected in TICKET_URLS[psa_kind]:
        url = template.format(**url_bases(psa_kind, psa_fake))
        assert connector.ticket_from_url(url) == expected, url


async def test_no_secret_reaches_a_message_or_a_log(
    connect: Connect, psa_kind: PsaKind, psa_fake: FakePsa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seeded(psa_fake)
    secret = str(getattr(psa_fake, SECRET_FIELD[psa_kind]))
    good = connect(psa_kind, psa_fake)
    wrong = connect(psa_kind, psa_fake, **{SECRET_FIELD[psa_kind]: "wrong-" + secret})
    messages: list[str] = []
    reprs = [repr(good), repr(getattr(good, "_settings", ""))]
    psa_fake.fail(TICKET_PATH[psa_kind].format(n=SEED.number), 500)
    psa_fake.delay(TICKET_PATH[psa_kind].format(n=SEED.number), 10)
    attempts = [
        good.get_ticket(str(SEED.number)),
        good.get_ticket(str(SEED.number)),
        good.get_ticket("31337"),
        good.set_status(str(SEED.number), status="Nope"),
        wrong.get_ticket(str(SEED.number)),
        wrong.test(),
    ]
    for attempt in attempts:
        with pytest.raises(PsaError) as caught:
            await attempt
        messages += [str(caught.value), caught.value.message]
        reprs.append(repr(caught.value))
    await good.add_note(str(SEED.number), text="done", kind="internal")
    logged = [record.getMessage() for record in caplog.records]
    assert logged  # the clients do log what they call
    secrets = secrets_of(psa_kind, psa_fake)
    assert len(secrets) > 1 or psa_kind == "autotask"
    for text in messages + reprs + logged:
        assert not any(s in text for s in secrets) and "wrong-" not in text, text
    for text in messages:
        bodies = ("Injected", "Unauthorized", "Authentication failed", "access token")
        assert not any(body in text for body in bodies), text  # nor a response body


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    soon = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    in_thirty = retry_after_seconds(soon)
    assert in_thirty is not None and 25 <= in_thirty <= 31
    table = {"7": 7.0, "1.5": 1.5, "-3": 0.0, "99999": 3600.0, "soon": None, "": None, None: None}
    assert {given: retry_after_seconds(given) for given in table} == table
