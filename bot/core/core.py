"""The neutral core: Inbound -> user, locale, session -> route -> handler -> Outcome.

One database transaction per update, owned here. The core imports no channel SDK.
"""
from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.context import (
    LOCK_IDLE,
    LOCK_KEY,
    MAX_TEXT_CHARS,
    ONE_STEP_KEY,
    Ctx,
    Form,
    LazySession,
    Route,
    Services,
)
from bot.core.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    _,
    normalise_language,
    set_language,
    translations,
)
from bot.core.loader import UserLoader
from bot.core.sessions import SessionData, SessionStore
from bot.core.textfold import fold_word
from bot.core.types import Inbound, Outcome, Outgoing, Reply, is_valid_action
from bot.core.ui import EXIT_ACTION, MENU_ACTION, cover_message, screen, with_exit
from db import queries
from db.models import MessageRef, Role, User, new_user_id

log = logging.getLogger(__name__)

EXIT_COMMANDS = frozenset({"/exit", "/quit", "/stop"})
MAX_ADDRESS_CHARS = 128
# Visitors whose User object is kept between their updates (a start screen each few seconds),
# and for how long: far less than a session lives, so what it holds (her language, region, the
# hash of a code word) is never in memory longer than her session keeps it anyway.
VISITOR_OBJECTS_MAX = 2048
VISITOR_OBJECT_SECONDS = 120.0
# Message ids kept in a visitor's session for quick exit (the start screens are a few messages;
# beyond this the oldest go, as Telegram could no longer delete a long chat's first ones anyway).
VISITOR_REFS_MAX = 100
# Vanishing chat deletes within Telegram's 48-hour window, with an hour to spare (the same as
# bot/delivery.py's, which the core does not import: services sit above the core).
DELETE_WINDOW = timedelta(hours=47)


# The exit word of each language, built in so that a catalog mistake can never disable it.
BUILTIN_EXIT_WORDS = frozenset({"exit", "изход", "esci", "salir", "sortir", "έξοδος", "вихід",
                                "خروج"})


def exit_words() -> frozenset[str]:
    """The exit word of every language, folded (fold_word): whatever language the phone shows and
    however she types it, the word works."""
    words = {fold_word(word) for word in BUILTIN_EXIT_WORDS}
    for lang in LANGUAGES:
        # Translators: the single word a user types to leave the bot at once. Lower case.
        words.add(fold_word(translations(lang).gettext("exit")))
    words.discard("")
    return frozenset(words)


