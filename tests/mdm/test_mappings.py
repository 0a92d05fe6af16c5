"""Mapping files are checked when read, and errors name the file and the field at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdm.errors import MappingError, UnknownSystemError
from mdm.mappings import mapping_for, read_mapping, read_mappings

GOOD = """
system = "erp"
source_id = "No"
[kind]
constant = "organisation"
[fields]
name = "Name1"
"""


def write(tmp_path: Path, text: str, name: str = "erp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_mapping_names_its_columns(tmp_path: Path) -> None:
    mapping = read_mapping(write(tmp_path, GOOD))
    assert mapping.columns == ["No", "Name1"]
    assert mapping.missing_columns(["Name1"]) == ["No"]
    assert mapping.kind_of({}) == "organisation"


@pytest.mark.parametrize(
    ("replace", "by", "field"),
    [
        ('name = "Name1"', 'nickname = "Name1"', "fields"),
        ('constant = "organisation"', 'constant = "robot"', "kind.constant"),
        ('constant = "organisation"', 'column = "T"\nconstant = "person"', "kind"),
        ('source_id = "No"', 'source_id = "No"\ntimezone = "Mars/Olympus"', "timezone"),
        ('source_id = "No"', 'source_id = "No"\n[formats]\nname = ["%Y"]', "formats"),
    ],
)
def test_bad_mappings_name_the_field(tmp_path: Path, replace: str, by: str, field: str) -> None:
    with pytest.raises(MappingError) as raised:
        read_mapping(write(tmp_path, GOOD.replace(replace, by)))
    assert raised.value.field == field
    assert "erp.toml" in str(raised.value)


def test_invalid_toml_and_missing_keys_are_mapping_errors(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not valid TOML"):
        read_mapping(write(tmp_path, "system = "))
    with pytest.raises(MappingError, match="source_id"):
        read_mapping(write(tmp_path, GOOD.replace('source_id = "No"', "")))


def test_unknown_system_lists_the_configured_ones(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    with pytest.raises(UnknownSystemError, match="configured: erp"):
        mapping_for(read_mappings(tmp_path), "billing")


def test_dates_times_and_kinds_are_parsed_with_the_mapping(tmp_path: Path) -> None:
    text = GOOD.replace('constant = "organisation"', 'column = "T"\nvalues = { person = ["Private"] }')
    text += 'date_of_birth = "Born"\nupdated_at = "At"\n[formats]\ndate_of_birth = ["%d.%m.%Y"]\n'
    mapping = read_mapping(write(tmp_path, text))

    fields, errors = mapping.canonical(
        {"No": "1", "T": "private", "Name1": " Ann ", "Born": "02.03.1980", "At": "2026-05-01T12:00:00+02:00"}
    )
    assert errors == []
    assert fields["kind"] == "person"
    assert fields["name"] == "Ann"
    assert fields["date_of_birth"] == "1980-03-02"
    assert fields["updated_at"] == "2026-05-01T10:00:00+00:00"

    _, errors = mapping.canonical({"No": "1", "T": "", "Name1": "Ann", "Born": "1980", "At": "yesterday"})
    assert sorted(error.field for error in errors) == ["date_of_birth", "kind", "updated_at"]


def test_an_invalid_field_set_missing_is_none_and_marked(tmp_path: Path) -> None:
    text = GOOD + 'date_of_birth = "Born"\nupdated_at = "At"\n[formats]\ndate_of_birth = ["%Y%m%d"]\n'
    strict = read_mapping(write(tmp_path, text))
    lenient = read_mapping(write(tmp_path, text + '[invalid]\ndate_of_birth = "missing"\n'))
    row = {"No": "1", "Name1": "Ann", "Born": "19551192", "At": "yesterday"}

    fields, errors = lenient.canonical(row)

    assert fields["name"] == "Ann" and fields["date_of_birth"] is None
    assert [(e.field, e.code, e.set_missing) for e in errors] == [
        ("date_of_birth", "date.unparseable", True),
        ("updated_at", "time.unparseable", False),
    ]
    _, errors = strict.canonical(row)
    assert [(e.field, e.set_missing) for e in errors] == [("date_of_birth", False), ("updated_at", False)]
    assert strict.on_invalid("date_of_birth") == "reject"
    assert lenient.on_invalid("date_of_birth") == "missing"


@pytest.mark.parametrize(
    ("section", "field", "names"),
    [
        ('kind = "missing"', "invalid.kind", "kind is required"),
        ('source_id = "missing"', "invalid.source_id", "source_id is required"),
        ('nickname = "missing"', "invalid.nickname", "unknown field 'nickname'"),
        ('date_of_birth = "drop"', "invalid.date_of_birth", "unknown action 'drop'"),
        ('updated_at = "missing"', "invalid.updated_at", "updated_at is not mapped"),
        ('name = "missing"', "invalid.name", "name is kept as text"),
        ('kind = "missing"\nnickname = "reject"', "invalid", "kind is required.*unknown field 'nickname'"),
    ],
)
def test_bad_invalid_sections_are_refused_naming_the_key(
    tmp_path: Path, section: str, field: str, names: str
) -> None:
    text = GOOD + f'date_of_birth = "Born"\n[invalid]\n{section}\n'

    with pytest.raises(MappingError, match=names) as raised:
        read_mapping(write(tmp_path, text))

    assert raised.value.field == field
    assert "erp.toml" in str(raised.value)


def test_reject_is_allowed_for_any_field_and_is_the_default(tmp_path: Path) -> None:
    text = GOOD + '[invalid]\nkind = "reject"\nname = "reject"\n'

    mapping = read_mapping(write(tmp_path, text))

    assert mapping.on_invalid("kind") == mapping.on_invalid("email") == "reject"


@pytest.mark.parametrize(
    ("born", "at", "field", "code"),
    [
        ("0001-01-01", "2024-05-01T10:00:00Z", "date_of_birth", "date.implausible"),
        ("2199-01-01", "2024-05-01T10:00:00Z", "date_of_birth", "date.implausible"),
        ("1980-05-01", "2099-01-01T00:00:00Z", "updated_at", "time.future"),
    ],
)
def test_implausible_dates_and_future_times_are_errors(
    tmp_path: Path, born: str, at: str, field: str, code: str
) -> None:
    text = GOOD + 'date_of_birth = "Born"\nupdated_at = "At"\n'
    mapping = read_mapping(write(tmp_path, text))

    fields, errors = mapping.canonical({"No": "1", "Name1": "Acme", "Born": born, "At": at})

    assert [(error.field, error.code) for error in errors] == [(field, code)]
    assert fields[field] is None


def test_a_list_where_one_value_belongs_is_an_error(tmp_path: Path) -> None:
    mapping = read_mapping(write(tmp_path, GOOD))

    fields, errors = mapping.canonical({"No": "1", "Name1": ["Acme", "Zenith"]})

    assert [(error.field, error.code) for error in errors] == [("name", "value.not_scalar")]
    assert fields["name"] is None


def test_bytes_where_text_belongs_are_an_error(tmp_path: Path) -> None:
    mapping = read_mapping(write(tmp_path, GOOD))

    fields, errors = mapping.canonical({"No": "1", "Name1": b"\xff\xfe"})

    assert [(error.field, error.code) for error in errors] == [("name", "value.binary")]
    assert fields["name"] is None


def test_an_empty_source_id_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as raised:
        read_mapping(write(tmp_path, GOOD.replace('source_id = "No"', 'source_id = " "')))
    assert raised.value.field == "source_id"


def test_a_missing_mappings_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="does not exist"):
        read_mappings(tmp_path / "absent")
