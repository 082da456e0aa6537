"""One contract for the three PSA clients, each against its faithful fake over real HTTP.

Every test here runs once per PSA: what the core relies on (a full snapshot, errors it can act on, notes marked
as that PSA expects, exactly-once lookups, statuses by name) must hold for all of them. The last tests cover
what only one PSA does (ConnectWise's codebase, Autotask's zone, HaloPSA's token renewal).
"""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

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
from fakes.psa.autotask import FakeAutotask
from fakes.psa.base import FakePsa, SeedTicket
from fakes.psa.connectwise import CODEBASE, FakeConnectWise
from tests.psa.conftest import connector_for

SEED = SeedTicket(
    number=4711,
    title="Outlook keeps asking for a password",
    description="Since this morning Outlook on RECEPTION-PC prompts for the password every few minutes.",
    company="Contoso Ltd",
    contact="Jane Doe",
    site="Main Office",
    configurations=("RECEPTION-PC", "CONTOSO-DC01"),
    status="New",
    board="Service Desk",
    priority="High",
    notes=("Called the user, she restarted Outlook.", "Still prompting after restart."),
)

# Where a fault is injected for "reading the ticket" and "posting a note", per PSA.
TICKET_PATH = {
    "connectwise": "/service/tickets/{n}$",
    "autotask": "/Tickets/{n}$",
    "halopsa": "/api/Tickets/{n}$",
}
NOTE_POST_PATH = {"connectwise": "/notes", "autotask": "/Notes", "halopsa": "/api/Actions"}
# The secret of each connection, which must never show up in a message or a log line.
SECRET_FIELD = {"connectwise": "private_key", "autotask": "secret", "halopsa": "client_secret"}


def note_marks(kind: PsaKind, fake: FakePsa, note: dict[str, Any]) -> dict[str, Any]:
    """How the PSA itself marks a stored note: the flags or picklist labels an engineer sees in its UI."""
    if kind == "connectwise":
        return {k: note[k] for k in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")}
    if kind == "autotask":
        at = cast(FakeAutotask, fake)
        return {f: at.label_of("TicketNotes", f, note[f]) for f in ("noteType", "publish")}
    raise AssertionError(kind)


EXPECTED_MARKS: dict[PsaKind, dict[NoteKind, dict[str, Any]]] = {
    "connectwise": {
        "internal": {"detailDescriptionFlag": False, "internalAnalysisFlag": True, "resolutionFlag": False},
        "resolution": {"detailDescriptionFlag": False, "internalAnalysisFlag": True, "resolutionFlag": True},
        "public": {"detailDescriptionFlag": True, "internalAnalysisFlag": False, "resolutionFlag": False},
    },
    "autotask": {
        "internal": {"noteType": "Task Notes", "publish": "Internal Only"},
        "resolution": {"noteType": "Ticket Resolution", "publish": "Internal Only"},
        "public": {"noteType": "Task Notes", "publish": "All Autotask Users"},
    },
}


def seeded(fake: FakePsa, seed: SeedTicket = SEED) -> SeedTicket:
    cast(Any, fake).add_ticket(seed)
    return seed


def stored_notes(fake: FakePsa, number: int) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], cast(Any, fake).notes(number))


def note_text(kind: PsaKind, note: dict[str, Any]) -> str:
    return str(note.get({"connectwise": "text", "autotask": "description", "halopsa": "note"}[kind]))


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


async def test_refused_credentials_say_what_to_fix(psa_kind: PsaKind, psa_fake: FakePsa) -> None:
    seeded(psa_fake)
    connector = connector_for(psa_kind, psa_fake, **{SECRET_FIELD[psa_kind]: "not-the-secret"})
    try:
        for attempt in (connector.get_ticket(str(SEED.number)), connector.test()):
            with pytest.raises(PsaAuthFailed) as caught:
                await attempt
            assert "credentials" in caught.value.message and not caught.value.retryable
    finally:
        await connector.close()


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


