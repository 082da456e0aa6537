"""Where a session shows in Slack: its thread, and the message a button was clicked on."""

from __future__ import annotations

from dataclasses import dataclass, field

from .render import Block


@dataclass
class Place:
    """The session's thread: where its header and replies live."""

    channel: str
    thread_ts: str
    header_ts: str | None = None
    assistant: bool = False  # a DM / assistant pane thread: status instead of a placeholder


@dataclass
class Clicked:
    """The message a button was clicked on, so it can show who did what."""

    channel: str
    ts: str
    blocks: list[Block] = field(default_factory=list)
    block_id: str = ""
