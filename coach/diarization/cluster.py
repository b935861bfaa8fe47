"""Split speaker embeddings into two groups, and measure how distinct the two groups are.

scikit-learn and scipy are not dependencies of coach, and two clusters need
little: average-linkage agglomerative clustering on cosine similarity (it
copes with one speaker talking far more than the other, where k-means and
spectral bisection tended to halve the dominant speaker instead), taking the
highest split of the tree whose two branches are both substantial (small
late-merging branches, a cough, a laugh, line noise, are set aside as
outliers), then a few rounds of spherical k-means to settle the two
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
    # Walking down from the top of the dendrogram, a branch smaller than this share of
    # what is left is set aside as outliers (a cough, a laugh, line noise), as long as no
    # more than `max_outlier_share` of all windows are set aside in total.
    min_group_share: float = 0.1
    max_outlier_share: float = 0.2
    kmeans_rounds: int = 10


@dataclass
class TwoClusters:
    """Labels 0/1 per embedding, unit centroids, and how well separated the groups are."""

    labels: np.ndarray
    centroids: np.ndarray  # (2, dim), unit length
    silhouette: float  # mean cosine silhouette of the clustered windows, in [-1, 1]
    centroid_similarity: float  # cosine between the two centroids
    linkage: float  # average cosine similarity between the two chosen branches
    sizes: tuple[int, int]
    outliers: int


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass
class Dendrogram:
    """Average-linkage merge tree: node k >= n merged children[k - n] at similarity[k - n]."""

    n: int
    children: np.ndarray  # (n - 1, 2) node ids
    similarity: np.ndarray  # (n - 1,)
    size: np.ndarray  # (2n - 1,) leaves under each node

    def leaves(self, node: int) -> np.ndarray:
        stack, out = [node], []
        while stack:
            k = stack.pop()
            if k < self.n:
                out.append(k)
            else:
                stack.extend(self.children[k - self.n])
        return np.array(sorted(out), dtype=np.int64)


def average_linkage(sim: np.ndarray) -> Dendrogram:
    """Merge the two most similar groups (mean pairwise cosine) until one remains."""
    n = len(sim)
    s = np.array(sim, dtype=np.float64)
    np.fill_diagonal(s, -np.inf)
    size = np.ones(n)
    node = np.arange(n)  # the tree node each row of s stands for
    children = np.zeros((max(n - 1, 0), 2), dtype=np.int64)
    similarity = np.zeros(max(n - 1, 0))
    sizes = np.concatenate([np.ones(n), np.zeros(max(n - 1, 0))]).astype(np.int64)
    for k in range(n - 1):
        i, j = divmod(int(np.argmax(s)), n)
        children[k], similarity[k] = (node[i], node[j]), s[i, j]
        merged = (size[i] * s[i] + size[j] * s[j]) / (size[i] + size[j])  # Lance-Williams, average
        s[i], s[:, i] = merged, merged
        s[i, i] = -np.inf
        s[j], s[:, j] = -np.inf, -np.inf
        size[i] += size[j]
        node[i] = n + k
        sizes[n + k] = int(size[i])
    return Dendrogram(n, children, similarity, sizes)


def top_split(tree: Dendrogram, options: ClusterOptions) -> tuple[np.ndarray, np.ndarray, float, int]:
    """The highest split of the tree into two substantial branches: (leaves A, leaves B, linkage, outliers).

    Removing the points of a late-merging small branch and re-clustering the rest gives
    the same tree below it (average linkage never looks at points outside the groups it
    merges), so walking down the tree is exactly "set the outliers aside and cluster again".
    """
    node, outliers = 2 * tree.n - 2, 0
    budget = int(options.max_outlier_share * tree.n)
    while True:
        left, right = tree.children[node - tree.n]
        small, big = sorted((left, right), key=lambda k: tree.size[k])
        need = max(2, options.min_group_share * tree.size[node])
        if (tree.size[small] >= need or outliers + tree.size[small] > budget or big < tree.n
                or tree.size[big] < 8):
            return tree.leaves(left), tree.leaves(right), float(tree.similarity[node - tree.n]), outliers
        outliers += int(tree.size[small])
        node = int(big)


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
    a, b, linkage, outliers = top_split(average_linkage(x[pool] @ x[pool].T), options)
    centroids = np.stack([_unit(x[pool[a]].mean(axis=0)), _unit(x[pool[b]].mean(axis=0))])
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
                       (int((labels == 0).sum()), int((labels == 1).sum())), outliers)
