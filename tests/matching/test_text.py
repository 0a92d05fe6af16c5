"""Text primitives: missing values stay missing and Unicode forms fold to one match key."""

import pytest

from matching._text import clean_text, collapse_acronyms, match_key


@pytest.mark.parametrize(
    "value", [None, "", "   ", "--", "n/a", "N/A", "(none)", "<NULL>", "#N/A", "Unknown"]
)
def test_missing_values_become_none(value: str | None) -> None:
    assert clean_text(value) is None
    assert match_key(value) is None


def test_namibia_is_not_a_placeholder() -> None:
    assert clean_text("NA") == "NA"


@pytest.mark.parametrize("value", ["Muñoz", "Mun\u0303oz", "MUNOZ", "  munoz "])
def test_unicode_forms_compare_equal(value: str) -> None:
    assert match_key(value) == "munoz"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Straße", "strasse"), ("O'Brien", "obrien"), ("Søren Ærø", "soren aero"), ("A-B  C", "a b c")],
)
def test_match_key_folds_letters_and_punctuation(value: str, expected: str) -> None:
    assert match_key(value) == expected


@pytest.mark.parametrize(("value", "expected"), [("G.m.b.H.", "GmbH"), ("S.A", "SA"), ("A/S", "AS")])
def test_dotted_acronyms_collapse(value: str, expected: str) -> None:
    assert collapse_acronyms(value) == expected
