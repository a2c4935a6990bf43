"""Data: SQLAlchemy 2 models, the engine and session factory, queries, reference data, Alembic migrations. Imports nothing of ours."""
