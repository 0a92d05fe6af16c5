"""Alembic environment: runs on the engine that mdm hands over, or on MDM_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from mdm.settings import Settings
from mdm.storage.database import make_engine
from mdm.storage.tables import Base

config = context.config
engine: Engine = config.attributes.get("engine") or make_engine(Settings.from_env().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
