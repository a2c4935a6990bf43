"""broadcasts.paid_messages: paid (bot-initiated) messages a broadcast actually sent

Counted from the platform's own billing answer where it gives one (Viber's billing_status), so
that a coordinator sees what a broadcast cost, not an estimate.

Revision ID: 0004
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("paid_messages", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("paid_messages")
