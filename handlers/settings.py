"""Settings: language, region, news topics, discreet notifications, quiet hours, vanishing chat
and the code word that locks them (handlers/lock.py). Every choice is a button with a fixed
payload (no typing), checked against the allowed values before anything changes, and confirmed in
plain words. Every screen here is behind the shared-phone lock when she has a code word."""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.core.context import Ctx, Route
from bot.core.i18n import _, format_clock, language_name, ngettext
from bot.core.types import Button, Reply
from bot.core.ui import check, screen
from bot.services.retention import reschedule_deletions
from db import queries
from db.reference import REGION_NAMES, TOPICS
from handlers.lock import lock_explained

# Quiet hour presets (start, end) in her region's time; free typing invites mistakes.
QUIET_PRESETS: tuple[tuple[int, int], ...] = ((20, 8), (21, 8), (22, 7), (23, 7))
VANISH_CHOICES: tuple[int, ...] = (0, 60, 1440)
BACK = "set"


async def show_settings(ctx: Ctx) -> list[Reply]:
    """set / /settings; a set:<verb> no row claims is not available."""
    ctx.session.reset()
    if ctx.inbound.action is not None and ctx.args:
        return [not_available(), await main_screen(ctx)]
    return [await main_screen(ctx)]


async def show_topics(ctx: Ctx) -> list[Reply]:
    """set:topics."""
    ctx.session.reset()
    if len(ctx.args) != 1:
        return [not_available(), await main_screen(ctx)]
    return [await topics_screen(ctx)]


async def discreet_choice(ctx: Ctx) -> list[Reply]:
    """set:discreet (the screen) and set:discreet:on|off (the choice)."""
    ctx.session.reset()
    return [await discreet_screen(ctx)] if len(ctx.args) == 1 else await change_discreet(ctx)


async def quiet_choice(ctx: Ctx) -> list[Reply]:
    """set:quiet (the screen) and set:quiet:<start>:<end> | set:quiet:off (the choice)."""
    ctx.session.reset()
    return [await quiet_screen(ctx)] if len(ctx.args) == 1 else await change_quiet(ctx)


async def vanish_choice(ctx: Ctx) -> list[Reply]:
    """set:vanish (the screen) and set:vanish:<minutes> (the choice)."""
    ctx.session.reset()
    return [await vanish_screen(ctx)] if len(ctx.args) == 1 else await change_vanish(ctx)


async def topic_choice(ctx: Ctx) -> list[Reply]:
    """set:topic:<key>."""
    ctx.session.reset()
    return await change_topic(ctx)


async def show_codeword(ctx: Ctx) -> list[Reply]:
    """set:code — the code word and the lock: set, change, remove, or forgotten."""
    ctx.session.reset()
    if len(ctx.args) != 1:
        return [not_available(), await main_screen(ctx)]
    return [codeword_screen(ctx)]


def not_available() -> Reply:
    return Reply(_("That choice is not available. Nothing was changed."))


# -- screens -------------------------------------------------------------------------------------

async def main_screen(ctx: Ctx) -> Reply:
    user = ctx.user
    region = _(REGION_NAMES[user.region_code]) if user.region_code in REGION_NAMES else "—"
    lines = [
        _("Settings"),
        _("Language: {language}", language=language_name(user.language)),
        _("Region: {region}", region=region),
        _("News about: {topics}", topics=topic_names(user.topics) or _("nothing")),
        _("Discreet notifications: {state}", state=on_off(user.discreet)),
        _("Quiet hours: {hours}", hours=await quiet_label(ctx, user.quiet_start, user.quiet_end)),
        _("Vanishing messages: {after}", after=vanish_label(user.vanish_minutes)),
        _("Code word and lock: on") if user.codeword_hash else _("Code word and lock: off"),
    ]
    return screen("\n".join(lines),
                  [Button(_("Language"), "lang"), Button(_("Region"), "region")],
                  [Button(_("News topics"), "set:topics"),
                   Button(_("Discreet notifications"), "set:discreet")],
                  [Button(_("Quiet hours"), "set:quiet"),
                   Button(_("Vanishing messages"), "set:vanish")],
                  [Button(_("Code word and lock"), "set:code")],
                  [Button(_("Tips to stay safe"), "help:safety")],
                  [Button(_("Forget me (delete my data)"), "forget")])


