"""Broadcasts (issue 5 item 5): a coordinator composes an announcement (training dates, job fairs,
meetups) in one or more languages, picks the audience, region and topic, previews it exactly as
recipients will see it, then sends it now or schedules it, follows its progress and can cancel it.

The draft lives only in the session until she confirms. The text is the coordinator's deliberate
announcement, so it is stored in Broadcast.texts; nothing a participant types is involved.
Recipients open the details of a discreet notification with `bc:show:<id>`. Delivery itself is
bot/services/broadcasting.py, run by its scheduled job (bot/services/jobs.py).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, get_currency_precision
from sqlalchemy import select, update

from bot.core.context import Ctx, Route
from bot.core.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    N_,
    _,
    current_language,
    format_when,
    ngettext,
    use_language,
)
from bot.core.types import Button, Reply
from bot.core.ui import screen
from bot.services.broadcasting import (
    AUDIENCE_ROLES,
    Content,
    as_utc,
    count_audience_by_channel,
    details_reply,
    load_content,
    notification_replies,
    paid_sent,
    progress,
)
from db import queries
from db.models import (
    COORDINATOR_ROLES,
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    Organisation,
)
from db.queries import rows_affected
from db.reference import REGION_NAMES, TOPICS

log = logging.getLogger(__name__)

MAX_BROADCAST_CHARS = 1500
MAX_AHEAD = timedelta(days=366)
LIST_SIZE = 8
DRAFT = "bc"
ALL_REGIONS = "all"

AUDIENCE_LABELS: dict[str, str] = {"participants": N_("Participants (women using the bot)"),
                   "professionals": N_("Professionals and volunteers")}
STATUS_LABELS: dict[str, str] = {
    BroadcastStatus.DRAFT: N_("Draft"),
    BroadcastStatus.SCHEDULED: N_("Scheduled"),
    BroadcastStatus.SENDING: N_("Sending"),
    BroadcastStatus.DONE: N_("Finished"),
    BroadcastStatus.CANCELLED: N_("Cancelled"),
}
CANCELLABLE = (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING)

# A typed moment: a date (2026-12-03, 03.12.2026, 3/12/2026, 3.12 or 3.12.) and a time (18:30,
# 18.30, 18h30, 18h, 6 pm, 6:30pm), in either order, with "at", "," or "-" between them.
_TIME = r"(?P<h>\d{1,2})(?:(?:[:.]|h)(?P<i>\d{2})|h)?\s*(?P<ampm>[ap]\.?m\.?)?"
_DATES = (r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})",
          r"(?P<d>\d{1,2})[./-](?P<m>\d{1,2})(?:[./-](?P<y>\d{2}(?:\d{2})?))?\.?")
_BETWEEN = r"(?:\s+|\s*[,T@-]\s*|\s+at\s+)"
_DATE_FORMATS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for day in _DATES
    for pattern in (rf"^{day}{_BETWEEN}{_TIME}$", rf"^{_TIME}{_BETWEEN}{day}$"))


class BcState(StrEnum):
    TEXT = "broadcasts.text"
    WHEN = "broadcasts.when"
    # A screen of the draft that asks for a button: typed text re-shows it, the draft stays.
    BUTTONS = "broadcasts.buttons"


HERE = "at"  # the draft's key for the screen to show again after unexpected text


# -- helpers -------------------------------------------------------------------------------------
def refused() -> list[Reply]:
    return [screen(_("Sorry, this is not available to you."))]


def not_found() -> Reply:
    return screen(_("This broadcast was not found."), [Button(_("Broadcasts"), "bc")])


def no_draft() -> list[Reply]:
    return [screen(_("There is no broadcast being written. Please start again."),
                   [Button(_("New broadcast"), "bc:new")], back="bc")]


def draft(ctx: Ctx) -> dict[str, Any]:
    found = ctx.session.data.get(DRAFT)
    return found if isinstance(found, dict) else {}


def clean_text(raw: str) -> str:
    """Drop control characters (a database may refuse NUL); keep line breaks, emoji, RTL marks."""
    return "".join(ch for ch in raw if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()


def has_visible_text(text: str) -> bool:
    return any(not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc") for ch in text)


def parse_when(raw: str, tz: str, today: date | None = None) -> datetime | None:
    """A typed date and time in the given zone -> UTC; None if it is not one. Without a year,
    the next such day from `today` (a date already gone this year means next year)."""
    text = " ".join(raw.strip().split())
    for pattern in _DATE_FORMATS:
        match = pattern.match(text)
        if match is None:
            continue
        hour, minute = int(match["h"]), int(match["i"] or 0)
        ampm = (match["ampm"] or "").replace(".", "").lower()
        if ampm:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if ampm == "pm" else 0)
        year_text = match["y"]
        year = int(year_text) if year_text else (today or datetime.now(UTC).date()).year
        if year_text and len(year_text) == 2:
            year += 2000
        try:
            local = datetime(year, int(match["m"]), int(match["d"]), hour, minute,
                             tzinfo=ZoneInfo(tz))
            if not year_text and today is not None and local.date() < today:
                local = local.replace(year=year + 1)
        except ValueError:
            continue  # not a real day or time this way round: perhaps the other way
        return local.astimezone(UTC)
    return None


async def scope_regions(ctx: Ctx) -> list[str]:
    return await queries.org_region_codes(ctx.db, ctx.user.org_id)


async def draft_timezone(ctx: Ctx, data: dict[str, Any]) -> str:
    """The region's zone; for all regions, the organisation's first region."""
    region = data.get("reg")
    if region == ALL_REGIONS:
        codes = await scope_regions(ctx)
        region = codes[0] if codes else None
    return await queries.region_timezone(ctx.db, region)


async def load_own(ctx: Ctx) -> Broadcast | None:
    """The broadcast of the payload, only if it belongs to her organisation."""
    broadcast_id = ctx.arg_int(1)
    if broadcast_id is None:
        return None
    broadcast = await ctx.db.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.org_id != ctx.user.org_id:
        return None
    return broadcast


Handler = Callable[[Ctx], Awaitable[list[Reply]]]


def for_organisation(handler: Handler) -> Handler:
    """Coordinator steps (the route row checks the role): her account must have an
    organisation, whose regions and broadcasts the step works on."""
    @wraps(handler)
    async def checked(ctx: Ctx) -> list[Reply]:
        if ctx.user.org_id is None:
            return [screen(_("Your account is not linked to an organisation. Please ask an "
                             "administrator."))]
        return await handler(ctx)
    return checked


def wait_for_button(ctx: Ctx, data: dict[str, Any], action: str) -> None:
    """This draft screen asks for a button: remember it, so that typed text shows it again
    instead of throwing the draft away."""
    ctx.session.state = BcState.BUTTONS
    data[HERE] = action


def format_price(amount: Decimal, currency: str, *, exact: bool = False) -> str:
    """Money in the reader's locale; `exact` keeps every decimal (a price of 0.0125 a message),
    otherwise a half cent rounds up (an estimate of a cost should not come out low)."""
    if not exact:
        amount = amount.quantize(Decimal(1).scaleb(-get_currency_precision(currency)),
                                 rounding=ROUND_HALF_UP)
    return format_currency(amount, currency, locale=current_language(),
                           decimal_quantization=False)


def draft_content(data: dict[str, Any], org_name: str) -> Content:
    return Content(id=0, topic=data["top"], texts=dict(data["texts"]), base_language=data["base"],
                   org_name=org_name)


def draft_complete(data: dict[str, Any]) -> bool:
    texts = data.get("texts")
    return (data.get("aud") in AUDIENCE_ROLES and data.get("top") in TOPICS
            and isinstance(data.get("reg"), str) and isinstance(texts, dict)
            and data.get("base") in LANGUAGES and bool(texts.get(data.get("base"))))


def region_label(code: str | None) -> str:
    if code is None or code == ALL_REGIONS:
        return _("All our regions")
    return _(REGION_NAMES.get(code, code))


# -- recipients ------------------------------------------------------------------------------------
async def show_to_recipient(ctx: Ctx) -> list[Reply]:
    """bc:show:<id> — the details of a broadcast she received (and only one she received)."""
    broadcast_id = ctx.arg_int(1)
    broadcast = await ctx.db.get(Broadcast, broadcast_id) if broadcast_id is not None else None
    mine = None
    if broadcast is not None:
        mine = (await ctx.db.execute(select(BroadcastDelivery.id).where(
            BroadcastDelivery.broadcast_id == broadcast.id,
            BroadcastDelivery.user_id == ctx.user.id))).first()
    if broadcast is None or mine is None:
        return [screen(_("This message is not available."))]
    return [details_reply(await load_content(ctx.db, broadcast))]


# -- coordinators: list, progress, cancel ------------------------------------------------------------
async def list_broadcasts(ctx: Ctx) -> list[Reply]:
    """bc — her organisation's recent broadcasts and a way to write a new one."""
    ctx.session.state = None
    ctx.session.data.pop(DRAFT, None)
    found = list((await ctx.db.execute(
        select(Broadcast).where(Broadcast.org_id == ctx.user.org_id)
        .order_by(Broadcast.id.desc()).limit(LIST_SIZE))).scalars())
    rows = [[Button(_("#{id}: {status}, {topic}", id=b.id, status=_(STATUS_LABELS[b.status]),
                      topic=_(TOPICS.get(b.topic, b.topic))), f"bc:view:{b.id}")]
            for b in found]
    text = _("Broadcasts") + "\n\n" + (
        _("Send training dates, job fairs or meetups to many people at once.") if not found
        else _("Choose one to see its progress, or write a new one."))
    return [screen(text, [Button(_("New broadcast"), "bc:new")], *rows)]


