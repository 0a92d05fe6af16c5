"""Reconciliation: today's clusters become a plan of changes to the crosswalk, so that ids stay put.

Each existing canonical id goes to the new cluster that holds most of its source keys, ties going
to the older id, and each id goes to one cluster at most. A cluster that receives no id is a new
customer, unless its keys are records coming back whose customer was retired when they left: then
that id comes back with them. An id that receives no cluster is retired: merged into the one
cluster its keys went to, or split when they went to several. Everything here is pure: the caller
applies the plan, in batches, in its own transactions.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence

import msgspec

_DRAWS_PER_NEW_ID = 5


class CreatedCustomer(msgspec.Struct, frozen=True):
    """A cluster that no existing canonical id carries on: a new golden record.

    Attributes:
        canonical_id: the id drawn for it.
        source_keys: its source keys, sorted; each also appears in the plan's key moves.
    """

    canonical_id: str
    source_keys: tuple[str, ...]


class KeyMove(msgspec.Struct, frozen=True):
    """A source key that changes canonical id (or receives its first).

    Attributes:
        source_key: the key as ``system/source_id``.
        from_id: its live canonical id before the change, None for a key new to the crosswalk.
        to_id: its canonical id after the change.
    """

    source_key: str
    from_id: str | None
    to_id: str


class Merge(msgspec.Struct, frozen=True):
    """An id retired because all of its keys went to one other customer; it redirects there.

    Attributes:
        loser: the retired canonical id.
        survivor: the live canonical id it now resolves to.
    """

    loser: str
    survivor: str


class Split(msgspec.Struct, frozen=True):
    """An id retired because its keys went to several customers.

    Attributes:
        canonical_id: the retired canonical id.
        successors: the canonical ids that its keys went to, sorted.
    """

    canonical_id: str
    successors: tuple[str, ...]


class ReconciliationPlan(msgspec.Struct, frozen=True):
    """The difference between the crosswalk and today's clusters.

    Attributes:
        created: new customers, in the order of their smallest source key.
        moves: every source key whose canonical id changes, sorted by key.
        merges: ids retired into a survivor, sorted by the retired id.
        splits: ids retired into several successors, sorted by the retired id.
        revived: retired ids that come back to life for their own returning keys, sorted; the
            keys' moves into them are in ``moves``.
    """

    created: list[CreatedCustomer] = msgspec.field(default_factory=list)
    moves: list[KeyMove] = msgspec.field(default_factory=list)
    merges: list[Merge] = msgspec.field(default_factory=list)
    splits: list[Split] = msgspec.field(default_factory=list)
    revived: list[str] = msgspec.field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """Whether the plan changes nothing."""
        return not (self.created or self.moves or self.merges or self.splits or self.revived)

    @property
    def change_count(self) -> int:
        """How many entries the plan holds, the unit of ``batches``."""
        return len(self.created) + len(self.moves) + len(self.merges) + len(self.splits) + len(self.revived)


def _sorted_clusters(clusters: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """Non-empty clusters as sorted tuples, ordered by their smallest key; keys must not repeat."""
    members = sorted(tuple(sorted(keys)) for keys in clusters if keys)

    every_key = list(itertools.chain.from_iterable(members))
    if len(set(every_key)) != len(every_key):
        repeated = min(key for key, count in Counter(every_key).items() if count > 1)
        raise ValueError(f"source key {repeated!r} is in more than one cluster")
    return members


def _draw_new_id(new_id: Callable[[], str], known: set[str]) -> str:
    """A canonical id from ``new_id`` that is neither live nor already drawn."""
    for _ in range(_DRAWS_PER_NEW_ID):
        canonical_id = new_id()
        if canonical_id not in known:
            known.add(canonical_id)
            return canonical_id
    raise ValueError(f"new_id gave only known canonical ids in {_DRAWS_PER_NEW_ID} draws")


def plan_reconciliation(
    current: Mapping[str, str],
    clusters: Sequence[Sequence[str]],
    id_order: Mapping[str, int | str],
    new_id: Callable[[], str],
    former: Mapping[str, str] | None = None,
) -> ReconciliationPlan:
    """Plan the changes that turn the live crosswalk into today's clusters, keeping ids put.

    Existing ids are handed out greedily by descending overlap (the number of a cluster's keys
    that the id holds today), then by age (older first), then by the id, then by the cluster's
    smallest key, each id to one cluster at most. Clusters left without an id get one from
    ``new_id``. Ids left without a cluster are merged or split (see the module docstring).

    Keys of ``current`` that are in no cluster (retired records) are neither counted nor moved, and
    an id none of whose keys is in ``clusters`` is left alone: retiring records is the caller's
    part, done before the plan is applied, since such a key may still name a merged or split id.

    Args:
        current: live source key -> live canonical id.
        clusters: today's clusters of source keys; a key belongs to one cluster at most.
        id_order: canonical id -> its creation order (older is smaller), for every id in
            ``current``; values are compared with each other, so use one type throughout.
        new_id: draws a fresh canonical id, e.g. ``mdm.identity.new_canonical_id``.
        former: for keys not in ``current`` (records coming back), the retired id whose customer
            ended when they left, if it ended only for that. A cluster that no live id carries on
            takes back the former id most of its keys share (then the older), rather than a new
            one; its creation order must be in ``id_order``.

    Returns:
        The plan; re-planning the clusters against the crosswalk it produces gives an empty plan.

    Raises:
        ValueError: a key is in two clusters, an id lacks its creation order, or ``new_id`` keeps
            giving known ids.
    """
    members = _sorted_clusters(clusters)

    # How many keys of each cluster every old id holds today.
    overlaps: dict[tuple[str, int], int] = {}
    for index, keys in enumerate(members):
        for key in keys:
            old_id = current.get(key)
            if old_id is not None:
                overlaps[old_id, index] = overlaps.get((old_id, index), 0) + 1

    # Candidates as (-overlap, creation order, id, cluster index); the index follows the clusters'
    # smallest keys, so sorting the tuples applies the rule in full.
    candidates: list[tuple[int, int | str, str, int]] = []
    for (old_id, index), overlap in overlaps.items():
        if old_id not in id_order:
            raise ValueError(f"canonical id {old_id!r} has no creation order")
        candidates.append((-overlap, id_order[old_id], old_id, index))
    candidates.sort()

    assigned: dict[int, str] = {}
    used: set[str] = set()
    for _, _, old_id, index in candidates:
        if index not in assigned and old_id not in used:
            assigned[index] = old_id
            used.add(old_id)

    revived = _revive(members, assigned, used, current, former or {}, id_order)

    known = set(current.values()) | set(id_order)
    created: list[CreatedCustomer] = []
    for index, keys in enumerate(members):
        if index not in assigned:
            assigned[index] = _draw_new_id(new_id, known)
            created.append(CreatedCustomer(assigned[index], keys))

    moves: list[KeyMove] = []
    for index, keys in enumerate(members):
        to_id = assigned[index]
        moves.extend(KeyMove(key, current.get(key), to_id) for key in keys if current.get(key) != to_id)
    moves.sort(key=lambda move: move.source_key)

    destinations: dict[str, set[str]] = {}
    for old_id, index in overlaps:
        if old_id not in used:
            destinations.setdefault(old_id, set()).add(assigned[index])
    merges: list[Merge] = []
    splits: list[Split] = []
    for old_id in sorted(destinations):
        successors = tuple(sorted(destinations[old_id]))
        if len(successors) == 1:
            merges.append(Merge(old_id, successors[0]))
        else:
            splits.append(Split(old_id, successors))

    return ReconciliationPlan(created, moves, merges, splits, revived)


def _revive(  # noqa: PLR0917
    members: list[tuple[str, ...]],
    assigned: dict[int, str],
    used: set[str],
    current: Mapping[str, str],
    former: Mapping[str, str],
    id_order: Mapping[str, int | str],
) -> list[str]:
    """Give clusters still without an id the retired id of their returning keys; the ids revived."""
    candidates: list[tuple[int, int | str, str, int]] = []
    for index, keys in enumerate(members):
        if index in assigned:
            continue
        held = Counter(former[key] for key in keys if key not in current and key in former)
        for old_id, count in held.items():
            if old_id not in id_order:
                raise ValueError(f"canonical id {old_id!r} has no creation order")
            candidates.append((-count, id_order[old_id], old_id, index))
    revived = []
    for _, _, old_id, index in sorted(candidates):
        if index not in assigned and old_id not in used:
            assigned[index] = old_id
            used.add(old_id)
            revived.append(old_id)
    return sorted(revived)


def apply_plan_to_mapping(current: Mapping[str, str], plan: ReconciliationPlan) -> dict[str, str]:
    """The crosswalk after the plan: ``current`` with every key move applied.

    Keys that the plan does not move keep their id, including keys absent from the clusters.

    Raises:
        ValueError: a move's ``from_id`` is not the key's id in ``current`` (a stale plan).
    """
    mapping = dict(current)

    for move in plan.moves:
        if mapping.get(move.source_key) != move.from_id:
            raise ValueError(f"plan is stale: source key {move.source_key!r} is not on {move.from_id!r}")
        mapping[move.source_key] = move.to_id
    return mapping


class _IdGroups:
    """Union-find over canonical ids: ids that one change names belong together."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, canonical_id: str) -> str:
        root = self.parent.setdefault(canonical_id, canonical_id)
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[canonical_id] != root:
            self.parent[canonical_id], canonical_id = root, self.parent[canonical_id]
        return root

    def join(self, first: str, *others: str) -> None:
        root = self.find(first)
        for other in others:
            other_root = self.find(other)
            if other_root != root:
                # The smaller id becomes the root, so a group is known by its smallest id.
                root, other_root = min(root, other_root), max(root, other_root)
                self.parent[other_root] = root


