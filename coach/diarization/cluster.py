"""Split speaker embeddings into two groups, and measure how distinct the two groups are.

scikit-learn and scipy are not dependencies of coach, and two clusters need
little: average-linkage agglomerative clustering on cosine similarity (it
copes with one speaker talking far more than the other, where k-means and
spectral bisection tended to halve the dominant speaker instead), with small
leftover groups (a cough, a laugh, a clipped word) set aside as outliers and
the linkage re-run, then a few rounds of spherical k-means to settle the two
centroids. Calls with more windows than `max_points` are clustered on an
even subsample (the linkage is O(n^2) per merge) and the rest assigned to
the nearest centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusterOptions:
    """How the two groups are found."""

    max_points: int = 600
    # A final group smaller than this share of the windows is treated as outliers and the
    # linkage re-run without it (at most `max_outlier_rounds` times).
    min_group_share: float = 0.1
    max_outlier_rounds: int = 5
    kmeans_rounds: int = 10


@dataclass
class TwoClusters:
    """Labels 0/1 per embedding, unit centroids, and how well separated the groups are."""

    labels: np.ndarray
    centroids: np.ndarray  # (2, dim), unit length
    silhouette: float  # mean cosine silhouette of the clustered windows, in [-1, 1]
    centroid_similarity: float  # cosine between the two centroids
    linkage: float  # average cosine similarity between the two final groups (before k-means)
    sizes: tuple[int, int]
    outliers: int


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def average_linkage_two(sim: np.ndarray) -> tuple[np.ndarray, float]:
    """Merge the most similar groups (average cosine) until two remain: (labels, their linkage)."""
    n = len(sim)
    s = np.array(sim, dtype=np.float64)
    np.fill_diagonal(s, -np.inf)
    size = np.ones(n)
    owner = np.arange(n)
    for _ in range(n - 2):
        i, j = divmod(int(np.argmax(s)), n)
        merged = (size[i] * s[i] + size[j] * s[j]) / (size[i] + size[j])  # Lance-Williams, average
        s[i], s[:, i] = merged, merged
        s[i, i] = -np.inf
        s[j], s[:, j] = -np.inf, -np.inf
        size[i] += size[j]
        owner[owner == j] = i
    roots = np.unique(owner)
    labels = (owner == roots[-1]).astype(np.int64)
    linkage = float(s[roots[0], roots[-1]]) if len(roots) == 2 else 1.0
    return labels, linkage


def silhouette(sim: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance; 0 when a group has fewer than two members."""
    dist = 1.0 - sim
    scores = []
    for label in (0, 1):
        own = labels == label
        if own.sum() < 2 or (~own).sum() < 1:
            return 0.0
        a = dist[np.ix_(own, own)].sum(axis=1) / (own.sum() - 1)
        b = dist[np.ix_(own, ~own)].mean(axis=1)
        scores.append((b - a) / np.maximum(np.maximum(a, b), 1e-12))
    return float(np.concatenate(scores).mean())


def two_clusters(embeddings: np.ndarray, options: ClusterOptions | None = None) -> TwoClusters:
    """Cluster unit embeddings (n, dim) into two voices; fewer than 4 give one group."""
    options = options or ClusterOptions()
    x = _unit(np.asarray(embeddings, dtype=np.float64))
    n = len(x)
    if n < 4:
        centroid = _unit(x.mean(axis=0))
        labels = np.zeros(n, dtype=np.int64)
        return TwoClusters(labels, np.stack([centroid, centroid]), 0.0, 1.0, 1.0, (n, 0), 0)
    pool = np.linspace(0, n - 1, min(n, options.max_points)).round().astype(np.int64)
    keep = pool
    for round_ in range(options.max_outlier_rounds + 1):
        labels_keep, linkage = average_linkage_two(x[keep] @ x[keep].T)
        smaller = int(min(labels_keep.sum(), len(labels_keep) - labels_keep.sum()))
        if round_ == options.max_outlier_rounds or len(keep) < 8 or smaller >= max(
                2, options.min_group_share * len(keep)):
            break
        minority = 1 if labels_keep.sum() == smaller else 0
        keep = keep[labels_keep != minority]
    centroids = np.stack([_unit(x[keep][labels_keep == c].mean(axis=0)) for c in (0, 1)])
    members = x[pool]
    for _ in range(options.kmeans_rounds):
        assigned = np.argmax(members @ centroids.T, axis=1)
        if assigned.min() == assigned.max():
            break
        new = np.stack([_unit(members[assigned == c].mean(axis=0)) for c in (0, 1)])
        if np.allclose(new, centroids):
            break
        centroids = new
    labels = np.argmax(x @ centroids.T, axis=1)
    pool_labels = labels[pool]
    sil = silhouette(members @ members.T, pool_labels) if pool_labels.min() != pool_labels.max() else 0.0
    return TwoClusters(labels, centroids, sil, float(centroids[0] @ centroids[1]), linkage,
                       (int((labels == 0).sum()), int((labels == 1).sum())), len(pool) - len(keep))
