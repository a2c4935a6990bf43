"""First contact: language -> safety notice -> region -> main menu; deep links land after the
safety notice. Also the main menu itself and the calm answer to anything unexpected."""
from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

from bot.core.context import Ctx, LazySession, Route, Services
from bot.core.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGE_NAMES,
    LANGUAGES,
    _,
    current_language,
    normalise_language,
    set_language,
    use_language,
)
from bot.core.keywords import HELP_WORDS, find_journey, first_word, guess_language
from bot.core.sessions import SessionData
from bot.core.types import Button, Inbound, Reply
from bot.core.ui import check, screen, with_exit
from bot.services.impact import count_started
from db import queries
from db.models import SURVIVOR_JOURNEY_ROLES, Role, User
from db.reference import REGION_NAMES
from handlers.lock import lock_explained, save_codeword, secret_prompt, word_rules

DEEP_LINK = re.compile(r"^(ev|job)-(\d{1,9})$")
DEEP_TARGET = {"ev": "ev:show:{}", "job": "job:show:{}"}


class StartState(StrEnum):
    LANGUAGE = "start.language"
    SAFETY = "start.safety"
    REGION = "start.region"
    CODEWORD = "start.codeword"  # the code word offered at the safety notice


async def start_bot(ctx: Ctx) -> list[Reply]:
    """/start [payload]: begin, or begin again, remembering a deep link for after the notice."""
    payload = ctx.args[0] if ctx.args else ""
    ctx.session.reset()
    if DEEP_LINK.match(payload):
        ctx.session.data["deep"] = payload
    reply = language_screen(ctx) if not ctx.user.onboarded else safety_screen(ctx)
    if payload and "deep" not in ctx.session.data:
        # A link we do not know (mistyped, or forged): say so, and carry on safely.
        return [Reply(_("That link is not valid any more.")), reply]
    return [reply]


def language_screen(ctx: Ctx) -> Reply:
    ctx.session.state = StartState.LANGUAGE
    preferred = normalise_language(ctx.inbound.language_hint) or ctx.user.language
    return _language_reply(current_language(), preferred, ctx.user.language,
                           ctx.user.onboarded)


# Every first contact sees this screen: built once per language, hint, choice and newcomer or
# not (8 x 8 x 8 x 2 at most). A Reply is frozen, so one can be shown to everyone.
@lru_cache(maxsize=1024)
def _language_reply(_shown_in: str, preferred: str, chosen: str, onboarded: bool) -> Reply:
    order = [preferred] + [lang for lang in LANGUAGES if lang != preferred]
    buttons = [Button(check(lang == chosen) + LANGUAGE_NAMES[lang], f"lang:{lang}")
               for lang in order]
    # From Settings she is no newcomer: no "Welcome" there.
    title = (_("Please choose your language.") if onboarded
             else _("Welcome. Please choose your language."))
    return screen(title, *[buttons[i:i + 2] for i in range(0, len(buttons), 2)],
                  menu=onboarded)


def first_screen(services: Services, inbound: Inbound) -> Reply:
    """The language screen for someone who just opened the chat, built without the database
    (Viber wants its welcome answer at once; nothing about her is stored before she answers)."""
    language = normalise_language(inbound.language_hint) or DEFAULT_LANGUAGE
    visitor = User(language=language, onboarded=False, role=Role.PARTICIPANT)  # never added
    # The screen reads only the visitor, the hint and the session: no query is made.
    ctx = Ctx(inbound=inbound, database=LazySession(None), user=visitor,
              session=SessionData(), services=services)
    with use_language(language):
        return with_exit(language_screen(ctx))


async def show_languages(ctx: Ctx) -> list[Reply]:
    """The language list, from the start or from settings."""
    return [language_screen(ctx)]


async def choose_language(ctx: Ctx) -> list[Reply]:
    """lang:<code>: switch the language, then carry on where she was."""
    lang = ctx.args[0] if ctx.args else ""
    if lang not in LANGUAGES:
        return [language_screen(ctx)]
    ctx.user.language = lang
    set_language(lang)
    if not ctx.user.onboarded:
        return [safety_screen(ctx)]
    ctx.session.reset()
    return [Reply(_("Language changed.")), menu_screen(ctx)]


def safety_screen(ctx: Ctx) -> Reply:
    ctx.session.state = StartState.SAFETY
    return _safety_reply(current_language(), bool(ctx.user.codeword_hash))


