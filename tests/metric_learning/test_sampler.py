"""Per-class k-means index and Magnet batches."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reprlab.metric_learning.clusters import ClusterIndex, per_class_kmeans
from reprlab.metric_learning.sampler import MagnetBatchLoader, MagnetBatchSampler


def blobs(classes=4, per_class=30, k=3, dim=2, seed=0):
    """Each class is k well-separated blobs, so per-class k-means must recover them."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-50, 50, size=(classes, k, dim))
    labels = np.repeat(np.arange(classes), per_class)
    blob = np.tile(np.arange(per_class) % k, classes)
    x = centers[labels, blob] + rng.normal(scale=0.1, size=(len(labels), dim))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(labels), blob


def test_per_class_kmeans_recovers_blobs_and_variance():
    x, y, blob = blobs()
    index = per_class_kmeans(x, y, k=3, seed=0)
    assert index.num_clusters == 12 and index.assignments.dtype == torch.int64
    assert torch.equal(index.labels, torch.arange(4).repeat_interleave(3))
    # each cluster lies within one class, and each blob maps to exactly one cluster
    assert torch.equal(index.labels[index.assignments], y)
    pairs = {(int(a), int(c), int(b)) for a, c, b in zip(y, index.assignments, blob)}
    assert len(pairs) == 12
    centers = torch.stack([x[index.assignments == m].mean(0) for m in range(12)])
    torch.testing.assert_close(index.centers, centers, atol=1e-4, rtol=0)
    sq = ((x.double() - centers.double()[index.assignments]) ** 2).sum()
    assert index.variance == pytest.approx(float(sq / (len(y) - 1)), rel=1e-4)


def test_per_class_kmeans_is_seeded_and_warm_starts():
    x, y, _ = blobs(seed=1)
    a, b = per_class_kmeans(x, y, 3, seed=5), per_class_kmeans(x, y, 3, seed=5)
    assert torch.equal(a.assignments, b.assignments)
    moved = x + 0.05  # a small change of the embeddings keeps cluster ids
    c = per_class_kmeans(moved, y, 3, seed=9, previous=a)
    assert torch.equal(c.assignments, a.assignments)


def test_small_classes_get_fewer_clusters():
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 0, 0, 0, 0, 1, 1])
    index = per_class_kmeans(x, y, k=3)
    assert index.labels.tolist() == [0, 0, 0, 1, 1]
    assert sorted(index.sizes()[3:].tolist()) == [1, 1]
    state = ClusterIndex.from_state_dict(index.state_dict())
    assert torch.equal(state.assignments, index.assignments) and state.variance == index.variance


def test_batches_have_m_clusters_d_examples_and_nearest_impostors():
    x, y, _ = blobs()
    index = per_class_kmeans(x, y, 3)
    sampler = MagnetBatchSampler(index, m=4, d=5)
    rng = np.random.default_rng(0)
    centers = index.centers.double()
    for _ in range(50):
        idx, clusters = sampler.sample(rng)
        assert idx.shape == clusters.shape == (20,) and clusters.dtype == np.int64
        chosen = clusters[::5]
        assert len(set(chosen.tolist())) == 4  # never the seed (or any cluster) twice
        assert (clusters.reshape(4, 5) == chosen[:, None]).all()
        assert torch.equal(index.assignments[idx], torch.from_numpy(clusters))
        seed, impostors = chosen[0], chosen[1:]
        assert (index.labels[impostors] != index.labels[seed]).all()
        # brute force: the 3 nearest other-class centres
        others = [m for m in range(12) if index.labels[m] != index.labels[seed]]
        dist = {m: float(((centers[m] - centers[seed]) ** 2).sum()) for m in others}
        assert sorted(impostors.tolist()) == sorted(sorted(others, key=dist.get)[:3])


def test_tiny_clusters_are_sampled_with_replacement():
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 0, 0, 0, 0, 0, 0, 1, 2])  # classes 1 and 2 have one example each
    sampler = MagnetBatchSampler(per_class_kmeans(x, y, 2), m=3, d=4)
    rng = np.random.default_rng(1)
    for _ in range(20):
        idx, clusters = sampler.sample(rng)
        assert len(idx) == 12 and len(set(clusters[::4].tolist())) == 3


def test_m_larger_than_the_impostors_available_is_capped():
    x, y, _ = blobs(classes=2, k=2)
    sampler = MagnetBatchSampler(per_class_kmeans(x, y, 2), m=10, d=2)
    idx, clusters = sampler.sample(np.random.default_rng(0))
    assert len(set(clusters.tolist())) == 3 and len(idx) == 6


