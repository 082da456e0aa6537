"""One Retry codec for every platform: a command travels in a short value and comes back only for its actor."""

from __future__ import annotations

import uuid

import pytest

from bot import retry_codec
from bot.commands import (
    Actor,
    AnswerQuestion,
    DraftHandoff,
    EditTriage,
    Escalate,
    MarkAction,
    Rate,
    Resolve,
    RetryTurn,
    SessionCommand,
    UserMessage,
)
from bot.intake import Attachment
from bot.schemas import HandoffFields

ALICE = Actor("slack", "T0ACME", "U0ALICE001", "Alice")
BOB = Actor("slack", "T0ACME", "U0BOB00001", "Bob")
SID = uuid.UUID("6f0b7c1e-2d3a-4b5c-8d9e-0a1b2c3d4e5f")

COMMANDS: list[SessionCommand] = [
    RetryTurn(actor=ALICE, session_id=SID),
    DraftHandoff(actor=ALICE, session_id=SID, kind="escalate"),
    AnswerQuestion(actor=ALICE, session_id=SID, question_id="q1", answer="Yes | through the VPN"),
    MarkAction(actor=ALICE, session_id=SID, action_id="a2", outcome="failed"),
    UserMessage(actor=ALICE, session_id=SID, text='Still "failing"\nafter the reboot'),
    EditTriage(actor=ALICE, session_id=SID, changes={"client_name": "Contoso"}, add_evidence=("a", "b")),
    Resolve(actor=ALICE, session_id=SID, fields=HandoffFields(root_cause="Expired certificate")),
    Escalate(actor=ALICE, session_id=SID, to=Actor("slack", "T0ACME", "U0BOB00001", "Bob"), reason="tier 2"),
    Rate(actor=ALICE, session_id=SID, rating=4),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_a_retryable_command_comes_back_the_same_for_the_engineer_who_asked(command: SessionCommand) -> None:
    value = retry_codec.encode(command)
    assert value is not None and len(value) <= retry_codec.VALUE_LIMIT
    assert retry_codec.session_of(value) == SID
    assert retry_codec.decode(value, ALICE) == command


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_another_engineers_retry_is_refused(command: SessionCommand) -> None:
    value = retry_codec.encode(command)
    assert value is not None
    with pytest.raises(retry_codec.NotYours) as refused:
        retry_codec.decode(value, BOB)
    assert refused.value.message == retry_codec.NOT_YOURS
    # The same user id in another workspace is someone else too.
    with pytest.raises(retry_codec.NotYours):
        retry_codec.decode(value, Actor("slack", "T0OTHER", ALICE.user_id))


def test_the_value_names_nobody() -> None:
    value = retry_codec.encode(RetryTurn(actor=ALICE, session_id=SID))
    assert value is not None and ALICE.user_id not in value and ALICE.workspace_id not in value


def test_what_cannot_travel_in_a_button_has_no_value() -> None:
    with_file = UserMessage(
        actor=ALICE, session_id=SID, text="see log", attachments=(Attachment("a.log", "text/plain", b"x"),)
    )
    assert retry_codec.encode(with_file) is None
    assert retry_codec.encode(UserMessage(actor=ALICE, session_id=SID, text="x" * 3000)) is None
    assert retry_codec.encode(UserMessage(actor=ALICE, session_id=SID, text="x" * 3000), limit=8000)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "turn",
        f"turn|{SID}",
        f"nothing|{SID}|abc",
        "turn|not-a-uuid|abc",
        f"mark|{SID}|{{who}}|{{bad json",
    ],
)
def test_a_value_that_is_not_ours_is_refused_with_a_clear_message(value: str) -> None:
    with pytest.raises(retry_codec.Unreadable) as refused:
        retry_codec.decode(value.replace("{who}", retry_codec.whose(ALICE)), ALICE)
    assert refused.value.message == retry_codec.UNREADABLE


def test_arguments_that_do_not_fit_the_command_are_refused() -> None:
    who = retry_codec.whose(ALICE)
    with pytest.raises(retry_codec.Unreadable):
        retry_codec.decode(f'mark|{SID}|{who}|{{"id":"a1","o":"exploded"}}', ALICE)
    with pytest.raises(retry_codec.Unreadable):
        retry_codec.decode(f'draft|{SID}|{who}|{{"kind":"delete"}}', ALICE)
