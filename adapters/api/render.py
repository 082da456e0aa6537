"""Core views and records turned into the API's response models."""

from __future__ import annotations

import json

from bot.events import AssistantTurn, Question, SessionView, SuggestedAction
from bot.queries import HandoffRecord, SessionRecord
from bot.triage import MAX_EVIDENCE

from .schemas import (
    EvidenceOut,
    FlowOut,
    HandoffOut,
    OutputsOut,
    QuestionOut,
    SessionDetail,
    SessionSummary,
    StepOut,
    SuggestedActionOut,
    TokensOut,
    TurnOut,
)


def outputs(formats: dict[str, str]) -> OutputsOut | None:
    if not {"plain", "markdown", "json"} <= formats.keys():
        return None
    try:
        document = json.loads(formats["json"])
    except ValueError:
        document = {"content": formats["json"]}
    return OutputsOut(plain=formats["plain"], markdown=formats["markdown"], json=document)


def question(q: Question) -> QuestionOut:
    return QuestionOut(
        id=q.id, text=q.text, options=list(q.options), answer=q.answer, answered_by=q.answered_by
    )


def action(a: SuggestedAction) -> SuggestedActionOut:
    return SuggestedActionOut(id=a.id, text=a.text, outcome=a.outcome, marked_by=a.marked_by)


def turn(t: AssistantTurn) -> TurnOut:
    return TurnOut(
        step_order=t.step_order,
        message=t.message,
        questions=[question(q) for q in t.questions],
        actions=[action(a) for a in t.actions],
        confidence_tier=t.confidence_tier,  # type: ignore[arg-type]
    )


def _summary_fields(v: SessionView) -> dict[str, object]:
    return {
        "id": v.session_id,
        "status": v.status,
        "title": v.title,
        "problem_summary": v.problem_summary,
        "client_name": v.client_name,
        "asset_name": v.asset_name,
        "issue_category": v.issue_category,
        "hypothesis": v.hypothesis,
        "confidence_tier": v.confidence_tier,
        "confidence_score": v.confidence_score,
        "owner_user_id": v.owner_user_id,
        "owner_name": v.owner,
        "escalated_to": v.escalated_to,
        "step_count": v.step_count,
        "rating": v.session_rating,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
    }


def summary(v: SessionView) -> SessionSummary:
    return SessionSummary.model_validate(_summary_fields(v))


def _handoff(h: HandoffRecord) -> HandoffOut:
    return HandoffOut(
        id=h.id,
        kind=h.kind,  # type: ignore[arg-type]
        status=h.status,  # type: ignore[arg-type]
        draft_text=h.draft_text,
        root_cause=h.root_cause,
        steps_taken=h.steps_taken,
        recommendations=h.recommendations,
        from_user_id=h.from_user_id,
        to_user_id=h.to_user_id,
        input_tokens=h.input_tokens,
        output_tokens=h.output_tokens,
        created_at=h.created_at,
        confirmed_at=h.confirmed_at,
        outputs=outputs(h.outputs),
    )


def detail(record: SessionRecord) -> SessionDetail:
    v, s = record.view, record.row
    confirmed = record.confirmed
    evidence = [EvidenceOut(**e) for e in record.evidence]
    return SessionDetail.model_validate(
        {
            **_summary_fields(v),
            "platform": v.platform,
            "workspace_id": v.workspace_id,
            "intake_type": s.intake_type,
            "psa_ticket_id": s.psa_ticket_id,
            "flow": flow(v),
            "problem_domain": s.problem_domain,
            "triage_hypothesis": v.hypothesis,
            "evidence": evidence,
            "evidence_items": evidence,
            "evidence_limit": MAX_EVIDENCE,
            "manual_fields": list(v.manual_fields),
            "awaiting_reply": v.awaiting_reply,
            "questions": [question(q) for q in v.questions],
            "actions": [action(a) for a in v.actions],
            "escalated_to_user_id": record.escalated_to_user_id,
            "escalation_reason": s.escalation_reason,
            "resolution_summary": s.resolution_summary,
            "feedback": s.session_feedback,
            "handoff_count": s.handoff_count,
            "tokens": TokensOut(
                input=s.total_input_tokens,
                output=s.total_output_tokens,
                cache_read=s.total_cache_read_tokens,
                cache_creation=s.total_cache_creation_tokens,
            ),
            "last_activity_at": s.last_activity_at,
            "resolved_at": s.resolved_at,
            "active_seconds": s.total_active_seconds,
            "parked_seconds": s.total_parked_seconds,
            "steps": [
                StepOut(
                    step_order=st.step_order,
                    role=st.role,  # type: ignore[arg-type]
                    kind=st.kind,
                    content=st.content,
                    user_id=st.user_id,
                    images=st.images,
                    questions=st.questions,
                    actions=st.actions,
                    triage_update=st.triage_update,
                    confidence_score=st.confidence_score,
                    input_tokens=st.input_tokens,
                    output_tokens=st.output_tokens,
                    created_at=st.created_at,
                )
                for st in record.steps
            ],
            "handoffs": [_handoff(h) for h in record.handoffs],
            "outputs": outputs(confirmed.outputs) if confirmed else None,
            "ticket_data": s.ticket_data,
            "psa_writeback": record.psa_writeback,
        }
    )


def flow(v: SessionView) -> FlowOut | None:
    """Where the session stands in the flow guiding it (None when none does)."""
    if v.flow_title is None or v.flow_line is None:
        return None
    return FlowOut(title=v.flow_title, slug=v.flow_slug, step=v.flow_step, line=v.flow_line)
