from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from rapidfuzz.distance import Levenshtein

from mdm.evaluate import read_truth
from mdm.sample import SYSTEMS, SampleFiles, generate_sample, sample_mappings_dir

CUSTOMERS = 2000


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleFiles:
    return generate_sample(tmp_path_factory.mktemp("sample"), customers=CUSTOMERS, seed=11)


@pytest.fixture(scope="module")
def mappings() -> dict[str, dict[str, Any]]:
    folder = sample_mappings_dir()
    return {system: tomllib.loads((folder / f"{system}.toml").read_text("utf-8")) for system in SYSTEMS}


@pytest.fixture(scope="module")
def frames(sample: SampleFiles) -> dict[str, pd.DataFrame]:
    paths = {system: file.path for system, file in sample.systems.items()}
    return {
        "crm": pd.read_csv(paths["crm"], dtype=str, keep_default_na=False),
        "billing": pd.read_json(paths["billing"], lines=True, dtype=False),
        "erp": pq.read_table(paths["erp"]).to_pandas(),
        "support": pd.read_csv(paths["support"], dtype=str, keep_default_na=False),
    }


@pytest.fixture(scope="module")
def truth(sample: SampleFiles) -> dict[str, str]:
    return read_truth(sample.truth)


def _value(raw: object) -> str | None:
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    text = str(raw)
    return text if text.strip() else None


def _parses(value: str, formats: list[str]) -> bool:
    for date_format in formats:
        try:
            datetime.strptime(value, date_format)
        except ValueError:
            continue
        return True
    return False


def _defects(row: pd.Series, mapping: dict[str, Any]) -> list[str]:
    """Why a loader following the mapping must reject the row (empty when it is good)."""
    defects = []
    if _value(row[mapping["source_id"]]) is None:
        defects.append("missing_source_id")
    known_kinds = {value for values in mapping["kind"]["values"].values() for value in values}
    if _value(row[mapping["kind"]["column"]]) not in known_kinds:
        defects.append("unknown_kind")
    for field, formats in mapping["formats"].items():
        value = _value(row[mapping["fields"][field]])
        if value is not None and not _parses(value, formats):
            defects.append("unparseable_date")
    return defects


def _entity_rows(frames: dict[str, pd.DataFrame], mappings: dict[str, dict[str, Any]], truth: dict[str, str]):
    """(entity id, system, row) for every good row."""
    for system, frame in frames.items():
        id_column = mappings[system]["source_id"]
        for _, row in frame.iterrows():
            key = f"{system}/{_value(row[id_column])}"
            if key in truth:
                yield truth[key], system, row


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = generate_sample(tmp_path / "a", customers=150, seed=3)
    second = generate_sample(tmp_path / "b", customers=150, seed=3)
    other = generate_sample(tmp_path / "c", customers=150, seed=4)

    names = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert names == sorted(path.name for path in (tmp_path / "b").iterdir())
    assert {"crm.csv", "billing.jsonl", "erp.parquet", "support.csv", "truth.csv"} <= set(names)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first.records == second.records
    assert (tmp_path / "a" / "crm.csv").read_bytes() != (tmp_path / "c" / "crm.csv").read_bytes()
    assert other.customers == 150


def test_files_are_readable_and_counted(sample: SampleFiles, frames: dict[str, pd.DataFrame]) -> None:
    for system, frame in frames.items():
        assert len(frame) == sample.systems[system].records
        assert sample.systems[system].records > 0
    assert sample.customers == CUSTOMERS
    assert any("customers" in line for line in sample.summary_lines())


def test_every_mapped_column_exists_in_its_file(
    frames: dict[str, pd.DataFrame], mappings: dict[str, dict[str, Any]]
) -> None:
    for system, mapping in mappings.items():
        columns = set(frames[system].columns)
        named = {mapping["source_id"], mapping["kind"]["column"], *mapping["fields"].values()}
        named |= set(mapping.get("extra", {}).get("columns", []))

        assert mapping["system"] == system
        assert named <= columns, named - columns
        assert "updated_at" in mapping["fields"]
        assert set(mapping["formats"]) <= set(mapping["fields"])
        assert set(mapping["kind"]["values"]) == {"organisation", "person"}


