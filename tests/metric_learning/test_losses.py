"""Magnet and RepMet losses against direct numpy computations of their formulas."""

import math

import numpy as np
import pytest
import torch

from reprlab.losses.magnet import MagnetLoss, magnet_loss, magnet_terms
from reprlab.losses.repmet import RepMetLoss, repmet_loss, representative_labels


def numpy_magnet(emb, labels, clusters, alpha, variance):
    """Eqs. 4-5 of Rippel et al. (2016), written out example by example."""
    ids = sorted(set(clusters.tolist()))
    means = {m: emb[clusters == m].mean(0) for m in ids}
    cls = {m: labels[clusters == m][0] for m in ids}
    own = np.array([((emb[n] - means[clusters[n]]) ** 2).sum() for n in range(len(emb))])
    sigma2 = own.sum() / (len(emb) - 1)
    scale = 2 * sigma2 if variance == "paper" else 2 * sigma2**2
    losses = []
    for n in range(len(emb)):
        numerator = math.exp(-own[n] / scale - alpha)
        denominator = sum(
            math.exp(-((emb[n] - means[m]) ** 2).sum() / scale) for m in ids if cls[m] != labels[n]
        )
        losses.append(max(0.0, -math.log(numerator / denominator)))
    return np.array(losses)


def random_batch(seed, classes=3, clusters_per_class=2, per_cluster=4, dim=5):
    rng = np.random.default_rng(seed)
    n_clusters = classes * clusters_per_class
    clusters = np.repeat(np.arange(n_clusters) * 7 + 3, per_cluster)  # arbitrary integer ids
    labels = np.repeat(np.arange(n_clusters) // clusters_per_class, per_cluster)
    emb = rng.normal(size=(len(labels), dim)) + labels[:, None]
    return emb, labels, clusters


@pytest.mark.parametrize("variance", ["paper", "tf-reference"])
@pytest.mark.parametrize("clusters_per_class", [1, 3])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_magnet_matches_numpy(variance, clusters_per_class, alpha):
    emb, labels, clusters = random_batch(clusters_per_class, clusters_per_class=clusters_per_class)
    args = torch.tensor(emb), torch.tensor(labels), torch.tensor(clusters), alpha, variance
    per = magnet_loss(*args, reduction="none")
    mean = magnet_loss(*args)
    expected = numpy_magnet(emb, labels, clusters, alpha, variance)
    assert (expected > 0).any()
    np.testing.assert_allclose(per.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert mean.item() == pytest.approx(expected.mean(), rel=1e-10)


def test_magnet_terms_report_the_batch_variance():
    emb, labels, clusters = random_batch(3, clusters_per_class=2)
    _, sigma2 = magnet_terms(torch.tensor(emb), torch.tensor(labels), torch.tensor(clusters))
    means = {m: emb[clusters == m].mean(0) for m in set(clusters)}
    expected = sum(((e - means[m]) ** 2).sum() for e, m in zip(emb, clusters)) / (len(emb) - 1)
    assert sigma2.item() == pytest.approx(expected, rel=1e-12)


def test_magnet_variances_differ():
    emb, labels, clusters = random_batch(4)
    args = torch.tensor(emb), torch.tensor(labels), torch.tensor(clusters)
    assert magnet_loss(*args, variance="paper") != magnet_loss(*args, variance="tf-reference")


def test_magnet_without_clusters_is_one_cluster_per_class():
    emb, labels, _ = random_batch(5)
    emb_t, labels_t = torch.tensor(emb), torch.tensor(labels)
    expected = numpy_magnet(emb, labels, labels, 1.0, "paper")
    np.testing.assert_allclose(
        magnet_loss(emb_t, labels_t, reduction="none").numpy(), expected, rtol=1e-10
    )


def test_magnet_is_permutation_invariant():
    emb, labels, clusters = random_batch(6, clusters_per_class=2)
    perm = np.random.default_rng(0).permutation(len(labels))
    a = magnet_loss(
        torch.tensor(emb), torch.tensor(labels), torch.tensor(clusters), reduction="none"
    )
    b = magnet_loss(
        torch.tensor(emb[perm]),
        torch.tensor(labels[perm]),
        torch.tensor(clusters[perm]),
        reduction="none",
    )
    assert a.mean().item() == pytest.approx(b.mean().item(), rel=1e-12)
    np.testing.assert_allclose(a.numpy()[perm], b.numpy(), rtol=1e-12)


def test_magnet_is_stable_for_tight_far_clusters_and_differentiable():
    emb, labels, clusters = random_batch(7)
    # tight clusters far apart: exp(-d / 2 sigma^2) underflows for every other cluster, so the
    # ratio of eq. 5 computed literally is -log(x / 0); the log-sum-exp form stays finite.
    emb = torch.tensor(labels[:, None] * 100.0 + emb * 1e-3, requires_grad=True)
    per = magnet_loss(emb, torch.tensor(labels), torch.tensor(clusters), 1.0, reduction="none")
    with pytest.raises((ZeroDivisionError, ValueError, OverflowError)):
        numpy_magnet(emb.detach().numpy(), labels, clusters, 1.0, "paper")
    per.mean().backward()
    assert torch.isfinite(per).all() and torch.isfinite(emb.grad).all()
    assert per.eq(0).all()


def test_magnet_module_reductions_and_errors():
    emb, labels, clusters = random_batch(8)
    args = torch.tensor(emb), torch.tensor(labels), torch.tensor(clusters)
    emb, labels, clusters = args
    per = magnet_loss(*args, alpha=0.5, reduction="none")
    assert torch.allclose(magnet_loss(*args, alpha=0.5, reduction="sum"), per.sum())
    for reduction, expected in [("sum", per.sum()), ("none", per), ("mean", per.mean())]:
        loss = MagnetLoss(alpha=0.5, reduction=reduction)
        assert torch.allclose(loss(emb, labels, clusters=clusters), expected)
    with pytest.raises(ValueError, match="reduction"):
        MagnetLoss(reduction="max")
    with pytest.raises(ValueError, match="variance"):
        magnet_loss(*args, variance="other")
    with pytest.raises(ValueError, match="same label"):
        magnet_loss(args[0], args[1], torch.zeros_like(args[2]))
    with pytest.raises(ValueError, match="integer"):
        magnet_loss(args[0], args[1], args[2].double())


def test_magnet_single_class_batch_is_zero():
    emb = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    per = magnet_loss(emb, torch.zeros(6, dtype=torch.long), torch.arange(6) // 3, reduction="none")
    per.mean().backward()
    assert per.eq(0).all() and torch.isfinite(emb.grad).all()


# RepMet on hand-built inputs: two classes, two representatives each, on a line.
REPS = torch.tensor([[0.0, 0.0], [4.0, 0.0], [1.0, 0.0], [10.0, 0.0]], dtype=torch.float64)
REP_LABELS = torch.tensor([0, 0, 1, 1])
EMB = torch.tensor([[0.5, 0.0], [3.0, 0.0]], dtype=torch.float64)
LABELS = torch.tensor([0, 1])
# squared distances: example 0 -> [0.25, 12.25, 0.25, 90.25]; example 1 -> [9, 1, 4, 49]


def test_repmet_v1_by_hand():
    sigma, alpha = 0.5, 1.0
    s = 2 * sigma**2
    e0 = max(0.0, 0.25 / s + alpha + math.log(math.exp(-0.25 / s) + math.exp(-90.25 / s)))
    e1 = max(0.0, 4 / s + alpha + math.log(math.exp(-9 / s) + math.exp(-1 / s)))
    per = repmet_loss(
        EMB, LABELS, REPS, REP_LABELS, version=1, sigma=sigma, alpha=alpha, reduction="none"
    )
    np.testing.assert_allclose(per.numpy(), [e0, e1], rtol=1e-12)


def test_repmet_v2_by_hand():
    sigma = 1.0
    s = 2 * sigma**2
    p0 = [math.exp(-d / s) for d in (0.25, 12.25, 0.25, 90.25)]
    p1 = [math.exp(-d / s) for d in (9, 1, 4, 49)]
    expected = [-math.log((p0[0] + p0[1]) / sum(p0)), -math.log((p1[2] + p1[3]) / sum(p1))]
    per = repmet_loss(
        EMB, LABELS, REPS, REP_LABELS, version=2, sigma=sigma, alpha=5.0, reduction="none"
    )
    np.testing.assert_allclose(per.numpy(), expected, rtol=1e-12)


def test_repmet_hinge_by_hand():
    per = repmet_loss(EMB, LABELS, REPS, REP_LABELS, version="hinge", alpha=1.0, reduction="none")
    # example 0: 0.25 - 0.25 + 1 = 1; example 1: 4 - 1 + 1 = 4
    np.testing.assert_allclose(per.numpy(), [1.0, 4.0], rtol=1e-12)
    per = repmet_loss(
        EMB + 0, LABELS, REPS, REP_LABELS, version="hinge", alpha=0.0, reduction="none"
    )
    np.testing.assert_allclose(per.numpy(), [0.0, 3.0], rtol=1e-12)


def test_repmet_module_matches_function_and_learns_representatives():
    loss = RepMetLoss(2, 2, 2, version=1, sigma=1.0, reduction="none").double()
    loss.set_representatives(REPS)
    assert torch.equal(loss.rep_labels, representative_labels(2, 2))
    expected = repmet_loss(EMB, LABELS, REPS, REP_LABELS, version=1, sigma=1.0, reduction="none")
    out = loss(EMB, LABELS)
    assert torch.allclose(out, expected)
    out.sum().backward()
    assert loss.representatives.grad is not None and loss.representatives.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="representatives must be"):
        loss.set_representatives(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="version"):
        RepMetLoss(2, 2, 2, version=3)
    assert "version=1" in repr(loss)


def test_repmet_module_is_seeded():
    a, b = RepMetLoss(3, 2, 4, seed=1), RepMetLoss(3, 2, 4, seed=1)
    assert torch.equal(a.representatives, b.representatives)
    assert not torch.equal(a.representatives, RepMetLoss(3, 2, 4, seed=2).representatives)
