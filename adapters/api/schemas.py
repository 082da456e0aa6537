"""Request and response models of the REST API; the OpenAPI document is generated from them."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    field_validator,
)

from bot.schemas import ConfidenceTier, EvidenceStatus, HandoffKind

SessionStatus = Literal["active", "paused", "resolved", "escalated", "requesting_escalation", "abandoned"]

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot hold lone surrogates: drop both."""
    return _UNSTORABLE.sub("", text)


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date is out of range") from None


Text = Annotated[str, AfterValidator(_storable)]
Ident = Annotated[str, Field(max_length=255), AfterValidator(_storable)]
Instant = Annotated[AwareDatetime, AfterValidator(_utc)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Acting(_In):
    """Who acts: defaults to the X-FlowPilot-User / X-FlowPilot-User-Name headers, then "api"."""

    user_id: Ident | None = Field(default=None, description="The engineer's user id in the token's account.")
    user_name: Ident | None = Field(default=None, description="Their display name.")


# ── requests ───────────────────────────────────────────────────────────────────────────────────────────
class AttachmentIn(_In):
    filename: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_storable)]
    media_type: Annotated[str, Field(max_length=100)] | None = None
    content_base64: str = Field(
        json_schema_extra={"contentEncoding": "base64"},
        description="The file's bytes, base64-encoded (a log, a text file or a screenshot).",
    )

    @field_validator("content_base64")
    @classmethod
    def _decodable(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not valid base64") from None
        return value

    @property
    def data(self) -> bytes:
        return base64.b64decode(self.content_base64)


class StartSessionIn(Acting):
    text: Annotated[Text, Field(max_length=200_000)] = Field(default="", description="The problem.")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)
    psa_ticket_id: Annotated[Text, Field(max_length=100)] | None = None
    flow: Annotated[Text, Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="Start directly on this flow (its id or slug): it guides the session."
    )


class TextTurnIn(Acting):
    text: Annotated[Text, Field(max_length=200_000)] = ""
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)


class AnswerIn(_In):
    question_id: Annotated[str, Field(min_length=1, max_length=100)]
    answer: Annotated[Text, Field(min_length=1, max_length=2000)]


class AnswerTurnIn(Acting):
    answer: AnswerIn


class ActionIn(_In):
    action_id: Annotated[str, Field(min_length=1, max_length=100)]
    outcome: Literal["done", "failed"]


class ActionTurnIn(Acting):
    action: ActionIn


class RetryTurnIn(Acting):
    retry: Literal[True] = Field(description="Ask Claude again for the reply that failed.")


class LeaveFlowTurnIn(Acting):
    leave_flow: Literal[True] = Field(description="Stop following the flow; Claude takes over.")


def _turn_kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("answer", "action", "retry", "leave_flow"):
            if key in value:
                return key
    elif isinstance(value, BaseModel):
        kinds = {
            AnswerTurnIn: "answer",
            ActionTurnIn: "action",
            RetryTurnIn: "retry",
            LeaveFlowTurnIn: "leave_flow",
        }
        return kinds.get(type(value), "text")
    return "text"


class MessageIn(RootModel[Any]):
    """A turn: text (with attachments), an answer to a question, a suggested step's outcome, or a retry."""

    root: Annotated[
        Annotated[TextTurnIn, Tag("text")]
        | Annotated[AnswerTurnIn, Tag("answer")]
        | Annotated[ActionTurnIn, Tag("action")]
        | Annotated[RetryTurnIn, Tag("retry")]
        | Annotated[LeaveFlowTurnIn, Tag("leave_flow")],
        Discriminator(_turn_kind),
    ]


class EvidenceStatusIn(_In):
    # Strict: JSON true is not the number 1.
    index: int = Field(strict=True, ge=1, le=1000, description="1-based, as the header lists the evidence.")
    status: EvidenceStatus


class TriagePatchIn(Acting):
    """Manual header edits: a field left out is unchanged, "" or null clears it (Claude may then set it)."""

    problem_summary: Annotated[Text, Field(max_length=10_000)] | None = None
    client_name: Annotated[Text, Field(max_length=10_000)] | None = None
    asset_name: Annotated[Text, Field(max_length=10_000)] | None = None
    issue_category: Annotated[Text, Field(max_length=10_000)] | None = None
    hypothesis: Annotated[Text, Field(max_length=10_000)] | None = None
    add_evidence: list[Annotated[Text, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=30
    )
    evidence_status: list[EvidenceStatusIn] = Field(default_factory=list, max_length=30)


class DraftIn(Acting):
    kind: HandoffKind


class ResolveIn(Acting):
    """The handoff sections; a section left out is taken from the latest draft."""

    root_cause: Annotated[Text, Field(max_length=20_000)] | None = None
    steps_taken: Annotated[Text, Field(max_length=20_000)] | None = None
    recommendations: Annotated[Text, Field(max_length=20_000)] | None = None


class EscalateIn(ResolveIn):
    to_user_id: Ident | None = Field(default=None, description="The receiving engineer; none: anyone.")
    to_user_name: Ident | None = None
    reason: Annotated[Text, Field(max_length=2000)] = ""


class RatingIn(Acting):
    rating: int = Field(strict=True, ge=1, le=5)
    feedback: Annotated[Text, Field(max_length=4000)] | None = None


class ListQuery(_In):
    status: list[SessionStatus] = Field(default_factory=list, description="Repeat to match several.")
    user: Ident | None = Field(default=None, description="The owner's user id.")
    client: Annotated[Text, Field(max_length=255)] | None = Field(
        default=None, description="Case-insensitive part of the client name."
    )
    created_after: Instant | None = Field(default=None, description="Inclusive.")
    created_before: Instant | None = Field(default=None, description="Exclusive.")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="next_cursor of the previous page."
    )


