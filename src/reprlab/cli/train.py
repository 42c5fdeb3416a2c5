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
from pathlib import Path
from typing import Any

import yaml

from reprlab.errors import ConfigError
from reprlab.rundir import RunDir

# option dest -> RunConfig path
PATHS: dict[str, str] = {
    "data": "data.name",
    "data_root": "data.root",
    "download": "data.download",
    "val_fraction": "data.val_fraction",
    "limit": "data.limit",
    "model": "model.name",
    "arch": "model.arch",
    "latent_dim": "model.latent_dim",
    "hidden": "model.hidden",
    "channels": "model.channels",
    "activation": "model.activation",
    "output": "model.output",
    "batch_norm": "model.batch_norm",
    "loss": "model.loss",
    "robust_over": "model.robust_over",
    "reduction": "model.reduction",
    "beta": "model.vae.beta",
    "codebook_size": "model.vq.codebook_size",
    "commitment": "model.vq.commitment",
    "ema": "model.vq.ema",
    "input_noise": "model.noise.input_sigma",
    "hidden_noise": "model.noise.hidden_sigma",
    "sparsity_weight": "model.sparsity.weight",
    "sparsity_target": "model.sparsity.target",
    "optimizer": "train.optimizer",
    "lr": "train.lr",
    "weight_decay": "train.weight_decay",
    "schedule": "train.schedule",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "device": "train.accelerator",
    "devices": "train.devices",
    "strategy": "train.strategy",
    "precision": "train.precision",
    "grad_clip": "train.grad_clip",
    "logger": "train.loggers",
}
# metric-learning options (the model 'embedder'): option dest -> RunConfig path
METRIC_PATHS: dict[str, str] = {
    "objective": "model.metric.objective",
    "embedding_dim": "model.metric.embedding_dim",
    "clusters_per_class": "model.metric.clusters_per_class",
    "clusters_per_batch": "model.metric.clusters_per_batch",
    "samples_per_cluster": "model.metric.samples_per_cluster",
    "refresh_every": "model.metric.refresh_every",
    "metric_alpha": "model.metric.alpha",
    "variance": "model.metric.variance",
    "repmet_version": "model.metric.repmet_version",
    "sigma": "model.metric.sigma",
    "margin": "model.metric.margin",
    "samples_per_class": "model.metric.samples_per_class",
    "proxy_lr_scale": "model.metric.proxy_lr_scale",
    "pretrained": "model.metric.pretrained",
}
EMBEDDER = "embedder"
# options that the embedder reads from its metric section
EMBEDDER_PATHS = {
    "hidden": "model.metric.hidden",
    "channels": "model.metric.channels",
    "download": "model.metric.download",
}
LOSS_PARAMS = ("alpha", "scale")
OPTION_OF = {
    path: "--" + dest.replace("_", "-")
    for dest, path in {**PATHS, **METRIC_PATHS, **EMBEDDER_PATHS}.items()
}
OPTION_OF["model.metric.pretrained"] = "--no-pretrained"


