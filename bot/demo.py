"""Demo data for `make run` and `seed-demo`: one organisation `demo`, invented employers plainly
marked as demo, meetups and vacancies in every territory. Texts are marked for translation so a
tester sees the demo in her own language.

The demo meetups are closed peer groups whose places all start with "DEMO address" (shown only
to a member with a confirmed place), plus one open event per territory whose place anyone may
see. `demo_codes` makes the two one-time codes a tester needs to see both sides: a caseworker's
invite for the demo organisation, and a member code (printed to stdout, never logged)."""
from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.crypto import AddressVault
from bot.core.i18n import N_
from db.models import (
    CommitmentStatus,
    Employer,
    Meetup,
    MeetupKind,
    Membership,
    Organisation,
    OrganisationRegion,
    Role,
    Signup,
    User,
    Vacancy,
)
from db.reference import REGIONS
from handlers.mod_team import MEMBER_CODE, create_invite

DEMO_SLUG = "demo"

EMPLOYERS = (
    # name, sector, status
    (N_("DEMO – Green Basket grocery (invented)"), "retail", CommitmentStatus.ACTIVE),
    (N_("DEMO – Sunrise care cooperative (invented)"), "care", CommitmentStatus.ACTIVE),
    (N_("DEMO – Bright office services (invented)"), "office", CommitmentStatus.ACTIVE),
    (N_("DEMO – Old Mill bakery (invented, commitment ended)"), "food", CommitmentStatus.ENDED),
)
COMMITMENT_NOTE = N_("Has a written policy against violence at work, trains its managers, and "
                     "offers a trial week with a mentor. Flexible start dates for mothers.")

# title, description, employer index, sector, hours, contract, pay, childcare, remote, days left,
# language of work (None: the country's language)
VACANCIES = (
    (N_("Shop assistant, mornings"),
     N_("Help customers, fill shelves, use the till. Training on the job. No experience needed."),
     0, "retail", "part_time", N_("Permanent contract, 20 hours a week"), (700, 850), True,
     False, 30, None),
    (N_("Care assistant for older people"),
     N_("Help older people at home with daily tasks. Car not needed: visits are close together."),
     1, "care", "flexible", N_("12-month contract"), (1100, 1300), True, False, 21, None),
    (N_("Customer service from home"),
     N_("Answer e-mails and chat messages from customers. A laptop is provided."),
     2, "office", "part_time", N_("6-month contract, can become permanent"), (800, 950), True,
     True, 40, "en"),
    (N_("Office cleaner, early shift"),
     N_("Clean offices from 6 to 9 in the morning. Free in time to take children to school."),
     2, "cleaning", "part_time", N_("Permanent contract, 15 hours a week"), (550, 650), True,
     False, 14, None),
    (N_("Warehouse and delivery planner"),
     N_("Plan the day's deliveries on a computer. Basic computer skills; we teach the rest."),
     0, "retail", "full_time", N_("Permanent contract"), (1250, 1450), False, False, 35, None),
    (N_("Kitchen helper in a school canteen"),
     N_("Prepare vegetables and serve lunch. School hours only, holidays free."),
     1, "food", "part_time", N_("School-year contract"), (650, 750), True, False, 28, None),
    (N_("Receptionist at a health centre"),
     N_("Welcome patients, book appointments. Ukrainian or Arabic is a plus."),
     1, "care", "full_time", N_("Permanent contract"), (1150, None), False, False, 45, "en"),
)
EXPIRED = (N_("Seasonal shop helper"), N_("This vacancy has expired."))

# title, description, days ahead, hour, capacity, full
MEETUPS = (
    (N_("Coffee and conversation"),
     N_("A relaxed peer group. Come as you are; you do not have to talk."), 2, 17, 12, False),
    (N_("First steps back to work"),
     N_("Peer group with a job counsellor: CVs, interviews, rights at work."), 5, 10, 10, False),
    (N_("Mothers' circle with childcare"),
     N_("Peer group for mothers; children are looked after in the next room."), 8, 16, 3, True),
    (N_("Walk and talk in the park"),
     N_("An easy walk with the group. Comfortable shoes; we stop for tea."), 10, 11, 15, False),
    (N_("Your money, your plans"),
     N_("Peer group on budgets, bank accounts in your own name and benefits."), 12, 18, 10,
     False),
    (N_("Computer basics, step by step"),
     N_("E-mail, online forms and job sites, at your own pace. Laptops provided."), 15, 9, 8,
     False),
)
MEETUP_PLACE = N_("DEMO address: community centre, room 2 (invented)")
# An open event: anyone may see its place (it does not start with "DEMO address").
OPEN_EVENT = (N_("Job fair at the public library"),
              N_("Open event: meet employers who signed the commitment against violence. "
                 "Bring a CV if you have one; anyone may come."), 6, 15, 60)
OPEN_EVENT_PLACE = N_("Public library, main hall (invented)")


async def demo_exists(db: AsyncSession) -> bool:
    return (await db.execute(select(Organisation.id).where(Organisation.slug == DEMO_SLUG))
            ).first() is not None


