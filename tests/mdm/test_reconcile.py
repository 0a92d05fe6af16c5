"""Reconciliation: ids stay with the customers they name, and a plan yields exactly the clusters."""

import itertools
import random
from collections.abc import Callable

import pytest

from mdm.reconcile import (
    CreatedCustomer,
    KeyMove,
    Merge,
    ReconciliationPlan,
    Split,
    apply_plan_to_mapping,
    batches,
    plan_reconciliation,
)


def counter_ids(prefix: str = "N") -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


def partition(mapping: dict[str, str], keys: set[str]) -> set[frozenset[str]]:
    """The clusters that a crosswalk makes of ``keys``."""
    by_id: dict[str, set[str]] = {}
    for key in keys:
        by_id.setdefault(mapping[key], set()).add(key)
    return {frozenset(members) for members in by_id.values()}


ORDER = {"X": 1, "Y": 2, "Z": 3}


def test_ids_stay_put_when_records_are_added() -> None:
    current = {"crm/5": "X", "crm/7": "X", "erp/2": "Y"}
    clusters = [["crm/5", "crm/7", "billing/9"], ["erp/2"], ["support/1"]]

    plan = plan_reconciliation(current, clusters, ORDER, counter_ids())

    assert plan.moves == [KeyMove("billing/9", None, "X"), KeyMove("support/1", None, "N1")]
    assert plan.created == [CreatedCustomer("N1", ("support/1",))]
    assert plan.merges == plan.splits == []


def test_id_stays_put_when_a_record_with_a_lower_source_id_joins() -> None:
    current = {"crm/5": "X", "crm/7": "X"}

    plan = plan_reconciliation(current, [["crm/1", "crm/5", "crm/7"]], ORDER, counter_ids())

    assert plan.moves == [KeyMove("crm/1", None, "X")]
    assert plan.created == []


def test_older_id_survives_a_merge_of_equal_halves() -> None:
    current = {"crm/1": "Y", "erp/1": "X"}

    plan = plan_reconciliation(current, [["crm/1", "erp/1"]], ORDER, counter_ids())

    assert plan.merges == [Merge("Y", "X")]
    assert plan.moves == [KeyMove("crm/1", "Y", "X")]
    assert plan.splits == []


def test_larger_overlap_beats_age_in_a_merge() -> None:
    current = {"crm/1": "Y", "crm/2": "Y", "erp/1": "X"}

    plan = plan_reconciliation(current, [["crm/1", "crm/2", "erp/1"]], ORDER, counter_ids())

    assert plan.merges == [Merge("X", "Y")]
    assert plan.moves == [KeyMove("erp/1", "X", "Y")]


def test_split_keeps_the_id_on_the_largest_part_and_retires_nothing() -> None:
    current = {"crm/1": "X", "crm/2": "X", "crm/3": "X"}

    plan = plan_reconciliation(current, [["crm/1", "crm/2"], ["crm/3"]], ORDER, counter_ids())

    assert plan.created == [CreatedCustomer("N1", ("crm/3",))]
    assert plan.moves == [KeyMove("crm/3", "X", "N1")]
    assert plan.splits == plan.merges == []


def test_an_id_that_receives_no_cluster_is_split_into_its_successors() -> None:
    # X's keys scatter into Y's and Z's clusters, each of which keeps its own id.
    current = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Z", "f": "Z"}

    plan = plan_reconciliation(current, [["a", "c", "d"], ["b", "e", "f"]], ORDER, counter_ids())

    assert plan.splits == [Split("X", ("Y", "Z"))]
    assert plan.moves == [KeyMove("a", "X", "Y"), KeyMove("b", "X", "Z")]
    assert plan.created == plan.merges == []


def test_equal_overlap_goes_to_the_older_id() -> None:
    current = {"a": "Z", "b": "Y"}

    plan = plan_reconciliation(current, [["a", "b"]], ORDER, counter_ids())

    assert plan.merges == [Merge("Z", "Y")]
    assert plan.moves == [KeyMove("a", "Z", "Y")]


def test_one_id_claimed_equally_by_two_clusters_goes_to_the_smaller_cluster_key() -> None:
    current = {"a": "X", "c": "X"}

    plan = plan_reconciliation(current, [["c"], ["a"]], ORDER, counter_ids())

    assert plan.created == [CreatedCustomer("N1", ("c",))]
    assert plan.moves == [KeyMove("c", "X", "N1")]


