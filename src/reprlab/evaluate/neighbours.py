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

import fcntl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from reprlab.atomic import torch_save
from reprlab.errors import ConfigError, DataError
from reprlab.evaluate.cache import cache_dir, content_hash
from reprlab.evaluate.knn import DEFAULT_MEMORY_BUDGET, knn
from reprlab.evaluate.knn_kernels import count_ranks, neighbour_distances

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


def _screen_error(norms: np.ndarray, largest: float, dims: int, unit: float, l1: bool):
    """Per query, a bound on |screened score - exact distance| (squared for L2) over all points,
    for scores from rows rounded to a precision of unit roundoff ``unit`` after centring and a
    float product or L1 sum of ``dims`` terms (Higham 2002, eq. 3.5: ``gamma_n = n u / (1 - n
    u)``). L2: ``2 gamma |a.b| + 2 u (|a| + |b|)^2``; L1: ``(gamma + u) |a - b|_1 + u (|a|_1 +
    |b|_1)``; both below ``(gamma + 3 u) s^p`` with ``s`` the query's norm plus the largest,
    ``p`` 2 or 1; a relative 1e-12 more covers the float64 arithmetic and the band within
    which `count_ranks` takes distances as tied (``TIE`` = 2^-43, about 1.1e-13)."""
    gamma = dims * unit / (1 - dims * unit)
    span = norms + largest
    return (gamma + 3 * unit + 1e-12) * (span if l1 else span * span)


def neighbour_ranks(
    x, neighbours, metric: str = "l2", *, memory_budget: int = DEFAULT_MEMORY_BUDGET, rows=None
) -> np.ndarray:
    """``ranks[i, m]``: the rank of point ``neighbours[i, m]`` among all points other than
    ``i`` by exact distance from ``x[i]`` (1 = nearest; equal distances ranked by index, as a
    stable sort orders them): ``1 +`` the number of points nearer, or as near with a lower
    index. Distances are float64, from differences of the float64 coordinates; two within a
    relative 1.1e-13 of each other count as equal, since ties in the data before rounding
    (pixel values over 255) differ in the last bits after it.

    Each block of rows is screened with the blocked products knn uses (float32 on rows
    centred at the mean; float64 when torch allows reduced-precision float32 products), whose
    rounding is bounded rigorously (`_screen_error`); a point is counted from its screened
    score unless that score lies within the bound of a neighbour's distance, and then from its
    exact distance. Cost ``O(N^2 D)`` products plus ``O(N^2)`` comparisons, against a full sort
    of every row (``O(N^2 log N)``). ``rows`` caps the rows per block."""
    if metric not in ("l2", "l1"):
        raise ConfigError(f"unknown rank metric {metric!r}; use 'l2' or 'l1'")
    x64 = np.ascontiguousarray(
        torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(len(x), -1).numpy()
    )
    neighbours = np.ascontiguousarray(np.asarray(neighbours, dtype=np.int64))
    n, dims = x64.shape
    if len(neighbours) != n or neighbours.ndim != 2 or neighbours.size == 0:
        raise ConfigError(f"neighbours must be a [{n}, k] index array, got {neighbours.shape}")
    if neighbours.min() < 0 or neighbours.max() >= n:
        raise ConfigError(f"neighbour indices must lie in [0, {n}); fix the index array")
    if not np.isfinite(x64).all():
        raise DataError("neighbour_ranks got NaN or infinite coordinates; clean those rows")
    l1 = metric == "l1"
    reduced = torch.get_float32_matmul_precision() != "highest"
    screen_dtype, unit = (torch.float64, 2.0**-53) if reduced else (torch.float32, 2.0**-24)
    if x64.size and np.abs(x64).max() > 1e15:  # float32 scores could overflow
        screen_dtype, unit = torch.float64, 2.0**-53
    screened = torch.from_numpy(x64 - x64.mean(0)).to(screen_dtype)  # distances unchanged
    order = 1 if l1 else 2
    norms = torch.linalg.vector_norm(screened.double(), ord=order, dim=1).numpy()
    error = _screen_error(norms, norms.max(), dims, unit, l1)
    squares = np.zeros(n) if l1 else norms * norms

    threads = torch.get_num_threads()
    thresholds = np.empty(neighbours.shape)
    ranks = np.empty(neighbours.shape, dtype=np.int64)
    block = max(1, min(n, memory_budget // (screened.element_size() * n)))
    block = block if rows is None else max(1, min(block, rows))
    scratch = torch.empty(block * n, dtype=screen_dtype)
    with ThreadPoolExecutor(threads) as pool:

        def in_threads(work, count):
            cuts = np.linspace(0, count, 4 * threads + 1).astype(int)  # taken as threads free
            return list(pool.map(work, cuts[:-1], cuts[1:]))

        in_threads(lambda a, b: neighbour_distances(x64, neighbours, a, b, l1, thresholds), n)
        for s in range(0, n, block):
            e = min(s + block, n)
            scores = scratch[: (e - s) * n].view(e - s, n)
            if l1:
                scores.copy_(torch.cdist(screened[s:e], screened, p=1))
            else:  # ||q||^2 + ||x||^2 - 2 q.x, the squared distance
                torch.mm(screened[s:e] * -2, screened.T, out=scores)
            scores_np = scores.numpy()

            def work(a, b, s=s, scores_np=scores_np):
                return count_ranks(
                    scores_np[a:b],
                    squares,
                    squares[s + a : s + b],
                    error[s + a : s + b],
                    thresholds[s + a : s + b],
                    neighbours[s + a : s + b],
                    s + a,
                    x64,
                    l1,
                    ranks[s + a : s + b],
                )

            in_threads(work, e - s)
    return ranks


def trustworthiness(high, low, k: int = 10, metric: str = "l2", block: int | None = None) -> float:
    """Trustworthiness of the embedding ``low`` of ``high`` (definition above): latent
    neighbours by `knn` (float64), their input-space ranks by `neighbour_ranks`, so memory
    stays ``O(block * N)`` and no row is sorted. Equal to scikit-learn's
    ``sklearn.manifold.trustworthiness`` where no two input distances of a row tie (its
    unstable sort leaves the order of ties unspecified; here they go to the lower index)."""
    high = np.asarray(high, dtype=np.float64).reshape(len(high), -1)
    n = len(high)
    if not 1 <= k < n / 2:
        raise ValueError(f"trustworthiness needs 1 <= k < n/2 = {n / 2}, got k={k}")
    _, low_nn = knn(low, k, metric)
    ranks = neighbour_ranks(high, low_nn.numpy(), metric, rows=block)
    penalty = float(np.clip(ranks - k, 0, None).sum())
    return 1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))


