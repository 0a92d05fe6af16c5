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


def test_the_default_region_is_read_upper_cased_or_left_unset() -> None:
    assert Settings.from_env({"MDM_DEFAULT_REGION": " gb "}).default_region == "GB"
    assert Settings.from_env({"MDM_DEFAULT_REGION": ""}).default_region is None
