"""Typed models. What a participant types is never a column here (docs/ARCHITECTURE.md 2.1); a user row holds
only what docs/ARCHITECTURE.md 2.2 allows, plus the salted hash of her code word (issue 3)."""
from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend. SQLite stores no offset and hands back naive values,
    which then cannot be compared with aware ones; PostgreSQL keeps timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_user_id() -> str:
    return secrets.token_hex(16)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Role(StrEnum):
    PARTICIPANT = "participant"
    PROFESSIONAL = "professional"
    MODERATOR = "moderator"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.MODERATOR, Role.COORDINATOR, Role.ADMIN})
COORDINATOR_ROLES = frozenset({Role.COORDINATOR, Role.ADMIN})
# The survivors' journeys (meetups, jobs, talking to a caseworker): women, and staff who need to
# see what women see. Professionals have their own menu and never reach these.
SURVIVOR_JOURNEY_ROLES = frozenset({Role.PARTICIPANT}) | STAFF_ROLES


class Topic(StrEnum):
    TRAININGS = "trainings"
    JOB_FAIRS = "job_fairs"
    MEETUPS = "meetups"


class Hours(StrEnum):
    PART_TIME = "part_time"
    FULL_TIME = "full_time"
    FLEXIBLE = "flexible"


class CommitmentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class PostStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class SignupStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITING = "waiting"


class HandoffKind(StrEnum):
    JOB = "job"
    TALK = "talk"
    JOIN = "join"  # a visitor asks to join a closed peer group (docs/ARCHITECTURE.md 2.11)


class MeetupKind(StrEnum):
    CLOSED = "closed"  # a peer group: the place only for members of the organiser with a place
    OPEN = "open"  # an open event (a job fair in a public library): the place for anyone


class HandoffStatus(StrEnum):
    OPEN = "open"
    TAKEN = "taken"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    # A request to join, answered by a caseworker of the organiser (docs/ARCHITECTURE.md 2.6).
    ADMITTED = "admitted"
    REFUSED = "refused"


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"  # taken by a sending pass, not tried yet: safe to send after a crash
    SENDING = "sending"  # being sent right now; after a crash the outcome is unknown: never resent
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    regions: Mapped[list[OrganisationRegion]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", lazy="selectin")


class Region(Base):
    """The project's territories; 'elsewhere' has no country and no local data."""

    __tablename__ = "regions"
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    country: Mapped[str | None] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)


class OrganisationRegion(Base):
    __tablename__ = "organisation_regions"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"),
                                        primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)
    organisation: Mapped[Organisation] = relationship(back_populates="regions")


class User(Base):
    """A person using the bot. No names, usernames or phone numbers (docs/ARCHITECTURE.md 2.2)."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_user_id)
    channel: Mapped[str] = mapped_column(String(16))
    address_enc: Mapped[bytes] = mapped_column(LargeBinary)
    lookup_hash: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    role: Mapped[str] = mapped_column(String(16), default=Role.PARTICIPANT)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    discreet: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[int | None] = mapped_column(Integer)  # hour 0-23, region time
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    vanish_minutes: Mapped[int] = mapped_column(Integer, default=1440)  # 0 = off
    codeword_hash: Mapped[str | None] = mapped_column(String(120))
    # The lock for a shared phone (docs/ARCHITECTURE.md 2.12): wrong tries in a row, and the end
    # of the hour for which the locked screens stay closed after five of them.
    lock_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lock_blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    onboarded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Counted once in "women who started using the bot" (bot/impact.py says when).
    counted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False once she blocked the bot
    last_active_on: Mapped[date] = mapped_column(Date)
    created_on: Mapped[date] = mapped_column(Date)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class Employer(Base):
    __tablename__ = "employers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(120))
    sector: Mapped[str] = mapped_column(String(40), default="other")
    policy_against_violence: Mapped[bool] = mapped_column(Boolean, default=False)
    supported_hiring: Mapped[bool] = mapped_column(Boolean, default=False)
    commitment_note: Mapped[str] = mapped_column(Text, default="")
    committed_on: Mapped[date] = mapped_column(Date)
    contact_person: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(12), default=CommitmentStatus.ACTIVE)
    status_changed_on: Mapped[date | None] = mapped_column(Date)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)


class Vacancy(Base):
    __tablename__ = "vacancies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("employers.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    sector: Mapped[str] = mapped_column(String(40), default="other")
    place: Mapped[str] = mapped_column(String(120), default="")
    hours: Mapped[str] = mapped_column(String(12), default=Hours.FULL_TIME)
    contract: Mapped[str] = mapped_column(String(80), default="")
    pay_min: Mapped[int | None] = mapped_column(Integer)  # euros a month
    pay_max: Mapped[int | None] = mapped_column(Integer)
    childcare_friendly: Mapped[bool] = mapped_column(Boolean, default=False)
    remote_possible: Mapped[bool] = mapped_column(Boolean, default=False)
    work_language: Mapped[str] = mapped_column(String(8), default="en")
    expires_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default=PostStatus.PUBLISHED)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    employer: Mapped[Employer] = relationship(lazy="joined")

    # The job list pages through a region's newest first: the index hands them over in that order
    # (migration 0007), so a page stops after its few rows instead of sorting the whole region.
    __table_args__ = (Index("ix_vacancies_recent", "region_code", "status", "created_at", "id"),)


class Meetup(Base):
    __tablename__ = "meetups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200))  # shown only to those signed up (docs/ARCHITECTURE.md 2.6)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=90)
    capacity: Mapped[int] = mapped_column(Integer, default=12)
    kind: Mapped[str] = mapped_column(String(8), default=MeetupKind.CLOSED,
                                      server_default=MeetupKind.CLOSED.value)
    status: Mapped[str] = mapped_column(String(12), default=PostStatus.PUBLISHED)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_meetups_listing", "region_code", "status", "starts_at"),)


class Signup(Base):
    __tablename__ = "signups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meetup_id: Mapped[int] = mapped_column(ForeignKey("meetups.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default=SignupStatus.CONFIRMED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reminded_day: Mapped[bool] = mapped_column(Boolean, default=False)
    reminded_soon: Mapped[bool] = mapped_column(Boolean, default=False)
    attended: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (UniqueConstraint("meetup_id", "user_id"),)


class Handoff(Base):
    """A woman asked for a caseworker (about a job, or to talk). Holds no text of the exchange."""

    __tablename__ = "handoffs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    vacancy_id: Mapped[int | None] = mapped_column(ForeignKey("vacancies.id", ondelete="SET NULL"))
    meetup_id: Mapped[int | None] = mapped_column(ForeignKey("meetups.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a request to join lapses
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    pseudonym: Mapped[str] = mapped_column(String(40))
    contact_mode: Mapped[str] = mapped_column(String(12), default="chat")  # chat | safe_hours
    safe_hours: Mapped[str | None] = mapped_column(String(12))  # morning | afternoon | evening
    status: Mapped[str] = mapped_column(String(12), default=HandoffStatus.OPEN)
    taken_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(Base):
    """An organisation vouches for her (docs/ARCHITECTURE.md 2.11): the link and its date, never a
    name or a note."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "org_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    since: Mapped[date] = mapped_column(Date)


