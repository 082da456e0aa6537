"""Session commands: what an engineer asks FlowPilot to do, whatever platform it came from.

A Slack button click and a Teams card submit become the same command; adapters only translate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from .intake import Attachment
from .schemas import EvidenceStatus, HandoffFields, HandoffKind

Platform = Literal["slack", "teams", "api", "shell"]
ActionOutcome = Literal["done", "failed"]
TRIAGE_FIELDS = ("problem_summary", "client_name", "asset_name", "issue_category", "hypothesis")


@dataclass(frozen=True)
class Actor:
    """Who acts: a user of one account (a Slack workspace, a Teams tenant, an API token's account)."""

    platform: str
    workspace_id: str
    user_id: str
    display_name: str = ""
    # The interface the command came through when it is not the account's own platform (e.g. "api").
    via: str = ""

    @property
    def name(self) -> str:
        return self.display_name or self.user_id

    @property
    def origin(self) -> str:
        """Where a change came from, so the adapter that made it does not render it twice."""
        return self.via or self.platform


@dataclass(frozen=True)
class ThreadRef:
    """A chat thread that becomes (or is) a session."""

    platform: str
    workspace_id: str
    channel_id: str
    thread_id: str


@dataclass(frozen=True, kw_only=True)
class Command:
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class SessionCommand(Command):
    session_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class StartSession(Command):
    text: str
    attachments: tuple[Attachment, ...] = ()
    thread: ThreadRef | None = None
    psa_ticket_id: str | None = None
    header_message_id: str | None = None
    # Adapter-owned facts about the thread (a DM, a conversation reference), kept on its binding.
    thread_extra: dict[str, Any] = field(default_factory=dict)
    # Start directly on this flow (its id or slug): no matching, the flow guides the session from its start.
    flow: str | None = None


@dataclass(frozen=True, kw_only=True)
class UserMessage(SessionCommand):
    text: str
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AnswerQuestion(SessionCommand):
    question_id: str
    answer: str


@dataclass(frozen=True, kw_only=True)
class MarkAction(SessionCommand):
    action_id: str
    outcome: ActionOutcome


@dataclass(frozen=True, kw_only=True)
class EditTriage(SessionCommand):
    """Manual header edits; a field set to "" clears it. Keys are from TRIAGE_FIELDS."""

    changes: dict[str, str] = field(default_factory=dict)
    add_evidence: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SetEvidenceStatus(SessionCommand):
    index: int  # 1-based, as shown to the engineer
    status: EvidenceStatus


@dataclass(frozen=True, kw_only=True)
class DraftHandoff(SessionCommand):
    kind: HandoffKind


@dataclass(frozen=True, kw_only=True)
class DiscardDraft(SessionCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class Resolve(SessionCommand):
    """Confirm the resolution; fields left None come from the latest draft."""

    fields: HandoffFields | None = None


@dataclass(frozen=True, kw_only=True)
class Escalate(SessionCommand):
    """Confirm the escalation to `to` (None: any engineer of the account may take it over)."""

    to: Actor | None = None
    reason: str = ""
    fields: HandoffFields | None = None


@dataclass(frozen=True, kw_only=True)
class TakeOver(SessionCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class Pause(SessionCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class Resume(SessionCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class Abandon(SessionCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class Rate(SessionCommand):
    rating: int
    feedback: str | None = None
    # A given rating changes only when the engineer asks for that (a typed or API rating), never because an
    # old rating button was pressed again.
    replace: bool = False


@dataclass(frozen=True, kw_only=True)
class RetryTurn(SessionCommand):
    """Ask Claude again for the reply that failed or was interrupted."""


@dataclass(frozen=True, kw_only=True)
class LeaveFlow(SessionCommand):
    """Stop following the flow: its answers stay as evidence, and Claude takes over (tier exploring)."""


@dataclass(frozen=True, kw_only=True)
class GetStatus(SessionCommand):
    """Show the header again (no change)."""


@dataclass(frozen=True, kw_only=True)
class RetryWriteBack(SessionCommand):
    """Post the session's ticket note to its PSA again, after the write-back failed for good."""
