"""How well the hub's crosswalk and review queue reproduce a known truth."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from sqlalchemy import Engine, select

from mdm.evaluate import Evaluation, evaluate
from mdm.storage.tables import CrosswalkEntry, ReviewItem, SourceRecord


class HubAccuracy(msgspec.Struct, frozen=True, kw_only=True):
    """Accuracy of the automatic links, and of the links plus every open review item accepted.

    Attributes:
        auto_merge: pairwise and cluster scores of the crosswalk as it stands.
        with_review: scores if a steward accepted every open review item.
        review_items: open review items.
        records: live records in the crosswalk.
    """

    auto_merge: Evaluation
    with_review: Evaluation
    review_items: int
    records: int

    @property
    def review_share(self) -> float:
        """Open review items per live record."""
        return self.review_items / self.records if self.records else 0.0


def crosswalk_clusters(engine: Engine) -> dict[str, str]:
    """The live crosswalk as source key -> canonical id."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(CrosswalkEntry.system, CrosswalkEntry.source_id, CrosswalkEntry.canonical_id).where(
                CrosswalkEntry.valid_to.is_(None)
            )
        ).all()
    return {f"{system}/{source_id}": canonical_id for system, source_id, canonical_id in rows}


def open_review_pairs(engine: Engine) -> list[tuple[str, str]]:
    """The source-key pairs of open review items."""
    left = SourceRecord.__table__.alias("left_record")
    right = SourceRecord.__table__.alias("right_record")
    with engine.connect() as connection:
        rows = connection.execute(
            select(left.c.system, left.c.source_id, right.c.system, right.c.source_id)
            .select_from(ReviewItem)
            .join(left, left.c.id == ReviewItem.left_record_id)
            .join(right, right.c.id == ReviewItem.right_record_id)
            .where(ReviewItem.status == "open")
        ).all()  # fmt: skip
    return [(f"{a}/{b}", f"{c}/{d}") for a, b, c, d in rows]


def accept_all(clusters: Mapping[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The clusters that result when every pair joins its two clusters."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for left, right in pairs:
        if left in clusters and right in clusters:
            root_a, root_b = find(clusters[left]), find(clusters[right])
            if root_a != root_b:
                parent[max(root_a, root_b)] = min(root_a, root_b)
    return {key: find(cluster_id) for key, cluster_id in clusters.items()}


def hub_accuracy(engine: Engine, truth: Mapping[str, str]) -> HubAccuracy:
    """Score the hub's crosswalk and review queue against a truth of source key -> entity id."""
    clusters = crosswalk_clusters(engine)
    pairs = open_review_pairs(engine)
    return HubAccuracy(
        auto_merge=evaluate(clusters, truth),
        with_review=evaluate(accept_all(clusters, pairs), truth),
        review_items=len(pairs),
        records=len(clusters),
    )
