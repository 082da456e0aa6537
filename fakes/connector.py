"""A fake Bot Framework connector, Teams flavoured, served over real HTTP.

The Agents SDK's ``ConnectorClient`` posts to whatever ``serviceUrl`` an incoming activity carries, so a
test puts ``fake.service_url`` there and asserts on what the bot really sent. The fake keeps the parts of
Teams' behaviour a bot can trip over: streaming rules, the 28 KB message limit, throttling and faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

DEFAULT_TENANT_ID = "6f1c2b9e-3d4a-4e8b-9c1d-2a3b4c5d6e7f"
DEFAULT_BOT_APP_ID = "b0770000-1111-4222-8333-444455556666"
DEFAULT_BOT_ID = f"28:{DEFAULT_BOT_APP_ID}"
DEFAULT_BOT_NAME = "FlowPilot"
DEFAULT_USER_ID = "29:1kXq3Wm8pT0vYbN7rC2dE5fG6hJ9kL4mN0pQ1rS3tU5vW7xY9zA"
DEFAULT_USER_AAD_ID = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
DEFAULT_USER_NAME = "Ada Lovelace"
DEFAULT_PERSONAL_CONVERSATION_ID = "a:1Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_personal-chat"
DEFAULT_TEAM_ID = "19:Qm3tN4pR5sT6uV7wX8yZ9aB0cD1eF2gH@thread.tacv2"
DEFAULT_CHANNEL_ID = "19:7c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f@thread.tacv2"
DEFAULT_GROUP_CHAT_ID = "19:b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7@thread.v2"

# Teams rejects bot messages over about 28 KB (the limit counts the whole JSON payload).
MAX_PAYLOAD_BYTES = 28 * 1024
# Teams ends a stream two minutes after it started.
STREAM_TIME_LIMIT_SECONDS = 120.0
MAX_INFORMATIVE_CHARS = 1000

_FIRST_ACTIVITY_ID = 1_767_225_600_000  # Teams activity ids are epoch milliseconds.
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
_STATUS_CODES = {
    400: "BadArgument",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    412: "PreconditionFailed",
    413: "MessageSizeTooBig",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_BODY = web.RequestKey("fake_connector.body", object)


@dataclass
class RecordedRequest:
    """One HTTP request the bot made, as the fake received it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: CIMultiDictProxy[str]
    body: Any
    status: int = 0

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")


@dataclass
class SentActivity:
    """An activity the bot posted, with every version it later replaced it with."""

    id: str
    conversation_id: str
    versions: list[dict[str, Any]]
    reply_to_id: str | None = None
    deleted: bool = False

    @property
    def current(self) -> dict[str, Any]:
        return self.versions[-1]

    @property
    def type(self) -> str | None:
        return self.current.get("type")

    @property
    def text(self) -> str | None:
        return self.current.get("text")

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return self.current.get("attachments") or []

    @property
    def edited(self) -> bool:
        return len(self.versions) > 1


@dataclass
class Stream:
    """One Teams streamed answer: its chunks in the order Teams accepted them."""

    stream_id: str
    conversation_id: str
    chunks: list[dict[str, Any]]
    started_at: float
    last_sequence: int = 0
    streamed_text: str = ""
    final: dict[str, Any] | None = None
    cancelled: bool = False

    @property
    def stream_types(self) -> list[str]:
        return [(_stream_info(chunk) or {}).get("streamType", "") for chunk in self.chunks]

    @property
    def finished(self) -> bool:
        return self.final is not None


@dataclass(frozen=True)
class StreamError:
    """A streaming activity the fake refused, with the answer Teams would give."""

    conversation_id: str
    stream_id: str | None
    status: int
    code: str
    message: str
    activity: dict[str, Any]