def batches(plan: ReconciliationPlan, size: int) -> Iterator[ReconciliationPlan]:
    """Split a plan into self-contained sub-plans of about ``size`` entries each.

    Changes that name a common canonical id (a key moving from one id to another, a merge, a split
    and its successors, a new customer and the keys moving into it) form one group, and a group is
    never spread over two sub-plans: each can be applied in its own transaction, in any order. A
    group larger than ``size`` makes a sub-plan of its own.

    Args:
        plan: the plan to split.
        size: the most entries (``ReconciliationPlan.change_count``) a sub-plan should hold.

    Yields:
        Sub-plans, groups ordered by their smallest canonical id.

    Raises:
        ValueError: ``size`` is below one.
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")

    groups = _IdGroups()
    for customer in plan.created:
        groups.join(customer.canonical_id)
    for move in plan.moves:
        groups.join(move.to_id, *((move.from_id,) if move.from_id is not None else ()))
    for merge in plan.merges:
        groups.join(merge.loser, merge.survivor)
    for split in plan.splits:
        groups.join(split.canonical_id, *split.successors)
    for canonical_id in plan.revived:
        groups.join(canonical_id)

    parts: dict[str, ReconciliationPlan] = {}
    for customer in plan.created:
        parts.setdefault(groups.find(customer.canonical_id), ReconciliationPlan()).created.append(customer)
    for move in plan.moves:
        parts.setdefault(groups.find(move.to_id), ReconciliationPlan()).moves.append(move)
    for merge in plan.merges:
        parts.setdefault(groups.find(merge.loser), ReconciliationPlan()).merges.append(merge)
    for split in plan.splits:
        parts.setdefault(groups.find(split.canonical_id), ReconciliationPlan()).splits.append(split)
    for canonical_id in plan.revived:
        parts.setdefault(groups.find(canonical_id), ReconciliationPlan()).revived.append(canonical_id)

    batch = ReconciliationPlan()
    for root in sorted(parts):
        part = parts[root]
        if batch.change_count and batch.change_count + part.change_count > size:
            yield _in_plan_order(batch)
            batch = ReconciliationPlan()
        batch.created.extend(part.created)
        batch.moves.extend(part.moves)
        batch.merges.extend(part.merges)
        batch.splits.extend(part.splits)
        batch.revived.extend(part.revived)
    if batch.change_count:
        yield _in_plan_order(batch)


def _in_plan_order(batch: ReconciliationPlan) -> ReconciliationPlan:
    """The batch with its entries sorted as ``plan_reconciliation`` sorts a whole plan."""
    return ReconciliationPlan(
        sorted(batch.created, key=lambda customer: customer.source_keys[0]),
        sorted(batch.moves, key=lambda move: move.source_key),
        sorted(batch.merges, key=lambda merge: merge.loser),
        sorted(batch.splits, key=lambda split: split.canonical_id),
        sorted(batch.revived),
    )
