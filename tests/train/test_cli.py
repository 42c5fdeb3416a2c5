"""``reprlab train``: options, --config, --resume, and one-line errors with exit 2."""

import json

import pytest
import yaml

from reprlab.cli import main
from reprlab.cli.train import configure
from reprlab.train.checkpoint import load_checkpoint

QUICK = [
    "--data",
    "digits",
    "--limit",
    "120",
    "--epochs",
    "1",
    "--batch-size",
    "60",
    "--hidden",
    "16",
    "--no-progress",
]


def test_help_documents_every_option(capsys):
    import argparse

    parser = argparse.ArgumentParser()
    configure(parser)
    for action in parser._actions:
        assert action.help, action.option_strings
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--data",
        "--model",
        "--arch",
        "--latent-dim",
        "--loss",
        "--alpha",
        "--optimizer",
        "--lr",
        "--weight-decay",
        "--schedule",
        "--epochs",
        "--batch-size",
        "--seed",
        "--out",
        "--config",
        "--resume",
        "--device",
        "--objective",
        "--embedding-dim",
        "--clusters-per-class",
        "--clusters-per-batch",
        "--samples-per-cluster",
        "--refresh-every",
        "--magnet-alpha",
        "--samples-per-class",
        "--no-pretrained",
        "--download",
        "resnet18",
        "proxy-anchor",
    ):
        assert option in out


def test_options_come_from_the_config_fields():
    import argparse

    from reprlab.cli.train import GROUPS, OPTION_OF, build_config, field_at
    from reprlab.train import RunConfig

    parser = argparse.ArgumentParser()
    configure(parser)
    by_option = {flag: action for action in parser._actions for flag in action.option_strings}
    for path in (p for paths in GROUPS.values() for p in paths):
        field, action = field_at(path), by_option[OPTION_OF[path]]
        text = field.description  # every option's help is its field's description
        assert text and text in action.help, path
        default = field.get_default(call_default_factory=True)
        if field.annotation is not bool and default not in (None, [], ()):
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
            assert f"(default {shown})" in action.help, path
    assert build_config(parser.parse_args([])) == RunConfig()
    config = build_config(
        parser.parse_args(
            ["--lr", "0.01", "--objective", "repmet", "--repmet-version", "2", "--no-pretrained",
             "--hidden", "8,4", "--logger", "tensorboard", "--device", "cpu", "--batch-norm"]
        )
    )  # fmt: skip
    assert config.train.lr == 0.01 and config.train.loggers == ["tensorboard"]
    assert config.train.accelerator == "cpu" and config.model.batch_norm
    metric = config.model.metric
    assert (config.model.name, metric.repmet_version, metric.pretrained) == ("embedder", 2, False)
    assert metric.hidden == (8, 4) and config.model.hidden == field_at("model.hidden").default


@pytest.mark.parametrize(
    "args, words",
    [
        (["--model", "vea"], ["--model", "vea", "ae, dae"]),
        (["--arch", "transformer"], ["--arch", "'mlp', 'conv', 'celeba-vae' or 'resnet18'"]),
        (["--arch", "resnet18"], ["--arch", "embedder", "'mlp' or 'conv'"]),
        (["--objective", "arcface"], ["--objective", "'magnet', 'repmet', 'my-loss', 'triplet'"]),
        (["--model", "vae", "--objective", "magnet"], ["--objective", "--model embedder"]),
        (["--objective", "magnet", "--clusters-per-batch", "1"], ["--clusters-per-batch", "2"]),
        (["--objective", "repmet", "--repmet-version", "3"], ["--repmet-version", "'hinge'"]),
        (["--objective", "triplet"], ["--batch-size", "--samples-per-class", "40"]),
        (["--objective", "magnet", "--variance", "tf"], ["--variance", "'tf-reference'"]),
        (["--epochs", "ten"], ["--epochs", "integer"]),
        (["--optimizer", "lbfgs"], ["--optimizer", "adam"]),
        (["--loss", "bogus"], ["bogus", "nll-normal", "cauchy"]),
        (["--loss", "cauchy", "--loss-param", "shape=2"], ["shape", "scale"]),
        (["--data", "imagenet-42"], ["imagenet-42"]),
        (["--set", "train.nope=1"], ["train.nope"]),
        (["--logger", "wandb"], ["wandb"]),
    ],
)
def test_bad_values_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    code = main(["train", *QUICK, "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err
    assert not out.exists()


def test_train_then_resume_then_refuse_changed_options(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                *QUICK,
                "--model",
                "vae",
                "--loss",
                "cauchy",
                "--scale",
                "0.2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "done: 1 epochs" in capsys.readouterr().out
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["loss_params"] == {"scale": 0.2}
    assert json.loads((out / "status.json").read_text())["status"] == "done"
    assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert main(["train", *QUICK, "--model", "vae", "--out", str(out)]) == 2  # exists
    assert main(["train", "--resume", "--out", str(out), "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "differ" in err


def test_config_file_with_overrides(tmp_path):
    config = {
        "data": {"name": "digits", "limit": 100},
        "model": {"name": "sparse-kl", "hidden": [16]},
        "train": {"epochs": 2, "batch_size": 50},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    assert (
        main(["train", "--config", str(path), "--epochs", "1", "--out", str(out), "--no-progress"])
        == 0
    )
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["name"] == "sparse-kl" and saved["train"]["epochs"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: ae, widths: [3]}\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


METRIC_QUICK = [
    "--data",
    "digits",
    "--limit",
    "200",
    "--epochs",
    "1",
    "--no-progress",
    "--objective",
    "magnet",
    "--arch",
    "mlp",
    "--hidden",
    "16",
    "--embedding-dim",
    "8",
    "--clusters-per-class",
    "2",
    "--clusters-per-batch",
    "4",
    "--samples-per-cluster",
    "5",
    "--refresh-every",
    "4",
    "--magnet-alpha",
    "0.5",
]


def test_train_magnet_embedder_then_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *METRIC_QUICK, "--out", str(out)]) == 0
    assert "done: 1 epochs, 10 steps" in capsys.readouterr().out  # 200 / (4 x 5) batches
    saved = yaml.safe_load((out / "config.yaml").read_text())
    model = saved["model"]
    assert (model["name"], model["arch"], model["hidden"]) == ("embedder", "mlp", [128, 64, 12])
    metric = model["metric"]
    assert metric["objective"] == "magnet" and metric["hidden"] == [16]
    assert (metric["embedding_dim"], metric["alpha"], metric["refresh_every"]) == (8, 0.5, 4)
    assert (metric["clusters_per_class"], metric["clusters_per_batch"]) == (2, 4)
    assert metric["samples_per_cluster"] == 5
    rows = (out / "logs" / "metrics.csv").read_text().splitlines()
    assert "batch_accuracy" in rows[0] and len(rows) == 2
    checkpoint = load_checkpoint(out / "checkpoints" / "last.pt")
    assert checkpoint["model_callbacks"] == [{"steps": 10, "refreshes": 2}]
    assert main(["train", "--resume", "--out", str(out), "--epochs", "2", "--no-progress"]) == 2
    assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0


def test_resnet18_without_weights_exits_2_naming_the_fixes(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    out = tmp_path / "run"
    args = ["train", "--data", "digits", "--objective", "triplet", "--arch", "resnet18"]
    assert main([*args, "--batch-size", "40", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--download" in err and "--no-pretrained" in err
    assert not out.exists()
