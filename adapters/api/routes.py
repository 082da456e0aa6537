"""The /api/ai-sessions routes: HTTP requests in, session commands to the core, JSON out."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps

from aiohttp import web
from pydantic import ValidationError

from adapters.runtime import Runtime
from bot import queries
from bot.commands import (
    Actor,
    AnswerQuestion,
    Command,
    EditTriage,
    Escalate,
    LeaveFlow,
    MarkAction,
    Rate,
    Resolve,
    RetryTurn,
    SetEvidenceStatus,
    StartSession,
    UserMessage,
)
from bot.events import AssistantTurn, Event, Notice, SessionStarted, StatusChanged
from bot.intake import Attachment
from bot.queries import AccountRef
from bot.schemas import HandoffFields

from . import render
from .auth import TokenBook, Unauthorized, actor_for, authenticate
from .bodies import FieldError, RetryHint
from .errors import FOREIGN, NOT_FOUND, ApiError, from_notice, invalid, is_failure, parse
from .schemas import (
    ActionTurnIn,
    AnswerTurnIn,
    AttachmentIn,
    EscalateIn,
    HandoffResult,
    LeaveFlowTurnIn,
    ListQuery,
    MessageIn,
    RatingIn,
    ResolveIn,
    RetryTurnIn,
    SessionPage,
    StartSessionIn,
    TriagePatchIn,
    TurnResponse,
)

logger = logging.getLogger(__name__)

# Bodies that may carry attachments (base64 screenshots and logs) may be large; the others are small.
UPLOAD_LIMIT = 16 * 1024 * 1024
BODY_LIMIT = 256 * 1024
TRIAGE_FIELDS = ("problem_summary", "client_name", "asset_name", "issue_category", "hypothesis")


@dataclass(frozen=True)
class Api:
    runtime: Runtime
    tokens: TokenBook


API = web.AppKey("flowpilot_api", Api)


@dataclass
class Outcome:
    """What one command produced, once it succeeded."""

    events: list[Event] = field(default_factory=list)

    def last(self, kind: type) -> object | None:
        found = [e for e in self.events if isinstance(e, kind)]
        return found[-1] if found else None

    @property
    def turn(self) -> AssistantTurn | None:
        turn = self.last(AssistantTurn)
        return turn if isinstance(turn, AssistantTurn) else None

    @property
    def notices(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Notice)]


Handler = Callable[[web.Request, Api, AccountRef], Awaitable[web.StreamResponse]]


def endpoint(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Authenticate, run, and turn every ApiError into its JSON answer."""

    @wraps(fn)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        api = request.app[API]
        try:
            account = authenticate(request, api.tokens)
            return await fn(request, api, account)
        except Unauthorized as err:
            response = ApiError(401, "unauthorized", err.message).response()
            response.headers["WWW-Authenticate"] = err.challenge
            return response
        except ApiError as err:
            return err.response()

    return wrapper


async def _owned(request: web.Request, api: Api, account: AccountRef) -> uuid.UUID:
    """The session id of the path, checked to exist (404) and to be the token's account's (403)."""
    try:
        session_id = uuid.UUID(request.match_info["session_id"])
    except ValueError:
        raise ApiError(404, "not_found", NOT_FOUND) from None
    owner = await queries.account_of(api.runtime.db, session_id)
    if owner is None:
        raise ApiError(404, "not_found", NOT_FOUND)
    if owner != account:
        raise ApiError(403, "forbidden", FOREIGN)
    return session_id


def _retry_hint(session_id: uuid.UUID | None) -> RetryHint | None:
    if session_id is None:
        return None
    return RetryHint(method="POST", path=f"/api/ai-sessions/{session_id}/messages", body={"retry": True})


async def run(api: Api, command: Command, *, retry: RetryHint | None = None) -> Outcome:
    """Apply one command; an error notice from the core becomes its ApiError."""
    outcome = Outcome()
    async for event in api.runtime.handler.handle(command):
        if is_failure(event):
            assert isinstance(event, Notice)
            raise from_notice(event, retry=retry or _retry_hint(event.session_id))
        outcome.events.append(event)
    return outcome


