"""Alembic environment for the tsq store.

Two callers: `tsq.store` passes an open connection (already inside its write transaction and
holding the migration lock) in ``config.attributes["connection"]``; a developer runs the `alembic`
CLI from the repository root and names the store with ``-x store=PATH_OR_URL`` (a path,
``sqlite:///PATH`` or ``postgresql://...``).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from tsq.store import Base, default_location, locate

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead
        # (on PostgreSQL it is a plain ALTER).
        render_as_batch=True,
        # tsq's SQLite engine emits BEGIN itself, so DDL is transactional there as it is on
        # PostgreSQL: a migration either completes or leaves the store as it was.
        transactional_ddl=True,
        **kwargs,
    )


def _cli_location() -> str:
    return context.get_x_argument(as_dictionary=True).get("store") or default_location()


def run_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    _configure(url=locate(_cli_location()).url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    where = locate(_cli_location())
    where.prepare(create=True)  # the alembic CLI makes a store it is pointed at
    engine = where.make_engine()
    try:
        with engine.connect() as cli_connection:
            _configure(connection=cli_connection)
            with context.begin_transaction():
                # The lock tsq's own migrations take (PostgreSQL: an advisory lock).
                where.lock_schema(cli_connection)
                context.run_migrations()
    finally:
        engine.dispose()


if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
