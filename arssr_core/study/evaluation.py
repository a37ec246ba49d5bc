"""The experiments' loops: make LR inputs, super-resolve with every method, score, cache.

A method is ``"cubic"``, an ArSSR checkpoint (any scale) or a per-scale baseline
checkpoint (its one scale). SR volumes are cached as ``.npy`` under
``results/<profile>/cache/`` (not committed) keyed by subject, method and scale, so a
rerun of a notebook only scores what is new.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data.degrade import downsample, resize_cubic
from ..data.volumes import foreground_box
from ..errors import DataError, RequestError
from ..metrics import registry as metric_registry
from .experiments import baseline_checkpoint, run_dir
from .methods import display_name
from .. import io_utils
from ..io_utils import atomic_path
from ..paths import REPO_ROOT, results_dir
from ..profiles import load_profile

#: Direction of each metric: +1 higher is better, -1 lower is better (:mod:`arssr_core.metrics.registry`).
BETTER = metric_registry.directions()


def metric_label(metric: str) -> str:
    """How a metric is written for a reader: ``psnr`` -> ``PSNR``, ``lpc_si`` -> ``LPC-SI``,
    ``profile_spread`` -> ``profile spread`` (:func:`arssr_core.metrics.registry.label`)."""
    return metric_registry.label(metric)


@dataclass(frozen=True)
class Method:
    """How to make an SR volume: ``kind`` cubic | arssr | baseline; ``checkpoint`` path (ArSSR);
    ``model`` the registry name of a baseline, whose checkpoint depends on the scale;
    ``scales`` the scales it accepts (None = any)."""

    name: str
    kind: str
    checkpoint: str | None = None
    scales: tuple[float, ...] | None = None
    model: str | None = None
    seed: int = 0  # training seed of the run (0: the committed run; :mod:`arssr_core.study.seeds`)

    def accepts(self, scale: float | Sequence[float]) -> bool:
        if self.scales is None:
            return True
        s = np.atleast_1d(np.asarray(scale, dtype=float))
        return bool(np.allclose(s, s[0]) and any(abs(s[0] - t) < 1e-6 for t in self.scales))


def cubic_method() -> Method:
    return Method("Cubic", "cubic")


def arssr_method(profile: str, encoder: str = "rdn", label: str | None = None) -> Method:
    """The ArSSR model a profile trained (the committed pretrained one for RDN in ``cpu``)."""
    cfg = load_profile(profile)
    pre = cfg["arssr"].get("pretrained")
    if encoder == "rdn" and pre and (REPO_ROOT / pre).exists():
        ckpt = REPO_ROOT / pre
    else:
        ckpt = run_dir(profile, f"arssr-{encoder}") / "best.pt"
    return Method(label or display_name("arssr" if encoder == "rdn" else f"arssr-{encoder}"), "arssr", str(ckpt))


def continued_method(profile: str, section: str, label: str) -> Method:
    """ArSSR-RDN continued beyond the paper (profile ``section``: ``anisotropic``, on thick-slice
    samples as well, or ``isotropic_control``): the committed checkpoint where the profile names
    one, else the profile's own run."""
    from .experiments import SECTION_TAGS

    pre = (load_profile(profile).get(section) or {}).get("pretrained")
    ckpt = REPO_ROOT / pre if pre and (REPO_ROOT / pre).exists() else run_dir(profile, SECTION_TAGS[section]) / "best.pt"
    return Method(label, "arssr", str(ckpt))


def baseline_methods(profile: str, models: Sequence[str] | None = None) -> list[Method]:
    """One method per baseline model, dispatching to its per-scale checkpoints: the profile's
    ``baselines.models`` in its order, or only those of them named in ``models``."""
    cfg = load_profile(profile)["baselines"]
    unknown = sorted(set(models or ()) - set(cfg["models"]))
    if unknown:
        raise RequestError(f"profile {profile!s}: no baseline named {', '.join(unknown)} "
                          f"(its baselines.models: {', '.join(cfg['models'])})")
    out = []
    for model in cfg["models"]:
        if models is not None and model not in models:
            continue
        scales = tuple(float(s) for s in cfg["scales"])
        out.append(Method(display_name(model), "baseline",
                          scales=scales, model=model))
    return out


def evaluation_subjects(profile: str, crop: int | None = None, first_only: bool = False) -> list[dict[str, Any]]:
    """Every test subject of the profile's prepared catalog (the registry's Colin27 and the
    skull-stripped MRBrainTumor2, or a user's HCP or BIDS test split; ``first_only``: just the
    first): ``[{"name", "title", "gt", "affine", "box", "exclude"}]``, ``gt`` the whole volume (normalised
    by ``prepare`` with the training rule), ``box`` the slices of a brain-centred cube of
    ``crop`` voxels (``data.eval_crop``; None = whole) and ``exclude`` the voxels left out of
    the healthy-tissue scores (the record's ``exclude`` mask: a tumour and its rim), or None."""
    from ..data import catalog
    from ..data.prepare import ensure_prepared

    ensure_prepared(profile)
    if crop is None:
        crop = load_profile(profile)["data"].get("eval_crop")
    recs = catalog.records(profile, role="test")
    if not recs:
        raise DataError(f"{catalog.catalog_path(profile)}: no test records")
    out = []
    for rec in recs[:1] if first_only else recs:
        vol = catalog.load(profile, rec)
        gt = np.asarray(vol.data, dtype=np.float32)
        exclude = catalog.load_mask(profile, rec, "exclude") > 0.5 if "exclude" in rec.get("masks", {}) else None
        out.append({"name": rec["name"], "title": rec.get("title", rec["name"]), "gt": gt, "affine": vol.affine,
                    "box": centre_box(gt, crop), "exclude": exclude})
    return out


def evaluation_volume(profile: str, crop: int | None = None) -> np.ndarray:
    """The (first) test subject, cut to a brain-centred cube of ``crop`` voxels
    (``data.eval_crop``; None = whole): Colin27 ``ch2bet`` with the registry data."""
    full, _, box = evaluation_grid(profile, crop)
    return np.ascontiguousarray(full[box])


