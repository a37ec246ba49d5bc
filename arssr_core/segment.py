"""Six-region segmentation of a T1 brain, as in the paper's section 4.5 (ANTs, 6 tissues).

Pipeline (ANTsPy, ``antspyx``):

1. :func:`register_atlas` registers the CAT12 T1 template (0.5 mm, resampled to the
   subject's voxel size) to the subject's ground-truth volume with ANTs ``SyN``
   (centre-of-mass start, affine stage, then SyN, ANTsPy's defaults) and warps the
   neuromorphometrics atlas, folded into the six regions below and smoothed, into the
   subject's grid as prior probability maps. This is done **once per subject** from the
   ground truth and cached on disk; every super-resolved result of that subject (same
   grid as the ground truth) is segmented with the same priors and the same brain mask,
   so only the image differs between them.
2. :func:`segment` runs 6-class Atropos with those priors on one image.

Labels (fixed, whatever the input):

====  ===========  ===========
label region       colour
====  ===========  ===========
0     background   (none)
1     CSF          red
2     GM           blue
3     WM           green
4     deep GM      yellow
5     brainstem    cyan
6     cerebellum   pink
====  ===========  ===========

Neuromorphometrics labels folded into the regions (``neuromorphometrics.csv`` of the CAT12 source, checked against
Colin27): CSF = 4, 11, 46, 49-52; WM = 44, 45; deep GM = 23, 30, 36, 37, 55-62;
brainstem = 35; cerebellum = 38-41, 71-73; GM = every other label > 0.

Brain mask: the ground-truth voxels above ``MASK_THRESHOLD`` (1 %) of the ground truth's
intensity range, holes filled, largest connected component. The inputs are skull-stripped
(Colin27 ``ch2bet``), so this is the brain; it is computed once from the ground truth and
shared by every result of the subject. Mask voxels that the warped atlas does not cover
(extra-cerebral tissue the skull stripping kept) get the CSF prior.

All arrays are in array-index order ``(X, Y, Z)`` with a 4x4 NIfTI affine (RAS, mm), as
nibabel gives them. Intensities are expected on the study's [0, 1] scale (:mod:`arssr_core.data.intensity`);
Atropos itself is insensitive to an affine change of intensities.
Determinism: the registration runs with a fixed ANTs random seed (:data:`SEED`) in a child
process with one ITK thread (``deterministic=True``, the default), which repeats bit for bit;
multi-threaded ANTs registration does not, even with a seed. Atropos runs in-process
(``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=2`` unless the caller set it), with a constant
internal seed and a fixed number of iterations; it repeats exactly.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
from scipy import ndimage

from .data.masks import largest_component
from .data.nifti import check_volume
from .errors import ArssrError, DataError
from .io_utils import atomic_path
from .store import stored

# ITK reads this once, when its thread pool is first built: set it before ANTs runs.
os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "2")

#: Region label -> name; label 0 is background (outside the brain mask).
REGION_NAMES: dict[int, str] = {1: "CSF", 2: "GM", 3: "WM", 4: "deep GM", 5: "brainstem", 6: "cerebellum"}
#: Region label -> the paper's colour (Fig. 9), as a matplotlib-readable hex string.
REGION_COLOURS: dict[int, str] = {
    1: "#ff0000",  # CSF red
    2: "#0000ff",  # GM blue
    3: "#00ff00",  # WM green
    4: "#ffff00",  # deep GM yellow
    5: "#00ffff",  # brainstem cyan
    6: "#ff80c0",  # cerebellum pink
}
N_REGIONS = len(REGION_NAMES)

#: Neuromorphometrics label -> region label; every other label > 0 is GM (2).
NEUROMORPHOMETRICS_TO_REGION: dict[int, int] = {
    **{k: 1 for k in (4, 11, 46, 49, 50, 51, 52)},
    **{k: 3 for k in (44, 45)},
    **{k: 4 for k in (23, 30, 36, 37, *range(55, 63))},
    35: 5,
    **{k: 6 for k in (38, 39, 40, 41, 71, 72, 73)},
}

MASK_THRESHOLD = 0.01  #: fraction of the ground truth's range above which a voxel is brain
PRIOR_SIGMA_MM = 1.0  #: Gaussian smoothing of the one-hot atlas regions before warping
PRIOR_WEIGHT = 0.25  #: Atropos prior weight (antsCorticalThickness uses 0.25)
MRF = "[0.1,1x1x1]"  #: Atropos MRF smoothing factor and radius (antsCorticalThickness: 0.1)
ITERATIONS = 5  #: Atropos iterations, all run (convergence threshold 0)
SEED = 20220101  #: ANTs random seed for the registration's metric sampling
#: Changes to the method invalidate the cache: bump when the priors would change.
CACHE_VERSION = "segment-v1"


@dataclass(frozen=True)
class AtlasPriors:
    """Warped atlas priors of one subject, on the subject's (ground-truth) grid.

    ``priors``: float32 ``(6, X, Y, Z)``, region probabilities in label order 1..6,
    summing to 1 inside ``mask`` and 0 outside. ``mask``: bool ``(X, Y, Z)`` brain mask.
    ``affine``: the grid's 4x4 affine (RAS, mm). ``key``: hash of the ground truth and
    affine (and :data:`CACHE_VERSION`). ``seconds``: wall time the registration took when
    it was computed; ``from_cache``: whether this object was read from the cache.
    """

    priors: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    key: str = field(metadata={"store_key": False})  # how it was made, not what it is:
    seconds: float = field(metadata={"store_key": False})  # left out of a result's key (:mod:`arssr_core.store`)
    from_cache: bool = field(default=False, metadata={"store_key": False})

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(X, Y, Z)``."""
        return tuple(self.mask.shape)  # type: ignore[return-value]

    def atlas_labels(self) -> np.ndarray:
        """Most probable prior region per voxel (uint8 ``(X, Y, Z)``, 0 outside the mask)."""
        return np.where(self.mask, np.argmax(self.priors, axis=0) + 1, 0).astype(np.uint8)


