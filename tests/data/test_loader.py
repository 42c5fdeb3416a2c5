import pytest
import torch

from reprlab.data import BatchLoader, ClassBalancedSampler, Split, epoch_generator
from reprlab.errors import ConfigError


def _split(n=103, classes=5, size=6, channels=1):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    return Split(images, torch.arange(n) % classes)


def _epoch(loader, e):
    return [(x.clone(), y.clone()) for x, y in loader.epoch(e)]


def test_one_epoch_covers_every_example_once_with_float_in_unit_range():
    split = _split()
    loader = BatchLoader(split, 10, seed=1)
    batches = _epoch(loader, 0)
    assert len(batches) == len(loader) == 11
    x = torch.cat([b[0] for b in batches])
    assert x.dtype == torch.float32 and x.shape == (103, 1, 6, 6)
    assert 0.0 <= x.min() and x.max() <= 1.0
    # each batch row is its source image / 255: match rows back to the split
    flat = split.images.flatten(1).float() / 255
    matches = (x.flatten(1)[:, None, :] == flat[None]).all(-1)
    assert torch.equal(matches.sum(1), torch.ones(103, dtype=torch.int64))
    assert sorted(matches.float().argmax(1).tolist()) == list(range(103))
    y = torch.cat([b[1] for b in batches])
    assert torch.equal(y, split.labels[matches.float().argmax(1)])


def test_order_depends_only_on_seed_and_epoch():
    split = _split()
    a, b = BatchLoader(split, 10, seed=1), BatchLoader(split, 10, seed=1)
    _epoch(a, 0)  # consuming another epoch first changes nothing
    for ea, eb in zip(_epoch(a, 3), _epoch(b, 3)):
        assert torch.equal(ea[1], eb[1]) and torch.equal(ea[0], eb[0])
    first = torch.cat([y for _, y in _epoch(a, 0)])
    assert not torch.equal(first, torch.cat([y for _, y in _epoch(a, 1)]))
    assert not torch.equal(
        first, torch.cat([y for _, y in BatchLoader(split, 10, seed=2).epoch(0)])
    )


def test_no_shuffle_keeps_order_and_drop_last():
    split = _split()
    loader = BatchLoader(split, 10, shuffle=False, drop_last=True)
    batches = _epoch(loader, 5)
    assert len(batches) == len(loader) == 10
    assert torch.equal(torch.cat([y for _, y in batches]), split.labels[:100])


def test_pad_resize_flatten():
    split = _split(size=28)
    x, _ = next(BatchLoader(split, 4, pad_to=32, shuffle=False).epoch(0))
    assert x.shape == (4, 1, 32, 32)
    assert torch.equal(x[:, :, 2:30, 2:30], split.images[:4].float() / 255)
    assert x[:, :, :2].abs().sum() == 0 and x[:, :, :, 30:].abs().sum() == 0
    loader = BatchLoader(split, 4, size=14, flatten=True, shuffle=False)
    x, _ = next(loader.epoch(0))
    assert x.shape == (4, 196) and loader.output_shape == (196,)
    expected = torch.nn.functional.interpolate(
        split.images[:4].float() / 255, size=(14, 14), mode="bilinear", antialias=True
    )
    assert torch.allclose(x, expected.flatten(1), atol=1e-6)
    with pytest.raises(ConfigError, match="pad_to"):
        BatchLoader(split, 4, pad_to=20)


def test_iter_walks_epochs_and_state_dict_resumes():
    split = _split(n=20)
    loader = BatchLoader(split, 10, seed=7)
    it = iter(loader)
    seen = [next(it)[1] for _ in range(5)]  # epochs 0, 0, 1, 1, 2
    assert torch.equal(seen[2], _epoch(loader, 1)[0][1])
    assert loader.state_dict() == {"seed": 7, "epoch": 2}
    resumed = BatchLoader(split, 10, seed=0)
    resumed.load_state_dict({"seed": 7, "epoch": 2})
    assert torch.equal(next(iter(resumed))[1], seen[4])


def test_class_balanced_batches():
    split = _split(n=100, classes=10)
    loader = BatchLoader(split, 12, samples_per_class=4, seed=0)
    batches = _epoch(loader, 0)
    assert len(batches) == len(loader) == 9
    for _, y in batches:
        counts = torch.bincount(y, minlength=10)
        assert sorted(counts.tolist())[-3:] == [4, 4, 4] and counts.sum() == 12
    again = _epoch(BatchLoader(split, 12, samples_per_class=4, seed=0), 0)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again))


def test_sampler_sees_each_class_member_before_repeating():
    labels = torch.tensor([0] * 8 + [1] * 8)
    sampler = ClassBalancedSampler(labels, batch_size=8, samples_per_class=4)
    batches = list(sampler.batches(epoch_generator(0, 0)))
    assert len(batches) == 2
    picked = torch.cat(batches)
    assert sorted(picked.tolist()) == list(range(16))  # 2 batches x 2 classes x 4: all distinct


def test_sampler_small_classes_and_bad_sizes():
    labels = torch.tensor([0, 1, 1, 1, 1])
    sampler = ClassBalancedSampler(labels, batch_size=4, samples_per_class=2)
    for batch in sampler.batches(epoch_generator(1, 0)):
        assert torch.bincount(labels[batch], minlength=2).tolist() == [2, 2]
    with pytest.raises(ConfigError, match="multiple"):
        ClassBalancedSampler(labels, batch_size=5, samples_per_class=2)
    with pytest.raises(ConfigError, match="classes"):
        ClassBalancedSampler(labels, batch_size=6, samples_per_class=2)