def continuity(high, low, k: int = 10, metric: str = "l2") -> float:
    """Continuity: trustworthiness with the roles of input and latent space swapped."""
    return trustworthiness(low, high, k, metric)


def input_neighbours(
    images, dataset_name: str, split: str, k: int, metric: str = "l2", device=None
):
    """The ``k`` nearest input-space neighbours of each image (self excluded), computed once
    and cached on disk, keyed by data set name, split, content hash, metric and ``k``; a
    cached entry with a larger ``k`` is reused. Processes asking for the same entry at once
    wait for the first (a file lock) instead of computing it again. L1 on uint8 images uses
    exact integer pixel distances (`reprlab.evaluate.l1_kernel`). ``device``: where knn
    runs (default the CPU); the indices are returned on the CPU."""
    key = f"{dataset_name}-{split}-{content_hash(images)}-{metric}"
    folder = cache_dir("neighbours")
    with open(Path(folder, f"{key}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = {int(p.stem.rsplit("-k", 1)[1]): p for p in folder.glob(f"{key}-k*.pt")}
        larger = [size for size in cached if size >= k]
        if larger:
            return torch.load(cached[min(larger)], weights_only=True)[:, :k]
        x = torch.as_tensor(images)
        x = x.reshape(len(x), -1)
        if x.dtype == torch.uint8 and metric != "l1":
            x = x.float() / 255.0
        indices = knn(x, k, metric, device=device)[1].cpu()
        torch_save(indices, Path(folder, f"{key}-k{k}.pt"))
        return indices
