"""The prompt history: each session's steps as Claude reads them, remembered by the process.

Steps are append-only, so a turn reads only the steps written since the remembered ones, and none when
this process wrote them itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from storage import raw, repo

from .identities import Db
from .prompts import StepForPrompt

# How many sessions' prompt histories one process keeps (the most recently used ones).
HISTORY_CACHE_SESSIONS = 256


class PromptHistory:
    def __init__(self, *, sessions: int = HISTORY_CACHE_SESSIONS) -> None:
        self._limit = sessions
        # session id -> (last step order, the steps as prompt input), most recently used last
        self._known: dict[uuid.UUID, tuple[int, list[StepForPrompt]]] = {}

    def remember(self, session_id: uuid.UUID, order: int, step: StepForPrompt) -> None:
        """A step this process has just written joins the session's remembered history, when it follows on
        from it: the next turn then reads nothing."""
        known = self._known.get(session_id)
        if known is not None and known[0] == order - 1:
            self._known[session_id] = (order, known[1] + [step])

    async def steps(self, db: Db, session_id: uuid.UUID, *, upto: int | None = None) -> list[StepForPrompt]:
        """The session's steps for the prompt: only new ones are read, and none when the remembered ones
        reach `upto` (the session's step count, when the caller knows it)."""
        known = self._known.get(session_id)
        if known is not None and upto is not None and known[0] == upto:
            self._known[session_id] = self._known.pop(session_id)  # the most recently used
            return known[1]
        read = raw.prompt_steps if isinstance(db, raw.Conn) else repo.prompt_steps
        known = self._known.pop(session_id, None)
        since, steps = known if known else (0, [])
        rows: Sequence[Any] = await read(db, session_id, after=since)  # type: ignore[arg-type]
        if rows and rows[0].step_order != since + 1:  # a gap: read it all again
            since, steps = 0, []
            rows = await read(db, session_id)  # type: ignore[arg-type]
        steps = steps + [StepForPrompt.of(r) for r in rows]
        self._known[session_id] = (rows[-1].step_order if rows else since, steps)
        while len(self._known) > self._limit:
            self._known.pop(next(iter(self._known)))
        return steps
