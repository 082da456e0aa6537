"""Flows: the decision trees (`flows`), their immutable versions, per-account hiding, counters, matching.

A flow row is the flow's identity (slug, account or every account) plus what matching reads of its current
version: title, clients, a weighted tsvector over title (A), triggers (B) and keywords (B). Search uses the
`english` text-search configuration: stemming makes "prompts", "prompting" and "prompted" one lexeme and drops
stop words ("again and again" matches nothing), and product names such as Outlook or OneDrive pass through
unchanged. `flow_lexicon` holds every lexeme a flow was indexed with, under a trigram index, so an intake's
misspelt word ("pasword") is mapped to the vocabulary's nearest lexemes before the full-text match; it also
counts the flows holding each lexeme, so a word found in very many flows does not select candidates alone.

Revision ID: 0005_flows
Revises: 0004_liveness
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

revision: str = "0005_flows"
down_revision: str | None = "0004_liveness"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "flows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        # NULL: the flow serves every account (the starter library, an MSP-wide import).
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("domain", sa.String(100), nullable=False),
        sa.Column("tags", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        # Lower-cased client names; empty = every client.
        sa.Column("clients", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("current_version_id", sa.Uuid(), nullable=False),
        sa.Column("search", TSVECTOR(), nullable=False),
        # Distinct lexemes of the title: how much of it an intake covers is part of the match score.
        sa.Column("title_terms", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_flows_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_flows"),
    )
    # One shared flow per slug, and one per slug inside each account (which then replaces the shared one).
    op.create_index(
        "uq_flows_shared_slug", "flows", ["slug"], unique=True, postgresql_where=sa.text("account_id IS NULL")
    )
    op.create_index(
        "uq_flows_account_slug",
        "flows",
        ["account_id", "slug"],
        unique=True,
        postgresql_where=sa.text("account_id IS NOT NULL"),
    )
    # Flows are read at every intake and written rarely: no pending list, whose scan would slow each match
    # after an import until the next vacuum.
    op.create_index(
        "ix_flows_search", "flows", ["search"], postgresql_using="gin", postgresql_with={"fastupdate": "off"}
    )
    op.create_table(
        "flow_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", JSONB(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        # Where it came from: "starter" (shipped with FlowPilot), "cli", "api". A newer starter flow replaces
        # only a starter version, never one an engineer imported over it.
        sa.Column("origin", sa.String(20), nullable=False, server_default="import"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name="fk_flow_versions_flow_id_flows", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_flow_versions"),
        sa.UniqueConstraint("flow_id", "version", name="uq_flow_versions_flow_id_version"),
    )
    op.create_table(
        "flow_account_settings",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_flow_account_settings_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name="fk_flow_account_settings_flow_id_flows", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "flow_id", name="pk_flow_account_settings"),
    )
    op.create_table(
        "flow_version_stats",
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("resolved", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("escalated", sa.Integer(), nullable=False, server_default="0"),
        # {"node id": times a session left the flow there}
        sa.Column("left_at", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["flow_versions.id"],
            name="fk_flow_version_stats_version_id_flow_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name="pk_flow_version_stats"),
    )
    op.create_table(
        "flow_lexicon",
        sa.Column("lexeme", sa.Text(), nullable=False),
        # How many flows' current versions hold it: a word in very many flows adds to their scores but does
        # not select candidates by itself (matching stays fast among 10,000 flows).
        sa.Column("flows", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("lexeme", name="pk_flow_lexicon"),
    )
    op.execute(
        "CREATE INDEX ix_flow_lexicon_trgm ON flow_lexicon USING gin (lexeme gin_trgm_ops) WITH (fastupdate = off)"
    )


def downgrade() -> None:
    op.drop_table("flow_lexicon")
    op.drop_table("flow_version_stats")
    op.drop_table("flow_account_settings")
    op.drop_table("flow_versions")
    op.drop_table("flows")
