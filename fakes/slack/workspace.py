"""The state behind the fake Slack: channels, messages, users, files, views, and the tokens it accepts.

`FakeSlack` (in server) is this workspace behind an HTTP server. The public methods here set a workspace up
and read back what an app did; the private helpers are for the Web API methods, which run with the lock held.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fakes.slack import objects
from fakes.slack.errors import SlackError
from fakes.slack.payloads import DEFAULT_APP_ID


@dataclass
class StoredMessage:
    """A message as the workspace keeps it, with every version it had and its stream chunks."""

    channel: str
    data: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)
    streaming: bool = False
    chunks: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    def snapshot(self) -> None:
        self.versions.append(copy.deepcopy(self.data))


class Workspace:
    """One Slack workspace with its bot user; see FakeSlack for the server around it."""

    general = "C0GENERAL1"

    def __init__(
        self,
        *,
        team_id: str = "T0FAKETEAM",
        team_name: str = "Fake Team",
        bot_user_id: str = "U0FAKEBOT1",
        bot_id: str = "B0FAKEBOT1",
        app_id: str = DEFAULT_APP_ID,
    ) -> None:
        self.team_id = team_id
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.tokens: set[str] = {"xoxb-test"}
        self.app_tokens: set[str] = {"xapp-test"}
        self.port = 0

        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._clock = 1_700_000_000_000_000  # microseconds; ts strings are derived from it
        self._streaming_error: str | None = None
        self._channels: dict[str, dict[str, Any]] = {}
        self._dms: dict[frozenset[str], str] = {}
        self._messages: dict[tuple[str, str], StoredMessage] = {}
        self._ephemerals: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._users: dict[str, dict[str, Any]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._used_triggers: set[str] = set()
        self._files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._assistant: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
        self._responses: list[dict[str, Any]] = []
        self._tickets: set[str] = set()  # Socket Mode tickets handed out by apps.connections.open
        self._oauth_apps: dict[str, str] = {}
        self._oauth_codes: dict[str, str] = {}
        self.add_channel(self.general, "general")
        self.add_user(bot_user_id, "flowpilot", "FlowPilot", team_id, is_bot=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- workspace setup ------------------------------------------------------------------------------

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str | None = None,
        team_id: str | None = None,
        *,
        is_bot: bool = False,
        tz: str = "Europe/London",
        email: str | None = None,
    ) -> dict[str, Any]:
        """Add a user that users.info and conversations.open know about."""
        user = objects.user(
            id,
            name,
            real_name,
            team_id=team_id or self.team_id,
            is_bot=is_bot,
            bot_id=self.bot_id,
            tz=tz,
            email=email,
        )
        with self._lock:
            self._users[id] = user
        return copy.deepcopy(user)

    def add_channel(self, id: str, name: str, *, is_private: bool = False) -> dict[str, Any]:
        """Add a public (C…) or private (G…/C…) channel the bot is a member of."""
        channel = objects.channel(
            id, name, is_private=is_private, creator=self.bot_user_id, team_id=self.team_id
        )
        with self._lock:
            self._channels[id] = channel
        return copy.deepcopy(channel)

    def add_file(
        self,
        name: str,
        content: bytes,
        mimetype: str,
        filetype: str | None = None,
        *,
        user: str | None = None,
        title: str | None = None,
    ) -> dict[str, Any]:
        """Store a file; its url_private / url_private_download point at this (started) server."""
        if not self.port:
            raise RuntimeError("start the FakeSlack before adding files: their URLs carry its port")
        file_id = self._new_id("F")
        file = objects.file(
            file_id,
            name,
            size=len(content),
            mimetype=mimetype,
            filetype=filetype,
            user=user or self.bot_user_id,
            team_id=self.team_id,
            title=title,
            path=f"{self.base_url}/files-pri/{self.team_id}-{file_id}",
        )
        with self._lock:
            self._files[file_id] = (file, content)
        return copy.deepcopy(file)

    def post_user_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Store a message a person wrote and return the ``message`` event Slack would send for it."""
        with self._lock:
            info = self._channel(channel)
            ts = self._next_ts()
            data = objects.user_message(text, user=user, ts=ts, team_id=self.team_id)
            if files:
                data["files"] = files
                data["upload"] = False
            self._store(info["id"], data, thread_ts=thread_ts)
        event = {**copy.deepcopy(data), "channel": info["id"], "event_ts": ts}
        return {**event, "channel_type": objects.channel_type(info)}

    def add_oauth_app(self, client_id: str, client_secret: str) -> None:
        """Let oauth.v2.access accept these client credentials."""
        with self._lock:
            self._oauth_apps[client_id] = client_secret

    def oauth_code(self, bot_token: str) -> str:
        """A one-time code, as Slack appends to the redirect URL once someone approved the install.

        oauth.v2.access exchanges it for ``bot_token``, which from then on is a valid bot token here.
        """
        code = f"{self.team_id}.{uuid.uuid4().hex}"
        with self._lock:
            self._oauth_codes[code] = bot_token
        return code

    def response_url(self) -> str:
        """A fresh response_url served here; what the app POSTs to it lands in :meth:`responses`."""
        return f"{self.base_url}/response/{uuid.uuid4().hex}"

    # -- inspection -----------------------------------------------------------------------------------

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every live message in ``channel`` (thread replies included), oldest first."""
        with self._lock:
            found = [m for m in self._messages.values() if m.channel == channel and not m.deleted]
            return [copy.deepcopy(m.data) for m in sorted(found, key=lambda m: m.data["ts"])]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._messages.get((channel, ts))
            return None if stored is None or stored.deleted else copy.deepcopy(stored.data)

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The parent and its replies, oldest first."""
        return [m for m in self.messages(channel) if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]

    def history(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Every version of a message (as posted, then after each update or stream append)."""
        with self._lock:
            stored = self._messages.get((channel, ts))
            return copy.deepcopy(stored.versions) if stored else []

    def stream_chunks(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Every chunk a streamed message received (markdown_text, task_update, plan_update…)."""
        with self._lock:
            stored = self._messages.get((channel, ts))
            return copy.deepcopy(stored.chunks) if stored else []

    def is_streaming(self, channel: str, ts: str) -> bool:
        with self._lock:
            stored = self._messages.get((channel, ts))
            return bool(stored and stored.streaming)

    def ephemerals(self, channel: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._ephemerals.get(channel, []))

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            view = self._views.get(view_id)
            return copy.deepcopy(view) if view else None

    def views(self) -> list[dict[str, Any]]:
        """Every open view, in the order they were opened or pushed."""
        with self._lock:
            return copy.deepcopy(list(self._views.values()))

    def assistant_thread(self, channel_id: str, thread_ts: str) -> dict[str, Any]:
        """Latest ``status``, ``title``, ``prompts`` set on an assistant thread."""
        with self._lock:
            return copy.deepcopy(self._assistant.get((channel_id, thread_ts), {}))

    def responses(self) -> list[dict[str, Any]]:
        """Bodies POSTed to response URLs from :meth:`response_url`, each with its ``url``."""
        with self._lock:
            return copy.deepcopy(self._responses)

    # -- state helpers for the Web API methods (called with the lock held) ----------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):09d}"

    def _next_ts(self) -> str:
        self._clock += 100
        return f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"

    def _channel(self, channel: Any) -> dict[str, Any]:
        if isinstance(channel, str) and channel.startswith("#"):
            channel = next((c["id"] for c in self._channels.values() if c.get("name") == channel[1:]), None)
        if isinstance(channel, str) and channel in self._users:
            channel = self._open_dm([channel])
        info = self._channels.get(channel) if isinstance(channel, str) else None
        if info is None:
            raise SlackError("channel_not_found")
        return info

    def _open_dm(self, users: list[str]) -> str:
        key = frozenset(users)
        if key not in self._dms:
            channel_id = self._new_id("D" if len(users) == 1 else "G")
            self._dms[key] = channel_id
            self._channels[channel_id] = objects.direct_message(channel_id, users, team_id=self.team_id)
        return self._dms[key]

    def _message(self, channel: str, ts: Any) -> StoredMessage:
        stored = self._messages.get((channel, ts)) if isinstance(ts, str) else None
        if stored is None or stored.deleted:
            raise SlackError("message_not_found")
        return stored

    def _store(self, channel: str, data: dict[str, Any], *, thread_ts: str | None) -> StoredMessage:
        if thread_ts:
            data["thread_ts"] = thread_ts
            parent = self._messages.get((channel, thread_ts))
            if parent is not None and not parent.deleted:
                data["parent_user_id"] = parent.data.get("user")
                replies = [
                    m
                    for m in self._messages.values()
                    if m.channel == channel and m.data.get("thread_ts") == thread_ts
                ]
                users = {m.data.get("user") for m in replies if m.data["ts"] != thread_ts}
                users.add(data.get("user"))
                parent.data.update(
                    thread_ts=thread_ts,
                    reply_count=sum(1 for m in replies if m.data["ts"] != thread_ts) + 1,
                    reply_users=sorted(u for u in users if u),
                    reply_users_count=len({u for u in users if u}),
                    latest_reply=data["ts"],
                )
        stored = StoredMessage(channel=channel, data=data)
        stored.snapshot()
        self._messages[(channel, data["ts"])] = stored
        return stored

    def _bot_message(self, text: str, blocks: Any, ts: str) -> dict[str, Any]:
        return objects.bot_message(
            text,
            blocks,
            ts=ts,
            bot_user_id=self.bot_user_id,
            bot_id=self.bot_id,
            app_id=self.app_id,
            team_id=self.team_id,
        )
