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

The package also builds what Slack sends *to* an app: :func:`signed_headers` and the payload builders.

    async with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        await client.chat_postMessage(channel=fake.general, text="hi")
        assert fake.messages(fake.general)[0]["text"] == "hi"

The package, by idea: `server` (FakeSlack: the HTTP server, call recording, faults), `workspace` (the state:
channels, messages, users, files, views), `objects` (the shapes of Slack's objects), `methods` (the Web API
methods by name) with `chat`, `streams`, `conversations`, `views`, `assistant` and `apps` (each group of
methods), `wire` (how a call is read), `socket_mode`, `blockkit` (Block Kit validation), `errors`, and
`payloads` (what Slack sends to an app).
"""

from fakes.slack.blockkit import (
    MESSAGE_MAX_BLOCKS,
    MESSAGE_MAX_TEXT,
    STREAM_MAX_MARKDOWN,
    VIEW_MAX_BLOCKS,
    message_block_errors,
    view_errors,
)
from fakes.slack.errors import SlackError
from fakes.slack.methods import Handler
from fakes.slack.payloads import (
    DEFAULT_APP_ID,
    block_actions_body,
    block_actions_payload,
    event_callback,
    event_callback_body,
    interactive_body,
    message_shortcut_body,
    message_shortcut_payload,
    new_trigger_id,
    signed_headers,
    slash_command_body,
    slash_command_payload,
    view_submission_body,
    view_submission_payload,
)
from fakes.slack.server import FakeSlack

__all__ = [
    "DEFAULT_APP_ID",
    "MESSAGE_MAX_BLOCKS",
    "MESSAGE_MAX_TEXT",
    "STREAM_MAX_MARKDOWN",
    "VIEW_MAX_BLOCKS",
    "FakeSlack",
    "Handler",
    "SlackError",
    "block_actions_body",
    "block_actions_payload",
    "event_callback",
    "event_callback_body",
    "interactive_body",
    "message_block_errors",
    "message_shortcut_body",
    "message_shortcut_payload",
    "new_trigger_id",
    "signed_headers",
    "slash_command_body",
    "slash_command_payload",
    "view_errors",
    "view_submission_body",
    "view_submission_payload",
]
