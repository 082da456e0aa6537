"""PSA connections, the write-back record of each handoff, and pgqueuer's own tables (the job queue).

Revision ID: 0007_psa
Revises: 0006_flow_runs
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment
from sqlalchemy.dialects import postgresql
from sqlalchemy.util import await_only

revision: str = "0007_psa"
down_revision: str | None = "0006_flow_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run_script(sql: str) -> None:
    """Several statements in one go: pgqueuer's install script, as pgqueuer itself runs it (asyncpg's simple
    query protocol, inside this migration's transaction; SQLAlchemy would prepare it as one statement)."""
    driver = op.get_bind().connection.driver_connection
    await_only(driver.execute(sql))


def upgrade() -> None:
    op.create_table(
        "psa_connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("resolved_status", sa.String(length=100), nullable=True),
        sa.Column("note_visibility", sa.String(length=10), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('connectwise', 'autotask', 'halopsa')", name="ck_psa_connections_kind"),
        sa.CheckConstraint(
            "note_visibility IN ('internal', 'public')", name="ck_psa_connections_note_visibility"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_psa_connections_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_psa_connections"),
    )
    op.create_index("ix_psa_connections_account_id", "psa_connections", ["account_id"])
    op.create_table(
        "psa_writebacks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("handoff_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("ticket_number", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("note_text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("note_id", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'posted', 'failed')", name="ck_psa_writebacks_state"),
        sa.ForeignKeyConstraint(
            ["handoff_id"],
            ["session_handoffs.id"],
            name="fk_psa_writebacks_handoff_id_session_handoffs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["ai_sessions.id"],
            name="fk_psa_writebacks_session_id_ai_sessions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["psa_connections.id"],
            name="fk_psa_writebacks_connection_id_psa_connections",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_psa_writebacks"),
        sa.UniqueConstraint("handoff_id", name="uq_psa_writebacks_handoff_id"),
    )
    op.create_index("ix_psa_writebacks_session_id", "psa_writebacks", ["session_id"])
    _run_script(QueryBuilderEnvironment().build_install_query())


def downgrade() -> None:
    _run_script(QueryBuilderEnvironment().build_uninstall_query())
    op.drop_table("psa_writebacks")
    op.drop_table("psa_connections")