async def test_a_psa_that_does_not_answer_in_time_is_unavailable(
    psa_kind: PsaKind, psa_connector: PsaConnector, psa_fake: FakePsa
) -> None:
    seeded(psa_fake)
    psa_fake.delay(TICKET_PATH[psa_kind].format(n=SEED.number), 10)
    with pytest.raises(PsaUnavailable) as caught:
        await psa_connector.get_ticket(str(SEED.number))
    assert "did not answer" in caught.value.message


async def test_an_unreachable_psa_is_unavailable(psa_kind: PsaKind, psa_fake: FakePsa) -> None:
    seeded(psa_fake)
    connector = connector_for(psa_kind, psa_fake)
    await connector.get_ticket(str(SEED.number))  # set up (codebase, zone, token) while the PSA is up
    await psa_fake.stop()
    try:
        with pytest.raises(PsaUnavailable) as caught:
            await connector.get_ticket(str(SEED.number))
        assert "Could not reach" in caught.value.message
    finally:
        await connector.close()


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


TICKET_URLS: dict[PsaKind, list[tuple[str, str | None]]] = {
    "connectwise": [
        (
            "{web}/v4_6_release/services/system_io/Service/fv_sr100_request.rpp?locale=en_US&RecordId=12345",
            "12345",
        ),
        ("{web}/v2025_1/ConnectWise.aspx?locale=en_US&routeTo=ServiceFV&service_recid=777", "777"),
        ("{web}/v2025_1/ConnectWise.aspx?fullscreen=false#startscreen=sr100&recid=31", "31"),
        ("{api}/v2025_1/ConnectWise.aspx?service_recid=99", "99"),
        (
            "https://eu.myconnectwise.net/v4_6_release/services/system_io/Service/fv_sr100_request.rpp?RecordId=1",
            None,
        ),
        ("{web}/v4_6_release/services/system_io/Service/fv_sr100_request.rpp?RecordId=12a", None),
        ("{web}/somewhere/else", None),
    ],
    "autotask": [
        ("{web}/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&mode=0&ticketId=12345", "12345"),
        ("https://ww5.autotask.net/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=777", "777"),
        (
            "https://ww14.autotask.net/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail"
            "&TicketNumber=T20240101.0001",
            "T20240101.0001",
        ),
        ("https://ww5.autotask.net.evil.example/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=1", None),
        ("https://example.com/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=1", None),
        ("{web}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=12a", None),
        ("{web}/Autotask/AutotaskExtend/ExecuteCommand.aspx?TicketNumber=T2024.1", None),
    ],
}


def _url_bases(kind: PsaKind, fake: FakePsa) -> dict[str, str]:
    if kind == "connectwise":
        # The fake serves the API on 127.0.0.1; a real site's web UI is the API host without "api-".
        return {"web": fake.url, "api": fake.url}
    if kind == "autotask":
        return {"web": fake.url}  # the fake's zone lookup names this server as the web UI
    raise AssertionError(kind)


async def test_ticket_from_url_reads_links_to_this_instance_only(
    psa_kind: PsaKind, psa_fake: FakePsa
) -> None:
    connector = connector_for(psa_kind, psa_fake)
    try:
        await connector.test()  # set up, as `psa add` does: Autotask learns its web host from the zone
        for template, expected in TICKET_URLS[psa_kind]:
            url = template.format(**_url_bases(psa_kind, psa_fake))
            assert connector.ticket_from_url(url) == expected, url
    finally:
        await connector.close()


