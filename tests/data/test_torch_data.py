"""A Split is a torch Dataset and ClassBalancedSampler a torch batch sampler (torch's own
DataLoader and torchvision's v2 transforms drive them here)."""

import io

import pytest
import torch
from torch.utils.data import DataLoader, Sampler
from torchvision.transforms import v2

from reprlab.data import BatchLoader, ClassBalancedSampler, Split, epoch_generator
from reprlab.errors import ConfigError


def _split(n=30, classes=3, size=5, channels=1):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    return Split(images, torch.arange(n) % classes)


def test_an_index_gives_the_stored_uint8_image_and_an_int_label():
    split = _split()
    assert isinstance(split, torch.utils.data.Dataset)
    image, label = split[4]
    assert image.dtype == torch.uint8 and torch.equal(image, split.images[4])
    assert label == 1 and type(label) is int
    image[:] = 0  # a copy: the split is untouched
    assert torch.equal(split[4][0], split.images[4]) and split.images[4].any()
    assert torch.equal(split[-1][0], split.images[29])
    assert torch.equal(split[torch.tensor(3)][0], split.images[3])
    with pytest.raises(IndexError):
        split[30]
    with pytest.raises(TypeError, match="subset"):
        split[1:3]


def test_dataloader_with_v2_transforms_gives_the_batchloader_batches():
    split = _split()
    to_float = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    loader = DataLoader(split.with_transform(to_float), batch_size=8, shuffle=False)
    x, y = next(iter(loader))
    ours, our_y = next(BatchLoader(split, 8, shuffle=False).epoch(0))
    assert x.shape == (8, 1, 5, 5) and x.dtype == torch.float32
    torch.testing.assert_close(x, ours, rtol=0, atol=1e-7)
    assert torch.equal(y, our_y)


def test_transforms_compose_with_augmentation_and_target_transform():
    split = _split(size=8)
    pipeline = v2.Compose(
        [v2.RandomCrop(6), v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True)]
    )
    onehot = split.with_transform(
        pipeline, lambda y: torch.nn.functional.one_hot(torch.tensor(y), 3)
    )
    torch.manual_seed(0)
    x, y = onehot[5]
    assert x.shape == (1, 6, 6) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert y.tolist() == [0, 0, 1]
    # the crop is a window of the stored image
    windows = split.images[5].float().div(255).unfold(1, 6, 1).unfold(2, 6, 1)
    flipped = x.flip(-1)
    found = [
        torch.allclose(windows[0, i, j], crop[0])
        for i in range(3)
        for j in range(3)
        for crop in (x, flipped)
    ]
    assert any(found)
    # with_transform shares the images; subset keeps the transforms
    assert onehot.images.data_ptr() == split.images.data_ptr()
    assert onehot.subset([5]).transform is pipeline
    assert split.transform is None and len(onehot) == len(split)


def test_worker_processes_get_the_same_examples():
    split = _split(n=12).with_transform(v2.ToDtype(torch.float32, scale=True))
    serial = list(DataLoader(split, batch_size=4))
    parallel = list(DataLoader(split, batch_size=4, num_workers=2))
    for (xa, ya), (xb, yb) in zip(serial, parallel, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_class_balanced_sampler_as_a_dataloader_batch_sampler():
    split = _split(n=40, classes=5)
    sampler = ClassBalancedSampler(split.labels, 8, 4, seed=3)
    assert isinstance(sampler, Sampler)
    loader = DataLoader(split, batch_sampler=sampler)
    assert len(loader) == 5
    batches = [y for _, y in loader]
    expected = [split.labels[b] for b in sampler.batches(epoch_generator(3, 0))]
    assert all(torch.equal(a, b) for a, b in zip(batches, expected, strict=True))
    for y in batches:
        assert sorted(torch.bincount(y, minlength=5).tolist()) == [0, 0, 0, 4, 4]
    # the next pass is the next epoch
    assert sampler.state_dict() == {"seed": 3, "epoch": 1, "batch": 0}
    second = [b for b in sampler]
    assert second == [b.tolist() for b in sampler.batches(epoch_generator(3, 1))]
    sampler.set_epoch(0)
    assert next(iter(sampler)) == next(sampler.batches(epoch_generator(3, 0))).tolist()


def test_sampler_state_resumes_at_the_exact_batch():
    labels = torch.arange(60) % 6
    sampler = ClassBalancedSampler(labels, 12, 3, seed=11)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2)
    it = iter(sampler)
    head = [next(it) for _ in range(2)]
    buffer = io.BytesIO()
    torch.save(sampler.state_dict(), buffer)
    buffer.seek(0)
    resumed = ClassBalancedSampler(labels, 12, 3)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.state_dict() == {"seed": 11, "epoch": 2, "batch": 2}
    assert head + list(resumed) == full
    assert resumed.epoch == 3
    with pytest.raises(ConfigError, match="batch"):
        resumed.load_state_dict({"seed": 0, "epoch": 0, "batch": 99})
