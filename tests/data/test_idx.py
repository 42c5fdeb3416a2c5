import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from reprlab.data import load_dataset
from reprlab.data.idx import parse_idx, read_idx, write_idx
from reprlab.errors import DataError

FASHION = Path("/usr/share/datasets/fashion-mnist")
STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")  # fmt: skip


def write_mnist_like(folder: Path, n_train=30, n_test=10, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{stem}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte{suffix}", labels)
        arrays[stem] = (images, labels)
    return arrays


def test_idx_round_trip_and_byte_layout(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", array)
    raw = (tmp_path / "a").read_bytes()
    assert raw[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
    assert np.array_equal(read_idx(tmp_path / "a", 3), array)
    write_idx(tmp_path / "a.gz", array)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert np.array_equal(read_idx(tmp_path / "a.gz", 3), array)


@pytest.mark.parametrize(
    "raw, message",
    [
        (bytes([0, 0, 8, 1, 0, 0, 0, 2, 5]), "expected 00000803"),  # labels magic for images
        (bytes([0, 0, 9, 3]) + bytes(12), "magic 00000903"),  # signed bytes type
        (bytes([0, 0, 8, 3, 0, 0]), "header"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(7), "7 bytes|23 bytes"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]) + bytes(2), "expected 17"),
    ],
)
def test_corrupt_idx_bytes_raise_naming_the_file(raw, message):
    with pytest.raises(DataError, match=rf"bad.idx.*({message})|({message}).*"):
        parse_idx(raw, 3, "bad.idx")


def test_truncated_gzip_names_the_file(tmp_path):
    data = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 100]) + bytes(100))
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz"):
        read_idx(path, 1)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_root_raw_and_gz(tmp_path, gz):
    arrays = write_mnist_like(tmp_path, gz=gz)
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.source == str(tmp_path)
    assert ds.image_shape == (1, 28, 28) and len(ds.train) == 30 and len(ds.test) == 10
    assert np.array_equal(ds.train.images[:, 0].numpy(), arrays["train"][0])
    assert ds.train.labels.dtype == torch.int64
    assert ds.test.labels.tolist() == list(range(10))


def test_search_order_root_then_env_then_cache_torchvision_layout(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("REPRLAB_CACHE", str(cache))
    write_mnist_like(cache / "KMNIST" / "raw", n_train=10)
    assert len(load_dataset("kmnist").train) == 10
    monkeypatch.setenv("REPRLAB_DATA", str(tmp_path / "env"))
    write_mnist_like(tmp_path / "env" / "KMNIST" / "raw", n_train=20)
    assert len(load_dataset("kmnist").train) == 20
    write_mnist_like(tmp_path / "root", n_train=40)
    ds = load_dataset("kmnist", root=tmp_path / "root")
    assert len(ds.train) == 40 and ds.classes[1] == "ki"


def test_absent_offline_lists_places_and_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRLAB_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as info:
        load_dataset("mnist", root=tmp_path / "nowhere")
    message = str(info.value)
    assert "'mnist' not found" in message and "\n" not in message
    for place in ("nowhere", "env", "MNIST/raw", "--download", "root"):
        assert place in message


def test_absent_fashion_mnist_names_the_debian_package(tmp_path, monkeypatch):
    from reprlab.data.sources import idx

    monkeypatch.setitem(idx.SPECS["fashion-mnist"], "extra", (str(tmp_path / "debian"),))
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_truncated_file_in_a_data_set_is_an_error_not_partial_data(tmp_path):
    write_mnist_like(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_dataset("mnist", root=tmp_path)


def test_label_count_mismatch(tmp_path):
    write_mnist_like(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(29, dtype=np.uint8))
    with pytest.raises(DataError, match="29 labels"):
        load_dataset("mnist", root=tmp_path)


@pytest.mark.skipif(not (FASHION / STEMS[0]).with_suffix(".gz").exists(),
                    reason="Debian package dataset-fashion-mnist not installed")  # fmt: skip
def test_real_fashion_mnist_from_the_debian_package():
    ds = load_dataset("fashion-mnist")
    assert ds.train.images.shape == (60000, 1, 28, 28)
    assert ds.test.images.shape == (10000, 1, 28, 28)
    assert ds.train.class_counts().tolist() == [6000] * 10
    assert ds.test.class_counts().tolist() == [1000] * 10
    assert int(ds.train.images.min()) == 0 and int(ds.train.images.max()) == 255
    assert ds.classes[9] == "Ankle boot"
