"""Constrained greedy clustering: strongest links first, constraints honoured, no chains."""

import random

import pytest
from rapidfuzz.distance import DamerauLevenshtein

from matching.clustering import Clustering, Link, ReviewItem, cluster

AUTO_MERGE = 10.0
REVIEW = 4.0


def typo_tolerant(field: str, a: str | None, b: str | None) -> bool:
    """Conflict when both values are present and more than one edit (or swap) apart: a lowest level."""
    if a is None or b is None:
        return False
    return DamerauLevenshtein.distance(a, b) > 1


def run(
    records: str,
    links: list[Link],
    strong: dict[str, dict[str, str | None]] | None = None,
    *,
    must_link: list[tuple[str, str]] | None = None,
    cannot_link: list[tuple[str, str]] | None = None,
    max_cluster_size: int = 20,
) -> Clustering:
    return cluster(
        list(records),
        links,
        auto_merge=AUTO_MERGE,
        review=REVIEW,
        strong_values=strong or {},
        conflicts=typo_tolerant,
        must_link=must_link or [],
        cannot_link=cannot_link or [],
        max_cluster_size=max_cluster_size,
    )


def test_chain_guard_keeps_a_conflicting_record_apart() -> None:
    links = [Link("A", "B", 20.0), Link("B", "C", 18.0)]
    strong: dict[str, dict[str, str | None]] = {"A": {"tax_id": "DE111111"}, "C": {"tax_id": "DE999999"}}

    result = run("ABC", links, strong)

    assert result.clusters == [("A", "B"), ("C",)]
    assert result.review_items == [ReviewItem("B", "C", 18.0, "chain_guard")]
    assert result.counts.links_used == 1
    assert result.counts.refused_chain_guard == 1


def test_chain_guard_opens_one_item_per_pair_of_clusters() -> None:
    links = [Link("A", "B", 20.0), Link("B", "C", 18.0), Link("A", "C", 15.0)]
    strong: dict[str, dict[str, str | None]] = {"A": {"tax_id": "DE111111"}, "C": {"tax_id": "DE999999"}}

    result = run("ABC", links, strong)

    assert result.review_items == [ReviewItem("B", "C", 18.0, "chain_guard")]
    assert result.counts.refused_chain_guard == 2
    assert result.counts.review_items == 1


def test_links_are_clustered_the_same_whatever_their_order() -> None:
    generator = random.Random(7)
    records = [f"crm/{number:03d}" for number in range(60)]
    strong: dict[str, dict[str, str | None]] = {
        record: {"tax_id": str(generator.randrange(5)) * 6} for record in records[::3]
    }
    links = [
        Link(*generator.sample(records, 2), float(generator.choice([3, 6, 11, 12, 12, 15])))
        for _ in range(150)
    ]
    expected = cluster(
        records, links, auto_merge=AUTO_MERGE, review=REVIEW, strong_values=strong, conflicts=typo_tolerant
    )

    for _ in range(5):
        shuffled = [Link(link.right, link.left, link.match_weight) for link in links]
        generator.shuffle(shuffled)
        again = cluster(
            reversed(records),
            shuffled,
            auto_merge=AUTO_MERGE,
            review=REVIEW,
            strong_values=strong,
            conflicts=typo_tolerant,
        )
        assert again == expected
    assert expected.counts.refused_chain_guard > 0


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_strong_values_never_conflict(missing: str | None) -> None:
    links = [Link("A", "B", 20.0), Link("B", "C", 18.0)]
    strong: dict[str, dict[str, str | None]] = {
        "A": {"tax_id": "DE111111", "date_of_birth": missing},
        "B": {"tax_id": missing, "date_of_birth": "1980-01-02"},
        "C": {"date_of_birth": "1980-01-02"},
    }

    result = run("ABC", links, strong)

    assert result.clusters == [("A", "B", "C")]
    assert result.review_items == []


def test_typo_level_values_do_not_conflict() -> None:
    links = [Link("A", "B", 20.0), Link("B", "C", 18.0)]
    strong: dict[str, dict[str, str | None]] = {"A": {"tax_id": "DE123456"}, "C": {"tax_id": "DE123465"}}

    assert run("ABC", links, strong).clusters == [("A", "B", "C")]


def test_conflict_is_checked_against_every_member_of_both_clusters() -> None:
    # A and C differ by a typo, so they join; D is a typo away from C but far from A.
    links = [Link("A", "C", 20.0), Link("C", "D", 18.0)]
    strong: dict[str, dict[str, str | None]] = {
        "A": {"tax_id": "1234"},
        "C": {"tax_id": "1235"},
        "D": {"tax_id": "1255"},
    }

    result = run("ACD", links, strong)

    assert result.clusters == [("A", "C"), ("D",)]
    assert [item.reason for item in result.review_items] == ["chain_guard"]


