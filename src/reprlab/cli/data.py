"""``reprlab data``: list the data sets and where they are, or describe one."""

from __future__ import annotations

import argparse
import io
import os
import sys

from reprlab.atomic import write_bytes
from reprlab.errors import ConfigError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "List the data sets reprlab knows (size, image shape, classes, whether present on this "
        "machine and where), or describe one: its splits, class counts and a grid of examples."
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="every data set and whether it is present locally")
    listing.add_argument("--root", help="a folder to search first (as load_dataset(root=...))")
    info = sub.add_parser("info", help="load one data set and describe it")
    info.add_argument(
        "name", help="a data set name (see 'reprlab data list'), folder:PATH or npz:PATH; "
        "NAME@SIZE stores photos at SIZE x SIZE"
    )  # fmt: skip
    info.add_argument("--root", help="a folder to search first for the data set's files")
    info.add_argument(
        "--download", action="store_true", help="fetch a missing data set with torchvision"
    )
    info.add_argument(
        "--val-fraction", type=float, default=0.0,
        help="carve a stratified validation split of this fraction from train (default 0)",
    )  # fmt: skip
    info.add_argument("--seed", type=int, default=0, help="seed of the validation split and grid")
    info.add_argument("--grid", metavar="FILE", help="write a PNG grid of examples to FILE")
    info.add_argument(
        "--per-class", type=int, default=8, help="examples per class in the grid (default 8)"
    )
    info.add_argument(
        "--max-classes", type=int, default=10, help="classes shown in the grid (default 10)"
    )


def _console():
    from rich.console import Console  # lazy: keeps 'reprlab data --help' fast

    quiet = not sys.stdout.isatty() or bool(os.environ.get("CI"))
    return Console(width=200 if quiet else None, no_color=quiet, highlight=not quiet)


def run(args: argparse.Namespace) -> int:
    return _list(args) if args.action == "list" else _info(args)


def _list(args) -> int:
    from rich.table import Table  # lazy: keeps 'reprlab data --help' fast

    from reprlab.data.registry import all_sources

    table = Table(title="reprlab data sets")
    for column in ("name", "train", "test", "shape", "classes", "local copy", "about"):
        table.add_column(column, justify="right" if column in ("train", "test") else "left")
    for name, source in all_sources().items():
        where = source.locate(args.root)
        table.add_row(
            name, f"{source.sizes[0]:,}", f"{source.sizes[1]:,}",
            "x".join(map(str, source.image_shape)), str(source.num_classes),
            where or "absent (--download)", source.summary,
        )  # fmt: skip
    table.caption = "also: folder:PATH (one sub-folder per class), npz:PATH (images, labels)"
    _console().print(table)
    return 0


def _info(args) -> int:
    from rich.table import Table  # lazy: keeps 'reprlab data --help' fast

    from reprlab.data.registry import load_dataset

    if args.per_class < 1 or args.max_classes < 1:
        raise ConfigError("--per-class and --max-classes must be at least 1")
    dataset = load_dataset(
        args.name, root=args.root, download=args.download,
        val_fraction=args.val_fraction, seed=args.seed,
    )  # fmt: skip
    console = _console()
    console.print(
        f"{dataset.name}: {dataset.num_classes} classes, images {dataset.image_shape} uint8, "
        f"from {dataset.source}"
    )
    table = Table(title="examples per class")
    table.add_column("class")
    for split_name in dataset.splits:
        table.add_column(split_name, justify="right")
    counts = {s: split.class_counts(dataset.num_classes) for s, split in dataset.splits.items()}
    for k, name in enumerate(dataset.classes[:50]):
        table.add_row(name, *(str(int(c[k])) for c in counts.values()))
    if dataset.num_classes > 50:
        table.add_row(f"... {dataset.num_classes - 50} more", *("" for _ in counts))
    table.add_row("total", *(f"{len(split):,}" for split in dataset.splits.values()))
    console.print(table)
    if args.grid:
        write_grid(dataset.train, args.grid, args.per_class, args.max_classes, args.seed)
        console.print(f"wrote {args.grid}")
    return 0


def write_grid(split, path, per_class: int, max_classes: int, seed: int) -> None:
    """A PNG grid, one row per class (the first ``max_classes``), ``per_class`` random examples."""
    import numpy as np  # lazy: keeps 'reprlab data --help' fast
    import torch
    from PIL import Image

    rng = np.random.default_rng(seed)
    labels = split.labels.numpy()
    classes = np.unique(labels)[:max_classes]
    blank = torch.zeros_like(split.images[0])
    tiles = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        row = [split.images[i] for i in chosen] + [blank] * (per_class - len(chosen))
        tiles += row
    c, h, w = split.images.shape[1:]
    pad = 2
    rows = len(tiles) // per_class
    grid = np.full((rows * (h + pad) + pad, per_class * (w + pad) + pad, c), 128, np.uint8)
    for i, tile in enumerate(tiles):
        top, left = pad + (i // per_class) * (h + pad), pad + (i % per_class) * (w + pad)
        grid[top : top + h, left : left + w] = tile.permute(1, 2, 0).numpy()
    image = Image.fromarray(grid[..., 0] if c == 1 else grid)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())
