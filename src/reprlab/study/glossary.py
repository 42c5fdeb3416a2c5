"""What each metric means: definition, better direction, range and source, for the report's
glossary and for choosing where a bar chart's axis starts.

``ENTRIES`` is matched in order against a flattened metric name (``probe-knn/accuracy``,
``neighbours/l2/per_label/3/score@10``) with ``fnmatch`` patterns; the first match wins.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

INF = math.inf


@dataclass(frozen=True)
class Entry:
    pattern: str
    title: str
    definition: str
    direction: str | None  # 'higher', 'lower' or None
    low: float
    high: float
    source: str

    @property
    def range_text(self) -> str:
        def end(v: float) -> str:
            return "∞" if v == INF else "−∞" if v == -INF else f"{v:g}"

        return f"[{end(self.low)}, {end(self.high)}]"


PROBE = "Alain & Bengio, Understanding intermediate layers using linear classifier probes, 2016"
SEED4 = "seed 004: neighbourhood preservation of autoencoder codes (course project report)"
MUSGRAVE = "Musgrave, Belongie & Lim, A Metric Learning Reality Check, ECCV 2020"

ENTRIES: list[Entry] = [
    Entry("probe-*/accuracy", "probe accuracy",
          "Fraction of test images whose label a classifier trained on the train split's "
          "codes predicts correctly.", "higher", 0, 1, PROBE),
    Entry("probe-*/cross_entropy", "probe cross-entropy",
          "Mean negative log-probability (nats) the probe gives the true label.",
          "lower", 0, INF, PROBE),
    Entry("neighbours/*score@*", "score@k",
          "Mean over images of |N_k^X(i) ∩ N_k^Z(i)| / k: the share of an image's k nearest "
          "neighbours in pixel space that stay among its k nearest in code space.",
          "higher", 0, 1, SEED4),
    Entry("neighbours/*/input_rate", "label agreement in input space",
          "Share of an image's k nearest neighbours in pixel space with its label: a property "
          "of the data, the same for every model.", "higher", 0, 1, SEED4),
    Entry("neighbours/*/latent_rate", "label agreement in code space",
          "Share of an image's k nearest neighbours in code space with its label.",
          "higher", 0, 1, SEED4),
    Entry("neighbours/*/improvement", "label-agreement improvement",
          "mean(rate^Z − rate^X): how much more often code-space neighbours share the label "
          "than pixel-space neighbours do.", "higher", -1, 1, SEED4),
    Entry("neighbours/*/similarity", "label-agreement change",
          "mean |rate^Z − rate^X|: how much label agreement changes per image, either way.",
          "lower", 0, 1, SEED4),
    Entry("*trustworthiness", "trustworthiness",
          "1 − a rank penalty for code-space neighbours that are not neighbours in pixel "
          "space (scikit-learn's definition).", "higher", 0, 1,
          "Venna & Kaski, Neighborhood preservation in nonlinear projection methods, 2001"),
    Entry("*continuity", "continuity",
          "Trustworthiness with the two spaces swapped: pixel-space neighbours kept in code "
          "space.", "higher", 0, 1,
          "Venna & Kaski, Neighborhood preservation in nonlinear projection methods, 2001"),
    Entry("clustering/accuracy", "clustering accuracy",
          "k-means on codes (one cluster per class), best one-to-one map of clusters to "
          "labels (Hungarian algorithm), fraction correct.", "higher", 0, 1,
          "Yang et al., Image clustering using local discriminant models, 2010"),
    Entry("clustering/nmi", "NMI",
          "Normalised mutual information between k-means clusters and labels.", "higher", 0, 1,
          "Strehl & Ghosh, Cluster ensembles, JMLR 2002"),
    Entry("clustering/ami", "AMI",
          "Mutual information of clusters and labels adjusted for chance.", "higher", -1, 1,
          "Vinh, Epps & Bailey, Information theoretic measures for clusterings comparison, "
          "JMLR 2010"),
    Entry("retrieval/precision_at_1", "precision@1",
          "Share of queries whose nearest code belongs to the same class.", "higher", 0, 1,
          MUSGRAVE),
    Entry("retrieval/r_precision", "R-precision",
          "Share of a query's R nearest codes in its class, R = its class size − 1.",
          "higher", 0, 1, MUSGRAVE),
    Entry("retrieval/map_at_r", "MAP@R",
          "Mean average precision over a query's R nearest codes.", "higher", 0, 1, MUSGRAVE),
    Entry("reconstruction/mse", "reconstruction MSE",
          "Mean squared error between images and reconstructions, pixels in [0, 1].",
          "lower", 0, 1, "—"),
    Entry("reconstruction/psnr", "PSNR",
          "Peak signal-to-noise ratio, 10 log10(1 / MSE), in dB.", "higher", 0, INF, "—"),
    Entry("elbo/elbo", "ELBO",
          "Evidence lower bound, nats per image, with a normalised decoder likelihood.",
          "higher", -INF, INF, "Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014"),
    Entry("elbo/bits_per_dim", "bits per dimension",
          "−ELBO / (D ln 2): the ELBO in bits per pixel value.", "lower", -INF, INF,
          "Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014"),
    Entry("fid/*", "FID",
          "Fréchet distance between Gaussians fitted to features of real and generated "
          "images (features of a small classifier trained on the data set).", "lower", 0, INF,
          "Heusel et al., GANs trained by a two time-scale update rule..., NeurIPS 2017"),
    Entry("metric-accuracy/magnet*", "Magnet accuracy",
          "Class of the softmax over the L nearest cluster centres (Magnet eq. 6).", "higher",
          0, 1, "Rippel et al., Metric learning with adaptive density discrimination, ICLR 2016"),
    Entry("metric-accuracy/repmet*", "RepMet accuracy",
          "Class posterior over all class representatives.", "higher", 0, 1,
          "Karlinsky et al., RepMet: representative-based metric learning, CVPR 2019"),
    Entry("metric-accuracy/*", "seed 003 accuracy",
          "One of seed 003's cluster-based accuracies of an embedder.", "higher", 0, 1,
          "seed 003 (pytorch.repmet)"),
]  # fmt: skip


def entry(metric: str) -> Entry | None:
    """The glossary entry of a flattened metric name, or None."""
    for e in ENTRIES:
        if fnmatch.fnmatchcase(metric, e.pattern):
            return e
    return None


def axis_bottom(metric: str, values: list[float]) -> float | None:
    """Where a bar chart of ``metric`` starts: 0, or the range's lower end when that is finite
    and above 0; ``None`` when bars would mislead (the range is unbounded below or crosses 0)
    and the chart should show points with intervals on an axis fitted to the data."""
    e = entry(metric)
    low = e.low if e is not None else (0.0 if all(v >= 0 for v in values) else -INF)
    if low == -INF or low < 0:
        return None
    return float(low)
