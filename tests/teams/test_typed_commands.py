"""What counts as a typed command: the word alone, or escalate with its own arguments (a table, as bot/intake's)."""

from __future__ import annotations

import pytest

from adapters.teams.commands import Typed, parse_typed

COMMANDS = [
    ("pause", Typed("pause", "")),
    ("Pause", Typed("pause", "")),
    ("  resume. ", Typed("resume", "")),
    ("/status", Typed("status", "")),
    ("Status?", Typed("status", "")),
    ("resolve!", Typed("resolve", "")),
    ("help", Typed("help", "")),
    ("LIST", Typed("list", "")),
    ("escalate", Typed("escalate", "")),
    (
        "escalate <at>Bob</at> the mailbox is corrupt",
        Typed("escalate", "<at>Bob</at> the mailbox is corrupt"),
    ),
    (
        "Escalate to tier 2 because the mailbox is corrupt",
        Typed("escalate", "to tier 2 because the mailbox is corrupt"),
    ),
    ("escalate because the mailbox is corrupt", Typed("escalate", "because the mailbox is corrupt")),
    ("escalate: mailbox corrupt", Typed("escalate", "mailbox corrupt")),
    ("escalate - mailbox corrupt", Typed("escalate", "- mailbox corrupt")),
]
PROBLEM_TEXT = [
    "Status code 0x80070005 when the installer runs",
    "Pause Windows Updates was enabled by GPO",
    "Escalated privileges error when running setup",
    "escalate the mailbox is corrupt",
    "Resolve-DnsName fails for the DC",
    "resolve dns fails",
    "help me with Outlook",
    "list of mailboxes is empty",
    "pause.exe crashed",
    "",
]


@pytest.mark.parametrize(("message", "expected"), COMMANDS)
def test_a_command_word_alone_or_escalate_with_its_arguments_is_a_command(
    message: str, expected: Typed
) -> None:
    assert parse_typed(message) == expected


@pytest.mark.parametrize("message", PROBLEM_TEXT)
def test_text_that_merely_starts_with_a_command_word_is_problem_text(message: str) -> None:
    assert parse_typed(message) is None