@dataclass
class _Fault:
    path_contains: str
    status: int
    remaining: int
    retry_after: float | None
    method: str | None
    code: str
    message: str
    activity_type: str | None = None

    def matches(self, method: str, path: str, body: Any = None) -> bool:
        if self.method and self.method != method:
            return False
        if self.activity_type is not None and (
            not isinstance(body, dict) or body.get("type") != self.activity_type
        ):
            return False
        if self.path_contains.endswith("$"):
            return path.endswith(self.path_contains[:-1])
        return self.path_contains in path


class _Rejected(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class FakeConnector:
    """Bot Framework Connector REST v3 (plus the Teams team/channel reads) on 127.0.0.1, random port."""

    def __init__(self, *, base_path: str = "/"):
        if not (base_path.startswith("/") and base_path.endswith("/")):
            raise ValueError("base_path must start and end with '/'")
        self._base_path = base_path
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._lock = threading.Lock()
        self.max_payload_bytes = MAX_PAYLOAD_BYTES
        self.stream_time_limit = STREAM_TIME_LIMIT_SECONDS
        # Off by default; Teams allows about 7 operations per second per conversation for a bot.
        self.max_ops_per_second: float | None = None
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded and configured, keeping the server running."""
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.created_conversations: list[dict[str, Any]] = []
            self.stream_errors: list[StreamError] = []
            self._activities: dict[str, dict[str, SentActivity]] = defaultdict(dict)
            self._streams: dict[str, Stream] = {}
            self._typing: dict[str, int] = defaultdict(int)
            self._members: dict[str, list[dict[str, Any]]] = {}
            self._teams: dict[str, dict[str, Any]] = {}
            self._faults: list[_Fault] = []
            self._ops: dict[str, deque[float]] = defaultdict(deque)
            self._files: dict[str, tuple[bytes, str]] = {}
            self._ids = itertools.count(_FIRST_ACTIVITY_ID)

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def service_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeConnector is not running")
        return f"http://127.0.0.1:{self._port}{self._base_path}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self._build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._port = None

    async def __aenter__(self) -> FakeConnector:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, *, base_path: str = "/") -> Iterator[FakeConnector]:
        """Run the fake on its own event loop in a daemon thread, for synchronous callers."""
        fake = cls(base_path=base_path)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-connector", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout=10)
            yield fake
        finally:
            asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    # ---- configuration ---------------------------------------------------------------------------

    def fail(
        self,
        path_contains: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        method: str | None = None,
        code: str | None = None,
        message: str | None = None,
        activity_type: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (a trailing ``$`` means "path ends with").

        ``activity_type`` (e.g. "message") limits the fault to requests whose body is an activity of that
        type, so a typing indicator in between does not use it up.
        """
        with self._lock:
            self._faults.append(
                _Fault(
                    path_contains=path_contains,
                    status=status,
                    remaining=times,
                    retry_after=retry_after,
                    method=method.upper() if method else None,
                    code=code or _STATUS_CODES.get(status, "ServiceError"),
                    message=message or f"Injected failure {status}",
                    activity_type=activity_type,
                )
            )

    def add_member(self, conversation_id: str, member: dict[str, Any]) -> None:
        """Make ``member`` (see :func:`teams_member`) part of the conversation's roster."""
        with self._lock:
            self._members.setdefault(conversation_id, []).append(member)

    def add_team(
        self,
        team_id: str,
        *,
        name: str,
        channels: Mapping[str, str | None],
        aad_group_id: str | None = None,
    ) -> None:
        """Register a team and its channels (id -> name; the General channel's id is the team id)."""
        with self._lock:
            self._teams[team_id] = {
                "details": {
                    "id": team_id,
                    "name": name,
                    "aadGroupId": aad_group_id or _stable_guid(team_id),
                    "type": "standard",
                },
                "channels": [
                    {"id": channel_id, **({"name": channel_name} if channel_name else {})}
                    for channel_id, channel_name in channels.items()
                ],
            }

    def add_file(self, name: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        """Serve ``data`` as an uploaded file; returns its ``downloadUrl``.

        ``{service_url}v3/attachments/{name}/views/original`` serves it too, as a pasted picture's
        ``contentUrl``. Downloads are recorded in ``requests`` like every other call.
        """
        with self._lock:
            self._files[name] = (data, content_type)
        return f"{self.service_url}files/{name}"

    def cancel_streams(self, conversation_id: str) -> None:
        """Act as if the user pressed Stop: the next chunk of every open stream gets 403."""
        with self._lock:
            for stream in self._streams.values():
                if stream.conversation_id == conversation_id and not stream.finished:
                    stream.cancelled = True

    # ---- inspection ------------------------------------------------------------------------------

    def activities(self, conversation_id: str, *, include_deleted: bool = False) -> list[SentActivity]:
        """Messages the bot posted in the conversation, in order; unfinished streams are not messages yet."""
        with self._lock:
            records = list(self._activities.get(conversation_id, {}).values())
        return [
            record
            for record in records
            if record.type != "typing" and (include_deleted or not record.deleted)
        ]

    def streams(self, conversation_id: str) -> list[Stream]:
        with self._lock:
            return [stream for stream in self._streams.values() if stream.conversation_id == conversation_id]

    def typing_indicators(self, conversation_id: str) -> int:
        """How many plain typing indicators (no stream) the bot sent."""
        return self._typing.get(conversation_id, 0)

    # ---- HTTP ------------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_gate])
        conversation = f"{self._base_path}v3/conversations/{{cid}}"
        app.router.add_post(f"{self._base_path}v3/conversations", self._create_conversation)
        app.router.add_post(f"{conversation}/activities", self._send_activity)
        app.router.add_post(f"{conversation}/activities/{{aid}}", self._reply_to_activity)
        app.router.add_put(f"{conversation}/activities/{{aid}}", self._update_activity)
        app.router.add_delete(f"{conversation}/activities/{{aid}}", self._delete_activity)
        app.router.add_get(f"{conversation}/members", self._get_members)
        app.router.add_get(f"{conversation}/members/{{mid}}", self._get_member)
        # The SDK's base client says "pagedmembers", its Teams client "pagedMembers".
        app.router.add_get(f"{conversation}/pagedmembers", self._get_paged_members)
        app.router.add_get(f"{conversation}/pagedMembers", self._get_paged_members)
        app.router.add_get(f"{self._base_path}files/{{name}}", self._get_file)
        app.router.add_get(f"{self._base_path}v3/attachments/{{name}}/views/{{view}}", self._get_file)
        app.router.add_get(f"{self._base_path}v3/teams/{{tid}}", self._get_team)
        app.router.add_get(f"{self._base_path}v3/teams/{{tid}}/conversations", self._get_channels)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route)
        return app

    @web.middleware
    async def _record_and_gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request[_BODY] = body
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
        )
        with self._lock:
            self.requests.append(recorded)
        response = self._gate(request, raw)
        if response is None:
            try:
                response = await handler(request)
            except _Rejected as rejected:
                response = _error(rejected.status, rejected.code, rejected.message)
        recorded.status = response.status
        return response

    def _gate(self, request: web.Request, raw: bytes) -> web.Response | None:
        """Injected faults first, then the optional throttle, then the size limit."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(request.method, request.path, request.get(_BODY)):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    headers = {"Retry-After": _retry_after(fault.retry_after)} if fault.retry_after else {}
                    return _error(fault.status, fault.code, fault.message, headers=headers)
            cid = request.match_info.get("cid")
            if cid and request.method in _WRITE_METHODS and self.max_ops_per_second:
                now = time.monotonic()
                window = self._ops[cid]
                while window and now - window[0] >= 1.0:
                    window.popleft()
                if len(window) >= self.max_ops_per_second:
                    return _error(
                        429,
                        "TooManyRequests",
                        "Too many requests for this conversation",
                        {"Retry-After": "1"},
                    )
                window.append(now)
        if request.method in {"POST", "PUT"} and "/activities" in request.path:
            if len(raw) > self.max_payload_bytes:
                return _error(413, "MessageSizeTooBig", "Message size too large")
        return None

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = _json_object(request)
        channel_data = body.get("channelData") or {}
        tenant_id = body.get("tenantId") or (channel_data.get("tenant") or {}).get("id")
        if not tenant_id:
            raise _Rejected(400, "BadArgument", "Tenant id is required (tenantId or channelData.tenant.id)")
        with self._lock:
            first_id = str(next(self._ids))
        if body.get("isGroup"):
            conversation_id, members = _new_channel_thread(body, channel_data, root_id=first_id)
        else:
            conversation_id, members = _personal_chat(body)
        result: dict[str, Any] = {"id": conversation_id}
        with self._lock:
            self._members.setdefault(conversation_id, members)
            if isinstance(body.get("activity"), dict):
                self._store(conversation_id, body["activity"], reply_to_id=None, activity_id=first_id)
                result["activityId"] = first_id
            self.created_conversations.append({"request": body, "response": result})
        return web.json_response(result, status=201)

    async def _send_activity(self, request: web.Request) -> web.Response:
        return self._post_activity(request.match_info["cid"], _json_object(request), reply_to_id=None)

    async def _reply_to_activity(self, request: web.Request) -> web.Response:
        return self._post_activity(
            request.match_info["cid"], _json_object(request), reply_to_id=request.match_info["aid"]
        )

    def _post_activity(self, cid: str, body: dict[str, Any], *, reply_to_id: str | None) -> web.Response:
        if not body.get("type"):
            raise _Rejected(400, "BadSyntax", "Activity type is required")
        with self._lock:
            if _stream_info(body) is not None:
                return web.json_response(
                    {"id": self._accept_stream_chunk(cid, body, reply_to_id)}, status=201
                )
            if body["type"] == "typing":
                self._typing[cid] += 1
                return web.json_response({}, status=201)
            record = self._store(cid, body, reply_to_id=reply_to_id)
        return web.json_response({"id": record.id}, status=201)

    async def _update_activity(self, request: web.Request) -> web.Response:
        cid, aid = request.match_info["cid"], request.match_info["aid"]
        body = _json_object(request)
        with self._lock:
            record = self._activities.get(cid, {}).get(aid)
            if record is None or record.deleted:
                raise _Rejected(404, "ActivityNotFound", f"Activity {aid} not found in conversation")
            record.versions.append(body)
        return web.json_response({"id": aid})

    async def _delete_activity(self, request: web.Request) -> web.Response:
        cid, aid = request.match_info["cid"], request.match_info["aid"]
        with self._lock:
            record = self._activities.get(cid, {}).get(aid)
            if record is None or record.deleted:
                raise _Rejected(404, "ActivityNotFound", f"Activity {aid} not found in conversation")
            record.deleted = True
        return web.Response(status=200)

    async def _get_members(self, request: web.Request) -> web.Response:
        return web.json_response(self._roster(request.match_info["cid"]))

    async def _get_member(self, request: web.Request) -> web.Response:
        member_id = request.match_info["mid"]
        for member in self._roster(request.match_info["cid"]):
            if member_id in (member.get("id"), member.get("aadObjectId")):
                return web.json_response(member)
        raise _Rejected(404, "MemberNotFoundInConversation", "The member was not found in the conversation")

    async def _get_paged_members(self, request: web.Request) -> web.Response:
        roster = self._roster(request.match_info["cid"])
        page_size = int(request.query.get("pageSize") or 200)
        start = int(request.query.get("continuationToken") or 0)
        end = start + page_size
        page: dict[str, Any] = {"members": roster[start:end]}
        if end < len(roster):  # Teams leaves the token out on the last page
            page["continuationToken"] = str(end)
        return web.json_response(page)

    async def _get_team(self, request: web.Request) -> web.Response:
        team = self._team(request.match_info["tid"])
        details = dict(team["details"])
        details["channelCount"] = len(team["channels"])
        details["memberCount"] = len(self._members.get(details["id"], []))
        return web.json_response(details)

    async def _get_channels(self, request: web.Request) -> web.Response:
        return web.json_response({"conversations": self._team(request.match_info["tid"])["channels"]})

    async def _get_file(self, request: web.Request) -> web.Response:
        with self._lock:
            found = self._files.get(request.match_info["name"])
        if found is None:
            raise _Rejected(404, "NotFound", "File not found")
        return web.Response(body=found[0], content_type=found[1])

    async def _unknown_route(self, request: web.Request) -> web.Response:
        raise _Rejected(404, "NotFound", f"The fake connector does not serve {request.method} {request.path}")

    # ---- state helpers (callers hold the lock) ---------------------------------------------------

    def _store(
        self, cid: str, body: dict[str, Any], *, reply_to_id: str | None, activity_id: str | None = None
    ) -> SentActivity:
        record = SentActivity(
            id=activity_id or str(next(self._ids)),
            conversation_id=cid,
            versions=[body],
            reply_to_id=reply_to_id,
        )
        self._activities[cid][record.id] = record
        return record

    def _roster(self, cid: str) -> list[dict[str, Any]]:
        with self._lock:
            if cid not in self._members:
                raise _Rejected(404, "ConversationNotFound", "Conversation not found")
            return list(self._members[cid])

    def _team(self, team_id: str) -> dict[str, Any]:
        with self._lock:
            if team_id not in self._teams:
                raise _Rejected(404, "NotFound", "Team not found")
            return self._teams[team_id]

    def _accept_stream_chunk(self, cid: str, body: dict[str, Any], reply_to_id: str | None) -> str:
        info = _stream_info(body) or {}
        stream_id = info.get("streamId") or None
        try:
            stream = self._check_stream_chunk(cid, body, info, stream_id)
        except _Rejected as rejected:
            self.stream_errors.append(
                StreamError(cid, stream_id, rejected.status, rejected.code, rejected.message, body)
            )
            raise
        if stream is None:
            record = self._store(cid, body, reply_to_id=reply_to_id)
            stream = Stream(stream_id=record.id, conversation_id=cid, chunks=[], started_at=time.monotonic())
            self._streams[record.id] = stream
        else:
            self._activities[cid][stream.stream_id].versions.append(body)
        stream.chunks.append(body)
        if info.get("streamType") == "final":
            stream.final = body
        else:
            stream.last_sequence = info["streamSequence"]
        if info.get("streamType") == "streaming":
            stream.streamed_text = body.get("text") or ""
        return stream.stream_id

    def _check_stream_chunk(
        self, cid: str, body: dict[str, Any], info: dict[str, Any], stream_id: str | None
    ) -> Stream | None:
        """Teams' streaming rules; returns the open stream the chunk continues, or None for a new one."""
        stream_type = info.get("streamType")
        conversation_type = (body.get("conversation") or {}).get("conversationType") or _guess_type(cid)
        if conversation_type != "personal":
            raise _Rejected(403, "ContentStreamNotAllowed", "Content stream is not allowed")
        if stream_type not in {"informative", "streaming", "final"}:
            raise _Rejected(400, "BadArgument", f"Unknown streamType {stream_type!r}")
        if stream_type == "final" and body["type"] != "message":
            raise _Rejected(
                400,
                "BadSyntax",
                "Only start streaming and continue streaming types are allowed as a typing activity",
            )
        if stream_type != "final" and body["type"] != "typing":
            raise _Rejected(400, "BadArgument", "Informative and streaming updates must be typing activities")
        if stream_type == "informative" and len(body.get("text") or "") > MAX_INFORMATIVE_CHARS:
            raise _Rejected(400, "BadArgument", "Informative message must not exceed 1000 characters")
        sequence = info.get("streamSequence")
        if stream_id is None:
            if stream_type == "final":
                raise _Rejected(400, "BadArgument", "A final message needs the streamId of its stream")
            if sequence != 1:
                raise _Rejected(400, "BadArgument", f"The first streamSequence must be 1, got {sequence!r}")
            return None
        stream = self._streams.get(stream_id)
        if stream is None or stream.conversation_id != cid:
            raise _Rejected(400, "BadArgument", f"Unknown streamId {stream_id!r}")
        if stream.finished:
            raise _Rejected(
                403,
                "ContentStreamNotAllowed",
                "Content stream is not allowed on an already completed streamed message",
            )
        if stream.cancelled:
            raise _Rejected(403, "ContentStreamNotAllowed", "Content stream was cancelled by user.")
        if time.monotonic() - stream.started_at > self.stream_time_limit:
            raise _Rejected(
                403, "ContentStreamNotAllowed", "Content stream finished due to exceeded streaming time."
            )
        if stream_type != "final" and sequence != stream.last_sequence + 1:
            raise _Rejected(
                400,
                "BadArgument",
                f"streamSequence must increase by 1: expected {stream.last_sequence + 1}, got {sequence!r}",
            )
        if stream_type == "streaming" and not (body.get("text") or "").startswith(stream.streamed_text):
            raise _Rejected(
                400, "BadArgument", "Request streamed content should contain the previously streamed content."
            )
        return stream


