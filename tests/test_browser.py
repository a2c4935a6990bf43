"""The web chat page in headless Chromium (Debian's /usr/bin/chromium): press buttons, read the
Arabic screen right to left, quick exit wipes the page and leaves without a history entry."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator

import pytest

from bot.core.settings import Settings
from tests.conftest import make_settings, require_service
from tests.http import serve

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]

pytestmark = pytest.mark.browser


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the page does not depend on the database; one backend is enough here


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    require_service("Chromium", os.path.exists(CHROMIUM))  # noqa: ASYNC240 - once, at set-up
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="wego-chromium-")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield context
        finally:
            await context.close()
            shutil.rmtree(profile, ignore_errors=True)


def exit_requests(page) -> list[dict]:  # noqa: ANN001
    """Record the bodies of the page's requests that ask the server for a quick exit."""
    import json

    seen: list[dict] = []

    def on_request(req) -> None:  # noqa: ANN001
        if req.url.endswith("/webchat/api/messages") and req.post_data:
            body = json.loads(req.post_data)
            if body.get("action") == "exit":
                seen.append(body)

    page.on("request", on_request)
    return seen


@pytest.fixture
def page_settings(database_url: str) -> Settings:
    return make_settings(database_url, demo_data="on")


async def test_click_through_to_help_and_quick_exit(browser, page_settings: Settings) -> None:  # noqa: ANN001
    async with serve(page_settings, exit_url="/healthz?left=1") as (base, _app):
        page = await browser.new_page()
        await page.goto(f"{base}/healthz")  # a page before the chat, to check the history
        exits = exit_requests(page)
        await page.goto(f"{base}/webchat/")
        await page.get_by_role("button", name="English").click()
        await page.locator("button[data-action='safe:ok']").last.click()
        await page.locator("button[data-action='region:catalonia']").last.click()
        await page.locator("button[data-action='help']").last.click()
        # (CSP forbids eval, so wait with locators, not with wait_for_function strings)
        await page.locator(".bubble.bot", has_text="900 900 120").wait_for()
        log_text = await page.inner_text("#log")
        assert "016" in log_text and "Source:" in log_text
        await page.fill("#text", "a private note")
        await page.press("#text", "Enter")
        await page.locator(".bubble.bot", has_text="did not understand").wait_for()
        await page.click("#quick-exit")
        await page.wait_for_url("**/healthz?left=1")
        assert len(exits) == 1  # the button tells the server once (a beacon) and leaves
        assert "a private note" not in await page.content()
        await page.go_back()
        # location.replace left no history entry for the chat: back goes to the page before it.
        assert page.url == f"{base}/healthz"


async def test_arabic_renders_right_to_left_and_exit_word(browser, page_settings: Settings  # noqa: ANN001
                                                         ) -> None:
    async with serve(page_settings, exit_url="/healthz?left=1") as (base, _app):
        page = await browser.new_page()
        exits = exit_requests(page)
        await page.goto(f"{base}/webchat/")
        await page.locator("button[data-action='lang:ar']").click()
        await page.locator("html[dir='rtl']").wait_for(state="attached")
        assert await page.evaluate("document.documentElement.lang") == "ar"
        direction = await page.evaluate(
            "getComputedStyle(document.querySelector('.bubble.bot:last-of-type')).direction")
        assert direction == "rtl"
        await page.fill("#text", "خروج")
        await page.press("#text", "Enter")
        await page.wait_for_url("**/healthz?left=1")
        await page.goto(f"{base}/healthz?after=1")  # any beacon was sent before this
        # The server already ended the session on the exit word: no second exit request.
        assert exits == []


async def test_page_loads_nothing_from_elsewhere(browser, page_settings: Settings) -> None:  # noqa: ANN001
    async with serve(page_settings) as (base, _app):
        page = await browser.new_page()
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        await page.goto(f"{base}/webchat/")
        await page.wait_for_selector("button[data-action='lang:en']")
        assert requests and all(url.startswith(base) for url in requests), requests
        cookies = await browser.cookies()
        assert cookies == []
        storage = await page.evaluate("[localStorage.length, sessionStorage.length]")
        assert storage == [0, 0]
