"""Alembic migrations of the state store (run programmatically at start-up)."""
