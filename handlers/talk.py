"""Talk to a caseworker (participant side): a code word kept only as a salted hash, then a
conversation relayed through the bot under a pseudonym. What she writes goes to the caseworker's
chat and is forgotten: it is never stored, logged or echoed (docs/ARCHITECTURE.md 2.1 and 2.7)."""
from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from sqlalchemy import select

from bot.core.context import Ctx, Route
from bot.core.i18n import _
from bot.core.notify import discreet
from bot.core.types import Button, Reply
from bot.core.ui import screen
from bot.services.impact import count_started
from db import queries
from db.models import SURVIVOR_JOURNEY_ROLES, Handoff, HandoffKind, HandoffStatus, User
from handlers.lock import (
    CODEWORD_MAX,
    CODEWORD_MIN,
    ask_old,
    blocked_screen,
    blocked_until,
    check_codeword,
    lock_explained,
    normalise_codeword,
    save_codeword,
    secret_prompt,
)

LIVE = (HandoffStatus.OPEN, HandoffStatus.TAKEN)


class TalkState(StrEnum):
    CODEWORD = "talk.codeword"
    CHECK = "talk.check"
    CHAT = "talk.chat"


# -- the entry ---------------------------------------------------------------------------------

async def show_talk(ctx: Ctx) -> list[Reply]:
    """talk / /talk; a talk:<verb> no row claims is not valid any more."""
    if ctx.inbound.action is not None and ctx.args:
        ctx.session.reset()
        return [Reply(_("That button is not valid any more.")), await overview_screen(ctx)]
    return await overview(ctx)


async def overview(ctx: Ctx) -> list[Reply]:
    ctx.session.reset()
    return [await overview_screen(ctx)]


async def overview_screen(ctx: Ctx) -> Reply:
    handoff = await live_conversation(ctx)
    if handoff is not None:
        return screen(_("You have a conversation open. Your name in it is {name}.",
                        name=handoff.pseudonym),
                      [Button(_("Write to the caseworker"), f"talk:chat:{handoff.id}")],
                      [Button(_("End the conversation"), f"talk:end:{handoff.id}")],
                      [Button(_("Check my code word"), "talk:check")])
    if not await caseworkers(ctx):
        return no_caseworker_screen(ctx)
    intro = _("A caseworker of a centre near you can answer you here, in this chat. They see "
              "only a nickname, never your name or your phone number. We do not keep what you "
              "write.")
    if not ctx.user.codeword_hash:
        return screen(intro + "\n\n" + codeword_explained(),
                      [Button(_("Choose my code word"), "talk:code")])
    return screen(intro,
                  [Button(_("Start a conversation"), "talk:open")],
                  [Button(_("Check my code word"), "talk:check"),
                   Button(_("Change my code word"), "talk:code")])


def codeword_explained() -> str:
    return _("First choose a code word: a word only you know. Later you can check that you are "
             "talking to the same service. We keep only a scrambled form of it, so nobody can "
             "read it, not even us.") + "\n\n" + lock_explained()


def no_caseworker_screen(ctx: Ctx) -> Reply:
    buttons = [[Button(_("Help contacts"), "help")]]
    if ctx.user.codeword_hash:
        buttons.append([Button(_("Check my code word"), "talk:check")])
    return screen(_("Sorry: there is no caseworker for your region in this service yet. A help "
                    "line can listen to you and tell you where to find help near you."),
                  *buttons)


# -- the code word -----------------------------------------------------------------------------

async def ask_codeword(ctx: Ctx) -> list[Reply]:
    """talk:code — choose her code word; with one already, change it (the old one first)."""
    if len(ctx.args) != 1:
        return [Reply(_("That button is not valid any more.")), await overview_screen(ctx)]
    if ctx.user.codeword_hash:
        ctx.args = ("change", "talk")
        return await ask_old(ctx)
    ctx.session.reset(TalkState.CODEWORD)
    return [codeword_prompt(ctx)]


