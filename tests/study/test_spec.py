"""Study files: validation errors, profiles, grid expansion and run ids."""

import hashlib
import json

import pytest
from pydantic import BaseModel, ConfigDict

from reprlab.errors import ConfigError, UnknownNameError
from reprlab.study.expand import Cell, cells_of, expand
from reprlab.study.spec import apply_overrides, find_study, load_study, parse_study


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "digits"
    loss: str = "mse"
    latent_dim: int = 2
    activation: str = "relu"
    epochs: int = 1
    seed: int = 0


class _Config(BaseModel):
    """A stand-in for RunConfig: three strict sections."""

    model_config = ConfigDict(extra="forbid")
    data: _Section = _Section()
    model: _Section = _Section()
    train: _Section = _Section()


def _id(config):
    return hashlib.sha256(json.dumps(config.model_dump(), sort_keys=True).encode()).hexdigest()[:8]


def _expand(study):
    return expand(study, make_config=_Config.model_validate, make_id=_id, seed_key="train.seed")


STUDY = {
    "name": "toy",
    "question": "Which loss?",
    "data": {"name": "digits"},
    "model": {"latent_dim": 2},
    "train": {"epochs": 3},
    "seeds": [0, 1, 2],
    "axes": {
        "loss": {"path": "model.loss", "values": ["mse", "l1"]},
        "arch": {
            "variants": {
                "linear": {"model.activation": "linear"},
                "relu": {"model": {"activation": "relu"}},
            }
        },
    },
    "grids": {"latent": {"axes": {"model.latent_dim": [2, 8]}, "set": {"model.loss": "mse"}}},
    "profiles": {
        "quick": {"seeds": [0, 1], "set": {"train.epochs": 1}, "axes": {"arch": ["relu"]}},
        "full": {},
    },
}


def test_expansion_crosses_axes_and_seeds():
    study = parse_study(STUDY).resolve("full")
    runs = _expand(study)
    cells = cells_of(runs)
    main = [c for c in cells if c.grid == "main"]
    assert [c.key for c in main] == [
        "main/loss=mse,arch=linear",
        "main/loss=mse,arch=relu",
        "main/loss=l1,arch=linear",
        "main/loss=l1,arch=relu",
    ]
    assert [c.key for c in cells if c.grid == "latent"] == [
        "latent/model.latent_dim=2",
        "latent/model.latent_dim=8",
    ]
    # latent=2 with mse/relu is the same config as main's mse·relu: one run per seed, two cells
    assert len(runs) == (4 + 2 - 1) * 3
    shared = [r for r in runs if len(r.cells) == 2]
    assert len(shared) == 3 and {c.key for c in shared[0].cells} == {
        "main/loss=mse,arch=relu",
        "latent/model.latent_dim=2",
    }
    ids = [r.run_id for r in runs]
    assert len(set(ids)) == len(ids)
    by_cell = {(c.key, r.seed): r.config for r in runs for c in r.cells}
    config = by_cell[("main/loss=l1,arch=linear", 2)]
    assert (config.model.loss, config.model.activation, config.train.seed, config.train.epochs) == (
        "l1",
        "linear",
        2,
        3,
    )


def test_ids_are_stable_and_profile_applies():
    quick = parse_study(STUDY).resolve("quick")
    first, second = _expand(quick), _expand(parse_study(STUDY).resolve("quick"))
    assert [r.run_id for r in first] == [r.run_id for r in second]
    assert {r.seed for r in first} == {0, 1}
    assert {r.config.train.epochs for r in first} == {1}
    assert {c.key for c in cells_of(first) if c.grid == "main"} == {
        "main/loss=mse,arch=relu",
        "main/loss=l1,arch=relu",
    }
    full_ids = {r.run_id for r in _expand(parse_study(STUDY).resolve("full"))}
    assert not full_ids & {r.run_id for r in first}  # epochs differ, so ids differ


def test_default_profile_and_unknown_profile():
    spec = parse_study(STUDY)
    assert spec.resolve().profile == "quick"
    with pytest.raises(UnknownNameError, match="valid: quick, full"):
        spec.resolve("huge")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sedes": [0]}, "sedes: unknown key; valid keys: name, question"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"axes": {"loss": {"path": "model.loss"}}}, "needs 'path' and 'values'"),
        ({"profiles": {"quick": {"axes": {"nope": [1]}}}}, "unknown axis 'nope'"),
        (
            {"profiles": {"quick": {"seedz": [1]}}},
            "profiles.quick.seedz: unknown key; valid keys: "
            "description, seeds, set, axes, grids, evaluate",
        ),
        ({"report": {"directions": {"acc": "up"}}}, "report.directions.acc"),
        ({"default_profile": "x"}, "default_profile 'x' is not a profile"),
    ],
)
def test_validation_errors_name_the_key(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_study({**STUDY, **change})


def test_bad_config_key_names_the_cell():
    study = parse_study({**STUDY, "model": {"latnt_dim": 2}}).resolve("quick")
    with pytest.raises(
        ConfigError,
        match=r"cell main/loss=mse,arch=relu: config key "
        r"'model.latnt_dim'",
    ):
        _expand(study)


def test_restricting_unknown_variant_is_an_error():
    spec = parse_study({**STUDY, "profiles": {"quick": {"axes": {"arch": ["tanh"]}}}})
    with pytest.raises(ConfigError, match="unknown variants"):
        spec.resolve("quick")


def test_overrides_and_cells():
    config = {"model": {"loss": "mse", "extra": {"a": 1}}}
    apply_overrides(config, {"model.loss": "l1", "model": {"extra": {"b": 2}}, "train.seed": 3})
    assert config == {"model": {"loss": "l1", "extra": {"a": 1, "b": 2}}, "train": {"seed": 3}}
    cell = Cell("main", (("loss", "l1"), ("arch", "relu")))
    assert Cell.from_key(cell.key) == cell and cell.name == "l1 · relu"


def test_find_and_load(tmp_path):
    import yaml

    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    assert load_study(path).name == "toy"
    with pytest.raises(UnknownNameError, match="bundled: "):
        find_study("no-such-study")
    with pytest.raises(ConfigError, match="not found"):
        find_study(tmp_path / "missing.yaml")
    path.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_study(path)
