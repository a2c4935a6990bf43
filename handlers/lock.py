"""The lock for a shared phone (docs/ARCHITECTURE.md 2.11): one code word per woman, kept only as
a salted scrypt hash, is also the key of the screens that would give her away to someone holding
her unlocked phone (routes with `locked=True`; the core shows the lock screen instead of them).

- The right word opens them for LOCK_IDLE since the last use of one of them; quick exit closes
  them (the session goes). MAX_TRIES wrong words in a row close them for BLOCK_TIME.
- A forgotten code word is replaced only by erasing what it protects, never by a back door.
- What she types at a code-word prompt goes nowhere but the scrypt check: never logged, never in
  the session, never echoed; the channel deletes or hides her message (ctx.erase_inbound(),
  Reply.secret), or, where it can do neither, the prompt asks her to delete it herself.
"""
from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.core.context import LOCK_IDLE, Ctx, Route
from bot.core.crypto import hash_secret, verify_secret
from bot.core.i18n import _, format_clock, ngettext
from bot.core.types import Button, Reply, is_valid_action
from bot.core.ui import screen
from bot.services.lockreset import erase_protected
from db import queries

CODEWORD_MIN = 3
CODEWORD_MAX = 64
MAX_TRIES = 5
BLOCK_TIME = timedelta(hours=1)
ERASE_STEP = "lock.erase"
# Where a code-word flow goes back to (the payload names one of these, never an action).
BACKS = {"set": "set:code", "talk": "talk", "menu": "menu"}


class LockState(StrEnum):
    UNLOCK = "lock.unlock"
    NEW = "lock.new"
    OLD = "lock.old"  # changing it: the current word first
    REMOVE = "lock.remove"


# -- the code word itself ------------------------------------------------------------------------

