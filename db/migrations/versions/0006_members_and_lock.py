"""peer groups an abuser cannot find (issue 8): memberships, closed groups and open events,
requests to join as hand-offs that lapse, and the lock for a shared phone

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_memberships_user_id_users")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE",
                                name=op.f("fk_memberships_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("user_id", "org_id", name=op.f("uq_memberships_user_id")),
    )
    # Every meetup posted before this was a peer group: closed is the safe reading.
    with op.batch_alter_table("meetups") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=8), nullable=False,
                                   server_default="closed"))
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("meetup_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(op.f("fk_handoffs_meetup_id_meetups"), "meetups",
                                 ["meetup_id"], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("lock_failures", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("lock_blocked_until", sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("lock_blocked_until")
        batch.drop_column("lock_failures")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint(op.f("fk_handoffs_meetup_id_meetups"), type_="foreignkey")
        batch.drop_column("expires_at")
        batch.drop_column("meetup_id")
    with op.batch_alter_table("meetups") as batch:
        batch.drop_column("kind")
    op.drop_table("memberships")