async def view_broadcast(ctx: Ctx) -> list[Reply]:
    """bc:view:<id> — progress: sent / failed / left / unknown."""
    broadcast = await load_own(ctx)
    if broadcast is None:
        return [not_found()]
    return [await progress_screen(ctx, broadcast)]


async def progress_screen(ctx: Ctx, broadcast: Broadcast) -> Reply:
    counts = await progress(ctx.db, broadcast.id)
    left = counts["pending"] + counts["claimed"] + counts["sending"]
    region = broadcast.region_code or next(iter(await scope_regions(ctx)), None)
    tz = await queries.region_timezone(ctx.db, region)
    lines = [_("Broadcast #{id}: {status}", id=broadcast.id,
               status=_(STATUS_LABELS[broadcast.status])),
             _("To: {audience}. Region: {region}. Topic: {topic}.",
               audience=_(AUDIENCE_LABELS.get(broadcast.audience, broadcast.audience)),
               region=region_label(broadcast.region_code),
               topic=_(TOPICS.get(broadcast.topic, broadcast.topic)))]
    if broadcast.scheduled_at is not None:
        lines.append(_("Starts: {when}", when=format_when(as_utc(broadcast.scheduled_at), tz)))
    lines.append(_("Sent: {sent}. Failed: {failed}. Left: {left}.", sent=counts["sent"],
                   failed=counts["failed"], left=left))
    lines.append(_("Unknown (a restart interrupted the sending; never sent twice): {unknown}. "
                   "Skipped (blocked the bot or unsubscribed): {skipped}.",
                   unknown=counts["unknown"], skipped=counts["skipped"]))
    paid = await paid_sent(ctx.db, broadcast.id)
    if paid:
        line = ngettext("Paid Viber messages sent: {count}.", "Paid Viber messages sent: {count}.",
                        paid, count=paid)
        price = ctx.services.settings.viber_price_per_message
        if price is not None:
            line += " " + _("About {total}.", total=format_price(
                price * paid, ctx.services.settings.viber_price_currency))
        lines.append(line)
    if broadcast.status == BroadcastStatus.CANCELLED and left:
        lines.append(ngettext("Cancelled: the {count} left will not be sent.",
                              "Cancelled: the {count} left will not be sent.", left, count=left))
    buttons = [Button(_("Refresh"), f"bc:view:{broadcast.id}")]
    if broadcast.status in CANCELLABLE:
        buttons.append(Button(_("Cancel this broadcast"), f"bc:cancel:{broadcast.id}"))
    return screen("\n".join(lines), buttons, back="bc")