def test_truth_covers_every_good_row_and_no_bad_row(
    sample: SampleFiles,
    frames: dict[str, pd.DataFrame],
    mappings: dict[str, dict[str, Any]],
    truth: dict[str, str],
) -> None:
    seen_defects: Counter[str] = Counter()
    for system, frame in frames.items():
        mapping = mappings[system]
        bad = 0
        for _, row in frame.iterrows():
            defects = _defects(row, mapping)
            key = f"{system}/{_value(row[mapping['source_id']])}"
            if defects:
                bad += 1
                seen_defects.update(defects)
                assert key not in truth
            else:
                assert key in truth
        assert bad == sample.systems[system].bad_records
        assert 1 <= bad <= max(3, 0.006 * len(frame))

    assert sum(file.records - file.bad_records for file in sample.systems.values()) == len(truth)
    assert set(seen_defects) == {"missing_source_id", "unknown_kind", "unparseable_date"}


def test_organisation_share_is_about_85_percent(
    frames: dict[str, pd.DataFrame], mappings: dict[str, dict[str, Any]], truth: dict[str, str]
) -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    for entity, system, row in _entity_rows(frames, mappings, truth):
        values = mappings[system]["kind"]["values"]
        kind = next(
            kind for kind, spellings in values.items() if row[mappings[system]["kind"]["column"]] in spellings
        )
        kinds[entity].add(kind)

    assert len(kinds) == CUSTOMERS
    assert all(len(found) == 1 for found in kinds.values())
    share = sum(found == {"organisation"} for found in kinds.values()) / len(kinds)
    assert 0.83 <= share <= 0.87


def test_many_customers_appear_in_several_systems_and_some_twice_in_one(truth: dict[str, str]) -> None:
    systems: dict[str, set[str]] = defaultdict(set)
    records: Counter[tuple[str, str]] = Counter()
    for key, entity in truth.items():
        system = key.split("/", 1)[0]
        systems[entity].add(system)
        records[(entity, system)] += 1

    multi = sum(len(found) >= 2 for found in systems.values()) / len(systems)
    duplicated = sum(count >= 2 for count in records.values())
    assert multi >= 0.40
    assert duplicated >= 0.01 * CUSTOMERS


def test_hard_negative_groups_cover_about_ten_percent(
    sample: SampleFiles,
    frames: dict[str, pd.DataFrame],
    mappings: dict[str, dict[str, Any]],
    truth: dict[str, str],
) -> None:
    groups = pd.read_csv(sample.hard_negatives, dtype=str)
    members = groups.groupby("group_id")["entity_id"].nunique()

    assert 0.08 <= groups["entity_id"].nunique() / CUSTOMERS <= 0.12
    assert set(groups["group_kind"]) == {
        "brand_in_two_countries",
        "name_in_two_cities",
        "family",
        "office_building",
    }
    assert members.between(2, 3).all()

    # Family members share phone and address; firms in one building share the address.
    group_of = dict(zip(groups["entity_id"], groups["group_id"], strict=True))
    kind_of = dict(zip(groups["group_id"], groups["group_kind"], strict=True))
    billing: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for entity, system, row in _entity_rows(frames, mappings, truth):
        if system == "billing" and entity in group_of:
            billing[group_of[entity]].append((entity, _value(row["phone"]) or "", row["address_postal_code"]))
    shared: dict[str, list[bool]] = defaultdict(list)
    for group, rows in billing.items():
        for left, right in combinations(rows, 2):
            if left[0] != right[0] and left[1] and right[1]:
                shared[kind_of[group]].append(left[1] == right[1] and left[2] == right[2])
    assert shared["family"] and sum(shared["family"]) / len(shared["family"]) >= 0.8
    assert not any(shared["brand_in_two_countries"])


