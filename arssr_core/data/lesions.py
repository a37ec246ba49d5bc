"""Synthetic white-matter lesions inserted into a healthy T1 volume, mask kept.

No registry ships a white-matter lesion volume (see :mod:`.sources`), so the lesion
test set adds synthetic lesions to Colin27 and labels them synthetic.

White-matter mask (:func:`white_matter_mask`). The mask comes from the subject's own
intensities: a 3-class multi-Otsu split of the brain voxels (non-zero voxels of the
skull-stripped volume; CSF < GM < WM on T1), the brightest class kept, opened to drop
thin strands, its largest connected component kept. On a T1 the brightest class also
holds deep grey matter (thalamus, pallidum) and the brainstem, so an optional
``prior`` restricts it: :func:`prior_on_grid` resamples a WM probability map through
world coordinates (no registration) and voxels where it is below ``prior_threshold``
are dropped. For Colin27 the prior is the MNI152 2009a WM probability map: Colin27 is
itself in MNI space (its world coordinates agree with the template's to a few mm), so
the prior only has to say "cerebral white matter is around here"; the exact border
comes from Colin27's intensities. Partial-volume voxels at the WM/GM border may fall
either way, which is why lesions go into an *eroded* WM mask (``margin_mm``).

Lesions (:func:`insert_lesions`). Each lesion is a smooth random blob: a Gaussian
envelope ``exp(-(r / R)^2)`` around a centre drawn inside the eroded WM, plus a
Gaussian-smoothed random field (``irregularity``) that makes the outline lumpy,
thresholded at 0.5 and intersected with the eroded WM mask, so every lesion voxel is
white matter by construction. Radius ``R`` is drawn in ``radius_mm``; contrast is
hypointense (a fraction ``hypo`` of the local WM intensity, like T1 black holes) or
hyperintense (a fraction ``hyper`` of the way from the local WM intensity to the
maximum 1, so bright lesions differ in brightness instead of all clipping at 1),
chosen with probability ``p_hypo``. "Local" is the mean of the lesion's median
intensity and the WM median. Intensities are blended
with a slightly smoothed weight so the edge is not a hard step, and the weight is
zero outside the (non-eroded) WM mask: no voxel outside white matter changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from skimage.filters import threshold_multiotsu

from ..errors import DataError
from .masks import largest_component
from .nifti import check_volume


def prior_on_grid(prior: np.ndarray, prior_affine: np.ndarray, shape: Sequence[int],
                  affine: np.ndarray) -> np.ndarray:
    """A map given on one grid, linearly resampled onto another through world coordinates (0 outside)."""
    m = np.linalg.inv(np.asarray(prior_affine, dtype=np.float64)) @ np.asarray(affine, dtype=np.float64)
    return ndimage.affine_transform(np.asarray(prior, dtype=np.float32), m[:3, :3], m[:3, 3], output_shape=tuple(shape),
                                    order=1, mode="constant", cval=0.0)


def white_matter_mask(data: np.ndarray, brain: np.ndarray | None = None, prior: np.ndarray | None = None,
                      prior_threshold: float = 0.5) -> tuple[np.ndarray, dict]:
    """WM of a skull-stripped T1: brightest of 3 multi-Otsu classes of the brain voxels,
    restricted to ``prior >= prior_threshold`` when a prior (on the same grid) is given.

    ``brain`` defaults to the non-zero voxels. Returns the mask and the thresholds.
    """
    data = check_volume(data, "white-matter input")
    brain = data > 0 if brain is None else np.asarray(brain, dtype=bool)
    vals = data[brain]
    if vals.size < 100:
        raise DataError("white-matter mask: fewer than 100 brain voxels")
    thr = threshold_multiotsu(vals, classes=3)
    wm = brain & (data > thr[1])
    if prior is not None:
        wm &= np.asarray(prior) >= prior_threshold
    wm = ndimage.binary_opening(wm, structure=ndimage.generate_binary_structure(3, 1))
    wm = largest_component(wm)
    method = "3-class multi-Otsu of brain voxels, brightest class, opened, largest component"
    if prior is not None:
        method += f"; restricted to WM prior >= {prior_threshold:g}"
    return wm, {"method": method,
                "thresholds": [float(t) for t in thr], "voxels": int(wm.sum())}


@dataclass(frozen=True)
class LesionParams:
    """Settings of :func:`insert_lesions` (lengths in mm)."""

    count: int = 8
    radius_mm: tuple[float, float] = (2.0, 7.0)
    irregularity: float = 0.4
    margin_mm: float = 2.0
    p_hypo: float = 0.6
    hypo: tuple[float, float] = (0.35, 0.7)
    hyper: tuple[float, float] = (0.3, 0.8)
    edge_sigma_mm: float = 0.6
    min_voxels: int = 4


def insert_lesions(data: np.ndarray, wm: np.ndarray, voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
                   seed: int = 0, params: LesionParams = LesionParams()) -> tuple[np.ndarray, np.ndarray, dict]:
    """Add synthetic lesions inside ``wm`` to ``data`` (in [0, 1]).

    Returns ``(volume, lesion_mask, info)``; ``lesion_mask`` is a subset of ``wm``,
    ``info["lesions"]`` lists each lesion's centre (voxels), radius, contrast and size.
    """
    data = check_volume(data, "lesion input")
    wm = np.asarray(wm, dtype=bool)
    if wm.shape != data.shape:
        raise DataError(f"lesion input: WM mask shape {wm.shape} differs from the volume's {data.shape}")
    vs = np.asarray(voxel_size, dtype=np.float64)
    rng = np.random.default_rng(seed)
    # eroded WM: lesion voxels keep a margin from the grey-matter border
    inner = wm.copy()
    steps = max(0, int(round(params.margin_mm / float(vs.min()))))
    if steps:
        inner = ndimage.binary_erosion(wm, structure=ndimage.generate_binary_structure(3, 1), iterations=steps)
    if not inner.any():
        raise DataError("lesion input: the eroded white-matter mask is empty")
    candidates = np.argwhere(inner)
    wm_level = float(np.median(data[wm]))
    out = data.copy()
    mask = np.zeros(data.shape, dtype=bool)
    lesions = []
    tries = 0
    while len(lesions) < params.count and tries < 20 * params.count:
        tries += 1
        c = candidates[rng.integers(len(candidates))]
        R = float(rng.uniform(*params.radius_mm))
        half = np.ceil(2.0 * R / vs).astype(int) + 1
        lo = np.maximum(c - half, 0)
        hi = np.minimum(c + half + 1, data.shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        grids = np.meshgrid(*[(np.arange(a, b) - cc) * v for a, b, cc, v in zip(lo, hi, c, vs)], indexing="ij")
        r2 = sum(g * g for g in grids)
        noise = ndimage.gaussian_filter(rng.standard_normal(r2.shape), sigma=max(0.5 * R / vs.mean(), 0.7))
        noise /= max(float(noise.std()), 1e-6)
        field = np.exp(-r2 / (R * R)) + params.irregularity * 0.5 * noise
        blob = (field > 0.5) & inner[box] & ~mask[box]
        blob = largest_component(blob) if blob.any() else blob
        if blob.sum() < params.min_voxels or not blob[tuple(c - lo)]:
            continue
        hypo = bool(rng.random() < params.p_hypo)
        factor = float(rng.uniform(*(params.hypo if hypo else params.hyper)))
        local = float(np.median(data[box][blob]))
        base = 0.5 * (local + wm_level)
        target = factor * base if hypo else base + factor * (1.0 - base)
        w = ndimage.gaussian_filter(blob.astype(np.float32), sigma=params.edge_sigma_mm / vs)
        w = np.maximum(w, blob) * wm[box]  # full effect inside, soft edge, nothing outside WM
        out[box] = (1.0 - w) * out[box] + w * target
        mask[box] |= blob
        lesions.append({"centre_vox": [int(v) for v in c], "radius_mm": R, "contrast": "hypo" if hypo else "hyper",
                        "factor": factor, "intensity": target, "voxels": int(blob.sum())})
    if not lesions:
        raise DataError("lesion input: no lesion fitted inside the white-matter mask")
    info = {"params": asdict(params), "seed": seed, "lesions": lesions, "wm_median": wm_level}
    return np.clip(out, 0.0, 1.0).astype(np.float32), mask, info
