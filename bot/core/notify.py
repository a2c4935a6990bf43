"""Discreet notifications (docs/ARCHITECTURE.md 2.5): a neutral first line, details only on a tap, nothing
during her quiet hours."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.i18n import _
from bot.core.types import Button, Reply
from db.models import User


def in_quiet_hours(user: User, now: datetime, tz: str) -> bool:
    if user.quiet_start is None or user.quiet_end is None or user.quiet_start == user.quiet_end:
        return False
    hour = now.astimezone(ZoneInfo(tz)).hour
    if user.quiet_start < user.quiet_end:
        return user.quiet_start <= hour < user.quiet_end
    return hour >= user.quiet_start or hour < user.quiet_end  # e.g. 21:00-08:00


def quiet_hours_end(user: User, now: datetime, tz: str) -> datetime:
    """The first moment after now that is outside her quiet hours (now itself if it is)."""
    if not in_quiet_hours(user, now, tz):
        return now
    local = now.astimezone(ZoneInfo(tz))
    end = local.replace(hour=user.quiet_end or 0, minute=0, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end


def discreet(user: User, details: Reply, details_action: str) -> Reply:
    """What a lock screen may show. With discreet notifications on, only a neutral line and a
    button that opens the details (the handler of details_action shows them)."""
    if not user.discreet:
        return details
    return neutral_notice(details_action)


def neutral_notice(details_action: str) -> Reply:
    """The line a lock screen may show, alone; the details only behind the button."""
    return Reply(_("You have a new message."), buttons=((Button(_("Show"), details_action),),))
