"""Process liveness: each serving process registers here and holds an advisory lock while it lives.

Revision ID: 0004_liveness
Revises: 0003_turn_in_flight
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_liveness"
down_revision: str | None = "0003_turn_in_flight"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flowpilot_processes",
        sa.Column("owner", sa.Uuid(), nullable=False),
        sa.Column(
            "lock_key",
            sa.Integer(),
            sa.Identity(always=True, start=1, cycle=True, maxvalue=2_147_483_647),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_flowpilot_processes"),
        sa.UniqueConstraint("lock_key", name="uq_flowpilot_processes_lock_key"),
    )


def downgrade() -> None:
    op.drop_table("flowpilot_processes")
