"""The embedder family's backbones: shapes, and the ResNet-18 ImageNet weights."""

import pytest
import torch

from reprlab.errors import ConfigError
from reprlab.models import embedder_backbones
from reprlab.models.embedder_backbones import ConvEmbedder, MLPEmbedder, ResNet18Embedder


@pytest.mark.parametrize("cls", [MLPEmbedder, ConvEmbedder])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 5, 7)])
def test_small_embedders_shapes(cls, shape):
    net = cls(shape, embedding_dim=16)
    out = net(torch.rand(4, *shape))
    assert out.shape == (4, 16)
    out.sum().backward()


def test_resnet18_needs_weights_or_random_init(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ConfigError, match="pretrained=false"):
        ResNet18Embedder((3, 32, 32), embedding_dim=1024, pretrained=True)
    torch.manual_seed(0)
    random_init = ResNet18Embedder((1, 32, 32), embedding_dim=1024, pretrained=False)
    assert random_init(torch.rand(2, 1, 32, 32)).shape == (2, 1024)
    assert random_init.net.fc.out_features == 1024


def test_resnet18_loads_cached_weights_and_normalises(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(1)
    reference = resnet18(weights=None)
    path = embedder_backbones.resnet18_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    net = ResNet18Embedder((3, 16, 16), embedding_dim=8, pretrained=True).eval()
    assert torch.equal(net.net.conv1.weight, reference.conv1.weight)
    reference.fc = net.net.fc
    x = torch.rand(2, 3, 16, 16)
    mean = torch.tensor(embedder_backbones.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(embedder_backbones.IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(net(x), reference.eval()((x - mean) / std))
