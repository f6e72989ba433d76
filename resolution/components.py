"""Connected components over integer node indexes: who ends up together, for persons and households.

Linked records form persons and household evidence forms households by the same rule:
whatever a chain of links joins is one group. scipy's graph routine finds the groups
over integer arrays in one pass; Splink's own clustering repeats SQL joins until no
label changes, and keeps millions of string keys in the linkage database while it
iterates. On the links of 1M persons (2.15M records), back to back: 3.0 s CPU from
links to clusters here, against 8.3 s with Splink's clustering.

Callers number their nodes ``0..n-1`` in key order, so "the smallest member" is the
smallest index.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components


def component_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For nodes ``0..n-1`` and undirected edges ``a[k]–b[k]``, each node's component number."""
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    graph = coo_array((np.ones(len(a), dtype=np.int32), (np.asarray(a), np.asarray(b))), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def smallest_member(labels: np.ndarray) -> np.ndarray:
    """Each node's smallest fellow node (the group's stable name when nodes are numbered in key order)."""
    if labels.size == 0:
        return labels
    first = np.full(labels.max() + 1, labels.size, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(labels.size))
    return first[labels]
