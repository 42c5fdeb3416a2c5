"""The optional experiment trackers receive every epoch's metrics (all three run offline)."""

import csv
import glob

import pytest

from reprlab.errors import ConfigError
from reprlab.train import RunConfig, train_run


def config(loggers) -> RunConfig:
    return RunConfig.model_validate(
        {
            "data": {"name": "digits", "limit": 300, "val_fraction": 0.1},
            "model": {"name": "vae", "hidden": [32], "latent_dim": 4, "loss": "nll-general"},
            "train": {"epochs": 2, "batch_size": 50, "loggers": loggers},
        }
    )


@pytest.mark.slow
def test_tensorboard_wandb_and_mlflow_get_each_epoch(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    train_run(config(["tensorboard", "wandb", "mlflow"]), run, progress=False)
    with open(run / "logs" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    expected = [float(r["val_elbo"]) for r in rows]
    assert len(expected) == 2

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "logs" / "tensorboard"))
    events.Reload()
    assert [e.value for e in events.Scalars("val_elbo")] == pytest.approx(expected, rel=1e-6)

    client = mlflow.MlflowClient()
    (found,) = client.search_runs(["0"])
    history = client.get_metric_history(found.info.run_id, "val_elbo")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(expected)
    assert found.data.params["model.loss"] == "nll-general"

    (record,) = glob.glob(str(run / "logs" / "wandb" / "offline-run-*" / "run-*.wandb"))
    with open(record, "rb") as f:
        data = f.read()
    # the offline record is binary (protobuf); each epoch's history item names its metrics
    assert data.count(b"val_elbo") >= 2 and b"nll-general" in data


def test_missing_logger_package_fails_before_writing(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="pip install wandb"):
        train_run(config(["wandb"]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_tracker_that_cannot_start_is_one_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://tracker")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"logger 'mlflow' could not start .*MLFLOW_TRACKING_URI"):
        train_run(config(["mlflow"]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "config.yaml").exists()


@pytest.mark.slow
def test_trackers_receive_evaluation_metrics_and_figures(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    mlflow = pytest.importorskip("mlflow")
    from reprlab.evaluate import evaluate

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    cfg = config(["tensorboard", "wandb", "mlflow"])
    cfg.train.epochs = 1
    train_run(cfg, run, progress=False)
    metrics = evaluate(run, ["reconstruction"], ["reconstructions"], progress=False)
    mse = metrics["reconstruction"]["mse"]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "logs" / "tensorboard"))
    events.Reload()
    assert [e.value for e in events.Scalars("eval/reconstruction/mse")] == pytest.approx([mse])
    assert "figures/reconstructions" in events.Tags()["images"]

    client = mlflow.MlflowClient()
    (found,) = client.search_runs(["0"])  # the training run itself, not a new one
    (value,) = client.get_metric_history(found.info.run_id, "eval/reconstruction/mse")
    assert value.value == pytest.approx(mse)
    assert [a.path for a in client.list_artifacts(found.info.run_id, "figures")] == [
        "figures/reconstructions.png"
    ]
    records = glob.glob(str(run / "logs" / "wandb" / "offline-run-*" / "run-*.wandb"))
    data = b"".join(open(r, "rb").read() for r in records)
    assert b"eval/reconstruction/mse" in data and b"figures/reconstructions" in data
