"""The command line: ``match --full`` on unchanged data changes nothing; ``load`` reports its rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import Result

from mdm.mappings import SourceMapping
from mdm.sample import SampleFiles
from tests.mdm.conftest import load_all, write_rows
from tests.mdm.test_bulk import checksums, crosswalk

DEFAULT_PROFILE = Path(__file__).parents[2] / "matching" / "profiles" / "default.toml"


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


def test_load_prints_the_fields_it_set_missing(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "people.toml").write_text(
        'system = "people"\nsource_id = "id"\n[kind]\nconstant = "person"\n'
        '[fields]\nname = "name"\ndate_of_birth = "born"\n[formats]\ndate_of_birth = ["%Y%m%d"]\n'
        '[invalid]\ndate_of_birth = "missing"\n',
        encoding="utf-8",
    )
    file = write_rows(
        tmp_path / "people.csv", ["id", "name", "born"], [["p1", "Ann", "19560409"], ["p2", "Bo", "19551192"]]
    )

    result = run_cli(
        "load", str(file), "--system", "people", MDM_MAPPINGS_DIR=str(mappings), MDM_WORK_DIR=str(tmp_path)
    )

    assert result.exit_code == 0, result.output
    printed = " ".join(result.stdout.split())
    assert "2 new" in printed and "0 rejected, 1 invalid fields set missing" in printed
    assert "set missing: row 2: '19551192' fits none of the formats of date_of_birth" in printed
    assert "[date.unparseable, source id p2, field date_of_birth]" in printed
    assert len(list((tmp_path / "rejects").glob("people-load*-warnings.csv"))) == 1


@pytest.mark.slow
def test_a_changed_profile_is_pointed_out_and_a_new_model_trains_from_it(
    hub: Engine,
    run_cli: Callable[..., Result],
    sample_files: SampleFiles,
    sample_mappings: dict[str, SourceMapping],
    tmp_path: Path,
) -> None:
    load_all(hub, sample_files, sample_mappings)
    profile = tmp_path / "profile.toml"
    default = DEFAULT_PROFILE.read_text(encoding="utf-8")
    profile.write_text(
        default.replace("auto_merge_weight = 7.0", "auto_merge_weight = 30.0"), encoding="utf-8"
    )

    planned = run_cli("match", "--plan", MDM_PROFILE_FILE=str(profile))
    trained = run_cli("model", "train", "--activate", MDM_PROFILE_FILE=str(profile))
    again = run_cli("match", "--plan", MDM_PROFILE_FILE=str(profile))

    assert planned.exit_code == 0, planned.output
    assert "the active organisation model was trained with another match profile" in " ".join(
        planned.stdout.split()
    )
    assert "the active person model" not in " ".join(planned.stdout.split())
    assert trained.exit_code == 0, trained.output
    assert "organisation: model 3 trained" in trained.stdout
    assert "trained with another match profile" not in again.stdout
