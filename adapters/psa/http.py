"""What the three PSA clients share: URL and ticket-number checks, one HTTP call, and HTTP errors → port errors.

Every message here names the PSA and what to fix; none carries a credential or a response body (a PSA's error
text can echo what was sent, and a body can hold a customer's data).
"""

from __future__ import annotations

import asyncio
import email.utils
import json as jsonlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.psa import PsaAuthFailed, PsaBadRequest, PsaError, PsaUnavailable, TicketNotFound

log = logging.getLogger(__name__)

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# A PSA ticket id is a positive integer; twelve digits is far above any real instance and keeps URLs short.
_TICKET_DIGITS = re.compile(r"#?(\d{1,12})")
_RETRY_AFTER_CAP = 3600.0


# ---- user-facing messages ------------------------------------------------------------------------------


def msg_bad_url(psa: str, what: str) -> str:
    return f"The {psa} {what} must be an https:// address (http:// only for localhost)."


def msg_not_a_number(psa: str, number: str, *, forms: str = "digits, e.g. 12345") -> str:
    shown = number if len(number) <= 20 else number[:20] + "…"
    return f"{shown!r} is not a ticket number: {psa} ticket numbers are {forms}."


def msg_not_found(psa: str, number: str) -> str:
    return f"{psa} has no ticket #{number}, or the API user is not allowed to see it."


def msg_auth(psa: str, status: int, fix: str) -> str:
    if status == 403:
        return (
            f"{psa} refused the request (HTTP 403): give the API user permission to read and update tickets."
        )
    return f"{psa} refused the credentials (HTTP {status}): check {fix} in the connection."


def msg_rate_limited(psa: str, retry_after: float | None) -> str:
    wait = f" in {retry_after:g} s" if retry_after is not None else " in a minute"
    return f"{psa} is limiting requests (HTTP 429); try again{wait}."


def msg_server_error(psa: str, status: int) -> str:
    return f"{psa} answered with a server error (HTTP {status}); try again later."


def msg_timeout(psa: str, seconds: float) -> str:
    return f"{psa} did not answer within {seconds:g} s; try again later."


def msg_unreachable(psa: str, host: str) -> str:
    return f"Could not reach {psa} at {host}: check the connection's URL and the network."


def msg_redirected(psa: str, status: int) -> str:
    return f"{psa} redirected the request (HTTP {status}): check the connection's URL (the API's, not a login page)."


def msg_rejected(psa: str, status: int, what: str) -> str:
    return f"{psa} rejected the request to {what} (HTTP {status})."


def msg_bad_answer(psa: str, what: str) -> str:
    return f"{psa} sent an answer FlowPilot does not understand when asked to {what}."


def msg_unknown_name(psa: str, kind: str, name: str, known: list[str], *, where: str = "") -> str:
    listed = ", ".join(known[:20]) or "none"
    return f"{psa} has no {kind} named {name!r}{where}; it has: {listed}."


# ---- checks ----------------------------------------------------------------------------------------------