async def ask_cancel(ctx: Ctx) -> list[Reply]:
    """bc:cancel:<id> — ask before stopping a broadcast."""
    broadcast = await load_own(ctx)
    if broadcast is None:
        return [not_found()]
    if broadcast.status not in CANCELLABLE:
        return [Reply(_("This broadcast cannot be cancelled any more.")),
                await progress_screen(ctx, broadcast)]
    return [screen(_("Stop broadcast #{id}? Nobody else will get it.", id=broadcast.id),
                   [Button(_("Yes, stop it"), f"bc:cancelok:{broadcast.id}"),
                    Button(_("No"), f"bc:view:{broadcast.id}")])]


async def confirm_cancel(ctx: Ctx) -> list[Reply]:
    """bc:cancelok:<id> — stop it: the engine sends nothing more."""
    broadcast = await load_own(ctx)
    if broadcast is None:
        return [not_found()]
    result = await ctx.db.execute(
        update(Broadcast).where(Broadcast.id == broadcast.id, Broadcast.status.in_(CANCELLABLE))
        .values(status=BroadcastStatus.CANCELLED, finished_at=ctx.now()))
    await ctx.db.refresh(broadcast)
    if not rows_affected(result):
        return [Reply(_("This broadcast cannot be cancelled any more.")),
                await progress_screen(ctx, broadcast)]
    await queries.audit(ctx.db, ctx.user, "broadcast.cancel", "broadcast", broadcast.id)
    log.info("broadcast %s cancelled", broadcast.id)
    return [Reply(_("Broadcast stopped.")), await progress_screen(ctx, broadcast)]