def test_strong_values_of_different_fields_do_not_conflict() -> None:
    links = [Link("A", "B", 20.0)]
    strong: dict[str, dict[str, str | None]] = {"A": {"tax_id": "1111"}, "B": {"date_of_birth": "9999"}}

    assert run("AB", links, strong).clusters == [("A", "B")]


def test_cannot_link_refuses_the_join_without_a_review_item() -> None:
    links = [Link("A", "B", 20.0), Link("B", "C", 18.0), Link("A", "C", 6.0)]

    result = run("ABC", links, cannot_link=[("A", "C")])

    assert result.clusters == [("A", "B"), ("C",)]
    assert result.review_items == []
    assert result.counts.refused_cannot_link == 1
    assert result.counts.uncertain == 1


def test_must_link_joins_despite_conflicts_and_size() -> None:
    strong: dict[str, dict[str, str | None]] = {"A": {"tax_id": "DE111111"}, "B": {"tax_id": "DE999999"}}

    result = run("ABC", [], strong, must_link=[("A", "B"), ("B", "C")], max_cluster_size=2)

    assert result.clusters == [("A", "B", "C")]
    assert result.counts.must_links_used == 2


def test_must_link_wins_over_a_contradicting_cannot_link() -> None:
    result = run("AB", [], must_link=[("A", "B")], cannot_link=[("B", "A")])

    assert result.clusters == [("A", "B")]
    assert result.counts.contradicted_cannot_links == 1


def test_must_link_cluster_carries_its_strong_values_into_later_joins() -> None:
    strong: dict[str, dict[str, str | None]] = {"A": {"tax_id": "DE111111"}, "C": {"tax_id": "DE999999"}}

    result = run("ABC", [Link("B", "C", 30.0)], strong, must_link=[("A", "B")])

    assert result.clusters == [("A", "B"), ("C",)]
    assert result.review_items == [ReviewItem("B", "C", 30.0, "chain_guard")]


def test_size_guard_refuses_a_join_past_the_maximum() -> None:
    links = [Link("A", "B", 20.0), Link("C", "D", 19.0), Link("B", "C", 18.0), Link("D", "E", 17.0)]

    result = run("ABCDE", links, max_cluster_size=3)

    assert result.clusters == [("A", "B"), ("C", "D", "E")]
    assert result.review_items == [ReviewItem("B", "C", 18.0, "cluster_size")]
    assert result.counts.refused_cluster_size == 1


@pytest.mark.parametrize(
    ("weight", "clusters", "reasons"),
    [
        (AUTO_MERGE + 0.5, [("A", "B")], []),
        (AUTO_MERGE, [("A", "B")], []),
        (AUTO_MERGE - 0.01, [("A",), ("B",)], ["uncertain"]),
        (REVIEW, [("A",), ("B",)], ["uncertain"]),
        (REVIEW - 0.01, [("A",), ("B",)], []),
        (float("nan"), [("A",), ("B",)], []),
    ],
)
def test_thresholds(weight: float, clusters: list[tuple[str, ...]], reasons: list[str]) -> None:
    result = run("AB", [Link("A", "B", weight)])

    assert result.clusters == clusters
    assert [item.reason for item in result.review_items] == reasons


def test_uncertain_link_inside_one_cluster_is_not_reviewed() -> None:
    links = [Link("A", "B", 20.0), Link("B", "C", 18.0), Link("A", "C", 5.0)]

    result = run("ABC", links)

    assert result.clusters == [("A", "B", "C")]
    assert result.review_items == []


def test_every_record_appears_once_and_clusters_are_sorted() -> None:
    result = run("EDCBA", [Link("E", "C", 12.0), Link("B", "A", 12.0), Link("D", "D", 50.0)])

    assert result.clusters == [("A", "B"), ("C", "E"), ("D",)]


def test_duplicate_links_count_once_with_their_highest_weight() -> None:
    result = run("AB", [Link("A", "B", 5.0), Link("B", "A", 12.0), Link("A", "B", 7.0)])

    assert result.clusters == [("A", "B")]
    assert result.counts.links_considered == 1


def test_link_to_an_unknown_record_is_rejected() -> None:
    with pytest.raises(ValueError, match="'Z'"):
        run("AB", [Link("A", "Z", 12.0)])


@pytest.mark.parametrize(("auto_merge", "review", "size"), [(5.0, 6.0, 20), (10.0, 4.0, 0)])
def test_invalid_settings_are_rejected(auto_merge: float, review: float, size: int) -> None:
    with pytest.raises(ValueError):
        cluster(
            ["A"],
            [],
            auto_merge=auto_merge,
            review=review,
            strong_values={},
            conflicts=typo_tolerant,
            max_cluster_size=size,
        )