# --------------------------------------------------------------------------- checks


def _check_volume(volume: Any, what: str) -> np.ndarray:
    """Return ``volume`` as a finite float32 3-D array of at least 8 voxels per axis or raise
    :class:`DataError`."""
    arr = check_volume(volume, what)
    if min(arr.shape) < 8:
        raise DataError(f"{what}: volume of shape {arr.shape} is too small to segment (each axis >= 8 voxels)")
    return arr


def _check_affine(affine: Any, what: str) -> np.ndarray:
    """Return a 4x4 float64 affine without shear, or raise :class:`DataError`."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.isfinite(a).all():
        raise DataError(f"{what}: expected a finite 4x4 affine, got shape {a.shape}")
    if not np.allclose(a[3], [0, 0, 0, 1]):
        raise DataError(f"{what}: affine's last row is {a[3].tolist()}, expected [0, 0, 0, 1]")
    spacing = np.linalg.norm(a[:3, :3], axis=0)
    if (spacing <= 0).any():
        raise DataError(f"{what}: affine has a zero voxel size {spacing}")
    direction = a[:3, :3] / spacing
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise DataError(f"{what}: affine has shear (axes not orthogonal); resample to an orthogonal grid first")
    return a


# --------------------------------------------------------------------------- ANTs glue


def _ants():
    """Import ANTsPy (lazily: it is slow to import) or raise a clear error."""
    try:
        import ants
    except ImportError as e:  # pragma: no cover - antspyx is a declared dependency
        raise ArssrError("segmentation needs ANTsPy: pip install antspyx==0.6.3") from e
    return ants


_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def to_ants(volume: np.ndarray, affine: np.ndarray):
    """A float32 ANTsImage of ``volume`` (X, Y, Z) on the grid of a NIfTI ``affine``.

    ANTs works in LPS physical space, NIfTI affines in RAS: the first two axes of the
    origin and of the direction cosines change sign.
    """
    ants = _ants()
    # the grid as a NIfTI file keeps it (float32): Atropos reads its priors back from files and
    # refuses priors whose origin differs from the image's in the last bits (a 1.2 mm grid cut at 8)
    affine = np.asarray(affine, dtype=np.float32).astype(np.float64)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    direction = _RAS_TO_LPS @ (affine[:3, :3] / spacing)
    origin = _RAS_TO_LPS @ affine[:3, 3]
    return ants.from_numpy(
        np.ascontiguousarray(volume, dtype=np.float32),
        origin=tuple(float(v) for v in origin),
        spacing=tuple(float(v) for v in spacing),
        direction=direction,
    )


@contextlib.contextmanager
def _ants_seed(seed: int) -> Iterator[None]:
    """Run ANTs registrations with ``--random-seed seed``, restoring the global setting after."""
    ants = _ants()
    old = ants.config._random_seed
    ants.config._random_seed = seed
    try:
        yield
    finally:
        ants.config._random_seed = old


@functools.lru_cache(maxsize=1)
def _template_and_atlas() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CAT12 template (float32, its affine) and the folded 6-region atlas (uint8, its affine)."""
    import nibabel as nib

    from .data.sources import source_path

    t = nib.as_closest_canonical(nib.load(source_path("cat12", "Template_05mm_bet.nii.gz")))
    a = nib.as_closest_canonical(nib.load(source_path("cat12", "neuromorphometrics.nii.gz")))
    template = np.asarray(t.dataobj, dtype=np.float32)
    atlas = fold_neuromorphometrics(np.asarray(a.dataobj))
    return template, t.affine.copy(), atlas, a.affine.copy()


