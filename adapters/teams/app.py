"""The Agents SDK wiring: auth modes, routes, and commands run in the background after Teams gets its answer.

POST /api/messages returns only when the SDK's turn is over, and Teams gives up after 15 seconds, so a turn
only translates the activity into a command; the command runs in a tracked background task that talks back
through a continued conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationParameters,
    InvokeResponse,
    load_configuration_from_env,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator, start_agent_process
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    ClaimsIdentity,
    ConnectionManager,
    Connections,
    MemoryStorage,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.app import CreateConversationOptions, ProactiveOptions, RouteRank
from microsoft_agents.hosting.core.app.proactive import Conversation
from pydantic import ValidationError

from bot import messages as core_msg
from bot.commands import (
    TRIAGE_FIELDS,
    Actor,
    AnswerQuestion,
    Command,
    EditTriage,
    Escalate,
    Resolve,
    SessionCommand,
    StartSession,
    UserMessage,
)
from bot.errors import FlowPilotError, InvalidTransition
from bot.events import Notice, SessionStarted, SessionView, StatusChanged, TriageChanged
from bot.intake import Attachment
from bot.settings import Settings
from storage import raw, repo
from storage.notify import SessionChange

from . import cards
from . import messages as text
from .commands import (
    KEY,
    PLATFORM,
    _fields,
    actor_of,
    button,
    decode,
    encode,
    mentions_of,
    option_of,
    parse_typed,
    strip_mentions,
    tenant_of,
    thread_of,
    typed_command,
    without_bot_mention,
)
from .delivery import Delivery, Limits
from .files import fetch, incoming_files
from .guard import Refused, check_activity, read_body, safe_id
from .outbox import Outbox, card_activity
from .render import Escalation, Renderer
from .streaming import Pace

logger = logging.getLogger(__name__)

CLOSED = ("resolved", "escalated", "requesting_escalation", "abandoned")


@dataclass(frozen=True)
class Timing:
    pace: Pace = field(default_factory=Pace)
    limits: Limits = field(default_factory=Limits)
    shutdown_grace: float = 20.0


# Read once at mount; tests replace it to run streams and retries fast.
TIMING = Timing()


class LocalTokenProvider(AnonymousTokenProvider):
    """Local mode: creating a conversation refuses an empty token, and any non-empty one will do."""

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        return "local-development"


def connections_for(settings: Settings) -> tuple[Connections, AgentAuthConfiguration, bool]:
    """The SDK's connections from our settings; the flag says anonymous local mode."""
    if not settings.teams_client_id:
        if not settings.teams_anonymous:
            # The server does not mount Teams then; anyone else asking gets no open door either.
            raise ValueError("Teams needs a client id, or FLOWPILOT_TEAMS_ANONYMOUS=1 for local tries")
        manager = ConnectionManager(
            provider_factory=lambda _config: LocalTokenProvider(),
            connections_configurations={"SERVICE_CONNECTION": AgentAuthConfiguration(anonymous_allowed=True)},
        )
        return manager, manager.get_default_connection_configuration(), True
    prefix = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
    mapping = {f"{prefix}CLIENTID": settings.teams_client_id}
    if settings.teams_client_secret is not None:
        mapping[f"{prefix}CLIENTSECRET"] = settings.teams_client_secret.get_secret_value()
    if settings.teams_tenant_id:
        mapping[f"{prefix}TENANTID"] = settings.teams_tenant_id
    msal = MsalConnectionManager(**load_configuration_from_env(mapping))
    return msal, msal.get_default_connection_configuration(), False


