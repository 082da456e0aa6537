"""Files attached in Slack, downloaded with the bot token, only from Slack's own hosts."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.intake import Attachment

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
SLACK_FILE_HOSTS = frozenset({"files.slack.com", "slack-files.com", "files.slack-gov.com"})


def allowed_hosts(api_url: str) -> frozenset[str]:
    """Slack's file hosts plus the configured API host (GovSlack, or a fake in tests)."""
    host = urlsplit(api_url).hostname
    return SLACK_FILE_HOSTS | ({host} if host else set())


async def download(
    files: list[dict[str, Any]], *, token: str, hosts: frozenset[str]
) -> tuple[list[Attachment], list[str]]:
    """The files as Attachments, and the names of those that could not be fetched."""
    attachments: list[Attachment] = []
    skipped: list[str] = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for file in files:
            name = str(file.get("name") or file.get("title") or "attachment")
            url = file.get("url_private_download") or file.get("url_private")
            if not isinstance(url, str) or urlsplit(url).hostname not in hosts:
                skipped.append(name)
                continue
            try:
                data = await _fetch(http, url, token)
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                logger.warning("could not download a Slack file: %s", type(err).__name__)
                skipped.append(name)
                continue
            attachments.append(Attachment(filename=name, media_type=file.get("mimetype"), data=data))
    return attachments, skipped


async def _fetch(http: aiohttp.ClientSession, url: str, token: str) -> bytes:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(url, headers=headers, allow_redirects=False) as response:
        response.raise_for_status()
        # Slack answers a bad token with its sign-in page, not an error status.
        if response.content_type == "text/html":
            raise ValueError("Slack answered with a sign-in page")
        data = await response.content.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ValueError("file too large")
        return data