# -- coordinators: compose -------------------------------------------------------------------------
async def new_broadcast(ctx: Ctx) -> list[Reply]:
    """bc:new — start a draft (in the session only): first, who gets it."""
    ctx.session.state = None
    ctx.session.data[DRAFT] = {"texts": {}}
    wait_for_button(ctx, ctx.session.data[DRAFT], "bc:new")
    rows = [[Button(_(label), f"bc:aud:{key}")] for key, label in AUDIENCE_LABELS.items()]
    return [screen(_("New broadcast. Who should get it?"), *rows, back="bc")]


async def choose_audience(ctx: Ctx) -> list[Reply]:
    """bc:aud:<audience> — then the region."""
    data = draft(ctx)
    audience = ctx.args[1] if len(ctx.args) > 1 else ""
    if not data:
        return no_draft()
    if audience not in AUDIENCE_ROLES:
        return [Reply(_("Please choose one of the buttons."))] + await new_broadcast(ctx)
    data["aud"] = audience
    wait_for_button(ctx, data, f"bc:aud:{audience}")
    codes = await scope_regions(ctx)
    if not codes:
        return [screen(_("Your organisation has no regions yet. Please ask an administrator."),
                       back="bc")]
    rows = [[Button(region_label(code), f"bc:reg:{code}")] for code in codes]
    rows.append([Button(_("All our regions"), f"bc:reg:{ALL_REGIONS}")])
    return [screen(_("Which region?"), *rows, back="bc:new")]


