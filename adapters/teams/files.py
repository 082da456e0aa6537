"""Files and pictures in a Teams message → the core's Attachment, fetched only from hosts Teams itself uses.

Teams sends a file from a personal chat as `application/vnd.microsoft.teams.file.download.info` with a
pre-authenticated `downloadUrl` (SharePoint / OneDrive), and a pasted picture as an `image/*` attachment whose
`contentUrl` is on the activity's own service host and needs the bot's token. So a URL is fetched only over
HTTPS, on the default port, from a host Teams serves files from; the token goes only to the service's own
origin; a redirect is followed only within the origin it came from. In anonymous local mode (the Agents
Playground) only the serviceUrl's own origin is fetched from: never another port or host of this machine.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aiohttp
from microsoft_agents.activity import Activity
from yarl import URL

from bot.intake import Attachment

logger = logging.getLogger(__name__)

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
# Where Teams keeps files shared in chats and channels (SharePoint and OneDrive, commercial and sovereign),
# and where it serves pasted pictures (the connector, the Teams and Skype media services, Graph).
FILE_HOST_SUFFIXES = (
    ".sharepoint.com",
    ".sharepoint-df.com",
    ".sharepoint.us",
    ".sharepoint.cn",
    ".teams.microsoft.com",
    ".teams.microsoft.us",
    ".botframework.com",
    ".botframework.azure.us",
    ".asm.skype.com",
)
FILE_HOSTS = frozenset({"smba.trafficmanager.net", "graph.microsoft.com", "graph.microsoft.us"})
MAX_REDIRECTS = 3
MAX_BYTES = 20 * 1024 * 1024  # a long log is trimmed by the core anyway; this only guards memory
MAX_FILES = 10
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Incoming:
    name: str
    url: str
    media_type: str | None
    with_token: bool  # only for the activity's own service host


@dataclass
class Fetched:
    attachments: list[Attachment]
    failed: list[str]  # names of the files that could not be fetched


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: the token goes only to exactly the service's origin."""
    parts = urlparse(url)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return ("", "", None)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _kind(attachment: Any) -> tuple[str, str, Any]:
    data = attachment.model_dump(by_alias=True) if hasattr(attachment, "model_dump") else dict(attachment)
    return str(data.get("contentType") or ""), str(data.get("name") or ""), data


def teams_file_url(url: str) -> bool:
    """An https URL on the default port of a host Teams serves files from."""
    scheme, host, port = _origin(url)
    return scheme == "https" and port == 443 and (host in FILE_HOSTS or host.endswith(FILE_HOST_SUFFIXES))


def incoming_files(activity: Activity, *, anonymous: bool) -> tuple[list[Incoming], list[str]]:
    """The files worth fetching, and the names of those refused for where they are."""
    service = _origin(activity.service_url or "")
    wanted: list[Incoming] = []
    refused: list[str] = []
    for attachment in activity.attachments or []:
        content_type, name, data = _kind(attachment)
        if content_type == FILE_DOWNLOAD_INFO:
            content = data.get("content") or {}
            url = str(content.get("downloadUrl") or "")
            file_type = str(content.get("fileType") or "")
            name = name or f"file.{file_type or 'txt'}"
            media_type = None
        elif content_type.startswith("image/") and data.get("contentUrl"):
            url = str(data["contentUrl"])
            name = name or "screenshot.png"
            media_type = None if content_type == "image/*" else content_type
        else:
            continue  # the message's own HTML form, cards, and anything we do not read
        origin = _origin(url)
        if anonymous and origin == service and origin[1]:
            wanted.append(Incoming(name, url, media_type, with_token=True))
        elif not anonymous and teams_file_url(url):
            wanted.append(Incoming(name, url, media_type, with_token=origin == service))
        else:
            logger.warning("did not fetch a Teams attachment from an unexpected place")
            refused.append(name)
    return wanted[:MAX_FILES], refused + [f.name for f in wanted[MAX_FILES:]]


class Redirected(Exception):
    """A redirect away from the origin the file was asked of: not followed."""


async def _fetch(session: aiohttp.ClientSession, item: Incoming, token: str) -> Attachment:
    headers = {"Authorization": token} if item.with_token and token else {}
    url = URL(item.url)
    for _ in range(MAX_REDIRECTS + 1):
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            if response.status in (301, 302, 303, 307, 308):
                target = url.join(URL(response.headers.get("Location", "")))
                if _origin(str(target)) != _origin(str(url)):
                    raise Redirected()
                url = target
                continue
            response.raise_for_status()
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > MAX_BYTES:
                    raise ValueError("file too large")
            media_type = item.media_type or response.content_type or None
            return Attachment(filename=item.name, media_type=media_type, data=bytes(data))
    raise Redirected()


async def fetch(items: list[Incoming], *, token: str) -> Fetched:
    """Download what could be fetched; a failure is named, never fatal."""
    result = Fetched([], [])
    if not items:
        return result
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        outcomes = await asyncio.gather(*(_fetch(session, i, token) for i in items), return_exceptions=True)
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, Attachment):
            result.attachments.append(outcome)
        else:
            logger.info("could not fetch a Teams attachment (%s)", type(outcome).__name__)
            result.failed.append(item.name)
    return result
