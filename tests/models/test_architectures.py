"""Building blocks and architectures: exact seed layouts, shapes on every image size."""

import pytest
import torch
from torch import nn

from reprlab.errors import UnknownNameError
from reprlab.models import ModelConfig
from reprlab.models.architectures import build_architecture
from reprlab.models.blocks import GaussianNoise, conv_down, conv_up


def test_noise_only_in_training():
    noise = GaussianNoise(0.5)
    x = torch.zeros(1000)
    assert noise(x).std() == pytest.approx(0.5, rel=0.1)
    noise.eval()
    assert torch.equal(noise(x), x)


@pytest.mark.parametrize("side", [1, 2, 3, 7, 8, 13, 28, 32])
def test_conv_up_inverts_conv_down_size(side):
    x = torch.zeros(2, 3, side, side + 1)
    y = conv_down(3, 5, "relu", False, 0.0)(x)
    back = conv_up(5, 3, tuple(x.shape[2:]), tuple(y.shape[2:]))(y)
    assert back.shape == x.shape


def _linears(module):
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_mlp_is_seed_004_exactly():
    cfg = ModelConfig(arch="mlp", activation="relu")
    arch = build_architecture(cfg, (1, 28, 28))
    assert _linears(arch.encoder) == [(784, 128), (128, 64), (64, 12), (12, 2)]
    assert _linears(arch.decoder) == [(2, 12), (12, 64), (64, 128), (128, 784)]
    # ReLU after every layer but the code and the output (where tanh comes from the model)
    assert sum(isinstance(m, nn.ReLU) for m in arch.encoder.modules()) == 3
    assert sum(isinstance(m, nn.ReLU) for m in arch.decoder.modules()) == 3
    linear = build_architecture(ModelConfig(activation="linear"), (1, 28, 28))
    assert not any(isinstance(m, nn.ReLU) for m in linear.encoder.modules())


def test_conv_seed_001_spatial_latent_and_seed_000_dense_latent():
    arch = build_architecture(ModelConfig(arch="conv"), (1, 64, 64))
    assert arch.latent_shape == (64, 4, 4)  # seed 001 exactly: 64 maps of 4x4, no extra layer
    assert isinstance(arch.decoder[0], nn.ConvTranspose2d)
    arch = build_architecture(ModelConfig(arch="conv"), (1, 28, 28))
    assert arch.latent_shape == (12, 4, 4)
    z = arch.encoder(torch.rand(2, 1, 28, 28))
    assert z.shape == (2, 12, 4, 4)
    assert arch.decoder(z).shape == (2, 1, 28, 28)
    legacy = build_architecture(ModelConfig(arch="conv", latent_ratio=None), (1, 28, 28))
    assert legacy.latent_shape == (64, 4, 4)
    cfg = ModelConfig(arch="conv", latent_dim=128, channels=(32, 64, 128))
    arch = build_architecture(cfg, (3, 32, 32), code_multiplier=2)
    assert arch.encoder(torch.rand(2, 3, 32, 32)).shape == (2, 256)
    assert arch.decoder(torch.rand(2, 128)).shape == (2, 3, 32, 32)


def test_conv_on_digits_and_hidden_noise():
    cfg = ModelConfig(arch="conv", channels=(8, 16))
    arch = build_architecture(cfg, (1, 8, 8), noise=0.05)
    assert arch.latent_shape == (4, 2, 2)
    assert sum(isinstance(m, GaussianNoise) for m in arch.encoder.modules()) == 2
    assert arch.decoder(arch.encoder(torch.rand(3, 1, 8, 8))).shape == (3, 1, 8, 8)


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 64, 64), (1, 105, 105), (3, 32, 32)])
def test_conv_latent_is_four_times_smaller_than_the_image(shape):
    # seed 001: "4 times less information than the original image", at every image size
    arch = build_architecture(ModelConfig(arch="conv"), shape, code_multiplier=2)
    values = shape[0] * shape[1] * shape[2]
    latent = arch.latent_shape[0] * arch.latent_shape[1] * arch.latent_shape[2]
    assert max(arch.latent_shape[1:]) <= 4
    assert values / latent == pytest.approx(4.0, rel=0.03)
    x = torch.rand(2, *shape)
    mean, _ = arch.encoder(x).chunk(2, dim=1)
    assert mean.shape[1:] == arch.latent_shape
    assert arch.decoder(mean).shape == x.shape


def test_unknown_activation_lists_valid():
    with pytest.raises(UnknownNameError, match="relu"):
        from reprlab.models.blocks import activation

        activation("swishy")
