"""Errors in Teams' shape: injected faults, refused requests and the JSON error body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

STATUS_CODES = {
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


@dataclass
class Fault:
    """A failure injected with FakeConnector.fail: the next `remaining` matching requests get it."""

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


class Rejected(Exception):
    """A request Teams refuses; the server answers it with `status` and Teams' error body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def retry_after_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
