"""Settings come from MDM_* variables and need no server by default."""

from pathlib import Path

from mdm.settings import DEFAULT_DATABASE_URL, Settings


def test_defaults_need_no_server() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.redis_url is None


def test_postgres_urls_use_psycopg3() -> None:
    settings = Settings.from_env({"MDM_DATABASE_URL": "postgresql://u@h/db", "MDM_WORK_DIR": "/tmp/w"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.work_dir == Path("/tmp/w")
