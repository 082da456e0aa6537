"""Flow runs: where a session stands in the flow that guides it.

The flow version, the node the engineer is asked at, the step number, and the path walked with its flow's
slug and title (JSONB: what the header shows and what Claude is told when the flow hands over).
matched_flow_id and match_score (the seed's names) already exist.

Revision ID: 0006_flow_runs
Revises: 0005_flows
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_flow_runs"
down_revision: str | None = "0005_flows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ai_sessions", sa.Column("flow_version_id", sa.Uuid(), nullable=True))
    op.add_column("ai_sessions", sa.Column("flow_node", sa.String(64), nullable=True))
    op.add_column("ai_sessions", sa.Column("flow_step", sa.Integer(), server_default="0", nullable=False))
    op.add_column("ai_sessions", sa.Column("flow_path", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    for column in ("flow_path", "flow_step", "flow_node", "flow_version_id"):
        op.drop_column("ai_sessions", column)
