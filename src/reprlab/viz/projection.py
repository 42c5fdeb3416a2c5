"""Projections of codes for figures: to 2-D (PCA, t-SNE, UMAP) and to 3-D by MDS.

- classical MDS (Torgerson 1952; Cox & Cox 2001, ch. 2): ``B = -1/2 J D^2 J`` with
  ``J = I - 11^T / n``; coordinates ``V_d diag(sqrt(lambda_d))`` from the top ``d`` eigenpairs;
- landmark MDS (de Silva & Tenenbaum 2004, "Sparse multidimensional scaling using landmark
  points", eqs. 3-4): classical MDS on ``m`` landmarks, then every point ``a`` placed at
  ``x_a = -1/2 L^# (delta_a - delta_mu)``, with ``L^#`` rows ``v_i^T / sqrt(lambda_i)``,
  ``delta_a`` its squared distances to the landmarks and ``delta_mu`` their column mean;
  linear in ``n``, so 10 000 points take well under a second;
- the sphere of seed 000: codes projected to 3-D, centred, optionally the points farthest from
  the centre trimmed, then each scaled to unit length.
"""

import numpy as np
import torch

from reprlab.errors import ConfigError


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = torch.cdist(
        torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    )
    return d.pow(2).numpy()


def _top_eigen(b: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(values)[::-1][:dims]
    return values[order], vectors[:, order]


def classical_mds(distances, dims: int = 3) -> np.ndarray:
    """Classical MDS of a full ``[n, n]`` distance matrix into ``dims`` dimensions."""
    d2 = np.asarray(distances, dtype=np.float64) ** 2
    n = len(d2)
    j = np.eye(n) - 1.0 / n
    values, vectors = _top_eigen(-0.5 * j @ d2 @ j, dims)
    return vectors * np.sqrt(np.clip(values, 0, None))


def landmark_mds(points, dims: int = 3, landmarks: int = 500, seed: int = 0) -> np.ndarray:
    """Landmark MDS of ``points`` ``[n, D]`` (Euclidean distances) with ``landmarks`` random
    landmarks (seeded); exact classical MDS when ``landmarks >= n``."""
    x = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    n = len(x)
    if landmarks >= n:
        return classical_mds(np.sqrt(_squared_distances(x, x)), dims)
    if landmarks <= dims:
        raise ConfigError(f"landmark MDS needs more than {dims} landmarks, got {landmarks}")
    chosen = np.random.default_rng(seed).choice(n, landmarks, replace=False)
    delta = _squared_distances(x[chosen], x[chosen])
    j = np.eye(landmarks) - 1.0 / landmarks
    values, vectors = _top_eigen(-0.5 * j @ delta @ j, dims)
    keep = values > 1e-12 * max(values.max(), 1e-300)
    pseudo = np.zeros((dims, landmarks))
    pseudo[keep] = vectors[:, keep].T / np.sqrt(values[keep])[:, None]
    delta_mu = delta.mean(0)
    out = np.empty((n, dims))
    for s in range(0, n, 4096):
        out[s : s + 4096] = (
            -0.5 * (_squared_distances(x[s : s + 4096], x[chosen]) - delta_mu) @ pseudo.T
        )
    return out - out.mean(0)


def mds(points, dims: int = 3, landmarks: int = 500, seed: int = 0) -> np.ndarray:
    """Classical MDS for up to ``landmarks`` points, landmark MDS beyond."""
    return landmark_mds(points, dims, landmarks, seed)


def to_sphere(points, trim: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Centre 3-D points, drop the fraction ``trim`` farthest from the centre, scale each to
    unit length; returns the points and the indices kept."""
    x = np.asarray(points, dtype=np.float64)
    x = x - x.mean(0)
    norms = np.linalg.norm(x, axis=1)
    kept = np.arange(len(x))
    if trim > 0:
        kept = np.flatnonzero(norms <= np.quantile(norms, 1 - trim))
    return x[kept] / np.maximum(norms[kept, None], 1e-12), kept


def project_2d(codes, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """Codes to 2-D for a scatter: unchanged when already 2-D; else ``pca``, ``tsne``
    (scikit-learn, seeded, PCA initialisation) or ``umap`` (umap-learn, when installed).
    ``auto`` is UMAP when installed, else t-SNE. Returns the points and the method used."""
    x = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    if x.shape[1] <= 2:
        return (np.c_[x, np.zeros(len(x))] if x.shape[1] == 1 else x), "identity"
    if method == "auto":
        try:
            import umap

            method = "umap"
        except ImportError:
            method = "tsne"
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(2, random_state=seed).fit_transform(x), "pca"
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(x) - 1) / 3)
        return TSNE(2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(
            x
        ), "tsne"
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ConfigError(
                "projection 'umap' needs umap-learn: pip install umap-learn"
            ) from None
        return umap.UMAP(random_state=seed).fit_transform(x), "umap"
    raise ConfigError(f"unknown projection {method!r}; use auto, pca, tsne or umap")
