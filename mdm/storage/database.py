"""Engines for PostgreSQL (psycopg 3) and SQLite, and bringing a database's schema up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text

from mdm.settings import normalise_database_url

# Limitation: migrations live at the project root as DESIGN.md lays out, so only an editable or
# source install finds them; a wheel would have to ship them as package data.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for a database URL, with SQLite set up for one writer and enforced foreign keys.

    Bound SQL parameters are hidden from logs and error messages: they carry personal values.
    """
    url = normalise_database_url(url)
    engine = create_engine(url, hide_parameters=True, **options)

    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


def refresh_statistics(engine: Engine, tables: list[str]) -> None:
    """Have PostgreSQL's planner look at tables that a bulk step has just filled.

    Until autovacuum gets to them, a freshly loaded table has no statistics, and the planner may
    read a whole partial index for a one-row lookup. SQLite plans without statistics.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for table in tables:
            connection.execute(text(f"ANALYZE {table}"))


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that runs the project's migrations on this engine."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Create or migrate the schema to the newest revision."""
    command.upgrade(alembic_config(engine), "head")
