"""Alembic environment: runs with the connection Nimbus hands it (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from nimbus.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
