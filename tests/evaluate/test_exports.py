"""reprlab.evaluate exports retrieval_scores; its precision@1 matches a brute-force count."""

import numpy as np
import pytest

import reprlab.evaluate
from reprlab.evaluate import retrieval_scores


def test_retrieval_scores_is_exported_and_scores_like_brute_force():
    assert "retrieval_scores" in reprlab.evaluate.__all__
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 60)
    codes = rng.normal(size=(60, 3)) + labels[:, None]
    dist = ((codes[:, None] - codes[None]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    expected = float(np.mean(labels[dist.argmin(1)] == labels))
    assert 0.2 < expected < 1
    assert retrieval_scores(codes, labels)["precision_at_1"] == pytest.approx(expected)
