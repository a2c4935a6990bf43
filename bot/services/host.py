"""What a scheduled job or a service needs of the running bot. The composition root's Runtime
has all of it; services never import the root."""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.core.context import Services
from bot.core.sessions import SessionStore
from bot.core.settings import Settings
from bot.services.delivery import Delivery


class JobHost(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def services(self) -> Services: ...

    @property
    def delivery(self) -> Delivery: ...

    @property
    def store(self) -> SessionStore: ...

    @property
    def started_at(self) -> datetime:
        """When this process opened, by the bot's clock."""
        ...