@pytest.mark.parametrize(("order_x", "order_y", "survivor"), [(1, 2, "X"), (2, 1, "Y"), ("b", "a", "Y")])
def test_tie_rule_follows_creation_order(order_x: int | str, order_y: int | str, survivor: str) -> None:
    current = {"k1": "X", "k2": "Y"}

    plan = plan_reconciliation(current, [["k1", "k2"]], {"X": order_x, "Y": order_y}, counter_ids())

    loser = "Y" if survivor == "X" else "X"
    assert plan.merges == [Merge(loser, survivor)]


def test_each_id_is_used_once_and_the_stronger_claim_wins() -> None:
    # X holds two keys of the first cluster and one of the second: it stays with the first.
    current = {"a": "X", "b": "X", "c": "X", "d": "Y"}

    plan = plan_reconciliation(current, [["a", "b"], ["c"], ["d"]], ORDER, counter_ids())

    assert plan.created == [CreatedCustomer("N1", ("c",))]
    assert plan.moves == [KeyMove("c", "X", "N1")]


def test_unchanged_clusters_give_an_empty_plan() -> None:
    current = {"a": "X", "b": "X", "c": "Y", "d": "Z"}

    plan = plan_reconciliation(current, [["b", "a"], ["c"], ["d"]], ORDER, counter_ids())

    assert plan.is_empty
    assert plan == ReconciliationPlan()


def test_keys_outside_the_clusters_are_left_to_the_caller() -> None:
    current = {"a": "X", "b": "X", "gone": "Z"}

    plan = plan_reconciliation(current, [["a", "b"]], ORDER, counter_ids())

    assert plan.is_empty
    assert apply_plan_to_mapping(current, plan) == current


def test_a_key_in_two_clusters_is_rejected() -> None:
    with pytest.raises(ValueError, match="'a'"):
        plan_reconciliation({}, [["a", "b"], ["a"]], {}, counter_ids())


def test_an_id_without_creation_order_is_rejected() -> None:
    with pytest.raises(ValueError, match="'W'"):
        plan_reconciliation({"a": "W"}, [["a"]], ORDER, counter_ids())


def test_new_ids_never_reuse_a_known_id() -> None:
    draws = iter(["X", "Y", "N1", "N1", "N2"])

    plan = plan_reconciliation({"a": "X"}, [["a"], ["b"], ["c"]], {"X": 1, "Y": 2}, lambda: next(draws))

    assert [customer.canonical_id for customer in plan.created] == ["N1", "N2"]


def test_a_stale_plan_is_refused() -> None:
    plan = plan_reconciliation({"a": "X", "b": "Y"}, [["a", "b"]], ORDER, counter_ids())

    with pytest.raises(ValueError, match="stale"):
        apply_plan_to_mapping({"a": "X", "b": "Z"}, plan)


def test_batches_never_split_a_group_of_changes() -> None:
    current = {"a": "X", "b": "Y", "c": "Z", "d": "Z"}
    plan = plan_reconciliation(current, [["a", "b"], ["c"], ["d"], ["e"]], ORDER, counter_ids())

    parts = list(batches(plan, 1))

    # Groups: {X, Y} (b moves, Y merges), {Z, N1} (d moves out of Z), {N2} (e is new).
    assert [part.change_count for part in parts] == [2, 2, 2]
    with_merge = next(part for part in parts if part.merges)
    assert with_merge.merges == [Merge("Y", "X")]
    assert with_merge.moves == [KeyMove("b", "Y", "X")]
    assert all(part.change_count >= 1 for part in parts)
    assert sum(part.change_count for part in parts) == plan.change_count


def test_returning_records_take_back_the_id_their_emptied_customer_had() -> None:
    current = {"crm/1": "X"}
    former = {"crm/7": "R", "erp/7": "R"}

    plan = plan_reconciliation(current, [["crm/1"], ["crm/7", "erp/7"], ["support/2"]],
                               {**ORDER, "R": 4}, counter_ids(), former)  # fmt: skip

    assert plan.revived == ["R"]
    assert plan.created == [CreatedCustomer("N1", ("support/2",))]
    assert KeyMove("crm/7", None, "R") in plan.moves and KeyMove("erp/7", None, "R") in plan.moves
    mapping = apply_plan_to_mapping(current, plan)
    assert plan_reconciliation(mapping, [["crm/1"], ["crm/7", "erp/7"], ["support/2"]],
                               {**ORDER, "R": 4, "N1": 5}, counter_ids()).is_empty  # fmt: skip


