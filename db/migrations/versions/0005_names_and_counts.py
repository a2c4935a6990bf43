"""help line names without their number; users.counted (a woman counted once in the report)

Revision ID: 0005
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# (key, name as seeded before, name now). Only a row still holding the seeded name is renamed:
# a name that a coordinator corrected stays hers.
RENAMES = (
    ("it-1522", "1522: national line against violence and stalking",
     "National line against violence and stalking"),
    ("es-016", "016: help for every form of violence against women",
     "Help for every form of violence against women"),
    ("gr-15900", "SOS 15900 (General Secretariat for Equality)",
     "SOS line of the General Secretariat for Equality"),
)

help_contacts = sa.table("help_contacts", sa.column("key", sa.String), sa.column("name", sa.String))


def _rename(pairs: tuple[tuple[str, str, str], ...]) -> None:
    for key, old, new in pairs:
        op.execute(help_contacts.update()
                   .where(help_contacts.c.key == key, help_contacts.c.name == old)
                   .values(name=new))


users = sa.table("users", sa.column("onboarded", sa.Boolean), sa.column("counted", sa.Boolean))


def upgrade() -> None:
    _rename(RENAMES)
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("counted", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    # Until now everyone was counted when she finished the start screens.
    op.execute(users.update().where(users.c.onboarded.is_(True)).values(counted=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("counted")
    _rename(tuple((key, new, old) for key, old, new in RENAMES))
