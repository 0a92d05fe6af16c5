"""Constrained greedy clustering of scored links into clusters of source records.

Links are joined from the strongest down, like Kruskal's algorithm over a union-find forest, but a
join is refused when a steward's cannot-link crosses the two clusters, when a strong identifier
conflicts between any member of one and any member of the other (the chain guard), or when the
joined cluster would grow past the maximum size. Steward must-links are joined first and never
undone. The result is the same whatever the order of the input links.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import msgspec

# ``cannot_link`` and ``drift`` come from real-time matching: a steward's constraint refused an
# auto-merge, or a changed record fell between the thresholds against its own customer.
ReviewReason = Literal["chain_guard", "cluster_size", "uncertain", "cannot_link", "drift"]

ConflictCheck = Callable[[str, str | None, str | None], bool]
"""``conflicts(field, a, b)``: True when two strong identifier values forbid an automatic join."""


class Link(msgspec.Struct, frozen=True):
    """A scored pair of source records, as bulk prediction or the scorer gives it.

    Attributes:
        left: source key (``system/source_id``) of one record.
        right: source key of the other record.
        match_weight: the model's evidence for the pair, as a log2 Bayes factor.
    """

    left: str
    right: str
    match_weight: float


class ReviewItem(msgspec.Struct, frozen=True):
    """A pair that a steward should look at, with why it was not joined automatically.

    Attributes:
        left: the smaller source key of the pair.
        right: the larger source key of the pair.
        match_weight: the link's match weight.
        reason: ``chain_guard`` (a strong identifier conflicts between the two clusters),
            ``cluster_size`` (the join would pass the maximum cluster size) or ``uncertain``
            (the weight lies between the review and auto-merge thresholds).
    """

    left: str
    right: str
    match_weight: float
    reason: ReviewReason


class ClusteringCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to the constraints and links of one clustering run.

    Attributes:
        links_considered: distinct pairs at or above the review threshold.
        must_links_used: must-link constraints that joined two clusters.
        links_used: auto-merge links that joined two clusters.
        links_within: auto-merge links whose records were already in one cluster.
        refused_cannot_link: auto-merge links refused because a cannot-link crosses the clusters.
        refused_chain_guard: auto-merge links refused because a strong identifier conflicts.
        refused_cluster_size: auto-merge links refused because the cluster would grow too large.
        uncertain: review-band links between records that ended in different clusters.
        review_items: items opened, one per pair of clusters (see ``cluster``).
        contradicted_cannot_links: cannot-links between records that must-links put together.
    """

    links_considered: int = 0
    must_links_used: int = 0
    links_used: int = 0
    links_within: int = 0
    refused_cannot_link: int = 0
    refused_chain_guard: int = 0
    refused_cluster_size: int = 0
    uncertain: int = 0
    review_items: int = 0
    contradicted_cannot_links: int = 0


class Clustering(msgspec.Struct, frozen=True):
    """The outcome of clustering: a partition of the records and the pairs to review.

    Attributes:
        clusters: every input record exactly once, each cluster a sorted tuple of source keys,
            the list sorted by its tuples (singletons included).
        review_items: sorted by descending match weight, then by the pair's keys.
        counts: what happened to the constraints and links.
    """

    clusters: list[tuple[str, ...]]
    review_items: list[ReviewItem]
    counts: ClusteringCounts


