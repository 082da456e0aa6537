"""The draft of issue 17's failing case: fields that read like headings, and a recommendations paragraph."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import SessionHandoff, SessionResolutionOutput

# Claude wrote its fields the way the old parser mis-filed: a "Root cause:" label inside the root cause and
# a paragraph of recommendations that used to become one more step.
ISSUE_DRAFT: dict[str, Any] = {
    "root_cause": "Root cause: the VPN client certificate on LAP-7 had expired.",
    "steps_taken": [
        "Checked the VPN client log: certificate expired on 1 March.",
        "Renewed the certificate from the internal CA.",
    ],
    "recommendations": (
        "Recommendations: monitor certificate expiry for every laptop, "
        "and set a renewal reminder 30 days before expiry."
    ),
}
ROOT_CAUSE = ISSUE_DRAFT["root_cause"]
STEPS_TAKEN = (
    "1. Checked the VPN client log: certificate expired on 1 March.\n"
    "2. Renewed the certificate from the internal CA."
)
RECOMMENDATIONS = ISSUE_DRAFT["recommendations"]


async def filed_note(db: async_sessionmaker[AsyncSession]) -> str:
    """Check the one handoff was filed by field exactly as Claude wrote it; return the stored ticket note."""
    async with db() as s:
        handoff = (await s.execute(sa.select(SessionHandoff))).scalars().one()
        stored = (
            await s.execute(
                sa.select(SessionResolutionOutput).where(SessionResolutionOutput.format == "plain")
            )
        ).scalar_one()
    assert (handoff.root_cause, handoff.steps_taken, handoff.recommendations) == (
        ROOT_CAUSE,
        STEPS_TAKEN,
        RECOMMENDATIONS,
    )
    return stored.content
