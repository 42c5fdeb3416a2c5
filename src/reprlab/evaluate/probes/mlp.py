"""MLP probe: one hidden ReLU layer trained by Adam in torch, with early stopping.

For a weight decay ``λ`` each mini-batch step minimises ``mean_i -log softmax(f(x_i))[y_i] +
(λ/2) (||W1||² + ||W2||²)`` (biases not penalised; scikit-learn's ``MLPClassifier`` adds
``alpha / (2 batch) ||W||²``, i.e. ``λ = alpha / batch``). One network per ``λ`` in
``weight_decays`` trains side by side on the same batches, stacked into one matrix product
per layer (Adam is per-element, so each network's updates are its own). After every epoch each
network's cross-entropy on the validation rows is measured; a network keeps the weights of its
best epoch and stops (leaves the stack) after ``patience`` epochs without an improvement of more
than ``tol`` (scikit-learn's ``MLPClassifier`` rule; Prechelt 1998, "Early stopping - but
when?").
The ``λ`` whose best validation cross-entropy is lowest is chosen, with the weights of its best
epoch.
"""

import math

import torch
from torch.nn import functional as F

from reprlab.errors import ConfigError
from reprlab.evaluate.probes.base import Probe

WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2)


def _init(shape, fan_in: int, generator, like) -> torch.Tensor:
    """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, torch.nn.Linear's default, drawn on the CPU so
    every device starts from the same numbers."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1
    return (u / math.sqrt(fan_in)).to(like.device, like.dtype).requires_grad_()


GROUP_DIMS = (1, 0, 0, 0)  # the network index in W1 [D, G, H], b1 [G, H], W2 [G, H, K], b2


def _keep(params, optimiser, keep):
    """The parameters of the networks ``keep`` only, with their Adam state (moments, step)."""
    kept = [p.detach().index_select(d, keep).requires_grad_() for p, d in zip(params, GROUP_DIMS)]
    new = torch.optim.Adam(kept, **optimiser.defaults)
    for old, p, d in zip(params, kept, GROUP_DIMS):
        state = optimiser.state[old]
        new.state[p] = {
            "step": state["step"].clone(),
            "exp_avg": state["exp_avg"].index_select(d, keep),
            "exp_avg_sq": state["exp_avg_sq"].index_select(d, keep),
        }
    return kept, new


def _forward(params, x):
    """Logits ``[G, N, K]`` of the G stacked networks: ``W1`` is ``[D, G, H]`` so the first
    layer of every network is one ``[N, D] x [D, G*H]`` product."""
    w1, b1, w2, b2 = params
    d, g, h = w1.shape
    hidden = torch.relu(torch.addmm(b1.reshape(-1), x, w1.reshape(d, g * h)))
    return torch.baddbmm(b2, hidden.view(len(x), g, h).transpose(0, 1), w2)


def _losses(params, x, y):
    """Mean cross-entropy of each network ``[G]``."""
    logits = _forward(params, x)
    g, n, k = logits.shape
    return F.cross_entropy(logits.reshape(g * n, k), y.repeat(g), reduction="none").view(g, n)


class MLPProbe(Probe):
    """One-hidden-layer probe; ``chosen_ = {"weight_decay": λ, "epochs": best epoch}``,
    ``validation_loss_`` the best validation cross-entropy of each ``λ``, ``stopped_`` the epoch
    each network stopped, ``n_iter_`` the epochs run. ``threads``: CPU
    threads while fitting (``None``: one for small batches, see ``Probe._threads``)."""

    def __init__(
        self,
        hidden=256,
        weight_decays=WEIGHT_DECAYS,
        max_epochs=200,
        patience=10,
        tol=1e-4,
        batch_size=256,
        lr=3e-3,
        validation=0.1,
        seed=0,
        device=None,
        dtype="float32",
        standardise=True,
        threads=None,
    ):
        self.hidden = hidden
        self.weight_decays = weight_decays
        self.max_epochs = max_epochs
        self.patience = patience
        self.tol = tol
        self.batch_size = batch_size
        self.lr = lr
        self.validation = validation
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.standardise = standardise
        self.threads = threads

    def _step_work(self, x) -> int:
        width = len(self.weight_decays) * self.hidden  # the stacked first layer
        return min(self.batch_size, len(x)) * x.shape[1] * width

    def _fit(self, x, y, fit_rows, val_rows):
        decays = [float(d) for d in self.weight_decays]
        if not decays or min(decays) < 0:
            raise ConfigError(f"weight_decays must be non-negative numbers, got {decays}")
        if val_rows is None and len(decays) > 1:
            raise ConfigError("choosing among weight_decays needs validation > 0; or pass one")
        generator = torch.Generator().manual_seed(self.seed)
        g, d, h, k = len(decays), x.shape[1], self.hidden, len(self.classes_)
        params = [
            _init((d, g, h), d, generator, x),
            _init((g, h), d, generator, x),
            _init((g, h, k), h, generator, x),
            _init((g, 1, k), h, generator, x),
        ]
        decay = x.new_tensor(decays)
        optimiser = torch.optim.Adam(params, lr=self.lr)
        fit_rows = torch.as_tensor(fit_rows, device=x.device)
        xf, yf = x[fit_rows], y[fit_rows]
        if val_rows is not None:
            val_rows = torch.as_tensor(val_rows, device=x.device)
            xv, yv = x[val_rows], y[val_rows]
        alive = torch.arange(g, device=x.device)  # the networks still training
        best_loss = torch.full((g,), math.inf, device=x.device)
        best_epoch = torch.zeros(g, dtype=torch.long, device=x.device)
        progress = best_epoch.clone()  # the last epoch that improved by more than tol
        stopped = torch.zeros_like(best_epoch)  # the epoch each network left the stack
        best = [p.detach().clone() for p in params]
        for epoch in range(1, self.max_epochs + 1):
            order = torch.randperm(len(xf), generator=generator).to(x.device)
            for batch in order.split(self.batch_size):
                w1, _, w2, _ = params
                penalty = w1.pow(2).sum((0, 2)) + w2.pow(2).sum((1, 2))
                loss = _losses(params, xf[batch], yf[batch]).mean(1) + 0.5 * decay * penalty
                optimiser.zero_grad(set_to_none=True)
                loss.sum().backward()
                optimiser.step()
            if val_rows is None:
                continue
            with torch.no_grad():
                loss = _losses(params, xv, yv).mean(1)
                seen = best_loss[alive]
                progress[alive] = torch.where(loss < seen - self.tol, epoch, progress[alive])
                better = loss < seen
                best_loss[alive] = torch.where(better, loss, seen)
                best_epoch[alive] = torch.where(better, epoch, best_epoch[alive])
                for p, b, dim in zip(params, best, GROUP_DIMS):
                    shape = [1] * p.ndim
                    shape[dim] = len(alive)
                    kept = b.index_select(dim, alive)
                    b.index_copy_(dim, alive, torch.where(better.view(shape), p, kept))
            running = epoch - progress[alive] < self.patience
            if not bool(running.any()):
                break
            if not bool(running.all()):  # stop computing the networks that have stopped
                keep = running.nonzero()[:, 0]
                stopped[alive[~running]] = epoch
                params, optimiser = _keep(params, optimiser, keep)
                alive, decay = alive[keep], decay[keep]
        stopped[alive] = epoch
        if val_rows is None:  # no validation: the one network's weights after max_epochs
            best, best_epoch = [p.detach() for p in params], best_epoch.fill_(epoch)
        i = int(best_loss.argmin()) if val_rows is not None else 0
        w1, b1, w2, b2 = best
        self.coefs_ = [w1[:, i].clone(), w2[i].clone()]
        self.intercepts_ = [b1[i].clone(), b2[i, 0].clone()]
        self.validation_loss_ = (
            dict(zip(decays, best_loss.tolist())) if val_rows is not None else {}
        )
        self.n_iter_ = epoch
        self.stopped_ = dict(zip(decays, stopped.tolist()))
        self.chosen_ = {"weight_decay": decays[i], "epochs": int(best_epoch[i])}

    def _proba(self, x):
        (w1, w2), (b1, b2) = self.coefs_, self.intercepts_
        return torch.softmax(torch.addmm(b2, torch.relu(torch.addmm(b1, x, w1)), w2), 1)
