"""Session changes made anywhere (another process, the REST API, another chat), as the core tells adapters.

storage.notify carries them between processes (LISTEN/NOTIFY); this is the core's own event for them, so an
adapter subscribes here and never to storage.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from storage import notify


@dataclass(frozen=True)
class SessionChange:
    session_id: uuid.UUID
    kind: str  # triage | status
    origin: str  # the platform the change came from: slack, teams, api, shell
    platform: str = ""  # the session's own platform (its account's): only that chat adapter shows it


Subscriber = Callable[[SessionChange], Awaitable[None]]


def of(change: notify.SessionChange) -> SessionChange:
    return SessionChange(change.session_id, change.kind, change.origin, change.platform)


class ChangeFeed:
    """Hands each change the process hears of to the adapters that subscribed, as a core SessionChange."""

    def __init__(self, listener: notify.ChangeListener) -> None:
        self._listener = listener

    def subscribe(self, subscriber: Subscriber) -> None:
        async def deliver(change: notify.SessionChange) -> None:
            await subscriber(of(change))

        self._listener.subscribe(deliver)
