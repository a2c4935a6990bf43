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


# -- issue 11: numbers in Arabic, scrolling, accessibility ---------------------------------------

DIGIT_LEFTS = """(number) => {
  const bubble = Array.from(document.querySelectorAll('.bubble.bot')).pop();
  const walker = document.createTreeWalker(bubble, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(number);
    if (at < 0) { continue; }
    const lefts = [];
    for (let i = 0; i < number.length; i++) {
      if (number[i] === ' ') { continue; }
      const range = document.createRange();
      range.setStart(node, at + i);
      range.setEnd(node, at + i + 1);
      lefts.push(range.getBoundingClientRect().left);
    }
    return lefts;
  }
  return null;
}"""


async def test_arabic_help_numbers_keep_their_order_and_can_be_dialled(  # noqa: ANN001
        browser, page_settings: Settings) -> None:
    async with serve(page_settings) as (base, _app):
        page = await browser.new_page()
        await page.set_viewport_size({"width": 320, "height": 640})
        await page.goto(f"{base}/webchat/")
        await page.locator("button[data-action='lang:ar']").click()
        await page.locator("button[data-action='safe:ok']").last.click()
        await page.locator("button[data-action='region:bulgaria']").last.click()
        await page.locator("button[data-action='help']").last.click()
        await page.locator(".bubble.bot a.tel", has_text="0800 11 977").wait_for()
        for number in ("0800 11 977", "0800 1 8676", "02 981 7686", "112"):
            lefts = await page.evaluate(DIGIT_LEFTS, number)
            assert lefts is not None, number
            # Read left to right, the digits come in their own order (not "977 11 0800").
            assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), (number, lefts)
        hrefs = await page.eval_on_selector_all(
            ".bubble.bot:last-of-type a.tel", "links => links.map(a => a.getAttribute('href'))")
        assert "tel:080011977" in hrefs and "tel:112" in hrefs
        site = await page.evaluate(DIGIT_LEFTS, "animusassociation.org")
        assert site == sorted(site)
        # The text nodes were built as text: nothing of the message became markup.
        assert await page.locator(".bubble.bot script, .bubble.bot img").count() == 0


async def test_a_long_answer_opens_at_its_top(browser, page_settings: Settings) -> None:  # noqa: ANN001
    async with serve(page_settings) as (base, _app):
        page = await browser.new_page()
        await page.set_viewport_size({"width": 320, "height": 640})
        await page.goto(f"{base}/webchat/")
        await page.get_by_role("button", name="English").click()
        await page.locator("button[data-action='safe:ok']").last.click()
        await page.locator("button[data-action='region:milan']").last.click()
        await page.locator("button[data-action='help']").last.click()
        reply = page.locator(".bubble.bot", has_text="Help in Italy").last
        await reply.wait_for()
        top = await reply.evaluate(
            "b => b.getBoundingClientRect().top - b.parentElement.getBoundingClientRect().top")
        assert 0 <= top <= 24, top  # its first line at the top of the log, not its buttons
        log_height = await page.evaluate("document.getElementById('log').clientHeight")
        reply_height = await reply.evaluate("b => b.getBoundingClientRect().height")
        assert reply_height > log_height  # long enough that scrolling to the end would hide it


LANDMARKS = "main, header, footer, nav, aside, form[aria-label], [role=main], [role=banner], " \
            "[role=contentinfo], [role=region]"


async def test_page_has_one_heading_landmarks_and_a_big_send_button(  # noqa: ANN001
        browser, page_settings: Settings) -> None:
    async with serve(page_settings) as (base, _app):
        page = await browser.new_page()
        await page.set_viewport_size({"width": 320, "height": 640})
        await page.goto(f"{base}/webchat/")
        await page.locator("button[data-action='lang:el']").click()
        await page.locator("button[data-action='safe:ok']").last.wait_for()
        headings = await page.eval_on_selector_all("h1", "hs => hs.map(h => h.textContent)")
        assert len(headings) == 1 and headings[0].strip()  # axe: page-has-heading-one
        outside = await page.evaluate("""(landmarks) => Array.from(document.body.querySelectorAll(
            '*')).filter(el => !['SCRIPT', 'NOSCRIPT'].includes(el.tagName)
              && !el.closest('noscript')
              && (Array.from(el.childNodes).some(n => n.nodeType === 3 && n.data.trim())
                  || ['INPUT', 'BUTTON'].includes(el.tagName))
              && !el.closest(landmarks)).map(el => el.tagName + '#' + el.id)""", LANDMARKS)
        assert outside == []  # axe: region — all content inside landmarks
        box = await page.locator("#send").bounding_box()
        assert box is not None and box["width"] >= 44 and box["height"] >= 44, box
        exit_box = await page.locator("#quick-exit").bounding_box()
        assert exit_box is not None and exit_box["height"] >= 44