class _Forest:
    """Union-find over record positions, with per-cluster strong values and cannot-link partners."""

    def __init__(
        self, record_ids: Iterable[str], strong_values: Mapping[str, Mapping[str, str | None]]
    ) -> None:
        self.keys: list[str] = list(dict.fromkeys(record_ids))
        self.position: dict[str, int] = {key: position for position, key in enumerate(self.keys)}
        self.parent: list[int] = list(range(len(self.keys)))
        self.size: list[int] = [1] * len(self.keys)
        self.barred: list[list[int] | None] = [None] * len(self.keys)

        # Only roots hold strong values: field -> the distinct values present in the cluster.
        self.strong: list[dict[str, set[str]] | None] = [None] * len(self.keys)
        for key, values in strong_values.items():
            position = self.position.get(key)
            if position is None:
                continue
            present = {field: {value} for field, value in values.items() if value}
            self.strong[position] = present or None

    def find(self, position: int) -> int:
        root = position
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[position] != root:
            self.parent[position], position = root, self.parent[position]
        return root

    def join(self, root_a: int, root_b: int) -> None:
        if self.size[root_a] < self.size[root_b]:
            root_a, root_b = root_b, root_a
        self.parent[root_b] = root_a
        self.size[root_a] += self.size[root_b]

        strong_b = self.strong[root_b]
        if strong_b:
            strong_a = self.strong[root_a]
            if strong_a is None:
                self.strong[root_a] = strong_b
            else:
                for field, values in strong_b.items():
                    strong_a.setdefault(field, set()).update(values)
            self.strong[root_b] = None

        barred_b = self.barred[root_b]
        if barred_b:
            barred_a = self.barred[root_a]
            if barred_a is None:
                self.barred[root_a] = barred_b
            else:
                barred_a.extend(barred_b)
            self.barred[root_b] = None

    def bar(self, position_a: int, position_b: int) -> None:
        for position, partner in ((position_a, position_b), (position_b, position_a)):
            root = self.find(position)
            partners = self.barred[root]
            if partners is None:
                self.barred[root] = [partner]
            else:
                partners.append(partner)

    def is_barred(self, root_a: int, root_b: int) -> bool:
        partners_a = self.barred[root_a]
        partners_b = self.barred[root_b]
        if not partners_a or not partners_b:
            return False

        # Cannot-links are recorded on both sides, so the shorter list of partners is enough.
        if len(partners_b) < len(partners_a):
            partners_a, root_b = partners_b, root_a
        return any(self.find(partner) == root_b for partner in partners_a)

    def conflicting(self, root_a: int, root_b: int, conflicts: ConflictCheck) -> bool:
        strong_a = self.strong[root_a]
        strong_b = self.strong[root_b]
        if not strong_a or not strong_b:
            return False

        for field, values_a in strong_a.items():
            values_b = strong_b.get(field)
            if not values_b:
                continue
            for value_a in values_a:
                for value_b in values_b:
                    if value_a != value_b and conflicts(field, value_a, value_b):
                        return True
        return False

    def clusters(self) -> list[tuple[str, ...]]:
        members: dict[int, list[str]] = {}
        for position, key in enumerate(self.keys):
            members.setdefault(self.find(position), []).append(key)
        return sorted(tuple(sorted(keys)) for keys in members.values())


def _rank_links(links: Sequence[Link], review: float) -> list[tuple[float, str, str]]:
    """Distinct pairs at or above ``review`` as (negated weight, left, right), strongest first.

    The pair is put in key order and ties go by it, so the ranking does not depend on input order.
    """
    best: dict[tuple[str, str], float] = {}
    for link in links:
        weight = link.match_weight
        if not weight >= review or link.left == link.right:
            continue
        pair = (link.left, link.right) if link.left < link.right else (link.right, link.left)
        if best.get(pair, review - 1.0) < weight:
            best[pair] = weight

    return sorted([(-weight, left, right) for (left, right), weight in best.items()])


