"""`python -m bot status`: what the running server says about itself (/healthz), and for Viber
what Viber has on file (get_account_info's webhook), printed for a person on the server."""
from __future__ import annotations

import aiohttp

from bot.channels.viber.adapter import WEBHOOK_PATH
from bot.channels.viber.client import AUTH_HEADER, AccountRefused, ViberClient
from bot.core.channels import DeliveryFailed
from bot.core.settings import Settings

TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)


async def report_status(settings: Settings, health_url: str) -> tuple[list[str], bool]:
    lines: list[str] = []
    healthy = True
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        try:
            async with http.get(health_url) as resp:
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            lines.append(f"bot: not reachable at {health_url} ({type(exc).__name__})")
            body, healthy = None, False
        if isinstance(body, dict):
            lines.append("bot: running" if body.get("running") else "bot: starting or stopping")
            healthy = healthy and bool(body.get("ok"))
            for name, state in sorted((body.get("channels") or {}).items()):
                lines.append(f"{name}: {describe(state)}")
    if settings.viber_token:
        line, ok = await viber_on_file(settings)
        lines.append(line)
        healthy = healthy and ok
    return lines, healthy


def describe(state: dict[str, object]) -> str:
    if not state.get("configured"):
        return "off"
    words = ["healthy" if state.get("healthy", True) else "NOT healthy"]
    if "registered" in state:
        words.append("webhook registered" if state["registered"]
                     else f"webhook NOT registered ({state.get('webhook_failures', 0)} failed "
                          "attempts)")
    if state.get("paused"):
        words.append(f"sending paused: Viber status {state.get('refused_status')} "
                     f"until {state.get('paused_until')}")
    for key, label in (("bot_initiated_sent", "bot-initiated sent"), ("paid_sent", "paid"),
                       ("failed_events", "failed on phones")):
        if key in state:
            words.append(f"{label}: {state[key]}")
    return ", ".join(words)


async def viber_on_file(settings: Settings) -> tuple[str, bool]:
    """Viber's own view: does the token work, and which webhook does it call?"""
    expected = settings.public_url + WEBHOOK_PATH
    async with aiohttp.ClientSession(headers={AUTH_HEADER: settings.viber_token},
                                     timeout=TIMEOUT) as http:
        try:
            info = await ViberClient(http, settings.viber_api_base_url).get_account_info()
        except AccountRefused as exc:
            return f"viber account: refused (status {exc.status}, {exc.status_message})", False
        except DeliveryFailed as exc:
            return f"viber account: not reachable ({exc})", False
    webhook = info.get("webhook")
    if webhook == expected:
        return f"viber account: ok, webhook on file is {expected}", True
    return (f"viber account: ok, but the webhook on file is {webhook or '(none)'}, "
            f"not {expected}"), False
