"""evaluate_loaded on real models and data; evaluate and `reprlab eval` on a trained run."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from reprlab.cli import main
from reprlab.errors import ConfigError, UnknownNameError
from reprlab.evaluate import (
    METRICS,
    EvalContext,
    NotApplicable,
    decode_prior,
    embed,
    evaluate,
    evaluate_loaded,
    reconstruct,
)
from reprlab.evaluate.reconstruction import reconstruction_scores


@pytest.fixture(scope="module")
def small_digits():
    from reprlab.data import load_dataset

    data = load_dataset("digits")
    splits = {"train": data.train.subset(range(300)), "test": data.test.subset(range(120))}
    return replace(data, splits=splits)


def model_for(data, **config):
    from reprlab.models import build_model

    torch.manual_seed(0)
    return build_model({"latent_dim": 3, **config}, data).eval()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRLAB_CACHE_DIR", str(tmp_path / "cache"))


def test_embed_batches_give_the_same_codes(small_digits):
    model = model_for(small_digits, name="vae")
    whole = embed(model, small_digits.test, batch_size=1000)
    assert whole.shape == (120, 3) and whole.dtype == torch.float32
    assert torch.allclose(embed(model, small_digits.test, batch_size=7), whole, atol=1e-6)
    with torch.no_grad():
        mean = model.encode(small_digits.test.images.float() / 255).mean
    assert torch.allclose(whole, mean, atol=1e-6)
    sampled = embed(model, small_digits.test, sample=True, seed=3)
    assert torch.equal(sampled, embed(model, small_digits.test, sample=True, seed=3))
    assert not torch.allclose(sampled, whole)


def test_evaluate_loaded_computes_named_metrics(small_digits):
    model = model_for(small_digits, name="ae")
    names = ["probe-logistic", "clustering", "retrieval", "reconstruction", "elbo", "neighbours"]
    out = evaluate_loaded(model, small_digits, names, {"ks": [5, 10]})
    assert set(out) == {*names, "skipped"} - {"elbo"}
    assert "elbo" in out["skipped"]
    images = small_digits.test.images.float() / 255
    assert out["reconstruction"] == pytest.approx(
        reconstruction_scores(images.numpy(), reconstruct(model, small_digits.test).numpy())
    )
    # the evaluated split and its size N (score@k's chance level is k / (N - 1)), seed 004
    assert set(out["neighbours"]) == {"n", "split", "l1", "l2"}
    assert (out["neighbours"]["n"], out["neighbours"]["split"]) == (len(small_digits.test), "test")
    assert set(out["neighbours"]["l2"]) == {
        "per_label",
        "score@5",
        "score@10",
        "agreement@5",
        "agreement@10",
    }
    assert 0 <= out["retrieval"]["map_at_r"] <= 1
    assert 0 <= out["probe-logistic"]["accuracy"] <= 1


def test_unknown_names_and_options_are_config_errors(small_digits):
    model = model_for(small_digits, name="ae")
    with pytest.raises(UnknownNameError, match=r"valid: .*clustering"):
        evaluate_loaded(model, small_digits, ["nope"])
    with pytest.raises(ConfigError, match="unknown evaluation option"):
        evaluate_loaded(model, small_digits, ["clustering"], {"splt": "val"})
    with pytest.raises(ConfigError, match="split 'val' absent"):
        evaluate_loaded(model, small_digits, ["clustering"], {"split": "val"})


def test_help_lists_every_metric(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = capsys.readouterr().out
    for name in METRICS:
        assert name in text
    for name in ("scatter", "sphere", "reconstructions", "samples", "curves", "--option"):
        assert name in text


@pytest.mark.slow
def test_eval_command_on_a_trained_run_merges_metrics_and_draws(tmp_path, capsys):
    from reprlab.train import train_run

    run_dir = tmp_path / "run"
    config = {
        "data": {"name": "digits", "limit": 300},
        "model": {"name": "vae", "latent_dim": 4},
        "train": {"epochs": 2, "batch_size": 64},
    }
    train_run(config, run_dir, progress=False)
    assert main(["eval", str(run_dir), "--metrics", "probe-knn,clustering"]) == 0
    first = json.loads((run_dir / "metrics.json").read_text())
    assert set(first) == {"probe-knn", "clustering"}
    code = main(
        [
            "eval",
            str(run_dir),
            "--metrics",
            "reconstruction,fid",
            "--figures",
            "curves,reconstructions,samples,sphere",
            "--option",
            "prior_samples=200",
            "--option",
            "fid_min_steps=60",
        ]
    )
    assert code == 0
    merged = json.loads((run_dir / "metrics.json").read_text())
    assert merged["clustering"] == first["clustering"]
    assert {"reconstruction", "fid"} <= set(merged)
    assert "domain-cnn" in merged["fid"]["feature_extractor"]
    assert np.isfinite(merged["fid"]["prior"]) and merged["fid"]["reconstruction"] > 0
    for name in ("curves", "reconstructions", "samples", "sphere"):
        assert (run_dir / "figures" / f"{name}.png").is_file()
    # a bad metric name exits 2 and writes nothing
    before = (run_dir / "metrics.json").read_text()
    assert main(["eval", str(run_dir), "--metrics", "nope"]) == 2
    assert (run_dir / "metrics.json").read_text() == before
    # the same seed gives the same numbers
    assert main(["eval", str(run_dir), "--metrics", "probe-knn,clustering"]) == 0
    again = json.loads((run_dir / "metrics.json").read_text())
    assert again["probe-knn"] == first["probe-knn"] and again["clustering"] == first["clustering"]


def test_sampled_and_pixel_probes_match_the_probe_on_those_inputs(small_digits):
    from reprlab.evaluate.pixel_probe import pixel_probe
    from reprlab.evaluate.probes import mlp_probe

    vae = model_for(small_digits, name="vae")
    options = {"seed": 1, "fid_epochs": 1, "fid_min_steps": 100}
    out = evaluate_loaded(vae, small_digits, ["probe-mlp-sampled", "probe-pixels"], options)
    train, test = small_digits.train, small_digits.test
    sampled = mlp_probe(
        embed(vae, train, sample=True, seed=1).numpy(), train.labels.numpy(),
        embed(vae, test, sample=True, seed=1).numpy(), test.labels.numpy(),
        num_classes=10, seed=1,
    )  # fmt: skip
    assert out["probe-mlp-sampled"] == sampled
    # seed 001's reference: a small conv classifier on the raw images
    pixels = pixel_probe(small_digits, test, seed=1, epochs=1, min_steps=100)
    assert out["probe-pixels"] == pixels
    assert out["probe-pixels"]["accuracy"] > 0.8  # digits are easy from pixels
    ae = model_for(small_digits, name="ae")
    skipped = evaluate_loaded(ae, small_digits, ["probe-mlp-sampled"])["skipped"]
    assert "no posterior" in skipped["probe-mlp-sampled"]


def test_capabilities_come_from_the_class_flags(small_digits):
    ae = model_for(small_digits, name="ae")
    ae.__class__ = type("NoDecoder", (type(ae),), {"has_decoder": False})  # decode still works
    out = evaluate_loaded(ae, small_digits, ["reconstruction", "fid", "elbo", "clustering"])
    assert set(out) == {"clustering", "skipped"}
    assert out["skipped"] == {
        "reconstruction": "the model has no decoder",
        "fid": "the model has no decoder",
        "elbo": "the model has no prior p(z)",
    }
    ctx = EvalContext(model_for(small_digits, name="vqvae"), small_digits)
    with pytest.raises(NotApplicable, match="no prior p"):
        ctx.prior_images(4)


def test_prior_images_decode_seeded_prior_codes(small_digits):
    vae = model_for(small_digits, name="vae")
    images = decode_prior(vae, 7, seed=5, batch_size=3)
    assert images.shape == (7, *small_digits.image_shape) and images.dtype == torch.float32
    # N(0, I) codes of the prior, drawn by a generator seeded 5, through the decoder
    z = torch.randn(7, 3, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = vae.decode(z).clamp(0, 1)
    assert torch.allclose(images, expected, atol=1e-6)
    ctx = EvalContext(vae, small_digits, {"seed": 5, "batch_size": 2})
    assert torch.allclose(ctx.prior_images(7), expected, atol=1e-6)


def test_evaluate_merges_metrics_json_and_checks_names_first(tmp_path, small_digits, monkeypatch):
    from reprlab.rundir import RunDir
    from reprlab.train import LoadedRun

    model = model_for(small_digits, name="ae")
    loaded = LoadedRun(model=model, dataset=small_digits, config=None)
    monkeypatch.setattr("reprlab.evaluate.run.load_run", lambda path: loaded)
    run = RunDir(tmp_path / "run")
    run.merge_metrics({"probe-knn": {"accuracy": 0.5}, "skipped": {"retrieval": "old"}})
    merged = evaluate(run.path, ["retrieval", "elbo"], progress=False)
    assert merged["probe-knn"] == {"accuracy": 0.5}
    assert merged["skipped"] == {"elbo": "the model has no prior p(z)"}
    expected = evaluate_loaded(model, small_digits, ["retrieval"])["retrieval"]
    assert merged["retrieval"] == pytest.approx(expected)
    assert run.read_metrics() == merged
    before = run.metrics_file.read_text()
    with pytest.raises(UnknownNameError, match="unknown figure"):
        evaluate(run.path, ["retrieval"], figures=["nope"])
    with pytest.raises(ConfigError, match="unknown evaluation option"):
        evaluate(run.path, ["retrieval"], options={"splt": "test"})
    assert run.metrics_file.read_text() == before


def test_the_old_runner_names_still_work_with_a_warning():
    from reprlab.evaluate import runner

    with pytest.warns(DeprecationWarning, match=r"import it from reprlab\.evaluate\.run$"):
        assert runner.evaluate is evaluate
    with pytest.warns(DeprecationWarning, match=r"reprlab\.evaluate\.metrics$"):
        assert runner.METRICS is METRICS
    with pytest.raises(AttributeError):
        runner.nothing_here  # noqa: B018


def test_an_embedder_gets_its_accuracies_and_skips_decoder_metrics(small_digits):
    from reprlab.evaluate.metric_accuracy import metric_accuracies
    from reprlab.models import build_model

    torch.manual_seed(0)
    model = build_model({"name": "embedder", "arch": "mlp"}, small_digits).eval()
    out = evaluate_loaded(model, small_digits, ["metric-accuracy", "reconstruction", "fid"])
    assert out["metric-accuracy"] == pytest.approx(metric_accuracies(model, small_digits, seed=0))
    assert out["skipped"] == {
        "reconstruction": "the model has no decoder",
        "fid": "the model has no decoder",
    }