async def choose_region(ctx: Ctx) -> list[Reply]:
    """bc:reg:<code|all> — only one of her organisation's regions; then the topic."""
    data = draft(ctx)
    code = ctx.args[1] if len(ctx.args) > 1 else ""
    if not data.get("aud"):
        return no_draft()
    if code != ALL_REGIONS and code not in await scope_regions(ctx):
        ctx.args = ("aud", data["aud"])
        return [Reply(_("Please choose one of the buttons."))] + await choose_audience(ctx)
    data["reg"] = code
    wait_for_button(ctx, data, f"bc:reg:{code}")
    return [screen(_("What is it about? Only people who asked for this topic get it."),
                   *topic_rows(), back=f"bc:aud:{data['aud']}")]


def topic_rows() -> list[list[Button]]:
    return [[Button(_(label), f"bc:top:{key}")] for key, label in TOPICS.items()]


async def choose_topic(ctx: Ctx) -> list[Reply]:
    """bc:top:<topic> — then the first (base) language."""
    data = draft(ctx)
    topic = ctx.args[1] if len(ctx.args) > 1 else ""
    if not data.get("reg"):
        return no_draft()
    if topic not in TOPICS:
        return [screen(_("Please choose one of the buttons."), *topic_rows(),
                       back=f"bc:reg:{data['reg']}")]
    data["top"] = topic
    wait_for_button(ctx, data, f"bc:top:{topic}")
    return [language_screen(data, _("Which language do you write first? People whose language "
                                    "you do not add get this one."))]


def language_screen(data: dict[str, Any], text: str) -> Reply:
    done = data.get("texts") or {}
    buttons = [Button(("✓ " if lang in done else "") + LANGUAGE_NAMES[lang], f"bc:lang:{lang}")
               for lang in LANGUAGES]
    return screen(text, *[buttons[i:i + 2] for i in range(0, len(buttons), 2)],
                  back="bc:summary" if done else f"bc:reg:{data.get('reg')}")


async def choose_language(ctx: Ctx) -> list[Reply]:
    """bc:lang:<code> — ask for the text in that language (again, to correct it)."""
    data = draft(ctx)
    lang = ctx.args[1] if len(ctx.args) > 1 else ""
    if not data.get("top"):
        return no_draft()
    if lang not in LANGUAGES:
        return [language_screen(data, _("Please choose one of the buttons."))]
    data.setdefault("base", lang)
    data["cur"] = lang
    ctx.session.state = BcState.TEXT
    return [screen(_("Write the message in {language}, in one message (at most {limit} "
                     "characters). Say what, when and where, and how to sign up.",
                     language=LANGUAGE_NAMES[lang], limit=MAX_BROADCAST_CHARS),
                   back="bc:summary" if data.get("texts") else "bc:new")]


async def receive_text(ctx: Ctx) -> list[Reply]:
    """Typed text while writing: validate it and keep it in the draft."""
    data = draft(ctx)
    if not data.get("cur"):
        ctx.session.state = None
        return no_draft()
    text = clean_text(ctx.inbound.text or "")
    if not has_visible_text(text):
        return [screen(_("The message is empty. Please write the text of the broadcast."),
                       back="bc:summary" if data.get("texts") else "bc:new")]
    if len(text) > MAX_BROADCAST_CHARS:
        return [screen(ngettext("That is too long: {count} character. Please shorten it to at "
                                "most {limit}.",
                                "That is too long: {count} characters. Please shorten it to at "
                                "most {limit}.", len(text), count=len(text),
                                limit=MAX_BROADCAST_CHARS),
                       back="bc:summary" if data.get("texts") else "bc:new")]
    data["texts"] = {**(data.get("texts") or {}), data.pop("cur"): text}
    ctx.session.state = None
    return await show_summary(ctx)


