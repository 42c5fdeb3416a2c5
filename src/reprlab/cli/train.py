"""``reprlab train``: train one model from options or a YAML ``RunConfig``.

    reprlab train --data fashion-mnist --model vae --arch conv --loss cauchy \\
        --latent-dim 128 --epochs 10 --seed 0 --out runs/demo
    reprlab train --data digits --objective magnet --arch mlp --embedding-dim 64 \\
        --clusters-per-class 3 --clusters-per-batch 12 --samples-per-cluster 4 \\
        --refresh-every 100 --epochs 10 --out runs/magnet
    reprlab train --data cifar10 --objective triplet --arch resnet18 --embedding-dim 1024 \\
        --samples-per-class 4 --batch-size 40 --download --out runs/triplet

A metric-learning option (--objective and the ones after it in --help) selects the model
'embedder'; its --arch is mlp, conv or resnet18 and --hidden/--channels set its widths.
Options override ``--config FILE``; every value is checked (by ``RunConfig``, the data set and
the model) before anything is written. ``--resume --out DIR`` continues DIR's run from its
last checkpoint with the config saved there.
"""

import argparse
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from reprlab.errors import ConfigError
from reprlab.models import MODELS
from reprlab.rundir import RunDir
from reprlab.train.checkpoint import load_checkpoint
from reprlab.train.config import RunConfig, load_config, run_id
from reprlab.train.loop import fit
from reprlab.train.run import check_resumable, prepare

#: the RunConfig fields that are options, by group; each option is named after the field's last
#: key (``train.lr`` is ``--lr``) unless ALIASES names it, and its help is the field's
#: ``description`` with its choices and default. A bool field is a flag that sets the opposite
#: of its default (``--batch-norm``; ``--no-pretrained``); a list field is repeatable.
GROUPS: dict[str, tuple[str, ...]] = {
    "data": ("data.name", "data.root", "data.download", "data.val_fraction", "data.limit"),
    "model": (
        "model.name", "model.arch", "model.latent_dim", "model.hidden", "model.channels",
        "model.activation", "model.output", "model.batch_norm", "model.vae.beta",
        "model.vq.codebook_size", "model.vq.commitment", "model.vq.ema",
        "model.noise.input_sigma", "model.noise.hidden_sigma", "model.sparsity.weight",
        "model.sparsity.target",
    ),
    "metric learning (model embedder, seed 003; any of these selects it)": (
        "model.metric.objective", "model.metric.embedding_dim", "model.metric.clusters_per_class",
        "model.metric.clusters_per_batch", "model.metric.samples_per_cluster",
        "model.metric.refresh_every", "model.metric.alpha", "model.metric.variance",
        "model.metric.repmet_version", "model.metric.sigma", "model.metric.margin",
        "model.metric.proxy_lr_scale", "model.metric.samples_per_class", "model.metric.pretrained",
    ),
    "reconstruction loss": ("model.loss", "model.robust_over", "model.reduction"),
    "training": (
        "train.optimizer", "train.lr", "train.weight_decay", "train.schedule", "train.epochs",
        "train.batch_size", "train.seed", "train.grad_clip", "train.accelerator", "train.devices",
        "train.strategy", "train.precision", "train.compile", "train.loggers",
    ),
}  # fmt: skip
ALIASES: dict[str, tuple[str, ...]] = {
    "data.name": ("--data",),
    "data.root": ("--data-root",),
    "model.name": ("--model",),
    "model.noise.input_sigma": ("--input-noise",),
    "model.noise.hidden_sigma": ("--hidden-noise",),
    "model.sparsity.weight": ("--sparsity-weight",),
    "model.sparsity.target": ("--sparsity-target",),
    "model.metric.alpha": ("--metric-alpha", "--magnet-alpha"),
    "train.accelerator": ("--device",),
    "train.loggers": ("--logger",),
}
EMBEDDER = "embedder"
#: options that the embedder reads from its metric section
EMBEDDER_PATHS = {
    "hidden": "model.metric.hidden",
    "channels": "model.metric.channels",
    "download": "model.metric.download",
}
METRIC = "model.metric."
LOSS_PARAMS = ("alpha", "scale")


def field_at(path: str) -> FieldInfo:
    """The ``RunConfig`` field at a dotted ``path`` (``model.vae.beta``)."""
    section: type[BaseModel] = RunConfig
    *parents, key = path.split(".")
    for name in parents:
        section = section.model_fields[name].annotation
    return section.model_fields[key]


def _flags(path: str) -> tuple[str, ...]:
    if path in ALIASES:
        return ALIASES[path]
    name = path.rsplit(".", 1)[1].replace("_", "-")
    field = field_at(path)
    negated = field.annotation is bool and field.default is True
    return (f"--no-{name}" if negated else f"--{name}",)


