"""The migrations run on SQLite and PostgreSQL, match the models, and the app refuses an unmigrated
database when it is told not to migrate itself."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.runtime import open_runtime
from db.engine import NotMigratedError, current_revision, head_revision, make_engine, upgrade
from db.models import Base
from tests.conftest import make_settings

# Depends on the database itself: runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_databases


async def test_migrations_reach_head_and_match_models(database_url: str) -> None:
    await upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
        assert diff == []
    finally:
        await engine.dispose()


async def test_refuses_unmigrated_database(tmp_path) -> None:  # noqa: ANN001
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/empty.db", auto_migrate=False)
    with pytest.raises(NotMigratedError, match="python -m bot migrate"):
        async with open_runtime(settings):
            pass