def test_seed_clusters_follow_recorded_losses():
    x, y, _ = blobs()
    index = per_class_kmeans(x, y, 3)
    sampler = MagnetBatchSampler(index, m=2, d=2)
    np.testing.assert_allclose(sampler.seed_probabilities(), np.full(12, 1 / 12))
    members = index.members(4)
    sampler.record(members, np.full(len(members), 3.0))
    sampler.record(index.members(7), np.ones(len(index.members(7))))
    p = sampler.seed_probabilities()
    # unseen clusters get the mean of the seen ones, (3 + 1) / 2 = 2
    expected = np.full(12, 2.0)
    expected[4], expected[7] = 3.0, 1.0
    np.testing.assert_allclose(p, expected / expected.sum())
    sampler.record(np.arange(len(y)), np.zeros(len(y)))
    np.testing.assert_allclose(sampler.seed_probabilities(), np.full(12, 1 / 12))
    # only cluster 2 has a loss: it is always the seed
    sampler.record(index.members(2), np.full(len(index.members(2)), 5.0))
    rng = np.random.default_rng(0)
    assert {int(sampler.sample(rng)[1][0]) for _ in range(20)} == {2}


def test_loader_is_repeatable_and_resumable():
    x, y, _ = blobs()
    images = torch.randint(0, 256, (len(y), 1, 2, 2), dtype=torch.uint8)
    split = SimpleNamespace(images=images, labels=y)
    sampler = MagnetBatchSampler(per_class_kmeans(x, y, 3), m=3, d=4)
    loader = MagnetBatchLoader(split, sampler, seed=3)
    assert len(loader) == 10  # 120 examples / 12 per batch
    first = []
    for xb, yb, cb in loader.epoch(2):
        rows = torch.from_numpy(loader.last_indices)
        assert torch.equal(yb, y[rows]) and torch.equal(xb, images[rows].float() / 255)
        first.append(cb)
    assert xb.dtype == torch.float32 and xb.shape == (12, 1, 2, 2)
    sampler.record(loader.last_indices, np.arange(12.0))
    state = loader.state_dict()
    again = MagnetBatchLoader(split, MagnetBatchSampler(sampler.index, 3, 4), seed=3)
    again.load_state_dict(state)
    for (a, b, c), (d, e, f) in zip(loader.epoch(5), again.epoch(5)):
        assert torch.equal(a, d) and torch.equal(b, e) and torch.equal(c, f)
    assert first[0].dtype == torch.int64 and len(first) == 10


class _Indexed(torch.utils.data.Dataset):
    """(image, label, index) of a Split, so a loop can record each example's loss."""

    def __init__(self, split):
        self.split = split

    def __len__(self):
        return len(self.split)

    def __getitem__(self, i):
        return (*self.split[i], i)


def test_sampler_is_a_torch_batch_sampler_drawing_the_loader_batches():
    from reprlab.data import Split

    x, y, _ = blobs()
    images = torch.randint(0, 256, (len(y), 1, 2, 2), dtype=torch.uint8)
    split = Split(images, y)
    index = per_class_kmeans(x, y, 3)
    sampler = MagnetBatchSampler(index, m=3, d=4, seed=3)
    assert isinstance(sampler, torch.utils.data.Sampler) and len(sampler) == 10
    loader = torch.utils.data.DataLoader(_Indexed(split), batch_sampler=sampler)
    reference = MagnetBatchLoader(split, MagnetBatchSampler(index, 3, 4), seed=3)
    for (xb, yb, rows), (xr, yr, cr) in zip(loader, reference.epoch(0), strict=True):
        assert torch.equal(xb.float() / 255, xr) and torch.equal(yb, yr)
        assert torch.equal(sampler.clusters_of(rows), cr)
    assert sampler.state_dict()["epoch"] == 1 and sampler.state_dict()["batch"] == 0
    second = list(sampler)
    assert second == [b.tolist() for b in _loader_rows(split, index, seed=3, epoch=1)]


def _loader_rows(split, index, seed, epoch):
    loader = MagnetBatchLoader(split, MagnetBatchSampler(index, 3, 4), seed=seed)
    for _ in loader.epoch(epoch):
        yield torch.from_numpy(loader.last_indices)


def test_sampler_state_resumes_at_the_exact_batch_with_the_recorded_losses():
    import io

    x, y, _ = blobs(seed=2)
    index = per_class_kmeans(x, y, 3)
    losses = np.random.default_rng(0).uniform(size=len(y)) ** 8  # a few clusters dominate

    def run(sampler, steps):
        out = []
        for _, rows in zip(range(steps), sampler):
            sampler.record(rows, losses[rows] * (1 + sampler.batch))
            out.append(rows)
        return out

    straight = MagnetBatchSampler(index, 2, 3, seed=1, steps_per_epoch=6)
    full = run(straight, 6)
    first = MagnetBatchSampler(index, 2, 3, seed=1, steps_per_epoch=6)
    head = run(first, 4)  # stops mid-epoch; the state is saved and loaded elsewhere
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = MagnetBatchSampler(per_class_kmeans(x + 1, y, 3), 2, 3, steps_per_epoch=6)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.batch == 4 and resumed.seed == 1
    tail = run(resumed, 10)
    assert head + tail == full and len(tail) == 2
    assert resumed.epoch == 1
    # the seeds depended on the recorded losses: without them the batches differ
    fresh = MagnetBatchSampler(index, 2, 3, seed=1, steps_per_epoch=6)
    assert list(fresh) != full
