"""How well encoding keeps neighbourhoods (seed 004) and the rank-based quality measures.

- score@k (seed 004): the mean over samples of ``|N_k^X(i) ∩ N_k^Z(i)| / k``, where ``N_k^X``
  and ``N_k^Z`` are the k nearest neighbours (self excluded) in input and latent space. An
  isometry keeps 1; a random map keeps about ``k / (N - 1)``.
- label agreement (seed 004): ``rate_i`` = fraction of ``N_k(i)`` sharing ``i``'s label, in
  input and in latent space; ``improvement = mean(rate^Z - rate^X)`` and
  ``similarity = mean |rate^Z - rate^X|`` (seed 004 printed sums; these are means).
- trustworthiness (Venna & Kaski 2001; scikit-learn's definition):
  ``T(k) = 1 - 2 / (n k (2n - 3k - 1)) sum_i sum_{j in N_k^Z(i) \\ N_k^X(i)} (r^X(i, j) - k)``,
  ``r^X`` the rank in input space; continuity is the same with the two spaces swapped.
"""

from pathlib import Path

import numpy as np
import torch

from reprlab.atomic import torch_save
from reprlab.evaluate.cache import cache_dir, content_hash
from reprlab.evaluate.knn import knn

DEFAULT_KS = (5, 10, 20, 50)


def overlap(input_neighbours, latent_neighbours, k: int) -> np.ndarray:
    """Per sample, the fraction of its k nearest input neighbours among its k nearest latent
    neighbours (both ``[N, >=k]`` index arrays, nearest first)."""
    a = np.asarray(input_neighbours)[:, :k]
    b = np.asarray(latent_neighbours)[:, :k]
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(1) / k


def agreement_rate(neighbours, labels, k: int) -> np.ndarray:
    """Per sample, the fraction of its k nearest neighbours that share its label."""
    labels = np.asarray(labels)
    return (labels[np.asarray(neighbours)[:, :k]] == labels[:, None]).mean(1)


def neighbourhood_scores(input_neighbours, latent_neighbours, labels, ks=DEFAULT_KS) -> dict:
    """score@k overall and per label, and label agreement, for each k in ``ks``."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    out: dict = {"per_label": {str(c): {} for c in classes}}
    for k in ks:
        kept = overlap(input_neighbours, latent_neighbours, k)
        out[f"score@{k}"] = float(kept.mean())
        for c in classes:
            out["per_label"][str(c)][f"score@{k}"] = float(kept[labels == c].mean())
        rate_x = agreement_rate(input_neighbours, labels, k)
        rate_z = agreement_rate(latent_neighbours, labels, k)
        out[f"agreement@{k}"] = {
            "input_rate": float(rate_x.mean()),
            "latent_rate": float(rate_z.mean()),
            "improvement": float((rate_z - rate_x).mean()),
            "similarity": float(np.abs(rate_z - rate_x).mean()),
        }
    return out


def trustworthiness(high, low, k: int = 10, metric: str = "l2", block: int = 512) -> float:
    """Trustworthiness of the embedding ``low`` of ``high`` (definition above), computed in
    blocks of rows so that memory stays ``O(block * N)``."""
    high = torch.as_tensor(np.asarray(high, dtype=np.float64)).reshape(len(high), -1)
    n = len(high)
    if not 1 <= k < n / 2:
        raise ValueError(f"trustworthiness needs 1 <= k < n/2 = {n / 2}, got k={k}")
    _, low_nn = knn(low, k, metric, dtype=torch.float64)
    penalty = 0.0
    for s in range(0, n, block):
        rows = torch.arange(s, min(s + block, n))
        d = torch.cdist(high[rows], high, p=2 if metric == "l2" else 1)
        d[torch.arange(len(rows)), rows] = float("inf")
        order = torch.argsort(d, dim=1)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(1, n + 1).expand(len(rows), n).contiguous())
        excess = torch.gather(rank, 1, low_nn[rows]) - k
        penalty += float(excess.clamp_min(0).sum())
    return 1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))


def continuity(high, low, k: int = 10, metric: str = "l2") -> float:
    """Continuity: trustworthiness with the roles of input and latent space swapped."""
    return trustworthiness(low, high, k, metric)


def input_neighbours(images, dataset_name: str, split: str, k: int, metric: str = "l2"):
    """The ``k`` nearest input-space neighbours of each image (self excluded), computed once
    and cached on disk, keyed by data set name, split, content hash, metric and ``k``; a
    cached entry with a larger ``k`` is reused."""
    key = f"{dataset_name}-{split}-{content_hash(images)}-{metric}"
    folder = cache_dir("neighbours")
    cached = {int(p.stem.rsplit("-k", 1)[1]): p for p in folder.glob(f"{key}-k*.pt")}
    larger = [size for size in cached if size >= k]
    if larger:
        return torch.load(cached[min(larger)], weights_only=True)[:, :k]
    x = torch.as_tensor(images)
    x = x.reshape(len(x), -1).float() / (255.0 if x.dtype == torch.uint8 else 1.0)
    _, indices = knn(x, k, metric)
    torch_save(indices, Path(folder, f"{key}-k{k}.pt"))
    return indices
