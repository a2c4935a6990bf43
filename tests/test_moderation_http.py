"""The staff flows over the web chat HTTP protocol (docs/ARCHITECTURE.md 5), against the real app."""
from __future__ import annotations

import secrets

import aiohttp
from sqlalchemy import func, select

from bot.app import RUNTIME
from bot.core.settings import Settings
from db.models import Handoff, User, Vacancy
from tests.conftest import make_settings
from tests.http import WebChatClient, serve
from tests.test_moderation import add_employer, add_handoff, invite_code, make_org


async def onboard(client: WebChatClient) -> None:
    await client.say("/start")
    await client.press("lang:en")
    await client.press("safe:ok")
    await client.press("region:milan")


async def test_staff_flows_over_http(database_url: str, clock) -> None:  # noqa: ANN001
    settings: Settings = make_settings(database_url)
    async with serve(settings, clock=clock) as (base, app), aiohttp.ClientSession() as http:
        rt = app[RUNTIME]
        org = await make_org(rt)
        emp = await add_employer(rt, org)
        her = WebChatClient(http, base, secrets.token_hex(16))
        await onboard(her)
        mod = WebChatClient(http, base, secrets.token_hex(16))
        await onboard(mod)
        # A participant's forged staff payloads are refused.
        for action in ("mod", f"emp:end:{emp}", "vac:new", "ho:take:1", "team:inv:moderator"):
            await her.press(action)
            assert "not available to you" in her.text()
        # The moderator redeems an invite and posts a vacancy step by step.
        await mod.say("/redeem " + await invite_code(rt, "moderator", org))
        assert "mod" in mod.actions()
        await mod.press("mod")
        await mod.press("vac")
        await mod.press("vac:new")
        await mod.press(f"form:pick:{emp}")
        await mod.press("form:pick:milan")
        await mod.say("Kitchen helper")
        await mod.press("form:back")
        assert "Now: Kitchen helper" in mod.text()
        await mod.press("form:keep")
        await mod.say("Help in the kitchen.")
        await mod.press("form:pick:food")
        await mod.press("form:skip")
        await mod.press("form:pick:part_time")
        await mod.press("form:skip")
        await mod.press("form:skip")
        await mod.press("form:skip")
        await mod.press("form:yes")
        await mod.press("form:no")
        await mod.press("form:pick:it")
        await mod.say("31.12.2026")
        assert "Preview" in mod.text() and "exit" in mod.actions()
        async with rt.sessionmaker() as db:
            assert (await db.execute(select(func.count(Vacancy.id)))).scalar_one() == 0
        await mod.press("form:pub")
        assert "published" in mod.text()
        await her.press("job:list:0")
        assert "Kitchen helper" in her.text()
        # A hand-off: the caseworker takes it and writes; she reads it by polling.
        async with rt.sessionmaker() as db:
            her_id = (await db.execute(select(User.id).where(User.role == "participant"))
                      ).scalar_one()
        hid = await add_handoff(rt, her_id, org)
        await mod.press(f"mod:ho:{hid}")
        assert "Iris-1234" in mod.text()
        await mod.press(f"ho:take:{hid}")
        await mod.press(f"ho:write:{hid}")
        await mod.say("Hello, I can help with the job.")
        assert "Sent to Iris-1234" in mod.text()
        await rt.core.drain()
        status, data = await her.post({"session": her.session, "poll": True})
        assert status == 200
        # Discreet by default: a neutral line alone, the caseworker's words only on Show.
        texts = [r["text"] for r in data["replies"]]
        assert not any("Hello, I can help with the job." in t for t in texts)
        shows = [b["action"] for r in data["replies"] for row in r["buttons"] for b in row
                 if b["action"].startswith("msg:show:")]
        assert len(shows) == 1, texts
        await her.press(shows[0])
        assert "Hello, I can help with the job." in her.text()
        assert f"talk:chat:{hid}" in her.actions()
        await mod.press(f"ho:close:{hid}")
        await mod.press(f"ho:closeok:{hid}")
        async with rt.sessionmaker() as db:
            assert (await db.get(Handoff, hid)).status == "closed"  # type: ignore[union-attr]
        # Quick exit from a staff screen works like everywhere.
        data = await mod.press("exit")
        assert data["exit"] is True
