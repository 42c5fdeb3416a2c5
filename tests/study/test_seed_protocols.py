"""Bundled studies follow their seeds' protocols (shared/seeds/000-004; docs/seeds.md lists
what still differs)."""

import pytest
import torch
from torch import nn

from reprlab.models import build_model
from reprlab.study.backend import SEED_KEY, run_id, validate
from reprlab.study.expand import expand
from reprlab.study.spec import load_study
from reprlab.study.tune import plan


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
    # nothing is chosen in seed 004: no validation split, so train holds all 60 000 images
    for profile in ("full", "full-seeds", "full-test"):
        planned = plan(load_study("neighbourhoods").resolve(profile))
        assert {r.config.data.val_fraction for r in planned} == {0}
    assert {
        r.config.data.val_fraction for r in plan(load_study("neighbourhoods").resolve("quick"))
    } == {0.1}


# ---------------------------------------------------------------------------- 000 robust-vae


def test_000_compares_vae_and_vqvae_on_every_loss_with_the_seeds_headline():
    study = load_study("robust-vae")
    cells = {tuple(sorted(dict(c.labels).items())) for r in _runs("robust-vae", "full")
             for c in r.cells if c.grid == "main"}  # fmt: skip
    losses = ["mse", "smooth-l1", "cauchy", "geman-mcclure", "welsch", "adaptive"]
    assert cells == {(("loss", loss), ("model", m)) for loss in losses for m in ("vae", "vqvae")}
    assert study.report.metrics[:2] == [
        "probe-mlp-sampled/accuracy",
        "probe-mlp-sampled/cross_entropy",
    ]
    assert _cell_config("robust-vae", "full", model="vqvae", loss="mse").model.name == "vqvae"


def test_000_smooth_l1_row_is_barrons_alpha_1_loss():
    config = _cell_config("robust-vae", "full", model="vae", loss="smooth-l1")
    model = build_model(config.model, _Shape((1, 28, 28)))
    c = config.model.loss_params["scale"]
    prediction, target = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    per_image = model.reconstruction(prediction, target)
    x = target - prediction
    expected = (torch.sqrt((x / c) ** 2 + 1) - 1).flatten(1).sum(1)
    torch.testing.assert_close(per_image, expected)
    # not torch's smooth L1 (0.5 x^2 on residuals in [0, 1], i.e. 0.5 x MSE)
    torch_smooth = nn.functional.smooth_l1_loss(prediction, target, reduction="none")
    assert not torch.allclose(per_image, torch_smooth.flatten(1).sum(1))


# ----------------------------------------------------------------------- 001 autoencoder-zoo


@pytest.mark.parametrize("size", [28, 64, 105])
def test_001_latent_is_four_times_smaller_than_the_image(size):
    for profile, data in (("full", "fashion-mnist"), ("seed", "omniglot@64")):
        config = _cell_config("autoencoder-zoo", profile, model="vanilla")
        assert config.data.name == data and config.model.latent_dim is None
        model = build_model(config.model, _Shape((1, size, size)))
        with torch.no_grad():
            z = model.encode(torch.rand(2, 1, size, size)).z
        assert (size * size) / z[0].numel() == pytest.approx(4.0, rel=0.03)
        assert max(z.shape[2:]) <= 4


def test_001_seed_profile_latent_is_the_seeds_64_maps_of_4x4():
    config = _cell_config("autoencoder-zoo", "seed", model="denoising")
    model = build_model(config.model, _Shape((1, 64, 64), 1623))
    assert model.latent_shape == (64, 4, 4)
    assert config.train.epochs == 20


# -------------------------------------------------------------------------- 003 magnet-repmet


@pytest.mark.parametrize("profile", ["seed", "seed-scratch"])
def test_003_seed_profile_is_the_seeds_setting(profile):
    runs = _runs("magnet-repmet", profile)
    objectives = {dict(c.labels)["objective"] for r in runs for c in r.cells}
    assert objectives == {"magnet", "repmet-v1", "repmet-v2", "my-loss"}
    for run in runs:
        config = run.config
        metric = config.model.metric
        assert config.data.name.startswith("flowers102") and config.model.arch == "resnet18"
        assert metric.embedding_dim == 1024
        assert (metric.clusters_per_batch, metric.samples_per_cluster) == (12, 4)
        assert metric.clusters_per_class == 3
        assert metric.steps_per_epoch * config.train.epochs == 1000  # iterations
        assert metric.pretrained == (profile == "seed")


