"""The contract's part that only one PSA has: ConnectWise's codebase, Autotask's zone and picklists, HaloPSA's tokens.

The rest of the contract, the same for all three, is test_contract.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.psa import PsaAuthFailed, PsaBadRequest, TicketNotFound
from fakes.psa.autotask import FakeAutotask
from fakes.psa.connectwise import CODEBASE, FakeConnectWise
from fakes.psa.halopsa import FakeHaloPsa
from tests.psa.conftest import Connect
from tests.psa.kinds import SEED, seeded

# ---- what only one PSA does ------------------------------------------------------------------------------


async def test_connectwise_finds_its_codebase_once(
    connect: Connect, connectwise_fake: FakeConnectWise
) -> None:
    psa_fake = connectwise_fake
    seeded(psa_fake)
    connector = connect("connectwise", psa_fake)
    await connector.get_ticket(str(SEED.number))
    await connector.add_note(str(SEED.number), text="x", kind="internal")
    lookups = psa_fake.calls("GET", "/login/companyinfo/")
    api_calls = [r for r in psa_fake.requests if "/apis/3.0/" in r.path]
    assert len(lookups) == 1 and lookups[0].path.endswith(psa_fake.company)
    assert api_calls and all(r.path.startswith(f"/{CODEBASE}apis/3.0/") for r in api_calls)
    assert all(r.headers["clientId"] == psa_fake.client_id for r in api_calls)

    unknown = connect("connectwise", psa_fake, company="nosuchco")
    with pytest.raises(PsaBadRequest) as caught:
        await unknown.get_ticket(str(SEED.number))
    assert "company id 'nosuchco'" in caught.value.message


async def test_connectwise_reads_the_description_of_a_long_ticket(
    connect: Connect, connectwise_fake: FakeConnectWise
) -> None:
    """The problem is the ticket's first description note, however many notes came after it."""
    many = tuple(f"Update {i}" for i in range(40))
    seeded(connectwise_fake, replace(SEED, notes=many))
    snapshot = await connect("connectwise", connectwise_fake).get_ticket(str(SEED.number))
    assert snapshot.description == SEED.description
    assert [n.text for n in snapshot.notes] == [
        "Update 39",
        "Update 38",
        "Update 37",
        "Update 36",
        "Update 35",
    ]


async def test_autotask_finds_the_users_zone_once(connect: Connect, autotask_fake: FakeAutotask) -> None:
    fake = autotask_fake
    seeded(fake)
    connector = connect("autotask", fake)
    by_number = await connector.get_ticket(fake.ticket_number(SEED.number))  # as the web UI shows it
    await connector.add_note(str(SEED.number), text="x", kind="internal")
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

    fake.zone_answer = {"url": "http://webservices5.evil.example/atservicesrest/", "webUrl": fake.url}
    with pytest.raises(PsaBadRequest) as refused:
        await connect("autotask", fake).get_ticket(str(SEED.number))
    assert "zone URL must be an https://" in refused.value.message
    fake.zone_answer = None

    unknown = connect("autotask", fake, username="nobody@contoso.example")
    given_zone = connect("autotask", fake, zone_url=f"{fake.url}/atservicesrest/")
    with pytest.raises(PsaBadRequest) as caught:
        await unknown.get_ticket(str(SEED.number))
    assert "API user 'nobody@contoso.example'" in caught.value.message
    lookups_before = len(fake.calls("GET", "/zoneInformation"))
    assert (await given_zone.get_ticket(str(SEED.number))).title == SEED.title
    assert len(fake.calls("GET", "/zoneInformation")) == lookups_before


async def test_autotask_reads_ids_from_the_instance_picklists(
    connect: Connect, autotask_fake: FakeAutotask
) -> None:
    """A renamed status or publish option is found by its new label; nothing is hard-coded."""
    fake = autotask_fake
    seeded(fake)
    for value in fake.picklists["Tickets"]["status"]:
        if value["label"] == "Resolved":
            value["label"] = "Fixed - Awaiting Confirmation"
    connector = connect("autotask", fake)
    await connector.set_status(str(SEED.number), status="Fixed - Awaiting Confirmation")
    reach = await connector.test()
    assert fake.status_of(SEED.number) == "Fixed - Awaiting Confirmation"
    assert "Legacy Closed" not in reach.statuses  # inactive values are not offered
    assert reach.note_types == ("Task Summary", "Task Notes", "Ticket Resolution", "Workflow Rule Note")


async def test_halopsa_renews_its_token(connect: Connect, halopsa_fake: FakeHaloPsa) -> None:
    fake = halopsa_fake
    seeded(fake)
    connector = connect("halopsa", fake)
    await connector.get_ticket(str(SEED.number))
    await connector.add_note(str(SEED.number), text="first", kind="internal")
    assert len(fake.calls("POST", "/auth/token")) == 1  # one token while it is valid

    fake.expire_tokens()  # Halo refuses the held token (401): a new one, and the call once more
    await connector.add_note(str(SEED.number), text="second", kind="internal")
    assert len(fake.calls("POST", "/auth/token")) == 2
    assert [n["note"] for n in fake.notes(SEED.number)][-2:] == ["first", "second"]

    fake.token_lifetime = 30  # shorter than the renewal margin: renewed before each use, never refused
    fake.expire_tokens()
    await connector.get_ticket(str(SEED.number))
    refused = [r for r in fake.requests if r.path.startswith("/api/")]
    tokens_before = len(fake.calls("POST", "/auth/token"))
    await connector.find_note(str(SEED.number), marker="second")
    assert len(fake.calls("POST", "/auth/token")) == tokens_before + 1
    assert len([r for r in fake.requests if r.path.startswith("/api/")]) == len(refused) + 1
    token_calls = fake.calls("POST", "/auth/token")
    assert all(r.query == {"tenant": fake.tenant} for r in token_calls)
    assert all(r.body["grant_type"] == "client_credentials" and r.body["scope"] == "all" for r in token_calls)


async def test_halopsa_refused_twice_is_auth_failed_and_a_wrong_tenant_too(
    connect: Connect, halopsa_fake: FakeHaloPsa
) -> None:
    fake = halopsa_fake
    seeded(fake)
    connector = connect("halopsa", fake)
    wrong_tenant = connect("halopsa", fake, tenant="fabrikam")
    await connector.get_ticket(str(SEED.number))
    fake.fail("/api/Tickets/", 401, times=2)
    with pytest.raises(PsaAuthFailed):
        await connector.get_ticket(str(SEED.number))
    with pytest.raises(PsaAuthFailed) as caught:
        await wrong_tenant.test()
    assert "tenant" in caught.value.message


async def test_halopsa_status_of_a_missing_ticket_creates_nothing(
    connect: Connect, halopsa_fake: FakeHaloPsa
) -> None:
    """Halo's POST /api/Tickets creates a ticket for an unknown id: the client looks first."""
    connector = connect("halopsa", halopsa_fake)
    with pytest.raises(TicketNotFound):
        await connector.set_status("424242", status="Resolved")
    assert halopsa_fake.tickets == {} and not halopsa_fake.calls("POST", "/api/Tickets")
