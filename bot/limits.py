"""Per-engineer and per-workspace limits on new sessions and Claude turns, a sliding minute in each process.

They stop one user (or one leaked token) from opening hundreds of sessions or Claude calls a second; the
defaults are far above what a busy engineer does. The counts are kept in each process's memory: with N
processes behind a load balancer the effective limit is up to N times the setting, which still bounds a
flood, and costs no database round trip per turn.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from . import messages as msg
from .commands import Actor
from .errors import RateLimited

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Limits:
    """How many per minute; 0 turns a limit off."""

    sessions_per_user: int = 10
    sessions_per_workspace: int = 100
    turns_per_user: int = 30
    turns_per_workspace: int = 600


@dataclass
class SlidingWindow:
    """At most `limit` events per key in any `WINDOW_SECONDS`."""

    limit: int
    clock: Callable[[], float] = time.monotonic
    _events: dict[Hashable, deque[float]] = field(default_factory=dict)

    def wait_needed(self, key: Hashable) -> float:
        """Seconds until `key` may act again (0: it may now)."""
        if self.limit <= 0:
            return 0.0
        now = self.clock()
        events = self._events.get(key)
        if events is None:
            return 0.0
        while events and events[0] <= now - WINDOW_SECONDS:
            events.popleft()
        if not events:
            del self._events[key]
            return 0.0
        return events[0] + WINDOW_SECONDS - now if len(events) >= self.limit else 0.0

    def record(self, key: Hashable) -> None:
        if self.limit > 0:
            self._events.setdefault(key, deque()).append(self.clock())


class RateLimiter:
    """Checks and counts one kind of action (new sessions, or Claude turns) per engineer and per workspace."""

    def __init__(self, *, per_user: int, per_workspace: int, what: str) -> None:
        self._user = SlidingWindow(per_user)
        self._workspace = SlidingWindow(per_workspace)
        self._what = what

    def check(self, actor: Actor) -> None:
        """Count one action by `actor`, or raise RateLimited saying when to try again (nothing is counted)."""
        workspace = (actor.platform, actor.workspace_id)
        user = (*workspace, actor.user_id)
        for window, key, who in ((self._user, user, "You"), (self._workspace, workspace, "This workspace")):
            wait = window.wait_needed(key)
            if wait > 0:
                raise RateLimited(
                    msg.RATE_LIMITED.format(
                        who=who, count=window.limit, what=self._what, seconds=max(1, math.ceil(wait))
                    )
                )
        self._user.record(user)
        self._workspace.record(workspace)


def session_limiter(limits: Limits) -> RateLimiter:
    return RateLimiter(
        per_user=limits.sessions_per_user, per_workspace=limits.sessions_per_workspace, what="new sessions"
    )


def turn_limiter(limits: Limits) -> RateLimiter:
    return RateLimiter(
        per_user=limits.turns_per_user, per_workspace=limits.turns_per_workspace, what="questions to Claude"
    )
