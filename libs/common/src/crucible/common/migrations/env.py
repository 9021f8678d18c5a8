"""Alembic environment: runs on the connection `Registry.migrate()` hands over."""

from alembic import context

from crucible.common.registry import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: build an engine from the URL
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url")).connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
