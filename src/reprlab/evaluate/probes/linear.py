"""Linear probe: multinomial logistic regression by full-batch L-BFGS (scipy's on the CPU,
torch's on a GPU).

For a weight decay ``λ`` it minimises ``mean_i -log softmax(W x_i + b)[y_i] + (λ/2) ||W||²``
(bias not penalised), the objective of scikit-learn's ``LogisticRegression(C=1 / (λ n))`` on
``n`` rows. ``λ`` is chosen from ``weight_decays`` by the cross-entropy on the validation rows
(fits warm-started from the strongest decay to the weakest, a regularisation path, which stops
once the validation loss has risen twice in a row), then the probe is refitted on all training
rows with that ``λ``.
"""

import numpy as np
import scipy.optimize
import torch
from torch.nn import functional as F

from reprlab.errors import ConfigError
from reprlab.evaluate.probes.base import Probe

WEIGHT_DECAYS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
#: whether CPU fits use scipy's L-BFGS-B (tests set it False to run the device path on the CPU)
SCIPY_ON_CPU = True


def _rose_twice(losses: list) -> bool:
    return len(losses) >= 3 and losses[-3] < losses[-2] < losses[-1]


class LinearProbe(Probe):
    """Logistic-regression probe; ``chosen_ = {"weight_decay": λ}``, ``validation_loss_`` the
    validation cross-entropy of each ``λ``; ``coef_ [K, D]`` and ``intercept_ [K]`` act on
    standardised features when ``standardise``. ``threads``: CPU threads while fitting
    (``None``: one for small problems, see ``Probe._threads``)."""

    def __init__(
        self,
        weight_decays=WEIGHT_DECAYS,
        validation=0.1,
        max_iter=1000,
        tol=1e-4,
        seed=0,
        device=None,
        dtype="float32",
        standardise=True,
        threads=None,
    ):
        self.weight_decays = weight_decays
        self.validation = validation
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.standardise = standardise
        self.threads = threads

    def _step_work(self, x) -> int:
        return x.shape[0] * x.shape[1] * len(self.classes_)  # full-batch logits

    def _minimise(self, x, y, decay: float, params) -> int:
        """L-BFGS from ``params`` in place; returns the iterations. On the CPU scipy's L-BFGS-B
        with the closed-form gradient in float64 (Byrd et al. 1995; torch's L-BFGS spends small
        fits in Python, see docs/benchmarks.md, Probes); elsewhere torch's L-BFGS with a strong
        Wolfe line search, on the device."""
        if x.device.type == "cpu" and SCIPY_ON_CPU:
            return self._minimise_scipy(x, y, decay, params)
        optimiser = torch.optim.LBFGS(
            params,
            lr=1,
            max_iter=self.max_iter,
            tolerance_grad=self.tol,
            tolerance_change=1e-12,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure():
            optimiser.zero_grad()
            w, b = params
            loss = F.cross_entropy(torch.addmm(b, x, w), y) + 0.5 * decay * w.pow(2).sum()
            loss.backward()
            return loss

        optimiser.step(closure)
        return optimiser.state[params[0]]["n_iter"]

    def _minimise_scipy(self, x, y, decay: float, params) -> int:
        """The same objective, ``mean_i -log softmax(W x_i + b)[y_i] + (decay/2) ||W||^2``,
        with its gradient ``X^T (P - Y) / n + decay W`` and ``mean_i (P - Y)_i``."""
        xs = x.detach().cpu().double().numpy()
        ys = y.detach().cpu().numpy()
        n, d = xs.shape
        k = params[1].shape[0]
        rows = np.arange(n)

        def objective(theta):
            w, b = theta[: d * k].reshape(d, k), theta[d * k :]
            logits = xs @ w + b
            top = logits.max(1, keepdims=True)
            shifted = np.exp(logits - top)
            total = shifted.sum(1, keepdims=True)
            log_z = np.log(total) + top
            loss = (log_z[:, 0] - logits[rows, ys]).mean() + 0.5 * decay * (w * w).sum()
            g = shifted / total
            g[rows, ys] -= 1.0
            g /= n
            grad = np.concatenate([(xs.T @ g + decay * w).ravel(), g.sum(0)])
            return loss, grad

        start = np.concatenate([p.detach().cpu().double().numpy().ravel() for p in params])
        result = scipy.optimize.minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 1e-12, "maxcor": 20},
        )
        with torch.no_grad():
            params[0].copy_(torch.from_numpy(result.x[: d * k].reshape(d, k)))
            params[1].copy_(torch.from_numpy(result.x[d * k :]))
        return int(result.nit)

    def _fit(self, x, y, fit_rows, val_rows):
        decays = sorted((float(d) for d in self.weight_decays), reverse=True)
        if not decays or min(decays) < 0:
            raise ConfigError(f"weight_decays must be non-negative numbers, got {decays}")
        if val_rows is None and len(decays) > 1:
            raise ConfigError("choosing among weight_decays needs validation > 0; or pass one")
        k = len(self.classes_)
        params = [x.new_zeros(x.shape[1], k).requires_grad_(), x.new_zeros(k).requires_grad_()]
        self.validation_loss_ = {}
        if val_rows is not None:
            fit_rows = torch.as_tensor(fit_rows, device=x.device)
            val_rows = torch.as_tensor(val_rows, device=x.device)
            best = None
            for decay in decays:
                self._minimise(x[fit_rows], y[fit_rows], decay, params)
                with torch.no_grad():
                    logits = torch.addmm(params[1], x[val_rows], params[0])
                    loss = float(F.cross_entropy(logits, y[val_rows]))
                self.validation_loss_[decay] = loss
                if best is None or loss < best[0]:
                    best = (loss, decay, [p.detach().clone() for p in params])
                if _rose_twice(list(self.validation_loss_.values())):
                    break  # past the minimum: weaker decays fit slowly and do worse
            _, decay, start = best
            params = [p.requires_grad_() for p in start]
        else:
            decay = decays[0]
        self.n_iter_ = self._minimise(x, y, decay, params)
        self.coef_, self.intercept_ = params[0].detach().T, params[1].detach()
        self.chosen_ = {"weight_decay": decay}

    def _proba(self, x):
        return torch.softmax(torch.addmm(self.intercept_, x, self.coef_.T), 1)