async def _record(api: Api, account: AccountRef, session_id: uuid.UUID) -> queries.SessionRecord:
    record = await queries.session_record(api.runtime.db, account=account, session_id=session_id)
    if record is None:  # removed between the command and this read
        raise ApiError(404, "not_found", NOT_FOUND)
    return record


def _json(model: TurnResponse | HandoffResult | SessionPage | object, status: int = 200) -> web.Response:
    assert hasattr(model, "model_dump")
    return web.json_response(model.model_dump(mode="json", by_alias=True), status=status)


def _attachments(items: list[AttachmentIn]) -> tuple[Attachment, ...]:
    return tuple(Attachment(filename=a.filename, media_type=a.media_type, data=a.data) for a in items)


# ── listing and reading ────────────────────────────────────────────────────────────────────────────────
def encode_cursor(after: tuple[datetime, uuid.UUID]) -> str:
    raw = json.dumps([after[0].isoformat(), str(after[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, sid = json.loads(raw)
        at = datetime.fromisoformat(when)
        if at.tzinfo is None:
            raise ValueError
        return at, uuid.UUID(sid)
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(
            422,
            "bad_input",
            "query.cursor: not a cursor this API returned",
            fields=[
                FieldError(loc=["query", "cursor"], message="not a cursor this API returned", type="cursor")
            ],
        ) from None


@endpoint
async def list_sessions(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    known = set(ListQuery.model_fields)
    values: dict[str, object] = {}
    for key in request.query:
        values[key] = request.query.getall(key) if key == "status" or key not in known else request.query[key]
    try:
        q = ListQuery.model_validate(values)
    except ValidationError as err:
        raise invalid(err, prefix=("query",)) from None
    page = await queries.list_sessions(
        api.runtime.db,
        account=account,
        where=queries.SessionFilter(
            statuses=tuple(q.status),
            user_id=q.user,
            client=q.client,
            created_after=q.created_after,
            created_before=q.created_before,
        ),
        after=decode_cursor(q.cursor) if q.cursor else None,
        limit=q.limit,
    )
    return _json(
        SessionPage(
            items=[render.summary(v) for v in page.items],
            next_cursor=encode_cursor(page.next_after) if page.next_after else None,
        )
    )


@endpoint
async def get_session(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    return _json(render.detail(await _record(api, account, session_id)))


# ── starting and taking turns ──────────────────────────────────────────────────────────────────────────
@endpoint
async def start_session(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    body = await parse(request, StartSessionIn, limit=UPLOAD_LIMIT)
    actor = actor_for(request, account, user_id=body.user_id, user_name=body.user_name)
    command = StartSession(
        actor=actor,
        text=body.text,
        attachments=_attachments(body.attachments),
        psa_ticket_id=body.psa_ticket_id or None,
        flow=body.flow or None,
    )
    outcome = await run(api, command)
    started = outcome.last(SessionStarted)
    assert isinstance(started, SessionStarted) and started.session_id is not None
    record = await _record(api, account, started.session_id)
    return _json(
        TurnResponse(
            session=render.detail(record),
            turn=render.turn(outcome.turn) if outcome.turn else None,
            notices=outcome.notices,
        ),
        status=201,
    )


def _turn_command(body: MessageIn, actor: Actor, session_id: uuid.UUID) -> Command:
    turn = body.root
    if isinstance(turn, AnswerTurnIn):
        return AnswerQuestion(
            actor=actor, session_id=session_id, question_id=turn.answer.question_id, answer=turn.answer.answer
        )
    if isinstance(turn, ActionTurnIn):
        return MarkAction(
            actor=actor, session_id=session_id, action_id=turn.action.action_id, outcome=turn.action.outcome
        )
    if isinstance(turn, RetryTurnIn):
        return RetryTurn(actor=actor, session_id=session_id)
    if isinstance(turn, LeaveFlowTurnIn):
        return LeaveFlow(actor=actor, session_id=session_id)
    return UserMessage(
        actor=actor, session_id=session_id, text=turn.text, attachments=_attachments(turn.attachments)
    )


@endpoint
async def post_message(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    body = await parse(request, MessageIn, limit=UPLOAD_LIMIT)
    actor = actor_for(request, account, user_id=body.root.user_id, user_name=body.root.user_name)
    outcome = await run(api, _turn_command(body, actor, session_id))
    record = await _record(api, account, session_id)
    return _json(
        TurnResponse(
            session=render.detail(record),
            turn=render.turn(outcome.turn) if outcome.turn else None,
            notices=outcome.notices,
        )
    )


# ── triage, handoff, rating ────────────────────────────────────────────────────────────────────────────
@endpoint
async def patch_triage(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    body = await parse(request, TriagePatchIn, limit=BODY_LIMIT)
    actor = actor_for(request, account, user_id=body.user_id, user_name=body.user_name)
    changes = {name: getattr(body, name) or "" for name in TRIAGE_FIELDS if name in body.model_fields_set}
    if body.evidence_status:
        # Checked before anything is applied, so a bad index changes nothing.
        count = len((await _record(api, account, session_id)).evidence)
        for n, item in enumerate(body.evidence_status):
            if item.index > count:
                message = f"There is no evidence item {item.index}; the header lists {count}."
                raise ApiError(
                    422,
                    "bad_input",
                    message,
                    fields=[
                        FieldError(loc=["body", "evidence_status", n, "index"], message=message, type="range")
                    ],
                )
    if changes or body.add_evidence:
        await run(
            api,
            EditTriage(
                actor=actor, session_id=session_id, changes=changes, add_evidence=tuple(body.add_evidence)
            ),
        )
    for item in body.evidence_status:
        await run(
            api, SetEvidenceStatus(actor=actor, session_id=session_id, index=item.index, status=item.status)
        )
    return _json(render.detail(await _record(api, account, session_id)))


def _fields(body: ResolveIn, draft: queries.HandoffRecord | None) -> HandoffFields | None:
    """The sections sent, completed from the latest draft; None (use the draft) when none was sent."""
    sent = {k: getattr(body, k) for k in ("root_cause", "steps_taken", "recommendations")}
    if all(v is None for v in sent.values()):
        return None
    base = {
        "root_cause": draft.root_cause if draft else "",
        "steps_taken": draft.steps_taken if draft else "",
        "recommendations": draft.recommendations if draft else "",
    }
    return HandoffFields(**{k: v if v is not None else base[k] for k, v in sent.items()})


async def _conclude(
    request: web.Request, api: Api, account: AccountRef, session_id: uuid.UUID, command: Command
) -> web.StreamResponse:
    outcome = await run(api, command)
    changed = outcome.last(StatusChanged)
    assert isinstance(changed, StatusChanged)
    record = await _record(api, account, session_id)
    confirmed = record.confirmed
    outputs = render.outputs(changed.outputs)
    assert confirmed is not None and outputs is not None
    return _json(HandoffResult(session=render.detail(record), handoff_id=confirmed.id, outputs=outputs))


@endpoint
async def resolve(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    body = await parse(request, ResolveIn, limit=BODY_LIMIT)
    actor = actor_for(request, account, user_id=body.user_id, user_name=body.user_name)
    draft = (await _record(api, account, session_id)).draft
    command = Resolve(actor=actor, session_id=session_id, fields=_fields(body, draft))
    return await _conclude(request, api, account, session_id, command)


@endpoint
async def escalate(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    body = await parse(request, EscalateIn, limit=BODY_LIMIT)
    actor = actor_for(request, account, user_id=body.user_id, user_name=body.user_name)
    draft = (await _record(api, account, session_id)).draft
    to = None
    if body.to_user_id:
        to = Actor(
            platform=account.platform,
            workspace_id=account.workspace_id,
            user_id=body.to_user_id,
            display_name=body.to_user_name or "",
            via="api",
        )
    command = Escalate(
        actor=actor, session_id=session_id, to=to, reason=body.reason, fields=_fields(body, draft)
    )
    return await _conclude(request, api, account, session_id, command)


@endpoint
async def rate(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    body = await parse(request, RatingIn, limit=BODY_LIMIT)
    actor = actor_for(request, account, user_id=body.user_id, user_name=body.user_name)
    await run(
        api,
        Rate(actor=actor, session_id=session_id, rating=body.rating, feedback=body.feedback, replace=True),
    )
    return _json(render.detail(await _record(api, account, session_id)))
