"""SQLAlchemy 2 tables, the audit chain and Alembic migrations."""
