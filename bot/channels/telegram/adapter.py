"""Telegram, on python-telegram-bot's Application. A thin adapter (docs/ARCHITECTURE.md 3 and 4):

    Update -> Inbound -> core -> Outcome -> sendMessage / editMessageText / deleteMessages

It also keeps the ids (never the text) of her messages and the bot's, so that quick exit and
vanishing chat can delete them after a restart, and it paces what it sends: people's answers go
first and at once; bulk sends (relays, reminders, broadcasts) keep to ~30 messages/s overall and
~1 message/s per chat.

Long polling by default; with PUBLIC_URL a webhook at POST /webhooks/telegram on the app's own
aiohttp server, guarded by the secret-token header (compared in constant time, before parsing).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import re
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from enum import Enum
from functools import lru_cache, partial
from typing import Any, TypeVar

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bot.channels.telegram.capabilities import CAPABILITIES, MAX_BUTTONS_PER_ROW, MAX_TEXT
from bot.channels.telegram.request import AiohttpRequest, make_session
from bot.channels.telegram.updates import PerChatUpdateProcessor
from bot.core.channels import ChannelHost, DeliveryFailed, RecipientGone
from bot.core.i18n import LANGUAGES, N_, _, use_language
from bot.core.settings import Settings, SettingsError
from bot.core.types import MAX_ACTION_BYTES, Channel, Inbound, Outcome, Reply, Rows

log = logging.getLogger(__name__)
# The Application as this adapter builds it (PTB's default context, no job queue).
PTBApplication = Application[Any, Any, Any, Any, Any, Any]

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
MAX_BUTTONS = 100
DELETE_BATCH = 100
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT = 25  # seconds a long poll may wait on Telegram's side
MAX_ATTEMPTS = 5
MAX_RETRY_AFTER = 60.0
NOT_MODIFIED = "not modified"  # a longer flood wait is handed back to the caller to retry later

# The libraries that log whole updates or request bodies below WARNING (PTB: "Processing update
# <Update ...text...>"). bot/logs.py quiets them; the adapter does it again before it starts so
# that no set-up (a test's, an operator's LOG_LEVEL=DEBUG) can make them log what she typed.
QUIET_LOGGERS = ("telegram", "httpx", "httpcore", "aiohttp.client")

# The commands menu. Neutral words: the menu shows on a screen someone else may see.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Start")),
    ("menu", N_("Main menu")),
    ("language", N_("Language")),
    ("exit", N_("Quick exit")),
)

T = TypeVar("T")


def quiet_raw_call_warning() -> None:
    """Bot.do_api_request warns when the method also exists as a Bot method ("Please use
    Bot.send_message"); we call it on purpose for the raw result (TelegramSender._api)."""
    warnings.filterwarnings("ignore", message=r"Please use 'Bot\.(sendMessage|editMessageText)'",
                            category=PTBUserWarning)


def quiet_library_loggers() -> None:
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


# -- Update -> Inbound ------------------------------------------------------------------------------
def to_inbound(update: Update) -> Inbound | None:
    """Her message or her tap, as a neutral Inbound; None for anything we do not handle."""
    # The bot lives in private chats only: groups and channels, and anything whose ids are not
    # the numbers Telegram sends (a forged webhook body), are ignored.
    if update.callback_query is not None:
        query = update.callback_query
        if not isinstance(query.data, str):
            return None
        if query.message is not None:
            if query.message.chat.type != "private":
                return None
            chat_id, ref = query.message.chat.id, _ref(query.message.message_id)
        else:
            chat_id, ref = query.from_user.id, None
        if not _is_chat_id(chat_id):
            return None
        return Inbound(Channel.TELEGRAM, str(chat_id), action=query.data,
                       language_hint=_text_or_none(query.from_user.language_code),
                       message_ref=ref)
    message = update.message
    if message is None or message.chat.type != "private" or not _is_chat_id(message.chat.id):
        return None
    # A photo, a voice note or a sticker counts as a message she sent (it is tracked and
    # deleted like the rest); the core answers it as text it does not understand.
    text = message.text if isinstance(message.text, str) else ""
    hint = message.from_user.language_code if message.from_user else None
    return Inbound(Channel.TELEGRAM, str(message.chat.id), text=text,
                   language_hint=_text_or_none(hint), message_ref=_ref(message.message_id))


def _is_chat_id(value: object) -> bool:
    # A private chat's id is the person's id: a positive integer (below 2**52 by Bot API docs).
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**52


def _ref(message_id: object) -> str | None:
    ok = isinstance(message_id, int) and not isinstance(message_id, bool) and message_id > 0
    return str(message_id) if ok else None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- Outcome -> Telegram ------------------------------------------------------------------------------
def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at paragraph, line or word ends into parts Telegram accepts (UTF-16 units), never
    inside a character; nothing is lost but the whitespace at a cut."""
    if not text:
        return [""]
    parts: list[str] = []
    rest = text
    while _utf16_len(rest) > limit:
        # The longest prefix within the limit, in code points (astral characters count twice).
        cut, units = 0, 0
        for ch in rest:
            units += 2 if ord(ch) > 0xFFFF else 1
            if units > limit:
                break
            cut += 1
        window = rest[:cut]
        for sep in ("\n\n", "\n", " "):
            at = window.rfind(sep)
            if at > cut // 2:
                cut = at
                break
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [p for p in parts if p] or [""]


@lru_cache(maxsize=512)
def _keyboard(buttons: Rows) -> str | None:
    if not buttons:
        return None
    rows: list[list[dict[str, str]]] = []
    for row in buttons:
        for i in range(0, len(row), MAX_BUTTONS_PER_ROW):
            chunk = row[i:i + MAX_BUTTONS_PER_ROW]
            for button in chunk:
                # Button guarantees it; a longer payload would make Telegram refuse the screen.
                assert len(button.action.encode("utf-8")) <= MAX_ACTION_BYTES
            rows.append([{"text": b.label, "callback_data": b.action} for b in chunk])
    while sum(len(r) for r in rows) > MAX_BUTTONS:
        rows.pop(0)  # never happens with our screens; keep the back / menu / quick exit rows
    return json.dumps({"inline_keyboard": rows}, ensure_ascii=False, separators=(",", ":"))


def keyboard(reply: Reply) -> str | None:
    """The inline keyboard as Bot API JSON. Screens repeat (menus, the language list), so the
    encoded form is cached: building PTB's keyboard objects was a fifth of the time per update."""
    return _keyboard(reply.buttons)


# -- pacing -------------------------------------------------------------------------------------------
class Priority(Enum):
    ANSWER = 0  # someone is waiting for this screen
    BULK = 1  # relays, reminders, broadcasts: can wait a little


class Pacer:
    """People first, bulk second, within Telegram's flood limits.

    Answers are only held back by a flood pause (a 429). Bulk sends wait while answers are
    waiting, keep the whole bot under `per_second` messages in any second (answers count too), and
    keep one chat under one message per `chat_interval` seconds. Bulk sends queue FIFO."""

    def __init__(self, per_second: int = 30, chat_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.chat_interval = chat_interval
        self._clock = clock
        self._window: deque[float] = deque()
        self._chat_next: dict[int, float] = {}
        self._paused_until = 0.0
        self._answers_waiting = 0
        self._bulk_lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _note(self, now: float) -> None:
        self._window.append(now)
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()

    def _window_wait(self, now: float) -> float:
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) < self.per_second:
            return 0.0
        return self._window[-self.per_second] + 1.0 - now

    async def answer(self) -> None:
        self._answers_waiting += 1
        try:
            while True:
                wait = self._paused_until - self._clock()
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
        finally:
            self._answers_waiting -= 1
        self._note(self._clock())

    async def bulk(self, chat_id: int) -> None:
        async with self._bulk_lock:
            while True:
                now = self._clock()
                wait = max(self._paused_until - now, self._chat_next.get(chat_id, 0.0) - now,
                           self._window_wait(now))
                if self._answers_waiting:
                    wait = max(wait, 0.01)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._note(now)
            if len(self._chat_next) > 10_000:
                self._chat_next = {k: v for k, v in self._chat_next.items() if v > now}
            self._chat_next[chat_id] = now + self.chat_interval


def _retry_after_seconds(exc: RetryAfter) -> float:
    # RetryAfter.retry_after is an int today and a timedelta later (PTB 22.2 deprecation, chosen
    # by the PTB_TIMEDELTA variable); reading it either way is the documented public attribute.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Every Bot API call that sends or deletes goes through here: pacing, retries, and the
    platform's errors mapped onto Delivery's (courier's one table beside the sender)."""

    name = Channel.TELEGRAM.value

    def __init__(self, application: PTBApplication, pacer: Pacer | None = None,
                 backoff: float = 0.5) -> None:
        self.app = application
        self.pacer = pacer or Pacer()
        self.backoff = backoff

    async def _call(self, make: Callable[[], Awaitable[T]], *, priority: Priority, chat_id: int,
                    sends: bool) -> T:
        maybe_sent = False  # a send timed out (or lost its connection) and may have arrived
        for attempt in range(MAX_ATTEMPTS):
            if priority is Priority.BULK and sends:
                await self.pacer.bulk(chat_id)
            else:
                await self.pacer.answer()
            try:
                return await make()
            except RetryAfter as exc:
                wait = _retry_after_seconds(exc)
                self.pacer.pause(wait)
                log.warning("telegram flood control: waiting %.1f s", wait)
                if wait > MAX_RETRY_AFTER:
                    raise DeliveryFailed("flood control", retry=True) from None
            except Forbidden:
                raise RecipientGone() from None
            except BadRequest as exc:
                # Telegram's description (never her text) tells an unchanged edit apart.
                reason = NOT_MODIFIED if "not modified" in exc.message else "bad request"
                raise DeliveryFailed(reason, retry=False) from None
            except TimedOut:
                # A sendMessage that timed out, or whose connection dropped after the request
                # went out (tg_request maps that to TimedOut too), may well have arrived. For
                # bulk sends we never retry it (here or later): a broadcast must never reach
                # anyone twice, and a lost reminder is the lesser harm. An answer is retried: a
                # screen shown twice is better than none. Deletions and edits are idempotent.
                if priority is Priority.BULK and sends:
                    raise DeliveryFailed("timed out", retry=False) from None
                maybe_sent = maybe_sent or sends
                await self._sleep_backoff(attempt)
            except NetworkError:  # a 5xx, or a connection that was never made
                await self._sleep_backoff(attempt)
        # Whoever gets this must not send again if an attempt may have arrived.
        raise DeliveryFailed("telegram unavailable", retry=not maybe_sent)

    async def _sleep_backoff(self, attempt: int) -> None:
        await asyncio.sleep(self.backoff * (2 ** attempt) * (0.5 + random.random()))

    # -- sending screens --------------------------------------------------------------------------------
    async def render(self, chat_id: int, replies: Sequence[Reply], *, priority: Priority,
                     edit: int | None = None, notification: bool = True) -> list[str]:
        """Show the replies; edit message `edit` in place with the first one where it allows.
        Returns the ids of the messages that were sent (edits keep their id)."""
        refs: list[str] = []
        for index, reply in enumerate(replies):
            parts = split_text(reply.text)
            markup = keyboard(reply)
            if index == 0 and edit is not None and reply.replace and len(parts) == 1:
                if await self._edit(chat_id, edit, parts[0], markup, priority):
                    continue
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                refs.append(await self._send(chat_id, part, markup if last else None, reply,
                                             priority, notification))
        return refs

    async def _api(self, method: str, params: dict[str, Any]) -> Any:
        """A Bot API call returning the raw result (PTB's public Bot.do_api_request).

        The hot path (sendMessage, editMessageText) skips PTB's objects both ways: the keyboard
        goes as its ready Bot API JSON, and the echoed message is not parsed into a Message with
        its keyboard (that was a fifth of the time per update). Errors still become PTB's
        exceptions (RetryAfter, Forbidden, BadRequest, TimedOut)."""
        return await self.app.bot.do_api_request(
            method, api_kwargs={k: v for k, v in params.items() if v is not None})

    async def _send(self, chat_id: int, text: str, markup: str | None, reply: Reply,
                    priority: Priority, notification: bool) -> str:
        params = {"chat_id": chat_id, "text": text or "…", "reply_markup": markup,
                  "protect_content": reply.protected,
                  "disable_notification": reply.silent or not notification}
        message = await self._call(lambda: self._api("sendMessage", params),
                                   priority=priority, chat_id=chat_id, sends=True)
        return str(message["message_id"])

    async def _edit(self, chat_id: int, message_id: int, text: str, markup: str | None,
                    priority: Priority) -> bool:
        params = {"chat_id": chat_id, "message_id": message_id, "text": text,
                  "reply_markup": markup}
        try:
            await self._call(lambda: self._api("editMessageText", params),
                             priority=priority, chat_id=chat_id, sends=False)
        except DeliveryFailed as exc:
            return exc.args == (NOT_MODIFIED,)  # else too old, gone, not ours: send instead
        return True

    # -- ChannelSender ----------------------------------------------------------------------------------
    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        return await self.render(int(address), replies, priority=Priority.BULK,
                                 notification=notification)

    async def delete_one(self, chat_id: int, message_id: int) -> None:
        """deleteMessage, at once (her code word): raises DeliveryFailed when Telegram refuses."""
        bot = self.app.bot

        async def call() -> bool:
            return bool(await bot.delete_message(chat_id, message_id))

        await self._call(call, priority=Priority.ANSWER, chat_id=chat_id, sends=False)

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        chat_id = int(address)
        ids = sorted({int(r) for r in refs if str(r).isdigit()})
        bot = self.app.bot
        for i in range(0, len(ids), DELETE_BATCH):
            batch = ids[i:i + DELETE_BATCH]
            try:
                await self._call(partial(bot.delete_messages, chat_id, batch),
                                 priority=Priority.ANSWER, chat_id=chat_id, sends=False)
            except DeliveryFailed as exc:
                if exc.retry:
                    raise
                # 400: all too old (48 h) or gone already; nothing more can be done for them.
                log.info("telegram refused a deletion batch of %d", len(batch))


# -- the channel --------------------------------------------------------------------------------------
# Bots may delete messages in private chats for 48 hours; we plan within 47.
class TelegramChannel:
    """The Telegram ChannelAdapter."""

    name = Channel.TELEGRAM.value
    capabilities = CAPABILITIES

    def __init__(self, settings: Settings, *, pacer: Pacer | None = None,
                 backoff: float = 0.5) -> None:
        self.settings = settings
        self.webhook_mode = bool(settings.public_url)
        if self.webhook_mode and not SECRET_RE.match(settings.telegram_webhook_secret):
            raise SettingsError("TELEGRAM_WEBHOOK_SECRET must be set with PUBLIC_URL: 16-256 "
                                "characters A-Z a-z 0-9 _ - (for example: python -c 'import "
                                "secrets;print(secrets.token_urlsafe(32))')")
        self._pacer = pacer
        self._backoff = backoff
        self.app: PTBApplication | None = None
        self.sender: TelegramSender | None = None
        self.host: ChannelHost | None = None
        self._http: Any = None
        self.handled = 0  # updates fully handled (tests wait on it; never what they held)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def _build(self) -> PTBApplication:
        self._http = make_session()
        # One aiohttp session (one pool) for the calls and for the long poll.
        calls = AiohttpRequest(session=self._http, read_timeout=10.0, write_timeout=10.0,
                               connect_timeout=5.0, pool_timeout=5.0)
        poll = AiohttpRequest(session=self._http, read_timeout=10.0, connect_timeout=5.0,
                              pool_timeout=5.0)
        base = self.settings.telegram_api_base_url
        builder = (Application.builder().token(self.settings.telegram_token)
                   .base_url(base).base_file_url(_file_url(base))
                   .request(calls).get_updates_request(poll)
                   .concurrent_updates(PerChatUpdateProcessor(512))
                   .job_queue(None))  # scheduled work lives in our tables (bot/scheduler.py)
        if self.webhook_mode:
            builder = builder.updater(None)
        application = builder.build()
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)
        return application

    def routes(self) -> list[web.RouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)] if self.webhook_mode else []

    async def start(self, host: ChannelHost) -> None:
        quiet_library_loggers()
        quiet_raw_call_warning()
        self.host = host
        application = self._build()
        self.sender = TelegramSender(application, self._pacer, self._backoff)
        await application.initialize()
        self.app = application
        host.add_sender(self.sender, CAPABILITIES)
        await self._set_commands()
        bot = application.bot
        if self.webhook_mode:
            await bot.set_webhook(self.settings.public_url + WEBHOOK_PATH,
                                  secret_token=self.settings.telegram_webhook_secret,
                                  allowed_updates=ALLOWED_UPDATES)
        else:
            await bot.delete_webhook()
            assert application.updater is not None
            await application.updater.start_polling(timeout=POLL_TIMEOUT,
                                                    allowed_updates=ALLOWED_UPDATES,
                                                    error_callback=self._on_poll_error)
        await application.start()
        log.info("telegram channel started (%s)", "webhook" if self.webhook_mode else "polling")

    def health(self) -> dict[str, object]:
        """Running (polling, or the webhook registered at start)."""
        running = self.app is not None and self.app.running
        return {"configured": True, "mode": "webhook" if self.webhook_mode else "polling",
                "registered": running, "healthy": running}

    async def stop(self) -> None:
        # Delivery must not send through an application that is shutting down (updates still
        # being answered keep self.sender).
        if self.host is not None and self.sender is not None:
            self.host.remove_sender(self.sender)
        application = self.app
        if application is not None:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            await application.shutdown()
            self.app = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _set_commands(self) -> None:
        assert self.app is not None
        bot = self.app.bot
        for lang in (None, *LANGUAGES):
            with use_language(lang or "en"):
                commands = [BotCommand(name, _(description)) for name, description in COMMANDS]
            await bot.set_my_commands(commands, language_code=lang)

    # -- updates -------------------------------------------------------------------------------------------
    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self._handle_update(update)
        finally:
            self.handled += 1

    async def _handle_update(self, update: Update) -> None:
        inbound = to_inbound(update)
        query = update.callback_query
        answered: asyncio.Task[None] | None = None
        if query is not None:
            # Every tap is answered, at once, so that her button stops spinning.
            answered = asyncio.create_task(self._answer_callback(query.id))
        try:
            if inbound is None:
                return
            assert self.host is not None
            outcome: Outcome = await self.host.handle(inbound)
            edit = int(inbound.message_ref) if query is not None and inbound.message_ref else None
            await self._deliver(inbound, outcome, edit)
        finally:
            if answered is not None:
                await answered

    async def _answer_callback(self, query_id: str) -> None:
        assert self.app is not None
        try:
            await self.app.bot.answer_callback_query(query_id)
        except TelegramError as exc:
            log.info("answerCallbackQuery failed: %s", type(exc).__name__)

    async def _deliver(self, inbound: Inbound, outcome: Outcome, edit: int | None) -> None:
        assert self.sender is not None and self.host is not None
        hers = [inbound.message_ref] if inbound.text is not None and inbound.message_ref else []
        refs: list[str] = []
        try:
            if outcome.erase_inbound and hers:
                # Her code word or /redeem code: deleted at once, before the answer, and never
                # kept as a ref (there is nothing left to delete later).
                await self._erase_inbound(int(inbound.address), hers)
                hers = []
            if outcome.exit:
                await self._quick_exit(inbound, outcome, hers)
                return
            refs = await self.sender.render(int(inbound.address), outcome.replies,
                                            priority=Priority.ANSWER, edit=edit)
        except RecipientGone:
            log.info("telegram: she blocked the bot while we answered")
        except DeliveryFailed as exc:
            log.warning("telegram answer failed (retry=%s)", exc.retry)
        if not outcome.exit:
            # A visitor has no row yet (user_id None): the host keeps her ids in her session.
            await self.host.record_refs(self.name, inbound.address, outcome.user_id, hers + refs)

    async def _erase_inbound(self, chat_id: int, refs: list[str]) -> None:
        assert self.sender is not None
        for ref in refs:
            try:
                await self.sender.delete_one(chat_id, int(ref))
            except DeliveryFailed as exc:
                # Gone already, or Telegram refuses now: answering her matters more.
                log.info("telegram: her message could not be deleted (retry=%s)", exc.retry)

    async def _quick_exit(self, inbound: Inbound, outcome: Outcome, hers: list[str]) -> None:
        """Delete every tracked message (hers too, this /exit included), then one cover."""
        assert self.sender is not None and self.host is not None
        user_id = outcome.user_id
        # The host deletes every tracked id and hers through TelegramSender.delete (batches of
        # 100); a visitor's ids came back in the outcome from her session.
        await self.host.erase(self.name, inbound.address, user_id,
                              [*outcome.visitor_refs, *hers])
        refs = await self.sender.render(int(inbound.address), outcome.replies[:1],
                                        priority=Priority.ANSWER)
        # The cover is neutral; tracking it lets vanishing chat (or her next exit) remove it too.
        await self.host.record_refs(self.name, inbound.address, user_id, refs, after_exit=True)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Only the type: an exception's message or the update can carry what she typed.
        log.error("telegram update failed: %s", type(context.error).__name__)

    @staticmethod
    def _on_poll_error(error: TelegramError) -> None:
        log.warning("telegram polling error: %s", type(error).__name__)

    # -- webhook ----------------------------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        """Authenticate before parsing, in constant time; queue the update and answer at once."""
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        expected = self.settings.telegram_webhook_secret.encode("utf-8")
        if not hmac.compare_digest(given, expected):
            raise web.HTTPForbidden()
        application = self.app
        if application is None:
            raise web.HTTPServiceUnavailable()
        try:
            data = json.loads(await request.read())
            if not isinstance(data, dict):
                raise ValueError("an update is an object")
            update = Update.de_json(data, application.bot)
        # PTB builds objects from whatever the fields hold: a forged body of the wrong shapes
        # fails with any of these (and deep nesting with RecursionError); all are a bad request.
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError):
            raise web.HTTPBadRequest() from None
        # The Application's update queue feeds the per-chat processor, whose tasks the
        # Application keeps a reference to; Telegram gets its 200 without waiting for the core.
        application.update_queue.put_nowait(update)
        return web.Response(status=200)


def _file_url(base_url: str) -> str:
    """https://api.telegram.org/bot -> https://api.telegram.org/file/bot"""
    head, sep, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}" if sep else base_url
