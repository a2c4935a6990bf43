"""The Viber channel: POST /webhooks/viber in, the REST Bot API out (our own aiohttp client).

Path of a callback: size limit -> HMAC-SHA256 of the raw body checked in constant time, before any
parsing -> 200 at once -> the event is handled in a background task whose reference we keep (and
await on shutdown). Events of one person are handled one at a time, in arrival order.

Viber has no inline buttons: a keyboard button sends its ActionBody as a text message. Every
ActionBody starts with ACTION_MARKER, so the core gets `Inbound.action` for a press and
`Inbound.text` for anything typed; a typed imitation of a payload reaches the core as an action
and is checked like any forged payload (docs/ARCHITECTURE.md 2.8).

Quick exit: Viber has no delete API. The cover message goes out with a neutral keyboard that
replaces the menu (the app always shows the last keyboard it received), and nothing more is said.

Errors by scope (the table is in viber_client): an account-wide refusal starts an Outage that
stops every bot-initiated send at once (ChannelPaused) until it is tried again and passes; one
ERROR, and the coordinators are told. Bulk sends use broadcast_message (ViberSender.send_batch).
Start-up refuses a set-up that could never receive anything (no https PUBLIC_URL, a refused
token); set_webhook is retried for as long as it fails; health() feeds /healthz.
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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.channels.viber.client import (
    AUTH_HEADER,
    MAX_BROADCAST_RECEIVERS,
    MAX_REQUEST_BYTES,
    STATUS_GONE,
    STATUS_INVALID_TOKEN,
    STATUS_RATE,
    STATUS_WEBHOOK_NOT_SET,
    AccountRefused,
    ViberClient,
    billed,
    failed_receivers,
    status_message_of,
    status_of,
)
from bot.core.channels import (
    BatchResult,
    Capabilities,
    ChannelHost,
    ChannelPaused,
    DeliveryFailed,
    ExitErasure,
    RateLimited,
    RecipientGone,
)
from bot.core.httputil import read_limited
from bot.core.i18n import N_, _
from bot.core.settings import DEFAULT_VIBER_SENDER_NAME, Settings, SettingsError
from bot.core.types import Button, Channel, Inbound, Outcome, Reply, Rows
from bot.core.ui import EXIT_ACTION, exit_button

log = logging.getLogger(__name__)
T = TypeVar("T")

WEBHOOK_PATH = "/webhooks/viber"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
MAX_BODY_BYTES = 64 * 1024  # a 7000-character message in any script fits well below this
# The name shown in her chat list and on her lock screen (VIBER_SENDER_NAME): neutral.
SENDER_NAME = DEFAULT_VIBER_SENDER_NAME
# Starts every ActionBody; a person does not type this by accident, and it is stripped again.
ACTION_MARKER = "act:"
# Everything we send works from API level 1, except the keyboard's Silent key (a press is not
# shown as her message), which Viber documents for Viber 6.7 and later: API level 2, the level its
# docs give for the other 6.7 feature, rich media. A message with Silent keys says so in
# min_api_version; to a client known to be older the keys go without Silent.
MIN_API_VERSION = 1
SILENT_MIN_API_VERSION = 2
MAX_TEXT_CHARS = 7000
MAX_TEXT_BYTES = 16 * 1024  # leaves room for the keyboard inside the 30 KB request limit
MAX_ROWS = 12
MAX_LABEL_CHARS = 100
GRID_COLUMNS = 6
KEYBOARD_BG = "#FFFFFF"
BUTTON_BG = "#EEEEEE"
EXIT_BG = "#B3261E"  # the quick exit stands out on every screen
EXIT_FG = "#FFFFFF"
# message, subscribed and unsubscribed always come; `failed` (a message that passed the API but
# failed on her phone) is counted; delivered and seen would only be noise.
WEBHOOK_EVENTS = ("conversation_started", "subscribed", "unsubscribed", "failed")
WEBHOOK_FIRST_DELAY = 0.5
# set_webhook is retried for as long as it fails (a proxy warming up, a DNS change), never more
# than this far apart, and the failure is logged again every WEBHOOK_LOG_EVERY attempts.
WEBHOOK_MAX_DELAY = 60.0
WEBHOOK_LOG_EVERY = 10
# A reply refused with status 12 is sent once more after this pause, outside her lock.
REPLY_RATE_PAUSE = 2.0
# After an account-wide refusal, bot-initiated sends wait this long before the next try.
ACCOUNT_PAUSE = timedelta(minutes=10)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_ADDRESS_CHARS = 128
CONTEXT_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SEEN_TOKENS = 2048
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


def _button(button: Button, columns: int, silent: bool) -> dict[str, Any]:
    label = html.escape(button.label[:MAX_LABEL_CHARS], quote=False)
    is_exit = button.action == EXIT_ACTION
    key = {
        "Columns": columns,
        "Rows": 1,
        "ActionType": "reply",
        "ActionBody": ACTION_MARKER + button.action,
        "Text": f'<font color="{EXIT_FG}"><b>{label}</b></font>' if is_exit else label,
        "TextSize": "regular",
        "BgColor": EXIT_BG if is_exit else BUTTON_BG,
    }
    if silent:
        # The press is not shown as a message of hers, so it leaves no trace in the chat.
        key["Silent"] = True
    return key


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


def keyboard(rows: Rows, max_rows: int = MAX_ROWS, *, silent: bool = True) -> dict[str, Any]:
    buttons = [_button(b, span, silent) for row in fit_rows(rows, max_rows)
               for b, span in zip(row, _spans(len(row)), strict=True)]
    return {"Type": "keyboard", "DefaultHeight": False, "BgColor": KEYBOARD_BG, "Buttons": buttons}


def neutral_keyboard(*, silent: bool = True) -> dict[str, Any]:
    """After a quick exit: replaces the menu with one blank key that does nothing."""
    key: dict[str, Any] = {"Columns": GRID_COLUMNS, "Rows": 1, "ActionType": "none",
                           "ActionBody": "none", "Text": " ", "BgColor": KEYBOARD_BG}
    if silent:
        key["Silent"] = True
    return {"Type": "keyboard", "DefaultHeight": False, "BgColor": KEYBOARD_BG, "Buttons": [key]}


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


@dataclass(frozen=True)
class Identity:
    """sender.name (at most 28 characters) and the optional avatar URL, from the settings."""

    name: str = SENDER_NAME
    avatar: str = ""

    def as_sender(self) -> dict[str, str]:
        sender = {"name": self.name[:28]}
        if self.avatar:
            sender["avatar"] = self.avatar
        return sender


def _message(text: str, identity: Identity) -> dict[str, Any]:
    # No tracking_data: it would come back with her next message and must never hold her words.
    return {"min_api_version": MIN_API_VERSION, "sender": identity.as_sender(),
            "type": "text", "text": text if text.strip() else "…"}


def request_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def render(replies: Sequence[Reply], *, exit_: bool = False, identity: Identity = Identity(),
           silent: bool = True, room: int = 256) -> list[dict[str, Any]]:
    """The send_message payloads (without receiver) for an answer; the keyboard goes on the last.
    `silent` says whether her client takes Silent keys; `room` is left for the receiver(s)."""
    texts = [chunk for reply in replies if reply.text.strip() for chunk in split_text(reply.text)]
    if not replies:
        return []
    messages = [_message(t, identity) for t in texts or [""]]
    last = messages[-1]
    if silent:
        last["min_api_version"] = SILENT_MIN_API_VERSION  # the keyboard's Silent keys need it
    if exit_:
        last["keyboard"] = neutral_keyboard(silent=silent)
        return messages
    rows = merged_rows(replies)
    if not rows:
        last["min_api_version"] = MIN_API_VERSION
        return messages
    # A very long menu loses rows from its middle, never the exit.
    for max_rows in range(MAX_ROWS, 0, -1):
        last["keyboard"] = keyboard(rows, max_rows, silent=silent)
        if request_size(last) + room <= MAX_REQUEST_BYTES:
            break
    return messages


# -- the account-wide state: refused, paused, resumed ---------------------------------------------
ACCOUNT_REASONS: dict[int, str] = {
    2: N_("Viber does not accept the bot's token (VIBER_TOKEN)."),
    7: N_("Viber has blocked the bot account."),
    8: N_("Viber cannot find the bot account."),
    9: N_("Viber has suspended the bot account."),
    10: N_("The bot's webhook is not registered with Viber."),
    15: N_("Viber has not authorised the bot account."),
    23: N_("The bot account's free Viber messages are used up."),
    24: N_("The bot account's prepaid Viber balance is used up."),
}


def outage_alert(status: int) -> list[Reply]:
    """What the coordinators read (built in each one's language)."""
    reason = ACCOUNT_REASONS.get(status)
    parts = [_("Viber has stopped sending for the whole bot (status {status}).", status=status),
             _(reason) if reason else "",
             _("Broadcasts and reminders to Viber users are paused and resume by themselves "
               "once this is fixed. Nobody is counted as reached who was not. Please check the "
               "bot account and its billing in the Viber Partners panel.")]
    return [Reply("\n\n".join(part for part in parts if part))]


@dataclass
class Outage:
    """The account-wide refusal in force, if any. While it lasts, bot-initiated sends on Viber
    stop at once without asking Viber; when the pause ends, the next send tries again, and the
    first one that passes ends the outage. One ERROR is logged per outage, not per refusal."""

    clock: Callable[[], datetime]
    on_start: Callable[[int], None]
    pause: timedelta = ACCOUNT_PAUSE
    status: int | None = None
    until: datetime | None = None
    refusals: int = 0

    def check(self) -> None:
        if self.until is not None and self.clock() < self.until:
            raise ChannelPaused(f"viber paused (status {self.status})", until=self.until)

    def begin(self, exc: AccountRefused) -> ChannelPaused:
        first = self.status is None
        self.refusals += 1
        self.status = exc.status
        self.until = self.clock() + self.pause
        if first:
            log.error("Viber refused the bot account: status %s (%s). Every bot-initiated "
                      "Viber message is paused and tried again every %d minutes; the "
                      "coordinators are told in the chat.", exc.status, exc.status_message,
                      int(self.pause.total_seconds() // 60))
            self.on_start(exc.status)
        else:
            log.info("viber still refuses the bot account (status %s, %s); paused again",
                     exc.status, exc.status_message)
        return ChannelPaused(str(exc), until=self.until)

    def end(self) -> None:
        if self.status is None:
            return
        log.info("viber accepts the bot account again after status %s (%d refusals): "
                 "sending resumes", self.status, self.refusals)
        self.status = self.until = None
        self.refusals = 0


# -- sending to someone who did not just write (relays, reminders, broadcasts) ---------------------
def _room_for(addresses: Sequence[str]) -> int:
    """Bytes the broadcast_list adds to a request: each id quoted, with a comma."""
    return sum(len(a.encode("utf-8")) + 3 for a in addresses) + 64


class ViberSender:
    """The ChannelSender (and BatchSender) for Viber. Messages the bot starts are paid on Viber:
    they are counted, and what Viber billed (billing_status) is counted apart."""

    name = Channel.VIBER.value
    batch_limit = MAX_BROADCAST_RECEIVERS

    def __init__(self, client: ViberClient, outage: Outage, identity: Identity) -> None:
        self.client = client
        self.outage = outage
        self.identity = identity
        self.bot_initiated = 0
        self.paid = 0

    async def _checked(self, call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        try:
            body = await call
        except AccountRefused as exc:
            raise self.outage.begin(exc) from None
        self.outage.end()
        return body

    def _count(self, sent: int, billed_now: bool | None) -> int:
        # No billing_status in the answer: a bot-initiated message is assumed paid.
        paid = 0 if billed_now is False else sent
        self.bot_initiated += sent
        self.paid += paid
        if sent:
            log.info("viber: %d bot-initiated message(s) sent (%d paid), %d since start "
                     "(%d paid; Viber bills bot-initiated messages)", sent, paid,
                     self.bot_initiated, self.paid)
        return paid

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        # Viber has no silent delivery; the neutral first line (bot.core.notify.discreet) protects her.
        self.outage.check()
        for payload in render(replies, identity=self.identity):
            body = await self._checked(self.client.send_message({"receiver": address,
                                                                 **payload}))
            self._count(1, billed(body))
        return []  # Viber cannot delete messages, so there is nothing to remember

    async def send_batch(self, addresses: Sequence[str], replies: Sequence[Reply]
                         ) -> BatchResult:
        """broadcast_message to up to 300 people; failed_list says who did not get it."""
        self.outage.check()
        result = BatchResult()
        remaining = list(addresses)
        for part, payload in enumerate(render(replies, identity=self.identity,
                                              room=_room_for(addresses))):
            try:
                body = await self._checked(self.client.broadcast_message(payload, remaining))
            except DeliveryFailed:
                if part == 0:
                    raise
                # The first part reached them: the rest of a long message is lost, not resent.
                log.warning("viber: the rest of a long broadcast message was not delivered")
                break
            for receiver, status in failed_receivers(body):
                if receiver not in remaining:
                    continue
                if status in STATUS_GONE:
                    result.gone.add(receiver)
                elif status == STATUS_RATE:
                    result.postponed.add(receiver)
                else:
                    result.failed.add(receiver)
            remaining = [a for a in remaining if a not in result.gone | result.postponed
                         | result.failed]
            result.paid += self._count(len(remaining), billed(body))
            if not remaining:
                break
        return result

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


def _takes_silent(person: object) -> bool:
    """Her client's API level, where the event says it; unknown means a current client."""
    if isinstance(person, dict):
        level = person.get("api_version")
        if isinstance(level, int) and not isinstance(level, bool):
            return level >= SILENT_MIN_API_VERSION
    return True


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


# Viber has no delete API; a text may be 7,000 characters; a keyboard row has 6 columns.
CAPABILITIES = Capabilities(
    deletes_messages=False, delete_window=None, max_text_chars=MAX_TEXT_CHARS,
    max_buttons_per_row=GRID_COLUMNS, max_label_chars=MAX_LABEL_CHARS, paid_bot_initiated=True,
    exit_erasure=ExitErasure.RESET_KEYBOARD)


def check_public_url(settings: Settings) -> None:
    """Viber talks to bots only by webhook, over https: without one the bot would start deaf."""
    url = settings.public_url
    if not url:
        raise SettingsError(
            "VIBER_TOKEN is set but PUBLIC_URL is empty. Viber talks to bots only through a "
            "webhook: set PUBLIC_URL to this server's public https:// address (behind your "
            "reverse proxy; see README, Viber), or leave VIBER_TOKEN empty to run without Viber.")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        # Only a local stand-in of Viber can call a loopback address (the tests' fake API).
        log.warning("PUBLIC_URL is a plain-http loopback address: only a local test API can "
                    "reach it, never Viber")
        return
    raise SettingsError(
        "PUBLIC_URL must be an https:// address for Viber (Viber calls only https webhooks "
        "with a trusted certificate). Put the bot behind a reverse proxy with TLS and set "
        "PUBLIC_URL=https://your.domain")


class ViberChannel:
    """The Viber ChannelAdapter: the webhook route (registered before start-up) and the client."""

    name = Channel.VIBER.value
    capabilities = CAPABILITIES

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key = settings.viber_token.encode("utf-8")
        self.identity = Identity(settings.viber_sender_name, settings.viber_avatar_url)
        self.host: ChannelHost | None = None
        self._http: aiohttp.ClientSession | None = None
        self.client: ViberClient | None = None
        self.sender: ViberSender | None = None
        self.outage: Outage | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._seen: OrderedDict[object, None] = OrderedDict()
        self._webhook_task: asyncio.Task[None] | None = None
        # Injectable for tests (a webhook that fails for minutes, without waiting minutes).
        self.sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
        self.registered = False
        self.webhook_failures = 0
        self.failed_events = 0
        self.account_name = ""

    # -- lifecycle ---------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)]

    async def start(self, host: ChannelHost) -> None:
        timeout = aiohttp.ClientTimeout(total=15, connect=5)
        self._http = aiohttp.ClientSession(headers={AUTH_HEADER: self.settings.viber_token},
                                           timeout=timeout)
        try:
            self.client = ViberClient(self._http, self.settings.viber_api_base_url)
            self.outage = Outage(clock=host.now,
                                 on_start=lambda status: self._on_outage(host, status))
            await self._check_account(self.client, self.outage)
        except BaseException:
            await self._http.close()
            self._http = None
            raise
        self.sender = ViberSender(self.client, self.outage, self.identity)
        host.add_sender(self.sender, CAPABILITIES)
        self.host = host
        self._start_registration()

    async def stop(self) -> None:
        host, self.host = self.host, None  # new callbacks get 503 (Viber retries them)
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
        await self.drain()
        if host is not None and self.sender is not None:
            host.remove_sender(self.sender)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.client = self.sender = None

    async def _check_account(self, client: ViberClient, outage: Outage) -> None:
        """get_account_info at start: a wrong token refuses to start, with what to do."""
        try:
            info = await client.get_account_info()
        except AccountRefused as exc:
            if exc.status == STATUS_INVALID_TOKEN:
                raise SettingsError(
                    "Viber refused VIBER_TOKEN (status 2, invalidAuthToken). Copy the bot's "
                    "token again from the Viber Partners panel (or the bot's Edit Info screen) "
                    "into VIBER_TOKEN.") from None
            outage.begin(exc)  # blocked or unpaid: start, pause Viber, tell the coordinators
            return
        except DeliveryFailed as exc:
            # Viber unreachable right now: start anyway; the webhook registration keeps trying.
            log.warning("viber get_account_info failed at start (%s); carrying on", exc)
            return
        name = info.get("name")
        self.account_name = name[:64] if isinstance(name, str) else ""
        log.info("viber bot account checked")

    def _start_registration(self) -> None:
        if not self.settings.public_url or (self._webhook_task is not None
                                            and not self._webhook_task.done()):
            return
        self.registered = False
        self._webhook_task = asyncio.create_task(
            self._register_webhook(self.settings.public_url + WEBHOOK_PATH))

    def _on_outage(self, runtime: ChannelHost, status: int) -> None:
        """First refusal of an outage: tell the coordinators; a lost webhook is registered
        again."""
        if status == STATUS_WEBHOOK_NOT_SET:
            self._start_registration()
        self._spawn(runtime.tell_coordinators(lambda: outage_alert(status),
                                              not_on_channel=Channel.VIBER.value))

    async def drain(self) -> None:
        """Wait for the events being handled (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def _register_webhook(self, url: str) -> None:
        # Viber checks the URL by calling it before set_webhook answers, and start-up hooks run
        # before the server listens: so register from a task, and keep trying for as long as it
        # fails (a proxy or certificate being fixed), at most WEBHOOK_MAX_DELAY apart.
        delay = WEBHOOK_FIRST_DELAY
        while True:
            await self.sleep(delay)
            delay = min(delay * 2, WEBHOOK_MAX_DELAY)
            client = self.client
            if client is None:
                return
            try:
                answer = await client.set_webhook(url, WEBHOOK_EVENTS)
            except DeliveryFailed as exc:
                reason = str(exc)
            else:
                if status_of(answer) == 0:
                    self.registered = True
                    log.info("viber webhook registered at %s after %d failed attempt(s)", url,
                             self.webhook_failures)
                    self.webhook_failures = 0
                    return
                reason = f"status {status_of(answer)} ({status_message_of(answer)})"
            self.webhook_failures += 1
            if self.webhook_failures % WEBHOOK_LOG_EVERY == 1:
                log.error("viber webhook not registered at %s: %s (attempt %d; retrying every "
                          "%d s at most). Check PUBLIC_URL, the proxy and its certificate.",
                          url, reason, self.webhook_failures, int(WEBHOOK_MAX_DELAY))

    def health(self) -> dict[str, Any]:
        """For /healthz and `python -m bot status`: registered, and sending."""
        outage = self.outage
        paused = outage is not None and outage.status is not None
        sender = self.sender
        return {
            "configured": True,
            "registered": self.registered,
            "webhook_failures": self.webhook_failures,
            "account_checked": bool(self.account_name),
            "paused": paused,
            "refused_status": outage.status if outage is not None else None,
            "paused_until": (outage.until.isoformat()
                             if paused and outage is not None and outage.until else None),
            "failed_events": self.failed_events,
            "bot_initiated_sent": sender.bot_initiated if sender else 0,
            "paid_sent": sender.paid if sender else 0,
            "healthy": self.registered and not paused,
        }

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
        runtime = self.host
        if runtime is None:
            return web.Response(status=503)
        if kind == "conversation_started":
            return self._conversation_started(runtime, event)
        if kind == "message":
            self._on_message(runtime, event)
        elif kind in ("subscribed", "unsubscribed"):
            person = event.get("user")
            address = _address(person.get("id") if isinstance(person, dict)
                               else event.get("user_id"))
            if address is not None:
                self._spawn(self._set_active(runtime, address, kind == "subscribed"))
        elif kind == "failed":
            # Accepted by the API, refused by her phone: counted; `desc` and her id stay out.
            self.failed_events += 1
            log.info("viber reported a message that failed on the phone (%d since start)",
                     self.failed_events)
        # delivered, seen and anything newer: nothing to do, nothing to log.
        return web.Response(status=200)

    # -- events --------------------------------------------------------------------------------------
    def _on_message(self, runtime: ChannelHost, event: dict[str, Any]) -> None:
        sender = event.get("sender")
        address = _address(sender.get("id") if isinstance(sender, dict) else None)
        if address is None or self._already_seen(event.get("message_token")):
            return
        self._spawn(self._process(runtime, address, inbound_from_message(address, event),
                                  silent=_takes_silent(sender),
                                  token=event.get("message_token")))

    def _conversation_started(self, runtime: ChannelHost, event: dict[str, Any]) -> web.Response:
        """She opened the chat. Viber lets the answer carry one free welcome message: the
        language choice, built at once without the database (Viber waits only a few seconds,
        and opening the chat is not a subscription: no row is written for it). A deep link
        (viber://pa?chatURI=...&context=ev-12) goes to the core as /start, to be remembered
        in her session for after the safety notice."""
        person = event.get("user")
        address = _address(person.get("id") if isinstance(person, dict) else None)
        if address is None:
            return web.Response(status=200)
        hint = _language(person)
        context = event.get("context")
        if isinstance(context, str) and CONTEXT_RE.match(context):
            inbound = Inbound(Channel.VIBER, address, text="/start " + context,
                              language_hint=hint)
            self._spawn(self._handle(runtime, address, inbound))
        welcome = runtime.welcome(Inbound(Channel.VIBER, address, text="/start",
                                          language_hint=hint))
        messages = render([welcome], identity=self.identity,
                          silent=_takes_silent(person))
        if len(messages) != 1:
            return web.Response(status=200)
        return web.Response(text=json.dumps(messages[0], ensure_ascii=False),
                            content_type="application/json")

    async def _handle(self, runtime: ChannelHost, address: str, inbound: Inbound) -> Outcome:
        async with self._one_at_a_time(address):
            return await runtime.handle(inbound)

    async def _process(self, runtime: ChannelHost, address: str, inbound: Inbound, *,
                       silent: bool = True, token: object = None) -> None:
        async with self._one_at_a_time(address):  # first, so that her messages keep order
            # The replay guard also remembers across restarts: the host keeps a hash of the
            # message token (no user data) for a week, so a callback Viber repeats after our
            # restart is not handled twice.
            if (isinstance(token, (int, str)) and not isinstance(token, bool)
                    and not await runtime.first_sighting(self.name, str(token))):
                return
            outcome = await runtime.handle(inbound)
            left = await self._answer(runtime, address, outcome, silent=silent)
        if left:
            # Status 12 on a reply: not retried within seconds inside her lock (her next
            # message waits for nothing); sent once more after a short pause.
            await self.sleep(REPLY_RATE_PAUSE)
            async with self._one_at_a_time(address):
                await self._send_reply(runtime, address, left, retry=False)

    async def _answer(self, runtime: ChannelHost, address: str, outcome: Outcome, *,
                      silent: bool = True) -> list[dict[str, Any]]:
        """Replies to what she just sent (inside her own conversation, not bot-initiated).
        Returns the messages still to send after a rate refusal."""
        payloads = render(outcome.replies, exit_=outcome.exit, identity=self.identity,
                          silent=silent)
        return await self._send_reply(runtime, address, payloads, retry=True)

    async def _send_reply(self, runtime: ChannelHost, address: str,
                          payloads: list[dict[str, Any]], *, retry: bool
                          ) -> list[dict[str, Any]]:
        client = self.client
        if client is None:
            return []
        for index, payload in enumerate(payloads):
            try:
                await client.send_message({"receiver": address, **payload})
            except RecipientGone:
                await self._set_active(runtime, address, False)
                return []
            except RateLimited:
                if retry:
                    return payloads[index:]
                log.warning("viber reply not delivered: still rate-limited after a pause")
                return []
            except AccountRefused as exc:
                if self.outage is not None:
                    self.outage.begin(exc)
                return []
            except DeliveryFailed as exc:
                log.warning("viber reply not delivered (%s)", exc)
                return []
            if self.outage is not None:
                self.outage.end()
        return []

    async def _set_active(self, runtime: ChannelHost, address: str, active: bool) -> None:
        """unsubscribed: stop every message to her; subscribed again: she may get them again."""
        await runtime.set_active(self.name, address, active)

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


def from_settings(settings: Settings) -> ViberChannel | None:
    """The channel when its token is set; refuses a set-up that could never receive anything
    (no https PUBLIC_URL)."""
    if not settings.viber_token:
        return None
    check_public_url(settings)
    return ViberChannel(settings)
