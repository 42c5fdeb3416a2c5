"""Magnet and RepMet inside pytorch-metric-learning: its miners, reducers, CrossBatchMemory and
DistributedLossWrapper drive them, and the values are checked against numpy and by hand."""

import math
import os
import socket
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners, reducers
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.utils.distributed import DistributedLossWrapper

from reprlab.errors import ConfigError
from reprlab.losses.magnet import MagnetLoss, magnet_loss
from reprlab.losses.my_loss import MyLoss, my_loss
from reprlab.losses.pml import CrossBatchMemory
from reprlab.losses.repmet import RepMetLoss, repmet_loss


def numpy_magnet(emb, labels, clusters, alpha=1.0, ref=None):
    """Eq. 5 of Rippel et al. (2016) example by example; means and sigma^2 from ``ref``
    ``(emb, labels, clusters)`` (default: the batch itself)."""
    r_emb, r_labels, r_clusters = ref if ref is not None else (emb, labels, clusters)
    ids = sorted(set(r_clusters.tolist()))
    means = {m: r_emb[r_clusters == m].mean(0) for m in ids}
    cls = {m: r_labels[r_clusters == m][0] for m in ids}
    r_own = [((e - means[m]) ** 2).sum() for e, m in zip(r_emb, r_clusters)]
    scale = 2 * sum(r_own) / (len(r_emb) - 1)
    losses = []
    for n in range(len(emb)):
        own = ((emb[n] - means[clusters[n]]) ** 2).sum()
        numerator = math.exp(-own / scale - alpha)
        denominator = sum(
            math.exp(-((emb[n] - means[m]) ** 2).sum() / scale) for m in ids if cls[m] != labels[n]
        )
        losses.append(max(0.0, -math.log(numerator / denominator)))
    return np.array(losses)


def batch(seed, n_clusters=6, per_cluster=4, dim=5):
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(n_clusters), per_cluster)
    cluster_classes = np.arange(n_clusters) // 2
    labels = cluster_classes[clusters]
    emb = rng.normal(size=(len(labels), dim)) * 1.5 + labels[:, None]
    return [torch.tensor(a) for a in (emb, labels, clusters, cluster_classes)]


def miner_weights(indices_tuple, n):
    counts = torch.bincount(torch.cat(indices_tuple), minlength=n).double()
    return counts / counts.max()


def test_magnet_is_a_pml_loss_with_reducers():
    emb, labels, clusters, _ = batch(0)
    per = torch.tensor(numpy_magnet(emb.numpy(), labels.numpy(), clusters.numpy()))
    assert isinstance(MagnetLoss(), pml_losses.BaseMetricLossFunction)
    assert (per > 0).any() and (per == 0).any()

    def value(**kwargs):
        return MagnetLoss(**kwargs)(emb, labels, clusters=clusters)

    torch.testing.assert_close(value(), per.mean())
    torch.testing.assert_close(value(reducer=reducers.SumReducer()), per.sum())
    torch.testing.assert_close(value(reducer=reducers.AvgNonZeroReducer()), per[per > 0].mean())
    low = float(per[per > 0].median())
    torch.testing.assert_close(
        value(reducer=reducers.ThresholdReducer(low=low)), per[per > low].mean()
    )
    torch.testing.assert_close(value(reduction="none"), per)
    torch.testing.assert_close(value(reduction="sum"), per.sum())
    with pytest.raises(ConfigError, match="reducer"):
        MagnetLoss(reduction="sum", reducer=reducers.MeanReducer())
    with pytest.raises(ConfigError, match="distance"):
        MagnetLoss(distance=CosineSimilarity())


@pytest.mark.parametrize("make_miner", [miners.BatchHardMiner, miners.MultiSimilarityMiner])
def test_magnet_with_a_miner_weights_examples_as_pml_does(make_miner):
    emb, labels, clusters, _ = batch(1)
    per = torch.tensor(numpy_magnet(emb.numpy(), labels.numpy(), clusters.numpy()))
    indices_tuple = make_miner()(emb, labels)
    weights = miner_weights(indices_tuple, len(labels))
    assert (weights < 1).any()
    loss = MagnetLoss()(emb, labels, indices_tuple, clusters=clusters)
    torch.testing.assert_close(loss, (per * weights).mean())
    none = MagnetLoss(reduction="none")(emb, labels, indices_tuple, clusters=clusters)
    torch.testing.assert_close(none, per * weights)
    # the library's own loss reads the same weights the same way
    nca = pml_losses.NCALoss(reducer=reducers.DoNothingReducer())
    nca_dict = nca(emb, labels, indices_tuple)["loss"]
    plain = pml_losses.NCALoss(reducer=reducers.DoNothingReducer())(emb, labels)["loss"]
    rows = nca_dict["indices"]
    torch.testing.assert_close(nca_dict["losses"], plain["losses"] * weights[rows])


