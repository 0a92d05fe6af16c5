"""Settings from the environment (``MDM_*``), read in this one place only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

DEFAULT_DATABASE_URL = "sqlite:///mdm.db"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the hub reads from its environment.

    Attributes:
        database_url: SQLAlchemy URL; ``postgresql://`` URLs are driven by psycopg 3.
        redis_url: Redis for jobs and events; None runs jobs in process.
        profile_file: a match profile TOML overriding the built-in default.
        mappings_dir: folder of source mapping TOML files, one per system.
        work_dir: scratch space for DuckDB and rejects files.
        log_format: ``console`` or ``json``; None picks by whether stderr is a terminal.
        default_region: the ISO 3166-1 country whose national phone format a search reads, so
            that ``020 7946 0000`` finds ``+442079460000`` with ``GB``; None reads international
            numbers only, since a national number alone does not say its country.
    """

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    profile_file: Path | None = None
    mappings_dir: Path | None = None
    work_dir: Path = Path(".mdm")
    log_format: str | None = None
    log_level: str = "info"
    default_region: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``MDM_*`` variables, with defaults that need no server."""
        env = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value) if value else None

        return cls(
            database_url=normalise_database_url(env.get("MDM_DATABASE_URL") or DEFAULT_DATABASE_URL),
            redis_url=env.get("MDM_REDIS_URL") or None,
            profile_file=path("MDM_PROFILE_FILE"),
            mappings_dir=path("MDM_MAPPINGS_DIR"),
            work_dir=path("MDM_WORK_DIR") or Path(".mdm"),
            log_format=env.get("MDM_LOG_FORMAT") or None,
            log_level=env.get("MDM_LOG_LEVEL") or "info",
            default_region=(env.get("MDM_DEFAULT_REGION") or "").strip().upper() or None,
        )


def normalise_database_url(url: str) -> str:
    """Point plain ``postgresql://`` URLs at psycopg 3 rather than psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
