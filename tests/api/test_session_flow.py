"""A session driven end to end through the REST API: started, advanced, edited, drafted, resolved, rated."""

from __future__ import annotations

import base64

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import SessionHandoff, SessionResolutionOutput
from tests.api.conftest import Api
from tests.structured_draft import ISSUE_DRAFT, RECOMMENDATIONS, ROOT_CAUSE, STEPS_TAKEN, filed_note

LOG = "2026-11-20 08:01:13 INFO spooler started\n2026-11-20 08:02:44 ERROR job 17 stuck in queue PRN-2\n"


async def test_a_session_from_start_to_rating(api: Api, db: async_sessionmaker[AsyncSession]) -> None:
    started = await api.start(
        "Users at Contoso cannot print to PRN-2 since this morning",
        attachments=[
            {
                "filename": "spooler.log",
                "media_type": "text/plain",
                "content_base64": base64.b64encode(LOG.encode()).decode(),
            }
        ],
    )
    session, turn = started["session"], started["turn"]
    sid = session["id"]
    assert session["status"] == "active" and session["owner_user_id"] == "U-ALICE"
    assert session["intake_type"] == "log_paste"
    assert "job 17 stuck" in session["steps"][0]["content"]
    assert turn["message"] and turn["questions"] and turn["actions"]
    assert session["questions"] == turn["questions"]

    # An answer to one of two questions waits for the other; answering twice is a conflict.
    q1, q2 = turn["questions"]
    _, after_answer = await api.call(
        "POST",
        f"/api/ai-sessions/{sid}/messages",
        {"answer": {"question_id": q1["id"], "answer": "Several"}},
        expect=200,
    )
    assert after_answer["turn"] is None and "1 more question" in after_answer["notices"][0]
    assert after_answer["session"]["questions"][0]["answer"] == "Several"
    status, again = await api.call(
        "POST",
        f"/api/ai-sessions/{sid}/messages",
        {"answer": {"question_id": q1["id"], "answer": "Everyone"}},
    )
    assert status == 409 and again["error"]["code"] == "already_answered"

    _, after_q2 = await api.call(
        "POST", f"/api/ai-sessions/{sid}/messages", {"answer": {"question_id": q2["id"], "answer": "Today"}}
    )
    turn2 = after_q2["turn"]  # every question answered: Claude took the next turn
    assert turn2["step_order"] > turn["step_order"] and turn2["actions"]
    action = turn2["actions"][0]
    _, after_action = await api.call(
        "POST",
        f"/api/ai-sessions/{sid}/messages",
        {"action": {"action_id": action["id"], "outcome": "failed"}, "user_id": "U-BOB", "user_name": "Bob"},
        expect=200,
    )
    assert after_action["turn"] is None  # the rest of that turn is still open
    assert after_action["session"]["actions"][0] == {**action, "outcome": "failed", "marked_by": "Bob"}
    marked = [s for s in after_action["session"]["steps"] if s["kind"] == "action_result"]
    assert marked and marked[0]["user_id"] == "U-BOB"

    _, after_text = await api.call(
        "POST", f"/api/ai-sessions/{sid}/messages", {"text": "Restarting the spooler fixed it"}, expect=200
    )
    assert after_text["turn"]["step_order"] > turn2["step_order"]

    # Manual triage edits win over Claude's and are listed as manual.
    _, edited = await api.call(
        "PATCH",
        f"/api/ai-sessions/{sid}/triage",
        {
            "client_name": "Contoso Ltd",
            "hypothesis": "Stuck job 17 blocked the spooler",
            "add_evidence": ["Spooler restart cleared the queue"],
            "evidence_status": [{"index": 1, "status": "confirmed"}],
        },
        expect=200,
    )
    assert (
        edited["client_name"] == "Contoso Ltd" and edited["hypothesis"] == "Stuck job 17 blocked the spooler"
    )
    assert {"client_name", "hypothesis"} <= set(edited["manual_fields"])
    assert edited["evidence"][0]["status"] == "confirmed" and edited["evidence"][0]["manual"]
    assert edited["evidence"][-1] == {
        "text": "Spooler restart cleared the queue",
        "status": "pending",
        "manual": True,
    }

    # The draft streams: the deltas make up the text the done event parsed.
    events = await api.draft(sid)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "done" and kinds.count("delta") >= 2 and set(kinds[:-1]) == {"delta"}
    done = events[-1][1]
    assert "".join(d["text"] for e, d in events if e == "delta") == done["text"]
    assert (
        done["root_cause"] and done["steps_taken"] and done["recommendations"] and done["kind"] == "resolve"
    )

    # Resolve with an edited root cause; the other sections come from the draft.
    _, resolved = await api.call(
        "POST",
        f"/api/ai-sessions/{sid}/resolve",
        {"root_cause": "Job 17 was stuck in the PRN-2 queue and blocked the spooler."},
        expect=200,
    )
    outputs = resolved["outputs"]
    assert resolved["handoff_id"] == done["handoff_id"]
    assert "Job 17 was stuck" in outputs["plain"] and "Contoso Ltd" in outputs["plain"]
    assert outputs["markdown"].strip() and isinstance(outputs["json"], dict)
    assert done["recommendations"] in outputs["plain"]
    detail = resolved["session"]
    assert detail["status"] == "resolved" and detail["resolved_at"]
    assert detail["resolution_summary"].startswith("Job 17 was stuck")
    assert detail["outputs"] == outputs
    assert [h["status"] for h in detail["handoffs"]] == ["confirmed"]

    status, twice = await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {})
    assert status == 409 and twice["error"]["code"] == "invalid_transition"

    _, rated = await api.call(
        "POST", f"/api/ai-sessions/{sid}/rating", {"rating": 5, "feedback": "Spot on"}, expect=200
    )
    assert rated["rating"] == 5 and rated["feedback"] == "Spot on"

    # Reading it back gives the same record: triage, steps, handoffs, outputs, tokens, times.
    _, read = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert read["client_name"] == "Contoso Ltd" and read["rating"] == 5 and read["outputs"] == outputs
    assert read["tokens"]["input"] > 0 and read["tokens"]["output"] > 0
    assert read["step_count"] == len(read["steps"]) and read["active_seconds"] >= 0
    async with db() as s:
        formats = (
            await s.execute(
                sa.select(SessionResolutionOutput.format).where(SessionResolutionOutput.session_id == sid)
            )
        ).scalars()
        assert sorted(formats) == ["json", "markdown", "plain"]