def test_003_my_loss_row_and_cluster_batches_for_repmet():
    config = _cell_config("magnet-repmet", "full", objective="my-loss")
    assert config.model.metric.objective == "my-loss"
    from reprlab.models.embedder import CLUSTER_BATCHES

    assert {"magnet", "repmet", "my-loss"} <= set(CLUSTER_BATCHES)


# ---------------------------------------------------------------- 002 adaptive-likelihood-vae


@pytest.mark.parametrize("representation", ["dct", "wavelets"])
def test_002_dct_and_wavelets_use_yuv_on_colour_data_only(representation):
    config = _cell_config(
        "adaptive-likelihood-vae", "full", likelihood="adaptive", representation=representation
    )
    grey = build_model(config.model, _Shape((1, 32, 32)))
    colour = build_model(config.model, _Shape((3, 32, 32)))
    assert grey.reconstruction.loss.color_space == "rgb"  # YUV does not apply to grey images
    assert colour.reconstruction.loss.color_space == "yuv"
    pixels = _cell_config(
        "adaptive-likelihood-vae", "full", likelihood="adaptive", representation="pixels"
    )
    assert build_model(pixels.model, _Shape((3, 32, 32))).reconstruction.loss.color_space == "rgb"


def test_002_seed_profile_follows_the_papers_vae_code():
    runs = _runs("adaptive-likelihood-vae", "seed")
    assert len(runs) == 12  # {normal, cauchy, t, adaptive} x {pixels, dct, wavelets}
    for run in runs:
        c = run.config
        assert c.data.name == "celeba@64" and c.model.arch == "celeba-vae"
        assert c.model.latent_dim == 16
        assert (c.model.vae.prior, c.model.vae.components, c.model.vae.kl) == (
            "mixture", 100, "sampled",
        )  # fmt: skip
        assert (c.train.batch_size, c.train.lr, c.train.schedule) == (32, 1e-3, "anneal")
        assert c.train.anneal_from == 0.8
        assert abs(182_637 / 32 * c.train.epochs - 50_000) / 50_000 < 0.05  # steps
        assert c.model.loss_params["scale_init"] == 0.01
    adaptive = _cell_config(
        "adaptive-likelihood-vae", "seed", likelihood="adaptive", representation="wavelets"
    )
    model = build_model(adaptive.model, _Shape((3, 64, 64), 2))
    loss = model.reconstruction.loss
    assert (loss.color_space, loss.wavelet_levels) == ("yuv", 5)
    torch.testing.assert_close(loss.alpha(), torch.ones(3, 64, 64))
    assert (loss.loss.alpha_lo, loss.loss.alpha_hi) == (0.0, 3.0)
    torch.testing.assert_close(loss.scale(), torch.full((3, 64, 64), 0.01))


def test_003_headline_is_the_seeds_error_table():
    from reprlab.study.results import Results

    study = load_study("magnet-repmet")
    from reprlab.evaluate.metric_accuracy import ERRORS

    accuracies = ("batch", "simple", "magnet", "repmet", "unsupervised", "hungarian")
    names = [f"metric-accuracy/{a}_accuracy_{s}" for s in ("train", "test") for a in accuracies]
    names += [f"metric-accuracy/{a}_error_{s}" for s in ("train", "test") for a in ERRORS]
    results = Results("s", None, "q", [], names, {}, {}, [])
    assert results.select(study.report.metrics) == [
        f"metric-accuracy/{a}_error_{s}"
        for s in ("train", "test")
        for a in ("simple", "magnet", "repmet", "unsupervised")
    ]


def test_001_seed_profile_measures_fid_in_an_mnist_classifier():
    evaluation = load_study("autoencoder-zoo").resolve("seed").evaluate
    assert evaluation.options == {"fid_data": "mnist"}
    assert {"fid", "probe-pixels", "probe-boosting", "probe-forest"} <= set(evaluation.metrics)