def test_a_former_id_goes_to_one_cluster_and_never_over_a_live_id() -> None:
    current = {"crm/1": "X"}
    former = {"crm/2": "R", "erp/2": "R", "crm/3": "R", "crm/4": "S"}
    clusters = [["crm/1", "crm/4"], ["crm/2", "erp/2"], ["crm/3"]]

    plan = plan_reconciliation(current, clusters, {**ORDER, "R": 4, "S": 5}, counter_ids(), former)

    # R goes to the cluster holding two of its keys; crm/3 gets a new id; crm/4 joins X, S stays retired.
    assert plan.revived == ["R"]
    assert plan.created == [CreatedCustomer("N1", ("crm/3",))]
    assert KeyMove("crm/4", None, "X") in plan.moves


def test_batches_keep_a_revival_with_its_moves() -> None:
    plan = plan_reconciliation({}, [["a"], ["b"]], {"R": 1}, counter_ids(), {"b": "R"})

    parts = list(batches(plan, 1))

    with_revival = next(part for part in parts if part.revived)
    assert (with_revival.revived, with_revival.moves) == (["R"], [KeyMove("b", None, "R")])
    assert sum(part.change_count for part in parts) == plan.change_count


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(batches(ReconciliationPlan(), 0))


def random_state(generator: random.Random) -> tuple[dict[str, str], list[list[str]], dict[str, int]]:
    """A random crosswalk and random clusters over its keys and some new ones."""
    old_ids = [f"OLD{number}" for number in range(generator.randint(1, 12))]
    current = {f"k{number}": generator.choice(old_ids) for number in range(generator.randint(0, 40))}
    keys = list(current) + [f"new{number}" for number in range(generator.randint(0, 10))]
    generator.shuffle(keys)

    clusters: list[list[str]] = []
    while keys:
        take = generator.randint(1, 6)
        clusters.append(keys[:take])
        keys = keys[take:]
    order = {old_id: generator.randrange(5) for old_id in old_ids}
    return current, clusters, order


@pytest.mark.parametrize("seed", range(300))
def test_applying_a_plan_yields_exactly_the_clusters(seed: int) -> None:
    generator = random.Random(seed)
    current, clusters, order = random_state(generator)
    keys = {key for members in clusters for key in members}

    plan = plan_reconciliation(current, clusters, order, counter_ids())
    after = apply_plan_to_mapping(current, plan)

    assert partition(after, keys) == {frozenset(members) for members in clusters}
    live = {after[key] for key in keys}
    retired = {merge.loser for merge in plan.merges} | {split.canonical_id for split in plan.splits}
    assert not live & retired
    assert {merge.survivor for merge in plan.merges} <= live
    assert {successor for split in plan.splits for successor in split.successors} <= live
    assert not {customer.canonical_id for customer in plan.created} & set(current.values())
    order_after = order | {customer.canonical_id: 100 for customer in plan.created}
    assert plan_reconciliation(after, clusters, order_after, counter_ids("M")).is_empty


@pytest.mark.parametrize("seed", range(100))
def test_every_live_id_whose_keys_stay_together_keeps_its_cluster(seed: int) -> None:
    generator = random.Random(seed)
    current, clusters, order = random_state(generator)

    after = apply_plan_to_mapping(current, plan_reconciliation(current, clusters, order, counter_ids()))

    for members in clusters:
        old_ids = {current[key] for key in members if key in current}
        holders = {key for key, old_id in current.items() if old_id in old_ids}
        if len(old_ids) == 1 and holders <= set(members):
            assert after[members[0]] == old_ids.pop()


@pytest.mark.parametrize(("seed", "size"), [(seed, size) for seed in range(60) for size in (1, 3, 10)])
def test_batches_are_independent_and_cover_the_plan(seed: int, size: int) -> None:
    generator = random.Random(seed)
    current, clusters, order = random_state(generator)
    plan = plan_reconciliation(current, clusters, order, counter_ids())

    parts = list(batches(plan, size))

    mapping = dict(current)
    ids_seen: set[str] = set()
    for part in parts:
        mapping = apply_plan_to_mapping(mapping, part)
        ids = (
            {customer.canonical_id for customer in part.created}
            | {move.to_id for move in part.moves}
            | {move.from_id for move in part.moves if move.from_id}
            | {merge.loser for merge in part.merges}
            | {split.canonical_id for split in part.splits}
        )
        assert not ids & ids_seen
        ids_seen |= ids
    assert mapping == apply_plan_to_mapping(current, plan)
    assert sorted(move.source_key for part in parts for move in part.moves) == [
        move.source_key for move in plan.moves
    ]
    assert sum(len(part.merges) + len(part.splits) for part in parts) == len(plan.merges) + len(plan.splits)