@lru_cache(maxsize=32)  # by language and whether she has a code word: the same for everyone
def _safety_reply(_shown_in: str, has_codeword: bool) -> Reply:
    text = "\n\n".join([
        _("Before we start: is this a safe moment? Could someone else read this phone?"),
        _("What this bot does: it keeps no copy of what you write. Quick exit (the ✖ button, or "
          "the word “{word}”) closes the chat at once and deletes the messages it can. Messages "
          "here vanish after 24 hours unless you change it in Settings.", word=_("exit")),
        _("What it cannot erase: on Telegram, messages older than 48 hours; on Viber, all "
          "messages; the chat itself in your list of chats; notifications already shown; calls in "
          "your phone's call log; in a web browser, the chat's address in the browser's history "
          "list (a private window keeps none)."),
    ])
    rows = [[Button(_("Yes, it is safe now. Continue"), "safe:ok")]]
    if has_codeword:
        text += "\n\n" + _("Your code word locks the screens that could give you away. "
                            "You can change it in Settings.")
    else:
        text += "\n\n" + _("If someone else may hold this phone, you can protect your "
                            "screens with a code word (now, or later in Settings).")
        rows.append([Button(_("Protect my screens with a code word"), "safe:code")])
    rows.append([Button(_("Tips to stay safe"), "help:safety")])
    return screen(text, *rows, menu=False)


async def offer_codeword(ctx: Ctx) -> list[Reply]:
    """safe:code — at the safety notice: choose a code word (a visitor's hash waits in her
    session until her row is written)."""
    if ctx.session.state not in (StartState.SAFETY, StartState.CODEWORD) or len(ctx.args) != 1:
        return [await start_step_screen(ctx, ctx.session.state)]
    if ctx.user.codeword_hash:
        return [Reply(_("You already have a code word. You can change it in Settings.")),
                safety_screen(ctx)]
    deep = ctx.session.data.get("deep")
    ctx.session.reset(StartState.CODEWORD)
    if deep:
        ctx.session.data["deep"] = deep
    return [codeword_prompt(ctx)]


def codeword_prompt(ctx: Ctx) -> Reply:
    return secret_prompt(ctx, _("Choose a code word: a word only you know.") + "\n\n"
                         + lock_explained() + "\n\n" + word_rules(), back="menu", menu=False)


async def take_codeword(ctx: Ctx) -> list[Reply]:
    """She typed the code word she chose at the safety notice."""
    if ctx.user.codeword_hash:
        ctx.erase_inbound()
        return [safety_screen(ctx)]
    error = await save_codeword(ctx, ctx.text)
    if error is not None:
        return [Reply(error), codeword_prompt(ctx)]
    return [Reply(_("Your code word is saved. Remember it: nobody can show it to you again.")),
            safety_screen(ctx)]


async def accept_safety(ctx: Ctx) -> list[Reply]:
    """safe:ok — she read the notice; ask the region once, then the deep link or the menu."""
    if ctx.session.state != StartState.SAFETY:
        # Only from the notice itself: a forged or stale button must not skip it.
        return [language_screen(ctx)] if not ctx.user.onboarded else [safety_screen(ctx)]
    if not ctx.user.onboarded or not ctx.user.region_code:
        return [await region_screen(ctx)]
    return await land(ctx)


async def region_screen(ctx: Ctx) -> Reply:
    ctx.session.state = StartState.REGION
    buttons = [[Button(check(r.code == ctx.user.region_code) + _(REGION_NAMES[r.code]),
                       f"region:{r.code}")] for r in await queries.regions(ctx.db)]
    return screen(_("Where do you live? We use this to show meetups, jobs and help near you."),
                  *buttons, menu=ctx.user.onboarded)


async def show_regions(ctx: Ctx) -> list[Reply]:
    """The region list (from settings)."""
    return [await region_screen(ctx)]


async def choose_region(ctx: Ctx) -> list[Reply]:
    """region:<code>: remember the region; the first time, she is now set up."""
    code = ctx.args[0] if ctx.args else ""
    if not ctx.user.onboarded and ctx.session.state != StartState.REGION:
        return [language_screen(ctx)]  # set-up goes language -> notice -> region, in that order
    if await queries.region(ctx.db, code) is None:
        return [await region_screen(ctx)]
    ctx.user.region_code = code
    if not ctx.user.onboarded:
        ctx.user.onboarded = True
        channel = ctx.services.channels.get(ctx.user.channel)
        await count_started(ctx.db, ctx.user, ctx.now().date(), at_setup=True,
                            address_lasts=channel is None or channel.addresses_outlive_sessions)
        return await land(ctx)
    ctx.session.reset()
    return [Reply(_("Region changed.")), menu_screen(ctx)]


async def land(ctx: Ctx) -> list[Reply]:
    """After the safety notice: the deep-linked page if there was one, else the menu."""
    deep = ctx.session.data.pop("deep", None)
    ctx.session.reset()
    match = DEEP_LINK.match(deep or "")
    if match and ctx.goto is not None:
        return await ctx.goto(DEEP_TARGET[match.group(1)].format(match.group(2)))
    return [menu_screen(ctx)]


