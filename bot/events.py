"""Events the session handler yields; adapters render them and decide nothing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .commands import Actor, SessionCommand


@dataclass(frozen=True)
class Evidence:
    text: str
    status: str  # confirmed | ruled_out | pending


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    options: tuple[str, ...]
    answer: str | None = None
    answered_by: str | None = None


@dataclass(frozen=True)
class SuggestedAction:
    id: str
    text: str
    outcome: str | None = None  # done | failed
    marked_by: str | None = None


@dataclass(frozen=True)
class SessionView:
    """The live triage header: everything the cockpit message or card shows."""

    session_id: uuid.UUID
    status: str
    problem_summary: str | None
    client_name: str | None
    asset_name: str | None
    issue_category: str | None
    hypothesis: str | None
    evidence: tuple[Evidence, ...]
    confidence_tier: str
    confidence_score: float
    manual_fields: tuple[str, ...]
    owner: str
    owner_user_id: str
    platform: str
    workspace_id: str
    step_count: int
    created_at: datetime
    updated_at: datetime
    escalated_to: str | None = None
    session_rating: int | None = None
    awaiting_reply: bool = False
    questions: tuple[Question, ...] = ()
    actions: tuple[SuggestedAction, ...] = ()
    evidence_limit: int = 0  # the most evidence items the header keeps (bot.triage.MAX_EVIDENCE)
    # The flow guiding the session ("Flow: <title> · step n" with Leave flow), None when none does.
    flow_title: str | None = None
    flow_slug: str | None = None
    flow_step: int = 0

    @property
    def flow_line(self) -> str | None:
        """The header's flow line, when a flow guides the session."""
        return f"Flow: {self.flow_title} · step {self.flow_step}" if self.flow_title else None

    @property
    def evidence_full(self) -> bool:
        """The header holds as much evidence as it keeps: adding more is refused until it is not."""
        return bool(self.evidence_limit) and len(self.evidence) >= self.evidence_limit

    @property
    def evidence_heading(self) -> str:
        """The heading of the evidence list, saying so when the list is full."""
        if self.evidence_full:
            return f"What we know ({len(self.evidence)}, the most a header keeps)"
        return "What we know"

    @property
    def title(self) -> str:
        return self.problem_summary or "New troubleshooting session"


@dataclass(frozen=True)
class DraftView:
    """A handoff draft as the engineer may edit it before confirming."""

    handoff_id: uuid.UUID
    kind: str
    text: str
    root_cause: str
    steps_taken: str
    recommendations: str


@dataclass(frozen=True)
class Event:
    session_id: uuid.UUID | None


@dataclass(frozen=True)
class SessionStarted(Event):
    view: SessionView


@dataclass(frozen=True)
class Thinking(Event):
    """Claude is working on the next turn: show a status or a placeholder."""

    purpose: Literal["turn", "draft"] = "turn"


@dataclass(frozen=True)
class AssistantTurn(Event):
    step_order: int
    message: str
    questions: tuple[Question, ...]
    actions: tuple[SuggestedAction, ...]
    confidence_tier: str


@dataclass(frozen=True)
class MessageDelta(Event):
    """More of the turn's message as Claude writes it; the AssistantTurn that follows carries the whole message."""

    text: str


@dataclass(frozen=True)
class TurnCut(Event):
    """Claude stopped mid-turn after `shown` was on screen: mark it cut off (a Notice with Retry follows)."""

    shown: str


@dataclass(frozen=True)
class TriageChanged(Event):
    view: SessionView


@dataclass(frozen=True)
class QuestionAnswered(Event):
    step_order: int
    question: Question
    remaining: int  # questions of that turn still open


@dataclass(frozen=True)
class ActionMarked(Event):
    step_order: int
    action: SuggestedAction


@dataclass(frozen=True)
class DraftStarted(Event):
    kind: str


@dataclass(frozen=True)
class DraftDelta(Event):
    text: str


@dataclass(frozen=True)
class DraftFinished(Event):
    handoff_id: uuid.UUID
    kind: str
    text: str
    root_cause: str
    steps_taken: str
    recommendations: str
    ticket_note: str = ""  # the plain-text PSA note these fields make, shown before Confirm


@dataclass(frozen=True)
class StatusChanged(Event):
    old: str
    new: str
    by: str
    view: SessionView
    outputs: dict[str, str] = field(default_factory=dict)  # format -> content, on resolve/escalate
    escalated_to: Any = None  # the commands.Actor the session was escalated to, for a DM
    reason: str | None = None  # why it was escalated


@dataclass(frozen=True)
class Notice(Event):
    """A message meant for the user: a confirmation or an error they can act on."""

    text: str
    level: Literal["info", "error"] = "info"
    code: str = "info"
    retry: SessionCommand | None = None  # the command a Retry button should send
    # Meant only for the engineer who sent the command (Slack shows it ephemeral), not for the thread.
    private: bool = False
    # For code "interrupted": the unfinished turn's record, with where each adapter showed a draft that
    # was streaming when its process died (e.g. {"slack": {"channel": …, "ts": …}}), to mark it cut off.
    interrupted: Mapping[str, Any] | None = None
    # A notice made outside any command (a PSA write-back's outcome): whose session's thread it goes to.
    owner: Actor | None = None
