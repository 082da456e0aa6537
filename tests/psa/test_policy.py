"""The pure rules of issue 15, by table: which ticket numbers are accepted, what a ticket fills in, how a
note is marked, what a refused ticket tells the engineer."""

from __future__ import annotations

import uuid

import pytest

from bot.errors import IntakeError
from bot.psa import PsaAuthFailed, PsaBadRequest, PsaError, PsaUnavailable, TicketNotFound
from bot.psa_connections import check_settings
from bot.psa_intake import TicketStart, _refusal, redacted, ticket_number
from bot.psa_writeback import marker, note_kind


@pytest.mark.parametrize(
    ("typed", "number"),
    [("12345", "12345"), ("#12345", "12345"), (" T20250303.0042 ", "T20250303.0042"), ("1042", "1042")],
)
def test_ticket_numbers_as_engineers_type_them(typed: str, number: str) -> None:
    assert ticket_number(typed) == number


@pytest.mark.parametrize(
    "typed", ["", "12 34", "../../admin", "1;DROP", "x" * 41, "12345?expand=all", "%2e%2e"]
)
def test_anything_else_never_reaches_a_psa_url(typed: str) -> None:
    with pytest.raises(IntakeError, match="is not a ticket number"):
        ticket_number(typed)


def _ticket(**data: object) -> TicketStart:
    base: dict[str, object] = {
        "number": "1",
        "title": "t",
        "company": "Contoso Ltd",
        "configurations": ["LT-1", "DOCK"],
    }
    return TicketStart(connection_id=uuid.uuid4(), number="1", data={**base, **data}, prompt="")


@pytest.mark.parametrize(
    ("engineer_input", "intake"),
    [
        ("free_text", "psa_ticket"),
        ("psa_ticket", "psa_ticket"),
        ("log_paste", "combined"),
        ("screenshot", "combined"),
    ],
)
def test_a_ticket_fills_the_header_and_the_intake_type(engineer_input: str, intake: str) -> None:
    columns = _ticket().columns(engineer_input)
    assert columns["intake_type"] == intake
    assert (columns["client_name"], columns["asset_name"]) == ("Contoso Ltd", "LT-1")
    assert columns["manual_fields"] == ["client_name", "asset_name"]


def test_a_ticket_without_company_or_configuration_leaves_them_to_claude() -> None:
    columns = _ticket(company=None, configurations=[]).columns("free_text")
    assert columns["client_name"] is None and columns["asset_name"] is None and columns["manual_fields"] == []


def test_every_text_of_a_snapshot_is_redacted() -> None:
    data = redacted(
        {
            "description": "password: Hunter2Secret!",
            "notes": [{"text": "api_key=sk-live-abcdef0123456789abcd"}],
        }
    )
    assert "Hunter2Secret!" not in str(data) and "sk-live-abcdef0123456789abcd" not in str(data)


@pytest.mark.parametrize(
    ("handoff", "visibility", "kind"),
    [("resolve", "internal", "resolution"), ("resolve", "public", "public"),
     ("escalate", "internal", "internal"), ("escalate", "public", "internal")],
)  # fmt: skip
def test_how_a_note_is_marked(handoff: str, visibility: str, kind: str) -> None:
    assert note_kind(handoff, visibility) == kind


def test_the_marker_names_the_handoff() -> None:
    handoff = uuid.uuid4()
    assert marker(handoff) == f"[FlowPilot {handoff}]"


@pytest.mark.parametrize(
    ("error", "code", "says", "retryable"),
    [
        (TicketNotFound("x"), "not_found", "was not found in ConnectWise", False),
        (PsaAuthFailed("x"), "psa_refused", "refused FlowPilot's credentials", False),
        (PsaUnavailable("timed out"), "psa_unavailable", "did not answer in time (timed out)", True),
        (PsaBadRequest("bad field"), "psa_refused", "bad field", False),
    ],
)
def test_what_a_refused_ticket_tells(error: PsaError, code: str, says: str, retryable: bool) -> None:
    refusal = _refusal(error, psa="ConnectWise", number="12345")
    assert refusal.code == code and says in refusal.message and refusal.retryable is retryable
    assert refusal.private


@pytest.mark.parametrize(
    ("kind", "settings", "problem"),
    [
        ("connectwise", {"url": "https://na.myconnectwise.net"}, "--company, --public-key, --client-id"),
        ("halopsa", {"url": "http://halo.example.com", "client_id": "c"}, "https://"),
        ("autotask", {"username": "u"}, "--integration-code"),
        ("servicenow", {}, "Unknown PSA"),
    ],
)
def test_connection_settings_say_what_is_missing_or_wrong(
    kind: str, settings: dict[str, str], problem: str
) -> None:
    with pytest.raises(IntakeError, match=problem.replace("-", "\\-").replace(".", "\\.")):
        check_settings(kind, settings)


def test_connection_settings_keep_only_their_psas_keys_and_an_https_url() -> None:
    kept = check_settings("halopsa", {"url": "contoso.halopsa.com/", "client_id": "c", "company": "ignored"})
    assert kept == {"url": "https://contoso.halopsa.com", "client_id": "c"}