def test_typo_rate_is_about_five_percent(
    sample: SampleFiles,
    frames: dict[str, pd.DataFrame],
    mappings: dict[str, dict[str, Any]],
    truth: dict[str, str],
) -> None:
    cities: dict[str, list[str]] = defaultdict(list)
    for entity, system, row in _entity_rows(frames, mappings, truth):
        city = (
            _value(row[mappings[system]["fields"]["city"]]) if "city" in mappings[system]["fields"] else None
        )
        if city:
            cities[entity].append(city.casefold())

    # A pair of one customer's city values differs by a typo when either value carries one.
    pairs = [pair for values in cities.values() for pair in combinations(values, 2)]
    typo_pairs = sum(1 <= Levenshtein.distance(left, right) <= 2 for left, right in pairs)
    assert 0.04 <= sample.typo_rate <= 0.06
    assert 0.05 <= typo_pairs / len(pairs) <= 0.15


def test_each_system_writes_its_own_formats(
    frames: dict[str, pd.DataFrame], mappings: dict[str, dict[str, Any]], truth: dict[str, str]
) -> None:
    tax_ids: dict[str, list[bool]] = defaultdict(list)
    for _, system, row in _entity_rows(frames, mappings, truth):
        if system == "billing" and row["customer_type"] == "business":
            assert row["name"] == row["name"].upper()
            assert (_value(row["phone"]) or "+").startswith("+")
            assert len(row["address_country"]) in (2, 3)
        if system == "erp" and _value(row["STCEG"]) and row["LAND1"] != "US":
            assert row["STCEG"][:2] == row["LAND1"]
        column = mappings[system]["fields"].get("tax_id")
        kind_column = mappings[system]["kind"]["column"]
        if row[kind_column] in mappings[system]["kind"]["values"]["organisation"]:
            tax_ids[system].append(column is not None and _value(row[column]) is not None)

    share = {system: sum(found) / len(found) for system, found in tax_ids.items()}
    assert share["erp"] >= 0.8
    assert share["billing"] >= 0.7
    assert 0.05 <= share["crm"] <= 0.3
    assert share["support"] == 0
    assert frames["crm"]["Phone"].str.contains(r"^\(\d{3}\) \d{3}-\d{4}$").any()
    assert frames["crm"]["BillingCountry"].isin(["Germany", "United Kingdom"]).any()
    assert frames["erp"]["GBDAT"].notna().any()


def test_mappings_folder_holds_one_mapping_per_system() -> None:
    folder = sample_mappings_dir()

    assert folder.is_dir()
    assert sorted(path.stem for path in folder.glob("*.toml")) == sorted(SYSTEMS)


def test_some_systems_hold_stale_addresses_and_ascii_names(
    sample: SampleFiles,
    frames: dict[str, pd.DataFrame],
    mappings: dict[str, dict[str, Any]],
    truth: dict[str, str],
) -> None:
    postal_codes: dict[str, set[str]] = defaultdict(set)
    names: dict[str, dict[str, str]] = defaultdict(dict)
    for entity, system, row in _entity_rows(frames, mappings, truth):
        fields = mappings[system]["fields"]
        if "postal_code" in fields and (code := _value(row[fields["postal_code"]])):
            postal_codes[entity].add(code.replace(" ", "").upper())
        if system == "billing" and row["customer_type"] == "business":
            names[entity]["billing"] = row["name"]
        if system == "erp" and (legal := _value(row["NAME_LEGAL"])):
            names[entity]["erp"] = legal

    moved = sum(len(codes) >= 2 for codes in postal_codes.values())
    ascii_forms = sum(
        not found["erp"].isascii() and found["billing"].isascii()
        for found in names.values()
        if {"erp", "billing"} <= set(found)
    )
    assert 0.5 * sample.stale_address_customers <= moved <= 1.5 * sample.stale_address_customers
    assert sample.stale_address_customers >= 0.02 * CUSTOMERS
    assert sample.renamed_customers >= 0.01 * CUSTOMERS
    assert ascii_forms >= 10


def test_files_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    script = "import sys; from pathlib import Path; from mdm.sample import generate_sample; "
    script += "generate_sample(Path(sys.argv[1]), customers=200, seed=5)"
    for hash_seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], check=True, env=environment)

    for name in ("crm.csv", "billing.jsonl", "erp.parquet", "support.csv", "truth.csv"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
