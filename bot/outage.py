"""Whether a failure means the database is down right now (the engineer is told to try again, nothing else)."""

from __future__ import annotations

from storage import engine

from .errors import DatabaseUnavailable


def is_outage(err: BaseException) -> bool:
    """True when `err` means PostgreSQL cannot be reached right now: retrying later can help."""
    return isinstance(err, DatabaseUnavailable) or engine.is_outage(err)
