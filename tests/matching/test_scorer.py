"""The in-process scorer and bulk prediction give the same levels and match weights, to 1e-9."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import msgspec
import pandas as pd
import pytest

from matching.prediction import predict_pairs
from matching.scorer import Scorer, match_probability
from matching.training import TrainedModel

TOLERANCE = 1e-9
NON_ASCII = ["ß", "ø", "é", "ł", "ü", "ñ", "日", "ı"]


def every_pair(model: TrainedModel) -> TrainedModel:
    """The model with one blocking rule that admits every pair, so Splink scores all of them."""
    settings = dict(model.splink_settings)
    settings["blocking_rules_to_generate_predictions"] = [{"blocking_rule": "1=1", "sql_dialect": "duckdb"}]
    return msgspec.structs.replace(model, splink_settings=settings)


def differences(model: TrainedModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Score every pair of the frame both ways; return Splink's pairs and every disagreement found."""
    pairs = predict_pairs(frame, every_pair(model), threshold_weight=-1e9)
    records: dict[str, dict[str, Any]] = {
        row["unique_id"]: {key: (None if pd.isna(value) else value) for key, value in row.items()}
        for row in frame.to_dict("records")
    }
    scorer = Scorer(model)

    found = []
    for pair in pairs.to_dict("records"):
        score = scorer.score(records[pair["unique_id_l"]], records[pair["unique_id_r"]])
        where = f"{pair['unique_id_l']} ~ {pair['unique_id_r']}"
        if abs(score.match_weight - pair["match_weight"]) > TOLERANCE:
            found.append(f"{where}: weight {score.match_weight} != {pair['match_weight']}")
        if abs(score.match_probability - pair["match_probability"]) > TOLERANCE:
            found.append(f"{where}: probability {score.match_probability} != {pair['match_probability']}")
        for field in score.fields:
            if field.gamma != pair[f"gamma_{field.comparison}"]:
                found.append(
                    f"{where}: {field.comparison} level {field.gamma} != {pair[f'gamma_{field.comparison}']}"
                )
            if abs(field.match_weight - pair[f"mw_{field.comparison}"]) > TOLERANCE:
                expected = pair[f"mw_{field.comparison}"]
                found.append(f"{where}: {field.comparison} weight {field.match_weight} != {expected}")
    return pairs, found


def _mutated(rng: random.Random, value: str | None, other: str | None, field: str) -> str | None:
    """One value changed in one of the ways that reach every comparison level."""
    if value is None:
        return other if rng.random() < 0.5 else None
    choice = rng.randrange(9)
    if field == "date_of_birth" and choice < 4:
        year, month, day = (int(part) for part in value.split("-"))
        year, month, day = [(year, month, min(day + 1, 28)), (year, min(month + 2, 12), day),
                            (year + 1, month, day), (year + 9, month, day)][choice]  # fmt: skip
        return f"{year:04d}-{month:02d}-{day:02d}"
    if choice == 0 and len(value) > 3:  # transposition: a typo level
        position = rng.randrange(len(value) - 1)
        return value[:position] + value[position + 1] + value[position] + value[position + 2 :]
    if choice == 1 and len(value) > 4:  # one character dropped: a near level
        position = rng.randrange(len(value))
        return value[:position] + value[position + 1 :]
    if choice == 2:  # a non-ASCII character in place of one
        position = rng.randrange(len(value))
        return value[:position] + rng.choice(NON_ASCII) + value[position + 1 :]
    if choice == 3:  # a value no term-frequency table has seen
        return value + "x" + str(rng.randrange(10**6))
    if choice == 4:
        return other
    if choice == 5:
        return None
    if choice == 6 and len(value) > 6:  # a change at the end keeps Jaro-Winkler high
        return value[:-2] + "zz"
    return value


def perturbed(
    frame: pd.DataFrame, model: TrainedModel, *, bases: int, variants: int, seed: int
) -> pd.DataFrame:
    """Records and variants of them, so that every level of every comparison occurs many times."""
    rng = random.Random(seed)
    fields = sorted({field for comparison in model.profile.comparisons for field in comparison.fields})
    groups = [comparison.fields for comparison in model.profile.comparisons if comparison.is_group]
    rows = frame.sample(n=bases, random_state=seed).to_dict("records")
    donors = frame.to_dict("records")

    out = []
    for number, row in enumerate(rows):
        base = {key: (None if pd.isna(value) else value) for key, value in row.items()}
        out.append(dict(base, unique_id=f"b{number:04d}"))
        for variant in range(variants):
            donor = rng.choice(donors)
            changed = dict(base, unique_id=f"b{number:04d}v{variant}")
            for field in rng.sample(fields, k=max(1, len(fields) // 2)):
                other = donor.get(field)
                changed[field] = _mutated(rng, base.get(field), None if pd.isna(other) else other, field)
            if groups and rng.random() < 0.3:  # a group is null only when all its fields are missing
                changed.update(dict.fromkeys(rng.choice(groups), None))
            out.append(changed)
    return pd.DataFrame(out)


@pytest.fixture(scope="module", params=["organisation", "person"])
def kind_case(
    request: pytest.FixtureRequest,
    organisation_model: TrainedModel,
    organisations: tuple[pd.DataFrame, set[tuple[str, str]]],
    person_model: TrainedModel,
    small_persons: pd.DataFrame,
) -> tuple[TrainedModel, pd.DataFrame]:
    if request.param == "organisation":
        return organisation_model, organisations[0]
    # Febrl has no e-mail or phone; made-up ones reach those comparisons' levels (whose weights
    # are Splink's defaults, as the model never saw them: a case the scorer must match too).
    persons = small_persons.copy()
    numbers = range(len(persons))
    persons["email"] = [f"{given}.{number % 97}@mail{number % 5}.example" for given, number in
                        zip(persons["given_name"].fillna("x"), numbers, strict=True)]  # fmt: skip
    persons["phone"] = [f"+6129{number % 300:07d}" for number in numbers]
    return person_model, persons


def test_ten_thousand_random_pairs_score_alike(kind_case: tuple[TrainedModel, pd.DataFrame]) -> None:
    model, frame = kind_case
    sample = frame.sample(n=145, random_state=3)

    pairs, found = differences(model, sample)

    assert len(pairs) >= 10_000
    assert found == []


def test_every_level_of_every_comparison_scores_alike(kind_case: tuple[TrainedModel, pd.DataFrame]) -> None:
    model, frame = kind_case
    variants = perturbed(frame, model, bases=45, variants=5, seed=11)

    pairs, found = differences(model, variants)

    assert found == []
    for comparison in model.profile.comparisons:
        seen = Counter(pairs[f"gamma_{comparison.field}"])
        every_level = range(-1, len(comparison.levels) + 1)
        thin = {gamma: seen[gamma] for gamma in every_level if seen[gamma] < 50}
        assert thin == {}, f"{comparison.field}: levels seen fewer than 50 times: {thin}"


def test_probability_is_stable_at_the_extremes() -> None:
    assert match_probability(0.0) == 0.5
    assert match_probability(2000.0) == 1.0
    assert match_probability(-2000.0) == 0.0
    assert match_probability(10.0) == pytest.approx(1024 / 1025)