async def seed_demo(db: AsyncSession, vault: AddressVault, now: datetime | None = None) -> bool:
    """Create the demo organisation and its content. Returns False if it already exists."""
    if await demo_exists(db):
        return False
    now = now or datetime.now(UTC)
    today = now.date()
    org = Organisation(slug=DEMO_SLUG, name="WE GO! demo centre", is_demo=True)
    db.add(org)
    await db.flush()
    for region in REGIONS[:4]:
        db.add(OrganisationRegion(org_id=org.id, region_code=region.code))
    employers = []
    for name, sector, status in EMPLOYERS:
        emp = Employer(org_id=org.id, name=name, sector=sector, policy_against_violence=True,
                       supported_hiring=status == CommitmentStatus.ACTIVE,
                       commitment_note=COMMITMENT_NOTE, committed_on=date(2026, 3, 8),
                       contact_person="DEMO", status=status, is_demo=True,
                       status_changed_on=today if status != CommitmentStatus.ACTIVE else None)
        db.add(emp)
        employers.append(emp)
    await db.flush()
    langs = {"IT": "it", "ES": "es", "GR": "el", "BG": "bg"}
    for region in REGIONS[:4]:
        for (title, desc, emp_i, sector, hours, contract, pay, childcare, remote,
             days, work_language) in VACANCIES:
            db.add(Vacancy(employer_id=employers[emp_i].id, org_id=org.id,
                           region_code=region.code, title=title, description=desc,
                           sector=sector, place=region.name, hours=hours, contract=contract,
                           pay_min=pay[0], pay_max=pay[1], childcare_friendly=childcare,
                           remote_possible=remote,
                           work_language=work_language or langs.get(region.country or "", "en"),
                           expires_on=today + timedelta(days=days), is_demo=True))
        db.add(Vacancy(employer_id=employers[0].id, org_id=org.id, region_code=region.code,
                       title=EXPIRED[0], description=EXPIRED[1], sector="retail",
                       place=region.name, hours="part_time", expires_on=today - timedelta(days=1),
                       is_demo=True))
        db.add(Vacancy(employer_id=employers[3].id, org_id=org.id, region_code=region.code,
                       title=N_("Bakery helper"), description=N_("Early mornings."),
                       sector="food", place=region.name, hours="part_time",
                       expires_on=today + timedelta(days=30), is_demo=True))
        tz = ZoneInfo(region.timezone)
        for title, desc, days, hour, capacity, full in MEETUPS:
            local = datetime.combine(today + timedelta(days=days), time(hour, 30), tz)
            meetup = Meetup(org_id=org.id, region_code=region.code, title=title, description=desc,
                            place=MEETUP_PLACE, starts_at=local.astimezone(UTC),
                            capacity=capacity, kind=MeetupKind.CLOSED, is_demo=True)
            db.add(meetup)
            await db.flush()
            if full:
                # Invented sign-ups so that one meetup shows the waiting list.
                for _ in range(capacity):
                    # Inactive: nobody is behind them, so no reminder or broadcast goes out.
                    ghost = User(channel="demo", address_enc=vault.encrypt("demo", "x"),
                                 lookup_hash=secrets.token_hex(32), language="en",
                                 region_code=region.code, onboarded=True, active=False,
                                 last_active_on=today, created_on=today, topics=[])
                    db.add(ghost)
                    await db.flush()
                    # Members of the demo centre: only members' places count.
                    db.add(Membership(user_id=ghost.id, org_id=org.id, since=today))
                    db.add(Signup(meetup_id=meetup.id, user_id=ghost.id))
        title, desc, days, hour, capacity = OPEN_EVENT
        local = datetime.combine(today + timedelta(days=days), time(hour, 0), tz)
        db.add(Meetup(org_id=org.id, region_code=region.code, title=title, description=desc,
                      place=OPEN_EVENT_PLACE, starts_at=local.astimezone(UTC),
                      duration_minutes=180, capacity=capacity, kind=MeetupKind.OPEN,
                      is_demo=True))
    await db.flush()
    return True


async def demo_codes(db: AsyncSession, now: datetime, ttl_hours: int) -> tuple[str, str]:
    """A one-time caseworker invite and a member code of the demo organisation, so that someone
    trying `make run` sees both sides. Only their hashes are stored; print them, never log."""
    org_id = (await db.execute(select(Organisation.id).where(Organisation.slug == DEMO_SLUG))
              ).scalar_one()
    staff, _invite = await create_invite(db, role=Role.MODERATOR, org_id=org_id, now=now,
                                         ttl_hours=ttl_hours)
    member, _code = await create_invite(db, role=MEMBER_CODE, org_id=org_id, now=now,
                                        ttl_hours=ttl_hours)
    return staff, member


def codes_text(staff: str, member: str, ttl_hours: int) -> str:
    """What seed-demo and `make run` print (stdout only)."""
    return "\n".join([
        f"Demo codes (each works once, for {ttl_hours} hours):",
        f"  caseworker of the demo centre: send  /redeem {staff}  in one web chat window",
        f"  a woman the centre knows:      send  /redeem {member}  in another window",
        "  (or tap \"I have a code from my centre\" on the meetups screen and type the code)",
    ])
