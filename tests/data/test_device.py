"""A named device is checked before anything runs there: one-line ConfigErrors for a name
torch does not know and for a device this machine lacks."""

import pytest
import torch

from reprlab.data.device import resolve_device
from reprlab.errors import ConfigError


def test_known_devices_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    default = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None) == torch.device(default)


@pytest.mark.parametrize("name", ["cuda:99", "no-such-device", "mps:7", 3.5])
def test_missing_or_unknown_devices_are_one_line_config_errors(name):
    with pytest.raises(ConfigError, match="device") as error:
        resolve_device(name)
    assert "\n" not in str(error.value) and "'cpu'" in str(error.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ConfigError, match="not available on this machine"):
        resolve_device("cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_resolves_with_a_gpu():
    assert resolve_device("cuda:0") == torch.device("cuda:0")