def test_magnet_reference_set_gives_means_and_variance():
    emb, labels, clusters, _ = batch(2)
    ref_emb, ref_labels, ref_clusters, _ = batch(3, per_cluster=3)
    loss = MagnetLoss(reduction="none")
    out = loss(emb, labels, None, ref_emb, ref_labels, clusters=clusters, ref_clusters=ref_clusters)
    expected = numpy_magnet(
        emb.numpy(),
        labels.numpy(),
        clusters.numpy(),
        ref=(ref_emb.numpy(), ref_labels.numpy(), ref_clusters.numpy()),
    )
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)
    same = loss(emb, labels, None, emb.clone(), labels, clusters=clusters, ref_clusters=clusters)
    torch.testing.assert_close(same, loss(emb, labels, clusters=clusters))
    with pytest.raises(ValueError, match="ref_clusters"):
        loss(emb, labels, None, ref_emb, ref_labels, clusters=clusters)
    with pytest.raises(ValueError, match="members in ref_emb"):
        loss(emb, labels, None, ref_emb[:6], ref_labels[:6], clusters=clusters,
             ref_clusters=ref_clusters[:6])  # fmt: skip


def test_cluster_classes_make_the_labels_cluster_ids():
    emb, labels, clusters, cluster_classes = batch(4)
    by_keyword = MagnetLoss(reduction="none")(emb, labels, clusters=clusters)
    loss = MagnetLoss(reduction="none", cluster_classes=cluster_classes)
    torch.testing.assert_close(loss(emb, clusters), by_keyword)
    with pytest.raises(ValueError, match="cluster ids"):
        loss(emb, clusters, clusters=clusters)


def test_magnet_in_cross_batch_memory_uses_the_memory_for_means_and_variance():
    first, second = batch(5), batch(6)
    with pytest.raises(Exception, match="not supported"):  # the library's own list
        pml_losses.CrossBatchMemory(MagnetLoss(), embedding_size=5)
    classes = first[3]
    memory = CrossBatchMemory(MagnetLoss(cluster_classes=classes), embedding_size=5)
    memory(first[0].float(), first[2])
    emb = second[0].float().requires_grad_()
    out = memory(emb, second[2])
    ref = [torch.cat([a, b]).numpy() for a, b in zip(first[:3], second[:3])]
    expected = numpy_magnet(second[0].float().numpy(), second[1].numpy(), second[2].numpy(),
                            ref=ref)  # fmt: skip
    assert out.item() == pytest.approx(expected.mean(), rel=1e-5)
    out.backward()
    assert emb.grad.abs().sum() > 0


