"""Bolt listeners: ack at once, then do the work in the background (never wait on Claude before the ack)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages as core_msg
from bot.commands import (
    Actor,
    AnswerQuestion,
    Command,
    DiscardDraft,
    DraftHandoff,
    EditTriage,
    Escalate,
    MarkAction,
    Pause,
    Rate,
    Resolve,
    Resume,
    SessionCommand,
    SetEvidenceStatus,
    StartSession,
    TakeOver,
    ThreadRef,
    UserMessage,
)
from bot.errors import FlowPilotError
from bot.events import TriageChanged

from . import files, modals, render
from . import messages as msg
from .commands import (
    PLATFORM,
    Click,
    actor_of,
    click_of,
    parse_slash,
    slash_actor,
    slash_key,
    strip_mentions,
)
from .ids import RENDER, decode_retry, parts
from .output import Clicked, Place, Renderer
from .service import SlackService, place_of
from .streaming import UNREACHABLE, error_code, retrying

logger = logging.getLogger(__name__)

SUGGESTED_PROMPTS = [
    {
        "title": "Outlook keeps asking for a password",
        "message": "Outlook keeps asking for the password at Contoso",
    },
    {
        "title": "VPN connects but nothing loads",
        "message": "The VPN connects but users can't reach file shares",
    },
    {"title": "Printer stuck", "message": "Print jobs are stuck in the queue on the office printer"},
]
IGNORED_SUBTYPES_OK = (None, "file_share", "thread_broadcast")


def register(app: AsyncApp, service: SlackService) -> None:
    flows = Flows(service)

    @app.command(re.compile(r"^/flowpilot"))
    async def on_command(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, request: AsyncBoltRequest
    ) -> None:
        await ack()
        key = slash_key(body, request.headers)
        service.spawn(flows.slash(body, client, key), name="slash", reply_to=(client, body))

    @app.event("app_mention")
    async def on_mention(ack: Any, body: dict[str, Any], client: AsyncWebClient, context: Any) -> None:
        await ack()
        service.spawn(
            flows.message(body, client, context.get("bot_user_id")), name="mention", reply_to=(client, body)
        )

    @app.event("message")
    async def on_message(ack: Any, body: dict[str, Any], client: AsyncWebClient, context: Any) -> None:
        await ack()
        service.spawn(
            flows.message(body, client, context.get("bot_user_id")), name="message", reply_to=(client, body)
        )

    @app.event("assistant_thread_started")
    async def on_assistant(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(flows.assistant_started(body, client), name="assistant")

    @app.event("assistant_thread_context_changed")
    async def on_assistant_context(ack: Any) -> None:
        await ack()

    @app.action(re.compile(r"^fp_"))
    async def on_action(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(flows.click(body, client), name="click", reply_to=(client, body))

    @app.view(modals.TRIAGE_CALLBACK)
    async def on_triage(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(flows.triage_submitted(body, client), name="triage-modal")

    @app.view(modals.HANDOFF_CALLBACK)
    async def on_handoff(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(flows.handoff_submitted(body, client), name="handoff-modal")

    @app.shortcut(re.compile(r"^fp_(resolve|escalate)$"))
    async def on_shortcut(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(flows.shortcut(body, client), name="shortcut")


class Flows:
    """What each kind of Slack input does, after it was acked."""

    def __init__(self, service: SlackService) -> None:
        self.s = service
        self._names: dict[tuple[str, str], str] = {}

    # ── messages and mentions ──────────────────────────────────────────────────────────────────────
    async def message(self, body: dict[str, Any], client: AsyncWebClient, bot_user_id: str | None) -> None:
        event = body.get("event") or {}
        user = event.get("user")
        if event.get("bot_id") or event.get("subtype") not in IGNORED_SUBTYPES_OK or not user:
            return
        if user == bot_user_id:
            return
        team = str(body.get("team_id") or event.get("team") or "")
        channel, ts = str(event.get("channel")), str(event.get("ts"))
        thread_ts = event.get("thread_ts")
        mention = event.get("type") == "app_mention"
        direct = str(event.get("channel_type")) == "im"
        found = (
            await self.s.place_of_thread(team_id=team, channel=channel, thread_ts=thread_ts)
            if thread_ts
            else None
        )
        if found is None and not (mention or direct):
            return  # not a session thread, not for us
        # One turn per message: a retried delivery, and the same message arriving as app_mention and as
        # message, carry the same channel and ts.
        if not await self.s.first(f"msg:{team}:{channel}:{ts}"):
            return
        actor = Actor(PLATFORM, team, str(user), await self._name(client, team, str(user)))
        if found is None and thread_ts and await self._foreign(actor, channel, str(thread_ts)):
            # A channel shared between workspaces: this thread is another workspace's session.
            await Renderer(client, place=Place(channel, str(thread_ts)), actor=actor).ephemeral(
                msg.FOREIGN_THREAD
            )
            return
        text = strip_mentions(str(event.get("text") or ""))
        attachments, skipped = await files.download(
            list(event.get("files") or []), token=client.token or "", origins=self.s.file_origins
        )
        if found is not None:
            session_id, place = found
            for notice in skipped:
                await Renderer(client, place=place, actor=actor).ephemeral(notice)
            command = UserMessage(
                actor=actor, session_id=session_id, text=text, attachments=tuple(attachments)
            )
            await self.s.run(command, client=client, place=place)
            return
        await self.start(
            client, actor=actor, channel=channel, thread_ts=str(thread_ts or ts), text=text,
            attachments=tuple(attachments), skipped=skipped, top_level=False, assistant=direct,
        )  # fmt: skip

    async def _foreign(self, actor: Actor, channel: str, thread_ts: str) -> bool:
        return await self.s.handler.thread_held_elsewhere(
            platform=PLATFORM, workspace_id=actor.workspace_id, channel_id=channel, thread_id=thread_ts
        )

    async def start(
        self,
        client: AsyncWebClient,
        *,
        actor: Actor,
        channel: str,
        thread_ts: str | None,
        text: str,
        attachments: tuple[Any, ...] = (),
        skipped: Sequence[str] = (),
        top_level: bool,
        assistant: bool = False,
    ) -> None:
        """Post the header, bind the thread, and let Claude ask its first questions.

        `skipped` tells of the files left out (refused or not fetched); the engineer is told once the thread
        exists.
        """
        try:
            posted = await retrying(
                lambda: client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=msg.STARTING)
            )
        except SlackApiError as err:
            logger.warning("Slack refused a session's header: %s", error_code(err))
            say = Renderer(client, place=Place(channel, str(thread_ts or "")), actor=actor)
            await say.ephemeral(msg.START_REFUSED.format(error=error_code(err)))
            return
        header_ts = str(posted["ts"])
        thread = header_ts if top_level else str(thread_ts)
        # A DM / assistant-pane thread shows "thinking" as the assistant status, not as a placeholder.
        place = Place(channel, thread, header_ts, assistant=assistant)
        command = StartSession(
            actor=actor,
            text=text,
            attachments=attachments,
            thread=ThreadRef(PLATFORM, actor.workspace_id, channel, thread),
            header_message_id=header_ts,
            thread_extra={"assistant": True} if assistant else {},
        )
        renderer = await self.s.run(command, client=client, place=place)
        if renderer.session_id is None:  # refused (empty input, unreadable file): no header left behind
            try:
                await client.chat_delete(channel=channel, ts=header_ts)
            except SlackApiError as err:
                logger.info("could not remove an unused header: %s", error_code(err))
            # A missing file may be why it was refused: say so where the refusal was shown.
            place = Place(channel, str(thread_ts or ""))
        for notice in skipped:
            await Renderer(client, place=place, actor=actor).ephemeral(notice)

    async def assistant_started(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        thread = (body.get("event") or {}).get("assistant_thread") or {}
        try:
            await client.api_call(
                "assistant.threads.setSuggestedPrompts",
                json={
                    "channel_id": thread.get("channel_id"),
                    "thread_ts": thread.get("thread_ts"),
                    "title": "What are you troubleshooting?",
                    "prompts": SUGGESTED_PROMPTS,
                },
            )
        except SlackApiError as err:
            logger.info("could not set suggested prompts: %s", error_code(err))

    # ── the slash command ──────────────────────────────────────────────────────────────────────────
    async def slash(self, body: dict[str, Any], client: AsyncWebClient, key: str | None) -> None:
        # Slack never retries a slash command, but a signed one replayed within the signature's five
        # minutes (by an attacker or a proxy) must not start a second session: the replay is acked, no more.
        if key is not None and not await self.s.first(key):
            logger.info("ignored a replayed slash command")
            return
        actor = slash_actor(body)
        channel = str(body.get("channel_id") or "")
        sub, rest = parse_slash(str(body.get("text") or ""))
        say = Renderer(client, place=Place(channel, ""), actor=actor)
        if sub == "help":
            await say.ephemeral(msg.HELP)
            return
        if sub == "start":
            await self.start(client, actor=actor, channel=channel, thread_ts=None, text=rest, top_level=True)
            return
        if sub == "list":
            views = await self.s.handler.list_sessions(actor=actor)
            if not views:
                await say.ephemeral(msg.NO_SESSIONS)
                return
            await retrying(
                lambda: client.chat_postEphemeral(
                    channel=channel,
                    user=actor.user_id,
                    text=msg.YOUR_SESSIONS,
                    blocks=render.session_list(views, {}),
                )
            )
            return
        binding = await self.s.handler.latest_open_thread(actor=actor, platform=PLATFORM, channel_id=channel)
        if binding is None:
            await say.ephemeral(msg.NO_SESSION_HERE)
            return
        sid, place = binding.session_id, place_of(binding)
        if sub == "status":
            try:
                view = await self.s.handler.view(actor=actor, session_id=sid)
            except FlowPilotError as err:
                await say.ephemeral(err.message)
                return
            await Renderer(client, place=place, actor=actor).header(view)
            await retrying(
                lambda: client.chat_postEphemeral(
                    channel=channel,
                    user=actor.user_id,
                    text=render.header_text(view),
                    blocks=render.header_blocks(view),
                )
            )
            return
        command: SessionCommand
        if sub == "pause":
            command = Pause(actor=actor, session_id=sid)
        elif sub == "resume":
            command = Resume(actor=actor, session_id=sid)
        else:
            command = DraftHandoff(actor=actor, session_id=sid, kind=sub)  # type: ignore[arg-type]
        await self.s.run(command, client=client, place=place)

    # ── buttons ────────────────────────────────────────────────────────────────────────────────────
    async def click(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        click = click_of(body)
        if not await self.s.first(click.dedupe_key, within=click.double_click_window):
            return  # a double click (or the same payload delivered twice)
        pieces = click.value.split("|")
        try:
            sid = uuid.UUID(pieces[1] if click.action_id == "fp_retry" else pieces[0])
        except (ValueError, IndexError):
            logger.warning("ignored a click with a malformed value (%s)", click.action_id)
            return
        place = await self.s.place_for(sid, click.actor.workspace_id)
        say = Renderer(client, place=place, actor=click.actor, clicked=click.clicked)
        try:
            await self._click(click, sid, place, say, client)
        except FlowPilotError as err:
            await say.ephemeral(err.message)
        except SlackApiError as err:
            logger.warning("Slack refused a click's follow-up: %s", error_code(err))
            await say.ephemeral(msg.SLACK_REFUSED.format(error=error_code(err)))

    async def _click(
        self, click: Click, sid: uuid.UUID, place: Place | None, say: Renderer, client: AsyncWebClient
    ) -> None:
        actor, aid, value = click.actor, click.action_id, click.value
        command: Command | None = None
        mark_line = ""
        if aid.startswith("fp_answer_"):
            p = parts(value, 3)
            if p is None:
                return
            view = await self.s.handler.view(actor=actor, session_id=sid)
            question = next((q for q in view.questions if q.id == p[1]), None)
            if question is None:
                await say.ephemeral(core_msg.QUESTION_CLOSED)
                return
            index = int(p[2]) if p[2].isdigit() else -1
            answer = question.options[index] if 0 <= index < len(question.options) else ""
            command = AnswerQuestion(actor=actor, session_id=sid, question_id=p[1], answer=answer)
        elif aid.startswith("fp_other_"):
            await say.ephemeral(msg.OTHER_ANSWER)
            return
        elif aid.startswith(("fp_done_", "fp_failed_")):
            p = parts(value, 3)
            if p is None or p[2] not in ("done", "failed"):
                return
            command = MarkAction(actor=actor, session_id=sid, action_id=p[1], outcome=p[2])  # type: ignore[arg-type]
        elif aid in ("fp_resolve", "fp_escalate"):
            command = DraftHandoff(actor=actor, session_id=sid, kind=aid.removeprefix("fp_"))  # type: ignore[arg-type]
        elif aid == "fp_pause":
            command = Pause(actor=actor, session_id=sid)
        elif aid == "fp_resume":
            command = Resume(actor=actor, session_id=sid)
        elif aid == "fp_edit_triage":
            view = await self.s.handler.view(actor=actor, session_id=sid)
            meta = {"sid": str(sid), "channel": click.clicked.channel}
            await client.views_open(trigger_id=click.trigger_id, view=modals.triage_modal(view, meta))
            return
        elif aid.startswith("fp_evidence_"):
            p = parts(value, 3)
            if p is None or not p[1].isdigit() or p[2] not in ("confirmed", "ruled_out", "pending"):
                return
            command = SetEvidenceStatus(actor=actor, session_id=sid, index=int(p[1]), status=p[2])  # type: ignore[arg-type]
        elif aid in ("fp_confirm", "fp_edit_draft"):
            p = parts(value, 2)
            if p is None or p[1] not in ("resolve", "escalate"):
                return
            if aid == "fp_confirm" and p[1] == "resolve":
                command = Resolve(actor=actor, session_id=sid)
                mark_line = msg.DRAFT_CONFIRMED.format(by=render.escape(actor.name))
            else:
                await self._open_handoff(click, sid, p[1], client)
                return
        elif aid == "fp_discard":
            command = DiscardDraft(actor=actor, session_id=sid)
            mark_line = msg.DRAFT_DISCARDED.format(by=render.escape(actor.name))
        elif aid.startswith("fp_rate_"):
            p = parts(value, 2)
            if p is None or not p[1].isdigit():
                return
            command = Rate(actor=actor, session_id=sid, rating=int(p[1]))
            mark_line = msg.RATED.format(by=render.escape(actor.name), rating=p[1])
        elif aid == "fp_takeover":
            command = TakeOver(actor=actor, session_id=sid)
        elif aid == "fp_retry":
            retried = decode_retry(value, actor)
            if retried == RENDER:
                if await self._show_again(actor, sid, place, client):
                    await say.mark_done(None)
                return
            if not isinstance(retried, SessionCommand):
                return
            command = retried
            mark_line = " "
        if command is None:
            return
        renderer = await self.s.run(command, client=client, place=place, clicked=click.clicked)
        if mark_line and not renderer.errored:
            await renderer.mark_done(mark_line.strip() or None)

    async def _open_handoff(self, click: Click, sid: uuid.UUID, kind: str, client: AsyncWebClient) -> None:
        draft = await self.s.handler.latest_draft(actor=click.actor, session_id=sid)
        fields = None
        if draft is not None:
            fields = modals.HandoffFields(
                root_cause=draft.root_cause or "",
                steps_taken=draft.steps_taken or "",
                recommendations=draft.recommendations or "",
            )
        meta = {"sid": str(sid), "channel": click.clicked.channel, "ts": click.clicked.ts}
        await client.views_open(trigger_id=click.trigger_id, view=modals.handoff_modal(kind, fields, meta))

    async def _show_again(
        self, actor: Actor, sid: uuid.UUID, place: Place | None, client: AsyncWebClient
    ) -> bool:
        """Show Claude's latest reply (with what is still open) and the header again; False when Slack
        refused again. Nothing is asked of Claude: it is shown from what was saved."""
        turn, view = await self.s.handler.last_turn(actor=actor, session_id=sid)
        renderer = Renderer(client, place=place, actor=actor)
        if turn is not None:
            await renderer.render(turn)
        await renderer.render(TriageChanged(sid, view))
        await renderer.close()
        return renderer.failure is None

    # ── modals ─────────────────────────────────────────────────────────────────────────────────────
    def _modal(self, body: dict[str, Any]) -> tuple[Actor, dict[str, str], dict[str, str | None]] | None:
        view = body.get("view") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            uuid.UUID(meta["sid"])
        except (ValueError, KeyError, TypeError):
            return None
        return actor_of(body), meta, modals.submitted(view)

    async def triage_submitted(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        parsed = self._modal(body)
        if parsed is None:
            return
        actor, meta, values = parsed
        sid = uuid.UUID(meta["sid"])
        place = await self.s.place_for(sid, actor.workspace_id)
        try:
            view = await self.s.handler.view(actor=actor, session_id=sid)
        except FlowPilotError as err:
            await Renderer(client, place=place, actor=actor).ephemeral(err.message)
            return
        changes, evidence = modals.triage_changes(values, view)
        command = EditTriage(actor=actor, session_id=sid, changes=changes, add_evidence=evidence)
        await self.s.run(command, client=client, place=place)

    async def handoff_submitted(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        parsed = self._modal(body)
        if parsed is None:
            return
        actor, meta, values = parsed
        sid = uuid.UUID(meta["sid"])
        place = await self.s.place_for(sid, actor.workspace_id)
        fields = modals.handoff_fields(values)
        command: SessionCommand
        if meta.get("kind") == "escalate":
            to_id = values.get("to") or ""
            to = Actor(
                PLATFORM, actor.workspace_id, to_id, await self._name(client, actor.workspace_id, to_id)
            )
            command = Escalate(
                actor=actor, session_id=sid, to=to, reason=values.get("reason") or "", fields=fields
            )
        else:
            command = Resolve(actor=actor, session_id=sid, fields=fields)
        clicked = Clicked(meta.get("channel", ""), meta.get("ts", "")) if meta.get("ts") else None
        renderer = await self.s.run(command, client=client, place=place)
        if clicked is not None and not renderer.errored:
            await self._mark_controls(
                client, clicked, msg.DRAFT_CONFIRMED.format(by=render.escape(actor.name))
            )

    @staticmethod
    async def _mark_controls(client: AsyncWebClient, clicked: Clicked, line: str) -> None:
        try:
            current = await client.conversations_replies(channel=clicked.channel, ts=clicked.ts, limit=1)
            blocks = (current.get("messages") or [{}])[0].get("blocks") or []
        except SlackApiError:
            blocks = []
        blocks = render.without_actions(blocks, line)
        try:
            await retrying(
                lambda: client.chat_update(channel=clicked.channel, ts=clicked.ts, text=line, blocks=blocks)
            )
        except SlackApiError as err:
            logger.info("could not mark the draft controls: %s", error_code(err))

    # ── message shortcuts ──────────────────────────────────────────────────────────────────────────
    async def shortcut(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        actor = actor_of(body)
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        thread_ts = str(message.get("thread_ts") or message.get("ts") or "")
        kind = "resolve" if body.get("callback_id") == "fp_resolve" else "escalate"
        found = await self.s.place_of_thread(team_id=actor.workspace_id, channel=channel, thread_ts=thread_ts)
        if found is None:
            await Renderer(client, place=Place(channel, thread_ts), actor=actor).ephemeral(
                msg.NO_SESSION_HERE
            )
            return
        sid, place = found
        await self.s.run(DraftHandoff(actor=actor, session_id=sid, kind=kind), client=client, place=place)  # type: ignore[arg-type]

    async def _name(self, client: AsyncWebClient, team: str, user: str) -> str:
        if not user:
            return ""
        key = (team, user)
        if key not in self._names:
            try:
                info = (await client.users_info(user=user))["user"]
                profile = info.get("profile") or {}
                self._names[key] = (
                    profile.get("display_name") or info.get("real_name") or info.get("name") or user
                )
            except (SlackApiError, *UNREACHABLE):  # a name is a nicety: the message must still be handled
                return user
        return self._names[key]
