"""The shapes of Slack's objects as the Web API returns them: users, channels, files, messages."""

from __future__ import annotations

import uuid
from typing import Any

# Every object the fake makes was "created" at the same moment.
CREATED = 1_700_000_000


def user(
    id: str,
    name: str,
    real_name: str | None,
    *,
    team_id: str,
    is_bot: bool,
    bot_id: str,
    tz: str,
    email: str | None,
) -> dict[str, Any]:
    real = real_name or name
    shape: dict[str, Any] = {
        "id": id,
        "team_id": team_id,
        "name": name,
        "real_name": real,
        "deleted": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "is_admin": False,
        "tz": tz,
        "tz_offset": 0,
        "updated": CREATED,
        "profile": {
            "real_name": real,
            "display_name": name,
            "real_name_normalized": real,
            "display_name_normalized": name,
            "email": email or f"{name}@example.com",
            "image_48": f"https://avatars.example.com/{id}_48.png",
            "team": team_id,
        },
    }
    if is_bot:
        shape["profile"]["bot_id"] = bot_id
    return shape


def channel(id: str, name: str, *, is_private: bool, creator: str, team_id: str) -> dict[str, Any]:
    return {
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
        "created": CREATED,
        "creator": creator,
        "context_team_id": team_id,
    }


def direct_message(channel_id: str, users: list[str], *, team_id: str) -> dict[str, Any]:
    """A DM with one user (``D…``) or a group DM (``G…``)."""
    is_im = len(users) == 1
    return {
        "id": channel_id,
        "created": CREATED,
        "is_channel": False,
        "is_group": False,
        "is_im": is_im,
        "is_mpim": not is_im,
        "is_private": True,
        "is_archived": False,
        "is_member": True,
        "context_team_id": team_id,
        **({"user": users[0], "is_user_deleted": False} if is_im else {"name": "mpdm-" + "--".join(users)}),
    }


def channel_type(info: dict[str, Any]) -> str:
    """The ``channel_type`` of a message event in this channel."""
    if info["is_im"]:
        return "im"
    if info["is_mpim"]:
        return "mpim"
    return "group" if info["is_private"] else "channel"


def file(
    file_id: str,
    name: str,
    *,
    size: int,
    mimetype: str,
    filetype: str | None,
    user: str,
    team_id: str,
    title: str | None,
    path: str,
) -> dict[str, Any]:
    """A file whose url_private / url_private_download live under ``path``."""
    return {
        "id": file_id,
        "created": CREATED,
        "timestamp": CREATED,
        "name": name,
        "title": title or name,
        "mimetype": mimetype,
        "filetype": filetype or name.rsplit(".", 1)[-1].lower(),
        "pretty_type": (filetype or name.rsplit(".", 1)[-1]).upper(),
        "user": user,
        "user_team": team_id,
        "editable": False,
        "size": size,
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": False,
        "url_private": f"{path}/{name}",
        "url_private_download": f"{path}/download/{name}",
        "permalink": f"https://fake-team.slack.com/files/{user}/{file_id}/{name}",
    }


def user_message(text: str, *, user: str, ts: str, team_id: str) -> dict[str, Any]:
    """A message a person wrote, with the rich_text block Slack's clients add."""
    return {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "team": team_id,
        "client_msg_id": str(uuid.uuid4()),
        "blocks": [
            {
                "type": "rich_text",
                "block_id": uuid.uuid4().hex[:5],
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }
        ],
    }


def bot_message(
    text: str, blocks: Any, *, ts: str, bot_user_id: str, bot_id: str, app_id: str, team_id: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "message",
        "text": text,
        "user": bot_user_id,
        "bot_id": bot_id,
        "app_id": app_id,
        "team": team_id,
        "ts": ts,
        "bot_profile": {
            "id": bot_id,
            "app_id": app_id,
            "name": "FlowPilot",
            "deleted": False,
            "team_id": team_id,
        },
    }
    if blocks is not None:
        data["blocks"] = blocks
    return data
