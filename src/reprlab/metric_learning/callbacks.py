"""Training callbacks of metric learning: the cluster index refresh and the Magnet sampler's loss
bookkeeping (Rippel et al. 2016, section 3.3), and RepMet's k-means seeding of representatives.
"""

from torch import Tensor

from reprlab.callbacks import Callback
from reprlab.metric_learning.clusters import embed_images, per_class_kmeans
from reprlab.metric_learning.distributed import broadcast
from reprlab.metric_learning.sampler import MagnetBatchLoader


class ClusterRefresh(Callback):
    """Keeps a `MagnetBatchLoader`'s cluster index current and feeds it the batch losses.

    Every ``every`` steps, per-class k-means with ``k`` clusters runs again on the embeddings of
    the whole training split, warm-started from the previous clusters (the loader starts with
    an index built from the initial model). After each step the loss of each example in the batch
    (``model.last_example_losses``) is recorded for the seed-cluster probabilities.

    ``model`` is the unwrapped module (``fit`` trains a Fabric wrapper around it; both share
    the parameters). This callback's state is its step and refresh counts; the index and the
    recorded losses are the loader's state, so both travel in ``last.pt`` and a resumed run
    refreshes at the same steps with the same k-means seeds.
    """

    def __init__(self, model, loader: MagnetBatchLoader, k: int, every: int, seed: int = 0):
        self.model, self.loader, self.k, self.every, self.seed = model, loader, k, every, seed
        self.steps = 0
        self.refreshes = 0

    def refresh(self, fabric=None) -> None:
        split = self.loader.split
        embeddings = embed_images(self.model, split.images)
        index = per_class_kmeans(
            embeddings,
            split.labels,
            self.k,
            seed=self.seed + self.refreshes,
            previous=self.loader.sampler.index,
        )
        self.loader.sampler.index = broadcast(index, fabric)
        self.refreshes += 1

    def on_fit_start(self, fit) -> None:
        """Under several processes, all start from process 0's index (each built its own)."""
        fabric = getattr(fit, "fabric", None)
        self.loader.sampler.index = broadcast(self.loader.sampler.index, fabric)

    def on_step_end(self, fit, step: int, output) -> None:
        losses = getattr(self.model, "last_example_losses", None)
        if losses is not None and self.loader.last_indices is not None:
            self.loader.sampler.record(self.loader.last_indices, losses)
        self.steps += 1
        if self.every > 0 and self.steps % self.every == 0:
            self.refresh(getattr(fit, "fabric", None))

    def state_dict(self) -> dict:
        return {"steps": self.steps, "refreshes": self.refreshes}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.refreshes = int(state["steps"]), int(state["refreshes"])


class SeedRepresentatives(Callback):
    """At fit start, sets RepMet's representatives to per-class k-means centres of the
    training embeddings (``reps_per_class`` clusters per class), unless resumed."""

    def __init__(self, model, repmet_loss, images: Tensor, labels: Tensor, seed: int = 0):
        self.model, self.repmet_loss, self.images, self.labels = model, repmet_loss, images, labels
        self.seed, self.done = seed, False

    def on_fit_start(self, fit) -> None:
        if self.done:
            return
        embeddings = embed_images(self.model, self.images)
        index = per_class_kmeans(
            embeddings, self.labels, self.repmet_loss.reps_per_class, self.seed
        )
        expected = self.repmet_loss.num_classes * self.repmet_loss.reps_per_class
        if index.num_clusters == expected:  # every class has at least K examples
            device = self.repmet_loss.representatives.device
            centers = broadcast(index.centers, getattr(fit, "fabric", None))
            self.repmet_loss.set_representatives(centers.to(device))
        self.done = True

    def state_dict(self) -> dict:
        return {"done": self.done}

    def load_state_dict(self, state: dict) -> None:
        self.done = bool(state["done"])