async def show_summary(ctx: Ctx) -> list[Reply]:
    """bc:summary — the languages written so far; add one, or preview."""
    data = draft(ctx)
    if not draft_complete(data):
        return no_draft()
    data.pop("cur", None)
    wait_for_button(ctx, data, "bc:summary")
    names = ", ".join(LANGUAGE_NAMES[lang] for lang in LANGUAGES if lang in data["texts"])
    text = "\n".join([_("Written in: {languages}.", languages=names),
                      _("Everyone else gets the {language} text.",
                        language=LANGUAGE_NAMES[data["base"]])])
    return [screen(text, [Button(_("Preview"), "bc:preview")],
                   [Button(_("Add or correct a language"), "bc:addlang")], back="bc")]


async def add_language(ctx: Ctx) -> list[Reply]:
    """bc:addlang — pick another language to write (or one to correct)."""
    data = draft(ctx)
    if not draft_complete(data):
        return no_draft()
    wait_for_button(ctx, data, "bc:addlang")
    return [language_screen(data, _("Which language?"))]


async def preview(ctx: Ctx) -> list[Reply]:
    """bc:preview — exactly what recipients see, in each language, then send or schedule."""
    data = draft(ctx)
    if not draft_complete(data):
        return no_draft()
    org = await ctx.db.get(Organisation, ctx.user.org_id)
    content = draft_content(data, org.name if org else "")
    replies: list[Reply] = []
    for lang in [lang for lang in LANGUAGES if lang in data["texts"]]:
        header = _("Preview for readers in {language}.", language=LANGUAGE_NAMES[lang])
        with use_language(lang):
            first = notification_replies(content, discreet_on=True)[0].text
            details = notification_replies(content, discreet_on=False)[0].text
        replies.append(Reply("\n\n".join([
            header, _("The notification shows only:") + "\n" + first,
            _("After a tap on “Show”:") + "\n" + details])))
    counts = await draft_audience(ctx, data)
    total = sum(counts.values())
    lines = [_("To: {audience}. Region: {region}. Topic: {topic}.",
               audience=_(AUDIENCE_LABELS[data["aud"]]), region=region_label(data["reg"]),
               topic=_(TOPICS[data["top"]])),
             ngettext("About {count} person gets it now.", "About {count} people get it now.",
                      total, count=total)]
    lines.extend(cost_lines(ctx, counts))
    wait_for_button(ctx, data, "bc:preview")
    replies.append(screen("\n".join(lines), [Button(_("Send now"), "bc:send"),
                                             Button(_("Schedule"), "bc:sched")],
                          [Button(_("Add or correct a language"), "bc:addlang")],
                          [Button(_("Throw away this draft"), "bc")], back="bc:summary",
                          replace=False))
    return replies


async def draft_audience(ctx: Ctx, data: dict[str, Any]) -> dict[str, int]:
    """Who would get the draft now, per channel."""
    probe = Broadcast(org_id=ctx.user.org_id, audience=data["aud"], topic=data["top"],
                      region_code=None if data["reg"] == ALL_REGIONS else data["reg"])
    return await count_audience_by_channel(ctx.db, probe)


def cost_lines(ctx: Ctx, counts: dict[str, int]) -> list[str]:
    """Before she confirms: how many messages the platforms will bill, and what they cost when
    the price is set (VIBER_PRICE_PER_MESSAGE)."""
    # The channels say themselves whether the messages the bot starts are billed (Viber's are).
    channels = ctx.services.channels
    paid = sum(n for channel, n in counts.items()
               if channel in channels and channels[channel].paid_bot_initiated)
    if not paid:
        return []
    lines = [ngettext("{count} of them uses Viber: the bot sends {count} Viber message, and "
                      "Viber charges for it.",
                      "{count} of them use Viber: the bot sends {count} Viber messages, and "
                      "Viber charges for each one.", paid, count=paid)]
    price = ctx.services.settings.viber_price_per_message
    if price is not None:
        currency = ctx.services.settings.viber_price_currency
        lines.append(_("At {price} a message, about {total} in all.",
                       price=format_price(price, currency, exact=True),
                       total=format_price(price * paid, currency)))
    return lines