def cluster(
    record_ids: Iterable[str],
    links: Sequence[Link],
    *,
    auto_merge: float,
    review: float,
    strong_values: Mapping[str, Mapping[str, str | None]],
    conflicts: ConflictCheck,
    must_link: Iterable[tuple[str, str]] = (),
    cannot_link: Iterable[tuple[str, str]] = (),
    max_cluster_size: int = 20,
) -> Clustering:
    """Cluster records from their scored links, honouring constraints and the chain guard.

    Must-links are joined first, whatever their strong identifiers and sizes: a steward's decision
    is never undone (a cannot-link that they contradict is counted, not honoured). Then the links at
    or above ``auto_merge`` are taken strongest first and join two clusters unless a cannot-link
    crosses them (dropped silently: a steward already said no), a strong identifier conflicts
    between any member of one and any member of the other (``chain_guard``), or the joined cluster
    would hold more than ``max_cluster_size`` records (``cluster_size``). Links between ``review``
    and ``auto_merge`` whose records ended apart are ``uncertain``.

    A refused join keeps both clusters apart and opens one review item for that pair of clusters:
    the strongest link between them, with its reason. Pairs of clusters that a cannot-link crosses
    get no item. Duplicate links count once, with their highest weight; constraints naming records
    outside ``record_ids`` are ignored.

    Args:
        record_ids: source keys of every record to cluster.
        links: scored pairs; both keys must be among ``record_ids``.
        auto_merge: match weight at or above which a link joins its clusters.
        review: match weight at or above which a link not joined is reviewed.
        strong_values: source key -> strong identifier field -> value; missing values never conflict.
        conflicts: ``conflicts(field, a, b)``, True when two present values forbid a join.
        must_link: pairs of source keys that a steward put together.
        cannot_link: pairs of source keys that a steward kept apart.
        max_cluster_size: the most records a cluster may reach through automatic joins.

    Returns:
        The clusters, the review items and the counts.

    Raises:
        ValueError: if ``review`` exceeds ``auto_merge``, the maximum size is below one, or a link
            names a record outside ``record_ids``.
    """
    if review > auto_merge:
        raise ValueError(f"review threshold {review} exceeds auto-merge threshold {auto_merge}")
    if max_cluster_size < 1:
        raise ValueError(f"max_cluster_size must be at least 1, got {max_cluster_size}")

    forest = _Forest(record_ids, strong_values)
    position = forest.position
    counts = {field.name: 0 for field in msgspec.structs.fields(ClusteringCounts)}

    # Cannot-links first, so that must-link clusters carry them; then the must-links.
    barred_pairs = [
        (position[a], position[b]) for a, b in cannot_link if a in position and b in position and a != b
    ]
    for position_a, position_b in barred_pairs:
        forest.bar(position_a, position_b)
    for a, b in must_link:
        if a not in position or b not in position:
            continue
        root_a, root_b = forest.find(position[a]), forest.find(position[b])
        if root_a != root_b:
            forest.join(root_a, root_b)
            counts["must_links_used"] += 1
    counts["contradicted_cannot_links"] = sum(
        1 for position_a, position_b in barred_pairs if forest.find(position_a) == forest.find(position_b)
    )

    ranked = _rank_links(links, review)
    counts["links_considered"] = len(ranked)
    try:
        ranked_positions = [(position[left], position[right]) for _, left, right in ranked]
    except KeyError as error:
        raise ValueError(f"link names record {error.args[0]!r}, which is not being clustered") from None

    # Auto-merge links, strongest first. The parent look-ups save a call when a root is near.
    parent, size, find = forest.parent, forest.size, forest.find
    candidates: list[tuple[int, int, float, ReviewReason]] = []
    index = 0
    while index < len(ranked) and -ranked[index][0] >= auto_merge:
        position_left, position_right = ranked_positions[index]
        weight = -ranked[index][0]
        index += 1

        root_left = parent[position_left]
        if parent[root_left] != root_left:
            root_left = find(root_left)
        root_right = parent[position_right]
        if parent[root_right] != root_right:
            root_right = find(root_right)

        if root_left == root_right:
            counts["links_within"] += 1
        elif forest.is_barred(root_left, root_right):
            counts["refused_cannot_link"] += 1
        elif forest.conflicting(root_left, root_right, conflicts):
            counts["refused_chain_guard"] += 1
            candidates.append((position_left, position_right, weight, "chain_guard"))
        elif size[root_left] + size[root_right] > max_cluster_size:
            counts["refused_cluster_size"] += 1
            candidates.append((position_left, position_right, weight, "cluster_size"))
        else:
            forest.join(root_left, root_right)
            counts["links_used"] += 1

    # The clusters are final now: review-band links across two of them are uncertain.
    for (negated_weight, _, _), (position_left, position_right) in zip(
        ranked[index:], ranked_positions[index:], strict=True
    ):
        if find(position_left) != find(position_right):
            counts["uncertain"] += 1
            candidates.append((position_left, position_right, -negated_weight, "uncertain"))

    # Candidates come strongest first, so the first one per pair of clusters is the one to keep.
    review_items: list[ReviewItem] = []
    seen: set[tuple[int, int]] = set()
    for position_left, position_right, weight, reason in candidates:
        root_left, root_right = forest.find(position_left), forest.find(position_right)
        pair = (root_left, root_right) if root_left < root_right else (root_right, root_left)
        if pair in seen or forest.is_barred(root_left, root_right):
            continue
        seen.add(pair)
        review_items.append(
            ReviewItem(forest.keys[position_left], forest.keys[position_right], weight, reason)
        )
    counts["review_items"] = len(review_items)

    return Clustering(forest.clusters(), review_items, ClusteringCounts(**counts))
