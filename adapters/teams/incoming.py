"""Incoming activities → commands: typed words, problem text with files, and card data sent as a message."""

from __future__ import annotations

import logging

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import TurnContext, TurnState
from microsoft_agents.hosting.core.app.proactive import Conversation

from adapters.runtime import Runtime
from bot.commands import Actor, StartSession, UserMessage
from bot.errors import FlowPilotError
from bot.events import SessionView
from bot.intake import Attachment

from . import cards
from . import messages as text
from .commands import (
    KEY,
    PLATFORM,
    actor_of,
    data_of,
    mentions_of,
    parse_typed,
    strip_mentions,
    thread_of,
    typed_command,
    without_bot_mention,
)
from .conversations import Conversations
from .files import fetch, incoming_files
from .members import member
from .render import Escalation
from .runner import Runner
from .submits import Submits, escalation_of

logger = logging.getLogger(__name__)

CLOSED = ("resolved", "escalated", "requesting_escalation", "abandoned")


class Incoming:
    def __init__(
        self,
        runtime: Runtime,
        runner: Runner,
        submits: Submits,
        conversations: Conversations,
        *,
        anonymous: bool,
    ) -> None:
        self._runtime = runtime
        self._handler = runtime.handler
        self._runner = runner
        self._submits = submits
        self._conversations = conversations
        self._anonymous = anonymous

    async def on_conversation_update(self, context: TurnContext, _state: TurnState) -> None:
        activity = context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        added = activity.members_added or []
        if activity.conversation and activity.conversation.conversation_type in (None, "personal"):
            if any(m.id == bot_id for m in added):
                await self._conversations.send_now(context, cards.card([cards.block(text.WELCOME)]))

    async def on_message(self, context: TurnContext, _state: TurnState) -> None:
        activity = context.activity
        conversation_id = activity.conversation.id if activity.conversation else ""
        if not await self._runtime.deliveries.first(PLATFORM, f"{conversation_id}|{activity.id}"):
            return
        actor = actor_of(activity)
        data = data_of(activity.value)
        typed_text = activity.text or ""
        if data and not typed_text.strip():
            if data.get("fp") == "text":  # Retry of a message we failed to take in
                typed_text = str(data.get("text") or "")
            elif data.get(KEY) == "show":  # Retry of a reply Teams did not accept
                self._runner.spawn_show(context, data)
                return
            elif data.get(KEY) == "start_flow":  # Start beside a flow of the `flows` list
                self._start(
                    context, actor, text=str(data.get("flow") or ""), flow=str(data.get("flow") or "")
                )
                return
            else:
                command = await self._submits.command_of(context, data, actor)
                if command is not None:
                    self._runner.spawn(context, command, escalation=escalation_of(command))
                return
        await self._on_text(context, actor, typed_text)

    async def _on_text(self, context: TurnContext, actor: Actor, raw: str) -> None:
        activity = context.activity
        message = strip_mentions(raw)
        typed = parse_typed(without_bot_mention(activity, raw))
        if typed is not None and typed.word == "help":
            await self._conversations.send_now(context, cards.help_card())
            return
        if typed is not None and typed.word == "flows":
            refs = await self._handler.flows(actor=actor)
            await self._conversations.send_now(context, cards.flow_list([(r.slug, r.title) for r in refs]))
            return
        if typed is not None and typed.word == "list":
            views = await self._handler.list_sessions(actor=actor)
            await self._conversations.send_now(context, cards.session_list(views))
            return
        if typed is not None and typed.word == "ticket":
            number, _, problem = typed.rest.partition(" ")
            self._start(context, actor, text=problem.strip(), psa_ticket_id=number)
            return
        current = await self._current(activity, actor)
        if typed is not None:
            if current is None:
                await self._conversations.send_now(context, cards.card([cards.block(text.NO_SESSION_HERE)]))
                return
            command = typed_command(typed, actor=actor, session_id=current.session_id)
            escalation = None
            if typed.word == "escalate":
                escalation = await self._escalation_from_text(context, typed.rest)
            if command is not None:
                self._runner.spawn(
                    context, command, escalation=escalation, fresh_header=typed.word in ("status", "flow")
                )
            return
        files = await self._files(context)
        if not message.strip() and not files:
            return
        in_channel_thread = ";messageid=" in (activity.conversation.id if activity.conversation else "")
        if current is not None and (current.status not in CLOSED or in_channel_thread):
            command = UserMessage(
                actor=actor, session_id=current.session_id, text=raw.strip(), attachments=files
            )
            self._runner.spawn(context, command)
            return
        self._start(context, actor, text=raw.strip(), attachments=files)

    def _start(
        self,
        context: TurnContext,
        actor: Actor,
        *,
        text: str,
        attachments: tuple[Attachment, ...] = (),
        flow: str | None = None,
        psa_ticket_id: str | None = None,
    ) -> None:
        """A new session in this conversation (on `flow`, when one was started directly; from a ticket)."""
        activity = context.activity
        in_channel_thread = ";messageid=" in (activity.conversation.id if activity.conversation else "")
        thread = thread_of(activity)
        if not in_channel_thread:
            # A chat holds one session after another: each is bound under the message that started it.
            thread = type(thread)(thread.platform, thread.workspace_id, thread.channel_id, activity.id or "")
        # The conversation reference rides on the binding, so header cards can be updated from anywhere.
        reference = {"conversation": Conversation.from_turn_context(context).store_item_to_json()}
        self._runner.spawn(
            context,
            StartSession(
                actor=actor,
                text=text,
                attachments=attachments,
                thread=thread,
                thread_extra=reference,
                flow=flow or None,
                psa_ticket_id=psa_ticket_id,
            ),
        )

    async def _files(self, context: TurnContext) -> tuple[Attachment, ...]:
        """The message's files and pictures; the engineer is told which could not be fetched."""
        wanted, refused = incoming_files(context.activity, anonymous=self._anonymous)
        if not wanted and not refused:
            return ()
        fetched = await fetch(wanted, token=_token(context))
        missing = refused + fetched.failed
        if missing:
            line = text.FILES_NOT_FETCHED.format(names=", ".join(missing))
            await self._conversations.send_now(context, cards.card([cards.block("⚠️ " + line)]))
        return tuple(fetched.attachments)

    async def _current(self, activity: Activity, actor: Actor) -> SessionView | None:
        """The session this conversation (or channel thread) is on, if any."""
        thread = thread_of(activity)
        binding = await self._runtime.bindings.latest_in(
            platform=PLATFORM, workspace_id=thread.workspace_id, channel_id=thread.channel_id
        )
        if binding is None:
            return None
        try:
            return await self._handler.view(actor=actor, session_id=binding.session_id)
        except FlowPilotError:
            return None

    async def _escalation_from_text(self, context: TurnContext, rest: str) -> Escalation:
        mentioned = mentions_of(context.activity)
        reason = strip_mentions(rest).lstrip(":-—– ")
        if not mentioned:
            return Escalation(reason=reason)
        person = mentioned[0]
        reason = reason.removeprefix(person.name).strip()
        aad_id, name = await member(context, person.id)
        return Escalation(to_id=aad_id, to_name=person.name or name, reason=reason)


def _token(context: TurnContext) -> str:
    """The Authorization header the SDK's connector client uses for this activity's service host."""
    from microsoft_agents.hosting.core.connector import ConnectorClientBase

    client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    session = getattr(client, "client", None)
    return str(session.headers.get("Authorization", "")) if session is not None else ""
