"""A partial index for the recovery sweep: sessions whose turn a dead or stopped process left unfinished.

Revision ID: 0003_turn_in_flight
Revises: 0002_slack
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_turn_in_flight"
down_revision: str | None = "0002_slack"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_ai_sessions_turn_in_flight",
        "ai_sessions",
        ["lease_expires_at"],
        postgresql_where=sa.text("turn_in_flight IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_ai_sessions_turn_in_flight", table_name="ai_sessions")
