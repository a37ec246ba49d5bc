"""Models: ArSSR (encoders RDN, ResCNN, SRResNet + MLP decoder) and the per-scale baselines.

``build_model(name, **config)`` with names ``arssr-rdn``, ``arssr-rescnn``,
``arssr-srresnet``, ``srcnn3d``, ``dcsrn``, ``rescnn`` (and the parts ``rdn``,
``rescnn_encoder``, ``srresnet``, ``arssr_mlp``, ``arssr``).
"""

from . import arssr, baselines, mlp, rdn, rescnn, srresnet  # noqa: F401  (registration)
from .arssr import ArSSR
from .registry import build_model, names, register

#: Names of the study's models (the parts are registered too).
STUDY_MODELS = ("arssr-rdn", "arssr-rescnn", "arssr-srresnet", "srcnn3d", "dcsrn", "rescnn")
BASELINES = ("srcnn3d", "dcsrn", "rescnn")


def is_arssr(model) -> bool:
    """True for an implicit (any-scale) model, False for a per-scale baseline."""
    return isinstance(model, ArSSR)


def count_parameters(module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["ArSSR", "BASELINES", "STUDY_MODELS", "build_model", "count_parameters", "is_arssr", "names", "register"]
