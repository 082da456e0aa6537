"""Card buttons and dialogs → core commands; what an answer index, a Retry or a triage form means is the core's."""

from __future__ import annotations

import uuid
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import TurnContext, TurnState

from bot import answers, forms, retry_codec
from bot.commands import Actor, Command, Escalate, Resolve
from bot.errors import FlowPilotError
from bot.events import Notice
from bot.handler import SessionHandler

from . import cards, dialogs
from . import messages as text
from .commands import KEY, _fields, actor_of, data_of, decode
from .conversations import Conversations
from .members import named
from .render import Escalation
from .runner import Runner


def _sid(data: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(data.get("sid")))
    except ValueError:
        return None


def escalation_of(command: Command) -> Escalation | None:
    return Escalation(reason=command.reason) if isinstance(command, Escalate) else None


async def _invoke_response(context: TurnContext, body: Any, status: int = 200) -> None:
    await context.send_activity(
        Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=body))
    )


class Submits:
    def __init__(self, handler: SessionHandler, runner: Runner, conversations: Conversations) -> None:
        self._handler = handler
        self._runner = runner
        self._conversations = conversations

    async def command_of(self, context: TurnContext, data: dict[str, Any], actor: Actor) -> Command | None:
        """The command a card button asks for, completed with what its data leaves out; a refusal (a
        question no longer open, another engineer's Retry) is told in the conversation."""
        kind = data.get(KEY)
        sid = _sid(data)
        command: Command | None
        try:
            if kind == "again":
                command = retry_codec.decode(str(data.get("v") or ""), actor)
            elif kind == "answer" and sid is not None:
                command = await answers.chosen(
                    self._handler,
                    actor=actor,
                    session_id=sid,
                    question_id=str(data.get("qid")),
                    option=answers.option_index(data.get("option")),
                )
            else:
                command = decode(data, actor)
        except FlowPilotError as err:
            notice = Notice(sid, err.message, level="error", code=err.code)
            await self._conversations.send_now(context, cards.notice(notice))
            return None
        return await named(context, command) if isinstance(command, Escalate) else command

    async def escalate(self, context: TurnContext, data: dict[str, Any], actor: Actor) -> Escalate | None:
        """The escalation a card's data describes, the engineer named (one picked in the card wins)."""
        command = decode({**data, KEY: "escalate"}, actor)
        return await named(context, command) if isinstance(command, Escalate) else None

    # ── invokes: the answer is the HTTP response ───────────────────────────────────────────────────
    async def on_task_fetch(self, context: TurnContext, _state: TurnState) -> None:
        data = data_of(data_of(context.activity.value).get("data"))
        actor = actor_of(context.activity)
        try:
            session_id = uuid.UUID(str(data.get("sid")))
            view = await self._handler.view(actor=actor, session_id=session_id)
            if data.get("fp") == "edit_draft":
                draft = await self._handler.latest_draft(actor=actor, session_id=session_id)
                kind = str(data.get("kind") or (draft.kind if draft else "resolve"))
                escalation = await self.escalate(context, data, actor) if kind == "escalate" else None
                to = escalation.to if escalation else None
                form = dialogs.draft_form(
                    session_id,
                    kind=kind,
                    root_cause=draft.root_cause if draft else "",
                    steps_taken=draft.steps_taken if draft else "",
                    recommendations=draft.recommendations if draft else "",
                    escalate_to=(to.user_id, to.display_name) if to else None,
                    reason=str(data.get("reason") or ""),
                )
                body = dialogs.task("Edit draft", form)
            else:
                body = dialogs.task("Edit triage", dialogs.triage_form(view))
        except ValueError:
            body = dialogs.task_message(text.NO_SESSION_HERE)
        except FlowPilotError as err:
            body = dialogs.task_message(err.message)
        await _invoke_response(context, body)

    async def on_task_submit(self, context: TurnContext, _state: TurnState) -> None:
        data = data_of(data_of(context.activity.value).get("data"))
        actor = actor_of(context.activity)
        command: Command | None = None
        session_id = _sid(data)
        if session_id is None:
            await _invoke_response(context, dialogs.task_message(text.NO_SESSION_HERE))
            return
        if data.get("fp") == "edit_triage":
            try:
                view = await self._handler.view(actor=actor, session_id=session_id)
            except FlowPilotError as err:
                await _invoke_response(context, dialogs.task_message(err.message))
                return
            command = forms.triage_edit(data, view, actor=actor, session_id=session_id)
        elif data.get("fp") == "edit_draft":
            if data.get("kind") == "escalate":
                # The dialog's data names the engineer exactly as the Confirm escalation button does.
                command = await self.escalate(context, data, actor)
            else:
                command = Resolve(actor=actor, session_id=session_id, fields=_fields(data))
        if command is not None:
            self._runner.spawn(context, command, escalation=escalation_of(command))
        await _invoke_response(context, dialogs.task_message(text.DIALOG_SAVED))

    async def on_card_action(self, context: TurnContext, _state: TurnState) -> None:
        action = data_of(data_of(context.activity.value).get("action"))
        data = data_of(action.get("data"))
        if data.get(KEY) == "show":
            self._runner.spawn_show(context, data)
        else:
            command = await self.command_of(context, data, actor_of(context.activity))
            if command is not None:
                self._runner.spawn(context, command)
        await _invoke_response(
            context, {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "OK"}
        )