def fold_neuromorphometrics(labels: np.ndarray) -> np.ndarray:
    """Fold a neuromorphometrics label map into region labels 0..6 (uint8, same shape)."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        raise DataError(f"neuromorphometrics labels out of range [{labels.min()}, {labels.max()}]")
    lut = np.full(int(labels.max(initial=0)) + 1, 2, dtype=np.uint8)  # GM by default
    lut[0] = 0
    for k, region in NEUROMORPHOMETRICS_TO_REGION.items():
        if k < lut.size:
            lut[k] = region
    return lut[labels.astype(np.int64)]


def brain_mask(gt: np.ndarray) -> np.ndarray:
    """Brain mask of a skull-stripped volume: > 1 % of its range, holes filled, largest component."""
    lo, hi = float(gt.min()), float(gt.max())
    return ndimage.binary_fill_holes(largest_component(gt > lo + MASK_THRESHOLD * (hi - lo)))


# --------------------------------------------------------------------------- registration


def subject_key(gt: np.ndarray, affine: np.ndarray) -> str:
    """sha256 (hex) of the ground truth's values (as float32), shape and affine, and the method version."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    arr = np.ascontiguousarray(gt, dtype=np.float32)
    h.update(repr(arr.shape).encode())
    h.update(np.ascontiguousarray(affine, dtype=np.float64).tobytes())
    h.update(arr.tobytes())
    return h.hexdigest()


def cache_file(cache_dir: Path, key: str) -> Path:
    """Where the priors of the subject with ``key`` are cached."""
    return Path(cache_dir) / f"atlas_priors_{key[:20]}.npz"


