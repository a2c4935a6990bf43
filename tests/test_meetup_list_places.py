"""The meetup list reads each meetup's places left in the same statement as the page
(db/queries/meetups.upcoming_with_places): only confirmed places of members of the meetup's own
organiser count, exactly as on the meetup's page (docs/ARCHITECTURE.md 2.6)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.runtime import Runtime
from db.models import Meetup, MeetupKind, Membership, Signup, SignupStatus
from db.queries import meetups as mq
from tests.chat import ChatDriver
from tests.test_moderation import make_org


async def _woman(rt: Runtime) -> str:
    chat = ChatDriver(rt.core)
    outcome = await chat.onboard(region="milan")
    assert outcome.user_id is not None
    return outcome.user_id


@pytest.mark.both_databases  # a correlated subquery: each planner reads it its own way
async def test_list_counts_only_members_of_the_organiser(rt: Runtime) -> None:
    organiser = await make_org(rt, "organiser")
    other = await make_org(rt, "other")
    elsewhere_member, member, visitor_on_list = (await _woman(rt), await _woman(rt),
                                                 await _woman(rt))
    async with rt.sessionmaker() as db, db.begin():
        meetup = Meetup(org_id=organiser, region_code="milan", title="Evening group",
                        place="room 2", starts_at=rt.now() + timedelta(days=3), capacity=5,
                        kind=MeetupKind.CLOSED)
        # The other organisation posts too (in another region), so a membership check that read
        # any meetups row rather than the listed one would count her.
        theirs = Meetup(org_id=other, region_code="catalonia", title="Their group",
                        place="hall", starts_at=rt.now() + timedelta(days=4), capacity=5)
        db.add_all([meetup, theirs])
        await db.flush()
        # A member of ANOTHER organisation with a confirmed place (her access here ended) and a
        # woman on the waiting list take no place; the organiser's member takes one.
        db.add_all([Membership(user_id=elsewhere_member, org_id=other, since=rt.now().date()),
                    Membership(user_id=member, org_id=organiser, since=rt.now().date()),
                    Signup(meetup_id=meetup.id, user_id=elsewhere_member,
                           status=SignupStatus.CONFIRMED),
                    Signup(meetup_id=meetup.id, user_id=member, status=SignupStatus.CONFIRMED),
                    Signup(meetup_id=meetup.id, user_id=visitor_on_list,
                           status=SignupStatus.WAITING)])
        meetup_id = meetup.id
    async with rt.sessionmaker() as db:
        listed, more = await mq.upcoming_with_places(db, "milan", rt.now(), page=0, size=5)
        counted = await mq.confirmed_counts(db, [meetup_id])
    assert [(m.id, taken) for m, taken in listed] == [(meetup_id, 1)]
    assert counted == {meetup_id: 1} and not more
    # What she sees on the list: four of five places left.
    chat = ChatDriver(rt.core)
    await chat.onboard(region="milan")
    await chat.press("ev")
    assert "Evening group" in chat.text and "4 places left" in chat.text, chat.text
