import numpy as np
import pytest
import torch

from reprlab.data import Dataset, Split, load_dataset, stratified_indices
from reprlab.errors import ConfigError, DataError, UnknownNameError


def _split(n=10, classes=2):
    images = torch.arange(n * 4, dtype=torch.uint8).reshape(n, 1, 2, 2)
    return Split(images, torch.arange(n) % classes)


def test_split_validates_dtypes_and_lengths():
    with pytest.raises(ValueError, match="uint8"):
        Split(torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="int64"):
        Split(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.int32))
    with pytest.raises(ValueError, match="labels"):
        Split(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))


def test_subset_keeps_order_and_pairs():
    split = _split()
    sub = split.subset([7, 2])
    assert len(sub) == 2
    assert torch.equal(sub.images[0], split.images[7])
    assert sub.labels.tolist() == [1, 0]


def test_dataset_accessors_and_missing_val():
    ds = Dataset("toy", {"train": _split(), "test": _split(4)}, ["a", "b"], "here")
    assert ds["train"] is ds.train
    assert ds.image_shape == (1, 2, 2)
    assert ds.num_classes == 2
    with pytest.raises(DataError, match="val_fraction"):
        _ = ds.val


def test_stratified_indices_per_class_fraction_and_determinism():
    labels = np.repeat(np.arange(5), 20)
    keep, held = stratified_indices(labels, 0.1, seed=3)
    assert np.bincount(labels[held]).tolist() == [2] * 5
    assert len(np.intersect1d(keep, held)) == 0
    assert len(keep) + len(held) == 100
    again = stratified_indices(labels, 0.1, seed=3)[1]
    other = stratified_indices(labels, 0.1, seed=4)[1]
    assert np.array_equal(held, again)
    assert not np.array_equal(held, other)


def test_stratified_indices_holds_one_of_a_small_class_and_never_all():
    labels = np.array([0, 0, 1, 2, 2, 2])
    keep, held = stratified_indices(labels, 0.05, seed=0)
    assert sorted(labels[held].tolist()) == [0, 2]  # the singleton class 1 stays in keep
    assert 1 in labels[keep]


def test_digits_loads_offline_scaled_and_stratified():
    ds = load_dataset("digits")
    assert set(ds.splits) == {"train", "test"}
    assert ds.image_shape == (1, 8, 8)
    assert ds.train.images.dtype == torch.uint8
    assert len(ds.train) + len(ds.test) == 1797
    assert int(ds.train.images.max()) == 255 and int(ds.train.images.min()) == 0
    # 0..16 scaled: every value is a multiple of 255/16, rounded
    allowed = {round(v * 255 / 16) for v in range(17)}
    assert set(ds.train.images.unique().tolist()) <= allowed
    share = ds.test.class_counts().float() / (ds.train.class_counts() + ds.test.class_counts())
    assert torch.all((share - 0.25).abs() < 0.01)


def test_val_split_is_stratified_seeded_and_test_fixed():
    a = load_dataset("digits", val_fraction=0.2, seed=1)
    b = load_dataset("digits", val_fraction=0.2, seed=1)
    c = load_dataset("digits", val_fraction=0.2, seed=2)
    assert torch.equal(a.val.labels, b.val.labels) and torch.equal(a.val.images, b.val.images)
    assert not torch.equal(a.val.images, c.val.images)
    assert torch.equal(a.test.images, c.test.images)
    assert len(a.train) + len(a.val) == len(load_dataset("digits").train)
    share = a.val.class_counts().float() / (a.val.class_counts() + a.train.class_counts())
    assert torch.all((share - 0.2).abs() < 0.01)


def test_bad_names_and_fractions():
    with pytest.raises(UnknownNameError, match=r"valid: .*digits.*fashion-mnist"):
        load_dataset("imagenet")
    with pytest.raises(ConfigError, match="val_fraction"):
        load_dataset("digits", val_fraction=1.0)
    with pytest.raises(ConfigError, match="fixed image size"):
        load_dataset("digits@32")


def test_validation_split_of_too_little_data_says_so():
    """Issue 14, point 9: a data set too small to split says so."""
    from reprlab.data import stratified_split

    split = Split(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.arange(3))
    with pytest.raises(DataError, match="too few to hold out"):
        stratified_split(split, 0.2, 0)
    rest, held = stratified_split(split, 0.0, 0)
    assert len(rest) == 3 and len(held) == 0
