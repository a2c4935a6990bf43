"""Coordinators keep help contacts right in the chat: add a local centre, correct a line, hide and
show it again; participants see the change at once; everybody else and every forged payload is
refused and changes nothing; the draft lives only in the session."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from bot.runtime import Runtime
from db.models import AuditEntry, HelpContact
from tests.chat import ChatDriver
from tests.test_moderation import audit_actions, make_org, staff

BAD_TEXTS = ("", "x" * 10_000, "😀😀😀", "\u200f\u200f", "<b>Centre</b>",
             "<script>alert(1)</script>")
BAD_NUMBERS = BAD_TEXTS + ("'; DROP TABLE help_contacts; --", "12", "call me", "1" * 21,
                           "+39 02 1234 5678 ext. 5", "١٢٣٤٥")


async def contacts(rt: Runtime) -> list[tuple]:
    """Every help contact row as plain values, to prove that nothing changed."""
    async with rt.sessionmaker() as db:
        rows = (await db.execute(select(HelpContact).order_by(HelpContact.id))).scalars()
        return [(c.id, c.kind, c.country, c.region_code, c.org_id, c.name, c.number, c.hours,
                 c.notes, c.source, c.checked_on, c.active) for c in rows]


async def contact_by_key(rt: Runtime, key: str) -> HelpContact:
    async with rt.sessionmaker() as db:
        return (await db.execute(select(HelpContact).where(HelpContact.key == key))).scalar_one()


async def add_centre(rt: Runtime, org_id: int | None, region: str = "milan",
                     name: str = "Casa Donna") -> int:
    async with rt.sessionmaker() as db, db.begin():
        c = HelpContact(kind="centre", country="IT" if region == "milan" else "ES",
                        region_code=region, org_id=org_id, name=name, number="02 555 1234",
                        hours="Mon–Fri 9–17", source="casadonna.example",
                        checked_on=date(2026, 1, 1), position=1000)
        db.add(c)
        await db.flush()
        return c.id


async def participant(rt: Runtime, region: str = "milan") -> ChatDriver:
    chat = ChatDriver(rt.core)
    await chat.onboard(region=region)
    return chat


async def help_text(chat: ChatDriver, action: str = "help") -> str:
    await chat.press(action, must_exist=False)
    return chat.text


async def coordinator(rt: Runtime, regions: tuple[str, ...] = ("milan",), slug: str = "north"
                      ) -> tuple[ChatDriver, int]:
    org = await make_org(rt, slug, regions)
    return await staff(rt, "coordinator", org, region=regions[0]), org


def refused(chat: ChatDriver, marker: str = "") -> bool:
    """A clear answer to bad input: a warning on the same prompt (the core itself answers a
    message over its length limit)."""
    if "too long" in chat.text:
        return True
    return "⚠" in chat.text and marker in chat.text


async def start_centre(chat: ChatDriver) -> None:
    await chat.press("mod", must_exist=False)
    await chat.press("hc")
    await chat.press("hc:new")


# -- add a local centre -------------------------------------------------------------------------

async def test_add_centre_shows_in_her_region_only(rt: Runtime) -> None:
    coord, org = await coordinator(rt)
    await start_centre(coord)
    assert "step 1 of 5" in coord.text
    await coord.say("Casa Donna Milano")
    assert "step 2 of 5" in coord.text
    await coord.say("+39 02 (555) 12-34")
    await coord.say("Mon–Fri 9:00–17:00")
    await coord.press("hc:skip")  # note
    await coord.say("casadonna.example")
    assert "Preview: this is how participants will see it." in coord.text
    assert "☎ +39 02 (555) 12-34 · Casa Donna Milano" in coord.text
    # Nothing reaches the database before Save.
    assert not [c for c in await contacts(rt) if c[1] == "centre"]
    await coord.press("hc:save")
    assert "The centre is saved" in coord.text
    centres = [c for c in await contacts(rt) if c[1] == "centre"]
    assert len(centres) == 1
    _id, _kind, country, region, org_id, name, number, hours, notes, source, checked, active = \
        centres[0]
    assert (country, region, org_id, name, number, notes, source, active) == (
        "IT", "milan", org, "Casa Donna Milano", "+39 02 (555) 12-34", "", "casadonna.example",
        True)
    assert checked == rt.services.clock().date()
    assert "help_contact_add" in await audit_actions(rt)

    woman = await participant(rt, "milan")
    text = await help_text(woman)
    assert "Local centres near you" in text and "Casa Donna Milano" in text
    assert "casadonna.example" in text
    # A woman in Catalonia looking at Italy's lines sees the national ones, not the Milan centre.
    other = await participant(rt, "catalonia")
    text = await help_text(other, "help:c:IT")
    assert "1522" in text and "Casa Donna Milano" not in text


async def test_region_choice_and_back_and_cancel(rt: Runtime) -> None:
    coord, _org = await coordinator(rt, ("milan", "catalonia"))
    await start_centre(coord)
    assert "hc:reg:milan" in coord.actions() and "hc:reg:catalonia" in coord.actions()
    assert "hc:reg:bulgaria" not in coord.actions()
    # A region of another organisation, forged.
    await coord.press("hc:reg:bulgaria", must_exist=False)
    assert "not yours to change" in coord.text
    await coord.press("hc", must_exist=False)
    await coord.press("hc:new")
    await coord.press("hc:reg:catalonia")
    await coord.say("Centre Sabadell")
    await coord.press("hc:back")
    assert "step 1 of 5" in coord.text and "Centre Sabadell" in coord.text
    await coord.press("hc:keep")
    assert "step 2 of 5" in coord.text
    before = await contacts(rt)
    await coord.press("hc:cancel")
    assert "Nothing was saved" in coord.text
    assert await contacts(rt) == before
    # Buttons of a discarded draft do nothing.
    await coord.press("hc:save", must_exist=False)
    assert "expired" in coord.text and await contacts(rt) == before


async def test_bad_input_at_every_prompt_changes_nothing(rt: Runtime) -> None:
    coord, _org = await coordinator(rt)
    before = await contacts(rt)
    await start_centre(coord)
    for bad in BAD_TEXTS:
        await coord.say(bad)
        assert refused(coord, "step 1 of 5"), bad[:20]
    await coord.say("'; DROP TABLE help_contacts; --")  # a name is text: kept as typed
    assert "step 2 of 5" in coord.text
    for bad in BAD_NUMBERS:
        await coord.say(bad)
        assert refused(coord, "step 2 of 5"), bad[:20]
    await coord.say("02 1234")
    for bad in BAD_TEXTS:
        await coord.say(bad)
        assert refused(coord, "step 3 of 5"), bad[:20]
    await coord.say("Tue 10–12")
    for bad in BAD_TEXTS:
        await coord.say(bad)
        assert refused(coord, "step 4 of 5"), bad[:20]
    await coord.say("Languages: IT, EN")
    for bad in BAD_TEXTS:
        await coord.say(bad)
        assert refused(coord, "step 5 of 5"), bad[:20]
    await coord.press("hc:skip")
    await coord.say("anything")  # typed text on the preview
    assert "Please use the buttons." in coord.text
    assert await contacts(rt) == before
    await coord.press("hc:save")
    after = await contacts(rt)
    assert len(after) == len(before) + 1
    assert after[-1][5] == "'; DROP TABLE help_contacts; --"


# -- correct, hide, show ------------------------------------------------------------------------

async def test_a_national_line_changes_only_with_a_second_organisation(
        rt: Runtime, clock) -> None:  # noqa: ANN001
    """Issue 9, item 1: a coordinator of a new organisation rewrote a national number that every
    woman of the country then saw. Now her change waits for a coordinator of ANOTHER
    organisation serving the country; "Last checked" moves only when she says she checked."""
    coord, _org = await coordinator(rt)
    colleague = await staff(rt, "coordinator", _org, region="milan")
    other, _other_org = await coordinator(rt, slug="south")
    line = await contact_by_key(rt, "it-1522")
    checked_before = line.checked_on
    await coord.press("mod", must_exist=False)
    await coord.press("hc")
    assert "1522" in coord.text and "Last checked" in coord.text
    clock.advance(days=3)
    await coord.press(f"hc:show:{line.id}")
    await coord.press(f"hc:ed:{line.id}:hours")
    before = await contacts(rt)
    for bad in BAD_TEXTS:
        await coord.say(bad)
        assert refused(coord), bad[:20]
    assert await contacts(rt) == before
    await coord.say("Every day, 0–24")
    assert "check this against the source" in coord.text
    await coord.press(f"hc:src:{line.id}:no")
    assert "waits until a coordinator of another organisation" in coord.text
    await coord.press(f"hc:ed:{line.id}:number", must_exist=False)
    for bad in BAD_NUMBERS:
        await coord.say(bad)
        assert refused(coord), bad[:20]
    await coord.say("0800 000 999")
    await coord.press(f"hc:src:{line.id}:yes")
    assert await contacts(rt) == before  # nothing changed for participants
    woman = await participant(rt, "milan")
    assert "0800 000 999" not in await help_text(woman)
    # Her own organisation cannot approve it; a forged id does nothing.
    for chat in (coord, colleague):
        await chat.press("hc:rv", must_exist=False)
        assert "No change to a national line" in chat.text
        await chat.press("hc:ok:1", must_exist=False)
    assert await contacts(rt) == before
    # The other organisation sees both, refuses the number and approves the hours.
    await other.press("hc", must_exist=False)
    assert "hc:rv" in other.actions()
    await other.press("hc:rv")
    first, second = [a for a in other.actions() if a.startswith("hc:rv:")]
    await other.press(first)
    assert "Every day, 0–24" in other.text
    await other.press(first.replace("rv", "ok"))
    await other.press(second)
    assert "0800 000 999" in other.text
    await other.press(second.replace("rv", "no"))
    edited = await contact_by_key(rt, "it-1522")
    assert edited.hours == "Every day, 0–24" and edited.number == line.number
    assert edited.checked_on == checked_before  # she said she had not checked the source
    assert edited.source == line.source
    assert "Every day, 0–24" in await help_text(woman)
    actions = await audit_actions(rt)
    assert {"help_contact_change_propose", "help_contact_change_approve",
            "help_contact_change_refuse"} <= set(actions)
    # A national line keeps its source.
    await coord.press(f"hc:ed:{line.id}:source", must_exist=False)
    await coord.press(f"hc:clr:{line.id}:source", must_exist=False)
    assert "keeps its source" in coord.text


async def test_a_local_centre_is_saved_at_once_and_checked_only_when_said(
        rt: Runtime, clock) -> None:  # noqa: ANN001
    coord, org = await coordinator(rt)
    centre = await add_centre(rt, org)
    clock.advance(days=3)
    await coord.press(f"hc:show:{centre}", must_exist=False)
    await coord.press(f"hc:ed:{centre}:hours")
    await coord.say("Mon–Sat 9–19")
    await coord.press(f"hc:src:{centre}:no")
    assert "Saved" in coord.text
    async with rt.sessionmaker() as db:
        row = await db.get(HelpContact, centre)
    assert row.hours == "Mon–Sat 9–19" and row.checked_on == date(2026, 1, 1)
    await coord.press(f"hc:ed:{centre}:notes", must_exist=False)
    await coord.say("Free, Italian and English")
    await coord.press(f"hc:src:{centre}:yes")
    async with rt.sessionmaker() as db:
        row = await db.get(HelpContact, centre)
    assert row.checked_on == clock().date()
    assert "help_contact_edit_hours" in await audit_actions(rt)


async def test_deactivating_a_national_line_waits_for_approval(rt: Runtime) -> None:
    coord, _org = await coordinator(rt)
    other, _other = await coordinator(rt, slug="south")
    line = await contact_by_key(rt, "it-1522")
    woman = await participant(rt, "milan")
    assert "National line against violence" in await help_text(woman)
    await coord.press(f"hc:show:{line.id}", must_exist=False)
    await coord.press(f"hc:off:{line.id}")
    assert "National line against violence" in await help_text(woman)
    await other.press("hc:rv", must_exist=False)
    (proposal,) = [a for a in other.actions() if a.startswith("hc:rv:")]
    await other.press(proposal.replace("rv", "ok"), must_exist=False)
    assert "National line against violence" not in await help_text(woman)
    # An admin changes a national line at once.
    admin = await staff(rt, "admin", None)
    await admin.press(f"hc:on:{line.id}", must_exist=False)
    assert "Shown again" in admin.text
    assert "National line against violence" in await help_text(woman)


# -- refusals -----------------------------------------------------------------------------------

async def test_forged_payloads_change_nothing(rt: Runtime) -> None:
    coord, _org = await coordinator(rt)
    other_org = await make_org(rt, "south", ("milan", "bulgaria"))
    theirs = await add_centre(rt, other_org)
    greek = await contact_by_key(rt, "gr-15900")
    catalan = await contact_by_key(rt, "cat-900900120")
    before = await contacts(rt)
    audits = len(await audit_actions(rt))
    forged = [f"hc:{verb}:{cid}{tail}" for cid in (theirs, greek.id, catalan.id, 999999)
              for verb, tail in (("show", ""), ("ed", ":hours"), ("clr", ":notes"),
                                 ("chk", ""), ("off", ""), ("on", ""))]
    forged += ["hc:show:abc", "hc:off:-1", "hc:ed:1:name", "hc:ed:1:active", "hc:off",
               "hc:zzz", "hc:show:1:2", "hc:reg:karditsa", "hc:save", "hc:keep"]
    for action in forged:
        await coord.press(action, must_exist=False)
        assert "not yours to change" in coord.text or "expired" in coord.text, action
    # Another organisation's centre in the same region is listed, read-only.
    await coord.press("hc", must_exist=False)
    assert "Casa Donna" in coord.text and "Kept by another organisation." in coord.text
    assert f"hc:show:{theirs}" not in coord.actions()
    assert await contacts(rt) == before
    assert len(await audit_actions(rt)) == audits


async def test_participant_and_moderator_are_refused(rt: Runtime) -> None:
    org = await make_org(rt)
    centre = await add_centre(rt, org)
    line = await contact_by_key(rt, "it-1522")
    mod = await staff(rt, "moderator", org)
    await mod.press("mod", must_exist=False)
    assert "hc" not in mod.actions()
    woman = await participant(rt)
    before = await contacts(rt)
    for chat in (woman, mod):
        for action in ("hc", "hc:new", f"hc:show:{centre}", f"hc:off:{line.id}",
                       f"hc:ed:{line.id}:hours", f"hc:chk:{centre}", "hc:reg:milan", "hc:save"):
            await chat.press(action, must_exist=False)
            assert "Sorry, this is not available to you." in chat.text, action
        await chat.say("Every day")
    assert await contacts(rt) == before
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(func.count(AuditEntry.id)).where(
            AuditEntry.action.like("help_contact%")))).scalar_one() == 0


async def test_admin_manages_every_region(rt: Runtime) -> None:
    admin = await staff(rt, "admin", None)
    await admin.press("mod", must_exist=False)
    await admin.press("hc")
    await admin.press("hc:new")
    assert "hc:reg:karditsa" in admin.actions() and "hc:reg:elsewhere" not in admin.actions()
    greek = await contact_by_key(rt, "gr-15900")
    await admin.press(f"hc:chk:{greek.id}", must_exist=False)
    assert "checked today" in admin.text
    assert "help_contact_checked" in await audit_actions(rt)


async def test_draft_lives_only_in_the_session(rt: Runtime) -> None:
    coord, _org = await coordinator(rt)
    await start_centre(coord)
    await coord.say("Secret Draft Centre")
    await coord.say("02 9876 5432")
    # Not in the database before Save...
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(func.count(HelpContact.id)).where(
            HelpContact.name == "Secret Draft Centre"))).scalar_one() == 0
    # ...and gone when the session is left: a Save afterwards finds no draft.
    await coord.press("hc", must_exist=False)
    await coord.press("hc:save", must_exist=False)
    assert "expired" in coord.text
    async with rt.sessionmaker() as db:
        assert (await db.execute(select(func.count(HelpContact.id)).where(
            HelpContact.name == "Secret Draft Centre"))).scalar_one() == 0
