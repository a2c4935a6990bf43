"""The web chat (docs/ARCHITECTURE.md section 5): a JSON endpoint and a page with no third-party code.

The session id is the page's random secret and the person's address on this channel; the page keeps
it only in memory. Messages for her that arrive between her requests (a caseworker's answer) wait
in a small in-memory outbox and leave with her next request or poll.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from aiohttp import web

from bot.core.channels import Capabilities, ChannelHost, ExitErasure
from bot.core.httputil import read_limited
from bot.core.i18n import N_, _, current_language, is_rtl, normalise_language, use_language
from bot.core.settings import Settings
from bot.core.types import Channel, Inbound, Outcome, Reply

log = logging.getLogger(__name__)

SESSION_RE = re.compile(r"[0-9a-f]{32,128}")  # always fullmatch: "$" allows a "\n"
MAX_BODY_BYTES = 16 * 1024
OUTBOX_LIMIT = 50
MAX_OUTBOXES = 10_000
STATIC_FILES = {"chat.js": "application/javascript", "chat.css": "text/css"}
SECURITY_HEADERS = {
    # No third-party scripts, fonts, frames or trackers; nothing cached; no referrer leaks.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class RateLimiter:
    """A token bucket per key (a session, or a client's address; held only in memory): a person
    presses a button every few seconds; a script that floods the endpoint gets a calm 429."""

    def __init__(self, rate_per_second: float = 5.0, burst: int = 40, max_keys: int = 50_000,
                 clock: Any = time.monotonic) -> None:
        self.rate, self.burst, self.max_keys, self.clock = rate_per_second, burst, max_keys, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed: bool = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed


def render_reply(reply: Reply) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "text": reply.text,
        "buttons": [[{"label": b.label, "action": b.action} for b in row]
                    for row in reply.buttons],
    }
    if reply.secret:
        # A prompt for her code word: the page takes the next input as a password and draws
        # no bubble for it.
        rendered["secret"] = True
    return rendered


class WebChatSender:
    """Outgoing messages for a web chat session wait here until the page asks. A box nobody
    fetched within the session's lifetime belongs to a page that was closed: it is dropped, so a
    relayed message does not stay in memory until newer boxes push it out."""

    name = Channel.WEBCHAT.value

    def __init__(self, ttl_seconds: float = 1800,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl_seconds, clock
        # address -> (last time a message was added, the messages); oldest touch first
        self._outboxes: OrderedDict[str, tuple[float, deque[dict[str, Any]]]] = OrderedDict()

    def _drop_expired(self, now: float) -> None:
        while self._outboxes:
            address, (touched, _box) = next(iter(self._outboxes.items()))
            if now - touched < self.ttl:
                break
            del self._outboxes[address]

    async def send(self, address: str, replies: Sequence[Reply], *,
                   notification: bool) -> list[str]:
        now = self.clock()
        self._drop_expired(now)
        _touched, box = self._outboxes.pop(address, (now, None))
        if box is None:
            if len(self._outboxes) >= MAX_OUTBOXES:
                self._outboxes.popitem(last=False)
            box = deque(maxlen=OUTBOX_LIMIT)
        box.extend(render_reply(r) for r in replies)
        self._outboxes[address] = (now, box)  # to the end: the order stays by last touch
        return []  # nothing on a server to delete later: the page holds the only copy

    async def delete(self, address: str, refs: Sequence[str]) -> None:
        self._outboxes.pop(address, None)

    def take(self, address: str) -> list[dict[str, Any]]:
        self._drop_expired(self.clock())
        _touched, box = self._outboxes.pop(address, (0.0, None))
        return list(box) if box else []

    def forget(self, address: str) -> None:
        self._outboxes.pop(address, None)


def _hint(request: web.Request) -> str | None:
    header = request.headers.get("Accept-Language", "")
    for part in header.split(","):
        lang = normalise_language(part.split(";", 1)[0].strip())
        if lang:
            return lang
    return None


def _error(request: web.Request, status: int, message: str) -> web.Response:
    with use_language(_hint(request)):
        text = _(message)
    return web.json_response({"error": text}, status=status, headers=SECURITY_HEADERS)


# Nothing stays on a server to delete: the page holds the only copy and wipes itself on exit.
CAPABILITIES = Capabilities(
    deletes_messages=False, delete_window=None, max_text_chars=MAX_BODY_BYTES // 4,
    max_buttons_per_row=8, max_label_chars=64, paid_bot_initiated=False,
    exit_erasure=ExitErasure.WIPE_PAGE, addresses_outlive_sessions=False,
    hides_secret_input=True)
DEFAULT_EXIT_URL = "https://www.google.com/search?q=weather"


def _too_fast(request: web.Request) -> web.Response:
    return _error(request, 429, N_("You are sending messages very fast. Please wait a "
                                   "few seconds and try again."))


class WebChat:
    """The web chat ChannelAdapter. The routes are registered before start-up; the host is
    handed over once it is open."""

    name = Channel.WEBCHAT.value
    capabilities = CAPABILITIES

    def __init__(self, sender: WebChatSender, exit_url: str = DEFAULT_EXIT_URL) -> None:
        self.sender = sender
        self.exit_url = exit_url
        self.host: ChannelHost | None = None
        # Per session: one page that floods is slowed, nobody else. Per client: a script that
        # makes a new session for every request. The client is request.remote, which is the
        # connecting address, or the one the trusted proxy named (TRUSTED_PROXIES, bot/app.py);
        # a shelter's shared connection has several women behind it, hence the larger bucket.
        self.limiter = RateLimiter()
        self.client_limiter = RateLimiter(rate_per_second=20.0, burst=200)

    async def start(self, host: ChannelHost) -> None:
        host.add_sender(self.sender, CAPABILITIES)
        self.host = host

    def health(self) -> dict[str, object]:
        return {"configured": True, "healthy": self.host is not None}

    async def stop(self) -> None:
        if self.host is not None:
            self.host.remove_sender(self.sender)
        self.host = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/webchat", self.redirect_page),
            web.get("/webchat/", self.page),
            web.get("/webchat/static/{name}", self.static),
            web.post("/webchat/api/messages", self.messages),
        ]

    async def redirect_page(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/webchat/")

    async def page(self, request: web.Request) -> web.Response:
        html = resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8")
        html = html.replace("{{EXIT_URL}}", json.dumps(self.exit_url)[1:-1])
        return web.Response(text=html, content_type="text/html", headers=SECURITY_HEADERS)

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        body = resources.files(__package__).joinpath(f"static/{name}").read_bytes()
        return web.Response(body=body, content_type=STATIC_FILES[name], headers=SECURITY_HEADERS)

    async def messages(self, request: web.Request) -> web.Response:
        # The size limit comes first; then the body is parsed only so that a quick exit is never
        # refused by the rate limiter (leaving must work even for a page that pressed too fast).
        raw = await read_limited(request, MAX_BODY_BYTES)
        if raw is None:
            return _error(request, 413, N_("That message is too long."))
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # 5,000 nested "[" exhaust the parser's stack
            body = None
        leaving = isinstance(body, dict) and body.get("action") == "exit"
        if not leaving and not self.client_limiter.allow(request.remote or "-"):
            return _too_fast(request)
        if not isinstance(body, dict):
            return _error(request, 400, N_("Sorry, that request could not be read."))
        session = body.get("session")
        if not isinstance(session, str) or not SESSION_RE.fullmatch(session):
            return _error(request, 400, N_("Sorry, this chat session is not valid. "
                                           "Please reload the page."))
        if not leaving and not self.limiter.allow(session):
            return _too_fast(request)
        text, action = body.get("text"), body.get("action")
        if body.get("poll") is True and text is None and action is None:
            # A poll runs no core, so the language here is not hers: leave lang/dir/ui out (the
            # page keeps what it has) instead of switching an Arabic page to English every 8 s.
            return self._respond(self.sender.take(session), exit_=False, language=False)
        value = text if action is None else action
        if (text is None) == (action is None) or not isinstance(value, str):
            return _error(request, 400, N_("Sorry, that request could not be read."))
        if self.host is None:
            return _error(request, 503, N_("Sorry, the chat is starting. Please try "
                                           "again in a moment."))
        inbound = Inbound(channel=Channel.WEBCHAT, address=session, text=text, action=action,
                          language_hint=_hint(request), client=request.remote)
        outcome: Outcome = await self.host.handle(inbound)
        if outcome.exit:
            self.sender.forget(session)
            return self._respond([render_reply(r) for r in outcome.replies], exit_=True)
        queued = self.sender.take(session)
        return self._respond(queued + [render_reply(r) for r in outcome.replies], exit_=False)

    def _respond(self, replies: list[dict[str, Any]], *, exit_: bool,
                 language: bool = True) -> web.Response:
        payload: dict[str, Any] = {"replies": replies, "exit": exit_}
        if language:
            lang = current_language()
            payload["lang"], payload["dir"] = lang, "rtl" if is_rtl(lang) else "ltr"
            # The page's own labels, in her language (the page ships no text of its own).
            payload["ui"] = {"title": _("Chat"), "exit": "✖ " + _("Quick exit"),
                             "send": _("Send"), "placeholder": _("Write a message")}
        return web.json_response(payload, headers=SECURITY_HEADERS)


def from_settings(settings: Settings, exit_url: str = DEFAULT_EXIT_URL) -> WebChat | None:
    """The web chat, unless it is turned off."""
    if not settings.webchat_enabled:
        return None
    return WebChat(WebChatSender(ttl_seconds=settings.session_ttl_seconds), exit_url)
