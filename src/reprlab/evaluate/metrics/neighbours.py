"""Neighbourhood metrics of codes against images (``reprlab.evaluate.neighbours``), on at most
``max_points`` images of the split."""

import torch

from reprlab.evaluate.context import EvalContext
from reprlab.evaluate.knn import knn
from reprlab.evaluate.neighbours import (
    continuity,
    input_neighbours,
    neighbourhood_scores,
)
from reprlab.evaluate.neighbours import trustworthiness as trust


def neighbours(ctx: EvalContext) -> dict:
    """score@k (L1, L2, per label) and label agreement of input vs code neighbours (seed 004)

    ``n`` is the number of images whose neighbourhoods are compared (score@k's chance level
    is k / (n - 1)) and ``split`` the split they come from."""
    rows = ctx.subset()
    images = ctx.split().images[torch.as_tensor(rows)]
    labels = ctx.split().labels.numpy()[rows]
    codes = ctx.codes()[rows]
    k = max(ctx.ks)
    out: dict = {"n": len(rows), "split": ctx.split_name}
    for metric in ("l1", "l2"):
        nx = input_neighbours(images, ctx.dataset.name, ctx.split_name, k, metric, ctx.device)
        _, nz = knn(codes, k, metric, device=ctx.device)
        out[metric] = neighbourhood_scores(nx.numpy(), nz.cpu().numpy(), labels, tuple(ctx.ks))
    return out


def trustworthiness(ctx: EvalContext) -> dict:
    """trustworthiness and continuity (Venna & Kaski 2001) of codes vs images, L2"""
    rows = ctx.subset()
    images = ctx.split().images[torch.as_tensor(rows)].reshape(len(rows), -1).double() / 255
    codes = ctx.codes()[rows]
    k = ctx.trust_k
    return {"trustworthiness": trust(images, codes, k), "continuity": continuity(images, codes, k)}
