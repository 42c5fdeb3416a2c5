"""Image-file sources: folder:, omniglot, flowers102, stanford-dogs, celeba, and the cache."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from reprlab.data import load_dataset
from reprlab.data.images import decode
from reprlab.errors import DataError


def _png(path, array, mode=None, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path, **options)


def _rgb(seed, h, w):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_decode_centre_crop_and_resize(tmp_path):
    array = np.zeros((40, 20, 3), dtype=np.uint8)
    array[8:32] = 255  # white around the central 20x20 square, black at the ends
    _png(tmp_path / "a.png", array)
    assert decode(tmp_path / "a.png", "RGB").shape == (3, 40, 20)
    out = decode(tmp_path / "a.png", "RGB", size=10)  # shorter side 20 -> 10, then crop 10x10
    assert out.shape == (3, 10, 10) and out.min() == 255
    out = decode(tmp_path / "a.png", "L", size=4, crop=20)
    assert out.shape == (1, 4, 4) and out.min() == 255
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"bad.jpg"):
        decode(tmp_path / "bad.jpg", "RGB")


def test_folder_grayscale_split_and_cache(tmp_path, monkeypatch):
    for k, name in enumerate(["cat", "dog"]):
        for i in range(10):
            _png(tmp_path / "set" / name / f"{i}.png", np.full((6, 5), 10 * i + k, np.uint8))
    ds = load_dataset(f"folder:{tmp_path / 'set'}")
    assert ds.classes == ["cat", "dog"] and ds.image_shape == (1, 6, 5)
    assert ds.test.class_counts().tolist() == [2, 2] and len(ds.train) == 16
    first = int(ds.train.images[0, 0, 0, 0])
    assert first % 10 == int(ds.train.labels[0])  # pixel value encodes the class
    # the second load comes from the cache: decoding is not called
    import reprlab.data.sources.folder as folder

    monkeypatch.setattr(folder, "decode_all", lambda *a, **k: pytest.fail("not cached"))
    again = load_dataset(f"folder:{tmp_path / 'set'}")
    assert torch.equal(again.train.images, ds.train.images)
    # touching a file invalidates the entry
    os.utime(tmp_path / "set" / "cat" / "0.png", ns=(1, 1))
    with pytest.raises(pytest.fail.Exception, match="not cached"):
        load_dataset(f"folder:{tmp_path / 'set'}")


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    from reprlab.data.locate import cache_dir

    for k in range(2):
        for i in range(3):
            _png(tmp_path / "set" / f"c{k}" / f"{i}.png", np.full((4, 4), 50 * k, np.uint8))
    first = load_dataset(f"folder:{tmp_path / 'set'}")
    (entry,) = (cache_dir() / "decoded").glob("folder-*.pt")
    entry.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="rebuilding"):
        again = load_dataset(f"folder:{tmp_path / 'set'}")
    assert torch.equal(first.train.images, again.train.images)


def test_folder_train_test_rgb_mixed_sizes_and_corrupt(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for k, name in enumerate(["a", "b"]):
            for i in range(n):
                _png(tmp_path / split / name / f"{i}.png", _rgb(i + k, 30 + i, 40))
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.image_shape == (3, 64, 64)  # mixed sizes: the default size
    assert len(ds.train) == 6 and len(ds.test) == 4
    assert load_dataset(f"folder:{tmp_path}@16").image_shape == (3, 16, 16)
    (tmp_path / "test" / "b" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match=r"9.png"):
        load_dataset(f"folder:{tmp_path}@16")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")


def write_omniglot(root, alphabets=(("Greek", 2), ("Latin", 1)), drawings=20):
    for part, alpha in (("images_background", alphabets[:1]), ("images_evaluation", alphabets[1:])):
        for name, characters in alpha:
            for c in range(characters):
                for d in range(drawings):
                    array = np.full((105, 105), 255, np.uint8)
                    array[50, :d] = 0  # ink: d black pixels on white
                    folder = root / "omniglot-py" / part / name / f"character{c + 1:02d}"
                    _png(folder / f"{c}_{d:02d}.png", array, "1")


def test_omniglot_tree_classes_split_and_ink(tmp_path):
    write_omniglot(tmp_path)
    ds = load_dataset("omniglot", root=tmp_path)
    assert ds.classes == ["Greek/character01", "Greek/character02", "Latin/character01"]
    assert ds.image_shape == (1, 105, 105)
    # seed 001: 10 training images per class (the other 10 are test)
    assert ds.test.class_counts().tolist() == [10, 10, 10]
    assert ds.train.class_counts().tolist() == [10, 10, 10]
    ink = (ds.train.images == 255).flatten(1).sum(1)
    assert set(ink.tolist()) <= set(range(20)) and ds.train.images.float().mean() < 10
    small = load_dataset("omniglot@28", root=tmp_path)
    assert small.image_shape == (1, 28, 28)
    assert torch.equal(small.test.labels, ds.test.labels)


def test_omniglot_absent_and_unreadable(tmp_path):
    with pytest.raises(DataError, match=r"'omniglot' not found.*omniglot-py.*--download"):
        load_dataset("omniglot", root=tmp_path)
    write_omniglot(tmp_path, drawings=3)
    bad = tmp_path / "omniglot-py/images_evaluation/Latin/character01/0_01.png"
    bad.write_bytes(bad.read_bytes()[:30])
    with pytest.raises(DataError, match=r"0_01.png"):
        load_dataset("omniglot", root=tmp_path)


def test_flowers102(tmp_path):
    from scipy.io import savemat

    folder = tmp_path / "flowers-102"
    for n in range(1, 7):
        _png(folder / "jpg" / f"image_{n:05d}.jpg", _rgb(n, 50, 70))
    savemat(folder / "imagelabels.mat", {"labels": np.array([[1, 2, 1, 2, 102, 102]])})
    savemat(folder / "setid.mat", {"trnid": [[1, 2]], "valid": [[3, 4]], "tstid": [[5, 6]]})
    ds = load_dataset("flowers102", root=tmp_path)
    assert ds.image_shape == (3, 64, 64) and ds.num_classes == 102
    assert ds.train.labels.tolist() == [0, 1, 0, 1] and ds.test.labels.tolist() == [101, 101]
    assert load_dataset("flowers102@32", root=tmp_path).image_shape == (3, 32, 32)
    (folder / "jpg" / "image_00006.jpg").unlink()
    with pytest.raises(DataError, match=r"image_00006.jpg"):
        load_dataset("flowers102", root=tmp_path)
    (folder / "setid.mat").write_bytes(b"MATLAB garbage")
    with pytest.raises(DataError, match=r"setid.mat"):
        load_dataset("flowers102", root=tmp_path)


def test_stanford_dogs(tmp_path):
    from scipy.io import savemat

    folder = tmp_path / "stanford-dogs"
    names = ["n02085620-Chihuahua/a.jpg", "n02085782-Japanese_spaniel/b.jpg"]
    for i, name in enumerate(names):
        _png(folder / "Images" / name, _rgb(i, 80, 60))
    lists = {"file_list": np.array(names, dtype=object), "labels": np.array([1, 2])}
    savemat(folder / "train_list.mat", lists)
    savemat(folder / "test_list.mat", {"file_list": np.array(names[:1], dtype=object),
                                       "labels": np.array([1])})  # fmt: skip
    ds = load_dataset("stanford-dogs", root=tmp_path)
    assert ds.classes[:2] == ["Chihuahua", "Japanese_spaniel"] and ds.num_classes == 120
    assert len(ds.train) == 2 and len(ds.test) == 1 and ds.image_shape == (3, 64, 64)


def test_celeba_crop_resize_and_labels(tmp_path):
    folder = tmp_path / "celeba"
    names = [f"{i:06d}.jpg" for i in range(1, 5)]
    for i, name in enumerate(names):
        array = np.zeros((218, 178, 3), np.uint8)
        array[24:194, 4:174] = 40 * i + 20  # flat around the centre 160x160 square
        _png(folder / "img_align_celeba" / name, array, quality=95)
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{n} {p}\n" for n, p in zip(names, [0, 1, 2, 2]))
    )
    attrs = "4\nSmiling Male\n" + "".join(
        f"{n} 1 {'1' if i % 2 else '-1'}\n" for i, n in enumerate(names)
    )
    (folder / "list_attr_celeba.txt").write_text(attrs)
    ds = load_dataset("celeba", root=tmp_path)
    assert ds.image_shape == (3, 64, 64) and ds.classes == ["female", "male"]
    assert ds.train.labels.tolist() == [0, 1] and ds.test.labels.tolist() == [0, 1]
    # only the flat centre survives the 160 crop: each image is (nearly) one colour
    spread = ds.train.images.flatten(1).float()
    assert (spread.max(1).values - spread.min(1).values).max() <= 4
