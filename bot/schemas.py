"""What Claude must answer with, validated with pydantic before anything is stored."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EvidenceStatus = Literal["confirmed", "ruled_out", "pending"]
ConfidenceTier = Literal["guided", "exploring", "discovery"]
HandoffKind = Literal["resolve", "escalate"]

# The tool Claude is made to call once per turn; its input is a ClaudeTurn.
TURN_TOOL_NAME = "respond"
# The tool Claude is made to call for a handoff draft; its input is a HandoffDraft.
DRAFT_TOOL_NAME = "write_handoff"


class EvidenceItem(BaseModel):
    text: str = Field(min_length=1, max_length=500)
    status: EvidenceStatus = "pending"


class TriageUpdate(BaseModel):
    """Header fields Claude inferred this turn; a field left out (None) keeps its value."""

    client_name: str | None = Field(default=None, max_length=255)
    asset_name: str | None = Field(default=None, max_length=255)
    issue_category: str | None = Field(default=None, max_length=100)
    hypothesis: str | None = Field(default=None, max_length=2000)
    evidence: list[EvidenceItem] | None = Field(default=None, max_length=30)


class QuestionItem(BaseModel):
    id: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=1000)
    options: list[str] = Field(default_factory=list, max_length=8)

    @field_validator("options")
    @classmethod
    def _options_not_blank(cls, options: list[str]) -> list[str]:
        return [o.strip()[:200] for o in options if o.strip()]


class ActionItem(BaseModel):
    id: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1, max_length=1000)


class ClaudeTurn(BaseModel):
    """One structured answer from Claude."""

    model_config = ConfigDict(extra="ignore")

    message: str = Field(min_length=1, max_length=6000)
    questions: list[QuestionItem] = Field(default_factory=list, max_length=5)
    actions: list[ActionItem] = Field(default_factory=list, max_length=8)
    triage_update: TriageUpdate | None = None
    problem_summary: str | None = Field(default=None, max_length=500)
    problem_domain: str | None = Field(default=None, max_length=100)
    confidence: float = Field(ge=0.0, le=1.0)


class HandoffFields(BaseModel):
    """The three sections of a resolution or escalation handoff."""

    root_cause: str = ""
    steps_taken: str = ""
    recommendations: str = ""


class HandoffDraft(BaseModel):
    """Claude's handoff draft, as the input of the draft tool: each section its own field, so none is guessed."""

    model_config = ConfigDict(extra="ignore")

    root_cause: str = Field(
        min_length=1,
        max_length=4000,
        description="The cause (for an escalation: the best current hypothesis and what is still unknown). "
        "Plain sentences, no heading.",
    )
    steps_taken: list[str] = Field(
        min_length=1,
        max_length=30,
        description="What was checked or tried, one step per item with its result, in order; no numbering.",
    )
    recommendations: str = Field(
        max_length=4000, description="What to do next, and how to prevent it. No heading."
    )

    @field_validator("steps_taken")
    @classmethod
    def _steps_not_blank(cls, steps: list[str]) -> list[str]:
        kept = [step.strip()[:2000] for step in steps if step.strip()]
        if not kept:
            raise ValueError("at least one step is required")
        return kept

    def fields(self) -> HandoffFields:
        """The sections as stored and shown: the steps as a numbered list."""
        return HandoffFields(
            root_cause=self.root_cause.strip(),
            steps_taken=numbered(self.steps_taken),
            recommendations=self.recommendations.strip(),
        )


def numbered(steps: list[str]) -> str:
    """Steps as a numbered list; a step's own line breaks are indented under it, so it stays one step."""
    return "\n".join(f"{n}. " + step.replace("\n", "\n   ") for n, step in enumerate(steps, 1))


def confidence_tier(score: float) -> ConfidenceTier:
    """guided above 0.8, exploring from 0.4 to 0.8, discovery below 0.4."""
    if score > 0.8:
        return "guided"
    if score >= 0.4:
        return "exploring"
    return "discovery"
