"""Professionals (issue 5 item 6): social workers, mediators and volunteers who want the training
dates that NGO coordinators broadcast.

How someone becomes a professional: a coordinator or an administrator makes an invite code with
the role professional (`python -m bot invite --role professional --org <org>`, or from the bot),
and the person sends `/redeem <code>` in the chat. From then on her main menu shows "Training
dates" (this module) and Settings, and none of the participants' journeys. A professional never
sees a participant: this menu only reads her own row and the broadcasts sent to her.
"""
from __future__ import annotations

from sqlalchemy import select

from bot.core.context import Ctx, Route
from bot.core.i18n import _, format_day
from bot.core.types import Button, Reply
from bot.core.ui import screen
from db.models import Broadcast, BroadcastDelivery, DeliveryStatus, Role, Topic
from db.reference import REGION_NAMES

RECENT = 5
PROFESSIONALS = frozenset({Role.PROFESSIONAL})


def subscribed(ctx: Ctx) -> bool:
    return Topic.TRAININGS in (ctx.user.topics or [])


async def recent_trainings(ctx: Ctx) -> list[Broadcast]:
    """Training broadcasts that reached her (or may have), newest first."""
    query = (select(Broadcast)
             .join(BroadcastDelivery, BroadcastDelivery.broadcast_id == Broadcast.id)
             .where(BroadcastDelivery.user_id == ctx.user.id,
                    BroadcastDelivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.UNKNOWN]),
                    Broadcast.topic == Topic.TRAININGS)
             .order_by(Broadcast.id.desc()).limit(RECENT))
    return list((await ctx.db.execute(query)).scalars())


async def pro_screen(ctx: Ctx) -> Reply:
    region = _(REGION_NAMES[ctx.user.region_code]) if ctx.user.region_code in REGION_NAMES \
        else _("not chosen")
    lines = [_("Training dates"),
             _("You get training dates by message.") if subscribed(ctx)
             else _("You do not get training dates at the moment."),
             _("Your region: {region}", region=region)]
    toggle = (Button(_("Stop training dates"), "pro:off") if subscribed(ctx)
              else Button(_("Get training dates"), "pro:on"))
    recent = await recent_trainings(ctx)
    if recent:
        lines.append(_("Recent training dates:"))
    rows = [[Button(_("Sent on {day}", day=format_day(b.created_at.date())), f"bc:show:{b.id}")]
            for b in recent]
    return screen("\n\n".join(lines), *rows, [toggle],
                  [Button(_("Change region"), "region"), Button(_("Settings"), "set")])


async def show_pro_menu(ctx: Ctx) -> list[Reply]:
    """pro — training dates, her subscription and her region; a pro:<verb> no row claims gets a
    calm answer."""
    ctx.session.reset()
    if ctx.args:
        return [Reply(_("That button is not valid any more.")), await pro_screen(ctx)]
    return [await pro_screen(ctx)]


async def subscribe_trainings(ctx: Ctx) -> list[Reply]:
    """pro:on — get training dates."""
    ctx.session.reset()
    if len(ctx.args) == 1 and not subscribed(ctx):
        # A new list, not an in-place change: the JSON column only notices a new value.
        ctx.user.topics = [*(ctx.user.topics or []), Topic.TRAININGS.value]
        return [Reply(_("Done: you will get training dates.")), await pro_screen(ctx)]
    return [await pro_screen(ctx)]


async def unsubscribe_trainings(ctx: Ctx) -> list[Reply]:
    """pro:off — no more training dates."""
    ctx.session.reset()
    if len(ctx.args) == 1 and subscribed(ctx):
        ctx.user.topics = [t for t in (ctx.user.topics or []) if t != Topic.TRAININGS]
        return [Reply(_("Done: no more training dates.")), await pro_screen(ctx)]
    return [await pro_screen(ctx)]


ROUTES = [
    Route(show_pro_menu, prefix="pro", roles=PROFESSIONALS),
    Route(subscribe_trainings, prefix="pro", verb="on", roles=PROFESSIONALS),
    Route(unsubscribe_trainings, prefix="pro", verb="off", roles=PROFESSIONALS),
]