def codeword_prompt(ctx: Ctx) -> Reply:
    return secret_prompt(ctx, codeword_explained() + "\n\n" + _(
        "Please type your code word now ({min} to {max} characters). Capital letters do not "
        "matter. Do not use a password you use anywhere else.", min=CODEWORD_MIN,
        max=CODEWORD_MAX), back="talk")


async def take_codeword(ctx: Ctx) -> list[Reply]:
    """She typed her new code word: keep only its salted hash."""
    if ctx.user.codeword_hash:  # she has one (set elsewhere meanwhile): changing needs it
        ctx.erase_inbound()
        ctx.session.reset()
        return [await overview_screen(ctx)]
    error = await save_codeword(ctx, ctx.text)
    if error is not None:
        return [Reply(error), codeword_prompt(ctx)]
    ctx.session.reset()
    return [Reply(_("Your code word is saved. Remember it: nobody can show it to you again.")),
            await overview_screen(ctx)]


async def ask_check(ctx: Ctx) -> list[Reply]:
    """talk:check."""
    if not ctx.user.codeword_hash:
        ctx.session.reset()
        return [Reply(_("You have not chosen a code word yet.")), await overview_screen(ctx)]
    if len(ctx.args) != 1:
        return [Reply(_("That button is not valid any more.")), await overview_screen(ctx)]
    ctx.session.reset(TalkState.CHECK)
    return [check_prompt(ctx)]


def check_prompt(ctx: Ctx) -> Reply:
    return secret_prompt(ctx, _("Type your code word. We will tell you if it is the one you "
                                "chose with this service."), back="talk")


async def take_check(ctx: Ctx) -> list[Reply]:
    """She typed a word to check against her code word (a wrong one counts as a wrong try)."""
    ctx.erase_inbound()
    if not ctx.user.codeword_hash:
        ctx.session.reset()
        return [Reply(_("You have not chosen a code word yet.")), await overview_screen(ctx)]
    if not normalise_codeword(ctx.text):
        return [Reply(_("Please type a word.")), check_prompt(ctx)]
    ctx.session.reset()
    if await check_codeword(ctx, ctx.text):
        return [Reply(_("Yes, that is your code word. You are talking to the same service.")),
                await overview_screen(ctx)]
    if blocked_until(ctx) is not None:
        return [Reply(_("That is not your code word.")), await blocked_screen(ctx)]
    return [Reply(_("That is not the code word you chose. Check and try again. If you did not "
                    "expect this, be careful: this may not be our service.")),
            await overview_screen(ctx)]


# -- the conversation --------------------------------------------------------------------------

async def caseworkers(ctx: Ctx) -> list[User]:
    return await queries.caseworkers_for(ctx.db, org_id=None, region_code=ctx.user.region_code)


async def live_conversation(ctx: Ctx) -> Handoff | None:
    return (await ctx.db.execute(
        select(Handoff).where(Handoff.user_id == ctx.user.id, Handoff.kind == HandoffKind.TALK,
                              Handoff.status.in_(LIVE))
        .order_by(Handoff.id.desc()).limit(1))).scalar_one_or_none()


async def her_conversation(ctx: Ctx, handoff_id: int | None) -> Handoff | None:
    """Her own request (to talk, or about a job), still open; None for anyone else's, a closed
    or a forged one. A caseworker's answer to either kind carries talk:chat:<id>."""
    if handoff_id is None:
        return None
    handoff = await ctx.db.get(Handoff, handoff_id)
    if handoff is None or handoff.user_id != ctx.user.id or handoff.status not in LIVE:
        return None
    return handoff


