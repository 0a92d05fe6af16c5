"""The command line's match job: ``--full`` on unchanged data changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from typer.testing import Result

from mdm.mappings import SourceMapping
from mdm.sample import SampleFiles
from tests.mdm.conftest import load_all
from tests.mdm.test_bulk import checksums, crosswalk


def test_a_full_rerun_on_unchanged_data_changes_nothing(
    hub: Engine,
    run_cli: Callable[..., Result],
    sample_files: SampleFiles,
    sample_mappings: dict[str, SourceMapping],
) -> None:
    load_all(hub, sample_files, sample_mappings)
    first = run_cli("match")
    assert first.exit_code == 0, first.output
    keys_before = crosswalk(hub)
    before = checksums(hub)

    again = run_cli("match", "--full")

    assert again.exit_code == 0, again.output
    printed = " ".join(again.stdout.split())
    assert "0 customers created, 0 records moved, 0 merged, 0 split;" in printed
    assert "0 review items opened, 0 golden records written, 0 events" in printed
    assert checksums(hub) == before
    assert crosswalk(hub) == keys_before and len(keys_before) > 0


def test_match_help_says_full_rematches_every_record(run_cli: Callable[..., Result]) -> None:
    result = run_cli("match", "--help")

    assert result.exit_code == 0
    assert "--full" in result.output
    assert "re-match every live record" in result.output
