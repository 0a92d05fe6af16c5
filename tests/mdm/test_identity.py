"""Canonical ids: random, self-checking, read forgivingly and rejected when mistyped."""

import random
import string
import urllib.parse

import pytest

from mdm.errors import InvalidCanonicalIdError
from mdm.identity import (
    ALPHABET,
    CHECK_SYMBOLS,
    LENGTH,
    check_symbol,
    is_canonical_id,
    new_canonical_id,
    parse_canonical_id,
)

SAMPLE = [new_canonical_id(random.Random(seed)) for seed in range(40)]

# Every character anyone might type, minus those that read as the same symbol.
TYPED = sorted(set(string.ascii_uppercase + string.digits + "-._~*$="))


def read_as(symbol: str) -> str:
    return {"I": "1", "L": "1", "O": "0"}.get(symbol, symbol)


def test_new_ids_have_the_documented_shape() -> None:
    canonical_id = new_canonical_id()

    assert len(canonical_id) == LENGTH == 14
    assert canonical_id[0] == "C"
    assert all(symbol in ALPHABET for symbol in canonical_id[1:-1])
    assert canonical_id[-1] == check_symbol(canonical_id[1:-1])


def test_new_ids_are_random_and_reproducible_with_a_seed() -> None:
    assert new_canonical_id(random.Random(5)) == new_canonical_id(random.Random(5))
    assert len({new_canonical_id() for _ in range(1000)}) == 1000


def test_every_check_symbol_is_reached_and_url_safe() -> None:
    generator = random.Random(11)
    seen = {new_canonical_id(generator)[-1] for _ in range(5000)}

    assert seen == set(CHECK_SYMBOLS)
    assert urllib.parse.quote(CHECK_SYMBOLS) == CHECK_SYMBOLS


@pytest.mark.parametrize("canonical_id", SAMPLE)
def test_round_trip(canonical_id: str) -> None:
    assert parse_canonical_id(canonical_id) == canonical_id
    assert is_canonical_id(canonical_id)


@pytest.mark.parametrize("canonical_id", SAMPLE[:10])
def test_reading_ignores_case_space_and_look_alikes(canonical_id: str) -> None:
    written = canonical_id.lower().replace("1", "l").replace("0", "o")

    assert parse_canonical_id(f"  {written}\n") == canonical_id


@pytest.mark.parametrize("canonical_id", SAMPLE)
def test_every_single_character_substitution_is_detected(canonical_id: str) -> None:
    for position in range(LENGTH):
        for symbol in TYPED:
            if read_as(symbol) == canonical_id[position]:
                continue
            mistyped = canonical_id[:position] + symbol + canonical_id[position + 1 :]
            with pytest.raises(InvalidCanonicalIdError) as caught:
                parse_canonical_id(mistyped, field="customer_id")
            assert caught.value.field == "customer_id"


@pytest.mark.parametrize("canonical_id", SAMPLE)
def test_every_adjacent_transposition_is_detected(canonical_id: str) -> None:
    for position in range(LENGTH - 1):
        if canonical_id[position] == canonical_id[position + 1]:
            continue
        swapped = (
            canonical_id[:position]
            + canonical_id[position + 1]
            + canonical_id[position]
            + canonical_id[position + 2 :]
        )
        assert not is_canonical_id(swapped), swapped


@pytest.mark.parametrize("position", range(11))
def test_transposition_detection_holds_for_every_pair_of_symbols(position: int) -> None:
    base = list(SAMPLE[1][1:-1])
    for first in ALPHABET:
        for second in ALPHABET:
            if first == second:
                continue
            body, swapped = base.copy(), base.copy()
            body[position : position + 2] = [first, second]
            swapped[position : position + 2] = [second, first]
            assert check_symbol("".join(body)) != check_symbol("".join(swapped))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "14 characters"),
        (SAMPLE[0][:-1], "14 characters"),
        (SAMPLE[0] + "0", "14 characters"),
        ("X" + SAMPLE[0][1:], "starts with"),
        (SAMPLE[0][:3] + "U" + SAMPLE[0][4:], "character 4"),
        (SAMPLE[0][:3] + "-" + SAMPLE[0][4:], "character 4"),
        (SAMPLE[0][:-1] + "*", "check symbol"),
    ],
)
def test_errors_say_what_is_wrong_and_name_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidCanonicalIdError, match=message) as caught:
        parse_canonical_id(text)

    assert caught.value.field == "canonical_id"
    assert caught.value.code == "canonical_id.invalid"


def test_a_wrong_check_character_is_reported_as_such() -> None:
    canonical_id = SAMPLE[0]
    wrong = next(symbol for symbol in CHECK_SYMBOLS if symbol != canonical_id[-1])

    with pytest.raises(InvalidCanonicalIdError, match="check character does not match"):
        parse_canonical_id(canonical_id[:-1] + wrong)
