"""A fake Slack that speaks the real wire protocol, for tests that use the real slack_sdk / slack_bolt.

It is a real aiohttp server on 127.0.0.1 (as Bolt's ``tests/mock_web_api_server`` is), with state behind it:

* ``POST|GET /api/<method>``: the Web API. Bodies may be form-encoded or JSON (JSON-typed fields such as
  ``blocks`` may arrive as a JSON string in a form field); the token comes from ``Authorization: Bearer`` or a
  ``token`` query/form parameter (never from a JSON body: Slack ignores it there too).
* ``GET /files-pri/...``: private file downloads. Without a valid bot token it answers 200 with an HTML login
  page, as Slack does.
* ``GET /socket``: Socket Mode. ``apps.connections.open`` hands out its URL; the test pushes envelopes with
  :meth:`FakeSlack.socket_send` and gets the app's ack back.
* ``POST /response/<id>``: a response_url (see :meth:`FakeSlack.response_url`).
* ``oauth.v2.access``: exchanges a code from :meth:`FakeSlack.oauth_code` for a new bot token (client
  credentials as HTTP Basic auth or form fields; see :meth:`FakeSlack.add_oauth_app`).

Block Kit payloads are checked against Slack's documented limits, and violations answer the way Slack does
(``invalid_blocks`` with ``errors`` for messages, ``invalid_arguments`` with ``response_metadata.messages``
for views), so a test fails where production would.

The module also builds what Slack sends *to* an app: :func:`signed_headers` and the payload builders below.

    async with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        await client.chat_postMessage(channel=fake.general, text="hi")
        assert fake.messages(fake.general)[0]["text"] == "hi"
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

# ---------------------------------------------------------------------------------------------------------
# Block Kit validation
# ---------------------------------------------------------------------------------------------------------

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_MAX_TEXT = 40_000
STREAM_MAX_MARKDOWN = 12_000

# Block types Slack accepts that this fake does not look inside.
_OPAQUE_BLOCKS = {"file", "video", "table", "plan", "task_card", "card", "carousel", "call", "alert"}
_SELECTS = {
    "static_select",
    "multi_static_select",
    "external_select",
    "multi_external_select",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
}
_ELEMENTS = _SELECTS | {
    "button",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "plain_text_input",
    "rich_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "file_input",
    "image",
    "workflow_button",
    "feedback_buttons",
    "icon_button",
}


class _BlockKit:
    """Collects Block Kit errors for one surface, worded as Slack does: ``<problem> [json-pointer:/path]``."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._action_ids: set[str] = set()
        self._block_ids: set[str] = set()

    def fail(self, problem: str, pointer: str) -> None:
        self.errors.append(f"{problem} [json-pointer:{pointer}]")

    def string(self, value: Any, pointer: str, *, limit: int, required: bool = False) -> None:
        if value is None:
            if required:
                self.fail("missing required field", pointer)
        elif not isinstance(value, str):
            self.fail("must be a string", pointer)
        elif len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", pointer)

    def array(self, value: Any, pointer: str, *, limit: int, minimum: int = 0) -> list[Any]:
        if not isinstance(value, list):
            self.fail("must be an array", pointer)
            return []
        if len(value) > limit:
            self.fail(f"must be less than {limit + 1} items", pointer)
        if len(value) < minimum:
            self.fail(f"must provide at least {minimum} items", pointer)
        return value

    def text(self, obj: Any, pointer: str, *, limit: int, plain: bool = False, required: bool = True) -> None:
        if obj is None:
            if required:
                self.fail("missing required field", pointer)
            return
        if not isinstance(obj, dict):
            self.fail("must provide an object", pointer)
            return
        allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.fail(f"must be one of: {', '.join(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.fail("must be more than 0 characters", f"{pointer}/text")
        elif len(text) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{pointer}/text")

    # -- blocks ---------------------------------------------------------------------------------------

    def blocks(self, blocks: Any, pointer: str, *, limit: int) -> None:
        for i, block in enumerate(self.array(blocks, pointer, limit=limit)):
            self.block(block, f"{pointer}/{i}")

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.fail("must provide an object", pointer)
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.string(block_id, f"{pointer}/block_id", limit=255)
            if block_id in self._block_ids:
                self.fail(f"duplicate block_id: {block_id}", f"{pointer}/block_id")
            self._block_ids.add(block_id)
        kind = block.get("type")
        check = getattr(self, f"_block_{kind}", None) if isinstance(kind, str) else None
        if check is not None:
            check(block, pointer)
        elif kind not in _OPAQUE_BLOCKS:
            self.fail(f"unsupported block type: {kind}", f"{pointer}/type")

    def _block_section(self, block: dict[str, Any], pointer: str) -> None:
        if block.get("text") is None and block.get("fields") is None:
            self.fail("must provide either text or fields", pointer)
        self.text(block.get("text"), f"{pointer}/text", limit=3000, required=False)
        if block.get("fields") is not None:
            for i, item in enumerate(self.array(block["fields"], f"{pointer}/fields", limit=10)):
                self.text(item, f"{pointer}/fields/{i}", limit=2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory")

    def _block_header(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("text"), f"{pointer}/text", limit=150, plain=True)

    def _block_context(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", limit=10, minimum=1)
        for i, item in enumerate(elements):
            if isinstance(item, dict) and item.get("type") == "image":
                self._image(item, f"{pointer}/elements/{i}")
            else:
                self.text(item, f"{pointer}/elements/{i}", limit=3000)

    def _block_actions(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", limit=25, minimum=1)
        for i, item in enumerate(elements):
            self.element(item, f"{pointer}/elements/{i}")

    def _block_context_actions(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", limit=5, minimum=1)
        for i, item in enumerate(elements):
            self.element(item, f"{pointer}/elements/{i}")

    def _block_divider(self, block: dict[str, Any], pointer: str) -> None:
        pass

    def _block_image(self, block: dict[str, Any], pointer: str) -> None:
        self._image(block, pointer)
        self.text(block.get("title"), f"{pointer}/title", limit=2000, plain=True, required=False)

    def _block_input(self, block: dict[str, Any], pointer: str) -> None:
        self.text(block.get("label"), f"{pointer}/label", limit=2000, plain=True)
        self.text(block.get("hint"), f"{pointer}/hint", limit=2000, plain=True, required=False)
        if block.get("element") is None:
            self.fail("missing required field", f"{pointer}/element")
        else:
            self.element(block["element"], f"{pointer}/element")

    def _block_markdown(self, block: dict[str, Any], pointer: str) -> None:
        self.string(block.get("text"), f"{pointer}/text", limit=12_000, required=True)

    def _block_rich_text(self, block: dict[str, Any], pointer: str) -> None:
        self.array(block.get("elements"), f"{pointer}/elements", limit=10_000)

    def _image(self, image: dict[str, Any], pointer: str) -> None:
        if image.get("image_url") is None and image.get("slack_file") is None:
            self.fail("must provide either image_url or slack_file", pointer)
        self.string(image.get("image_url"), f"{pointer}/image_url", limit=3000)
        self.string(image.get("alt_text"), f"{pointer}/alt_text", limit=2000, required=True)

    # -- elements -------------------------------------------------------------------------------------

    def element(self, element: Any, pointer: str) -> None:
        if not isinstance(element, dict):
            self.fail("must provide an object", pointer)
            return
        kind = element.get("type")
        if kind not in _ELEMENTS:
            self.fail(f"unsupported element type: {kind}", f"{pointer}/type")
            return
        action_id = element.get("action_id")
        if action_id is not None:
            self.string(action_id, f"{pointer}/action_id", limit=255)
            if action_id in self._action_ids:
                self.fail(f"duplicate action_id: {action_id}", f"{pointer}/action_id")
            self._action_ids.add(action_id)
        self.text(element.get("placeholder"), f"{pointer}/placeholder", limit=150, plain=True, required=False)
        if element.get("confirm") is not None:
            self._confirm(element["confirm"], f"{pointer}/confirm")
        if kind == "image":
            self._image(element, pointer)
        elif kind == "button":
            self._button(element, pointer)
        elif kind == "overflow":
            self._options(element.get("options"), f"{pointer}/options", limit=5, minimum=1)
        elif kind in ("checkboxes", "radio_buttons"):
            self._options(element.get("options"), f"{pointer}/options", limit=10, minimum=1)
        elif kind in ("static_select", "multi_static_select"):
            if element.get("options") is None and element.get("option_groups") is None:
                self.fail("must provide either options or option_groups", pointer)
            if element.get("options") is not None:
                self._options(element["options"], f"{pointer}/options", limit=100)
            if element.get("option_groups") is not None:
                groups = self.array(element["option_groups"], f"{pointer}/option_groups", limit=100)
                for i, group in enumerate(groups):
                    group_pointer = f"{pointer}/option_groups/{i}"
                    if isinstance(group, dict):
                        self.text(group.get("label"), f"{group_pointer}/label", limit=75, plain=True)
                        self._options(group.get("options"), f"{group_pointer}/options", limit=100)
        elif kind == "plain_text_input":
            self.string(element.get("initial_value"), f"{pointer}/initial_value", limit=3000)
            for bound in ("min_length", "max_length"):
                value = element.get(bound)
                if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
                    self.fail("must be between 0 and 3000", f"{pointer}/{bound}")

    def _button(self, button: dict[str, Any], pointer: str) -> None:
        self.text(button.get("text"), f"{pointer}/text", limit=75, plain=True)
        self.string(button.get("value"), f"{pointer}/value", limit=2000)
        self.string(button.get("url"), f"{pointer}/url", limit=3000)
        self.string(button.get("accessibility_label"), f"{pointer}/accessibility_label", limit=75)
        if button.get("style") not in (None, "primary", "danger"):
            self.fail("must be one of: primary, danger", f"{pointer}/style")

    def _options(self, options: Any, pointer: str, *, limit: int, minimum: int = 0) -> None:
        for i, option in enumerate(self.array(options, pointer, limit=limit, minimum=minimum)):
            option_pointer = f"{pointer}/{i}"
            if not isinstance(option, dict):
                self.fail("must provide an object", option_pointer)
                continue
            self.text(option.get("text"), f"{option_pointer}/text", limit=75)
            self.string(option.get("value"), f"{option_pointer}/value", limit=150)
            self.text(option.get("description"), f"{option_pointer}/description", limit=75, required=False)

    def _confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self.fail("must provide an object", pointer)
            return
        self.text(confirm.get("title"), f"{pointer}/title", limit=100, plain=True)
        self.text(confirm.get("text"), f"{pointer}/text", limit=300)
        self.text(confirm.get("confirm"), f"{pointer}/confirm", limit=30, plain=True)
        self.text(confirm.get("deny"), f"{pointer}/deny", limit=30, plain=True)

    # -- views ----------------------------------------------------------------------------------------

    def view(self, view: Any) -> None:
        if not isinstance(view, dict):
            self.fail("must provide an object", "/view")
            return
        kind = view.get("type")
        if kind not in ("modal", "home"):
            self.fail("must be one of: modal, home", "/view/type")
        if kind == "modal":
            self.text(view.get("title"), "/view/title", limit=24, plain=True)
            self.text(view.get("submit"), "/view/submit", limit=24, plain=True, required=False)
            self.text(view.get("close"), "/view/close", limit=24, plain=True, required=False)
            blocks = view.get("blocks")
            has_input = isinstance(blocks, list) and any(
                isinstance(b, dict) and b.get("type") == "input" for b in blocks
            )
            if has_input and view.get("submit") is None:
                self.fail("must provide submit when the view has input blocks", "/view/submit")
        self.string(view.get("private_metadata"), "/view/private_metadata", limit=3000)
        self.string(view.get("callback_id"), "/view/callback_id", limit=255)
        self.string(view.get("external_id"), "/view/external_id", limit=255)
        self.blocks(view.get("blocks"), "/view/blocks", limit=VIEW_MAX_BLOCKS)


def message_block_errors(blocks: Any) -> list[str]:
    """Slack's `errors` for these message blocks (empty when Slack would accept them)."""
    checker = _BlockKit()
    checker.blocks(blocks, "/blocks", limit=MESSAGE_MAX_BLOCKS)
    return checker.errors


def view_errors(view: Any) -> list[str]:
    """Slack's error messages for this modal or home view (empty when Slack would accept it)."""
    checker = _BlockKit()
    checker.view(view)
    return checker.errors


# ---------------------------------------------------------------------------------------------------------
# What Slack sends to an app: signatures and payloads
# ---------------------------------------------------------------------------------------------------------

DEFAULT_APP_ID = "A0FAKEAPP1"


def signed_headers(
    body: bytes,
    *,
    secret: str,
    timestamp: int | None = None,
    content_type: str | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    """Headers Slack sends with ``body``: a v0 signature, and retry headers when ``retry_num`` is given."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if content_type is None:
        is_json = body.lstrip().startswith(b"{")
        content_type = "application/json" if is_json else "application/x-www-form-urlencoded"
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


def new_trigger_id() -> str:
    """A fresh trigger_id shaped like Slack's."""
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def event_callback(
    event: dict[str, Any],
    *,
    team_id: str,
    bot_user_id: str = "U0FAKEBOT1",
    api_app_id: str = DEFAULT_APP_ID,
    event_id: str | None = None,
    event_time: int | None = None,
) -> dict[str, Any]:
    """The Events API envelope around ``event`` (the Socket Mode ``events_api`` payload as well)."""
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def event_callback_body(event: dict[str, Any], **kwargs: Any) -> bytes:
    """JSON body of :func:`event_callback` as Slack POSTs it."""
    return json.dumps(event_callback(event, **kwargs)).encode()


def slash_command_payload(
    command: str,
    text: str,
    *,
    user_id: str,
    channel_id: str,
    team_id: str,
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/commands/T0/1/fake",
    api_app_id: str = DEFAULT_APP_ID,
) -> dict[str, str]:
    """The fields of a slash command (the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "team_domain": "fake-team",
        "channel_id": channel_id,
        "channel_name": "directmessage" if channel_id.startswith("D") else "general",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }


def slash_command_body(command: str, text: str, **kwargs: Any) -> bytes:
    """Form body of :func:`slash_command_payload` as Slack POSTs it."""
    return urlencode(slash_command_payload(command, text, **kwargs)).encode()


def block_actions_payload(
    *,
    action_id: str,
    user_id: str,
    team_id: str,
    value: str | None = None,
    block_id: str = "fake-block",
    action_type: str = "button",
    channel_id: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T0/1/fake",
    api_app_id: str = DEFAULT_APP_ID,
    **action_fields: Any,
) -> dict[str, Any]:
    """A ``block_actions`` payload for one action on ``message`` (in ``channel_id``) or on ``view``.

    ``action_fields`` go into the action itself (e.g. ``selected_option={...}``).
    """
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
        **action_fields,
    }
    if value is not None:
        action["value"] = value
    if action_type == "button":
        action.setdefault("text", {"type": "plain_text", "text": "Button", "emoji": True})
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": "fake-team"},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [action],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = view
    else:
        message = message or {}
        container = {
            "type": "message",
            "message_ts": message.get("ts"),
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        if message.get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]
        payload.update(
            container=container,
            channel={"id": channel_id, "name": "general"},
            message=message,
            state={"values": {}},
            response_url=response_url,
        )
    return payload


def view_submission_payload(
    *,
    user_id: str,
    team_id: str,
    values: dict[str, dict[str, Any]],
    view: dict[str, Any] | None = None,
    callback_id: str = "",
    private_metadata: str = "",
    trigger_id: str | None = None,
    api_app_id: str = DEFAULT_APP_ID,
) -> dict[str, Any]:
    """A ``view_submission`` payload; pass ``view`` (e.g. ``fake.view(id)``) or a callback_id and metadata.

    ``values`` is ``state.values``: ``{block_id: {action_id: {"type": ..., "value": ...}}}``.
    """
    if view is None:
        view_id = f"V{uuid.uuid4().hex[:10].upper()}"
        view = {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "blocks": [],
            "title": {"type": "plain_text", "text": "Modal"},
            "hash": f"{int(time.time())}.fake",
            "root_view_id": view_id,
            "previous_view_id": None,
            "external_id": "",
            "app_id": api_app_id,
        }
    view = {**copy.deepcopy(view), "state": {"values": values}}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake-team"},
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "trigger_id": trigger_id or new_trigger_id(),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def message_shortcut_payload(
    *,
    callback_id: str,
    message: dict[str, Any],
    channel_id: str,
    user_id: str,
    team_id: str,
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/app/T0/1/fake",
) -> dict[str, Any]:
    """A message shortcut (``message_action``) payload on ``message``."""
    return {
        "type": "message_action",
        "token": "fake-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team_id, "domain": "fake-team"},
        "user": _user(user_id, team_id),
        "channel": {"id": channel_id, "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or new_trigger_id(),
        "response_url": response_url,
        "message_ts": message.get("ts"),
        "message": message,
    }


def interactive_body(payload: dict[str, Any]) -> bytes:
    """Interactivity is form-encoded: ``payload=<json>``."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_actions_body(**kwargs: Any) -> bytes:
    """Form body of :func:`block_actions_payload`."""
    return interactive_body(block_actions_payload(**kwargs))


def view_submission_body(**kwargs: Any) -> bytes:
    """Form body of :func:`view_submission_payload`."""
    return interactive_body(view_submission_payload(**kwargs))


def message_shortcut_body(**kwargs: Any) -> bytes:
    """Form body of :func:`message_shortcut_payload`."""
    return interactive_body(message_shortcut_payload(**kwargs))


# ---------------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------------

# Fields Slack accepts as JSON even inside a form body.
_JSON_FIELDS = ("blocks", "attachments", "view", "prompts", "chunks", "metadata", "loading_messages")

_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><h1>Sign in to Slack</h1><form action='/signin'></form></body></html>"
)


class SlackError(Exception):
    """An ``ok: false`` answer from a method handler."""

    def __init__(self, error: str, *, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"ok": False, "error": error, **extra}


def _invalid_arguments(*problems: str) -> SlackError:
    """Slack's answer to arguments it rejects (views put Block Kit errors here too)."""
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})


@dataclass
class _Fault:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Message:
    channel: str
    data: dict[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)
    streaming: bool = False
    chunks: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    def snapshot(self) -> None:
        self.versions.append(copy.deepcopy(self.data))


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeSlack:
    """A fake Slack workspace behind a real HTTP server; see the module docstring."""

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
        self.latency = 0.0
        self.socket_connected = asyncio.Event()
        self.port = 0

        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self._clock = 1_700_000_000_000_000  # microseconds; ts strings are derived from it
        self._calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._call_times: dict[str, list[float]] = defaultdict(list)
        # Per call, filled in when it is answered: True when Slack accepted it (HTTP 200 and ok).
        self._call_accepted: dict[str, list[list[bool]]] = defaultdict(list)
        # Called (in the fake's thread) with (method, payload, perf_counter time) for every Web API call:
        # the benchmarks index replies with it instead of scanning every call.
        self.observers: list[Callable[[str, dict[str, Any], float], None]] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._streaming_error: str | None = None
        self._channels: dict[str, dict[str, Any]] = {}
        self._dms: dict[frozenset[str], str] = {}
        self._messages: dict[tuple[str, str], _Message] = {}
        self._ephemerals: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._users: dict[str, dict[str, Any]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._used_triggers: set[str] = set()
        self._files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._assistant: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
        self._responses: list[dict[str, Any]] = []
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._oauth_apps: dict[str, str] = {}
        self._oauth_codes: dict[str, str] = {}

        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "assistant.threads.setStatus": self._assistant_set_status,
            "assistant.threads.setSuggestedPrompts": self._assistant_set_suggested_prompts,
            "assistant.threads.setTitle": self._assistant_set_title,
            "reactions.add": self._reactions_add,
            "files.info": self._files_info,
            "apps.connections.open": self._apps_connections_open,
            "oauth.v2.access": self._oauth_v2_access,
        }
        self.add_channel(self.general, "general")
        self.add_user(bot_user_id, "flowpilot", "FlowPilot", team_id, is_bot=True)

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What the app gets as SLACK_API_URL / ``AsyncWebClient(base_url=...)``."""
        return f"{self.base_url}/api/"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._file_download)
        app.router.add_get("/files-pri/{team_file}/{name}", self._file_download)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/response/{response_id}", self._response_url)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        for future in self._pending_acks.values():
            future.cancel()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[FakeSlack]:
        """Run a FakeSlack on its own event loop in a daemon thread (for sync tests or foreign loops)."""
        fake = cls(**kwargs)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(fake.start())
            except BaseException as exc:  # surfaced in the calling thread below
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(fake.stop())
            loop.close()

        thread = threading.Thread(target=run, name="fake-slack", daemon=True)
        thread.start()
        started.wait(timeout=10)
        if failure:
            raise failure[0]
        try:
            yield fake
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    async def _on_server_loop(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``make()`` on the server's loop, from the server's loop or another one."""
        assert self._loop is not None, "FakeSlack is not started"
        if asyncio.get_running_loop() is self._loop:
            return await make()

        async def run() -> Any:
            return await make()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self._loop))

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
        real = real_name or name
        user: dict[str, Any] = {
            "id": id,
            "team_id": team_id or self.team_id,
            "name": name,
            "real_name": real,
            "deleted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "is_admin": False,
            "tz": tz,
            "tz_offset": 0,
            "updated": 1_700_000_000,
            "profile": {
                "real_name": real,
                "display_name": name,
                "real_name_normalized": real,
                "display_name_normalized": name,
                "email": email or f"{name}@example.com",
                "image_48": f"https://avatars.example.com/{id}_48.png",
                "team": team_id or self.team_id,
            },
        }
        if is_bot:
            user["profile"]["bot_id"] = self.bot_id
        with self._lock:
            self._users[id] = user
        return copy.deepcopy(user)

    def add_channel(self, id: str, name: str, *, is_private: bool = False) -> dict[str, Any]:
        """Add a public (C…) or private (G…/C…) channel the bot is a member of."""
        channel = {
            "id": id,
            "name": name,
            "name_normalized": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "is_archived": False,
            "is_general": name == "general",
            "is_member": True,
            "is_ext_shared": False,
            "created": 1_700_000_000,
            "creator": self.bot_user_id,
            "context_team_id": self.team_id,
        }
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
        path = f"{self.base_url}/files-pri/{self.team_id}-{file_id}"
        file = {
            "id": file_id,
            "created": 1_700_000_000,
            "timestamp": 1_700_000_000,
            "name": name,
            "title": title or name,
            "mimetype": mimetype,
            "filetype": filetype or name.rsplit(".", 1)[-1].lower(),
            "pretty_type": (filetype or name.rsplit(".", 1)[-1]).upper(),
            "user": user or self.bot_user_id,
            "user_team": self.team_id,
            "editable": False,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "url_private": f"{path}/{name}",
            "url_private_download": f"{path}/download/{name}",
            "permalink": f"https://fake-team.slack.com/files/{user or self.bot_user_id}/{file_id}/{name}",
        }
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
            data: dict[str, Any] = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts,
                "team": self.team_id,
                "client_msg_id": str(uuid.uuid4()),
                "blocks": [
                    {
                        "type": "rich_text",
                        "block_id": uuid.uuid4().hex[:5],
                        "elements": [
                            {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                        ],
                    }
                ],
            }
            if files:
                data["files"] = files
                data["upload"] = False
            self._store(info["id"], data, thread_ts=thread_ts)
        if info["is_im"]:
            channel_type = "im"
        elif info["is_mpim"]:
            channel_type = "mpim"
        else:
            channel_type = "group" if info["is_private"] else "channel"
        return {**copy.deepcopy(data), "channel": info["id"], "event_ts": ts, "channel_type": channel_type}

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

    def timed_calls(self, method: str, *, accepted: bool = False) -> list[tuple[float, dict[str, Any]]]:
        """Each call with the time.perf_counter() it arrived at (for the benchmarks); with `accepted`, only
        the calls Slack accepted (not rate-limited or refused), i.e. what became visible."""
        with self._lock:
            calls = zip(
                self._call_times.get(method, []),
                copy.deepcopy(self._calls.get(method, [])),
                self._call_accepted.get(method, []),
                strict=True,
            )
            return [(at, payload) for at, payload, ok in calls if not accepted or ok[0]]

    def most_edits_in_one_second(self, since: float = 0.0) -> int:
        """The most chat.appendStream / chat.update calls any one message got within a 1-second window."""
        by_message: dict[str, list[float]] = {}
        for method in ("chat.appendStream", "chat.update"):
            for at, payload in self.timed_calls(method):
                if at >= since:
                    by_message.setdefault(str(payload.get("ts")), []).append(at)
        worst = 0
        for times in by_message.values():
            times.sort()
            first = 0
            for i, at in enumerate(times):
                while at - times[first] >= 1.0:
                    first += 1
                worst = max(worst, i - first + 1)
        return worst

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Parsed arguments of every call to ``method`` (``files-pri`` for downloads), oldest first."""
        with self._lock:
            return copy.deepcopy(self._calls.get(method, []))

    def call_count(self, method: str) -> int:
        with self._lock:
            return len(self._calls.get(method, []))

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

    # -- faults ---------------------------------------------------------------------------------------

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with Retry-After."""
        fault = _Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        with self._lock:
            self._faults[method].extend([fault] * times)

    def fail(self, method: str, *, error: str = "internal_error", status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}`` with ``status``."""
        with self._lock:
            self._faults[method].extend([_Fault(status, {"ok": False, "error": error})] * times)

    def disable_streaming(self, error: str = "not_allowed_token_type") -> None:
        """chat.startStream answers ``error`` from now on (as for an app without the agent feature)."""
        self._streaming_error = error

    def enable_streaming(self) -> None:
        self._streaming_error = None

    def expire_stream(self, ts: str) -> None:
        """Slack ends streams on its own after a while; the next append/stop answers not-streaming."""
        with self._lock:
            for stored in self._messages.values():
                if stored.data["ts"] == ts:
                    stored.streaming = False

    # -- socket mode ----------------------------------------------------------------------------------

    async def wait_socket_connected(self, timeout: float = 5.0) -> None:
        """Wait until an app holds a Socket Mode connection (works from any event loop)."""

        async def wait() -> None:
            await asyncio.wait_for(self.socket_connected.wait(), timeout)

        await self._on_server_loop(wait)

    async def socket_send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Push an ``events_api`` / ``slash_commands`` / ``interactive`` envelope; return the app's ack.

        The ack is what the app sent back: ``{"envelope_id": ..., "payload": {...}?}``.
        """
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type != "events_api"
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }

        async def send() -> dict[str, Any]:
            try:
                await asyncio.wait_for(self.socket_connected.wait(), timeout)
            except TimeoutError:
                raise TimeoutError(f"no Socket Mode connection within {timeout}s") from None
            future = asyncio.get_running_loop().create_future()
            self._pending_acks[envelope_id] = future
            try:
                await self._sockets[-1].send_json(envelope)
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise TimeoutError(f"no ack for the {envelope_type} envelope within {timeout}s") from None
            finally:
                self._pending_acks.pop(envelope_id, None)

        result: dict[str, Any] = await self._on_server_loop(send)
        return result

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected apps to reconnect, as Slack does every few hours."""

        async def send() -> None:
            for ws in list(self._sockets):
                await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}})

        await self._on_server_loop(send)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        self.socket_connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                ack = json.loads(msg.data)
                future = self._pending_acks.get(ack.get("envelope_id"))
                if future is not None and not future.done():
                    future.set_result(ack)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self.socket_connected.clear()
        return ws

    # -- HTTP plumbing --------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload, token = await _read_request(request)
        if method == "oauth.v2.access":  # authenticated by the app's client credentials instead
            payload = {**_basic_auth(request), **payload}
        with self._lock:
            self._calls[method].append(payload)
            self._call_times[method].append(time.perf_counter())
            outcome = [False]
            self._call_accepted[method].append(outcome)
            for observe in self.observers:
                observe(method, payload, self._call_times[method][-1])
            fault = self._faults[method].popleft() if self._faults.get(method) else None
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None:
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        handler = self._handlers.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method", "req_method": method})
        try:
            if method != "oauth.v2.access":
                self._authorize(method, token)
            with self._lock:
                body = handler(payload)
            status = 200
        except SlackError as exc:
            body, status = exc.body, exc.status
        outcome[0] = status == 200 and bool(isinstance(body, dict) and body.get("ok", True))
        return web.json_response(body, status=status)

    def _authorize(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        wanted, other = (
            (self.app_tokens, self.tokens)
            if method == "apps.connections.open"
            else (self.tokens, self.app_tokens)
        )
        if token in other:
            raise SlackError("not_allowed_token_type")
        if token not in wanted:
            raise SlackError("invalid_auth")

    async def _file_download(self, request: web.Request) -> web.Response:
        team_file = request.match_info["team_file"]
        file_id = team_file.split("-", 1)[-1]
        token = _bearer(request)
        authorized = token in self.tokens
        with self._lock:
            self._calls["files-pri"].append({"file": file_id, "authorized": authorized})
            stored = self._files.get(file_id)
        if not authorized:
            return web.Response(text=_LOGIN_PAGE, content_type="text/html")
        if stored is None:
            return web.Response(status=404, text="<html>Not found</html>", content_type="text/html")
        file, content = stored
        headers = {}
        if request.path.split("/")[3] == "download":
            headers["Content-Disposition"] = f'attachment; filename="{file["name"]}"'
        return web.Response(body=content, content_type=file["mimetype"], headers=headers)

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self._responses.append({"url": str(request.url), **body})
        return web.Response(text="ok")

    # -- state helpers (called with the lock held) ----------------------------------------------------

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
            is_im = len(users) == 1
            channel_id = self._new_id("D" if is_im else "G")
            self._dms[key] = channel_id
            self._channels[channel_id] = {
                "id": channel_id,
                "created": 1_700_000_000,
                "is_channel": False,
                "is_group": False,
                "is_im": is_im,
                "is_mpim": not is_im,
                "is_private": True,
                "is_archived": False,
                "is_member": True,
                "context_team_id": self.team_id,
                **(
                    {"user": users[0], "is_user_deleted": False}
                    if is_im
                    else {"name": "mpdm-" + "--".join(users)}
                ),
            }
        return self._dms[key]

    def _message(self, channel: str, ts: Any) -> _Message:
        stored = self._messages.get((channel, ts)) if isinstance(ts, str) else None
        if stored is None or stored.deleted:
            raise SlackError("message_not_found")
        return stored

    def _store(self, channel: str, data: dict[str, Any], *, thread_ts: str | None) -> _Message:
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
        stored = _Message(channel=channel, data=data)
        stored.snapshot()
        self._messages[(channel, data["ts"])] = stored
        return stored

    def _bot_message(self, text: str, blocks: Any, ts: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "message",
            "text": text,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": ts,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "FlowPilot",
                "deleted": False,
                "team_id": self.team_id,
            },
        }
        if blocks is not None:
            data["blocks"] = blocks
        return data

    @staticmethod
    def _check_message(payload: dict[str, Any], *, require_content: bool = True) -> None:
        text = payload.get("text") if payload.get("text") is not None else payload.get("markdown_text")
        blocks = payload.get("blocks")
        if require_content and not text and not blocks and not payload.get("attachments"):
            raise SlackError("no_text")
        if isinstance(text, str) and len(text) > MESSAGE_MAX_TEXT:
            raise SlackError("msg_too_long")
        if blocks is not None:
            if isinstance(blocks, str):
                raise SlackError("invalid_blocks_format")
            errors = message_block_errors(blocks)
            if errors:
                raise SlackError(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )

    # -- Web API methods ------------------------------------------------------------------------------

    def _auth_test(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-team.slack.com/",
            "team": self.team_name,
            "user": self._users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(payload.get("channel"))["id"]
        self._check_message(payload)
        text = payload.get("text") or payload.get("markdown_text") or ""
        data = self._bot_message(text, payload.get("blocks"), self._next_ts())
        if payload.get("metadata") is not None:
            data["metadata"] = payload["metadata"]
        stored = self._store(channel, data, thread_ts=payload.get("thread_ts"))
        return {"ok": True, "channel": channel, "ts": data["ts"], "message": copy.deepcopy(stored.data)}

    def _chat_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(payload.get("channel"))["id"]
        stored = self._message(channel, payload.get("ts"))
        if stored.data.get("bot_id") != self.bot_id:
            raise SlackError("cant_update_message")
        self._check_message(payload, require_content=False)
        if payload.get("text") is not None:
            stored.data["text"] = payload["text"]
        if payload.get("blocks") is not None:
            stored.data["blocks"] = payload["blocks"]
        stored.data["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        stored.snapshot()
        return {
            "ok": True,
            "channel": channel,
            "ts": stored.data["ts"],
            "text": stored.data["text"],
            "message": copy.deepcopy(stored.data),
        }

    def _chat_delete(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(payload.get("channel"))["id"]
        stored = self._message(channel, payload.get("ts"))
        if stored.data.get("bot_id") != self.bot_id:
            raise SlackError("cant_delete_message")
        stored.deleted = True
        return {"ok": True, "channel": channel, "ts": stored.data["ts"]}

    def _chat_post_ephemeral(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(payload.get("channel"))["id"]
        if payload.get("user") not in self._users:
            raise SlackError("user_not_in_channel")
        self._check_message(payload)
        ts = self._next_ts()
        self._ephemerals[channel].append(
            {
                "user": payload["user"],
                "text": payload.get("text", ""),
                "blocks": payload.get("blocks"),
                "thread_ts": payload.get("thread_ts"),
                "message_ts": ts,
            }
        )
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(payload.get("channel"))["id"]
        stored = self._message(channel, payload.get("message_ts"))
        ts = stored.data["ts"]
        permalink = f"https://fake-team.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = stored.data.get("thread_ts")
        if thread_ts and thread_ts != ts:
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _stream_text(self, payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """The markdown a stream call adds, from ``markdown_text`` and ``markdown_text`` chunks."""
        chunks = payload.get("chunks") or []
        if not isinstance(chunks, list) or not all(isinstance(c, dict) and c.get("type") for c in chunks):
            raise SlackError("invalid_chunks")
        text = (payload.get("markdown_text") or "") + "".join(
            c.get("text", "") for c in chunks if c["type"] == "markdown_text"
        )
        if len(text) > STREAM_MAX_MARKDOWN:
            raise SlackError("msg_too_long")
        return text, chunks

    def _streaming_message(self, payload: dict[str, Any]) -> _Message:
        channel = self._channel(payload.get("channel"))["id"]
        stored = self._message(channel, payload.get("ts"))
        if not stored.streaming:
            raise SlackError("message_not_in_streaming_state")
        return stored

    def _chat_start_stream(self, payload: dict[str, Any]) -> dict[str, Any]:
        info = self._channel(payload.get("channel"))
        if self._streaming_error:
            raise SlackError(self._streaming_error)
        if not payload.get("thread_ts"):
            raise _invalid_arguments("missing required field: thread_ts")
        if not info["is_im"]:
            if not payload.get("recipient_user_id"):
                raise SlackError("missing_recipient_user_id")
            if not payload.get("recipient_team_id"):
                raise SlackError("missing_recipient_team_id")
        text, chunks = self._stream_text(payload)
        data = self._bot_message(text, None, self._next_ts())
        stored = self._store(info["id"], data, thread_ts=payload["thread_ts"])
        stored.streaming = True
        stored.chunks.extend(chunks)
        return {"ok": True, "channel": info["id"], "ts": data["ts"]}

    def _chat_append_stream(self, payload: dict[str, Any]) -> dict[str, Any]:
        stored = self._streaming_message(payload)
        text, chunks = self._stream_text(payload)
        if not text and not chunks:
            raise SlackError("no_text")
        stored.data["text"] += text
        stored.chunks.extend(chunks)
        stored.snapshot()
        return {"ok": True, "channel": stored.channel, "ts": stored.data["ts"]}

    def _chat_stop_stream(self, payload: dict[str, Any]) -> dict[str, Any]:
        stored = self._streaming_message(payload)
        text, chunks = self._stream_text(payload)
        if payload.get("blocks") is not None:
            self._check_message({"blocks": payload["blocks"]}, require_content=False)
            stored.data["blocks"] = payload["blocks"]
        if payload.get("metadata") is not None:
            stored.data["metadata"] = payload["metadata"]
        stored.data["text"] += text
        stored.chunks.extend(chunks)
        stored.streaming = False
        stored.snapshot()
        return {
            "ok": True,
            "channel": stored.channel,
            "ts": stored.data["ts"],
            "message": copy.deepcopy(stored.data),
        }

    def _conversations_open(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("channel"):
            info = self._channel(payload["channel"])
        else:
            users = [u for u in str(payload.get("users") or "").split(",") if u]
            if not users:
                raise SlackError("users_list_not_supplied")
            unknown = [u for u in users if u not in self._users]
            if unknown:
                raise SlackError("user_not_found")
            info = self._channels[self._open_dm(users)]
        full = str(payload.get("return_im")).lower() in ("1", "true")
        return {"ok": True, "channel": copy.deepcopy(info) if full else {"id": info["id"]}}

    def _conversations_info(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": copy.deepcopy(self._channel(payload.get("channel")))}

    def _conversations_replies(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(payload.get("channel"))["id"]
        ts = payload.get("ts")
        parent = self._messages.get((channel, ts)) if isinstance(ts, str) else None
        if parent is None or parent.deleted:
            raise SlackError("thread_not_found")
        thread = [
            m.data
            for m in sorted(self._messages.values(), key=lambda m: m.data["ts"])
            if m.channel == channel
            and not m.deleted
            and (m.data["ts"] == ts or m.data.get("thread_ts") == ts)
        ]
        limit = int(payload.get("limit") or 1000)
        cursor = payload.get("cursor")
        start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
        page = thread[start : start + limit]
        has_more = start + limit < len(thread)
        next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if has_more else ""
        return {
            "ok": True,
            "messages": copy.deepcopy(page),
            "has_more": has_more,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _users_info(self, payload: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(payload.get("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": copy.deepcopy(user)}

    def _checked_view(self, payload: dict[str, Any]) -> dict[str, Any]:
        view = payload.get("view")
        errors = ["invalid view JSON"] if isinstance(view, str) else view_errors(view)
        if errors:
            raise _invalid_arguments(*errors)
        return view  # type: ignore[return-value]

    def _use_trigger(self, payload: dict[str, Any]) -> None:
        trigger_id = payload.get("trigger_id")
        if not trigger_id:
            raise _invalid_arguments("missing required field: trigger_id")
        if trigger_id in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        self._used_triggers.add(trigger_id)

    def _save_view(
        self, view: dict[str, Any], *, view_id: str, root_view_id: str, previous: str | None
    ) -> dict[str, Any]:
        saved = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "previous_view_id": previous,
            "root_view_id": root_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views[view_id] = saved
        return {"ok": True, "view": copy.deepcopy(saved)}

    def _views_open(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._use_trigger(payload)
        view = self._checked_view(payload)
        view_id = self._new_id("V")
        return self._save_view(view, view_id=view_id, root_view_id=view_id, previous=None)

    def _views_push(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._use_trigger(payload)
        view = self._checked_view(payload)
        previous = next(reversed(self._views), None)
        root = self._views[previous]["root_view_id"] if previous else None
        view_id = self._new_id("V")
        return self._save_view(view, view_id=view_id, root_view_id=root or view_id, previous=previous)

    def _views_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("view_id"):
            current = self._views.get(payload["view_id"])
        else:
            external_id = payload.get("external_id")
            current = next(
                (v for v in self._views.values() if external_id and v["external_id"] == external_id), None
            )
        if current is None:
            raise SlackError("not_found")
        if payload.get("hash") and payload["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._checked_view(payload)
        return self._save_view(
            view,
            view_id=current["id"],
            root_view_id=current["root_view_id"],
            previous=current["previous_view_id"],
        )

    def _assistant_thread(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(payload.get("channel_id"))["id"]
        if not payload.get("thread_ts"):
            raise _invalid_arguments("missing required field: thread_ts")
        return self._assistant[(channel, payload["thread_ts"])]

    def _assistant_set_status(self, payload: dict[str, Any]) -> dict[str, Any]:
        thread = self._assistant_thread(payload)
        thread["status"] = payload.get("status", "")
        if payload.get("loading_messages") is not None:
            thread["loading_messages"] = payload["loading_messages"]
        return {"ok": True}

    def _assistant_set_suggested_prompts(self, payload: dict[str, Any]) -> dict[str, Any]:
        thread = self._assistant_thread(payload)
        prompts = payload.get("prompts")
        if (
            not isinstance(prompts, list)
            or not 1 <= len(prompts) <= 4
            or not all(isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts)
        ):
            raise _invalid_arguments("prompts must hold 1 to 4 items, each with a title and a message")
        thread["prompts"] = prompts
        if payload.get("title") is not None:
            thread["prompts_title"] = payload["title"]
        return {"ok": True}

    def _assistant_set_title(self, payload: dict[str, Any]) -> dict[str, Any]:
        thread = self._assistant_thread(payload)
        thread["title"] = payload.get("title", "")
        return {"ok": True}

    def _reactions_add(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(payload.get("channel"))["id"]
        stored = self._message(channel, payload.get("timestamp"))
        name = str(payload.get("name") or "").strip(":")
        if not name:
            raise SlackError("invalid_name")
        reactions = stored.data.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        elif self.bot_user_id in reaction["users"]:
            raise SlackError("already_reacted")
        else:
            reaction["users"].append(self.bot_user_id)
            reaction["count"] += 1
        return {"ok": True}

    def _files_info(self, payload: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(payload.get("file") or "")
        if stored is None:
            raise SlackError("file_not_found")
        return {
            "ok": True,
            "file": copy.deepcopy(stored[0]),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _apps_connections_open(self, payload: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        url = f"ws://127.0.0.1:{self.port}/socket?ticket={ticket}&app_id={self.app_id}"
        return {"ok": True, "url": url}

    def _oauth_v2_access(self, payload: dict[str, Any]) -> dict[str, Any]:
        client_id = str(payload.get("client_id") or "")
        if not client_id or self._oauth_apps.get(client_id) != payload.get("client_secret"):
            raise SlackError(
                "invalid_client_id" if client_id not in self._oauth_apps else "bad_client_secret"
            )
        bot_token = self._oauth_codes.pop(str(payload.get("code") or ""), None)
        if bot_token is None:
            raise SlackError("invalid_code")
        self.tokens.add(bot_token)
        return {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": next(iter(u for u in self._users if u != self.bot_user_id), "")},
            "scope": "app_mentions:read,chat:write,commands",
            "token_type": "bot",
            "access_token": bot_token,
            "bot_user_id": self.bot_user_id,
            "team": {"id": self.team_id, "name": self.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }


def _basic_auth(request: web.Request) -> dict[str, str]:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return {}
    try:
        client_id, _, secret = base64.b64decode(header[len("Basic ") :]).decode().partition(":")
    except ValueError:
        return {}
    return {"client_id": client_id, "client_secret": secret}


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :] if header.startswith("Bearer ") else None


async def _read_request(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """The call's arguments (query, then form or JSON body) and its token, parsed as Slack parses them."""
    payload: dict[str, Any] = dict(request.query)
    query_token = payload.pop("token", None)
    token = _bearer(request) or query_token
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                body = {}
            if isinstance(body, dict):
                body.pop("token", None)  # Slack only reads tokens from the header when the body is JSON
                payload.update(body)
        else:
            form = await request.post()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            form_token = fields.pop("token", None)
            token = token or form_token
            payload.update(fields)
    for name in _JSON_FIELDS:
        value = payload.get(name)
        if isinstance(value, str) and value.strip().startswith(("[", "{")):
            with contextlib.suppress(json.JSONDecodeError):
                payload[name] = json.loads(value)
    return payload, token