async def open_conversation(ctx: Ctx) -> list[Reply]:
    """talk:open — one open conversation at a time, after the code word."""
    existing = await live_conversation(ctx)
    if existing is not None:
        return chat_screen(ctx, existing)
    if not ctx.user.codeword_hash:
        return await ask_codeword(ctx)
    # One organisation gets the request (queries.organisation_for_region says which), and only
    # its caseworkers hear of it: her words never reach a centre she was not routed to.
    org_id = await queries.organisation_for_region(ctx.db, ctx.user.region_code)
    team = await queries.caseworkers_for(ctx.db, org_id=org_id, region_code=None) \
        if org_id is not None else []
    if not team:
        ctx.session.reset()
        return [no_caseworker_screen(ctx)]
    now = ctx.now()
    handoff = Handoff(kind=HandoffKind.TALK, user_id=ctx.user.id, org_id=org_id,
                      region_code=ctx.user.region_code, pseudonym=queries.new_pseudonym(),
                      contact_mode="chat", status=HandoffStatus.OPEN, created_at=now,
                      updated_at=now)
    ctx.db.add(handoff)
    await ctx.db.flush()
    await queries.bump(ctx.db, "talk_requests", day=now.date(),
                       region_code=ctx.user.region_code or "")
    await count_started(ctx.db, ctx.user, now.date(), at_setup=False)
    for caseworker in team:
        ctx.send_to(caseworker.id, new_request_notice(caseworker, handoff.pseudonym, handoff.id))
    return chat_screen(ctx, handoff)


def new_request_notice(caseworker: User, pseudonym: str,
                       handoff_id: int) -> Callable[[], list[Reply]]:
    def build() -> list[Reply]:
        details = Reply(_("{name} would like to talk with a caseworker.", name=pseudonym),
                        buttons=((Button(_("Open"), f"mod:ho:{handoff_id}"),),))
        return [discreet(caseworker, details, f"mod:ho:{handoff_id}")]

    return build


def chat_screen(ctx: Ctx, handoff: Handoff) -> list[Reply]:
    ctx.session.reset(TalkState.CHAT)
    ctx.session.data["handoff"] = handoff.id
    return [screen(_("Write your message and send it. A caseworker will answer here, in this "
                     "chat; this can take some hours. Your name in this conversation is {name}. "
                     "We do not keep what you write.", name=handoff.pseudonym),
                   [Button(_("End the conversation"), f"talk:end:{handoff.id}")], back="talk")]


async def enter_chat(ctx: Ctx) -> list[Reply]:
    """talk:chat:<id> — back into her own conversation (the button under a caseworker's answer)."""
    handoff = await her_conversation(ctx, ctx.arg_int(1))
    if handoff is None or len(ctx.args) != 2:
        ctx.session.reset()
        return [Reply(_("This conversation is not available any more.")),
                await overview_screen(ctx)]
    return chat_screen(ctx, handoff)


async def relay_message(ctx: Ctx) -> list[Reply]:
    """She typed in chat mode: pass it on to the caseworker(s), keep nothing."""
    handoff = await her_conversation(ctx, ctx.session.data.get("handoff"))
    if handoff is None:
        ctx.session.reset()
        return [Reply(_("This conversation has ended. Your message was not sent.")),
                await overview_screen(ctx)]
    text = ctx.text
    if not text:
        return [screen(_("Please write a message first."),
                       [Button(_("End the conversation"), f"talk:end:{handoff.id}")],
                       back="talk", replace=False)]
    if handoff.taken_by is None:
        # Nobody has taken her request yet: her words wait (memory or Redis with a TTL, never
        # the database) and go to the caseworker who takes it (mod_handoffs.take_handoff).
        if not await ctx.services.held.append(held_thread(handoff.id), ctx.user.id, text):
            return [screen(_("A caseworker has not opened your request yet. Please wait for "
                             "an answer before you write more."),
                           [Button(_("End the conversation"), f"talk:end:{handoff.id}")],
                           back="talk", replace=False)]
        handoff.updated_at = ctx.now()
        return [screen(_("Sent. A caseworker will see it when they open your request. If "
                         "nobody does within a day, it is deleted."),
                       [Button(_("End the conversation"), f"talk:end:{handoff.id}")],
                       back="talk", replace=False)]
    recipients = await relay_recipients(ctx, handoff)
    if not recipients:
        return [screen(_("Sorry, no caseworker can receive messages right now, so your message "
                         "was not sent. Please try again later, or call a help line."),
                       [Button(_("Help contacts"), "help")], back="talk", replace=False)]
    build = relay_builder(handoff.pseudonym, handoff.id, text)
    for recipient in recipients:
        ctx.send_to(recipient.id, build)
    handoff.updated_at = ctx.now()
    return [screen(_("Sent."), [Button(_("End the conversation"), f"talk:end:{handoff.id}")],
                   back="talk", replace=False)]


