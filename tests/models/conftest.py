import pytest
import torch


class Shape:
    """A stand-in data set: only ``image_shape`` is read by the autoencoders."""

    def __init__(self, *shape):
        self.image_shape = shape


@pytest.fixture(scope="session")
def digits_batch():
    """64 real 8x8 digits in [0, 1]."""
    from reprlab.data import load_dataset

    split = load_dataset("digits").train
    return split.images[:64].float() / 255.0


@pytest.fixture
def digits_shape():
    return Shape(1, 8, 8)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