# ── responses ──────────────────────────────────────────────────────────────────────────────────────────
class EvidenceOut(BaseModel):
    text: str
    status: EvidenceStatus
    manual: bool = Field(description="Set by an engineer; Claude's updates keep it.")


class QuestionOut(BaseModel):
    id: str
    text: str
    options: list[str]
    answer: str | None
    answered_by: str | None


class SuggestedActionOut(BaseModel):
    id: str
    text: str
    outcome: str | None
    marked_by: str | None


class StepOut(BaseModel):
    step_order: int
    role: Literal["user", "assistant"]
    kind: str
    content: str
    user_id: str | None
    images: int
    questions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    triage_update: dict[str, Any] | None
    confidence_score: float | None
    input_tokens: int
    output_tokens: int
    created_at: datetime


class OutputsOut(BaseModel):
    """What the ResolutionOutputGenerator made: a PSA ticket note, markdown, and a JSON document."""

    plain: str
    markdown: str
    json_document: dict[str, Any] = Field(alias="json")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class HandoffOut(BaseModel):
    id: uuid.UUID
    kind: HandoffKind
    status: Literal["draft", "confirmed", "discarded"]
    draft_text: str
    root_cause: str
    steps_taken: str
    recommendations: str
    from_user_id: str | None
    to_user_id: str | None
    input_tokens: int
    output_tokens: int
    created_at: datetime
    confirmed_at: datetime | None
    outputs: OutputsOut | None


class TokensOut(BaseModel):
    input: int
    output: int
    cache_read: int
    cache_creation: int


class SessionSummary(BaseModel):
    id: uuid.UUID
    status: SessionStatus
    title: str
    problem_summary: str | None
    client_name: str | None
    asset_name: str | None
    issue_category: str | None
    hypothesis: str | None
    confidence_tier: ConfidenceTier
    confidence_score: float
    owner_user_id: str
    owner_name: str
    escalated_to: str | None
    step_count: int
    rating: int | None
    created_at: datetime
    updated_at: datetime


class FlowOut(BaseModel):
    title: str
    slug: str | None
    step: int
    line: str = Field(description='What the header shows: "Flow: <title> · step n".')


class PsaWritebackOut(BaseModel):
    """The ticket note's write-back to the PSA: pending until posted, or failed (Retry in the chat)."""

    state: Literal["pending", "posted", "failed"]
    ticket: str
    note_id: str | None
    error: str | None
    attempts: int
    updated_at: datetime


class SessionDetail(SessionSummary):
    platform: str
    workspace_id: str
    intake_type: str
    psa_ticket_id: str | None
    problem_domain: str | None
    triage_hypothesis: str | None = Field(description="The seed's name for `hypothesis` (the same value).")
    evidence: list[EvidenceOut]
    evidence_items: list[EvidenceOut] = Field(description="The seed's name for `evidence` (the same items).")
    evidence_limit: int = Field(
        description="The most evidence items a header keeps; adding more is refused (422) until some are gone."
    )
    manual_fields: list[str]
    awaiting_reply: bool = Field(description="Claude owes a reply (a failed turn): send {'retry': true}.")
    questions: list[QuestionOut] = Field(description="The latest turn's questions.")
    actions: list[SuggestedActionOut] = Field(description="The latest turn's suggested steps.")
    escalated_to_user_id: str | None
    escalation_reason: str | None
    resolution_summary: str | None
    feedback: str | None
    handoff_count: int
    tokens: TokensOut
    last_activity_at: datetime
    resolved_at: datetime | None
    active_seconds: int
    parked_seconds: int
    steps: list[StepOut]
    handoffs: list[HandoffOut]
    outputs: OutputsOut | None = Field(description="The outputs of the confirmed handoff, once there is one.")
    flow: FlowOut | None = Field(default=None, description="The flow guiding the session, while one does.")
    ticket_data: dict[str, Any] | None = Field(
        default=None, description="The PSA ticket it started from, redacted."
    )
    psa_writeback: PsaWritebackOut | None = None


class TurnOut(BaseModel):
    step_order: int
    message: str
    questions: list[QuestionOut]
    actions: list[SuggestedActionOut]
    confidence_tier: ConfidenceTier


class TurnResponse(BaseModel):
    session: SessionDetail
    turn: TurnOut | None = Field(description="Claude's answer, when this call produced one.")
    notices: list[str] = Field(description="Confirmations and notes meant for the engineer.")


class HandoffResult(BaseModel):
    session: SessionDetail
    handoff_id: uuid.UUID
    outputs: OutputsOut


class SessionPage(BaseModel):
    items: list[SessionSummary]
    next_cursor: str | None