def held_thread(handoff_id: int) -> str:
    return f"handoff:{handoff_id}"


async def relay_recipients(ctx: Ctx, handoff: Handoff) -> list[User]:
    """The caseworker who took it; if she left, the caseworkers of the organisation the request
    went to. Never anybody else: before it is taken her words are held, not sent."""
    if handoff.taken_by:
        taker = await ctx.db.get(User, handoff.taken_by)
        if taker is not None and taker.is_staff and taker.active:
            return [taker]
    if handoff.org_id is None:
        return []  # a request of no organisation has nobody who may read her
    return await queries.caseworkers_for(ctx.db, org_id=handoff.org_id, region_code=None)


def relay_builder(pseudonym: str, handoff_id: int, text: str) -> Callable[[], list[Reply]]:
    """Her words live only in this closure, until the caseworker's chat has them."""
    def build() -> list[Reply]:
        return [Reply(_("Message from {name}:", name=pseudonym) + "\n\n" + text,
                      buttons=((Button(_("Open"), f"mod:ho:{handoff_id}"),),))]

    return build


async def end_conversation(ctx: Ctx) -> list[Reply]:
    """talk:end:<id> — she ends her conversation; the caseworker who took it is told."""
    handoff = await her_conversation(ctx, ctx.arg_int(1))
    ctx.session.reset()
    if handoff is None or len(ctx.args) != 2:
        return [Reply(_("This conversation is not available any more.")),
                await overview_screen(ctx)]
    handoff.status = HandoffStatus.CLOSED
    handoff.updated_at = ctx.now()
    if handoff.taken_by:
        pseudonym = handoff.pseudonym
        ctx.send_to(handoff.taken_by, lambda: [
            Reply(_("{name} ended the conversation.", name=pseudonym))])
    await ctx.db.flush()
    return [Reply(_("The conversation has ended. Nothing of it is kept here.")),
            await overview_screen(ctx)]


# Her caseworker conversation, behind the shared-phone lock when she has a code word.
_JOURNEY = SURVIVOR_JOURNEY_ROLES
ROUTES = [
    Route(show_talk, prefix="talk", roles=_JOURNEY, onboarded_only=True, locked=True),
    Route(show_talk, command="/talk", roles=_JOURNEY, onboarded_only=True, locked=True),
    Route(ask_codeword, prefix="talk", verb="code", roles=_JOURNEY, onboarded_only=True,
          locked=True),
    Route(ask_check, prefix="talk", verb="check", roles=_JOURNEY, onboarded_only=True,
          locked=True),
    Route(open_conversation, prefix="talk", verb="open", roles=_JOURNEY, onboarded_only=True,
          locked=True),
    Route(enter_chat, prefix="talk", verb="chat", roles=_JOURNEY, onboarded_only=True,
          locked=True),
    Route(end_conversation, prefix="talk", verb="end", roles=_JOURNEY, onboarded_only=True,
          locked=True),
    Route(take_codeword, state=TalkState.CODEWORD, roles=_JOURNEY, onboarded_only=True,
          locked=True, secret=True),
    Route(take_check, state=TalkState.CHECK, roles=_JOURNEY, onboarded_only=True, locked=True,
          secret=True),
    Route(relay_message, state=TalkState.CHAT, roles=_JOURNEY, onboarded_only=True,
          locked=True),
]
