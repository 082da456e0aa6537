"""Button clicks: a table from action id to a small function that builds the command the button stands for.

A function returns the command to run (and how the clicked message is marked once it ran), or None when it
answered the click itself (a modal opened, a private line shown) or the value is not one of ours.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import answers, retry_codec
from bot.commands import (
    Command,
    DiscardDraft,
    DraftHandoff,
    LeaveFlow,
    MarkAction,
    Pause,
    Rate,
    Resolve,
    Resume,
    SetEvidenceStatus,
    TakeOver,
)
from bot.errors import FlowPilotError
from bot.events import TriageChanged
from bot.schemas import HandoffFields

from . import messages as msg
from . import modals, render
from .commands import Click, click_of
from .ids import is_render, parts
from .output import Renderer
from .places import Place
from .service import SlackService
from .streaming import error_code

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pressed:
    """One click being answered: who, on which session, where it shows, and how to answer privately."""

    click: Click
    sid: uuid.UUID
    place: Place | None
    say: Renderer
    client: AsyncWebClient
    service: SlackService


@dataclass(frozen=True)
class Run:
    command: Command
    # The line the clicked message shows once the command ran ("": its buttons go, None: it stays as it is).
    mark: str | None = None


Action = Callable[[Pressed], Awaitable[Run | None]]


async def _answer(c: Pressed) -> Run | None:
    p = parts(c.click.value, 3)
    if p is None:
        return None
    command = await answers.chosen(
        c.service.handler,
        actor=c.click.actor,
        session_id=c.sid,
        question_id=p[1],
        option=answers.option_index(p[2]),
    )
    return Run(command)


async def _other(c: Pressed) -> Run | None:
    await c.say.ephemeral(msg.OTHER_ANSWER)
    return None


async def _mark(c: Pressed) -> Run | None:
    p = parts(c.click.value, 3)
    if p is None or p[2] not in ("done", "failed"):
        return None
    return Run(MarkAction(actor=c.click.actor, session_id=c.sid, action_id=p[1], outcome=p[2]))  # type: ignore[arg-type]


async def _leave_flow(c: Pressed) -> Run | None:
    return Run(LeaveFlow(actor=c.click.actor, session_id=c.sid))


async def _draft(c: Pressed) -> Run | None:
    kind = c.click.action_id.removeprefix("fp_")
    return Run(DraftHandoff(actor=c.click.actor, session_id=c.sid, kind=kind))  # type: ignore[arg-type]


async def _pause(c: Pressed) -> Run | None:
    return Run(Pause(actor=c.click.actor, session_id=c.sid))


async def _resume(c: Pressed) -> Run | None:
    return Run(Resume(actor=c.click.actor, session_id=c.sid))


async def _takeover(c: Pressed) -> Run | None:
    return Run(TakeOver(actor=c.click.actor, session_id=c.sid))


async def _edit_triage(c: Pressed) -> Run | None:
    view = await c.service.handler.view(actor=c.click.actor, session_id=c.sid)
    meta = {"sid": str(c.sid), "channel": c.click.clicked.channel}
    await c.client.views_open(trigger_id=c.click.trigger_id, view=modals.triage_modal(view, meta))
    return None


async def _evidence(c: Pressed) -> Run | None:
    p = parts(c.click.value, 3)
    if p is None or not p[1].isdigit() or p[2] not in ("confirmed", "ruled_out", "pending"):
        return None
    command = SetEvidenceStatus(actor=c.click.actor, session_id=c.sid, index=int(p[1]), status=p[2])  # type: ignore[arg-type]
    return Run(command)


async def _confirm(c: Pressed) -> Run | None:
    """Confirm a draft: a resolution at once, an escalation after its modal says to whom."""
    p = parts(c.click.value, 2)
    if p is None or p[1] not in ("resolve", "escalate"):
        return None
    actor = c.click.actor
    if c.click.action_id == "fp_confirm" and p[1] == "resolve":
        return Run(
            Resolve(actor=actor, session_id=c.sid), msg.DRAFT_CONFIRMED.format(by=render.escape(actor.name))
        )
    draft = await c.service.handler.latest_draft(actor=actor, session_id=c.sid)
    fields = None
    if draft is not None:
        fields = HandoffFields(
            root_cause=draft.root_cause or "",
            steps_taken=draft.steps_taken or "",
            recommendations=draft.recommendations or "",
        )
    meta = {"sid": str(c.sid), "channel": c.click.clicked.channel, "ts": c.click.clicked.ts}
    await c.client.views_open(trigger_id=c.click.trigger_id, view=modals.handoff_modal(p[1], fields, meta))
    return None


async def _discard(c: Pressed) -> Run | None:
    actor = c.click.actor
    return Run(
        DiscardDraft(actor=actor, session_id=c.sid), msg.DRAFT_DISCARDED.format(by=render.escape(actor.name))
    )


async def _rate(c: Pressed) -> Run | None:
    p = parts(c.click.value, 2)
    if p is None or not p[1].isdigit():
        return None
    actor = c.click.actor
    line = msg.RATED.format(by=render.escape(actor.name), rating=p[1])
    return Run(Rate(actor=actor, session_id=c.sid, rating=int(p[1])), line)


async def _retry(c: Pressed) -> Run | None:
    """Retry: the core's command again, or what Slack refused to show shown again from what was saved."""
    if is_render(c.click.value):
        if await _show_again(c):
            await c.say.mark_done(None)
        return None
    return Run(retry_codec.decode(c.click.value, c.click.actor), "")