class HelpContact(Base):
    """A help line or local centre. Seeded rows carry a key, a source and a checked date."""

    __tablename__ = "help_contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(40), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(16), default="hotline")  # hotline|emergency|centre
    name: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(40), default="")
    hours: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(300), default="")
    checked_on: Mapped[date | None] = mapped_column(Date)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Invite(Base):
    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Broadcast(Base):
    __tablename__ = "broadcasts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    author_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    audience: Mapped[str] = mapped_column(String(16))  # participants | professionals
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"))
    topic: Mapped[str] = mapped_column(String(16), default=Topic.TRAININGS)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {lang: text}
    base_language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(12), default=BroadcastStatus.DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Paid (bot-initiated) messages it sent, from the platform's billing answer (Viber).
    paid_messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class BroadcastDelivery(Base):
    __tablename__ = "broadcast_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)  # quiet hours
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("broadcast_id", "user_id"),
                      Index("ix_deliveries_queue", "broadcast_id", "status"))


class MessageRef(Base):
    """A platform message id to delete later (quick exit, vanishing chat). Never the text."""

    __tablename__ = "message_refs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delete_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_message_refs_due", "delete_at"),
                      Index("ix_message_refs_user", "user_id"))


class AuditEntry(Base):
    """Who did what, when, among privileged actions. Never a participant's text."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_role: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(20), default="")
    target_id: Mapped[str] = mapped_column(String(40), default="")


class ImpactCount(Base):
    """Aggregate counters for the impact report, kept so that no history of a person is needed.
    `day` is the event's day (for monthly metrics, the first of the month)."""

    __tablename__ = "impact_counts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    # 0 and "" instead of NULL: NULLs are distinct in a unique constraint, and counters must merge.
    org_id: Mapped[int] = mapped_column(Integer, default=0)
    region_code: Mapped[str] = mapped_column(String(20), default="")
    metric: Mapped[str] = mapped_column(String(40))
    value: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("day", "org_id", "region_code", "metric"),)


class KeyCheck(Base):
    """A check value of the data key (an HMAC of a fixed label under a key derived from it): a
    start with another key, or a lost one replaced by a new one, is refused instead of silently
    making every stored address unreadable. `pending` is the new key's value while a key
    rotation is under way (python -m bot rotate-key)."""

    __tablename__ = "key_checks"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    pending: Mapped[str | None] = mapped_column(String(64))


class SeenToken(Base):
    """A webhook message token already handled (the Viber replay guard), kept as a hash until it
    expires so that the guard survives a restart. No user data."""

    __tablename__ = "seen_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChangeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class HelpContactChange(Base):
    """A proposed change to a national help line (a row of no organisation): it reaches every
    woman of the country, so a coordinator of ANOTHER organisation serving that country must
    approve it before it applies (handlers/mod_contacts.py). The proposal holds only staff text."""

    __tablename__ = "help_contact_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("help_contacts.id", ondelete="CASCADE"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    proposed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default=ChangeStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_help_contact_changes_status", "status"),)
