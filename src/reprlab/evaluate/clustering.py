"""k-means on codes, scored against the labels (seed 003's unsupervised accuracy).

- accuracy: clusters matched one to one to labels by the Hungarian method (Kuhn 1955;
  `scipy.optimize.linear_sum_assignment` on the contingency table), then the fraction of
  samples whose cluster maps to their label; unmatched clusters count as wrong;
- NMI and AMI: scikit-learn's `normalized_mutual_info_score` (arithmetic mean) and
  `adjusted_mutual_info_score` (Vinh et al. 2010).
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def hungarian_accuracy(labels, clusters) -> float:
    """Accuracy of the best one-to-one map from clusters to labels."""
    table = contingency_matrix(labels, clusters)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(labels))


def kmeans_scores(codes, labels, n_clusters: int | None = None, seed: int = 0) -> dict:
    """k-means (scikit-learn, k-means++, 10 restarts, seeded) with as many clusters as labels
    by default; returns accuracy, NMI and AMI."""
    labels = np.asarray(labels)
    n_clusters = n_clusters or len(np.unique(labels))
    clusters = KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(
        np.asarray(codes, dtype=np.float64)
    )
    return {
        "accuracy": hungarian_accuracy(labels, clusters),
        "nmi": float(normalized_mutual_info_score(labels, clusters)),
        "ami": float(adjusted_mutual_info_score(labels, clusters)),
    }