def test_deprecated_call_forms_still_work_with_a_warning():
    emb, labels, clusters, _ = batch(7)
    per = magnet_loss(emb, labels, clusters, reduction="none")
    with pytest.warns(DeprecationWarning, match="one tensor"):
        mean, old_per = magnet_loss(emb, labels, clusters)
    torch.testing.assert_close(mean, per.mean())
    assert old_per is not None and torch.equal(old_per, per)
    with pytest.warns(DeprecationWarning, match="clusters=clusters"):
        old = MagnetLoss()(emb, labels, clusters)
    torch.testing.assert_close(old, per.mean())
    reps, rep_labels = emb[::4], labels[::4]
    with pytest.warns(DeprecationWarning, match="repmet_loss"):
        _, rep_per = repmet_loss(emb, labels, reps, rep_labels)
    torch.testing.assert_close(
        rep_per, repmet_loss(emb, labels, reps, rep_labels, reduction="none")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = magnet_loss(emb, labels, clusters) * 2  # arithmetic on the mean: no warning
    assert type(plain) is torch.Tensor


def test_repmet_is_a_pml_loss_with_miners_and_reducers():
    emb, labels, _, _ = batch(8)
    emb = emb.float()
    loss = RepMetLoss(3, 2, 5, reduction="none", seed=1)
    assert isinstance(loss, pml_losses.BaseMetricLossFunction)
    per = repmet_loss(emb, labels, loss.representatives, loss.rep_labels, reduction="none")
    torch.testing.assert_close(loss(emb, labels), per)
    indices_tuple = miners.BatchHardMiner()(emb, labels)
    weights = miner_weights(indices_tuple, len(labels)).float()
    torch.testing.assert_close(loss(emb, labels, indices_tuple), per * weights)
    summed = RepMetLoss(3, 2, 5, reducer=reducers.SumReducer(), seed=1)
    torch.testing.assert_close(summed(emb, labels), per.sum())
    assert list(summed.state_dict()) == ["representatives"]  # checkpoints keep their keys
    with pytest.raises(ValueError, match="ref_emb"):
        summed(emb, labels, None, emb[:3], labels[:3])


def test_my_loss_is_a_pml_loss_with_miners_reducers_and_the_wrapper():
    """Seed 003's My Loss in pytorch-metric-learning, as RepMet: the library's miner weights,
    reducer and DistributedLossWrapper (outside a process group) on the same inputs."""
    emb, labels, _, _ = batch(8)
    emb = emb.float()
    loss = MyLoss(3, 2, 5, alpha=0.5, reduction="none", seed=1)
    assert isinstance(loss, pml_losses.BaseMetricLossFunction)
    per = my_loss(emb, labels, loss.representatives, loss.rep_labels, 0.5, reduction="none")
    torch.testing.assert_close(loss(emb, labels), per)
    indices_tuple = miners.BatchHardMiner()(emb, labels)
    weights = miner_weights(indices_tuple, len(labels)).float()
    torch.testing.assert_close(loss(emb, labels, indices_tuple), per * weights)
    summed = MyLoss(3, 2, 5, alpha=0.5, reducer=reducers.SumReducer(), seed=1)
    torch.testing.assert_close(summed(emb, labels), per.sum())
    assert list(summed.state_dict()) == ["representatives"]
    with pytest.warns(UserWarning, match="non-distributed"):
        wrapped = DistributedLossWrapper(MyLoss(3, 2, 5, alpha=0.5, seed=1))(emb, labels)
    torch.testing.assert_close(wrapped, per.mean())


def test_distributed_wrapper_outside_a_process_group_returns_the_loss():
    emb, labels, clusters, classes = batch(9)
    wrapped = DistributedLossWrapper(MagnetLoss(cluster_classes=classes))
    with pytest.warns(UserWarning, match="non-distributed"):
        out = wrapped(emb, clusters)
    torch.testing.assert_close(out, magnet_loss(emb, labels, clusters))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank, world, port, folder):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        emb, _, clusters, classes = batch(10)
        rows = slice(rank * 12, (rank + 1) * 12)
        mine = emb[rows].clone().requires_grad_()
        magnet = DistributedLossWrapper(MagnetLoss(cluster_classes=classes))(mine, clusters[rows])
        magnet.backward()
        efficient = DistributedLossWrapper(MagnetLoss(cluster_classes=classes), efficient=True)
        repmet = DistributedLossWrapper(RepMetLoss(3, 2, 5, seed=1).double())
        labels = classes[clusters]
        results = {
            "magnet": magnet.detach(),
            "grad": mine.grad,
            "efficient": efficient(mine, clusters[rows]).detach(),
            "repmet": repmet(mine, labels[rows]).detach(),
        }
        torch.save(results, os.path.join(folder, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_distributed_wrapper_on_two_processes_gives_the_full_batch_loss(tmp_path):
    mp.start_processes(_rank, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method="fork")
    emb, labels, clusters, _ = batch(10)
    full = emb.clone().requires_grad_()
    expected = magnet_loss(full, labels, clusters)
    expected.backward()
    repmet = RepMetLoss(3, 2, 5, seed=1).double()(emb, labels)
    for rank in range(2):
        got = torch.load(tmp_path / f"{rank}.pt", weights_only=True)
        # pytorch-metric-learning scales by the world size, as DDP averages the gradients
        torch.testing.assert_close(got["magnet"], 2 * expected.detach())
        torch.testing.assert_close(got["grad"], 2 * full.grad[rank * 12 : (rank + 1) * 12])
        torch.testing.assert_close(got["repmet"], 2 * repmet.detach())
        # efficient=True: this process's examples against means and sigma^2 of the whole batch
        rows = slice(rank * 12, (rank + 1) * 12)
        own = numpy_magnet(emb[rows].numpy(), labels[rows].numpy(), clusters[rows].numpy(),
                           ref=(emb.numpy(), labels.numpy(), clusters.numpy()))  # fmt: skip
        assert got["efficient"].item() == pytest.approx(2 * own.mean(), rel=1e-10)
