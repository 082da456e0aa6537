"""The fake connector's HTTP server: Bot Framework Connector REST v3 routes over the connector's state."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from fakes.connector.defaults import DEFAULT_BOT_ID
from fakes.connector.faults import Rejected, error_response, retry_after_header
from fakes.connector.records import RecordedRequest, stream_info
from fakes.connector.state import ConnectorState

_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
_BODY = web.RequestKey("fake_connector.body", object)


class FakeConnector(ConnectorState):
    """Bot Framework Connector REST v3 (plus the Teams team/channel reads) on 127.0.0.1, random port."""

    def __init__(self, *, base_path: str = "/"):
        if not (base_path.startswith("/") and base_path.endswith("/")):
            raise ValueError("base_path must start and end with '/'")
        self._base_path = base_path
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        super().__init__()

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

    # ---- files (their URLs carry the address) ----------------------------------------------------

    def add_file(self, name: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        """Serve ``data`` as an uploaded file; returns its ``downloadUrl``.

        ``{service_url}v3/attachments/{name}/views/original`` serves it too, as a pasted picture's
        ``contentUrl``. Downloads are recorded in ``requests`` like every other call.
        """
        with self._lock:
            self._files[name] = (data, content_type)
        return f"{self.service_url}files/{name}"

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
            except Rejected as rejected:
                response = error_response(rejected.status, rejected.code, rejected.message)
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
                    headers = (
                        {"Retry-After": retry_after_header(fault.retry_after)} if fault.retry_after else {}
                    )
                    return error_response(fault.status, fault.code, fault.message, headers=headers)
            cid = request.match_info.get("cid")
            if cid and request.method in _WRITE_METHODS and self.max_ops_per_second:
                now = time.monotonic()
                window = self._ops[cid]
                while window and now - window[0] >= 1.0:
                    window.popleft()
                if len(window) >= self.max_ops_per_second:
                    return error_response(
                        429,
                        "TooManyRequests",
                        "Too many requests for this conversation",
                        {"Retry-After": "1"},
                    )
                window.append(now)
        if request.method in {"POST", "PUT"} and "/activities" in request.path:
            if len(raw) > self.max_payload_bytes:
                return error_response(413, "MessageSizeTooBig", "Message size too large")
        return None

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = _json_object(request)
        channel_data = body.get("channelData") or {}
        tenant_id = body.get("tenantId") or (channel_data.get("tenant") or {}).get("id")
        if not tenant_id:
            raise Rejected(400, "BadArgument", "Tenant id is required (tenantId or channelData.tenant.id)")
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
            raise Rejected(400, "BadSyntax", "Activity type is required")
        with self._lock:
            if stream_info(body) is not None:
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
                raise Rejected(404, "ActivityNotFound", f"Activity {aid} not found in conversation")
            record.versions.append(body)
            record.times.append(time.monotonic())
        return web.json_response({"id": aid})

    async def _delete_activity(self, request: web.Request) -> web.Response:
        cid, aid = request.match_info["cid"], request.match_info["aid"]
        with self._lock:
            record = self._activities.get(cid, {}).get(aid)
            if record is None or record.deleted:
                raise Rejected(404, "ActivityNotFound", f"Activity {aid} not found in conversation")
            record.deleted = True
        return web.Response(status=200)

    async def _get_members(self, request: web.Request) -> web.Response:
        return web.json_response(self._roster(request.match_info["cid"]))

    async def _get_member(self, request: web.Request) -> web.Response:
        member_id = request.match_info["mid"]
        for member in self._roster(request.match_info["cid"]):
            if member_id in (member.get("id"), member.get("aadObjectId")):
                return web.json_response(member)
        raise Rejected(404, "MemberNotFoundInConversation", "The member was not found in the conversation")

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
            raise Rejected(404, "NotFound", "File not found")
        return web.Response(body=found[0], content_type=found[1])

    async def _unknown_route(self, request: web.Request) -> web.Response:
        raise Rejected(404, "NotFound", f"The fake connector does not serve {request.method} {request.path}")


def _json_object(request: web.Request) -> dict[str, Any]:
    body = request[_BODY]
    if not isinstance(body, dict):
        raise Rejected(400, "BadSyntax", "The request body must be a JSON object")
    return body


def _personal_chat(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    members = body.get("members") or []
    if len(members) != 1 or not members[0].get("id"):
        raise Rejected(400, "BadArgument", "A one-on-one conversation needs exactly one member with an id")
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
        raise Rejected(
            400, "BadArgument", "A group conversation needs channelData.channel.id and an activity"
        )
    return f"{channel_id};messageid={root_id}", []