def evaluation_grid(profile: str, crop: int | None = None) -> tuple[np.ndarray, np.ndarray, tuple[slice, ...]]:
    """(whole normalised test volume, its affine, the evaluation crop's slices) of the first
    test subject (:func:`evaluation_subjects`)."""
    s = evaluation_subjects(profile, crop, first_only=True)[0]
    return s["gt"], s["affine"], s["box"]


def main_test(profile: str, methods: Sequence["Method"], scales: Iterable[float], stride: int = 1,
              crop: int | None = None, progress: bool = True) -> tuple[pd.DataFrame, dict[str, dict], list[dict]]:
    """Paper Table 1 on every test subject: each subject's evaluation region down-sampled at
    each scale and super-resolved by each method (:func:`sr_grid`), scored
    (:func:`score_grid`, each subject's ``exclude`` region left out). Returns the table (a
    ``subject`` column first), the SR volumes ``{subject: {(method, scale): volume}}`` and the
    subjects (:func:`evaluation_subjects`, ``gt`` and ``exclude`` cut to the region)."""
    scales = list(scales)
    subjects = [{**s, "gt": np.ascontiguousarray(s["gt"][s["box"]]),
                 "exclude": None if s["exclude"] is None else np.ascontiguousarray(s["exclude"][s["box"]])}
                for s in evaluation_subjects(profile, crop)]
    tables, srs_by = [], {}
    for s in subjects:
        srs = sr_grid(profile, s["name"], s["gt"], methods, scales, progress=progress)
        srs_by[s["name"]] = srs
        tables.append(score_grid(s["gt"], srs, stride=stride, exclude=s["exclude"], progress=progress)
                      .assign(subject=s["name"]))
    table = pd.concat(tables, ignore_index=True)
    return table[["subject"] + [c for c in table.columns if c != "subject"]], srs_by, subjects