def _data(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class TeamsBot:
    def __init__(self, runtime: Any, timing: Timing) -> None:
        self.runtime = runtime
        self.connections, self.auth_configuration, self.anonymous = connections_for(runtime.settings)
        self.app_id = runtime.settings.teams_client_id or ""
        self.pace = timing.pace
        self.delivery = Delivery(timing.limits)
        self._grace = timing.shutdown_grace
        self._tasks: set[asyncio.Task[None]] = set()
        self.agent = AgentApplication[TurnState](
            storage=MemoryStorage(),
            connection_manager=self.connections,
            proactive=ProactiveOptions(),
            start_typing_timer=False,
        )
        self.adapter = CloudAdapter(connection_manager=self.connections)
        self._routes()

    # ── HTTP ───────────────────────────────────────────────────────────────────────────────────────
    def mount(self, app: web.Application) -> None:
        # The SDK's JWT check looks the configuration up by this exact string key.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            app["agent_configuration"] = self.auth_configuration
        app.router.add_post("/api/messages", jwt_authorization_decorator(self.messages))
        self.runtime.changes.subscribe(self.on_change)
        self.runtime.recovered.append(self.on_recovered)
        app.on_shutdown.append(self.shutdown)
        if self.anonymous:
            logger.warning(
                "Teams adapter in anonymous local mode (FLOWPILOT_TEAMS_ANONYMOUS=1): only local serviceUrls "
                "are accepted"
            )

    async def messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request)
            check_activity(body, anonymous=self.anonymous)
        except Refused as refused:
            logger.warning("refused a Teams request: %s", refused.reason)
            return web.json_response({"error": refused.reason}, status=refused.status)
        # The SDK fails with a 500 on an activity it cannot read or that lacks what its turn state needs.
        try:
            activity = Activity.model_validate(body)
        except ValidationError:
            activity = None
        sender = activity.from_property if activity else None
        if not (activity and activity.type and activity.channel_id and sender and sender.id):
            return web.json_response({"error": "not a Bot Framework activity"}, status=400)
        response = await start_agent_process(request, self.agent, self.adapter)
        return response or web.Response(status=202)

    async def shutdown(self, _app: web.Application) -> None:
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=self._grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)

    # ── routes ─────────────────────────────────────────────────────────────────────────────────────
    def _routes(self) -> None:
        agent = self.agent
        agent.activity(ActivityTypes.message, rank=RouteRank.LAST)(self.on_message)
        agent.activity("conversationUpdate")(self.on_conversation_update)
        agent.invoke("task/fetch")(self.on_task_fetch)
        agent.invoke("task/submit")(self.on_task_submit)
        agent.invoke("adaptiveCard/action")(self.on_card_action)
        agent.error(self.on_error)

    async def _first_delivery(self, activity: Activity) -> bool:
        conversation_id = activity.conversation.id if activity.conversation else ""
        async with raw.autocommit(self.runtime.db) as conn:
            return await raw.first_delivery(
                conn, platform=PLATFORM, event_id=f"{conversation_id}|{activity.id}"[:255]
            )

    async def on_conversation_update(self, context: TurnContext, _state: TurnState) -> None:
        activity = context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        added = activity.members_added or []
        if activity.conversation and activity.conversation.conversation_type in (None, "personal"):
            if any(member.id == bot_id for member in added):
                await self._send_now(context, cards.card([cards.block(text.WELCOME)]))

    async def on_message(self, context: TurnContext, _state: TurnState) -> None:
        activity = context.activity
        if not await self._first_delivery(activity):
            return
        actor = actor_of(activity)
        data = _data(activity.value)
        typed_text = activity.text or ""
        if data and not typed_text.strip():
            if data.get("fp") == "text":  # Retry of a message we failed to take in
                typed_text = str(data.get("text") or "")
            elif data.get(KEY) == "show":  # Retry of a reply Teams did not accept
                self._spawn_show(context, data)
                return
            else:
                command = await self._command_of(context, data, actor)
                if command is not None:
                    self.spawn(context, command, escalation=self._escalation_of(command))
                return
        await self._on_text(context, actor, typed_text)

    async def _on_text(self, context: TurnContext, actor: Actor, raw: str) -> None:
        activity = context.activity
        message = strip_mentions(raw)
        typed = parse_typed(without_bot_mention(activity, raw))
        if typed is not None and typed.word == "help":
            await self._send_now(context, cards.help_card())
            return
        if typed is not None and typed.word == "list":
            views = await self.runtime.handler.list_sessions(actor=actor)
            await self._send_now(context, cards.session_list(views))
            return
        current = await self._current(activity, actor)
        if typed is not None:
            if current is None:
                await self._send_now(context, cards.card([cards.block(text.NO_SESSION_HERE)]))
                return
            command = typed_command(typed, actor=actor, session_id=current.session_id)
            escalation = None
            if typed.word == "escalate":
                escalation = await self._escalation_from_text(context, typed.rest)
            if command is not None:
                self.spawn(context, command, escalation=escalation, fresh_header=typed.word == "status")
            return
        files = await self._files(context)
        if not message.strip() and not files:
            return
        in_channel_thread = ";messageid=" in (activity.conversation.id if activity.conversation else "")
        if current is not None and (current.status not in CLOSED or in_channel_thread):
            command = UserMessage(
                actor=actor, session_id=current.session_id, text=raw.strip(), attachments=files
            )
            self.spawn(context, command)
            return
        thread = thread_of(activity)
        if not in_channel_thread:
            # A chat holds one session after another: each is bound under the message that started it.
            thread = type(thread)(thread.platform, thread.workspace_id, thread.channel_id, activity.id or "")
        # The conversation reference rides on the binding, so header cards can be updated from anywhere.
        reference = {"conversation": Conversation.from_turn_context(context).store_item_to_json()}
        self.spawn(
            context,
            StartSession(
                actor=actor, text=raw.strip(), attachments=files, thread=thread, thread_extra=reference
            ),
        )

    async def _files(self, context: TurnContext) -> tuple[Attachment, ...]:
        """The message's files and pictures; the engineer is told which could not be fetched."""
        wanted, refused = incoming_files(context.activity, anonymous=self.anonymous)
        if not wanted and not refused:
            return ()
        fetched = await fetch(wanted, token=self._token(context))
        missing = refused + fetched.failed
        if missing:
            line = text.FILES_NOT_FETCHED.format(names=", ".join(missing))
            await self._send_now(context, cards.card([cards.block("⚠️ " + line)]))
        return tuple(fetched.attachments)

    @staticmethod
    def _token(context: TurnContext) -> str:
        """The Authorization header the SDK's connector client uses for this activity's service host."""
        from microsoft_agents.hosting.core.connector import ConnectorClientBase

        client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
        session = getattr(client, "client", None)
        return str(session.headers.get("Authorization", "")) if session is not None else ""

    async def _current(self, activity: Activity, actor: Actor) -> SessionView | None:
        """The session this conversation (or channel thread) is on, if any."""
        thread = thread_of(activity)
        async with self.runtime.db() as db:
            binding = await repo.latest_binding(
                db, platform=PLATFORM, workspace_id=thread.workspace_id, channel_id=thread.channel_id
            )
        if binding is None:
            return None
        try:
            return await self.runtime.handler.view(actor=actor, session_id=binding.session_id)  # type: ignore[no-any-return]
        except FlowPilotError:
            return None

    async def _escalation_from_text(self, context: TurnContext, rest: str) -> Escalation:
        mentioned = mentions_of(context.activity)
        reason = strip_mentions(rest).lstrip(":-—– ")
        if not mentioned:
            return Escalation(reason=reason)
        person = mentioned[0]
        reason = reason.removeprefix(person.name).strip()
        aad_id, name = await self._member(context, person.id)
        return Escalation(to_id=aad_id, to_name=person.name or name, reason=reason)

    async def _member(self, context: TurnContext, member_id: str) -> tuple[str, str]:
        """A member's Entra object id and name (a mention or a people picker carries only one id): ask Teams."""
        from microsoft_agents.hosting.core.connector import ConnectorClientBase
        from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

        if not safe_id(member_id):  # it came from a mention or card data: never a URL path as it is
            logger.warning("did not look up a Teams member whose id is not a valid id")
            return member_id, ""
        client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
        if isinstance(client, TeamsConnectorClient) and context.activity.conversation:
            try:
                member = await client.get_conversation_member(context.activity.conversation.id, member_id)
                return member.aad_object_id or member_id, member.name or ""
            except Exception as err:  # someone outside this conversation keeps the id they came with
                logger.info("could not look a member up (%s)", type(err).__name__)
        return member_id, ""

    async def _named(self, context: TurnContext, command: Escalate) -> Escalate:
        """The receiving engineer with a display name, so the header and the DM can say who it is."""
        to = command.to
        if to is None or to.display_name:
            return command
        aad_id, name = await self._member(context, to.user_id)
        return dataclasses.replace(command, to=dataclasses.replace(to, user_id=aad_id, display_name=name))

    async def _command_of(self, context: TurnContext, data: dict[str, Any], actor: Actor) -> Command | None:
        """The command a card submit asks for, completed with what its data leaves out."""
        command = decode(data, actor)
        if isinstance(command, Escalate):
            return await self._named(context, command)
        option = option_of(data)
        if isinstance(command, AnswerQuestion) and option is not None:
            return await self._chosen(context, command, option)
        return command

    async def _chosen(
        self, context: TurnContext, command: AnswerQuestion, option: int
    ) -> AnswerQuestion | None:
        """The option an answer button stands for, from the session's open question (cards carry its index)."""
        try:
            view = await self.runtime.handler.view(actor=command.actor, session_id=command.session_id)
            question = next((q for q in view.questions if q.id == command.question_id), None)
            if question is None or not 0 <= option < len(question.options):
                raise InvalidTransition(core_msg.QUESTION_CLOSED)
        except FlowPilotError as err:
            notice = Notice(command.session_id, err.message, level="error", code=err.code)
            await self._send_now(context, cards.notice(notice))
            return None
        return dataclasses.replace(command, answer=question.options[option])

    async def _escalate(self, context: TurnContext, data: dict[str, Any], actor: Actor) -> Escalate | None:
        """The escalation a card's data describes, the engineer named (one picked in the card wins)."""
        command = decode({**data, KEY: "escalate"}, actor)
        return await self._named(context, command) if isinstance(command, Escalate) else None

    @staticmethod
    def _escalation_of(command: Command) -> Escalation | None:
        if isinstance(command, Escalate):
            return Escalation(reason=command.reason)
        return None

    # ── invokes: the answer is the HTTP response ───────────────────────────────────────────────────
    @staticmethod
    async def _invoke_response(context: TurnContext, body: Any, status: int = 200) -> None:
        await context.send_activity(
            Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=body))
        )

    async def on_task_fetch(self, context: TurnContext, _state: TurnState) -> None:
        data = _data(_data(context.activity.value).get("data"))
        actor = actor_of(context.activity)
        try:
            session_id = uuid.UUID(str(data.get("sid")))
            view = await self.runtime.handler.view(actor=actor, session_id=session_id)
            if data.get("fp") == "edit_draft":
                draft = await self.runtime.handler.latest_draft(actor=actor, session_id=session_id)
                kind = str(data.get("kind") or (draft.kind if draft else "resolve"))
                escalation = await self._escalate(context, data, actor) if kind == "escalate" else None
                to = escalation.to if escalation else None
                form = cards.draft_form(
                    session_id,
                    kind=kind,
                    root_cause=draft.root_cause if draft else "",
                    steps_taken=draft.steps_taken if draft else "",
                    recommendations=draft.recommendations if draft else "",
                    escalate_to=(to.user_id, to.display_name) if to else None,
                    reason=str(data.get("reason") or ""),
                )
                body = cards.task("Edit draft", form)
            else:
                body = cards.task("Edit triage", cards.triage_form(view))
        except ValueError:
            body = cards.task_message(text.NO_SESSION_HERE)
        except FlowPilotError as err:
            body = cards.task_message(err.message)
        await self._invoke_response(context, body)

    async def on_task_submit(self, context: TurnContext, _state: TurnState) -> None:
        data = _data(_data(context.activity.value).get("data"))
        actor = actor_of(context.activity)
        command: Command | None = None
        try:
            session_id = uuid.UUID(str(data.get("sid")))
        except ValueError:
            await self._invoke_response(context, cards.task_message(text.NO_SESSION_HERE))
            return
        common: dict[str, Any] = {"actor": actor, "session_id": session_id}
        if data.get("fp") == "edit_triage":
            try:
                view = await self.runtime.handler.view(actor=actor, session_id=session_id)
            except FlowPilotError as err:
                await self._invoke_response(context, cards.task_message(err.message))
                return
            # Only what the engineer changed becomes a manual edit; untouched fields stay Claude's.
            changes = {
                name: str(data[name])
                for name in TRIAGE_FIELDS
                if name in data and str(data[name] or "").strip() != (getattr(view, name) or "")
            }
            evidence = str(data.get("add_evidence") or "").strip()
            command = EditTriage(**common, changes=changes, add_evidence=(evidence,) if evidence else ())
        elif data.get("fp") == "edit_draft":
            if data.get("kind") == "escalate":
                # The dialog's data names the engineer exactly as the Confirm escalation button does.
                command = await self._escalate(context, data, actor)
            else:
                command = Resolve(**common, fields=_fields(data))
        if command is not None:
            self.spawn(context, command, escalation=self._escalation_of(command))
        await self._invoke_response(context, cards.task_message(text.DIALOG_SAVED))

    async def on_card_action(self, context: TurnContext, _state: TurnState) -> None:
        action = _data(_data(context.activity.value).get("action"))
        data = _data(action.get("data"))
        if data.get(KEY) == "show":
            self._spawn_show(context, data)
        else:
            command = await self._command_of(context, data, actor_of(context.activity))
            if command is not None:
                self.spawn(context, command)
        await self._invoke_response(
            context, {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "OK"}
        )

    # ── errors ─────────────────────────────────────────────────────────────────────────────────────
    async def on_error(self, context: TurnContext, err: Exception) -> None:
        logger.error("Teams turn failed: %s", type(err).__name__, exc_info=err)
        activity = context.activity
        retry: dict[str, Any] | None = None
        if activity.type == ActivityTypes.message:
            data = _data(activity.value)
            if data and not (activity.text or "").strip():
                retry = data
            elif activity.text and len(activity.text) <= 4000:
                retry = {"fp": "text", "text": activity.text}
        with contextlib.suppress(Exception):
            await self._send_now(context, cards.failure(retry))

    async def _send_now(self, context: TurnContext, content: dict[str, Any]) -> None:
        conversation_id = context.activity.conversation.id if context.activity.conversation else ""
        await self.delivery.call(conversation_id, lambda: context.send_activity(card_activity(content)))

    # ── running commands ───────────────────────────────────────────────────────────────────────────
    def spawn(
        self,
        context: TurnContext,
        command: Command,
        *,
        escalation: Escalation | None = None,
        fresh_header: bool = False,
    ) -> None:
        conversation = Conversation.from_turn_context(context)
        self._track(self._run(conversation, command, escalation, fresh_header))

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run after the HTTP answer; tracked so shutdown can wait for it."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_show(self, context: TurnContext, data: dict[str, Any]) -> None:
        """Retry after Teams refused part of a reply: show Claude's latest reply and the header again."""
        try:
            session_id = uuid.UUID(str(data.get("sid")))
        except ValueError:
            return
        actor = actor_of(context.activity)
        conversation = Conversation.from_turn_context(context)

        async def show(context: TurnContext) -> None:
            outbox = Outbox(context, self.delivery)
            outbox.reference = conversation.store_item_to_json()
            renderer = Renderer(self, outbox, actor=actor)
            try:
                turn, view = await self.runtime.handler.last_turn(actor=actor, session_id=session_id)
            except FlowPilotError as err:
                await outbox.send_card(
                    cards.notice(Notice(session_id, err.message, level="error", code=err.code))
                )
                return
            try:
                if turn is not None:
                    await renderer.render(turn)
                await renderer.render(TriageChanged(session_id, view))
            except Exception:
                logger.exception("could not show session %s again in Teams", session_id)
                with contextlib.suppress(Exception):
                    await outbox.send_card(cards.failure(button("show", session_id), saved=True))

        async def run() -> None:
            try:
                await self._continue(conversation, show)
            except Exception:
                logger.exception("showing a Teams session again failed")

        self._track(run())

    async def _continue(self, conversation: Conversation, callback: Any) -> None:
        identity = Conversation.identity_from_claims(conversation.claims)
        continuation = conversation.conversation_reference.get_continuation_activity()
        await self.adapter.continue_conversation_with_claims(identity, continuation, callback)

    async def _run(
        self, conversation: Conversation, command: Command, escalation: Escalation | None, fresh_header: bool
    ) -> None:
        async def render_all(context: TurnContext) -> None:
            outbox = Outbox(context, self.delivery)
            outbox.reference = conversation.store_item_to_json()
            renderer = Renderer(
                self, outbox, actor=command.actor, escalation=escalation, fresh_header=fresh_header
            )
            session_id = getattr(command, "session_id", None)
            failed = False
            core_retry: SessionCommand | None = None
            # The core's turn always runs to its end (and persists) even when showing it fails.
            async for event in self.runtime.handler.handle(command):
                if isinstance(event, SessionStarted):
                    session_id = event.session_id
                if isinstance(event, Notice) and event.retry is not None:
                    core_retry = event.retry
                if failed:
                    continue
                try:
                    await renderer.render(event)
                except Exception:
                    logger.exception("could not show a %s in Teams", type(event).__name__)
                    failed = True
            if failed and session_id is not None:
                # What the core saved is the truth: Retry shows it again, unless the core itself failed
                # (then Retry is the core's own, which Teams did not manage to show).
                retry = encode(core_retry) if core_retry is not None else button("show", session_id)
                with contextlib.suppress(Exception):
                    await outbox.send_card(cards.failure(retry, saved=core_retry is None))

        try:
            await self._continue(conversation, render_all)
        except Exception:
            logger.exception("a Teams command failed")

    # ── bindings: where each session's header card lives ───────────────────────────────────────────
    async def _teams_bindings(self, session_id: uuid.UUID) -> list[Any]:
        async with self.runtime.db() as db:
            return [b for b in await repo.bindings_of(db, session_id) if b.platform == PLATFORM]

    async def binding_info(self, session_id: uuid.UUID, conversation_id: str) -> dict[str, Any]:
        mine = [b for b in await self._teams_bindings(session_id) if b.channel_id == conversation_id]
        if not mine:
            return {"bound": False}
        binding = max(mine, key=lambda b: b.created_at)
        return {"bound": True, "header_id": binding.header_message_id, **(binding.extra or {})}

    async def remember(
        self,
        session_id: uuid.UUID,
        outbox: Outbox,
        *,
        header_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        mine = [b for b in await self._teams_bindings(session_id) if b.channel_id == outbox.conversation_id]
        if not mine:
            return
        binding = max(mine, key=lambda b: b.created_at)
        async with self.runtime.db() as db, db.begin():
            await repo.merge_binding_extra(
                db, binding_id=binding.id, extra=extra or {}, header_message_id=header_id
            )

    async def bind(self, session_id: uuid.UUID, outbox: Outbox) -> None:
        """Make this conversation show the session too (the engineer who took it over)."""
        activity = outbox.context.activity
        async with self.runtime.db() as db, db.begin():
            await repo.bind_thread(
                db,
                platform=PLATFORM,
                workspace_id=tenant_of(activity),
                channel_id=outbox.conversation_id,
                thread_id=f"takeover:{session_id}",
                session_id=session_id,
                extra={"conversation": outbox.reference},
            )

    async def refresh_headers(self, session_id: uuid.UUID, view: SessionView, *, skip: str = "") -> None:
        for binding in await self._teams_bindings(session_id):
            stored = (binding.extra or {}).get("conversation")
            if binding.channel_id == skip or not binding.header_message_id or not stored:
                continue
            header_id = binding.header_message_id

            async def update(context: TurnContext, header_id: str = header_id) -> None:
                await Outbox(context, self.delivery).update_card(header_id, cards.header(view))

            try:
                await self._continue(Conversation.from_json_to_store_item(stored), update)
            except Exception:
                logger.exception("could not update a Teams header of session %s", session_id)

    async def on_recovered(self, notice: Notice) -> None:
        """A turn a dead or stopped process left unfinished: say so, with Retry, where the session is now."""
        if notice.session_id is None:
            return
        bindings = [
            b for b in await self._teams_bindings(notice.session_id) if (b.extra or {}).get("conversation")
        ]
        if not bindings:
            return
        latest = max(bindings, key=lambda b: (b.created_at, b.id))

        async def tell(context: TurnContext) -> None:
            await Outbox(context, self.delivery).send_card(cards.notice(notice))

        await self._continue(Conversation.from_json_to_store_item(latest.extra["conversation"]), tell)

    async def on_change(self, change: SessionChange) -> None:
        """A change made elsewhere (REST API, Slack, another process): re-render our header cards."""
        if change.origin == PLATFORM or change.platform not in ("", PLATFORM):
            return
        if not await self._teams_bindings(change.session_id):
            return
        view = await self.runtime.handler.header(change.session_id)
        if view is not None:
            await self.refresh_headers(change.session_id, view)

    # ── escalation ─────────────────────────────────────────────────────────────────────────────────
    async def send_escalation(self, outbox: Outbox, to: Actor, event: StatusChanged) -> bool:
        """Open a personal chat with the receiving engineer and post the package with Take over."""
        activity = outbox.context.activity
        bot_id = activity.recipient.id if activity.recipient else ""
        app_id = self.app_id or (bot_id or "").removeprefix("28:")
        options = CreateConversationOptions(
            identity=ClaimsIdentity({"aud": app_id, "appid": app_id}),
            channel_id="msteams",
            service_url=activity.service_url or "",
            parameters=ConversationParameters(
                is_group=False,
                bot=ChannelAccount(id=f"28:{app_id}"),
                members=[ChannelAccount(id=to.user_id)],
                tenant_id=to.workspace_id,
                channel_data={"tenant": {"id": to.workspace_id}},
            ),
            store_conversation=True,
        )
        package = event.outputs.get("markdown") or event.outputs.get("plain") or ""
        content = cards.escalation_package(
            event.view, {"text": package}, sender=event.by, reason=event.reason or ""
        )
        try:
            chat = await self.delivery.call(
                to.user_id, lambda: self.agent.proactive.create_conversation(self.adapter, options)
            )
            chat_id = chat.conversation_reference.conversation.id
            await self.delivery.call(
                chat_id,
                lambda: self.agent.proactive.send_activity(self.adapter, chat, card_activity(content)),
            )
        except Exception:
            logger.exception("could not send the escalation of session %s", event.session_id)
            return False
        return True
