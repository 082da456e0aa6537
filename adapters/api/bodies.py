"""What the REST API answers besides sessions: error bodies, and the events of its event streams."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from bot.schemas import HandoffKind


class DraftDeltaOut(BaseModel):
    """The `delta` event of a handoff draft stream: the next piece of text."""

    text: str


class DraftDone(BaseModel):
    """The `done` event of a handoff draft stream."""

    handoff_id: uuid.UUID
    kind: HandoffKind
    text: str
    root_cause: str
    steps_taken: str
    recommendations: str
    ticket_note: str = Field(
        description="The plain-text PSA ticket note these fields make, as Confirm will produce it."
    )


class FieldError(BaseModel):
    loc: list[str | int]
    message: str
    type: str


class RetryHint(BaseModel):
    method: str
    path: str
    body: dict[str, Any]


class ErrorInfo(BaseModel):
    code: str
    message: str
    retryable: bool = False
    session_id: uuid.UUID | None = None
    fields: list[FieldError] | None = None
    retry: RetryHint | None = Field(default=None, description="The request that retries, when one can.")


class ErrorBody(BaseModel):
    error: ErrorInfo


class MessageDeltaOut(BaseModel):
    """The `delta` event of a streamed turn: more of Claude's message (the `done` turn's message is whole)."""

    text: str


class TurnCutOut(BaseModel):
    """The `cut` event of a streamed turn: Claude stopped after `shown`; nothing of it was stored."""

    shown: str
    retry: RetryHint | None = Field(description="The request that asks Claude again.")