def _dest(path: str) -> str:
    return _flags(path)[0].removeprefix("--").removeprefix("no-").replace("-", "_")


def _bare(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _choices(annotation: Any) -> tuple:
    kind = _bare(annotation)
    if typing.get_origin(kind) is list:
        kind = typing.get_args(kind)[0]
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else ()


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def _help(path: str, choices: tuple = ()) -> str:
    field = field_at(path)
    text = field.description or ""
    choices = choices or _choices(field.annotation)
    if choices:
        *most, last = map(str, choices)
        text += f": {', '.join(most)} or {last}" if most else f": {last}"
    if field.annotation is bool:
        return f"{text}; this flag turns it off" if field.default else text
    if path in EMBEDDER_PATHS.values():
        return text
    default = field.get_default(call_default_factory=True)
    if default not in (None, [], ()):
        text += f" (default {_shown(default)})"
    dest = _dest(path)
    if dest in EMBEDDER_PATHS:
        own = field_at(EMBEDDER_PATHS[dest])
        text += f"; embedder: {own.description} (default {_shown(own.default)})"
    return text.replace("%", "%%")


def _metavar(annotation: Any) -> str:
    kind = _bare(annotation)
    if typing.get_origin(kind) is tuple:
        return "N,N,..."
    if int in typing.get_args(kind):
        return "N"
    return {int: "N", float: "X"}.get(kind, "NAME")


def add_field(group, path: str, choices: tuple = ()) -> None:
    """The option of the ``RunConfig`` field at ``path``, its help generated from the field."""
    field = field_at(path)
    kwargs: dict[str, Any] = {"dest": _dest(path), "help": _help(path, choices)}
    if field.annotation is bool:
        kwargs.update(action="store_const", const=not field.default)
    elif typing.get_origin(_bare(field.annotation)) is list:
        kwargs.update(action="append", metavar="NAME")
    else:
        kwargs["metavar"] = _metavar(field.annotation)
    group.add_argument(*_flags(path), **kwargs)


def _convert(path: str, value: Any) -> Any:
    """An option's text as the field takes it: comma lists for tuples; YAML for choices that
    are not all words (repmet_version's 1, 2 or hinge); the text itself otherwise."""
    annotation = _bare(field_at(path).annotation)
    if typing.get_origin(annotation) is tuple:
        return [v for v in str(value).replace(" ", "").split(",") if v]
    if any(not isinstance(c, str) for c in _choices(annotation)) and isinstance(value, str):
        return _parse_value(value)
    return value


PATHS = [path for paths in GROUPS.values() for path in paths]
OPTION_OF = {path: _flags(path)[0] for path in PATHS}
OPTION_OF.update({path: "--" + dest.replace("_", "-") for dest, path in EMBEDDER_PATHS.items()})
OPTION_OF.update({f"model.loss_params.{name}": f"--{name}" for name in LOSS_PARAMS})


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = __doc__.split("\n\n", 1)[1]
    g = parser.add_argument_group("run")
    g.add_argument(
        "--config",
        metavar="FILE",
        help="a YAML RunConfig (sections data, model, train); the options below override it",
    )
    g.add_argument(
        "--out",
        metavar="DIR",
        help="the run directory (default: runs/RUN_ID, RUN_ID a hash of the config)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its "
        "last checkpoint (same weights as an uninterrupted run)",
    )
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any config key, e.g. --set model.vae.beta=4 (repeatable)",
    )
    g.add_argument(
        "--no-progress",
        action="store_true",
        help="never show the progress bar "
        "(it is off anyway when stdout is not a terminal or CI is set)",
    )
    for title, paths in GROUPS.items():
        g = parser.add_argument_group(title)
        for path in paths:
            add_field(g, path, tuple(MODELS) if path == "model.name" else ())
        if title == "reconstruction loss":
            _loss_params(g)


def _loss_params(g) -> None:
    g.add_argument(
        "--alpha",
        metavar="A",
        help="loss parameter alpha (general loss; fixes the shape of adaptive and nll-general)",
    )
    g.add_argument(
        "--scale",
        metavar="C",
        help="loss parameter scale c (fixed; for likelihoods it fixes the otherwise learned scale)",
    )
    g.add_argument(
        "--loss-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other loss keyword, e.g. representation=dct, color_space=yuv, "
        "scale_init=0.1 (repeatable)",
    )


def _parse_value(text: str) -> Any:
    return yaml.safe_load(text) if text.strip() else text


def _set(raw: dict, path: str, value: Any) -> None:
    *parents, key = path.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {path!r}: {p!r} is not a section")
    node[key] = value


