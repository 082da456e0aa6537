"""Files attached in Slack, downloaded with the bot token, only over HTTPS from Slack's own file hosts.

A file's URL comes from the event body, so it is checked before the bot token goes anywhere: HTTPS, one of
Slack's file hosts, the default port. The configured Web API's own origin is trusted too (GovSlack, or the
fake Slack in tests, which serves its files there): the trust comes from SLACK_API_URL, never from a
blanket allowance of plain HTTP or of this machine.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from yarl import URL

from bot.intake import Attachment

from . import messages as msg
from .render import escape

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 3
SLACK_FILE_HOSTS = frozenset({"files.slack.com", "slack-files.com", "files.slack-gov.com"})
Origin = tuple[str, str, int]  # scheme, host, port


def trusted_origins(api_url: str) -> frozenset[Origin]:
    """Slack's file hosts over HTTPS on the default port, plus the configured Web API's origin."""
    api = origin_of(api_url)
    return frozenset({("https", host, 443) for host in SLACK_FILE_HOSTS} | ({api} if api else set()))


def origin_of(url: str | URL) -> Origin | None:
    """The URL's origin as aiohttp will connect to it; None for anything else than a plain http(s) URL."""
    try:
        u = URL(url) if isinstance(url, str) else url
    except (ValueError, TypeError):
        return None
    if u.scheme not in ("http", "https") or not u.raw_host or u.port is None or u.user or u.password:
        return None
    return (u.scheme, u.raw_host.lower().rstrip("."), u.port)


class Untrusted(Exception):
    """The URL (or a redirect) points somewhere the bot token must not go."""


async def download(
    files: list[dict[str, Any]], *, token: str, origins: frozenset[Origin]
) -> tuple[list[Attachment], list[str]]:
    """The files as Attachments, and a notice for each one left out (refused or not fetched)."""
    attachments: list[Attachment] = []
    notices: list[str] = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for file in files:
            name = str(file.get("name") or file.get("title") or "attachment")
            url = file.get("url_private_download") or file.get("url_private")
            try:
                if not isinstance(url, str) or origin_of(url) not in origins:
                    raise Untrusted
                data = await _fetch(http, URL(url), token, origins)
            except Untrusted:
                logger.warning("refused to fetch a Slack file from outside Slack's file hosts")
                notices.append(msg.FILE_REFUSED.format(name=escape(name)))
                continue
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                logger.warning("could not download a Slack file: %s", type(err).__name__)
                notices.append(msg.FILE_SKIPPED.format(name=escape(name)))
                continue
            attachments.append(Attachment(filename=name, media_type=file.get("mimetype"), data=data))
    return attachments, notices


async def _fetch(http: aiohttp.ClientSession, url: URL, token: str, origins: frozenset[Origin]) -> bytes:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(MAX_REDIRECTS + 1):
        if origin_of(url) not in origins:
            raise Untrusted
        # Redirects are followed here, each checked like the first URL (aiohttp's own would carry the
        # token to wherever Location points).
        async with http.get(url, headers=headers, allow_redirects=False) as response:
            if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                url = url.join(URL(response.headers["Location"]))
                continue
            response.raise_for_status()
            if response.status != 200:
                raise ValueError(f"Slack answered {response.status}")
            # Slack answers a bad token with its sign-in page, not an error status.
            if response.content_type == "text/html":
                raise ValueError("Slack answered with a sign-in page")
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > MAX_FILE_BYTES:
                    raise ValueError("file too large")
            return bytes(data)
    raise ValueError("too many redirects")
