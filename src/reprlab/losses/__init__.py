"""Robust and adaptive losses (Barron, "A General and Adaptive Robust Loss Function", CVPR 2019).

- `general_loss` (alias `rho`): the general robust loss rho(x, alpha, c).
- Named cases (`l2_loss`, `cauchy_loss`, ... and their modules) and `get_loss(name, **kwargs)`;
  registry names are hyphenated (``geman-mcclure``; ``smooth-l1`` is Barron's alpha = 1 case).
- The distribution: `log_partition`, `nll`, `sample`.
- Adaptive modules: `AdaptiveLoss`, `StudentTLoss`, and `AdaptiveImageLoss` over pixel, DCT or
  wavelet representations in RGB or YUV (`reprlab.losses.transforms`); `fit_adaptive` fits
  one alpha and scale to 1-D data.
- Metric learning: `magnet_loss`/`MagnetLoss` (Rippel et al. 2016), `RepMetLoss` (Karlinsky et al.
  2019), pytorch-metric-learning losses; imported on first use, as they load that library.
"""

import importlib

from reprlab.losses.adaptive import AdaptiveLoss, StudentTLoss, fit_adaptive
from reprlab.losses.distribution import log_partition, nll, sample
from reprlab.losses.general import general_loss, rho
from reprlab.losses.image import AdaptiveImageLoss
from reprlab.losses.named import (
    LOSSES,
    CauchyLoss,
    CharbonnierLoss,
    GemanMcClureLoss,
    GeneralLoss,
    HuberLoss,
    L1Loss,
    L2Loss,
    SmoothL1Loss,
    TorchSmoothL1Loss,
    WelschLoss,
    cauchy_loss,
    charbonnier_loss,
    geman_mcclure_loss,
    general_robust_loss,
    get_loss,
    huber_loss,
    l1_loss,
    l2_loss,
    smooth_l1_loss,
    torch_smooth_l1_loss,
    welsch_loss,
)
from reprlab.losses.transforms import (
    RGB_TO_YUV,
    dct2,
    dwt2,
    idct2,
    idwt2,
    rgb_to_yuv,
    yuv_to_rgb,
)

MSELoss = L2Loss
mse_loss = l2_loss

_METRIC_LEARNING = {
    "MagnetLoss": "magnet",
    "magnet_loss": "magnet",
    "magnet_terms": "magnet",
    "RepMetLoss": "repmet",
    "repmet_loss": "repmet",
    "representative_labels": "repmet",
}


def __getattr__(name: str):
    if name in _METRIC_LEARNING:
        module = importlib.import_module(f"reprlab.losses.{_METRIC_LEARNING[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'reprlab.losses' has no attribute {name!r}")


__all__ = [
    "LOSSES",
    "RGB_TO_YUV",
    "AdaptiveImageLoss",
    "AdaptiveLoss",
    "CauchyLoss",
    "CharbonnierLoss",
    "GemanMcClureLoss",
    "GeneralLoss",
    "HuberLoss",
    "L1Loss",
    "L2Loss",
    "MSELoss",
    "MagnetLoss",
    "RepMetLoss",
    "SmoothL1Loss",
    "StudentTLoss",
    "TorchSmoothL1Loss",
    "WelschLoss",
    "cauchy_loss",
    "charbonnier_loss",
    "dct2",
    "dwt2",
    "fit_adaptive",
    "geman_mcclure_loss",
    "general_loss",
    "general_robust_loss",
    "get_loss",
    "huber_loss",
    "idct2",
    "idwt2",
    "l1_loss",
    "l2_loss",
    "log_partition",
    "magnet_loss",
    "magnet_terms",
    "mse_loss",
    "nll",
    "repmet_loss",
    "representative_labels",
    "rgb_to_yuv",
    "rho",
    "sample",
    "smooth_l1_loss",
    "torch_smooth_l1_loss",
    "welsch_loss",
    "yuv_to_rgb",
]