def _key_value(text: str, option: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"{option}: expected KEY=VALUE, got {text!r}")
    return key.strip(), _parse_value(value)


def raw_config(args: argparse.Namespace) -> dict:
    """The config dict: ``--config`` (or, resuming, ``--out``'s config.yaml), then options."""
    raw: dict = {}
    saved = RunDir(args.out) if args.out else None
    if args.config:
        raw = load_config(args.config).model_dump(mode="json")
    elif args.resume and saved is not None and saved.is_run():
        raw = load_config(saved.config_file).model_dump(mode="json")
    embedder = _is_embedder(args, raw)
    for path in PATHS:
        dest = _dest(path)
        value = getattr(args, dest, None)
        if value is None:
            continue
        value = _convert(path, value)
        if embedder and dest in EMBEDDER_PATHS:
            _set(raw, EMBEDDER_PATHS[dest], value)
            if dest != "download":  # download is the data set's too
                continue
        _set(raw, path, value)
    params = dict(raw.get("model", {}).get("loss_params", {}))
    for name in LOSS_PARAMS:
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    for text in args.loss_param:
        key, value = _key_value(text, "--loss-param")
        params[key] = value
    if params:
        _set(
            raw,
            "model.loss_params",
            {k: _parse_value(v) if isinstance(v, str) else v for k, v in params.items()},
        )
    for text in args.set:
        key, value = _key_value(text, "--set")
        _set(raw, key, value)
    return raw


def _is_embedder(args: argparse.Namespace, raw: dict) -> bool:
    """Whether the run trains the embedder. A metric-learning option selects it when neither
    ``--model`` nor the config names a model, and is an error with any other model."""
    given = [p for p in PATHS if p.startswith(METRIC) and getattr(args, _dest(p)) is not None]
    name = args.model if args.model is not None else raw.get("model", {}).get("name")
    if given and name is None:
        _set(raw, "model.name", EMBEDDER)
        return True
    if given and name != EMBEDDER:
        option = OPTION_OF[given[0]]
        raise ConfigError(
            f"{option} is a metric-learning option, for the model {EMBEDDER!r}, not {name!r}; "
            f"drop it or use --model {EMBEDDER}"
        )
    return name == EMBEDDER


def build_config(args: argparse.Namespace):
    """The validated ``RunConfig``; a bad value is a one-line ``ConfigError`` naming the
    option (or config key) and what is valid."""
    try:
        return RunConfig.model_validate(raw_config(args))
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
        value = first.get("input")
        shown = f" (got {value!r})" if isinstance(value, (str, int, float)) else ""
        message = first["msg"].removeprefix("Value error, ")
        if not path:  # a check of the whole config names the key first
            path = message.split(" ", 1)[0]
        where = OPTION_OF.get(path, f"config key {path!r}" if path else "config")
        raise ConfigError(f"{where}: {message}{shown}") from None


def run(args: argparse.Namespace) -> int:
    if args.resume and not args.out:
        raise ConfigError("--resume needs --out DIR, the run directory to continue")
    config = build_config(args)
    out = Path(args.out) if args.out else Path("runs") / run_id(config)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file, not a folder; choose another --out")
    config, dataset, model = prepare(config)  # every remaining check, before any write
    run = RunDir(out)
    with run.lock("reprlab train"):  # the folder exists from here on: its config is valid
        _check_out(args, run, config, model)
        result = fit(
            model,
            dataset,
            config,
            out,
            resume=args.resume,
            progress=False if args.no_progress else None,
        )
    loss = result.metrics.get("loss", float("nan"))
    val = result.metrics.get("val_loss")
    val_text = f", val loss {val:.5g}" if val is not None else ""
    print(
        f"{result.status}: {result.epochs} epochs, {result.steps} steps, loss {loss:.5g}"
        f"{val_text}, {result.seconds:.1f} s -> {out}"
    )
    if result.status != "done":
        print(f"reason: {result.reason}")
        return 1
    return 0


def _check_out(args: argparse.Namespace, run: RunDir, config, model) -> None:
    """Under the run's lock: ``--resume`` continues the same config from a checkpoint that
    fits it; without ``--resume``, a folder that holds a run is refused."""
    if args.resume and run.is_run():
        if load_config(run.config_file) != config:
            raise ConfigError(
                f"--resume: the options differ from {str(run.config_file)!r}; resume with the "
                "saved config (drop the changed options) or train into a new --out"
            )
    if args.resume and run.has_checkpoint():
        check_resumable(model, load_checkpoint(run.last_checkpoint), str(run.path))
    if not args.resume and run.has_checkpoint():
        raise ConfigError(
            f"--out {str(run.path)!r} already holds a run; pass --resume to continue "
            "it or choose another directory"
        )
