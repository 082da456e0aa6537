"""The one place API errors become HTTP: core notices, bad bodies and validation failures."""

from __future__ import annotations

import json
import uuid
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.events import Notice

from .bodies import ErrorBody, ErrorInfo, FieldError, RetryHint

M = TypeVar("M", bound=BaseModel)

RETRY_AFTER_SECONDS = 5
# Core error codes (bot/errors.py) -> HTTP status.
STATUS = {
    "bad_input": 422,
    "not_found": 404,
    "forbidden": 403,
    "invalid_transition": 409,
    "already_answered": 409,
    "busy": 503,
    "shutting_down": 503,
    "claude_unavailable": 502,
    "claude_bad_output": 502,
    "rate_limited": 429,
    "not_configured": 503,
    # Starting from a PSA ticket (bot/psa_intake.py): none connected; the PSA refused us or did not answer.
    "psa_not_connected": 409,
    "psa_refused": 502,
    "psa_unavailable": 502,
}
NOT_FOUND = "There is no session with that id."
FOREIGN = "That session belongs to another account than this API token's."
BAD_JSON = "The request body is not valid JSON."
TOO_LARGE = "The request body is larger than {limit:,} bytes."


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        session_id: uuid.UUID | None = None,
        fields: list[FieldError] | None = None,
        retry: RetryHint | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.info = ErrorInfo(
            code=code, message=message, retryable=retryable, session_id=session_id, fields=fields, retry=retry
        )

    def response(self) -> web.Response:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if self.status == 503 else None
        return web.json_response(
            ErrorBody(error=self.info).model_dump(mode="json", exclude_none=True),
            status=self.status,
            headers=headers,
        )


def is_failure(event: object) -> bool:
    """A notice that ends the command with an error (not the "previous turn was interrupted" note)."""
    return isinstance(event, Notice) and event.level == "error" and event.code != "interrupted"


def from_notice(notice: Notice, *, retry: RetryHint | None = None) -> ApiError:
    status = STATUS.get(notice.code, 500)
    # Retrying helps a busy, limited or unreachable service, not one its administrator has to set up.
    retryable = status in (429, 502, 503) and notice.code != "not_configured"
    return ApiError(
        status,
        notice.code,
        notice.text,
        retryable=retryable,
        session_id=notice.session_id,
        retry=retry if retryable else None,
    )


def field_errors(err: ValidationError, *, prefix: tuple[str, ...] = ("body",)) -> list[FieldError]:
    return [
        FieldError(
            loc=[*prefix, *(p if isinstance(p, int) else str(p) for p in e["loc"])],
            message=e["msg"],
            type=e["type"],
        )
        for e in err.errors(include_url=False, include_input=False)
    ]


def invalid(err: ValidationError, *, prefix: tuple[str, ...] = ("body",)) -> ApiError:
    fields = field_errors(err, prefix=prefix)
    first = fields[0]
    where = ".".join(str(p) for p in first.loc)
    return ApiError(422, "bad_input", f"{where}: {first.message}", fields=fields)


async def read_json(request: web.Request, *, limit: int) -> Any:
    """The body as JSON (an empty body is `{}`); 413 above `limit` bytes, 400 when it is not JSON."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", TOO_LARGE.format(limit=limit))
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise ApiError(413, "too_large", TOO_LARGE.format(limit=limit))
    if not data.strip():
        return {}
    try:
        return json.loads(bytes(data))
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json", BAD_JSON) from None


async def parse(request: web.Request, model: type[M], *, limit: int) -> M:
    raw = await read_json(request, limit=limit)
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise invalid(err) from None