def _quantise(priors: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Priors as uint8 (1/255 steps) for the cache, and the float32 priors they decode to."""
    q = np.rint(np.clip(priors, 0, 1) * 255).astype(np.uint8)
    return q, _dequantise(q, mask)


def _dequantise(q: np.ndarray, mask: np.ndarray) -> np.ndarray:
    p = q.astype(np.float32)
    total = p.sum(axis=0)
    empty = mask & (total <= 0)
    p[0][empty] = 1.0  # cannot happen after _priors_in_subject, but keep the sums at 1
    total[empty] = 1.0
    np.divide(p, np.where(total > 0, total, 1.0), out=p)
    p *= mask
    return p


def register_atlas(
    gt: np.ndarray,
    affine: np.ndarray,
    cache_dir: Path | str | None = None,
    *,
    seed: int = SEED,
    deterministic: bool = True,
    verbose: bool = False,
) -> AtlasPriors:
    """Register the CAT12 template to a subject and warp the 6-region atlas priors onto it.

    ``gt``: the subject's ground-truth volume ``(X, Y, Z)``, skull-stripped, any intensity
    scale (min-max normalised here); ``affine``: its 4x4 affine (RAS, mm). With
    ``cache_dir``, the result is read from / written to
    ``cache_dir/atlas_priors_<hash>.npz`` (compressed uint8 priors + mask) keyed by
    :func:`subject_key`, so the registration (about 1 min at 1 mm on 2 cores) runs once
    per subject. The returned priors are the same whether read from the cache or not.

    ``deterministic``: ANTs registration with several threads differs slightly from run to
    run even with a fixed seed (about 0.2 % of the voxels change their most probable prior
    at 2 mm). With ``True`` (default) the registration runs in a child process with one ITK
    thread, which repeats bit for bit but takes longer; ``False`` runs it in this process
    with its ITK threads. Either way the cache makes every result of a subject share one
    registration (the flag is not part of the cache key).
    """
    gt = _check_volume(gt, "ground truth")
    affine = _check_affine(affine, "ground truth")
    if float(gt.max() - gt.min()) <= 0:
        raise DataError("ground truth: volume is constant; nothing to register")
    key = subject_key(gt, affine)
    path = cache_file(Path(cache_dir), key) if cache_dir is not None else None
    if path is not None and path.exists():
        cached = _load_cache(path, key, gt.shape)
        if cached is not None:
            return cached

    t0 = time.perf_counter()
    mask = brain_mask(gt)
    if deterministic:
        priors = _priors_single_thread(gt, affine, mask, seed=seed)
    else:
        priors = _priors_in_subject(gt, affine, mask, seed=seed, verbose=verbose)
    seconds = time.perf_counter() - t0
    q, priors = _quantise(priors, mask)
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, priors=q, mask=mask, affine=affine, key=np.array(key),
                                    seconds=np.array(seconds))
    return AtlasPriors(priors=priors, mask=mask, affine=affine, key=key, seconds=seconds)


def _load_cache(path: Path, key: str, shape: tuple[int, ...]) -> AtlasPriors | None:
    """Read cached priors; ``None`` (recompute) if the file is unreadable or not this subject's."""
    try:
        with np.load(path) as z:
            if str(z["key"]) != key:
                return None
            q, mask, affine, seconds = z["priors"], z["mask"].astype(bool), z["affine"], float(z["seconds"])
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if q.shape != (N_REGIONS, *shape) or mask.shape != shape:
        return None
    return AtlasPriors(priors=_dequantise(q, mask), mask=mask, affine=affine, key=key, seconds=seconds,
                       from_cache=True)


def _priors_single_thread(gt: np.ndarray, affine: np.ndarray, mask: np.ndarray, *, seed: int) -> np.ndarray:
    """:func:`_priors_in_subject` in a child Python with one ITK thread: repeatable bit for bit.

    ITK reads its thread count once per process, so a fresh process is the only way to
    change it; the arrays travel through a temporary folder.
    """
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(prefix="arssr_reg1_") as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "priors.npy"
        np.savez(inp, gt=gt, affine=affine, mask=mask)
        env = {**os.environ, "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1"}
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        code = ("import sys; from arssr_core.segment import _registration_child; "
                "_registration_child(sys.argv[1], sys.argv[2], int(sys.argv[3]))")
        run = subprocess.run([sys.executable, "-c", code, str(inp), str(out), str(seed)],
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            raise ArssrError(f"single-thread ANTs registration failed in its child process:\n{run.stderr[-2000:]}")
        return np.load(out)


def _registration_child(inp: str, out: str, seed: int) -> None:
    """Entry point of the child process of :func:`_priors_single_thread`."""
    with np.load(inp) as z:
        priors = _priors_in_subject(z["gt"], z["affine"], z["mask"], seed=seed, verbose=False)
    np.save(out, priors)


def _priors_in_subject(gt: np.ndarray, affine: np.ndarray, mask: np.ndarray, *, seed: int,
                       verbose: bool) -> np.ndarray:
    """SyN template -> subject, then warp the smoothed one-hot regions: float32 ``(6, X, Y, Z)``."""
    ants = _ants()
    template, t_affine, atlas, a_affine = _template_and_atlas()
    lo, hi = float(gt.min()), float(gt.max())
    fixed = to_ants((gt - lo) / (hi - lo), affine)

    # Template at the subject's voxel size (never finer than its own 0.5 mm), low-passed first.
    t_img = to_ants(template, t_affine)
    spacing = np.maximum(np.linalg.norm(affine[:3, :3], axis=0), 0.5)
    if not np.allclose(spacing, 0.5):
        sigma = np.sqrt(np.maximum(spacing**2 - 0.25, 0)) / 2.355  # FWHM of the new voxel
        t_img = ants.smooth_image(t_img, sigma=tuple(float(s) for s in sigma), sigma_in_physical_coordinates=True)
        t_img = ants.resample_image(t_img, tuple(float(s) for s in spacing), use_voxels=False, interp_type=0)

    with tempfile.TemporaryDirectory(prefix="arssr_reg_") as tmp, _ants_seed(seed):
        try:
            reg = ants.registration(fixed=fixed, moving=t_img, type_of_transform="SyN",
                                    outprefix=str(Path(tmp) / "t2s_"), verbose=verbose)
        except Exception as e:  # ANTs reports failures as bare RuntimeErrors
            raise ArssrError(f"ANTs registration of the CAT12 template to the subject failed: {e}") from e
        a_spacing = np.linalg.norm(a_affine[:3, :3], axis=0)
        priors = np.zeros((N_REGIONS, *gt.shape), dtype=np.float32)
        for r in range(1, N_REGIONS + 1):
            onehot = ndimage.gaussian_filter((atlas == r).astype(np.float32), PRIOR_SIGMA_MM / a_spacing)
            warped = ants.apply_transforms(fixed=fixed, moving=to_ants(onehot, a_affine),
                                           transformlist=reg["fwdtransforms"], interpolator="linear")
            priors[r - 1] = np.clip(warped.numpy(), 0, 1)

    # Inside the mask, what the atlas leaves uncovered is CSF; normalise to sum 1.
    priors[0] += np.clip(1.0 - priors.sum(axis=0), 0, 1)
    priors /= np.maximum(priors.sum(axis=0), 1e-6)
    priors *= mask
    return priors


# --------------------------------------------------------------------------- segmentation


@stored("arssr_core.segment", ignore=("what",))
def segment(
    image: np.ndarray,
    affine: np.ndarray,
    priors: AtlasPriors,
    *,
    prior_weight: float = PRIOR_WEIGHT,
    iterations: int = ITERATIONS,
    mrf: str = MRF,
    what: str = "image",
) -> np.ndarray:
    """6-class Atropos segmentation of ``image`` with the subject's atlas ``priors``.

    ``image``: ``(X, Y, Z)`` on the same grid as the ground truth the priors came from
    (``affine`` must match ``priors.affine``), intensities in [0, 1]. Returns uint8
    labels ``(X, Y, Z)``: 0 outside ``priors.mask``, 1..6 as :data:`REGION_NAMES`
    (its time: ``benchmarks/bench_segment.py``).
    """
    image = _check_volume(image, what)
    affine = _check_affine(affine, what)
    if not isinstance(priors, AtlasPriors):
        raise DataError(f"{what}: priors must be an AtlasPriors from register_atlas, got {type(priors).__name__}")
    if image.shape != priors.shape:
        raise DataError(f"{what}: shape {image.shape} does not match the atlas priors' grid {priors.shape} "
                        "(segment results on the ground truth's grid)")
    if not np.allclose(affine, priors.affine, atol=1e-4):
        raise DataError(f"{what}: affine differs from the ground truth's the priors were registered to")
    inside = image[priors.mask]
    if inside.size == 0 or float(inside.max() - inside.min()) <= 0:
        raise DataError(f"{what}: intensities are constant inside the brain mask; nothing to segment")
    if iterations < 1:
        raise DataError(f"iterations must be >= 1, got {iterations}")

    ants = _ants()
    from ants.internal import get_lib_fn, get_pointer_string, process_arguments

    img = to_ants(image, affine)
    mask = to_ants(priors.mask.astype(np.float32), affine).clone("unsigned int")
    out = img.clone("unsigned int")
    with tempfile.TemporaryDirectory(prefix="arssr_atropos_") as tmp:
        pattern = str(Path(tmp) / "prior%02d.nii")
        for r in range(N_REGIONS):
            ants.image_write(to_ants(priors.priors[r], affine), pattern % (r + 1))
        args = {
            "d": 3,
            "a": img,
            "m-MULTINAME-0": mrf,
            "o": f"[{get_pointer_string(out)}]",
            "c": f"[{int(iterations)},0]",
            "i": f"PriorProbabilityImages[{N_REGIONS},{pattern},{float(prior_weight)}]",
            "x": mask,
            "r": 0,  # constant internal seed (Atropos seeds from the clock by default)
        }
        try:
            rc = get_lib_fn("Atropos")(process_arguments(args))
        except Exception as e:
            raise ArssrError(f"{what}: Atropos failed: {e}") from e
        if rc != 0:
            raise ArssrError(f"{what}: Atropos exited with status {rc}")
    labels = out.numpy().astype(np.uint8)
    labels[~priors.mask] = 0
    return labels


def segment_subject(
    gt: np.ndarray,
    affine: np.ndarray,
    others: Mapping[str, np.ndarray],
    cache_dir: Path | str | None = None,
    **kwargs: Any,
) -> dict[str, np.ndarray]:
    """Segment a subject's ground truth and each of its results with one registration.

    ``others``: name -> volume on the ground truth's grid (e.g. ``{"arssr": sr, "cubic": up}``).
    Returns ``{"gt": labels, **{name: labels}}``, uint8 ``(X, Y, Z)`` each. Every volume is
    checked before any work starts; ``kwargs`` go to :func:`segment`.
    """
    gt = _check_volume(gt, "ground truth")
    if "gt" in others:
        raise DataError("others: the name 'gt' is reserved for the ground truth")
    for name, vol in others.items():
        arr = _check_volume(vol, f"result '{name}'")
        if arr.shape != gt.shape:
            raise DataError(f"result '{name}': shape {arr.shape} differs from the ground truth's {gt.shape}")
    priors = register_atlas(gt, affine, cache_dir)
    out = {"gt": segment(gt, affine, priors, what="ground truth", **kwargs)}
    for name, vol in others.items():
        out[name] = segment(vol, affine, priors, what=f"result '{name}'", **kwargs)
    return out


def region_means(image: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean intensity of ``image`` per region name (NaN for an empty region)."""
    return {name: float(image[labels == k].mean()) if (labels == k).any() else float("nan")
            for k, name in REGION_NAMES.items()}
