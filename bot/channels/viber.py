"""The Viber channel: POST /webhooks/viber in, the REST Bot API out (our own aiohttp client).

Path of a callback: size limit -> HMAC-SHA256 of the raw body checked in constant time, before any
parsing -> 200 at once -> the event is handled in a background task whose reference we keep (and
await on shutdown). Events of one person are handled one at a time, in arrival order.

Viber has no inline buttons: a keyboard button sends its ActionBody as a text message. Every
ActionBody starts with ACTION_MARKER, so the core gets `Inbound.action` for a press and
`Inbound.text` for anything typed; a typed imitation of a payload reaches the core as an action
and is checked like any forged payload (DESIGN.md 2.8).

Quick exit: Viber has no delete API. The cover message goes out with a neutral keyboard that
replaces the menu (the app always shows the last keyboard it received), and nothing more is said.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
import unicodedata
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.app import RUNTIME
from bot.channels.httputil import read_limited
from bot.channels.viber_client import AUTH_HEADER, MAX_REQUEST_BYTES, ViberClient
from bot.delivery import DeliveryFailed, RecipientGone
from bot.runtime import Runtime
from bot.settings import Settings
from bot.types import Button, Channel, Inbound, Outcome, Reply, Rows
from db import queries
from db.models import User
from handlers.ui import EXIT_ACTION, exit_button

log = logging.getLogger(__name__)
T = TypeVar("T")

WEBHOOK_PATH = "/webhooks/viber"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
MAX_BODY_BYTES = 64 * 1024  # a 7000-character message in any script fits well below this
# The name shown in her chat list and on her lock screen: neutral, nothing about violence or help.
SENDER_NAME = "Assistant"
# Starts every ActionBody; a person does not type this by accident, and it is stripped again.
ACTION_MARKER = "act:"
# Nothing we send needs a newer client: Columns/Rows/BgColor/Silent/Text markup are API level 1.
MIN_API_VERSION = 1
MAX_TEXT_CHARS = 7000
MAX_TEXT_BYTES = 16 * 1024  # leaves room for the keyboard inside the 30 KB request limit
MAX_ROWS = 12
MAX_LABEL_CHARS = 100
GRID_COLUMNS = 6
KEYBOARD_BG = "#FFFFFF"
BUTTON_BG = "#EEEEEE"
EXIT_BG = "#B3261E"  # the quick exit stands out on every screen
EXIT_FG = "#FFFFFF"
# Viber needs the conversation_started answer quickly; after this we answer with no welcome.
WELCOME_TIMEOUT_SECONDS = 4.0
# message, subscribed and unsubscribed always come; we ask for nothing else that we would ignore.
WEBHOOK_EVENTS = ("conversation_started", "subscribed", "unsubscribed")
WEBHOOK_FIRST_DELAY = 0.5
WEBHOOK_ATTEMPTS = 8
MAX_ADDRESS_CHARS = 128
CONTEXT_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SEEN_TOKENS = 2048
SEEN_TOKEN_KEEP = timedelta(days=7)  # Viber retries for hours at most
KNOWN_EVENTS = frozenset({"webhook", "conversation_started", "subscribed", "unsubscribed",
                          "message", "delivered", "seen", "failed", "client_status"})


# -- rendering (pure functions) --------------------------------------------------------------------
def split_text(text: str, max_chars: int = MAX_TEXT_CHARS,
               max_bytes: int = MAX_TEXT_BYTES) -> list[str]:
    """Cut a long text into messages Viber accepts, at a paragraph, line or space if possible."""
    chunks: list[str] = []
    rest = text
    while len(rest) > max_chars or len(rest.encode("utf-8")) > max_bytes:
        cut = _cut_point(rest, max_chars, max_bytes)
        head = rest[:cut].rstrip()
        chunks.append(head or rest[:cut])
        rest = rest[cut:].lstrip()
    if rest.strip() or not chunks:
        chunks.append(rest)
    return chunks


def _cut_point(text: str, max_chars: int, max_bytes: int) -> int:
    limit, size = 0, 0
    for char in text[:max_chars]:
        size += len(char.encode("utf-8"))
        if size > max_bytes:
            break
        limit += 1
    for sep in ("\n\n", "\n", " "):
        at = text.rfind(sep, 0, limit)
        if at > limit // 2:
            return at + len(sep)
    # No space in sight: never split a character from its accent, joiner or variation selector.
    while limit > 1 and (unicodedata.combining(text[limit]) or text[limit] in "\u200d\ufe0f"
                         or text[limit - 1] == "\u200d"):
        limit -= 1
    return max(limit, 1)


def _spans(count: int) -> list[int]:
    """Columns for `count` buttons sharing one 6-column row (they always fill it)."""
    base, extra = divmod(GRID_COLUMNS, count)
    return [base + 1 if i < extra else base for i in range(count)]


def _button(button: Button, columns: int) -> dict[str, Any]:
    label = html.escape(button.label[:MAX_LABEL_CHARS], quote=False)
    is_exit = button.action == EXIT_ACTION
    return {
        "Columns": columns,
        "Rows": 1,
        "ActionType": "reply",
        "ActionBody": ACTION_MARKER + button.action,
        "Text": f'<font color="{EXIT_FG}"><b>{label}</b></font>' if is_exit else label,
        "TextSize": "regular",
        "BgColor": EXIT_BG if is_exit else BUTTON_BG,
        # Silent: the press is not shown as a message of hers, so it leaves no trace in the chat.
        "Silent": True,
    }


def fit_rows(rows: Rows, max_rows: int = MAX_ROWS) -> Rows:
    """At most 6 buttons a row and `max_rows` rows; the last row (navigation, quick exit) stays."""
    flat: list[tuple[Button, ...]] = []
    for row in rows:
        for i in range(0, len(row), GRID_COLUMNS):
            flat.append(tuple(row[i:i + GRID_COLUMNS]))
    flat = [row for row in flat if row]
    if len(flat) > max_rows:
        flat = flat[:max_rows - 1] + flat[-1:]
    if not any(b.action == EXIT_ACTION for row in flat for b in row):
        flat = flat[:max_rows - 1] + [(exit_button(),)]
    return tuple(flat)


def keyboard(rows: Rows, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    buttons = [_button(b, span) for row in fit_rows(rows, max_rows)
               for b, span in zip(row, _spans(len(row)), strict=True)]
    return {"Type": "keyboard", "DefaultHeight": False, "BgColor": KEYBOARD_BG, "Buttons": buttons}


def neutral_keyboard() -> dict[str, Any]:
    """After a quick exit: replaces the menu with one blank key that does nothing."""
    return {"Type": "keyboard", "DefaultHeight": False, "BgColor": KEYBOARD_BG,
            "Buttons": [{"Columns": GRID_COLUMNS, "Rows": 1, "ActionType": "none",
                         "ActionBody": "none", "Text": " ", "BgColor": KEYBOARD_BG,
                         "Silent": True}]}


def merged_rows(replies: Sequence[Reply]) -> Rows:
    """Viber shows one keyboard (the last one sent): all buttons of an answer go on it; a button
    repeated by several replies stays once, where the last reply put it."""
    rows = [row for reply in replies for row in reply.buttons]
    seen: set[str] = set()
    kept: list[tuple[Button, ...]] = []
    for row in reversed(rows):
        new = tuple(b for b in row if b.action not in seen)
        seen.update(b.action for b in row)
        if new:
            kept.append(new)
    return tuple(reversed(kept))


def _message(text: str) -> dict[str, Any]:
    # No tracking_data: it would come back with her next message and must never hold her words.
    return {"min_api_version": MIN_API_VERSION, "sender": {"name": SENDER_NAME[:28]},
            "type": "text", "text": text if text.strip() else "…"}


def request_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def render(replies: Sequence[Reply], *, exit_: bool = False) -> list[dict[str, Any]]:
    """The send_message payloads (without receiver) for an answer; the keyboard goes on the last."""
    texts = [chunk for reply in replies if reply.text.strip() for chunk in split_text(reply.text)]
    if not replies:
        return []
    messages = [_message(t) for t in texts or [""]]
    last = messages[-1]
    if exit_:
        last["keyboard"] = neutral_keyboard()
        return messages
    rows = merged_rows(replies)
    if not rows:
        return messages
    # Room for the receiver id too; a very long menu loses rows from its middle, never the exit.
    for max_rows in range(MAX_ROWS, 0, -1):
        last["keyboard"] = keyboard(rows, max_rows)
        if request_size(last) + 256 <= MAX_REQUEST_BYTES:
            break
    return messages


# -- sending to someone who did not just write (relays, reminders, broadcasts) ---------------------
class ViberSender:
    """The ChannelSender for Viber. Messages the bot starts are paid on Viber: they are counted."""

    name = Channel.VIBER.value

    def __init__(self, client: ViberClient) -> None:
        self.client = client
        self.bot_initiated = 0

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        # Viber has no silent delivery; the neutral first line (bot.notify.discreet) protects her.
        sent = 0
        try:
            for payload in render(replies):
                await self.client.send_message({"receiver": address, **payload})
                sent += 1
        finally:
            if sent:
                self.bot_initiated += sent
                log.info("viber: %d bot-initiated message(s) sent, %d since start "
                         "(Viber bills bot-initiated messages)", sent, self.bot_initiated)
        return []  # Viber cannot delete messages, so there is nothing to remember

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        """Viber has no delete API; quick exit only resets the keyboard (see ViberChannel)."""


# -- the channel ---------------------------------------------------------------------------------
def _address(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_ADDRESS_CHARS:
        return value
    return None


def _language(person: object) -> str | None:
    if isinstance(person, dict):
        lang = person.get("language")
        if isinstance(lang, str) and 0 < len(lang) <= 16:
            return lang
    return None


def inbound_from_message(address: str, event: dict[str, Any]) -> Inbound:
    """A button press (ActionBody with the marker) becomes an action; anything else is text."""
    message = event.get("message")
    text = ""
    if isinstance(message, dict) and message.get("type") == "text":
        raw = message.get("text")
        text = raw if isinstance(raw, str) else ""
    # Pictures, stickers, files, locations: never looked at; the core answers as for empty text.
    language = _language(event.get("sender"))
    if text.startswith(ACTION_MARKER):
        return Inbound(Channel.VIBER, address, action=text[len(ACTION_MARKER):],
                       language_hint=language)
    return Inbound(Channel.VIBER, address, text=text, language_hint=language)


class ViberChannel:
    """The webhook route (registered before start-up) and the lifecycle that opens the client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key = settings.viber_token.encode("utf-8")
        self.runtime: Runtime | None = None
        self.client: ViberClient | None = None
        self.sender: ViberSender | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._seen: OrderedDict[object, None] = OrderedDict()
        self._webhook_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        runtime = app[RUNTIME]
        timeout = aiohttp.ClientTimeout(total=15, connect=5)
        async with aiohttp.ClientSession(headers={AUTH_HEADER: self.settings.viber_token},
                                         timeout=timeout) as http:
            self.client = ViberClient(http, self.settings.viber_api_base_url)
            self.sender = ViberSender(self.client)
            runtime.add_sender(self.sender)
            self.runtime = runtime
            if self.settings.public_url:
                self._webhook_task = asyncio.create_task(
                    self._register_webhook(self.settings.public_url + WEBHOOK_PATH))
            try:
                yield
            finally:
                self.runtime = None  # new callbacks get 503 (Viber retries them)
                if self._webhook_task is not None:
                    self._webhook_task.cancel()
                    await asyncio.gather(self._webhook_task, return_exceptions=True)
                await self.drain()
                runtime.senders.pop(ViberSender.name, None)
                self.client = self.sender = None

    async def drain(self) -> None:
        """Wait for the events being handled (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def _register_webhook(self, url: str) -> None:
        # Viber checks the URL by calling it before set_webhook answers, and start-up hooks run
        # before the server listens: so register from a task, and retry while the proxy warms up.
        delay = WEBHOOK_FIRST_DELAY
        for _attempt in range(WEBHOOK_ATTEMPTS):
            await asyncio.sleep(delay)
            delay *= 2
            client = self.client
            if client is None:
                return
            try:
                answer = await client.set_webhook(url, WEBHOOK_EVENTS)
            except DeliveryFailed as exc:
                log.warning("viber set_webhook failed (%s); retrying", exc)
                continue
            if answer.get("status") == 0:
                log.info("viber webhook registered at %s", url)
                return
            log.warning("viber set_webhook refused: status %s (%s); retrying",
                        answer.get("status"), str(answer.get("status_message", ""))[:80])
        log.error("viber webhook could not be registered at %s: check PUBLIC_URL and VIBER_TOKEN",
                  url)

    # -- the route ---------------------------------------------------------------------------------
    def verify(self, raw: bytes, signature: str | None) -> bool:
        """Viber signs the raw body with the auth token (hex HMAC-SHA256); compare in constant
        time, on bytes, before anything looks at the body."""
        if not signature:
            return False
        expected = hmac.new(self._key, raw, hashlib.sha256).hexdigest().encode("ascii")
        given = signature.strip().lower().encode("utf-8", "replace")
        return hmac.compare_digest(expected, given)

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.Response(status=413)
        raw = await read_limited(request, MAX_BODY_BYTES)
        if raw is None:
            return web.Response(status=413)
        if not self.verify(raw, request.headers.get(SIGNATURE_HEADER)):
            log.warning("viber callback with a missing or wrong signature refused")
            return web.Response(status=403)
        try:
            event = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400)
        if not isinstance(event, dict):
            return web.Response(status=400)
        kind = event.get("event")
        log.debug("viber event %s", kind if kind in KNOWN_EVENTS else "(other)")
        if kind == "webhook":
            return web.Response(status=200)
        runtime = self.runtime
        if runtime is None:
            return web.Response(status=503)
        if kind == "conversation_started":
            return await self._conversation_started(runtime, event)
        if kind == "message":
            self._on_message(runtime, event)
        elif kind in ("subscribed", "unsubscribed"):
            person = event.get("user")
            address = _address(person.get("id") if isinstance(person, dict)
                               else event.get("user_id"))
            if address is not None:
                self._spawn(self._set_active(runtime, address, kind == "subscribed"))
        # delivered, seen, failed and anything newer: nothing to do, nothing to log.
        return web.Response(status=200)

    # -- events --------------------------------------------------------------------------------------
    def _on_message(self, runtime: Runtime, event: dict[str, Any]) -> None:
        sender = event.get("sender")
        address = _address(sender.get("id") if isinstance(sender, dict) else None)
        if address is None or self._already_seen(event.get("message_token")):
            return
        self._spawn(self._process_once(runtime, address, event.get("message_token"),
                                       inbound_from_message(address, event)))

    async def _process_once(self, runtime: Runtime, address: str, token: object,
                            inbound: Inbound) -> None:
        """The replay guard also remembers across restarts: a hash of the message token (no
        user data) in seen_tokens for a week, so a callback Viber repeats after our restart is
        not handled twice."""
        async with self._one_at_a_time(address):  # first, so that her messages keep order
            if isinstance(token, (int, str)) and not isinstance(token, bool):
                token_hash = hashlib.sha256(f"viber\x00{token}".encode()).hexdigest()
                async with runtime.sessionmaker() as db:
                    first = await queries.first_sighting(db, token_hash,
                                                         runtime.services.clock(),
                                                         SEEN_TOKEN_KEEP)
                    await db.commit()
                if not first:
                    return
            outcome = await runtime.core.handle(inbound)
            await self._answer(runtime, address, outcome)

    async def _conversation_started(self, runtime: Runtime, event: dict[str, Any]
                                    ) -> web.Response:
        """She opened the chat. Viber lets the answer carry one free welcome message: we answer
        with the core's /start screen (the language choice), so the first thing she sees is the
        quick exit and her language, without having to type anything first."""
        person = event.get("user")
        address = _address(person.get("id") if isinstance(person, dict) else None)
        if address is None:
            return web.Response(status=200)
        context = event.get("context")
        text = "/start"
        if isinstance(context, str) and CONTEXT_RE.match(context):
            text += " " + context  # a deep link (viber://pa?chatURI=...&context=ev-12)
        inbound = Inbound(Channel.VIBER, address, text=text, language_hint=_language(person))
        task = self._spawn(self._handle(runtime, address, inbound))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(task), WELCOME_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("viber welcome took too long; answered without it")
            return web.Response(status=200)
        if outcome is None:
            return web.Response(status=200)
        welcome = Reply("\n\n".join(r.text for r in outcome.replies if r.text.strip()),
                        merged_rows(outcome.replies))
        messages = render([welcome], exit_=outcome.exit)
        if len(messages) != 1:
            return web.Response(status=200)
        return web.Response(text=json.dumps(messages[0], ensure_ascii=False),
                            content_type="application/json")

    async def _handle(self, runtime: Runtime, address: str, inbound: Inbound) -> Outcome:
        async with self._one_at_a_time(address):
            return await runtime.core.handle(inbound)

    async def _answer(self, runtime: Runtime, address: str, outcome: Outcome) -> None:
        """Replies to what she just sent (inside her own conversation, not bot-initiated)."""
        client = self.client
        if client is None:
            return
        for payload in render(outcome.replies, exit_=outcome.exit):
            try:
                await client.send_message({"receiver": address, **payload})
            except RecipientGone:
                await self._set_active(runtime, address, False)
                return
            except DeliveryFailed as exc:
                log.warning("viber reply not delivered (%s)", exc)
                return

    async def _set_active(self, runtime: Runtime, address: str, active: bool) -> None:
        """unsubscribed: stop every message to her; subscribed again: she may get them again."""
        key = runtime.vault.lookup_hash(Channel.VIBER, address)
        async with runtime.sessionmaker() as db, db.begin():
            user = (await db.execute(select(User).where(User.lookup_hash == key))
                    ).scalar_one_or_none()
            if user is None or user.active == active:
                return
            user.active = active
        if not active:
            await runtime.store.drop(key)
        log.info("viber user %s; marked %s", "subscribed" if active else "unsubscribed",
                 "active" if active else "inactive")

    # -- helpers ---------------------------------------------------------------------------------
    def _already_seen(self, token: object) -> bool:
        """Viber may deliver a callback twice; the message token (not her words) tells us."""
        if not isinstance(token, (int, str)) or isinstance(token, bool):
            return False
        if token in self._seen:
            return True
        self._seen[token] = None
        if len(self._seen) > SEEN_TOKENS:
            self._seen.popitem(last=False)
        return False

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T | None]:
        task = asyncio.create_task(self._guarded(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @staticmethod
    async def _guarded(coro: Coroutine[Any, Any, T]) -> T | None:
        try:
            return await coro
        except Exception as exc:  # noqa: BLE001 - one event must never take the bot down
            # Only the type: an exception's message can carry what she typed.
            log.error("viber event failed: %s", type(exc).__name__)
            return None

    @asynccontextmanager
    async def _one_at_a_time(self, address: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(address, (asyncio.Lock(), 0))
        self._locks[address] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[address]
            if users == 1:
                del self._locks[address]
            else:
                self._locks[address] = (lock, users - 1)


VIBER = web.AppKey("viber", ViberChannel)


def install(app: web.Application, settings: Settings) -> None:
    """Add this channel's routes and lifecycle when its token is set."""
    if not settings.viber_token:
        return
    channel = ViberChannel(settings)
    app[VIBER] = channel
    app.router.add_post(WEBHOOK_PATH, channel.webhook)
    app.cleanup_ctx.append(channel.lifecycle)
