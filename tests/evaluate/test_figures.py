"""The figure adapters hand viz the right arrays and skip what does not apply."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reprlab.errors import UnknownNameError
from reprlab.evaluate import EvalContext, embed, reconstruct
from reprlab.evaluate import figures as adapters
from reprlab.rundir import RunDir


@pytest.fixture(scope="module")
def small_digits():
    from reprlab.data import load_dataset

    data = load_dataset("digits")
    splits = {"train": data.train.subset(range(100)), "test": data.test.subset(range(60))}
    return replace(data, splits=splits)


def model_for(data, name):
    from reprlab.models import build_model

    torch.manual_seed(0)
    return build_model({"name": name, "latent_dim": 3}, data).eval()


def test_adapters_pass_codes_images_and_curves_of_the_run(tmp_path, small_digits, monkeypatch):
    seen = {}

    def fake(name):  # records the arguments, returns the path it was given
        return lambda *a, **k: next(x for x in seen.setdefault(name, a) if isinstance(x, Path))

    for name in ("scatter_codes", "sphere_codes", "reconstruction_grid", "training_curves"):
        monkeypatch.setattr(adapters, name, fake(name))
    model = model_for(small_digits, "ae")
    run = RunDir(tmp_path)
    run.write_curves([{"epoch": 1, "loss": 2.0, "note": "x"}, {"epoch": 2, "loss": 1.5}])
    ctx = EvalContext(model, small_digits, {"seed": 3, "max_points": 40}, run)
    drawn = adapters.draw_figures(ctx, ["scatter", "sphere", "reconstructions", "curves"])
    assert drawn == {n: run.figure(n) for n in ("scatter", "sphere", "reconstructions", "curves")}
    codes = embed(model, small_digits.test).numpy()
    labels = small_digits.test.labels.numpy()
    np.testing.assert_allclose(seen["scatter_codes"][0], codes, atol=1e-6)  # 60 <= 5000 points
    np.testing.assert_array_equal(seen["scatter_codes"][1], labels)
    rows = np.sort(np.random.default_rng(3).choice(60, 40, replace=False))
    np.testing.assert_allclose(seen["sphere_codes"][0], codes[rows], atol=1e-6)
    np.testing.assert_array_equal(seen["sphere_codes"][1], labels[rows])
    rows = np.sort(np.random.default_rng(3).choice(60, 10, replace=False))
    images = small_digits.test.images[torch.as_tensor(rows)]
    inputs, outputs = seen["reconstruction_grid"][:2]
    np.testing.assert_allclose(inputs, images.float().numpy() / 255)
    np.testing.assert_allclose(outputs, reconstruct(model, images).numpy(), atol=1e-6)
    assert seen["training_curves"][0] == {"epoch": [1.0, 2.0], "loss": [2.0, 1.5]}


def test_figures_that_do_not_apply_are_skipped(tmp_path, small_digits):
    ctx = EvalContext(model_for(small_digits, "ae"), small_digits, run_dir=tmp_path)
    drawn = adapters.draw_figures(ctx, ["samples", "curves"])
    assert drawn == {
        "skipped": {
            "samples": "the model has no prior p(z)",
            "curves": "the run has no logs/metrics.csv",
        }
    }
    with pytest.raises(UnknownNameError, match="valid: curves, reconstructions"):
        adapters.draw_figures(ctx, ["nope"])


def test_prior_samples_are_drawn_for_a_vae(tmp_path, small_digits):
    ctx = EvalContext(model_for(small_digits, "vae"), small_digits, run_dir=tmp_path)
    path = adapters.draw_figures(ctx, ["samples"])["samples"]
    assert path == RunDir(tmp_path).figure("samples")
    with Image.open(path) as image:
        assert image.format == "PNG"
