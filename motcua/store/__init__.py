"""Storage: SQLAlchemy 2 tables, repositories and Alembic migrations (SQLite embedded, PostgreSQL in production)."""