def codeword_screen(ctx: Ctx) -> Reply:
    if not ctx.user.codeword_hash:
        return screen(_("You have no code word yet.") + "\n\n" + lock_explained() + "\n\n"
                      + _("A caseworker can also use it to check that it is you."),
                      [Button(_("Choose a code word"), "lock:new:set")], back=BACK)
    return screen(_("Your code word is set.") + "\n\n" + lock_explained(),
                  [Button(_("Change my code word"), "lock:change:set")],
                  [Button(_("Remove my code word"), "lock:remove:set")],
                  [Button(_("I forgot my code word"), "lock:forgot")], back=BACK)


async def topics_screen(ctx: Ctx) -> Reply:
    buttons = [[Button(check(key in ctx.user.topics) + _(name), f"set:topic:{key}")]
               for key, name in TOPICS.items()]
    return screen(_("Which news do you want to get? Tap a topic to turn it on or off."),
                  *buttons, back=BACK)


async def discreet_screen(ctx: Ctx) -> Reply:
    on = ctx.user.discreet
    return screen(_("Discreet notifications: a new message first shows only “You have a new "
                    "message.” on your screen. You see the details when you tap Show. This "
                    "helps if someone else sees your phone."),
                  [Button(check(on) + _("On (recommended)"), "set:discreet:on"),
                   Button(check(not on) + _("Off"), "set:discreet:off")], back=BACK)


async def quiet_screen(ctx: Ctx) -> Reply:
    user = ctx.user
    buttons = []
    for start, end in QUIET_PRESETS:
        label = await quiet_label(ctx, start, end)
        chosen = (user.quiet_start, user.quiet_end) == (start, end)
        buttons.append([Button(check(chosen) + label, f"set:quiet:{start}:{end}")])
    buttons.append([Button(check(user.quiet_start is None) + _("No quiet hours"),
                           "set:quiet:off")])
    return screen(_("Quiet hours: during these hours the bot sends you no reminders or news. "
                    "They wait until the quiet hours end. Times are in your region's time."),
                  *buttons, back=BACK)


async def vanish_screen(ctx: Ctx) -> Reply:
    minutes = ctx.user.vanish_minutes
    buttons = [[Button(check(minutes == choice) + vanish_label(choice), f"set:vanish:{choice}")]
               for choice in VANISH_CHOICES]
    return screen("\n\n".join([
        _("Vanishing messages: the bot deletes the messages of this chat (yours and its own) "
          "after the time you choose."),
        _("This works on Telegram. In the web chat no message stays once you close the page, "
          "but the chat's address stays in the browser's history list: use a private window. "
          "On Viber the bot cannot delete messages: delete or hide the chat yourself.")]),
        *buttons, back=BACK)


# -- changes -------------------------------------------------------------------------------------

async def change_topic(ctx: Ctx) -> list[Reply]:
    """set:topic:<key> — turn one news topic on or off."""
    key = ctx.args[1] if len(ctx.args) == 2 else ""
    if key not in TOPICS:
        return [not_available(), await topics_screen(ctx)]
    topics = list(ctx.user.topics or [])
    if key in topics:
        topics.remove(key)
        note = _("Done. You will no longer get news about: {topic}.", topic=_(TOPICS[key]))
    else:
        topics.append(key)
        note = _("Done. You will get news about: {topic}.", topic=_(TOPICS[key]))
    # A new list, so that the JSON column sees the change.
    ctx.user.topics = [k for k in TOPICS if k in topics]
    return [Reply(note), await topics_screen(ctx)]