async def test_no_secret_reaches_a_message_or_a_log(
    psa_kind: PsaKind, psa_fake: FakePsa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seeded(psa_fake)
    secret = str(getattr(psa_fake, SECRET_FIELD[psa_kind]))
    good = connector_for(psa_kind, psa_fake)
    wrong = connector_for(psa_kind, psa_fake, **{SECRET_FIELD[psa_kind]: "wrong-" + secret})
    messages: list[str] = [repr(good), repr(getattr(good, "_settings", ""))]
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
    try:
        for attempt in attempts:
            with pytest.raises(PsaError) as caught:
                await attempt
            messages += [str(caught.value), repr(caught.value), caught.value.message]
        await good.add_note(str(SEED.number), text="done", kind="internal")
    finally:
        await good.close()
        await wrong.close()
    logged = [record.getMessage() for record in caplog.records]
    assert logged  # the clients do log what they call
    for text in messages + logged:
        assert secret not in text and "wrong-" not in text, text


# ---- what only one PSA does ------------------------------------------------------------------------------


async def test_connectwise_finds_its_codebase_once(connectwise_fake: FakeConnectWise) -> None:
    psa_fake = connectwise_fake
    seeded(psa_fake)
    connector = connector_for("connectwise", psa_fake)
    try:
        await connector.get_ticket(str(SEED.number))
        await connector.add_note(str(SEED.number), text="x", kind="internal")
    finally:
        await connector.close()
    lookups = psa_fake.calls("GET", "/login/companyinfo/")
    api_calls = [r for r in psa_fake.requests if "/apis/3.0/" in r.path]
    assert len(lookups) == 1 and lookups[0].path.endswith(psa_fake.company)
    assert api_calls and all(r.path.startswith(f"/{CODEBASE}apis/3.0/") for r in api_calls)
    assert all(r.headers["clientId"] == psa_fake.client_id for r in api_calls)

    unknown = connector_for("connectwise", psa_fake, company="nosuchco")
    try:
        with pytest.raises(PsaBadRequest) as caught:
            await unknown.get_ticket(str(SEED.number))
        assert "company id 'nosuchco'" in caught.value.message
    finally:
        await unknown.close()


async def test_autotask_finds_the_users_zone_once(autotask_fake: FakeAutotask) -> None:
    fake = autotask_fake
    seeded(fake)
    connector = connector_for("autotask", fake)
    try:
        by_number = await connector.get_ticket(fake.ticket_number(SEED.number))  # as the web UI shows it
        await connector.add_note(str(SEED.number), text="x", kind="internal")
    finally:
        await connector.close()
    assert by_number.number == str(SEED.number) and by_number.title == SEED.title
    lookups = fake.calls("GET", "/zoneInformation")
    assert len(lookups) == 1 and lookups[0].query == {"user": fake.username}
    assert "Secret" not in lookups[0].headers  # the secret goes only where it is needed
    api_calls = [r for r in fake.requests if r not in lookups]
    assert api_calls and all(r.path.startswith("/atservicesrest/v1.0/") for r in api_calls)
    assert all(
        (r.headers["ApiIntegrationCode"], r.headers["UserName"], r.headers["Secret"])
        == (fake.integration_code, fake.username, fake.secret)
        for r in api_calls
    )

    unknown = connector_for("autotask", fake, username="nobody@contoso.example")
    given_zone = connector_for("autotask", fake, zone_url=f"{fake.url}/atservicesrest/")
    try:
        with pytest.raises(PsaBadRequest) as caught:
            await unknown.get_ticket(str(SEED.number))
        assert "API user 'nobody@contoso.example'" in caught.value.message
        lookups_before = len(fake.calls("GET", "/zoneInformation"))
        assert (await given_zone.get_ticket(str(SEED.number))).title == SEED.title
        assert len(fake.calls("GET", "/zoneInformation")) == lookups_before
    finally:
        await unknown.close()
        await given_zone.close()


async def test_autotask_reads_ids_from_the_instance_picklists(autotask_fake: FakeAutotask) -> None:
    """A renamed status or publish option is found by its new label; nothing is hard-coded."""
    fake = autotask_fake
    seeded(fake)
    for value in fake.picklists["Tickets"]["status"]:
        if value["label"] == "Resolved":
            value["label"] = "Fixed - Awaiting Confirmation"
    connector = connector_for("autotask", fake)
    try:
        await connector.set_status(str(SEED.number), status="Fixed - Awaiting Confirmation")
        reach = await connector.test()
    finally:
        await connector.close()
    assert fake.status_of(SEED.number) == "Fixed - Awaiting Confirmation"
    assert "Legacy Closed" not in reach.statuses  # inactive values are not offered
    assert reach.note_types == ("Task Summary", "Task Notes", "Ticket Resolution", "Workflow Rule Note")
