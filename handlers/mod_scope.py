"""Who may act on what: every privileged handler checks the row's organisation against the
staff member's row in the database (docs/ARCHITECTURE.md 2.8), on top of the route's roles."""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, true

from bot.core.i18n import _
from bot.core.types import Button, Reply
from bot.core.ui import screen
from db.models import Role, User
from db.queries import org_region_codes  # noqa: F401 - imported from here by the mod_* screens

PAGE = 6


def in_scope(user: User, org_id: int | None) -> bool:
    """An admin acts for every organisation; other staff only for their own."""
    if user.role == Role.ADMIN:
        return True
    return user.org_id is not None and org_id == user.org_id


def scope_filter(user: User, column: Any) -> ColumnElement[bool]:
    if user.role == Role.ADMIN and user.org_id is None:
        return true()
    if user.org_id is None:
        return false()  # `column == None` would be IS NULL: rows of nobody, i.e. of everybody
    condition: ColumnElement[bool] = column == user.org_id
    return condition


def not_found() -> Reply:
    """The same answer for a missing row and for another organisation's row: a forged id
    learns nothing."""
    return screen(_("This is not available any more, or it is not yours to change."),
                  [Button(_("Caseworker tools"), "mod")])


def no_org() -> Reply:
    return screen(_("Your account is not linked to an organisation. Please ask your "
                    "coordinator for a new invite."), [Button(_("Caseworker tools"), "mod")])