async def change_discreet(ctx: Ctx) -> list[Reply]:
    """set:discreet:on|off."""
    value = ctx.args[1] if len(ctx.args) == 2 else ""
    if value not in ("on", "off"):
        return [not_available(), await discreet_screen(ctx)]
    ctx.user.discreet = value == "on"
    if ctx.user.discreet:
        note = _("Done. New messages will first show only a neutral line.")
    else:
        note = _("Done. New messages will show their full text at once, also on the lock screen.")
    return [Reply(note), await main_screen(ctx)]


async def change_quiet(ctx: Ctx) -> list[Reply]:
    """set:quiet:<start>:<end> (one of the presets) or set:quiet:off."""
    if ctx.args[1:] == ("off",):
        ctx.user.quiet_start = ctx.user.quiet_end = None
        return [Reply(_("Done. No quiet hours: reminders and news can come at any time.")),
                await main_screen(ctx)]
    start, end = ctx.arg_int(1), ctx.arg_int(2)
    if len(ctx.args) != 3 or (start, end) not in QUIET_PRESETS:
        return [not_available(), await quiet_screen(ctx)]
    ctx.user.quiet_start, ctx.user.quiet_end = start, end
    return [Reply(_("Done. Quiet hours: {hours}. Nothing will arrive in that time.",
                    hours=await quiet_label(ctx, start, end))), await main_screen(ctx)]


async def change_vanish(ctx: Ctx) -> list[Reply]:
    """set:vanish:<minutes> — also reschedules the messages already tracked."""
    minutes = ctx.arg_int(1)
    if len(ctx.args) != 2 or minutes not in VANISH_CHOICES:
        return [not_available(), await vanish_screen(ctx)]
    ctx.user.vanish_minutes = minutes
    await reschedule_deletions(ctx.db, ctx.user, ctx.now())
    if minutes == 0:
        note = _("Done. Messages no longer vanish by themselves. Quick exit still deletes them.")
    else:
        note = _("Done. Messages here now vanish after {time}, also the ones already sent.",
                 time=vanish_label(minutes))
    return [Reply(note), await main_screen(ctx)]


# -- labels --------------------------------------------------------------------------------------

def on_off(value: bool) -> str:
    return _("on") if value else _("off")


def topic_names(topics: list[str] | None) -> str:
    return ", ".join(_(TOPICS[k]) for k in TOPICS if k in (topics or []))


def vanish_label(minutes: int) -> str:
    if minutes <= 0:
        return _("never (off)")
    if minutes == 60:
        return _("1 hour")
    if minutes == 1440:
        return _("24 hours")
    return ngettext("{n} minute", "{n} minutes", minutes)


async def quiet_label(ctx: Ctx, start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return _("none")
    tz = await queries.region_timezone(ctx.db, ctx.user.region_code)
    today = ctx.now().astimezone(ZoneInfo(tz)).date()

    def clock(hour: int) -> str:
        return format_clock(datetime.combine(today, time(hour), ZoneInfo(tz)), tz)

    return _("{start} to {end}", start=clock(start), end=clock(end))


ROUTES = [
    Route(show_settings, prefix="set", onboarded_only=True, locked=True),
    Route(show_settings, command="/settings", onboarded_only=True, locked=True),
    Route(show_topics, prefix="set", verb="topics", onboarded_only=True, locked=True),
    Route(topic_choice, prefix="set", verb="topic", onboarded_only=True, locked=True),
    Route(discreet_choice, prefix="set", verb="discreet", onboarded_only=True, locked=True),
    Route(quiet_choice, prefix="set", verb="quiet", onboarded_only=True, locked=True),
    Route(vanish_choice, prefix="set", verb="vanish", onboarded_only=True, locked=True),
    Route(show_codeword, prefix="set", verb="code", onboarded_only=True, locked=True),
]