def configure(parser: argparse.ArgumentParser) -> None:
    from reprlab.models import MODELS

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
    g = parser.add_argument_group("data")
    g.add_argument(
        "--data",
        metavar="NAME",
        help="data set (default digits), e.g. "
        "digits, fashion-mnist, mnist, cifar10, omniglot, or folder:PATH",
    )
    g.add_argument("--data-root", metavar="DIR", help="where data sets are read or downloaded")
    g.add_argument(
        "--download",
        action="store_const",
        const=True,
        help="download the data set if it is absent, and for --arch resnet18 its ImageNet "
        "weights if they are not in torch hub's cache (needs internet)",
    )
    g.add_argument(
        "--val-fraction",
        metavar="F",
        help="hold out this fraction of train as 'val' for a validation loss per epoch (default 0)",
    )
    g.add_argument("--limit", metavar="N", help="train on a seeded random N-example subset")
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        metavar="NAME",
        help=f"model family, one of: {', '.join(MODELS)} (default ae; embedder when a "
        "metric-learning option is given)",
    )
    g.add_argument(
        "--arch",
        metavar="NAME",
        help="architecture: mlp (default) or conv; embedder also resnet18 (torchvision "
        "ResNet-18 with its classifier replaced by the embedding layer)",
    )
    g.add_argument(
        "--latent-dim",
        metavar="N",
        help="latent size (default: mlp 2, conv a spatial latent of 64 maps at 4x4)",
    )
    g.add_argument(
        "--hidden",
        metavar="W,W,...",
        help="mlp hidden widths (default 128,64,12; embedder 256,256)",
    )
    g.add_argument(
        "--channels",
        metavar="C,C,...",
        help="conv channels, one stride-2 stage each (default 64 per stage down to 4x4; "
        "embedder 32,64,128, each stage conv, batch norm, ReLU, max-pool)",
    )
    g.add_argument(
        "--activation",
        metavar="NAME",
        help="relu (default), linear, leaky_relu, elu, gelu, silu, tanh",
    )
    g.add_argument(
        "--output",
        metavar="NAME",
        help="decoder output: sigmoid (default; images "
        "in [0,1]), tanh (images scaled to [-1,1], seed 004), linear",
    )
    g.add_argument(
        "--batch-norm",
        action="store_const",
        const=True,
        help="batch normalisation after each hidden layer",
    )
    g.add_argument("--beta", metavar="B", help="vae: weight of the KL term (default 1)")
    g.add_argument("--codebook-size", metavar="K", help="vqvae: number of codes (default 512)")
    g.add_argument("--commitment", metavar="B", help="vqvae: commitment weight (default 0.25)")
    g.add_argument(
        "--ema",
        action="store_const",
        const=True,
        help="vqvae: update the codebook by moving averages",
    )
    g.add_argument("--input-noise", metavar="S", help="dae: input noise std (default 0.25)")
    g.add_argument(
        "--hidden-noise",
        metavar="S",
        help="dae: noise std after every block (default 0; seed 001 used 0.05)",
    )
    g.add_argument("--sparsity-weight", metavar="W", help="sparse-*: penalty weight (default 1e-3)")
    g.add_argument(
        "--sparsity-target", metavar="RHO", help="sparse-kl: target mean activation (default 0.05)"
    )
    g = parser.add_argument_group(
        "metric learning (model embedder, seed 003; any of these selects it)"
    )
    g.add_argument(
        "--objective",
        metavar="NAME",
        help="magnet (default; Rippel et al. 2016), repmet (Karlinsky et al. 2019), triplet "
        "(batch-hard triplet margin) or proxy-anchor (both pytorch-metric-learning)",
    )
    g.add_argument("--embedding-dim", metavar="N", help="embedding size (default 64)")
    g.add_argument(
        "--clusters-per-class",
        metavar="K",
        help="K: k-means clusters per class, Magnet's index and RepMet's representatives "
        "(default 3)",
    )
    g.add_argument(
        "--clusters-per-batch",
        metavar="M",
        help="M: clusters in a Magnet batch, a loss-weighted seed cluster and its M-1 nearest "
        "clusters of other classes (default 12)",
    )
    g.add_argument(
        "--samples-per-cluster",
        metavar="D",
        help="D: examples per cluster in a Magnet batch; a batch holds M*D examples and "
        "--batch-size is unused (default 4)",
    )
    g.add_argument(
        "--refresh-every",
        metavar="N",
        help="magnet: steps between k-means refreshes of the cluster index (default 100; 0 never)",
    )
    g.add_argument(
        "--metric-alpha",
        "--magnet-alpha",
        dest="metric_alpha",
        metavar="A",
        help="Magnet's (and RepMet's) margin alpha (default 1)",
    )
    g.add_argument(
        "--variance",
        metavar="HOW",
        help="magnet: paper (default; 2 sigma^2) or tf-reference (2 sigma^4, the public "
        "TensorFlow code)",
    )
    g.add_argument(
        "--repmet-version",
        metavar="V",
        help="repmet: 1 (default; nearest same-class representative), 2 (all of them) or "
        "hinge (the authors' code)",
    )
    g.add_argument(
        "--sigma", metavar="S", help="repmet: sigma of the class posterior (default 0.5)"
    )
    g.add_argument(
        "--margin",
        metavar="M",
        help="triplet (default 0.2) or proxy-anchor (default 0.1) margin",
    )
    g.add_argument(
        "--proxy-lr-scale",
        metavar="X",
        help="proxy-anchor: the proxies' learning rate over the model's (default 100, as Kim "
        "et al. 2020)",
    )
    g.add_argument(
        "--samples-per-class",
        metavar="N",
        help="repmet, triplet, proxy-anchor: class-balanced batches with N examples of each "
        "class drawn (--batch-size a multiple of N; default 4)",
    )
    g.add_argument(
        "--no-pretrained",
        dest="pretrained",
        action="store_const",
        const=False,
        help="resnet18: random initialisation instead of the ImageNet weights (which must "
        "be in torch hub's cache or downloadable with --download)",
    )
    g = parser.add_argument_group("reconstruction loss")
    g.add_argument(
        "--loss",
        metavar="NAME",
        help="reconstruction objective (default mse): a "
        "robust loss (mse, l1, charbonnier, cauchy, geman_mcclure, welsch, huber, "
        "smooth_l1, general), adaptive, adaptive-image, or a decoder likelihood "
        "(nll-normal, nll-cauchy, nll-student-t, nll-general)",
    )
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
    g.add_argument(
        "--robust-over",
        metavar="WHERE",
        help="pixel (default): the loss per pixel;"
        " image: the loss of each image's residual norm (seed 000)",
    )
    g.add_argument(
        "--reduction",
        metavar="HOW",
        help="sum or mean over an image's pixels (default auto: sum for vae, mean otherwise)",
    )
    g = parser.add_argument_group("training")
    g.add_argument("--optimizer", metavar="NAME", help="adam (default), adamw or sgd")
    g.add_argument("--lr", metavar="LR", help="learning rate (default 1e-3)")
    g.add_argument("--weight-decay", metavar="WD", help="weight decay (default 0)")
    g.add_argument(
        "--schedule",
        metavar="NAME",
        help="learning-rate schedule stepped per epoch: none (default), cosine or step",
    )
    g.add_argument("--epochs", metavar="N", help="epochs (default 10)")
    g.add_argument(
        "--batch-size",
        metavar="N",
        help="batch size (default 128; magnet batches hold M*D examples instead)",
    )
    g.add_argument("--seed", metavar="N", help="seed of every random choice (default 0)")
    g.add_argument("--grad-clip", metavar="NORM", help="clip the gradient norm (default off)")
    g.add_argument(
        "--device",
        metavar="NAME",
        help="accelerator: auto (default; cuda when present), cpu, cuda, gpu, mps",
    )
    g.add_argument("--devices", metavar="N", help="devices per node (default 1)")
    g.add_argument("--strategy", metavar="NAME", help="Fabric strategy, e.g. ddp (default auto)")
    g.add_argument(
        "--precision", metavar="P", help="Fabric precision, e.g. 32-true (default), bf16-mixed"
    )
    g.add_argument(
        "--logger",
        action="append",
        metavar="NAME",
        help="also log each epoch to tensorboard (RUN/logs/tensorboard), wandb (RUN/logs/wandb; "
        "WANDB_MODE=offline keeps it local) or mlflow (to MLFLOW_TRACKING_URI); repeatable; "
        "the package must be installed",
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
    from reprlab.train.config import load_config

    raw: dict = {}
    saved = RunDir(args.out) if args.out else None
    if args.config:
        raw = load_config(args.config).model_dump(mode="json")
    elif args.resume and saved is not None and saved.is_run():
        raw = load_config(saved.config_file).model_dump(mode="json")
    embedder = _is_embedder(args, raw)
    for dest, path in {**PATHS, **METRIC_PATHS}.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest in ("hidden", "channels"):
            value = [v for v in str(value).replace(" ", "").split(",") if v]
        if dest == "repmet_version":
            value = _parse_value(value)  # 1 and 2 are numbers, hinge a word
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
    given = [dest for dest in METRIC_PATHS if getattr(args, dest, None) is not None]
    name = args.model if args.model is not None else raw.get("model", {}).get("name")
    if given and name is None:
        _set(raw, "model.name", EMBEDDER)
        return True
    if given and name != EMBEDDER:
        option = OPTION_OF[METRIC_PATHS[given[0]]]
        raise ConfigError(
            f"{option} is a metric-learning option, for the model {EMBEDDER!r}, not {name!r}; "
            f"drop it or use --model {EMBEDDER}"
        )
    return name == EMBEDDER


def build_config(args: argparse.Namespace):
    """The validated ``RunConfig``; a bad value is a one-line ``ConfigError`` naming the
    option (or config key) and what is valid."""
    from pydantic import ValidationError

    from reprlab.train.config import RunConfig

    try:
        return RunConfig.model_validate(raw_config(args))
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
        where = OPTION_OF.get(path, f"config key {path!r}" if path else "config")
        value = first.get("input")
        shown = f" (got {value!r})" if isinstance(value, (str, int, float)) else ""
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{where}: {message}{shown}") from None


def run(args: argparse.Namespace) -> int:
    from reprlab.train.config import run_id
    from reprlab.train.loop import fit
    from reprlab.train.run import prepare

    if args.resume and not args.out:
        raise ConfigError("--resume needs --out DIR, the run directory to continue")
    config = build_config(args)
    out = Path(args.out) if args.out else Path("runs") / run_id(config)
    run = RunDir(out)
    if args.resume and run.is_run():
        from reprlab.train.config import load_config

        if load_config(run.config_file) != config:
            raise ConfigError(
                f"--resume: the options differ from {str(run.config_file)!r}; resume with the "
                "saved config (drop the changed options) or train into a new --out"
            )
    if not args.resume and run.has_checkpoint():
        raise ConfigError(
            f"--out {str(out)!r} already holds a run; pass --resume to continue "
            "it or choose another directory"
        )
    config, dataset, model = prepare(config)  # every remaining check, before any write
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
