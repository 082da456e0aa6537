"""What POST /slack/events checks before Bolt sees a request: a malformed one is a 4xx with one log line.

slack_sdk's SignatureVerifier raises (and aiohttp answers 500 with a traceback) on a timestamp that is not
an integer ("abc", "1796421445.941") or a signature with non-ASCII characters; aiohttp's request.text()
raises on a body that is not UTF-8 or on a charset it does not know; json.loads raises RecursionError on
deeply nested JSON. Slack sends none of these, so each is refused here, before it can reach them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

logger = logging.getLogger(__name__)

TIMESTAMP = "X-Slack-Request-Timestamp"
SIGNATURE = "X-Slack-Signature"
# What Slack sends: Unix seconds, and "v0=" with an HMAC-SHA256 in hex.
HEADER_FORMS = {TIMESTAMP: re.compile(r"[0-9]{1,15}"), SIGNATURE: re.compile(r"v0=[0-9a-f]{64}")}
UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
# Slack's payloads (a message's blocks and rich text, a view's state) nest a dozen levels, not hundreds.
MAX_DEPTH = 64


class Refused(Exception):
    """A request Slack would never send: answered with `status`, logged once with `reason`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> web.Response:
        logger.warning("refused a Slack request: %s", self.reason)
        return web.Response(status=self.status, text=self.reason)


def check_headers(headers: CIMultiDictProxy[str]) -> None:
    """The signature headers, if present, are one each and shaped as Slack sends them (else Refused)."""
    for name, form in HEADER_FORMS.items():
        values = headers.getall(name, [])
        if len(values) > 1:
            raise Refused(400, f"more than one {name} header")
        if values and not form.fullmatch(values[0]):
            raise Refused(400, f"malformed {name} header")


async def body_text(request: web.Request) -> str:
    """The body as text: Slack sends UTF-8 (else Refused, 415 for another charset, 400 for bad bytes)."""
    charset = request.charset
    if charset is not None and charset.lower() not in UTF8:
        raise Refused(415, "unsupported charset (Slack sends UTF-8)")
    try:
        return (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None


def check_depth(body: Any) -> None:
    """Refused when the parsed body nests deeper than MAX_DEPTH (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        children: Any
        if isinstance(value, Mapping):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise Refused(400, f"the body nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