async def test_escalation_to_another_engineer_with_its_package(api: Api) -> None:
    sid = (await api.start("VPN at Fabrikam drops every 10 minutes on LAPTOP-7"))["session"]["id"]
    _, escalated = await api.call(
        "POST",
        f"/api/ai-sessions/{sid}/escalate",
        {
            "root_cause": "Unknown: the tunnel drops on rekey.",
            "steps_taken": "Reinstalled the client; checked the gateway logs.",
            "recommendations": "Network team to check the IKE lifetime on the gateway.",
            "to_user_id": "U-CAROL",
            "to_user_name": "Carol",
            "reason": "Needs gateway access",
        },
        expect=200,
    )
    detail = escalated["session"]
    assert detail["status"] == "escalated"
    assert detail["escalated_to_user_id"] == "U-CAROL" and detail["escalated_to"] == "Carol"
    assert detail["escalation_reason"] == "Needs gateway access"
    assert "IKE lifetime" in escalated["outputs"]["plain"] and "Carol" in escalated["outputs"]["plain"]
    assert detail["handoffs"][-1]["to_user_id"] == "U-CAROL"
    status, _ = await api.call("POST", f"/api/ai-sessions/{sid}/escalate", {"reason": "again"})
    assert status == 409


async def test_resolving_without_a_draft_or_fields_is_a_conflict_and_changes_nothing(
    api: Api, db: async_sessionmaker[AsyncSession]
) -> None:
    sid = (await api.start())["session"]["id"]
    status, body = await api.call("POST", f"/api/ai-sessions/{sid}/resolve")
    assert status == 409 and "draft" in body["error"]["message"]
    status, body = await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {"root_cause": "Only this"})
    assert status == 422 and body["error"]["code"] == "bad_input"
    _, read = await api.call("GET", f"/api/ai-sessions/{sid}")
    assert read["status"] == "active" and read["handoffs"] == []
    async with db() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(SessionHandoff))).scalar() == 0


async def test_a_draft_is_filed_by_field_and_done_shows_the_ticket_note_resolve_files(
    api: Api, db: async_sessionmaker[AsyncSession]
) -> None:
    sid = (await api.start("The VPN on LAP-7 fails with a certificate error"))["session"]["id"]
    api.fake.queue_turn(ISSUE_DRAFT)
    done = (await api.draft(sid))[-1][1]
    assert (done["root_cause"], done["steps_taken"], done["recommendations"]) == (
        ROOT_CAUSE,
        STEPS_TAKEN,
        RECOMMENDATIONS,
    )
    note = done["ticket_note"]
    assert "Root cause:\nRoot cause: the VPN client certificate" in note
    assert "Recommendations:\nRecommendations: monitor certificate expiry" in note
    assert "3." not in note  # the paragraph is not one more step

    _, resolved = await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {}, expect=200)
    assert resolved["outputs"]["plain"] == note
    stored_note = await filed_note(db)
    assert stored_note == note