def normalise_codeword(text: str) -> str:
    """Forgiving about capitals and spaces: a stressed person must not fail on a detail."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def secret_prompt(ctx: Ctx, text: str, *button_rows: list[Button], back: str | None = None,
                  menu: bool = True) -> Reply:
    """A screen that asks for her code word: the web chat hides what she types next; where the
    channel can neither delete nor hide her message, she is asked to delete it herself."""
    caps = ctx.services.channels.get(ctx.user.channel)
    if caps is not None and not caps.deletes_messages and not caps.hides_secret_input:
        text += "\n\n" + _("This chat cannot delete your message for you. After you send your "
                           "code word, delete your message: press and hold it, then choose "
                           "Delete.")
    return replace(screen(text, *button_rows, back=back, menu=menu), secret=True)


def word_rules() -> str:
    return _("Type it now ({min} to {max} characters). Capital letters do not matter. Do not use "
             "a password you use anywhere else.", min=CODEWORD_MIN, max=CODEWORD_MAX)


def lock_explained() -> str:
    return _("Your code word also locks the screens that could give you away if someone else "
             "holds this phone: your meetups and places, your requests, your conversation with a "
             "caseworker, your memberships and your settings. To open them you type the code "
             "word. They lock again after 10 minutes without use and at every quick exit.")


def codeword_error(typed: str) -> str | None:
    """Why a new code word cannot be used, or None."""
    word = normalise_codeword(typed)
    if not word:
        return _("Please type a word.")
    if not CODEWORD_MIN <= len(word) <= CODEWORD_MAX:
        return _("Please type a code word of {min} to {max} characters.", min=CODEWORD_MIN,
                 max=CODEWORD_MAX)
    return None


async def save_codeword(ctx: Ctx, typed: str) -> str | None:
    """Keep only the salted hash of her new code word (she just typed it: the lock is open).
    Returns why it cannot be used, or None once saved. Works for a visitor too: the core keeps
    the hash in her session until her row is written."""
    ctx.erase_inbound()
    error = codeword_error(typed)
    if error is not None:
        return error
    ctx.user.codeword_hash = await asyncio.to_thread(  # scrypt: ~35 ms
        hash_secret, normalise_codeword(typed))
    ctx.user.lock_failures = 0
    ctx.user.lock_blocked_until = None
    ctx.unlocked_until = ctx.now() + LOCK_IDLE
    return None


async def check_codeword(ctx: Ctx, typed: str) -> bool:
    """Her code word, typed at any prompt: right opens the lock and resets the wrong tries;
    wrong counts one, and the MAX_TRIES-th in a row closes the locked screens for BLOCK_TIME."""
    ctx.erase_inbound()
    user = ctx.user
    stored = user.codeword_hash
    word = normalise_codeword(typed)
    right = bool(stored) and 0 < len(word) <= CODEWORD_MAX and await asyncio.to_thread(
        verify_secret, word, stored or "")
    if right:
        user.lock_failures = 0
        ctx.unlocked_until = ctx.now() + LOCK_IDLE
        return True
    failures = (user.lock_failures or 0) + 1
    if failures >= MAX_TRIES:
        user.lock_blocked_until = ctx.now() + BLOCK_TIME
        failures = 0  # after the hour she has her tries again
        ctx.unlocked_until = None
    user.lock_failures = failures
    return False


def blocked_until(ctx: Ctx) -> datetime | None:
    until = ctx.user.lock_blocked_until
    if until is None:
        return None
    until = until if until.tzinfo is not None else until.replace(tzinfo=UTC)
    return until if until > ctx.now() else None


async def blocked_screen(ctx: Ctx) -> Reply:
    ctx.session.reset()
    until = blocked_until(ctx)
    if until is not None and ctx.user.region_code:
        tz = await queries.region_timezone(ctx.db, ctx.user.region_code)
        when = format_clock(until.astimezone(ZoneInfo(tz)), tz)
        text = _("The code word was typed wrong five times, so these screens are closed until "
                 "{time}. Everything else in the bot works as usual.", time=when)
    else:
        text = _("The code word was typed wrong five times, so these screens are closed for "
                 "about an hour. Everything else in the bot works as usual.")
    return screen(text, [Button(_("I forgot my code word"), "lock:forgot")])


async def wrong_word(ctx: Ctx, prompt: Reply) -> list[Reply]:
    """The answer to a wrong code word: how many tries are left, or the locked screens closed."""
    note = _("That is not your code word.")
    if blocked_until(ctx) is not None:
        return [Reply(note), await blocked_screen(ctx)]
    left = MAX_TRIES - (ctx.user.lock_failures or 0)
    return [Reply(note + " " + ngettext(
        "You can try {n} more time before these screens close for an hour.",
        "You can try {n} more times before these screens close for an hour.", left)), prompt]


def back_of(ctx: Ctx, index: int = 1) -> str:
    key = ctx.args[index] if len(ctx.args) > index else "menu"
    return key if key in BACKS else "menu"


async def go_back(ctx: Ctx, back: str) -> list[Reply]:
    return await ctx.goto(BACKS.get(back, "menu")) if ctx.goto else []


# -- the lock screen -----------------------------------------------------------------------------

def unlock_prompt(ctx: Ctx) -> Reply:
    return secret_prompt(ctx, _("This screen is protected. Type your code word."),
                         [Button(_("I forgot my code word"), "lock:forgot")])


async def show_lock(ctx: Ctx) -> list[Reply]:
    """The core shows this instead of a locked screen while her code word is needed."""
    if blocked_until(ctx) is not None:
        return [await blocked_screen(ctx)]
    pending = ctx.locked_action
    ctx.session.reset(LockState.UNLOCK)
    if pending and (pending.startswith("/") or is_valid_action(pending)):
        ctx.session.data["pending"] = pending[:64]
    replies: list[Reply] = []
    if ctx.inbound.action is None and ctx.text and not ctx.text.startswith("/"):
        # She wrote into a screen that locked while she was away: it went nowhere.
        replies.append(Reply(_("The screens locked again, so what you wrote was not sent.")))
    return [*replies, unlock_prompt(ctx)]


async def take_unlock(ctx: Ctx) -> list[Reply]:
    """She typed at the lock screen: the right word opens it and runs what she had pressed."""
    if blocked_until(ctx) is not None:
        ctx.erase_inbound()
        return [await blocked_screen(ctx)]
    if not ctx.user.codeword_hash:
        ctx.session.reset()
        return await ctx.goto("menu") if ctx.goto else []
    if not normalise_codeword(ctx.text):
        ctx.erase_inbound()
        return [Reply(_("Please type a word.")), unlock_prompt(ctx)]
    pending = ctx.session.data.get("pending")
    if not await check_codeword(ctx, ctx.text):
        return await wrong_word(ctx, unlock_prompt(ctx))
    ctx.session.reset()
    note = Reply(_("Unlocked. These screens lock again after 10 minutes without use, and at "
                   "quick exit."))
    target = pending if isinstance(pending, str) and pending else "menu"
    return [note, *(await ctx.goto(target) if ctx.goto else [])]


# -- a forgotten code word -------------------------------------------------------------------------

async def forgot(ctx: Ctx) -> list[Reply]:
    """lock:forgot — what erasing means, and the one button that does it."""
    if not ctx.user.codeword_hash:
        ctx.session.reset()
        return [Reply(_("You have no code word, so nothing is locked.")),
                *(await ctx.goto("menu") if ctx.goto else [])]
    return [forgot_screen(ctx)]


def forgot_screen(ctx: Ctx) -> Reply:
    # Only the button pressed right after this screen counts (a forged or stale one does nothing).
    ctx.session.reset()
    ctx.expect_next(ERASE_STEP)
    text = "\n\n".join([
        _("Nobody can show you your code word again, not even us. You can choose a new one, but "
          "first the bot erases everything the code word protects:"),
        "\n".join([
            "• " + _("your places and waiting-list places at meetups (a place goes to the next "
                     "woman waiting)"),
            "• " + _("your requests to join a group"),
            "• " + _("your open conversations with caseworkers (the caseworker is told that it "
                     "ended)"),
            "• " + _("your memberships of centres (a centre can give you access again)"),
            "• " + _("your settings, back to the defaults (your language and region stay)"),
        ]),
        _("This cannot be undone."),
    ])
    return screen(text, [Button(_("Erase and choose a new code word"), "lock:erase")],
                  [Button(_("No, keep everything"), "menu")])


async def erase(ctx: Ctx) -> list[Reply]:
    """lock:erase — right after the screen above: erase what the code word protects."""
    if ctx.confirming != ERASE_STEP or len(ctx.args) != 1 or not ctx.user.codeword_hash:
        if not ctx.user.codeword_hash:
            return await forgot(ctx)
        return [Reply(_("That button is not valid any more.")), forgot_screen(ctx)]
    erased = await erase_protected(ctx.db, ctx.user, ctx.now(), ctx.services.held)
    for notice in erased.notices:
        ctx.send_to(notice.user_id, notice.build, notification=notice.notification)
    ctx.unlocked_until = None
    ctx.session.reset()
    return [Reply(_("Done. What your code word protected is erased, and the code word is "
                    "gone.")),
            screen(_("Do you want to choose a new code word now?"),
                   [Button(_("Choose a new code word"), "lock:new:set")])]


# -- choosing, changing and removing it ------------------------------------------------------------

async def ask_new(ctx: Ctx) -> list[Reply]:
    """lock:new[:<back>] — choose a code word (with one already, change it: the old one first)."""
    back = back_of(ctx)
    if ctx.user.codeword_hash:
        return await ask_old(ctx)
    ctx.session.reset(LockState.NEW)
    ctx.session.data["back"] = back
    return [new_prompt(ctx, back)]


def new_prompt(ctx: Ctx, back: str) -> Reply:
    return secret_prompt(ctx, _("Choose a code word: a word only you know.") + "\n\n"
                         + lock_explained() + "\n\n" + word_rules(), back=BACKS[back])


async def take_new(ctx: Ctx) -> list[Reply]:
    back = str(ctx.session.data.get("back") or "menu")
    back = back if back in BACKS else "menu"
    error = await save_codeword(ctx, ctx.text)
    if error is not None:
        return [Reply(error), new_prompt(ctx, back)]
    ctx.session.reset()
    return [Reply(_("Your code word is saved. Remember it: nobody can show it to you again.")),
            *await go_back(ctx, back)]


async def ask_old(ctx: Ctx) -> list[Reply]:
    """lock:change[:<back>] — changing her code word needs the one she has."""
    back = back_of(ctx)
    if not ctx.user.codeword_hash:
        return await ask_new(ctx)
    if blocked_until(ctx) is not None:
        return [await blocked_screen(ctx)]
    ctx.session.reset(LockState.OLD)
    ctx.session.data["back"] = back
    return [old_prompt(ctx, back)]


def old_prompt(ctx: Ctx, back: str) -> Reply:
    return secret_prompt(ctx, _("To change your code word, first type the one you have now."),
                         [Button(_("I forgot my code word"), "lock:forgot")], back=BACKS[back])


async def take_old(ctx: Ctx) -> list[Reply]:
    back = str(ctx.session.data.get("back") or "menu")
    back = back if back in BACKS else "menu"
    if blocked_until(ctx) is not None:
        ctx.erase_inbound()
        return [await blocked_screen(ctx)]
    if not normalise_codeword(ctx.text):
        ctx.erase_inbound()
        return [Reply(_("Please type a word.")), old_prompt(ctx, back)]
    if not await check_codeword(ctx, ctx.text):
        return await wrong_word(ctx, old_prompt(ctx, back))
    ctx.session.reset(LockState.NEW)
    ctx.session.data["back"] = back
    return [secret_prompt(ctx, _("Right. Now type your new code word.") + " " + word_rules(),
                          back=BACKS[back])]


async def ask_remove(ctx: Ctx) -> list[Reply]:
    """lock:remove[:<back>] — removing her code word needs it too."""
    back = back_of(ctx)
    if not ctx.user.codeword_hash:
        return [Reply(_("You have no code word, so nothing is locked.")),
                *await go_back(ctx, back)]
    if blocked_until(ctx) is not None:
        return [await blocked_screen(ctx)]
    ctx.session.reset(LockState.REMOVE)
    ctx.session.data["back"] = back
    return [remove_prompt(ctx, back)]


def remove_prompt(ctx: Ctx, back: str) -> Reply:
    return secret_prompt(ctx, _("Without a code word, anyone holding this phone can open your "
                                "meetups, requests, conversations and settings. To remove it, "
                                "type your code word."),
                         [Button(_("I forgot my code word"), "lock:forgot")], back=BACKS[back])


async def take_remove(ctx: Ctx) -> list[Reply]:
    back = str(ctx.session.data.get("back") or "menu")
    back = back if back in BACKS else "menu"
    if blocked_until(ctx) is not None:
        ctx.erase_inbound()
        return [await blocked_screen(ctx)]
    if not normalise_codeword(ctx.text):
        ctx.erase_inbound()
        return [Reply(_("Please type a word.")), remove_prompt(ctx, back)]
    if not await check_codeword(ctx, ctx.text):
        return await wrong_word(ctx, remove_prompt(ctx, back))
    ctx.user.codeword_hash = None
    ctx.user.lock_failures = 0
    ctx.unlocked_until = None
    ctx.session.reset()
    return [Reply(_("Done. Your code word is removed, and your screens are no longer locked.")),
            *await go_back(ctx, back)]


# The core shows this route's handler instead of a locked screen (bot/runtime.py hands it over).
LOCK_SCREEN = Route(show_lock, prefix="__lock__")
ROUTES = [
    Route(forgot, prefix="lock", verb="forgot", onboarded_only=True),
    Route(erase, prefix="lock", verb="erase", onboarded_only=True),
    Route(ask_new, prefix="lock", verb="new", onboarded_only=True),
    Route(ask_old, prefix="lock", verb="change", onboarded_only=True),
    Route(ask_remove, prefix="lock", verb="remove", onboarded_only=True),
    Route(take_unlock, state=LockState.UNLOCK, secret=True),
    Route(take_new, state=LockState.NEW, secret=True),
    Route(take_old, state=LockState.OLD, secret=True),
    Route(take_remove, state=LockState.REMOVE, secret=True),
]