def menu_screen(ctx: Ctx) -> Reply:
    user = ctx.user
    if user.role == Role.PROFESSIONAL:
        rows = [[Button(_("Training dates"), "pro")],
                [Button(_("Settings"), "set")]]
    else:
        rows = [[Button(_("Peer-group meetups"), "ev"), Button(_("Jobs"), "job")],
                [Button(_("Help contacts"), "help"), Button(_("Talk to a caseworker"), "talk")],
                [Button(_("Settings"), "set")]]
    if user.is_staff:
        rows.append([Button(_("Caseworker tools"), "mod")])
    return screen(_("Main menu. What would you like to do?"), *rows, menu=False)


async def show_menu(ctx: Ctx) -> list[Reply]:
    """The main menu (or, for someone not set up yet, the start screen she had reached)."""
    filters = ctx.session.data.get("jobf")
    step, deep = ctx.session.state, ctx.session.data.get("deep")
    ctx.session.reset()
    if filters:
        ctx.session.data["jobf"] = filters  # her job filters last for the conversation
    if not ctx.user.onboarded:
        # Before a region is chosen there is no menu yet: back to the notice or the region
        # question she had reached (a help page opened from the notice keeps that state), not
        # to the language picker she already answered.
        if deep:
            ctx.session.data["deep"] = deep
        return [await start_step_screen(ctx, step)]
    return [menu_screen(ctx)]


async def start_step_screen(ctx: Ctx, step: str | None) -> Reply:
    if step == StartState.REGION:
        return await region_screen(ctx)
    if step in (StartState.SAFETY, StartState.CODEWORD):
        return safety_screen(ctx)
    return language_screen(ctx)


def not_understood_line() -> str:
    return _("Sorry, I did not understand that. For help contacts press “Help contacts” or "
             "write “{word}”.", word=first_word(HELP_WORDS))


async def answer_unknown(ctx: Ctx) -> list[Reply]:
    """Anything we did not expect: a word she typed that names a journey opens it (help from
    any screen); otherwise a calm word and the way on. Nothing changes."""
    typed = ctx.text if ctx.inbound.action is None else ""
    match = find_journey(typed)
    if match is not None and ctx.goto is not None and _may_open(ctx, match.action):
        if match.action == "help" or ctx.user.onboarded:
            if match.action != "help":
                ctx.session.reset()
            return await ctx.goto(match.action)
    if not ctx.user.onboarded:
        return await answer_unknown_at_start(ctx, typed)
    ctx.session.reset()
    if ctx.inbound.action is not None:
        note = _("That button is not valid any more. Here is the main menu.")
    else:
        note = not_understood_line()
    return [Reply(note), menu_screen(ctx)]


def _may_open(ctx: Ctx, action: str) -> bool:
    """Meetups and jobs are not in a professional's menu: a word for them is not understood."""
    return action not in ("ev", "job") or ctx.user.role in SURVIVOR_JOURNEY_ROLES


async def answer_unknown_at_start(ctx: Ctx, typed: str) -> list[Reply]:
    """Typed text on the start screens: the same screen again, in the language she wrote in
    when her words or letters tell it (Arabic at an English notice gets the Arabic notice), with
    a line that says what to do."""
    step = ctx.session.state
    lang = guess_language(typed) if typed else None
    if lang is not None and lang != ctx.user.language:
        ctx.user.language = lang
        set_language(lang)
        if step in (None, StartState.LANGUAGE):
            return [safety_screen(ctx)]  # she answered the language question by writing
    reply = await start_step_screen(ctx, step)
    if ctx.inbound.action is not None:
        note = _("That button is not valid any more. Please use the buttons below.")
    else:
        note = _("Sorry, I did not understand that. Please use the buttons below, or write "
                 "“{word}” for help contacts.", word=first_word(HELP_WORDS))
    return [Reply(note), reply]


FALLBACK = Route(answer_unknown, prefix="__fallback__")
ROUTES = [
    Route(start_bot, command="/start"),
    Route(show_menu, command="/menu"),
    Route(show_menu, prefix="menu"),
    Route(choose_language, prefix="lang"),
    Route(show_languages, command="/language"),
    Route(accept_safety, prefix="safe"),
    Route(accept_safety, prefix="safe", verb="ok"),
    Route(offer_codeword, prefix="safe", verb="code"),
    Route(take_codeword, state=StartState.CODEWORD, secret=True),
    Route(choose_region, prefix="region"),
    Route(show_regions, command="/region"),
]
