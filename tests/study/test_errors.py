"""Error messages: did-you-mean for unknown names and keys, where a bad value came from (the
command line, or the study file and line), and only options that exist."""

import argparse
import importlib
import re

import pytest

from reprlab.cli import COMMANDS, main
from reprlab.data.locate import download_hint
from reprlab.errors import ConfigError, UnknownNameError
from reprlab.registry import did_you_mean, lookup
from reprlab.study.spec import key_lines, load_study

STUDY = """\
name: typo
question: does it?
data: {name: digits}
model: {name: ae, latent_dim: 2}
train:
  epochs: 1
  bath_size: 10
seeds: [0]
axes:
  loss: {path: model.loss, values: [mse]}
"""


def test_did_you_mean():
    assert did_you_mean("epochz", ["epochs", "lr"]) == "; did you mean 'epochs'?"
    assert did_you_mean("geman_mcclure", ["geman-mcclure", "l1"]) == (
        "; did you mean 'geman-mcclure'?"
    )
    assert did_you_mean("zzz", ["epochs", "lr"]) == ""
    with pytest.raises(UnknownNameError, match=r"valid: a, probe-knn; did you mean 'probe-knn'"):
        lookup({"probe-knn": 1, "a": 2}, "probe-knm", "metric")


def test_set_key_blames_the_command_line(capsys):
    code = main(["run", "--set", "train.epochz=1", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert "config key 'train.epochz' from the command line (--set train.epochz=1)" in err
    assert "did you mean 'epochs'?" in err
    assert "base, axes or profile" not in err and len(err.strip().splitlines()) == 1


def test_study_file_key_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text(STUDY)
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"from study {str(path)!r}, line 7: unknown key; did you mean 'batch_size'?" in err


def test_study_schema_error_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(STUDY.replace("seeds: [0]", "sedes: [0]"))
    with pytest.raises(ConfigError, match=r"line 8: sedes: unknown key.*did you mean 'seeds'"):
        load_study(path)


def test_key_lines():
    lines = key_lines(STUDY)
    assert lines[("train", "bath_size")] == 7 and lines[("axes", "loss", "path")] == 10


def _options(command: str, sub: str | None) -> set[str]:
    parser = argparse.ArgumentParser()
    importlib.import_module(COMMANDS[command][0]).configure(parser)
    if sub:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[sub]
    return {o for a in parser._actions for o in a.option_strings}


def test_every_option_the_missing_data_message_names_exists():
    hint = download_hint("cifar10")
    named = re.findall(r"reprlab (\w+)(?: (info|list))?(?: NAME)? (--[\w-]+)", hint)
    assert {(c, o) for c, _, o in named} >= {("train", "--data-root"), ("data", "--root")}
    for command, sub, option in named:
        assert option in _options(command, sub or None), (command, option)
