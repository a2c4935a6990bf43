"""Help contacts for her country (checked lines with source and date, local centres from the
database) and honest safety advice."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import or_, select

from bot.core.context import Ctx, Route
from bot.core.i18n import _, current_language, data_text, format_day, isolate, isolate_runs
from bot.core.types import Button, Reply
from bot.core.ui import screen
from db import queries
from db.models import SURVIVOR_JOURNEY_ROLES, HelpContact
from db.reference import COUNTRY_NAMES

COUNTRIES = ("BG", "IT", "ES", "GR")


def contact_block(contact: HelpContact) -> str:
    """One contact: the number first (once, written plainly so phones and apps can dial it, and
    isolated so that it keeps its order in Arabic), then its name, hours, notes and source."""
    name = data_text(contact.name)
    lines = [f"☎ {isolate(contact.number)} · {isolate_runs(name)}" if contact.number
             else f"• {isolate_runs(name)}"]
    if contact.hours:
        lines.append(isolate_runs(data_text(contact.hours)))
    if contact.notes:
        lines.append(isolate_runs(data_text(contact.notes)))
    if contact.source or contact.checked_on:
        lines.append(_("Source: {source}. Last checked: {date}.",
                       source=isolate(contact.source) if contact.source else "—",
                       date=format_day(contact.checked_on) if contact.checked_on else "—"))
    return "\n".join(lines)


async def contacts_for(ctx: Ctx, country: str, region_code: str | None) -> list[HelpContact]:
    query = (select(HelpContact)
             .where(HelpContact.active.is_(True), HelpContact.country == country,
                    or_(HelpContact.region_code.is_(None), HelpContact.region_code == region_code))
             .order_by(HelpContact.position, HelpContact.id))
    return list((await ctx.db.execute(query)).scalars())


async def show_help(ctx: Ctx) -> list[Reply]:
    """help / help:c:<country> — the contacts of her country, or a country picker elsewhere."""
    if ctx.args and ctx.args[0] == "safety":
        return [safety_advice()]
    country = await queries.region_country(ctx.db, ctx.user.region_code)
    if len(ctx.args) >= 2 and ctx.args[0] == "c" and ctx.args[1] in COUNTRIES:
        country = ctx.args[1]
    if country is None:
        buttons = [[Button(_(COUNTRY_NAMES[c]), f"help:c:{c}")] for c in COUNTRIES]
        return [screen(isolate_runs(_("If you are in danger now, call 112. It is free and works "
                                      "in every EU country.")) + "\n\n" + _("Which country's help lines do you want to see?"),
                       *buttons, [Button(_("Tips to stay safe"), "help:safety")])]
    contacts = await contacts_for(ctx, country, ctx.user.region_code)
    hotlines = [c for c in contacts if c.kind != "centre"]
    centres = [c for c in contacts if c.kind == "centre"]
    parts = [_("Help in {country}", country=_(COUNTRY_NAMES[country]))]
    parts += [contact_block(c) for c in hotlines]
    if centres:
        parts.append(_("Local centres near you"))
        parts += [contact_block(c) for c in centres]
    parts.append(isolate_runs(_("Calling 112 always shows your number to the operator. Calls to "
                                "help lines can stay in your phone's call log, even when they "
                                "are free: delete them there if someone checks your phone.")))
    others = [Button(_(COUNTRY_NAMES[c]), f"help:c:{c}") for c in COUNTRIES if c != country]
    # A centre may have given her a member code for its closed peer groups (handlers/meetups.py).
    code = ([[Button(_("I have a code from my centre"), "ev:code")]]
            if ctx.user.onboarded and ctx.user.role in SURVIVOR_JOURNEY_ROLES else [])
    return [screen("\n\n".join(parts), [Button(_("Tips to stay safe"), "help:safety")], others,
                   *code)]


def safety_advice() -> Reply:
    return _safety_advice(current_language())


@lru_cache(maxsize=16)  # the same for everyone who reads it in a language: a frozen Reply
def _safety_advice(_shown_in: str) -> Reply:
    text = "\n\n".join([
        _("Tips to stay safe"),
        _("• Quick exit: press ✖ or write “{word}”. The bot closes and deletes the messages it "
          "can. It only helps if someone looks over your shoulder; it does not hide that you "
          "used the app.", word=_("exit")),
        _("• Vanishing messages: in Settings choose after how long our messages disappear "
          "(1 hour or 24 hours)."),
        _("• Delete the whole chat in your app when you finish. On Telegram: press and hold the "
          "chat, then Delete. On Viber you can also hide a chat behind a PIN (Hide this chat)."),
        _("• Turn off message previews on the lock screen in your phone's notification "
          "settings, so that nobody sees a message arrive."),
        _("• Help line calls and 112 calls stay in your phone's call log. Delete them there."),
        _("• In a web browser, the chat's address stays in the browser's history list, even "
          "after a quick exit. Use a private window (incognito) and close it when you finish."),
        _("• If you think your phone is watched, use a friend's phone or a computer at a "
          "library or a centre."),
    ])
    return screen(text, [Button(_("Help contacts"), "help")])


ROUTES = [
    Route(show_help, prefix="help"),
    Route(show_help, prefix="help", verb="c"),  # help:c:<country>
    Route(show_help, prefix="help", verb="safety"),
    Route(show_help, command="/help"),
]