def centre_box(gt: np.ndarray, crop: int | None) -> tuple[slice, ...]:
    """Slices of a cube of ``crop`` voxels centred on the foreground's bounding box (all if None)."""
    if not crop:
        return tuple(slice(0, n) for n in gt.shape)
    box = foreground_box(gt)
    return crop_around(gt, [(s.start + s.stop) // 2 for s in box], crop)


_MODELS: dict[tuple[str, int], object] = {}


def _model(path: str | Path):
    """Load (once per file version) an SR checkpoint on the auto-detected device."""
    from ..device import pick_device
    from ..infer.engine import load_sr_model

    path = Path(path)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = load_sr_model(path, device=pick_device("auto"))[0]
    return _MODELS[key]


def super_resolve_with(method: Method, lr: np.ndarray, out_shape: Sequence[int], scale: float | Sequence[float],
                       profile: str | None = None, precision: str | None = None, progress: bool = False) -> np.ndarray:
    """SR of an LR array onto ``out_shape`` with one method (float32, same FOV).

    ``precision`` defaults to the profile's ``eval.precision``.
    """
    from ..device import pick_device
    from ..infer.engine import apply_cnn, super_resolve

    if precision is None:
        precision = load_profile(profile).get("eval", {}).get("precision", "auto") if profile else "auto"
    dev = pick_device("auto")
    if method.kind == "cubic":
        return resize_cubic(lr, out_shape)
    if method.kind == "arssr":
        return super_resolve(_model(method.checkpoint), lr, out_shape, precision=precision, device=dev,
                             progress=progress)
    if method.kind == "baseline":
        s = float(np.atleast_1d(scale)[0])
        ckpt = baseline_checkpoint(profile, method.model, s, method.seed)
        return apply_cnn(_model(ckpt), lr, out_shape, precision=precision, device=dev, progress=progress)
    raise ValueError(f"unknown method kind '{method.kind}'")


def file_digest(path: str | Path) -> str:
    """SHA-1 of a file's bytes ("missing" if there is none): the super-resolution cache's key of
    a checkpoint, so a checkpoint copied or checked out afresh keeps its key."""
    return io_utils.file_digest(path, "sha1") if Path(path).exists() else "missing"


def _key(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:16]


def cached_sr(profile: str, subject: str, method: Method, lr: np.ndarray, out_shape: Sequence[int],
              scale: float | Sequence[float], redo: bool = False) -> np.ndarray:
    """:func:`super_resolve_with`, cached on disk by (engine version, subject, method, the
    checkpoint's content, precision, scale, LR's content)."""
    from ..infer.engine import ENGINE_VERSION

    ck = ""
    if method.kind == "arssr":
        ck = file_digest(method.checkpoint)
    elif method.kind == "baseline":
        ck = file_digest(baseline_checkpoint(profile, method.model, float(np.atleast_1d(scale)[0]), method.seed))
    from ..device import pick_device, pick_precision

    prec = pick_precision(load_profile(profile).get("eval", {}).get("precision", "auto"), pick_device("auto"))
    key = _key(ENGINE_VERSION, subject, method.name, method.kind, method.model, ck, prec,  # ck: the weights themselves
               np.round(np.atleast_1d(scale), 4).tolist(),
               tuple(out_shape), hashlib.sha1(np.ascontiguousarray(lr).tobytes()).hexdigest())
    path = results_dir(profile) / "cache" / "sr" / f"{subject}-{method.name}-{key}.npy"
    if path.exists() and not redo:
        return np.load(path)
    sr = super_resolve_with(method, lr, out_shape, scale, profile)
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, sr.astype(np.float32))
    return sr


def sr_grid(profile: str, subject: str, gt: np.ndarray, methods: Iterable[Method], scales: Iterable[float],
            progress: bool = True) -> dict[tuple[str, float], np.ndarray]:
    """SR of ``gt`` down-sampled at each scale by each method that accepts that scale:
    ``{(method name, scale): volume}``; the LR input itself is under ``("LR", scale)``."""
    from tqdm.auto import tqdm

    methods = list(methods)
    jobs = [(m, float(s)) for s in scales for m in methods if m.accepts(s)]
    out: dict[tuple[str, float], np.ndarray] = {}
    lrs = {float(s): downsample(gt, s) for s in scales}
    for s, lr in lrs.items():
        out[("LR", s)] = lr
    for m, s in tqdm(jobs, desc=f"super-resolve {subject}", disable=not progress):
        out[(m.name, s)] = cached_sr(profile, subject, m, lrs[s], gt.shape, s)
    return out


#: The voxels every table's PSNR and SSIM and every verdict's interval are computed on: the
#: non-overlapping ``BLOCK``^3 blocks of the test volume with at least ``BLOCK_FRACTION`` of their
#: voxels in the brain (GT above ``BRAIN_LEVEL`` on the [0, 1] scale); a volume too small for two
#: such blocks takes blocks of half the size, down to 8 voxels.
BRAIN_LEVEL = 0.05
BLOCK = 32
BLOCK_FRACTION = 0.5


def kept_voxels(exclude: np.ndarray | None) -> np.ndarray | None:
    """The voxels a score keeps: all but ``exclude`` (a tumour and its rim), None for all."""
    return None if exclude is None else ~np.asarray(exclude, dtype=bool)


def scored_brain(gt: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """The brain the scores count: GT above :data:`BRAIN_LEVEL`, outside ``exclude``."""
    brain = np.asarray(gt) > BRAIN_LEVEL
    return brain if exclude is None else brain & kept_voxels(exclude)


def scoring_blocks(gt: np.ndarray, block: int = BLOCK, min_fraction: float = BLOCK_FRACTION,
                   exclude: np.ndarray | None = None) -> list:
    """The brain blocks (:data:`BLOCK`) that a table's PSNR and SSIM and a verdict's interval
    share: at least ``min_fraction`` brain, counting only the brain outside ``exclude``."""
    from ..metrics.uncertainty import brain_blocks

    brain = scored_brain(gt, exclude)
    size = int(block)
    while True:
        try:
            return brain_blocks(brain, size, min_fraction)
        except DataError:
            if size <= 8:
                raise
            size //= 2


def scoring_region(gt: np.ndarray, exclude: np.ndarray | None = None) -> dict[str, float]:
    """What :func:`scoring_blocks` covers: the number of blocks, their side (voxels), the share of
    the brain's voxels (outside ``exclude``) inside them and the share of their voxels that are
    that brain."""
    blocks = scoring_blocks(gt, exclude=exclude)
    brain = scored_brain(gt, exclude)
    inside = np.zeros(brain.shape, dtype=bool)
    for b in blocks:
        inside[b] = True
    return {"blocks": len(blocks), "side": blocks[0][0].stop - blocks[0][0].start,
            "brain_covered": float(brain[inside].sum() / max(brain.sum(), 1)),
            "brain_share": float(brain[inside].mean())}


def score_grid(gt: np.ndarray, srs: dict[tuple[str, float], np.ndarray], stride: int = 1,
               mask: np.ndarray | None = None, metrics: Sequence[str] | None = None,
               progress: bool = True, exclude: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (method, scale) with every metric of :func:`arssr_core.metrics.evaluate`.

    PSNR and SSIM are computed on the brain blocks (:func:`scoring_blocks`), the same voxels
    whose resampling gives the verdicts' intervals (:func:`interval_terms`), so a table's
    difference is the interval's point estimate; with ``mask``, on the mask's voxels instead.
    LPIPS, PSI and LPC-SI are means over the slices :func:`interval_terms` resamples.
    ``exclude`` (a boolean volume: a tumour and its rim) is left out of every score: its voxels
    from the blocks, and every slice that holds one of them from the slice-wise metrics.

    The GT is already normalised to [0, 1] by the training rule (:mod:`arssr_core.data.intensity`);
    each SR volume is clipped to the GT's range rather than normalised on its own, because an SR
    volume's extremes are a few over- or undershooting voxels (cubic ringing), and
    rescaling by them would change every voxel's intensity by an arbitrary gain.
    """
    from tqdm.auto import tqdm

    from ..metrics import FULL_REFERENCE, evaluate
    from ..metrics.uncertainty import block_metric, block_terms

    metrics = tuple(metrics or FULL_REFERENCE)
    fidelity = [m for m in ("psnr", "ssim") if m in metrics and mask is None]
    rest = tuple(m for m in metrics if m not in fidelity)
    blocks = scoring_blocks(gt, exclude=exclude) if fidelity else None
    keep = kept_voxels(exclude)
    rows = []
    items = [(k, v) for k, v in srs.items() if k[0] != "LR"]
    lo, hi = float(gt.min()), float(gt.max())
    for (name, s), sr in tqdm(items, desc="score", disable=not progress):
        x = np.clip(sr, lo, hi)
        vals = evaluate(x, gt, mask=mask, stride=stride, normalize=False, metrics=rest, skip=exclude) if rest else {}
        if fidelity:
            t = block_terms(x, gt, blocks, hi - lo, keep=keep)
            vals.update({m: float(block_metric(t, m)) for m in fidelity})
        rows.append({"method": name, "scale": s, **{m: vals[m] for m in metrics}})
    return pd.DataFrame(rows)


def paper_layout(table: pd.DataFrame, metrics: Sequence[str] = ("psnr", "ssim", "lpips", "psi", "lpc_si"),
                 decimals: int = 4) -> pd.DataFrame:
    """The paper's table layout: one row per method, a column per (scale, metric); numeric scales
    in ascending order, requests such as ``"1mm"`` in the order they appear."""
    metrics = [m for m in metrics if m in table.columns]
    wide = table.pivot_table(index="method", columns="scale", values=metrics, sort=False).swaplevel(0, 1, axis=1)
    scales = list(dict.fromkeys(table["scale"]))
    if all(isinstance(s, (int, float, np.number)) for s in scales):
        scales = sorted(scales)
    wide = wide[[(s, m) for s in scales for m in metrics if (s, m) in wide.columns]]
    order = list(dict.fromkeys(table["method"]))
    return wide.reindex(order).round(decimals)


def scale_consistency(srs: dict[tuple[str, float], np.ndarray], methods: str | Sequence[str]) -> pd.DataFrame:
    """How well an SR volume, down-sampled again by its scale, reproduces its LR input:
    PSNR (data range 1) of ``downsample(SR, s)`` against the LR, per method (in the order given) and scale."""
    from ..metrics import psnr

    rows = []
    for method in [methods] if isinstance(methods, str) else methods:
        for (name, s), sr in srs.items():
            if name != method:
                continue
            lr = srs[("LR", s)]
            back = resize_cubic(sr, lr.shape)
            rows.append({"method": method, "scale": s, "lr_consistency_psnr": psnr(back, lr, data_range=1.0)})
    return pd.DataFrame(rows)


def views_at(srs: Mapping[tuple[str, Any], np.ndarray], methods: Sequence[Method], scale: float | str
             ) -> dict[str, np.ndarray]:
    """The volumes ``srs`` holds at one scale (a number, or a request's label such as ``"1mm"``),
    ``{method name: volume}`` in the order of ``methods`` (a method without a volume there, a
    per-scale network off its scales, is left out)."""
    key = scale if isinstance(scale, str) else float(scale)
    return {m.name: srs[(m.name, key)] for m in methods if (m.name, key) in srs}


def titles_of(subjects: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """A reader's name for each subject, scan or volume: ``{record name: title}``."""
    return {s["name"]: s["title"] for s in subjects}


def crop_around(volume: np.ndarray, centre: Sequence[int], size: int | Sequence[int]) -> tuple[slice, ...]:
    """Slices of a box of ``size`` voxels (per axis) centred on ``centre``, kept inside the volume."""
    size = np.broadcast_to(np.asarray(size, dtype=int), (3,))
    out = []
    for c, s, n in zip(centre, size, volume.shape):
        s = min(int(s), n)
        a = int(np.clip(int(c) - s // 2, 0, n - s))
        out.append(slice(a, a + s))
    return tuple(out)


def trim_to_multiple(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` with each side cut, centred, to a multiple of ``k`` voxels (a per-scale network
    needs each side within a voxel of a multiple of its scale), e.g. 130 slices -> 128 for k=4."""
    return a[tuple(slice(n % k // 2, n - (n % k - n % k // 2)) for n in a.shape)]


def lesion_subjects(profile: str, crop: int | None = None, multiple_of: int | None = None) -> list[dict]:
    """The lesion set: ``[{"name", "title", "kind", "gt", "mask"}]`` (``title``: the record's
    name for a reader, e.g. "MRBrainTumor2, a real tumour"), each a cube of ``crop`` voxels
    (``data.lesion_crop``, else ``data.eval_crop``; a mapping gives one per record kind, e.g.
    ``{real: null, synthetic: 112}``) centred on the lesion mask's centre of mass (whole
    volume if None), each side then trimmed to a multiple of ``multiple_of`` voxels
    (:func:`trim_to_multiple`; the real tumour scan's 130 slices -> 128 for scale 4)."""
    from scipy import ndimage

    from ..data import catalog

    data = load_profile(profile)["data"]
    crop = data.get("lesion_crop", data.get("eval_crop")) if crop is None else crop
    out = []
    for rec in catalog.records(profile, role="lesion"):
        vol = catalog.load(profile, rec)
        mask = catalog.load_mask(profile, rec, "lesion") > 0.5
        gt, m = vol.data, mask
        size = crop.get(rec["kind"]) if isinstance(crop, dict) else crop
        if size:
            centre = [int(round(c)) for c in ndimage.center_of_mass(mask)]
            box = crop_around(gt, centre, size)
            gt, m = gt[box], m[box]
        if multiple_of:
            gt, m = trim_to_multiple(gt, int(multiple_of)), trim_to_multiple(m, int(multiple_of))
        out.append({"name": rec["id"].split("/")[-1], "title": rec.get("title", rec["name"]), "kind": rec["kind"],
                    "gt": np.ascontiguousarray(gt), "mask": np.ascontiguousarray(m), "voxel_size": rec.get("voxel_size")})
    return out


def real_lr_subjects(profile: str, crop_mm: float | None = 96.0) -> list[dict]:
    """The real LR scans (no ground truth): ``[{"name", "title", "lr", "voxel_size"}]``, each cut to a
    brain-centred box of ``crop_mm`` millimetres per axis (whole volume if None)."""
    from ..data import catalog

    out = []
    for rec in catalog.records(profile, role="real_lr"):
        vol = catalog.load(profile, rec)
        vs = np.asarray(vol.voxel_size)
        data = vol.data
        if crop_mm:
            box = foreground_box(data, threshold=0.1)
            centre = [(s.start + s.stop) // 2 for s in box]
            data = data[crop_around(data, centre, np.round(crop_mm / vs).astype(int))]
        out.append({"name": rec["id"].split("/")[-1], "title": rec.get("title", rec["name"]), "lr": np.ascontiguousarray(data),
                    "voxel_size": tuple(float(v) for v in vs)})
    return out


def sr_requests(profile: str, subject: str, lr: np.ndarray, methods: Iterable[Method],
                requests: dict[str, Sequence[float]], progress: bool = True) -> dict[tuple[str, str], np.ndarray]:
    """SR of one LR volume (no ground truth) for named per-axis scale requests
    ``{"x2": (2, 2, 2), "1mm": (2, 2, 3)}``: ``{(method, request): volume}``."""
    from tqdm.auto import tqdm

    out: dict[tuple[str, str], np.ndarray] = {}
    jobs = [(m, k, tuple(float(v) for v in s)) for k, s in requests.items() for m in methods if m.accepts(s)]
    for m, k, s in tqdm(jobs, desc=f"super-resolve {subject}", disable=not progress):
        shape = tuple(int(round(n * v)) for n, v in zip(lr.shape, s))
        out[(m.name, k)] = cached_sr(profile, subject, m, lr, shape, s)
    return out


def no_reference_terms(srs: dict[tuple[str, str], np.ndarray], stride: int = 1, ref: str = "Cubic",
                       progress: bool = True) -> dict[tuple[str, str], dict[str, np.ndarray | None]]:
    """Per-slice PSI and LPC-SI of each SR volume ``{(method, request): volume}`` (clipped to
    [0, 1], the inputs' normalised range), on the foreground slices of the ``ref`` method's
    volume of the same request where there is one (else of the volume itself), so that every
    method of a request is scored on the same slices and two methods pair slice by slice."""
    from tqdm.auto import tqdm

    out = {}
    for (name, req), v in tqdm(list(srs.items()), desc="sharpness", disable=not progress):
        r = srs.get((ref, req))
        r = np.clip(r, 0, 1) if r is not None and r.shape == v.shape else None
        x = np.clip(v, 0, 1)
        out[(name, req)] = {k: _sharpness_or_none(x, k, x if r is None else r, stride) for k in ("psi", "lpc_si")}
    return out


def no_reference_scores(terms: dict[tuple[str, str], dict[str, np.ndarray | None]]) -> pd.DataFrame:
    """PSI and LPC-SI of each (method, request) of :func:`no_reference_terms`: the mean over its
    slices. Columns ``method, request, psi, lpc_si``."""
    return pd.DataFrame([{"method": name, "request": req,
                          **{k: float(np.mean(v)) if v is not None else np.nan for k, v in t.items()}}
                         for (name, req), t in terms.items()], columns=["method", "request", "psi", "lpc_si"])


def score_no_reference(srs: dict[tuple[str, str], np.ndarray], stride: int = 1, progress: bool = True) -> pd.DataFrame:
    """PSI and LPC-SI of each SR volume (slice-wise, :func:`no_reference_terms`)."""
    return no_reference_scores(no_reference_terms(srs, stride=stride, progress=progress))


def crop_affine(affine: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """Affine of the sub-grid ``box`` of a grid with ``affine``."""
    out = np.array(affine, dtype=np.float64)
    out[:3, 3] = out[:3, :3] @ np.array([b.start for b in box]) + out[:3, 3]
    return out


def crop_priors(priors, box: tuple[slice, ...]):
    """The atlas priors of a subject (:class:`arssr_core.segment.AtlasPriors`) cut to ``box``."""
    import dataclasses

    affine = crop_affine(priors.affine, box)
    return dataclasses.replace(priors, priors=np.ascontiguousarray(priors.priors[(slice(None),) + tuple(box)]),
                               mask=np.ascontiguousarray(priors.mask[box]), affine=affine,
                               key=f"{priors.key}-{[(b.start, b.stop) for b in box]}")


def segmentation_subjects(profile: str, crop: int | None, register_on: str = "whole",
                          cache_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every test subject (:func:`evaluation_subjects`) made ready for segmentation: the CAT12
    template registered to its whole volume (``register_on="whole"``) or to the cube only, the
    atlas priors cut to a brain-centred cube of ``crop`` voxels. ``[{"name", "title", "gt",
    "exclude", "priors"}]``, ``gt`` and ``exclude`` cut to the cube."""
    from ..segment import register_atlas

    out = []
    for s in evaluation_subjects(profile, crop):
        box = s["box"]
        gt = np.ascontiguousarray(s["gt"][box])
        if register_on == "whole":
            priors = crop_priors(register_atlas(s["gt"], s["affine"], cache_dir=cache_dir), box)
        else:
            priors = register_atlas(gt, crop_affine(s["affine"], box), cache_dir=cache_dir)
        out.append({"name": s["name"], "title": s["title"], "gt": gt, "priors": priors,
                    "exclude": None if s["exclude"] is None else np.ascontiguousarray(s["exclude"][box])})
    return out


def segmentation_dice(gt: np.ndarray, srs: dict[tuple[str, float], np.ndarray], priors,
                      progress: bool = True, exclude: np.ndarray | None = None) -> tuple[pd.DataFrame, dict]:
    """Six-region segmentation of the GT and of every SR volume with the subject's priors;
    Dice per region against the GT's segmentation. Returns (long table, ``{key: labels}``).
    ``exclude`` (a tumour and its rim) is set to background in every segmentation, so that no
    Dice counts it."""
    from tqdm.auto import tqdm

    from ..metrics import dice
    from ..segment import REGION_NAMES, segment

    keep = kept_voxels(exclude)

    def kept(lab: np.ndarray) -> np.ndarray:
        return lab if keep is None else np.where(keep, lab, 0).astype(lab.dtype)

    labels = {("GT", 0.0): kept(segment(gt, priors.affine, priors, what="ground truth"))}
    rows = []
    items = [(k, v) for k, v in srs.items() if k[0] != "LR"]
    for (name, s), v in tqdm(items, desc="segment", disable=not progress):
        try:
            lab = segment(np.clip(v, 0, 1), priors.affine, priors, what=f"{name} x{s:g}")
        except DataError:  # a constant result has nothing to segment: every region is missed (Dice 0)
            lab = np.zeros(gt.shape, dtype=np.uint8)
        labels[(name, s)] = lab = kept(lab)
        d = dice(lab, labels[("GT", 0.0)], labels=list(REGION_NAMES))
        rows += [{"method": name, "scale": s, "region": REGION_NAMES[k], "dice": float(v_)} for k, v_ in d.items()]
    return pd.DataFrame(rows), labels


def intervals_against(gt: np.ndarray, srs: dict[tuple[str, float], np.ndarray], a: str, others: Sequence[str],
                      stride: int = 1, progress: bool = True) -> pd.DataFrame:
    """:func:`paired_intervals` of ``a`` against each of ``others`` on one subject (PSNR and
    SSIM over brain blocks, LPIPS over slices), from one pass of :func:`interval_terms`."""
    keep = {k: v for k, v in srs.items() if k[0] in {a, *others}}
    terms = interval_terms(gt, keep, stride=stride, progress=progress)
    return pd.concat([paired_intervals(terms, a, b) for b in others], ignore_index=True)


def dice_intervals(gt: np.ndarray, labels: dict, a: str, b: str, block: int = 32, min_fraction: float = 0.5,
                   n_boot: int = 2000, seed: int = 0, exclude: np.ndarray | None = None) -> pd.DataFrame:
    """Paired bootstrap 95% intervals of Dice(``a``) - Dice(``b``) against the GT's segmentation,
    over the brain's ``block``^3 blocks, for every scale both have: one row per (scale, region)
    and one for the mean over regions (``region`` = "mean"); ``labels`` as from
    :func:`segmentation_dice`."""
    from ..metrics.uncertainty import bootstrap_dice_diff, dice_terms
    from ..segment import REGION_NAMES

    blocks = scoring_blocks(gt, block, min_fraction, exclude=exclude)
    ref, regions = labels[("GT", 0.0)], list(REGION_NAMES)
    rows = []
    for s in sorted({k[1] for k in labels if k[0] == a} & {k[1] for k in labels if k[0] == b}):
        ta, tb = (dice_terms(labels[(m, s)], ref, blocks, regions) for m in (a, b))
        for r, iv in bootstrap_dice_diff(ta, tb, n_boot, seed).items():
            rows.append({"a": a, "b": b, "scale": s, "region": REGION_NAMES.get(r, r), "metric": "dice",
                         "diff": iv.diff, "lo": iv.lo, "hi": iv.hi, "units": f"{iv.units} blocks"})
    return pd.DataFrame(rows, columns=["a", "b", "scale", "region", "metric", "diff", "lo", "hi", "units"])


def by_region(df: pd.DataFrame) -> pd.DataFrame:
    """A per-region table (or interval table) with ``scale`` relabelled "x<scale> <region>",
    so that each (scale, region) is one comparison of :mod:`arssr_core.study.claims`."""
    return df.assign(scale="x" + df["scale"].map("{:g}".format) + " " + df["region"].astype(str))


# ----------------------------------------------------------------------------- study loops (04, 05)

def lesion_scores(profile: str, subjects: Sequence[dict], methods: Sequence[Method], scales: Iterable[float],
                 stride: int = 1) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Paper Table 2: every method at every scale on each lesion subject, scored on the
    whole cube (all metrics) and inside the lesion mask (PSNR, SSIM). Returns the table
    (``subject``, ``region`` = whole | lesion) and the SR volumes ``{subject: sr_grid}``."""
    tables, srs_by = [], {}
    for s in subjects:
        srs = sr_grid(profile, s["name"], s["gt"], methods, scales)
        srs_by[s["name"]] = srs
        tables.append(score_grid(s["gt"], srs, stride=stride).assign(subject=s["name"], region="whole"))
        tables.append(score_grid(s["gt"], srs, mask=s["mask"], metrics=("psnr", "ssim"))
                      .assign(subject=s["name"], region="lesion"))
    return pd.concat(tables, ignore_index=True), srs_by


def real_lr_requests(voxel_size: Sequence[float], scales: Iterable[float],
                     target_mm: float = 1.0) -> dict[str, tuple[float, ...]]:
    """The requests of paper Table 3 for one scan: ``x<k>`` isotropic, plus ``<target_mm>mm``
    (per-axis factors to isotropic ``target_mm`` voxels) when the scan's voxels are anisotropic."""
    req = {f"x{k:g}": (float(k),) * 3 for k in scales}
    vs = np.asarray(voxel_size, dtype=float)
    if not np.allclose(vs, vs[0]):
        req[f"{target_mm:g}mm"] = tuple(float(v) for v in vs / target_mm)
    return req


def real_lr_table(profile: str, subjects: Sequence[dict], methods: Sequence[Method], scales: Iterable[float],
                  stride: int = 1) -> tuple[pd.DataFrame, dict[str, dict], dict[str, dict]]:
    """Paper Table 3: PSI and LPC-SI of every method's SR of each real LR scan for the
    requests of :func:`real_lr_requests`. Returns the table (``scan``, ``method``,
    ``request``), the SR volumes ``{scan: {(method, request): volume}}`` and their per-slice
    terms ``{scan: {(method, request): {"psi", "lpc_si"}}}`` (:func:`no_reference_terms`: what
    :func:`paired_intervals` resamples; the table's values are their means)."""
    scales = list(scales)
    tables, srs_by, terms_by = [], {}, {}
    for s in subjects:
        srs = sr_requests(profile, s["name"], s["lr"], methods, real_lr_requests(s["voxel_size"], scales))
        srs_by[s["name"]] = srs
        terms_by[s["name"]] = no_reference_terms(srs, stride=stride)
        tables.append(no_reference_scores(terms_by[s["name"]]).assign(scan=s["name"]))
    return pd.concat(tables, ignore_index=True), srs_by, terms_by


def centre_profiles(lr: np.ndarray, voxel_size: Sequence[float], srs: dict[tuple[str, str], np.ndarray],
                    request: str, factor: float) -> dict[str, tuple[np.ndarray, float]]:
    """Paper Fig 8: intensities along the first axis through the centre of the LR box, in
    the LR and in each SR volume of ``request`` (isotropic ``factor``): ``{name: (line,
    spacing in mm)}``, the SR line taken through the same physical point."""
    vs = float(voxel_size[0])
    j, k = lr.shape[1] // 2, lr.shape[2] // 2
    lines = {"LR": (lr[:, j, k], vs)}
    for (name, req), v in srs.items():
        if req == request:
            lines[name] = (_sr_line(v, j, k, factor), vs / factor)
    return lines


def _sr_line(sr: np.ndarray, j: int, k: int, factor: float) -> np.ndarray:
    """The first-axis line of an SR volume (isotropic ``factor``) through the physical centre of
    LR voxel column (j, k): bilinear in the other two axes at that exact point (SR index
    ``(j + 0.5) * factor - 0.5``), so every scale's line passes through the same place."""
    out = np.zeros(sr.shape[0], dtype=np.float64)
    corners = []
    for c, n in (((j + 0.5) * factor - 0.5, sr.shape[1]), ((k + 0.5) * factor - 0.5, sr.shape[2])):
        c = float(np.clip(c, 0, n - 1))
        lo = int(np.floor(c))
        corners.append(((lo, 1 - (c - lo)), (min(lo + 1, n - 1), c - lo)))
    for y, wy in corners[0]:
        for z, wz in corners[1]:
            if wy * wz:
                out += wy * wz * sr[:, y, z]
    return out.astype(np.float32)


def profile_consistency(lr: np.ndarray, voxel_size: Sequence[float], srs: dict[tuple[str, str], np.ndarray],
                      factors: dict[str, float], lines: int = 5) -> pd.DataFrame:
    """Paper 4.4: how much a method's intensity profile through a real LR scan changes with the
    requested scale. Lines along the first axis through a ``lines`` x ``lines`` grid of points
    in the central half of the LR box; on each, every request's SR line (isotropic factor
    ``factors[request]``) is interpolated onto the finest request's voxel centres (mm), and the
    spread is the standard deviation across requests, averaged over positions and lines
    (intensity units, data range about 1; lower is more consistent). One row per method."""
    vs = float(voxel_size[0])
    n0, n1, n2 = lr.shape
    at = np.linspace(0.25, 0.75, lines)
    points = [(int(n1 * a), int(n2 * b)) for a in at for b in at]
    fine = max(factors.values())
    pos = (np.arange(int(round(n0 * fine))) + 0.5) * vs / fine
    rows = []
    for name in dict.fromkeys(k[0] for k in srs):
        reqs = [r for r in factors if (name, r) in srs]
        if len(reqs) < 2:
            continue
        spread = []
        for j, k in points:
            prof = []
            for r in reqs:
                line = _sr_line(srs[(name, r)], j, k, factors[r])
                prof.append(np.interp(pos, (np.arange(len(line)) + 0.5) * vs / factors[r], line))
            spread.append(float(np.std(prof, axis=0).mean()))
        rows.append({"method": name, "profile_spread": float(np.mean(spread)), "requests": " ".join(reqs),
                     "lines": len(points)})
    return pd.DataFrame(rows)


def simulated_pair(profile: str, methods: Iterable[Method], stride: int = 1
                   ) -> tuple[pd.DataFrame, dict[tuple[str, float], np.ndarray], dict[str, Any]]:
    """The simulated acquisition pair (k-space-truncated LR, Rician-noisy HR reference):
    every method that accepts x2 super-resolves the LR onto the HR grid (a per-scale
    baseline at its nominal x2, ArSSR and cubic at the exact shape ratio), scored
    against the noisy reference. Returns (table, SR volumes, ``{lr_shape, hr_shape, scale,
    reference}``)."""
    from ..data import catalog

    sim = {r["id"]: r for r in catalog.records(profile, role="simulated")}
    lr = catalog.load(profile, next(r for k, r in sim.items() if "_lr_" in k)).data
    hr = catalog.load(profile, next(r for k, r in sim.items() if "_hr_" in k)).data
    scale = tuple(h / n for h, n in zip(hr.shape, lr.shape))
    srs = {}
    for m in methods:
        if m.accepts(2.0):
            srs[(m.name, 2.0)] = cached_sr(profile, "colin27_simulated", m, lr, hr.shape,
                                           2.0 if m.kind == "baseline" else scale)
    info = {"lr_shape": lr.shape, "hr_shape": hr.shape, "scale": tuple(round(v, 3) for v in scale), "reference": hr}
    return score_grid(hr, srs, stride=stride), srs, info


def interval_terms(gt: np.ndarray, srs: dict[tuple[str, float], np.ndarray], stride: int = 1,
                   block: int = BLOCK, min_fraction: float = BLOCK_FRACTION, lpips: bool = True, sharpness: bool = True,
                   progress: bool = True, exclude: np.ndarray | None = None) -> dict[tuple[str, float], dict[str, Any]]:
    """What the paired bootstrap resamples, for every (method, scale) of ``srs``: per-block
    sums over the brain's ``block``^3 blocks (PSNR, SSIM) and per-slice LPIPS, PSI and LPC-SI
    (the slices whose means are :func:`score_grid`'s values). Volumes are clipped to the GT's
    range as in :func:`score_grid`; ``exclude`` is left out as there."""
    from tqdm.auto import tqdm

    from ..metrics.perceptual import lpips_slices
    from ..metrics.uncertainty import block_terms

    blocks = scoring_blocks(gt, block, min_fraction, exclude=exclude)
    keep = kept_voxels(exclude)
    lo, hi = float(gt.min()), float(gt.max())
    out = {}
    for key, sr in tqdm([(k, v) for k, v in srs.items() if k[0] != "LR"], desc="block terms", disable=not progress):
        x = np.clip(sr, lo, hi)
        out[key] = {"blocks": block_terms(x, gt, blocks, hi - lo, keep=keep),
                    "lpips": lpips_slices(x, gt, stride=stride, skip=exclude) if lpips else None,
                    **{k: _sharpness_or_none(x, k, gt, stride, exclude) if sharpness else None for k in ("psi", "lpc_si")}}
    return out


def _sharpness_or_none(x: np.ndarray, kind: str, gt: np.ndarray, stride: int,
                       skip: np.ndarray | None = None) -> np.ndarray | None:
    """Per-slice PSI or LPC-SI of ``x`` (:func:`arssr_core.metrics.sharpness.sharpness_slices`),
    or None where every slice is too small for the index (its comparisons get no interval)."""
    from ..metrics.sharpness import sharpness_slices

    try:
        return sharpness_slices(x, kind, ref=gt, stride=stride, skip=skip)
    except DataError:
        return None


def paired_intervals(terms: dict[tuple[str, float], dict[str, Any]], a: str, b: str,
                     metrics: Sequence[str] = ("psnr", "ssim", "lpips", "psi", "lpc_si"), n_boot: int = 2000,
                     seed: int = 0) -> pd.DataFrame:
    """Paired bootstrap 95% intervals of ``a - b`` for every scale both have: one row per
    (scale, metric) with the difference, its interval and the number of resampled units."""
    from ..metrics.uncertainty import bootstrap_diff, bootstrap_mean_diff

    rows = []
    scales = sorted({s for (m, s) in terms if m == a} & {s for (m, s) in terms if m == b})
    for s in scales:
        ta, tb = terms[(a, s)], terms[(b, s)]
        for m in metrics:
            if m in ("lpips", "psi", "lpc_si"):  # means over slices: the slice bootstrap
                if ta.get(m) is None or tb.get(m) is None:
                    continue
                iv = bootstrap_mean_diff(ta[m], tb[m], n_boot, seed)
                unit = "slices"
            else:
                iv = bootstrap_diff(ta["blocks"], tb["blocks"], m, n_boot, seed)
                unit = "blocks"
            rows.append({"a": a, "b": b, "scale": s, "metric": m, "diff": iv.diff, "lo": iv.lo, "hi": iv.hi,
                         "units": f"{iv.units} {unit}"})
    return pd.DataFrame(rows, columns=["a", "b", "scale", "metric", "diff", "lo", "hi", "units"])


def scale_change(table: pd.DataFrame, metrics: Sequence[str] = ("lpips", "psi", "lpc_si"),
                 base: float | None = None) -> pd.DataFrame:
    """Each method's change of each metric from the ``base`` scale (default: the smallest) to every
    larger scale: one row per (method, scale) with the metric at that scale minus at ``base``. Two
    methods' difference in this table is how much one's lead over the other grows with scale."""
    base = float(table["scale"].min()) if base is None else float(base)
    rows = []
    for name, g in table.groupby("method", sort=False):
        g = g.set_index(g["scale"].astype(float))
        if base not in g.index:
            continue
        for s in sorted(x for x in g.index if x > base):
            rows.append({"method": name, "scale": s, "from": base,
                         **{m: float(g.loc[s, m] - g.loc[base, m]) for m in metrics if m in g.columns}})
    return pd.DataFrame(rows)


def scale_change_intervals(terms: dict[tuple[str, float], dict[str, Any]], a: str, others: Sequence[str],
                           metrics: Sequence[str] = ("lpips", "psi", "lpc_si"), base: float | None = None,
                           n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Paired slice-bootstrap 95% intervals of how ``a``'s lead over each of ``others`` changes
    from the ``base`` scale to each larger one: ``(a - b)`` at the scale minus ``(a - b)`` at
    ``base``, per slice, resampled over the same slices (the slice-wise metrics of
    :func:`interval_terms` share their slices across scales). Rows as :func:`paired_intervals`'s,
    with ``from`` the base scale."""
    from ..metrics.uncertainty import bootstrap_mean_diff

    scales = sorted({s for (m, s) in terms if m == a})
    base = scales[0] if base is None else float(base)
    rows = []
    for b in others:
        for s in (x for x in scales if x > base):
            keys = [(a, s), (b, s), (a, base), (b, base)]
            if not all(k in terms for k in keys):
                continue
            for m in metrics:
                v = [terms[k].get(m) for k in keys]
                if any(x is None for x in v) or len({len(x) for x in v}) != 1:
                    continue
                iv = bootstrap_mean_diff(np.asarray(v[0]) - np.asarray(v[1]), np.asarray(v[2]) - np.asarray(v[3]),
                                         n_boot, seed)
                rows.append({"a": a, "b": b, "scale": s, "from": base, "metric": m, "diff": iv.diff, "lo": iv.lo,
                             "hi": iv.hi, "units": f"{iv.units} slices"})
    return pd.DataFrame(rows, columns=["a", "b", "scale", "from", "metric", "diff", "lo", "hi", "units"])


def sharpness_change_intervals(terms: dict[tuple[str, float], dict[str, Any]], methods: Sequence[str],
                               metrics: Sequence[str] = ("psi", "lpc_si"), base: float | None = None,
                               n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """How each method's slice-wise sharpness changes from the ``base`` scale (default: the
    method's smallest) to each larger one: the mean over slices at the scale minus at ``base``,
    with a paired slice-bootstrap 95% interval (the slices of :func:`interval_terms` are the
    same at every scale). A negative PSI or LPC-SI change is a blurrier result. One row per
    (method, scale, metric): ``method, scale, from, metric, diff, lo, hi, units``."""
    from ..metrics.uncertainty import bootstrap_mean_diff

    rows = []
    for name in methods:
        scales = sorted(s for (m, s) in terms if m == name)
        if not scales:
            continue
        b = scales[0] if base is None else float(base)
        if (name, b) not in terms:
            continue
        for s in (x for x in scales if x > b):
            for m in metrics:
                v, v0 = terms[(name, s)].get(m), terms[(name, b)].get(m)
                if v is None or v0 is None or len(v) != len(v0):
                    continue
                iv = bootstrap_mean_diff(np.asarray(v), np.asarray(v0), n_boot, seed)
                rows.append({"method": name, "scale": s, "from": b, "metric": m, "diff": iv.diff, "lo": iv.lo,
                             "hi": iv.hi, "units": f"{iv.units} slices"})
    return pd.DataFrame(rows, columns=["method", "scale", "from", "metric", "diff", "lo", "hi", "units"])


def subject_terms(subjects: Sequence[Mapping[str, Any]], srs_by: Mapping[str, dict], stride: int
                  ) -> dict[str, dict]:
    """``{subject: its interval terms}``: per brain block and per slice
    (:func:`interval_terms`), each subject's excluded region left out."""
    return {s["name"]: interval_terms(s["gt"], srs_by[s["name"]], stride=stride, exclude=s.get("exclude"))
            for s in subjects}