async def create_broadcast(ctx: Ctx, data: dict[str, Any], when: datetime) -> Broadcast:
    broadcast = Broadcast(org_id=ctx.user.org_id, author_id=ctx.user.id, audience=data["aud"],
                          region_code=None if data["reg"] == ALL_REGIONS else data["reg"],
                          topic=data["top"], texts=dict(data["texts"]), base_language=data["base"],
                          status=BroadcastStatus.SCHEDULED, scheduled_at=when,
                          created_at=ctx.now())
    ctx.db.add(broadcast)
    await ctx.db.flush()
    ctx.session.reset()
    return broadcast


async def ask_send_now(ctx: Ctx) -> list[Reply]:
    """bc:send — ask before anything goes out: to how many, and what it costs."""
    data = draft(ctx)
    if not draft_complete(data):
        return no_draft()
    counts = await draft_audience(ctx, data)
    total = sum(counts.values())
    lines = [ngettext("Send this to about {count} person now?",
                      "Send this to about {count} people now?", total, count=total)]
    lines.extend(cost_lines(ctx, counts))
    wait_for_button(ctx, data, "bc:send")
    return [screen("\n".join(lines), [Button(_("Yes, send it now"), "bc:sendok"),
                                      Button(_("No"), "bc:preview")], back="bc:preview")]


async def send_now(ctx: Ctx) -> list[Reply]:
    """bc:sendok — she confirmed: the dispatcher starts it within a minute."""
    data = draft(ctx)
    if not draft_complete(data) or data["reg"] != ALL_REGIONS and \
            data["reg"] not in await scope_regions(ctx):
        return no_draft()
    broadcast = await create_broadcast(ctx, data, ctx.now())
    await queries.audit(ctx.db, ctx.user, "broadcast.send", "broadcast", broadcast.id)
    log.info("broadcast %s queued to send now", broadcast.id)
    return [Reply(_("Sending starts within a minute. People in their quiet hours get it "
                    "afterwards.")), await progress_screen(ctx, broadcast)]


async def ask_when(ctx: Ctx) -> list[Reply]:
    """bc:sched — ask the date and time, in the region's time zone."""
    data = draft(ctx)
    if not draft_complete(data):
        return no_draft()
    ctx.session.state = BcState.WHEN
    tz = await draft_timezone(ctx, data)
    return [screen(_("When should it go out? Write the date and time ({zone} time), for "
                     "example {example}.", zone=tz,
                     example=(ctx.now() + timedelta(days=1)).astimezone(ZoneInfo(tz))
                     .strftime("%Y-%m-%d 18:00")), back="bc:preview")]


async def receive_when(ctx: Ctx) -> list[Reply]:
    """Typed date and time: a real moment, in the future, within a year."""
    data = draft(ctx)
    if not draft_complete(data):
        ctx.session.state = None
        return no_draft()
    tz = await draft_timezone(ctx, data)
    when = parse_when(ctx.inbound.text or "", tz,
                      today=as_utc(ctx.now()).astimezone(ZoneInfo(tz)).date())
    problem = None
    if when is None:
        problem = _("I could not read that date and time. Please write it like "
                    "2026-12-03 18:30 or 3.12.2026 18:30. Your draft is kept.")
    elif when <= as_utc(ctx.now()):
        problem = _("That time has already passed. Please choose a time in the future.")
    elif when > as_utc(ctx.now()) + MAX_AHEAD:
        problem = _("That is more than a year ahead. Please choose an earlier date.")
    if problem is not None or when is None:
        return [screen(problem or "", back="bc:preview")]
    data["when"] = when.isoformat()
    # Still the schedule question: a corrected time typed now replaces this one.
    return [screen(_("Send it on {when}?", when=format_when(when, tz)) + "\n"
                   + _("To change it, write another date and time."),
                   [Button(_("Yes, schedule it"), "bc:schedok"),
                    Button(_("Change the time"), "bc:sched")], back="bc:preview")]


