"""hardening (issue 9): the data key's check value, the Viber replay guard's seen tokens, and
proposed changes to national help lines awaiting a second coordinator

Revision ID: 0003
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_checks",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("pending", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_checks")),
    )
    op.create_table(
        "seen_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_seen_tokens")),
    )
    op.create_index(op.f("ix_seen_tokens_expires_at"), "seen_tokens", ["expires_at"])
    op.create_table(
        "help_contact_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("proposed_by", sa.String(length=32), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["help_contacts.id"], ondelete="CASCADE",
                                name=op.f("fk_help_contact_changes_contact_id_help_contacts")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_help_contact_changes_org_id_organisations")),
        sa.ForeignKeyConstraint(["proposed_by"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_help_contact_changes_proposed_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_help_contact_changes_decided_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_contact_changes")),
    )
    op.create_index("ix_help_contact_changes_status", "help_contact_changes", ["status"])


def downgrade() -> None:
    op.drop_index("ix_help_contact_changes_status", table_name="help_contact_changes")
    op.drop_table("help_contact_changes")
    op.drop_index(op.f("ix_seen_tokens_expires_at"), table_name="seen_tokens")
    op.drop_table("seen_tokens")
    op.drop_table("key_checks")