def _personal_chat(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    members = body.get("members") or []
    if len(members) != 1 or not members[0].get("id"):
        raise _Rejected(400, "BadArgument", "A one-on-one conversation needs exactly one member with an id")
    bot_id = (body.get("bot") or {}).get("id", DEFAULT_BOT_ID)
    # Teams returns the same personal chat id for the same user and bot.
    digest = hashlib.sha256(f"{members[0]['id']}|{bot_id}".encode()).hexdigest()[:48]
    return f"a:1{digest}", [dict(member) for member in members]


def _new_channel_thread(
    body: dict[str, Any], channel_data: dict[str, Any], *, root_id: str
) -> tuple[str, list[dict[str, Any]]]:
    """Bots cannot start group chats, only a new channel thread with its first post."""
    channel_id = (channel_data.get("channel") or {}).get("id")
    if not channel_id or not isinstance(body.get("activity"), dict):
        raise _Rejected(
            400, "BadArgument", "A group conversation needs channelData.channel.id and an activity"
        )
    return f"{channel_id};messageid={root_id}", []


def _json_object(request: web.Request) -> dict[str, Any]:
    body = request[_BODY]
    if not isinstance(body, dict):
        raise _Rejected(400, "BadSyntax", "The request body must be a JSON object")
    return body


def _stream_info(activity: Mapping[str, Any]) -> dict[str, Any] | None:
    for entity in activity.get("entities") or []:
        if isinstance(entity, dict) and entity.get("type") == "streaminfo":
            return entity
    return None


def _guess_type(conversation_id: str) -> str:
    return "personal" if conversation_id.startswith("a:") else "groupChat"


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _stable_guid(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


# ---- activity builders: plain dicts shaped like what Teams posts to /api/messages ------------------

_activity_ids = itertools.count(_FIRST_ACTIVITY_ID + 500_000)


def new_activity_id() -> str:
    return str(next(_activity_ids))


def teams_member(
    *,
    user_id: str = DEFAULT_USER_ID,
    name: str = DEFAULT_USER_NAME,
    aad_object_id: str = DEFAULT_USER_AAD_ID,
    email: str | None = "ada@contoso.example",
    tenant_id: str = DEFAULT_TENANT_ID,
) -> dict[str, Any]:
    """A TeamsChannelAccount as the members endpoints return it."""
    given_name, _, surname = name.partition(" ")
    return {
        "id": user_id,
        "name": name,
        "aadObjectId": aad_object_id,
        "givenName": given_name,
        "surname": surname,
        "email": email,
        "userPrincipalName": email,
        "tenantId": tenant_id,
        "userRole": "user",
    }


def _envelope(
    activity_type: str,
    *,
    service_url: str,
    conversation: dict[str, Any],
    channel_data: dict[str, Any],
    user_id: str,
    user_name: str,
    aad_object_id: str,
    bot_id: str,
    bot_name: str,
    activity_id: str | None,
    locale: str,
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "type": activity_type,
        "id": activity_id or new_activity_id(),
        "timestamp": now,
        "localTimestamp": now,
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": user_id, "name": user_name, "aadObjectId": aad_object_id},
        "conversation": conversation,
        "recipient": {"id": bot_id, "name": bot_name},
        "channelData": channel_data,
        "locale": locale,
        "entities": [{"type": "clientInfo", "locale": locale, "country": "GB", "platform": "Web"}],
    }


def _conversation(
    conversation_type: str, conversation_id: str, tenant_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    conversation: dict[str, Any] = {
        "conversationType": conversation_type,
        "tenantId": tenant_id,
        "id": conversation_id,
    }
    if conversation_type != "personal":
        conversation["isGroup"] = True
    return conversation, {"tenant": {"id": tenant_id}}


def personal_message(
    text: str,
    *,
    service_url: str,
    user_id: str = DEFAULT_USER_ID,
    user_name: str = DEFAULT_USER_NAME,
    aad_object_id: str = DEFAULT_USER_AAD_ID,
    tenant_id: str = DEFAULT_TENANT_ID,
    conversation_id: str = DEFAULT_PERSONAL_CONVERSATION_ID,
    bot_id: str = DEFAULT_BOT_ID,
    bot_name: str = DEFAULT_BOT_NAME,
    activity_id: str | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """A message in the user's 1:1 chat with the bot."""
    conversation, channel_data = _conversation("personal", conversation_id, tenant_id)
    activity = _envelope(
        "message",
        service_url=service_url,
        conversation=conversation,
        channel_data=channel_data,
        user_id=user_id,
        user_name=user_name,
        aad_object_id=aad_object_id,
        bot_id=bot_id,
        bot_name=bot_name,
        activity_id=activity_id,
        locale=locale,
    )
    activity.update({"text": text, "textFormat": "plain"})
    return activity


def channel_message(
    text: str,
    *,
    service_url: str,
    team_id: str = DEFAULT_TEAM_ID,
    channel_id: str = DEFAULT_CHANNEL_ID,
    mention_bot: bool = True,
    reply_to_id: str | None = None,
    user_id: str = DEFAULT_USER_ID,
    user_name: str = DEFAULT_USER_NAME,
    aad_object_id: str = DEFAULT_USER_AAD_ID,
    tenant_id: str = DEFAULT_TENANT_ID,
    bot_id: str = DEFAULT_BOT_ID,
    bot_name: str = DEFAULT_BOT_NAME,
    activity_id: str | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """A channel post (or, with ``reply_to_id``, a reply in a thread) that @mentions the bot."""
    activity_id = activity_id or new_activity_id()
    # Teams names a channel thread after its root post: "<channel>;messageid=<root id>".
    thread_root = reply_to_id or activity_id
    conversation, channel_data = _conversation("channel", f"{channel_id};messageid={thread_root}", tenant_id)
    channel_data.update(
        {
            "teamsChannelId": channel_id,
            "teamsTeamId": team_id,
            "channel": {"id": channel_id},
            "team": {"id": team_id},
        }
    )
    activity = _envelope(
        "message",
        service_url=service_url,
        conversation=conversation,
        channel_data=channel_data,
        user_id=user_id,
        user_name=user_name,
        aad_object_id=aad_object_id,
        bot_id=bot_id,
        bot_name=bot_name,
        activity_id=activity_id,
        locale=locale,
    )
    if mention_bot:
        mention_text = f"<at>{bot_name}</at>"
        text = f"{mention_text} {text}"
        activity["entities"].insert(
            0, {"type": "mention", "text": mention_text, "mentioned": {"id": bot_id, "name": bot_name}}
        )
    activity.update({"text": text, "textFormat": "plain"})
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    return activity


def group_chat_message(
    text: str,
    *,
    service_url: str,
    conversation_id: str = DEFAULT_GROUP_CHAT_ID,
    mention_bot: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """A group chat message; built like a personal message, then re-addressed."""
    activity = personal_message(text, service_url=service_url, **overrides)
    conversation, _ = _conversation("groupChat", conversation_id, activity["conversation"]["tenantId"])
    activity["conversation"] = conversation
    if mention_bot:
        bot = activity["recipient"]
        mention_text = f"<at>{bot['name']}</at>"
        activity["text"] = f"{mention_text} {text}"
        activity["entities"].insert(0, {"type": "mention", "text": mention_text, "mentioned": dict(bot)})
    return activity


def card_submit(
    value: dict[str, Any],
    *,
    service_url: str,
    reply_to_id: str | None = None,
    conversation_type: str = "personal",
    **overrides: Any,
) -> dict[str, Any]:
    """What an Adaptive Card ``Action.Submit`` posts: a message with ``value`` and no text."""
    activity = _addressed(
        "message", service_url=service_url, conversation_type=conversation_type, **overrides
    )
    activity["value"] = value
    activity["channelData"]["source"] = {"name": "message"}
    if reply_to_id:
        activity["replyToId"] = reply_to_id
        activity["channelData"]["legacy"] = {"replyToId": reply_to_id}
    return activity


def invoke(
    name: str,
    value: dict[str, Any],
    *,
    service_url: str,
    reply_to_id: str | None = None,
    conversation_type: str = "personal",
    **overrides: Any,
) -> dict[str, Any]:
    """An invoke such as ``adaptiveCard/action``, ``task/fetch`` or ``task/submit``."""
    activity = _addressed("invoke", service_url=service_url, conversation_type=conversation_type, **overrides)
    activity.update({"name": name, "value": value})
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    return activity


def adaptive_card_action(verb: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``value`` of an ``adaptiveCard/action`` invoke sent by ``Action.Execute``."""
    return {"action": {"type": "Action.Execute", "verb": verb, "data": data or {}}, "trigger": "manual"}


def conversation_update(
    *,
    service_url: str,
    members_added: list[dict[str, Any]] | None = None,
    members_removed: list[dict[str, Any]] | None = None,
    conversation_type: str = "personal",
    event_type: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A conversationUpdate; by default the bot being installed in a personal chat."""
    activity = _addressed(
        "conversationUpdate", service_url=service_url, conversation_type=conversation_type, **overrides
    )
    if members_added is None and members_removed is None:
        members_added = [dict(activity["recipient"])]
    if members_added is not None:
        activity["membersAdded"] = members_added
    if members_removed is not None:
        activity["membersRemoved"] = members_removed
    if event_type:
        activity["channelData"]["eventType"] = event_type
    return activity


def _addressed(
    activity_type: str, *, service_url: str, conversation_type: str, **overrides: Any
) -> dict[str, Any]:
    """A message-shaped activity in a personal chat or channel, retyped as ``activity_type``."""
    if conversation_type == "personal":
        activity = personal_message("", service_url=service_url, **overrides)
    elif conversation_type == "channel":
        activity = channel_message("", service_url=service_url, mention_bot=False, **overrides)
    elif conversation_type == "groupChat":
        activity = group_chat_message("", service_url=service_url, mention_bot=False, **overrides)
    else:
        raise ValueError(f"Unknown conversation type {conversation_type!r}")
    for key in ("text", "textFormat"):
        activity.pop(key, None)
    activity["type"] = activity_type
    return activity
