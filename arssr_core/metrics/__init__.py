"""Image-quality metrics of the study (the book's notebook 03 shows each on the test subject).

Full reference: :func:`psnr`, :func:`ssim` (3D), :func:`lpips` (slice-wise, three
orientations). No reference: :func:`psi`, :func:`lpc_si` (2D as the authors' code,
3D as the mean over foreground slices). Segmentation: :func:`dice`.
:func:`evaluate` and :func:`evaluate_no_reference` bundle them into a dict.
"""

from __future__ import annotations

from ..errors import DataError
from .checks import as_array, minmax, same_shape
from .fidelity import psnr, ssim
from .overlap import dice
from .perceptual import lpips
from .sharpness import lpc_si, psi

__all__ = ["psnr", "ssim", "lpips", "psi", "lpc_si", "dice", "evaluate", "evaluate_no_reference",
           "FULL_REFERENCE", "NO_REFERENCE"]

FULL_REFERENCE = ("psnr", "ssim", "lpips", "psi", "lpc_si")
NO_REFERENCE = ("psi", "lpc_si")


def evaluate(sr: object, gt: object, mask: object = None, *, normalize: bool = True,
             stride: int = 1, device: str | None = None,
             metrics: tuple[str, ...] = FULL_REFERENCE, skip: object = None) -> dict[str, float]:
    """All metrics of an SR volume against its GT: dict ``{name: value}`` for ``metrics``.

    ``sr``, ``gt``: same-shape 3D volumes. ``normalize``: min-max map each volume to
    [0, 1] first (the study's convention; a constant volume then raises :class:`DataError`).
    ``mask``: restricts PSNR and SSIM to its voxels (see :mod:`.fidelity`); slice-wise
    metrics always use the slices where the GT is not constant, every ``stride``-th, less those
    that hold a voxel of ``skip`` (a boolean volume: a region left out of the scores).
    PSI and LPC-SI are those of the SR volume. ``device`` runs LPIPS (default: CUDA
    if available).
    """
    a = as_array(sr, "sr", ndims=(3,))
    b = as_array(gt, "gt", ndims=(3,))
    same_shape(a, b)
    unknown = set(metrics) - set(FULL_REFERENCE)
    if unknown:
        raise DataError(f"unknown metric(s) {sorted(unknown)}; choose from {FULL_REFERENCE}")
    if normalize:
        a, b = minmax(a, "sr"), minmax(b, "gt")
    out: dict[str, float] = {}
    if "psnr" in metrics:
        out["psnr"] = psnr(a, b, mask=mask)
    if "ssim" in metrics:
        out["ssim"] = ssim(a, b, mask=mask)
    if "lpips" in metrics:
        out["lpips"] = lpips(a, b, stride=stride, device=device, skip=skip)
    if "psi" in metrics:
        out["psi"] = psi(a, ref=b, stride=stride, skip=skip)
    if "lpc_si" in metrics:
        out["lpc_si"] = lpc_si(a, ref=b, stride=stride, skip=skip)
    return out


def evaluate_no_reference(x: object, *, stride: int = 1, ref: object = None) -> dict[str, float]:
    """No-reference sharpness of a 3D volume: ``{"psi": ..., "lpc_si": ...}``.

    Slices where ``ref`` (default ``x`` itself) is not constant, every ``stride``-th.
    """
    a = as_array(x, "volume", ndims=(3,))
    return {"psi": psi(a, ref=ref, stride=stride), "lpc_si": lpc_si(a, ref=ref, stride=stride)}
