"""The answers a test scripts with `queue_turn`, `queue_text`, `queue_error` and `queue_cut_stream`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Turn:
    data: dict[str, Any]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Error:
    status: int
    error_type: str
    message: str
    retry_after: float | None


@dataclass(frozen=True)
class Cut:
    answer: str | dict[str, Any]  # text, or the input of a tool call
    after_chars: int
    error_type: str | None


Scripted = Turn | Text | Error | Cut