async def confirm_schedule(ctx: Ctx) -> list[Reply]:
    """bc:schedok — store the broadcast as scheduled."""
    data = draft(ctx)
    if not draft_complete(data) or (data["reg"] != ALL_REGIONS
                                    and data["reg"] not in await scope_regions(ctx)):
        return no_draft()
    try:
        when = as_utc(datetime.fromisoformat(str(data.get("when"))))
    except ValueError:
        return await ask_when(ctx)  # pressed before a valid time was typed
    if when <= as_utc(ctx.now()):
        return [screen(_("That time has already passed. Please choose a time in the future."),
                       [Button(_("Change the time"), "bc:sched")], back="bc:preview")]
    broadcast = await create_broadcast(ctx, data, when)
    await queries.audit(ctx.db, ctx.user, "broadcast.schedule", "broadcast", broadcast.id)
    log.info("broadcast %s scheduled", broadcast.id)
    return [Reply(_("Scheduled.")), await progress_screen(ctx, broadcast)]


async def route_broadcast(ctx: Ctx) -> list[Reply]:
    """bc — the list for coordinators; a verb no row knows is a stale or forged button."""
    if ctx.user.role not in COORDINATOR_ROLES:
        # bc:show is open to everybody, so the plain row checks the role itself.
        log.info("refused broadcast action for role %s", ctx.user.role)
        return refused()
    if ctx.args and ctx.args[0]:
        return [Reply(_("That button is not valid any more."))] + \
            await for_organisation(list_broadcasts)(ctx)
    return await for_organisation(list_broadcasts)(ctx)


async def open_broadcasts(ctx: Ctx) -> list[Reply]:
    """/broadcasts — the coordinators' list."""
    ctx.args = ()
    return await for_organisation(list_broadcasts)(ctx)


async def receive_typed(ctx: Ctx) -> list[Reply]:
    """Typed text in a broadcast state: coordinators only, checked on the row."""
    if ctx.user.org_id is None:
        ctx.session.reset()
        return refused()
    if ctx.session.state == BcState.WHEN:
        return await receive_when(ctx)
    if ctx.session.state == BcState.BUTTONS:
        return await keep_draft(ctx)
    return await receive_text(ctx)


async def keep_draft(ctx: Ctx) -> list[Reply]:
    """Text typed where the draft asks for a button: nothing is lost, the screen comes back."""
    data = draft(ctx)
    here = data.get(HERE)
    if not data or not isinstance(here, str) or ctx.goto is None:
        ctx.session.state = None
        return no_draft()
    return [Reply(_("Please use the buttons below. Your draft is kept."))] + \
        await ctx.goto(here)


def staff_row(handler: Handler, verb: str) -> Route:
    return Route(for_organisation(handler), prefix="bc", verb=verb, roles=COORDINATOR_ROLES)


ROUTES = [
    Route(route_broadcast, prefix="bc"),
    Route(show_to_recipient, prefix="bc", verb="show"),
    staff_row(view_broadcast, "view"),
    staff_row(ask_cancel, "cancel"),
    staff_row(confirm_cancel, "cancelok"),
    staff_row(new_broadcast, "new"),
    staff_row(choose_audience, "aud"),
    staff_row(choose_region, "reg"),
    staff_row(choose_topic, "top"),
    staff_row(choose_language, "lang"),
    staff_row(show_summary, "summary"),
    staff_row(add_language, "addlang"),
    staff_row(preview, "preview"),
    staff_row(ask_send_now, "send"),
    staff_row(send_now, "sendok"),
    staff_row(ask_when, "sched"),
    staff_row(confirm_schedule, "schedok"),
    Route(open_broadcasts, command="/broadcasts", roles=COORDINATOR_ROLES),
    Route(receive_typed, state=BcState.TEXT, roles=COORDINATOR_ROLES),
    Route(receive_typed, state=BcState.WHEN, roles=COORDINATOR_ROLES),
    Route(receive_typed, state=BcState.BUTTONS, roles=COORDINATOR_ROLES),
]
