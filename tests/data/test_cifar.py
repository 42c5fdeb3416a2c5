import pickle

import numpy as np
import pytest

from reprlab.data import load_dataset
from reprlab.errors import DataError


def write_cifar10(root, n=6, protocol=2):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        batch = {b"batch_label": name.encode(), b"data": data, b"labels": list(range(n))}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        batches[name] = data
    meta = {b"label_names": [f"c{k}".encode() for k in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return folder, batches


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar10_batches(tmp_path, protocol):
    folder, batches = write_cifar10(tmp_path, protocol=protocol)
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.source == str(folder)
    assert len(ds.train) == 30 and len(ds.test) == 6 and ds.image_shape == (3, 32, 32)
    first = batches["data_batch_1"][0]
    assert np.array_equal(ds.train.images[0, 0].numpy().ravel(), first[:1024])  # red plane
    assert np.array_equal(ds.train.images[0, 2].numpy().ravel(), first[2048:])  # blue plane
    assert ds.classes[3] == "c3" and ds.test.labels.tolist() == list(range(6))


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 8), ("test", 4)):
        data = np.zeros((n, 3072), dtype=np.uint8)
        batch = {"data": data, "fine_labels": [99] * n, "coarse_labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"f{i}" for i in range(100)]}))
    ds = load_dataset("cifar100", root=tmp_path)
    assert ds.num_classes == 100 and ds.train.labels.tolist() == [99] * 8


def test_truncated_and_hostile_pickles_name_the_file(tmp_path):
    folder, _ = write_cifar10(tmp_path)
    path = folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_3"):
        load_dataset("cifar10", root=tmp_path)
    import os

    path.write_bytes(pickle.dumps({"data": os.system}))
    with pytest.raises(DataError, match=r"data_batch_3.*refusing"):
        load_dataset("cifar10", root=tmp_path)


def test_wrong_row_length_and_absent(tmp_path):
    folder, _ = write_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(
        pickle.dumps({"data": np.zeros((2, 3000), np.uint8), "labels": [0, 1]})
    )
    with pytest.raises(DataError, match=r"test_batch.*3072"):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(DataError, match=r"'cifar100' not found.*cifar-100-python"):
        load_dataset("cifar100", root=tmp_path)
