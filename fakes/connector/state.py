"""What the fake connector holds: the conversations, what the bot posted and streamed, the roster and teams.

`FakeConnector` (in server) is this state behind an HTTP server; the methods here are the ones a test calls
to set a conversation up, inject faults and read back what the bot did.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any

from fakes.connector.defaults import (
    FIRST_ACTIVITY_ID,
    MAX_PAYLOAD_BYTES,
    STREAM_TIME_LIMIT_SECONDS,
)
from fakes.connector.faults import STATUS_CODES, Fault, Rejected
from fakes.connector.records import RecordedRequest, SentActivity, Stream, StreamError, stream_info
from fakes.connector.streaming import check_stream_chunk


class ConnectorState:
    """The connector's state and the test-facing methods on it; every change happens under `_lock`."""

    def __init__(self) -> None:
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
            self._faults: list[Fault] = []
            self._ops: dict[str, deque[float]] = defaultdict(deque)
            self._files: dict[str, tuple[bytes, str]] = {}
            self._ids = itertools.count(FIRST_ACTIVITY_ID)

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
                Fault(
                    path_contains=path_contains,
                    status=status,
                    remaining=times,
                    retry_after=retry_after,
                    method=method.upper() if method else None,
                    code=code or STATUS_CODES.get(status, "ServiceError"),
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

    # ---- state helpers (callers hold the lock) ---------------------------------------------------

    def _store(
        self, cid: str, body: dict[str, Any], *, reply_to_id: str | None, activity_id: str | None = None
    ) -> SentActivity:
        record = SentActivity(
            id=activity_id or str(next(self._ids)),
            conversation_id=cid,
            versions=[body],
            reply_to_id=reply_to_id,
            times=[time.monotonic()],
        )
        self._activities[cid][record.id] = record
        return record

    def _roster(self, cid: str) -> list[dict[str, Any]]:
        with self._lock:
            if cid not in self._members:
                raise Rejected(404, "ConversationNotFound", "Conversation not found")
            return list(self._members[cid])

    def _team(self, team_id: str) -> dict[str, Any]:
        with self._lock:
            if team_id not in self._teams:
                raise Rejected(404, "NotFound", "Team not found")
            return self._teams[team_id]

    def _accept_stream_chunk(self, cid: str, body: dict[str, Any], reply_to_id: str | None) -> str:
        info = stream_info(body) or {}
        stream_id = info.get("streamId") or None
        try:
            stream = check_stream_chunk(
                cid, body, info, stream_id, streams=self._streams, time_limit=self.stream_time_limit
            )
        except Rejected as rejected:
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
            self._activities[cid][stream.stream_id].times.append(time.monotonic())
        stream.chunks.append(body)
        if info.get("streamType") == "final":
            stream.final = body
        else:
            stream.last_sequence = info["streamSequence"]
        if info.get("streamType") == "streaming":
            stream.streamed_text = body.get("text") or ""
        return stream.stream_id


def _stable_guid(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
