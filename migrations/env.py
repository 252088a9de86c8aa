"""Alembic environment for the tsq store.

Two callers: `tsq.store` passes an open connection (already inside its write transaction and
holding the migration lock) in ``config.attributes["connection"]``; a developer runs the `alembic`
CLI from the repository root and names the store with ``-x store=PATH_OR_URL``.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import URL

from tsq.store import Base, default_location, make_engine, store_path

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=True,
        # tsq's engine emits BEGIN itself, so SQLite DDL is transactional: a migration either
        # completes or leaves the store as it was.
        transactional_ddl=True,
        **kwargs,
    )


def _cli_location() -> str:
    return context.get_x_argument(as_dictionary=True).get("store") or default_location()


def run_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    _configure(
        url=URL.create("sqlite", database=str(store_path(_cli_location()))), literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    path = store_path(_cli_location())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(path)
    try:
        with engine.connect() as cli_connection:
            _configure(connection=cli_connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