class RoutingTable:
    """The explicit ordered table, indexed once: commands, then action prefixes, then states."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.commands: dict[str, Route] = {}
        self.prefixes: dict[str, Route] = {}
        self.verbs: dict[tuple[str, str], Route] = {}
        self.states: dict[str, Route] = {}
        for route in routes:
            if route.verb is not None and route.prefix is not None:
                if (route.prefix, route.verb) in self.verbs:
                    raise ValueError(f"two routes for {route.prefix}:{route.verb}")
                self.verbs[(route.prefix, route.verb)] = route
                continue
            for key, table in ((route.command, self.commands), (route.prefix, self.prefixes),
                               (route.state, self.states)):
                if key is None:
                    continue
                if key in table:
                    raise ValueError(f"two routes for {key!r}")
                table[key] = route

    def claims(self, action: str) -> bool:
        """Whether a row of the table answers this button: its verb row, or the plain row of a
        prefix that has no verbs (whose args are values, as in 'lang:bg')."""
        head, *rest = action.split(":")
        if rest and (head, rest[0]) in self.verbs:
            return True
        if head not in self.prefixes:
            return False
        return not rest or not any(prefix == head for prefix, _verb in self.verbs)

    def rows(self) -> list[tuple[str, Route]]:
        """Every row with the key it answers, in the order of the match: commands, actions,
        states."""
        found: list[tuple[str, Route]] = [(key, route) for key, route in self.commands.items()]
        keys = sorted({*self.prefixes, *(prefix for prefix, _ in self.verbs)})
        for prefix in keys:
            if prefix in self.prefixes:
                found.append((prefix, self.prefixes[prefix]))
            found += [(f"{p}:{v}", r) for (p, v), r in sorted(self.verbs.items()) if p == prefix]
        found += [(f"state {key}", route) for key, route in self.states.items()]
        return found

    def match(self, inbound: Inbound, session: SessionData) -> tuple[Route | None, tuple[str, ...]]:
        if inbound.action is not None:
            head, *rest = inbound.action.split(":")
            if rest and (head, rest[0]) in self.verbs:
                return self.verbs[(head, rest[0])], tuple(rest)
            if head in self.prefixes:
                return self.prefixes[head], tuple(rest)
            return None, ()
        text = (inbound.text or "").strip()
        if text.startswith("/"):
            word, *rest = text.split(maxsplit=1)
            command = word.split("@", 1)[0].lower()  # Telegram sends /start@BotName in groups
            if command in self.commands:
                return self.commands[command], tuple(rest[0].split()) if rest else ()
        if session.state and session.state in self.states:
            return self.states[session.state], ()
        return None, ()


Deliver = Callable[[Outgoing], Awaitable[None]]


class _StaleConnection(Exception):
    """The pooled connection was dead before anything of this update ran."""


class _AdmittedElsewhere(Exception):
    """Her session said visitor, but her row was there when the start screens wrote it: an
    update of hers on another worker wrote it first, or her session was not saved after it."""


class Core:
    def __init__(self, *, sessionmaker: async_sessionmaker[AsyncSession], store: SessionStore,
                 services: Services, routes: Sequence[Route], fallback: Route,
                 exit_route: Route, deliver: Deliver | None = None,
                 forms: Sequence[Form] = (),
                 visitor_routes: Collection[Route] | None = None,
                 admitting_routes: Collection[Route] = (),
                 lock_route: Route | None = None) -> None:
        self._sessionmaker = sessionmaker
        self._store = store
        self.services = services
        self._table = RoutingTable(routes)
        self._fallback = fallback
        self._exit = exit_route
        self._exit_words = exit_words()
        self._forms = {form.kind: form for form in forms}
        # A visitor (no row yet) reaches only these (the start screens, help, the exit); the
        # admitting ones (redeeming a staff invite) write her row first; anything else is
        # answered by the fallback, which shows her the start screen she is on. None: all.
        self._visitor_routes = (None if visitor_routes is None
                                else {id(r) for r in (*visitor_routes, fallback, exit_route)})
        self._admitting = {id(r) for r in admitting_routes}
        # Shown instead of a `locked` route while her code word is needed (the shared-phone
        # lock, docs/ARCHITECTURE.md 2.11); None: no lock (a test of the bare core).
        self._lock = lock_route
        # Where what she types is a secret (Route.secret): erased by the channel whatever happens.
        self._secret_states = {r.state for r in routes if r.secret and r.state is not None}
        self._secret_commands = {r.command for r in routes if r.secret and r.command is not None}
        self.deliver = deliver
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._background: set[asyncio.Task[None]] = set()
        # A visitor's transient User between her updates (never added to a database session;
        # taken out while an update of hers runs, put back only when it ended well).
        self._visitor_objects: OrderedDict[str, tuple[float, User]] = OrderedDict()
        self._user_columns = frozenset(attr.key for attr in inspect(User).column_attrs)
        self._visitor_object_seconds = min(VISITOR_OBJECT_SECONDS,
                                           float(services.settings.session_ttl_seconds))
        # Rows read for many updates at once (a flood of first contacts is one statement).
        self._loader = UserLoader(sessionmaker)

    # -- the one entry point ---------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> Outcome:
        if not inbound.address or len(inbound.address) > MAX_ADDRESS_CHARS:
            raise ValueError("invalid address")
        key = self.services.vault.lookup_hash(inbound.channel, inbound.address)
        async with self._person(key):
            try:
                return await self._handle_locked(inbound, key)
            except _AdmittedElsewhere:
                # Nothing of that attempt was written or saved; once more from her session as
                # it is in the store, as the woman with a row she is.
                log.info("a visitor's row was already there; the update runs again")
                return await self._handle_locked(inbound, key, has_row=True)

    @asynccontextmanager
    async def _person(self, key: str) -> AsyncIterator[None]:
        """One update at a time per person, so her session and screens stay in order."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def keep_visitor_refs(self, inbound: Inbound, refs: Sequence[str], *,
                                after_exit: bool = False) -> None:
        """The ids of a visitor's messages (hers and the bot's), kept in her session until her
        row exists, so that quick exit can still delete them (channels that delete call this
        when an Outcome has no user_id). Nothing is kept for someone who is not a visitor.
        after_exit: the cover message of a visitor's quick exit, kept in a new visitor session
        so that her next quick exit deletes it too (a row would have kept it)."""
        if not refs:
            return
        key = self.services.vault.lookup_hash(inbound.channel, inbound.address)
        async with self._person(key):
            session = await self._store.load(key)
            if session.visitor is None and after_exit:
                session.visitor = {}
            if session.visitor is None:
                return
            kept = [*session.visitor.get("refs", []), *map(str, refs)]
            session.visitor["refs"] = kept[-VISITOR_REFS_MAX:]
            await self._store.save(key, session)

    async def _handle_locked(self, inbound: Inbound, key: str, *,
                             has_row: bool = False) -> Outcome:
        try:
            session = await self._store.load(key)
        except Exception as exc:  # noqa: BLE001 - a dead session store must not close the way out
            self._log_failure(exc)
            return await self._store_unavailable(inbound, key)
        if has_row:
            session.visitor = None  # her row is read, whatever the session said
        confirming = session.data.pop(ONE_STEP_KEY, None)  # for this update only
        # Kept out of the handlers' session data (which they reset freely); written back below.
        unlocked = _unlocked_until(session.data.pop(LOCK_KEY, None))
        # Typed into a code-word prompt (or /redeem): erased by the channel even if this fails.
        secret = self._typed_secret(inbound, session.state)
        try:
            try:
                outcome = await self._transaction(inbound, key, session, confirming, unlocked)
            except _StaleConnection:
                # A pooled connection the server closed (a restart, an idle time-out) fails on
                # its first statement, before any handler ran; the pool is then refreshed. Once
                # more on a fresh connection: cheaper than pinging on every checkout.
                log.info("database connection was stale; retrying the update once")
                outcome = await self._transaction(inbound, key, session, confirming, unlocked)
        except _AdmittedElsewhere:
            if not has_row:
                raise  # handle() runs the update again, reading her row
            log.error("update failed: a visitor's row could not be written nor read")
            return self._finish(Outcome(replies=[screen(
                _("Sorry, something went wrong on our side. Nothing was changed. "
                  "Please try again in a moment."))], erase_inbound=secret))
        except Exception as exc:  # noqa: BLE001 - one update must never take the bot down
            self._log_failure(exc)
            if self._is_exit(inbound):
                # The way out must work even when the database does not: end the session and let
                # the channel erase what it can (queued deletions run once the database is back).
                refs = list(session.visitor.get("refs", [])) if session.visitor else []
                await self._store.drop(key)
                return Outcome(replies=[cover_message()], exit=True, visitor_refs=refs)
            outcome = Outcome(replies=[screen(
                _("Sorry, something went wrong on our side. Nothing was changed. "
                  "Please try again in a moment."))],
                erase_inbound=secret)
            return self._finish(outcome)
        outcome.erase_inbound = outcome.erase_inbound or secret
        try:
            if outcome.exit:
                await self._store.drop(key)
            else:
                if outcome.user_id is not None and self._session_is_address(inbound):
                    session.live = True  # kept while her page is there, even on no screen
                await self._store.save(key, session)
        except Exception as exc:  # noqa: BLE001 - what the database did stays done
            self._log_failure(exc)
        for item in outcome.outgoing:
            self._spawn(item)
        return self._finish(outcome)

    async def _store_unavailable(self, inbound: Inbound, key: str) -> Outcome:
        """The session store (Redis) failed: quick exit still leaves; anything else is asked
        again, because without her session we do not know which screen she is on."""
        set_language(normalise_language(inbound.language_hint))  # her row is not loaded
        if self._is_exit(inbound):
            try:
                await self._store.drop(key)
            except Exception:  # noqa: BLE001, S110 - the session expires by its TTL anyway
                log.info("session store unavailable; the session expires by its TTL")
            return Outcome(replies=[cover_message()], exit=True)
        return self._finish(Outcome(replies=[screen(
            _("Sorry, something went wrong on our side. Nothing was changed. "
              "Please try again in a moment."))]))

    async def _transaction(self, inbound: Inbound, key: str, session: SessionData,
                           confirming: str | None, unlocked: datetime | None) -> Outcome:
        outcome = Outcome()
        # Opened when first asked for (her row, a handler's query): a screen that reads nothing
        # costs no session. Leaving without the commit (an exception) closes it: a rollback.
        database = LazySession(self._sessionmaker)
        try:
            try:
                user, is_new = await self._load_user(database, inbound, key, session)
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise _StaleConnection() from None
                raise
            set_language(user.language)
            ctx = Ctx(inbound=inbound, database=database, user=user, session=session,
                      services=self.services, is_new_user=is_new,
                      confirming=confirming, forms=self._forms,
                      visitor=session.visitor is not None, unlocked_until=unlocked)
            outcome.replies = await self._dispatch(ctx)
            outcome.exit = ctx.exit_requested
            outcome.erase_inbound = ctx.inbound_erased
            until = ctx.unlocked_until
            if until is not None and not ctx.exit_requested and until > self.services.clock():
                session.data[LOCK_KEY] = until.timestamp()
            outcome.outgoing = list(ctx.outgoing)
            if ctx.visitor:
                if user.onboarded and not ctx.exit_requested:
                    await self._admit(ctx)
                else:
                    self._remember_visitor(ctx, outcome)
            if not ctx.visitor:
                outcome.user_id = user.id
            await database.commit()
            if ctx.visitor and not ctx.exit_requested:
                self._keep_visitor_object(key, user)
        finally:
            await database.close()
        for step in ctx.after_commit:
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - the update itself is done and committed
                self._log_failure(exc)
        return outcome

    # -- internals ---------------------------------------------------------------------------------
    async def _load_user(self, database: LazySession, inbound: Inbound, key: str,
                         session: SessionData) -> tuple[User, bool]:
        visitor_id = session.visitor.get("id") if session.visitor is not None else None
        # A visitor's session says she has no row (only her own start screens write it, and
        # then the session says so): no read. Anyone else: her row, read with the others
        # waiting (bot/core/loader.py), then part of this update's session.
        user = None if visitor_id is not None else await self._loader.get(key, database.get)
        today = self.services.clock().date()
        if user is None:
            # First contact costs no write: until she finishes the start screens she is a
            # visitor, a User that is never added to the database session (so nothing of hers
            # is flushed), rebuilt on every update from what her session keeps.
            is_new = session.visitor is None or "id" not in session.visitor
            visitor: dict[str, object] = dict(session.visitor or {})
            if is_new:
                visitor.update({
                    "id": new_user_id(),
                    "language": normalise_language(inbound.language_hint) or DEFAULT_LANGUAGE})
                session.visitor = visitor
            return self._visitor_user(inbound, key, visitor, today), is_new
        db = database.get()
        db.add(user)
        session.visitor = None  # a row exists (made elsewhere, or she came back): no visitor
        await self._touch(db, user, today)
        return user, False

    def _visitor_user(self, inbound: Inbound, key: str, visitor: dict[str, object],
                      today: date) -> User:
        # Column defaults apply only on INSERT, so every attribute a handler may read is set.
        fields: dict[str, object] = dict(
            id=str(visitor["id"]), channel=inbound.channel, lookup_hash=key, address_enc=b"",
            language=str(visitor.get("language") or DEFAULT_LANGUAGE),
            region_code=visitor.get("region"), role=Role.PARTICIPANT, org_id=None, topics=[],
            discreet=True, quiet_start=None, quiet_end=None, vanish_minutes=1440,
            onboarded=False, active=True,
            # The code word she chose at the safety notice: its hash only, until her row.
            codeword_hash=_text_or_none(visitor.get("codeword")), lock_failures=0,
            lock_blocked_until=None, last_active_on=today, created_on=today)
        # Her previous update's object, when every attribute is what her session gives: the
        # same as a new one, without the attribute events of building it. (Compared in the
        # object's state dict, SQLAlchemy's public InstanceState.dict, without the descriptors.)
        kept_until, kept = self._visitor_objects.pop(key, (0.0, None))
        if kept is not None and kept_until > time.monotonic():
            values = inspect(kept).dict
            if all(values.get(name) == value for name, value in fields.items()):
                return kept
        # Filled through its state dict (SQLAlchemy's public InstanceState.dict): the values the
        # constructor would set (the Nones too: an attribute never set costs more at each
        # read), without an attribute event for each, a seventh of a first contact's cost.
        # Never flushed as it is: _admit sets them again, as the constructor does.
        user = User()
        inspect(user).dict.update(fields)
        return user

    def _keep_visitor_object(self, key: str, user: User) -> None:
        now = time.monotonic()
        kept = self._visitor_objects
        kept[key] = (now + self._visitor_object_seconds, user)
        # The oldest are first: out with the expired and beyond the bound.
        while kept and (len(kept) > VISITOR_OBJECTS_MAX or next(iter(kept.values()))[0] <= now):
            kept.popitem(last=False)

    @staticmethod
    def _remember_visitor(ctx: Ctx, outcome: Outcome) -> None:
        """What the start screens chose (language, region) stays in her session, not a row."""
        visitor = ctx.session.visitor
        if visitor is None:
            return
        if ctx.exit_requested:
            outcome.visitor_refs = list(visitor.get("refs", []))
            ctx.session.visitor = None
            return
        visitor["language"] = ctx.user.language
        if ctx.user.codeword_hash:
            visitor["codeword"] = ctx.user.codeword_hash
        else:
            visitor.pop("codeword", None)
        if ctx.user.region_code:
            visitor["region"] = ctx.user.region_code
        else:
            visitor.pop("region", None)

    async def _admit(self, ctx: Ctx) -> None:
        """Write the visitor's row (she finished the start screens, or redeems an invite), with
        the ids of her chat's messages so far, in this update's transaction."""
        if not ctx.visitor:
            return
        user, inbound = ctx.user, ctx.inbound
        visitor = ctx.session.visitor or {}
        # Every column she holds set through its attribute, as a new User(...) would have them
        # (_visitor_user filled her state dict directly).
        columns = self._user_columns
        for name, value in list(inspect(user).dict.items()):
            if name in columns:
                setattr(user, name, value)
        user.address_enc = self.services.vault.encrypt(inbound.channel, inbound.address)
        ctx.db.add(user)
        try:
            await ctx.db.flush()
        except IntegrityError:
            raise _AdmittedElsewhere() from None
        refs = [str(r) for r in visitor.get("refs", [])]
        if refs:
            now = self.services.clock()
            delete_at = _delete_at(now, user.vanish_minutes)
            ctx.db.add_all(MessageRef(user_id=user.id, channel=user.channel, ref=ref,
                                      sent_at=now, delete_at=delete_at) for ref in refs)
        ctx.session.visitor = None
        ctx.visitor = False

    async def _touch(self, db: AsyncSession, user: User, today: date) -> None:
        """Keep only the last-active *date*; count her once a month for the impact report."""
        if user.last_active_on == today:
            return
        if user.onboarded and (user.last_active_on.year, user.last_active_on.month) != (
                today.year, today.month):
            await queries.bump(db, "active_month", day=today.replace(day=1), org_id=0,
                               region_code=user.region_code or "", role=user.role)
        user.last_active_on = today
        if not user.active:
            user.active = True  # she wrote to us again, so she unblocked the bot

    async def _dispatch(self, ctx: Ctx) -> list[Reply]:
        inbound = ctx.inbound
        if inbound.action is not None and not is_valid_action(inbound.action):
            return await self._fallback.handler(ctx)  # it says the button is not valid any more
        if inbound.text is not None and len(inbound.text) > MAX_TEXT_CHARS:
            return [screen(_("That message is too long. Please write at most {limit} characters.",
                             limit=MAX_TEXT_CHARS))]
        if self._is_exit(inbound):
            return await self._exit.handler(ctx)
        route, args = self._table.match(inbound, ctx.session)
        if route is None:
            route = self._fallback
        # What to run once she typed her code word, if this is a locked screen: her button, or
        # the command she typed (never other typed text: that is not kept anywhere).
        pending = inbound.action
        if pending is None and route.command is not None:
            pending = route.command
        return await self._run(route, args, ctx, pending)

    async def _run(self, route: Route, args: tuple[str, ...], ctx: Ctx,
                   pending: str | None = None) -> list[Reply]:
        if ctx.visitor:
            if ctx.user.onboarded or id(route) in self._admitting:
                # She finished the start screens in this update (a deep link runs on), or she
                # redeems an invite: her row first, so what follows may refer to it.
                await self._admit(ctx)
            elif self._visitor_routes is not None and id(route) not in self._visitor_routes:
                route = self._fallback  # no row, so nothing beyond the start screens yet
        if route.roles is not None and ctx.user.role not in route.roles:
            # Never trust a payload: the role comes from the database row (docs/ARCHITECTURE.md 2.8).
            log.info("refused %s for role %s", route.handler.__name__, ctx.user.role)
            return [screen(_("Sorry, this is not available to you."))]
        ctx.args = args

        async def goto(action: str) -> list[Reply]:
            # An action, or a command ("/settings": what a lock screen may resume).
            inbound = (Inbound(ctx.inbound.channel, ctx.inbound.address, text=action)
                       if action.startswith("/") else
                       Inbound(ctx.inbound.channel, ctx.inbound.address, action=action))
            target, target_args = self._table.match(inbound, ctx.session)
            return await self._run(target or self._fallback, target_args, ctx, action)

        ctx.goto = goto
        if route.onboarded_only and not ctx.user.onboarded:
            return await goto(MENU_ACTION)  # back to the start screens, in their order
        if route.locked and self._lock is not None and not ctx.visitor \
                and ctx.user.codeword_hash:
            now = self.services.clock()
            blocked = ctx.user.lock_blocked_until
            if (blocked is not None and _aware(blocked) > now) or not ctx.unlocked():
                # Behind her code word: the lock screen, which keeps where she was going.
                ctx.locked_action = pending
                return await self._lock.handler(ctx)
            ctx.unlocked_until = now + LOCK_IDLE  # each use of a locked screen extends it
        return await route.handler(ctx)

    @property
    def table(self) -> RoutingTable:
        return self._table

    def claims(self, action: str) -> bool:
        """Whether a button's action has its handler: quick exit, or a row of the table."""
        return action == EXIT_ACTION or self._table.claims(action)

    def _typed_secret(self, inbound: Inbound, state: str | None) -> bool:
        """Whether she typed into a secret prompt (her code word: `state` is her session's when
        the message arrived) or a secret command (/redeem)."""
        if inbound.text is None:
            return False
        text = inbound.text.strip()
        if text.startswith("/"):
            word = text.split(maxsplit=1)[0].split("@", 1)[0].lower()
            if word in self._secret_commands:
                return True
            if word in self._table.commands:
                return False
        return state is not None and state in self._secret_states

    def _session_is_address(self, inbound: Inbound) -> bool:
        """A channel whose address lives only as long as a session (the web chat's page secret):
        when her session is gone, what her row holds is freed (bot/services/retention.py)."""
        capabilities = self.services.channels.get(inbound.channel)
        return capabilities is not None and not capabilities.addresses_outlive_sessions

    def _is_exit(self, inbound: Inbound) -> bool:
        if inbound.action is not None:
            return inbound.action == EXIT_ACTION
        text = (inbound.text or "").strip()
        return (text.split("@", 1)[0].lower() in EXIT_COMMANDS
                or fold_word(text) in self._exit_words)

    @staticmethod
    def _finish(outcome: Outcome) -> Outcome:
        if outcome.replies and not outcome.exit:
            outcome.replies[-1] = with_exit(outcome.replies[-1])
        return outcome

    @staticmethod
    def _log_failure(exc: BaseException) -> None:
        # Only the type and where: an exception's message can carry what the person typed.
        frames = traceback.extract_tb(exc.__traceback__)
        where = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in frames[-4:]]
        log.error("update failed: %s at %s", type(exc).__name__, " < ".join(reversed(where)))

    def _spawn(self, item: Outgoing) -> None:
        if self.deliver is None:
            return
        task = asyncio.create_task(self._deliver_safely(item))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_safely(self, item: Outgoing) -> None:
        try:
            await self.deliver(item)  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001
            self._log_failure(exc)

    async def drain(self) -> None:
        """Wait for relays and reads under way (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self._loader.drain()


def _unlocked_until(raw: object) -> datetime | None:
    """The moment her locked screens close, as her session keeps it (a POSIX timestamp)."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return datetime.fromtimestamp(raw, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _delete_at(now: datetime, vanish_minutes: int) -> datetime | None:
    """When vanishing chat deletes a message sent now (within Telegram's deletion window)."""
    if vanish_minutes <= 0:
        return None
    return now + min(timedelta(minutes=vanish_minutes), DELETE_WINDOW)
