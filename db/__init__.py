"""Data: SQLAlchemy 2 models, the engine and session factory, queries, Alembic migrations."""
