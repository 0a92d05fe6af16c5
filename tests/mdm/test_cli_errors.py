"""Bad input on the command line ends in one line with an error code and status 2, never a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

from mdm.cli import app
from tests.mdm.conftest import write_rows


@pytest.fixture
def mdm_at(tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """Run ``mdm`` against a database URL of the test's choosing (default: a fresh SQLite file)."""

    def run(*args: str, url: str | None = None, **env: str) -> Result:
        database = url or f"sqlite:///{tmp_path / 'mdm.db'}"
        return CliRunner().invoke(
            app, list(args), env={"MDM_DATABASE_URL": database, "MDM_WORK_DIR": str(tmp_path), **env}
        )

    yield run
    structlog.reset_defaults()


def _failed_cleanly(result: Result, code: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"[{code}]" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("url", ["garbage", "sqlite:////no/such/folder/mdm.db"])
def test_an_unusable_database_url_is_named(mdm_at: Callable[..., Result], url: str) -> None:
    _failed_cleanly(mdm_at("init", url=url), "database.unavailable")


def test_a_malformed_profile_file_is_a_clean_error(mdm_at: Callable[..., Result], tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text("[organisation]\nauto_merge = 3\n", encoding="utf-8")

    result = mdm_at("match", "--plan", MDM_PROFILE_FILE=str(profile))

    _failed_cleanly(result, "config.invalid")


def test_too_few_records_to_train_is_a_clean_error(mdm_at: Callable[..., Result], tmp_path: Path) -> None:
    rows = [
        [f"c{n}", "B2B", f"Firm {n}", "", f"a{n}@firm{n}.example", "", "", "", "Pro", "", ""]
        for n in range(3)
    ]
    header = ["contact_id", "segment", "display_name", "contact_name", "email", "phone", "city", "country",
              "plan", "created_at", "updated_at"]  # fmt: skip
    loaded = mdm_at("load", str(write_rows(tmp_path / "support.csv", header, rows)), "--system", "support")
    assert loaded.exit_code == 0, loaded.output

    _failed_cleanly(mdm_at("match"), "model.unavailable")


def test_a_file_that_is_not_parquet_is_refused(mdm_at: Callable[..., Result], tmp_path: Path) -> None:
    fake = tmp_path / "erp.parquet"
    fake.write_text("KUNNR,NAME1\n1,Acme\n", encoding="utf-8")

    _failed_cleanly(mdm_at("load", str(fake), "--system", "erp"), "input.unreadable")


def test_export_into_a_missing_folder_is_refused(mdm_at: Callable[..., Result], tmp_path: Path) -> None:
    out = tmp_path / "absent" / "golden.csv"

    _failed_cleanly(mdm_at("export", "--what", "golden", "--out", str(out)), "output.unwritable")
    assert not out.parent.exists()


def test_a_load_that_rejects_every_row_fails(mdm_at: Callable[..., Result], tmp_path: Path) -> None:
    header = ["contact_id", "segment", "display_name", "contact_name", "email", "phone", "city", "country",
              "plan", "created_at", "updated_at"]  # fmt: skip
    rows = [["", "B2B", "Acme", "", "", "", "", "", "Pro", "", ""]]

    result = mdm_at("load", str(write_rows(tmp_path / "support.csv", header, rows)), "--system", "support")

    assert result.exit_code == 2
    assert "nothing was loaded" in result.stderr


def test_a_file_that_is_not_a_database_is_named(mdm_at: Callable[..., Result], tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database at all\n" * 100, encoding="utf-8")

    _failed_cleanly(mdm_at("init", url=f"sqlite:///{text}"), "database.unavailable")


@pytest.mark.parametrize("content", ["system,source_id,entity_id\n", "\ufeffsystem,source_id\ncrm,1\n"])
def test_an_unusable_truth_file_is_refused(
    mdm_at: Callable[..., Result], tmp_path: Path, content: str
) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text(content, encoding="utf-8")

    _failed_cleanly(mdm_at("evaluate", str(truth)), "input.unreadable")
