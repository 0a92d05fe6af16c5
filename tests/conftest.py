"""Shared fixtures: one contract, run on SQLite and on PostgreSQL.

PostgreSQL tests use a database of their own per pytest-xdist worker, created on the server at
``MDM_TEST_POSTGRES_URL``. Without a server they are skipped, except under ``CI=true``, where a
missing PostgreSQL fails the run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import OperationalError

from mdm.storage.database import make_engine, upgrade
from mdm.storage.tables import Base

POSTGRES_URL = os.environ.get("MDM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Two checkouts testing at once on one server must not drop each other's databases.
CHECKOUT_TAG = hashlib.sha1(str(Path(__file__).resolve().parent).encode(), usedforsecurity=False).hexdigest()[
    :8
]


def _postgres_database(worker: str) -> str:
    """Create (fresh) the worker's own database and return its URL."""
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"mdm_test_{CHECKOUT_TAG}_{worker}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {error}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    finally:
        admin.dispose()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgresql_engine(worker_id: str) -> Iterator[Engine]:
    engine = make_engine(_postgres_database(worker_id))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "mdm.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An empty, migrated database: the contract tests run once on each backend."""
    chosen: Engine = request.getfixturevalue(f"{request.param}_engine")
    _empty(chosen)
    yield chosen


@pytest.fixture
def pg_engine(postgresql_engine: Engine) -> Iterator[Engine]:
    """An empty PostgreSQL database, for tests of what only PostgreSQL does (COPY, concurrency)."""
    _empty(postgresql_engine)
    yield postgresql_engine