async def _show_again(c: Pressed) -> bool:
    """Show Claude's latest reply (with what is still open) and the header again; False when Slack
    refused again. Nothing is asked of Claude: it is shown from what was saved."""
    actor = c.click.actor
    turn, view = await c.service.handler.last_turn(actor=actor, session_id=c.sid)
    renderer = Renderer(c.client, place=c.place, actor=actor)
    if turn is not None:
        await renderer.render(turn)
    await renderer.render(TriageChanged(c.sid, view))
    await renderer.close()
    return renderer.failure is None


# Exact action ids, then prefixes (ids that end in "_" carry a question, an action, a rating or an index).
ACTIONS: dict[str, Action] = {
    "fp_answer_": _answer,
    "fp_other_": _other,
    "fp_done_": _mark,
    "fp_failed_": _mark,
    "fp_resolve": _draft,
    "fp_escalate": _draft,
    "fp_pause": _pause,
    "fp_resume": _resume,
    "fp_edit_triage": _edit_triage,
    "fp_evidence_": _evidence,
    "fp_confirm": _confirm,
    "fp_edit_draft": _confirm,
    "fp_discard": _discard,
    "fp_rate_": _rate,
    "fp_takeover": _takeover,
    "fp_retry": _retry,
    "fp_leave_flow": _leave_flow,
}


def action_for(action_id: str) -> Action | None:
    found = ACTIONS.get(action_id)
    if found is not None:
        return found
    return next((a for key, a in ACTIONS.items() if key.endswith("_") and action_id.startswith(key)), None)


async def on_click(service: SlackService, body: dict[str, Any], client: AsyncWebClient) -> None:
    click = click_of(body)
    action = action_for(click.action_id)
    if action is None:
        logger.warning("ignored a click of an unknown button (%s)", click.action_id)
        return
    if not await service.first(click.dedupe_key, within=click.double_click_window):
        return  # a double click (or the same payload delivered twice)
    pieces = click.value.split("|")
    try:
        sid = uuid.UUID(pieces[1] if click.action_id == "fp_retry" else pieces[0])
    except (ValueError, IndexError):
        logger.warning("ignored a click with a malformed value (%s)", click.action_id)
        return
    place = await service.place_for(sid, click.actor.workspace_id)
    say = Renderer(client, place=place, actor=click.actor, clicked=click.clicked)
    try:
        run = await action(Pressed(click, sid, place, say, client, service))
        if run is None:
            return
        renderer = await service.run(run.command, client=client, place=place, clicked=click.clicked)
        if run.mark is not None and not renderer.errored:
            await renderer.mark_done(run.mark or None)
    except FlowPilotError as err:
        await say.ephemeral(err.message)
    except SlackApiError as err:
        logger.warning("Slack refused a click's follow-up: %s", error_code(err))
        await say.ephemeral(msg.SLACK_REFUSED.format(error=error_code(err)))