def checked_base_url(url: str, *, psa: str, what: str = "URL") -> str:
    """The URL without a trailing slash, if it is https (or http to this machine, for tests); else PsaBadRequest."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOCAL_HOSTS)
    if not secure or not host or parts.username or parts.password or parts.query or parts.fragment:
        raise PsaBadRequest(msg_bad_url(psa, what))
    return url.strip().rstrip("/")


def ticket_id(number: str, *, psa: str) -> int:
    """The ticket number as an int (a leading '#' allowed); PsaBadRequest for anything else."""
    match = _TICKET_DIGITS.fullmatch(str(number).strip())
    if not match or int(match.group(1)) == 0:
        raise PsaBadRequest(msg_not_a_number(psa, str(number)))
    return int(match.group(1))


def linked_ticket(value: str) -> str | None:
    """A ticket id taken from a link: digits only, bounded, not zero; None otherwise."""
    match = re.fullmatch(r"\d{1,12}", value)
    return str(int(value)) if match and int(value) > 0 else None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), _RETRY_AFTER_CAP)


class Unauthorized(PsaAuthFailed):
    """A 401 (not a 403): a client holding a token may renew it and try once more."""


# ---- one HTTP call ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """What a request is for, so that its failure can be told in words: `what` reads 'read ticket #12345'."""

    what: str
    ticket: str | None = None  # set when a 404 means "no such ticket"


def error_for(status: int, headers: Mapping[str, str], *, psa: str, auth_fix: str, call: Call) -> PsaError:
    """The port's error for an HTTP status that is not a success."""
    if status == 401:
        return Unauthorized(msg_auth(psa, status, auth_fix))
    if status == 403:
        return PsaAuthFailed(msg_auth(psa, status, auth_fix))
    if status == 404 and call.ticket is not None:
        return TicketNotFound(msg_not_found(psa, call.ticket))
    if status == 429:
        retry_after = retry_after_seconds(headers.get("Retry-After"))
        return PsaUnavailable(msg_rate_limited(psa, retry_after), retry_after=retry_after)
    if status >= 500:
        return PsaUnavailable(msg_server_error(psa, status))
    if status < 400:  # redirects are not followed: a key must not travel to wherever a 302 points
        return PsaBadRequest(msg_redirected(psa, status))
    return PsaBadRequest(msg_rejected(psa, status, call.what))


class PsaHttp:
    """One aiohttp session (given, or owned and closed by close()) and the error mapping every call goes through."""

    def __init__(
        self,
        *,
        psa: str,
        auth_fix: str,
        timeout: float,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.psa = psa
        self.timeout = timeout
        self._auth_fix = auth_fix
        self._session = session
        self._owns_session = session is None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        call: Call,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one); a PsaError for anything else."""
        host = urlsplit(url).hostname or "?"
        try:
            async with self._client().request(
                method,
                url,
                headers=headers,
                params=params,
                json=json,
                data=data,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                # Path only: a query can carry a user name, headers carry the keys.
                log.debug("%s %s %s → %s", self.psa, method, urlsplit(url).path, response.status)
                if response.status >= 300:
                    raise error_for(
                        response.status, response.headers, psa=self.psa, auth_fix=self._auth_fix, call=call
                    )
                raw = await response.read()
        except TimeoutError as exc:
            raise PsaUnavailable(msg_timeout(self.psa, self.timeout)) from exc
        except aiohttp.ClientError as exc:
            log.info("%s unreachable at %s: %s", self.psa, host, type(exc).__name__)
            raise PsaUnavailable(msg_unreachable(self.psa, host)) from exc
        return _decoded(raw, psa=self.psa, call=call)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None


def _decoded(raw: bytes, *, psa: str, call: Call) -> Any:
    if not raw.strip():
        return None
    try:
        return jsonlib.loads(raw)
    except ValueError as exc:
        raise PsaUnavailable(msg_bad_answer(psa, call.what)) from exc


# ---- reading answers -------------------------------------------------------------------------------------


def as_dict(value: Any, *, psa: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PsaUnavailable(msg_bad_answer(psa, what))
    return value


def as_list(value: Any, *, psa: str, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise PsaUnavailable(msg_bad_answer(psa, what))
    return [item for item in value if isinstance(item, dict)]


def text_of(value: Any) -> str | None:
    """A non-empty string, or None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parsed_time(value: Any) -> datetime | None:
    """An ISO 8601 time as the PSAs send it ("2026-12-01T10:00:00Z"), or None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def name_of(value: Any) -> str | None:
    """The `name` of a PSA reference object ({"id": 1, "name": "…"}), or None."""
    return text_of(value.get("name")) if isinstance(value, dict) else None


def find_named(items: Mapping[str, Any], name: str) -> Any | None:
    """The value whose name matches, ignoring case and surrounding spaces."""
    wanted = name.strip().casefold()
    for key, value in items.items():
        if key.strip().casefold() == wanted:
            return value
    return None


async def gather_all(*aws: Any) -> list[Any]:
    """asyncio.gather that lets the first PsaError through (the others are cancelled)."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # a second failure is read here, not reported as "never retrieved"
