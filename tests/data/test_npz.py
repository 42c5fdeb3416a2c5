import numpy as np
import pytest

from reprlab.data import load_dataset
from reprlab.errors import DataError


def test_npz_nhwc_labels_remapped_and_split(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (20, 5, 6, 3), dtype=np.uint8)
    labels = np.repeat([3, 7], 10)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    ds = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert ds.image_shape == (3, 5, 6) and ds.classes == ["3", "7"]
    assert ds.test.class_counts().tolist() == [2, 2]
    row = ds.train.images[0].numpy().transpose(1, 2, 0)
    assert any(np.array_equal(row, im) for im in images)


def test_npz_nchw_nhw_and_named_splits(tmp_path):
    train = np.zeros((4, 1, 8, 8), np.uint8)
    np.savez(tmp_path / "s.npz", train_images=train, train_labels=np.arange(4),
             test_images=np.zeros((2, 1, 8, 8), np.uint8), test_labels=np.array([0, 3]),
             classes=np.array(["a", "b", "c", "d"]))  # fmt: skip
    ds = load_dataset(f"npz:{tmp_path / 's.npz'}")
    assert ds.image_shape == (1, 8, 8) and len(ds.test) == 2 and ds.classes[3] == "d"
    np.savez(tmp_path / "g.npz", images=np.zeros((6, 9, 9), np.uint8), labels=np.arange(6) % 2)
    assert load_dataset(f"npz:{tmp_path / 'g.npz'}").image_shape == (1, 9, 9)


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(images=np.zeros((4, 8, 8, 3), np.float32), labels=np.arange(4)), "uint8"),
        (dict(images=np.zeros((4, 3, 5, 3), np.uint8), labels=np.arange(4)), "ambiguous"),
        (dict(images=np.zeros((4, 8, 8), np.uint8), labels=np.arange(3)), "3 labels"),
        (dict(x=np.zeros(3)), "expected images and labels"),
        (dict(images=np.zeros((4, 8, 8), np.uint8), labels=np.zeros(4)), "integer"),
    ],
)
def test_npz_refuses_bad_arrays(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_npz_truncated(tmp_path):
    np.savez(tmp_path / "t.npz", images=np.zeros((4, 8, 8), np.uint8), labels=np.arange(4))
    raw = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"t.npz"):
        load_dataset(f"npz:{tmp_path / 't.npz'}")


@pytest.mark.parametrize(
    "arrays, message",
    [
        # issue 14, point 9: one example per class left the test split empty
        (dict(images=np.zeros((3, 8, 8), np.uint8), labels=np.arange(3)), "too small to split"),
        (dict(images=np.zeros((5, 8, 8), np.uint8), labels=np.array([0, 0, 1, 1, 2])),
         r"classes 2 \(1\)"),
        (dict(images=np.zeros((4, 0, 8), np.uint8), labels=np.arange(4) % 2), "zero height"),
        (dict(images=np.zeros((4, 1, 0, 8), np.uint8), labels=np.arange(4) % 2), "zero height"),
    ],
)  # fmt: skip
def test_npz_refuses_data_it_cannot_use(tmp_path, arrays, message):
    np.savez(tmp_path / "small.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_dataset(f"npz:{tmp_path / 'small.npz'}")
