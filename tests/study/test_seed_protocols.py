"""Bundled studies follow their seeds' protocols (shared/seeds/000-004; docs/seeds.md lists
what still differs)."""

import pytest
import torch
from torch import nn

from reprlab.models import build_model
from reprlab.study.backend import SEED_KEY, run_id, validate
from reprlab.study.expand import expand
from reprlab.study.spec import load_study


class _Shape:
    def __init__(self, image_shape, num_classes=10):
        self.image_shape, self.num_classes = image_shape, num_classes


def _runs(name, profile):
    return expand(load_study(name).resolve(profile), validate, run_id, SEED_KEY)


def _cell_config(name, profile, **labels):
    """The config of the first run whose cell has these axis labels."""
    for run in _runs(name, profile):
        for cell in run.cells:
            if all(dict(cell.labels).get(k) == v for k, v in labels.items()):
                return run.config
    raise AssertionError(f"no cell {labels} in {name}/{profile}")


# ------------------------------------------------------------------------ 004 neighbourhoods

NONLINEAR = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU)


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_004_linear_model_has_no_nonlinearity_anywhere(profile):
    config = _cell_config("neighbourhoods", profile, activation="linear")
    assert config.model.output == "linear"
    model = build_model(config.model, _Shape((1, 28, 28)))
    kinds = {type(m) for m in model.modules()}
    assert not kinds & set(NONLINEAR)
    assert [m.out_features for m in model.decoder.modules() if isinstance(m, nn.Linear)] == [
        12, 64, 128, 784,
    ]  # fmt: skip
    # the whole model is affine: decode(encode(x)) is linear in x up to a constant
    model.eval()
    x, y = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        f = lambda v: model.decoder_mean(model.encode(v).z)  # noqa: E731
        zero = f(torch.zeros_like(x))
        torch.testing.assert_close(f(x + y) - zero, (f(x) - zero) + (f(y) - zero))


def test_004_relu_model_ends_in_tanh():
    config = _cell_config("neighbourhoods", "full", activation="relu")
    assert (config.model.activation, config.model.output) == ("relu", "tanh")


def test_004_full_profile_evaluates_all_60000_training_images_with_k_up_to_200():
    study = load_study("neighbourhoods")
    for profile in ("full", "full-seeds"):
        options = study.resolve(profile).evaluate.options
        assert options["split"] == "train" and options["max_points"] >= 60_000
        assert max(options["ks"]) == 200 and {5, 10, 20, 50} <= set(options["ks"])
    # the test set stays available as a named profile
    test = study.resolve("full-test").evaluate.options
    assert test.get("split", "test") == "test"
    assert [r.config.train.epochs for r in _runs("neighbourhoods", "full")] == [100] * 4
