"""Thick-slice requests (notebook 09, beyond the paper): a 1 mm volume degraded to the voxel
sizes of clinical series (thick along one axis, e.g. 1x1x3 mm, or 2x2x4 mm) and brought
back to its 1 mm grid by each method.

A request is a per-axis factor ``(s0, s1, s2)`` (LR voxel size in voxels of the 1 mm grid),
labelled ``"1x1x3"``; an isotropic one is labelled as in Table 1 (``"x2"``). The LR is the
volume down-sampled with a slice profile (:func:`arssr_core.data.degrade.downsample`: the
paper's cubic sampling, or a Gaussian or box slice profile).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data.degrade import downsample
from .evaluation import Method, cached_sr

#: Anatomical name of the slices that a thick axis makes, in RAS-canonical volumes.
AXIS_SLICES = {0: "sagittal", 1: "coronal", 2: "axial"}


def request_label(scales: Sequence[float]) -> str:
    """``(1, 1, 3)`` -> ``"1x1x3"``; an isotropic ``(2, 2, 2)`` -> ``"x2"``."""
    s = [float(v) for v in scales]
    return f"x{s[0]:g}" if len(set(s)) == 1 else "x".join(f"{v:g}" for v in s)


def thick_requests(thick: Iterable[float], axes: Iterable[int] = (0, 1, 2),
                   mixed: Iterable[Sequence[float]] = (), iso: Iterable[float] = ()) -> dict[str, tuple[float, ...]]:
    """``{label: per-axis factors}``: each ``thick`` factor along each of ``axes`` (the other
    two at 1), then the ``mixed`` per-axis requests, then the isotropic ``iso`` factors."""
    out: dict[str, tuple[float, ...]] = {}
    for ax in axes:
        for s in thick:
            f = [1.0, 1.0, 1.0]
            f[int(ax)] = float(s)
            out[request_label(f)] = tuple(f)
    for f in mixed:
        out[request_label(f)] = tuple(float(v) for v in f)
    for s in iso:
        out[request_label([s] * 3)] = (float(s),) * 3
    return out


def request_kinds(requests: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """One row per request: its label, per-axis factors, the thick axis (or "isotropic",
    "mixed") and the largest factor."""
    rows = []
    for label, f in requests.items():
        f = np.asarray(f, dtype=float)
        if np.allclose(f, f[0]):
            kind = "isotropic"
        elif (f == 1.0).sum() == 2:
            kind = f"axis {int(np.argmax(f))} ({AXIS_SLICES[int(np.argmax(f))]} slices)"
        else:
            kind = "mixed"
        rows.append({"request": label, "factors (mm)": " x ".join(f"{v:g}" for v in f), "kind": kind,
                     "thickest (mm)": f"{f.max():g}"})
    return pd.DataFrame(rows)


def thick_grid(profile: str, subject: str, gt: np.ndarray, methods: Iterable[Method],
               requests: Mapping[str, Sequence[float]], slice_profile: str = "cubic",
               progress: bool = True) -> dict[tuple[str, str], np.ndarray]:
    """SR of ``gt`` degraded for each request (``slice_profile``) back onto its grid, by each
    method: ``{(method, label): volume}``; each LR input under ``("LR", label)``."""
    from tqdm.auto import tqdm

    methods = list(methods)
    lrs = {k: downsample(gt, tuple(f), profile=slice_profile) for k, f in requests.items()}
    out: dict[tuple[str, str], np.ndarray] = {("LR", k): v for k, v in lrs.items()}
    jobs = [(m, k) for k in requests for m in methods if m.accepts(requests[k])]
    for m, k in tqdm(jobs, desc=f"super-resolve {subject} ({slice_profile} slices)", disable=not progress):
        out[(m.name, k)] = cached_sr(profile, f"{subject}-{slice_profile}", m, lrs[k], gt.shape, requests[k])
    return out


def gains(table: pd.DataFrame, a: str, others: Sequence[str], metric: str = "psnr") -> pd.DataFrame:
    """``a`` minus each of ``others`` in ``metric`` per request (columns ``vs <other>``),
    rows in the table's request order."""
    wide = table.pivot_table(index="scale", columns="method", values=metric, sort=False)
    return pd.DataFrame({f"{a} - {o}": wide[a] - wide[o] for o in others if o in wide}).rename_axis("request")


def evaluation_region(profile: str, region: str | int | None) -> np.ndarray:
    """The test subject (normalised as in Table 1) cut to ``region``: ``"brain"`` its brain's
    bounding box (2-voxel margin), a number a brain-centred cube, None the whole volume."""
    from .evaluation import evaluation_grid

    gt, _, _ = evaluation_grid(profile, None)
    return np.ascontiguousarray(gt[region_box(gt, region)])


def region_box(gt: np.ndarray, region: str | int | None) -> tuple[slice, ...]:
    """Slices of ``region`` in a volume: ``"brain"`` its foreground's bounding box (2-voxel
    margin), a number a brain-centred cube of that many voxels, None the whole volume."""
    from ..data.volumes import foreground_box
    from .evaluation import centre_box

    return foreground_box(gt) if region == "brain" else centre_box(gt, region)


def validation_regions(profile: str, region: str | int | None) -> dict[str, dict]:
    """The catalog's validation slabs (the posterior slabs held out from the training subjects:
    never trained on, but the runs kept the weights that scored best on samples from them),
    each cut as :func:`evaluation_region` cuts the test subject (``"brain"``, a cube size, None):
    ``{name: {"gt": array in [0, 1], "voxel_size": mm per axis}}``."""
    from ..data import catalog
    from ..data.prepare import ensure_prepared

    ensure_prepared(profile)
    out = {}
    for rec in catalog.records(profile, role="val"):
        vol = catalog.load(profile, rec)
        gt = np.asarray(vol.data, dtype=np.float32)
        out[rec["name"]] = {"gt": np.ascontiguousarray(gt[region_box(gt, region)]),
                            "voxel_size": tuple(float(v) for v in vol.voxel_size)}
    return out


def validation_table(profile: str, regions: Mapping[str, dict], methods: Iterable[Method],
                     requests: Mapping[str, Sequence[float]], progress: bool = True) -> pd.DataFrame:
    """PSNR and SSIM of each method at each request (factors in voxels of each slab) on each
    validation slab (:func:`validation_regions`): one row per (subject, method, request), with
    the slab's voxel size and the request's LR voxel size in mm."""
    from .evaluation import score_grid

    methods, tables = list(methods), []
    for name, r in regions.items():
        srs = thick_grid(profile, f"val-{name}", r["gt"], methods, requests, progress=progress)
        t = score_grid(r["gt"], srs, metrics=("psnr", "ssim"), progress=False)
        vs = np.asarray(r["voxel_size"])
        mm = {k: " x ".join(f"{v:.3g}" for v in vs * np.asarray(f)) for k, f in requests.items()}
        tables.append(t.assign(subject=name, voxel=" x ".join(f"{v:g}" for v in vs),
                               lr_voxel=t["scale"].map(mm)))
    table = pd.concat(tables, ignore_index=True)
    return table[["subject", "voxel", "method", "scale", "lr_voxel", "psnr", "ssim"]].rename(
        columns={"voxel": "voxel (mm)", "lr_voxel": "LR voxel (mm)"})


def slice_sharpness(profile: str, regions: Mapping[str, dict], methods: Iterable[Method], factors: Sequence[float],
                    slice_profiles: Sequence[str], progress: bool = True) -> pd.DataFrame:
    """Which way each method errs across the thick slices: on each validation slab, one
    thick-slice request ``factors`` degraded with each of ``slice_profiles``, each method's PSNR
    and its gradient energy along the thick axis relative to the slab's
    (:func:`arssr_core.metrics.gradients.gradient_energy_ratio`: below 1 smoother than the
    truth, above 1 sharper). One row per (subject, slice profile, method)."""
    from ..metrics.gradients import gradient_energy_ratio
    from .evaluation import score_grid

    methods, label = list(methods), request_label(factors)
    axis = int(np.argmax(factors))
    rows = []
    for name, r in regions.items():
        gt = r["gt"]
        for prof in slice_profiles:
            srs = thick_grid(profile, f"val-{name}", gt, methods, {label: tuple(factors)}, slice_profile=prof,
                             progress=progress)
            t = score_grid(gt, srs, metrics=("psnr",), progress=False).set_index("method")["psnr"]
            lo, hi = float(gt.min()), float(gt.max())
            for m in methods:
                rows.append({"subject": name, "slice_profile": prof, "request": label, "method": m.name,
                             "psnr": float(t[m.name]),
                             "gradient_ratio": gradient_energy_ratio(np.clip(srs[(m.name, label)], lo, hi), gt, axis)})
    return pd.DataFrame(rows)


def subject_gains(table: pd.DataFrame, a: str, others: Sequence[str], metric: str = "psnr") -> pd.DataFrame:
    """:func:`gains` per subject of a table with a ``subject`` column: rows (subject, request)."""
    parts = [gains(g, a, others, metric).reset_index().assign(subject=s)
             for s, g in table.groupby("subject", sort=False)]
    out = pd.concat(parts, ignore_index=True)
    return out[["subject", "request"] + [c for c in out.columns if c not in ("subject", "request")]]


def anisotropic_subjects(subjects: Sequence[dict]) -> list[dict]:
    """The real LR scans (:func:`arssr_core.study.evaluation.real_lr_subjects`) whose voxels differ per axis."""
    return [s for s in subjects if not np.allclose(s["voxel_size"], s["voxel_size"][0])]


def nearest_up(lr: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """An LR volume shown on an HR grid of ``shape`` over the same field of view: each HR
    voxel takes the LR voxel whose cell holds its centre (blocks, no interpolation)."""
    idx = [np.minimum(((np.arange(n) + 0.5) * m / n).astype(int), m - 1) for n, m in zip(shape, lr.shape)]
    return lr[np.ix_(*idx)]


def model_table(methods: Sequence[Method]) -> pd.DataFrame:
    """One column per ArSSR method, one row per fact: its weights, where its run started, its
    steps (of that run, along the path of the kept weights), the step of the kept weights, its
    cool-down (a last stretch at a lower lr), its training samples and where it was trained (long
    texts read better down a column)."""
    from ..checkpoint import read_checkpoint
    from .experiments import checkpoint_summary

    rows = []
    for m in methods:
        if m.kind != "arssr":
            continue
        meta = read_checkpoint(m.checkpoint).get("meta", {})
        s = checkpoint_summary(m.checkpoint)
        smp = meta.get("sampling")
        rows.append({"method": m.name, "weights": s["checkpoint"],
                     "started from": meta.get("started_from") or "identity init (the paper's run)",
                     "steps": s["steps_run"], "kept step": s["best_step"],
                     "cool-down": (f"{c['steps']} steps at lr {c['lr']:g} from the kept step {c['from_step']}"
                                   if (c := meta.get("cooldown")) else "none"),
                     "samples": ("isotropic x2-x4 (the paper's)" if not smp else
                                 f"{smp['fraction']:.0%} thick-slice (thick x{smp['thick'][0]:g}-x{smp['thick'][1]:g}, "
                                 f"in-plane x{smp['inplane'][0]:g}-x{smp['inplane'][1]:g}, "
                                 f"{' or '.join(smp['profiles'])} slice profile), the rest isotropic"),
                     "trained on": s["trained_on"]})
    return pd.DataFrame(rows).set_index("method").T.rename_axis(index=None, columns=None)


#: The pairs notebook 09's intervals compare: the thick-slice model against cubic, the paper's
#: ArSSR and its isotropic control, and the paper's ArSSR against cubic.
PAIRS = (("ArSSR-thick", "Cubic"), ("ArSSR-thick", "ArSSR"), ("ArSSR-thick", "ArSSR-iso"), ("ArSSR", "Cubic"))


def compared_methods(profile: str) -> list[Method]:
    """Cubic and the three ArSSR-RDN models compared (the paper's, its isotropic control and the
    one continued on thick-slice samples), each trained first where the profile has no
    committed run (``cpu``: the committed runs, nothing trained)."""
    from . import evaluation, experiments

    for section in ("arssr", *experiments.CONTINUED_SECTIONS):
        experiments.train_arssr(profile, "rdn", section=section)
    return [evaluation.cubic_method(), evaluation.arssr_method(profile),
            evaluation.continued_method(profile, "isotropic_control", "ArSSR-iso"),
            evaluation.continued_method(profile, "anisotropic", "ArSSR-thick")]


def pair_intervals(terms: Mapping[str, object], metrics: Sequence[str] = ("psnr", "ssim")) -> pd.DataFrame:
    """Paired block and slice intervals of each of :data:`PAIRS` (``terms``:
    :func:`arssr_core.study.evaluation.interval_terms` of one grid of requests)."""
    from .evaluation import paired_intervals

    return pd.concat([paired_intervals(terms, a, b, metrics=tuple(metrics)) for a, b in PAIRS])


def views(srs: Mapping[tuple[str, str], np.ndarray], methods: Sequence[Method], gt: np.ndarray, label: str
          ) -> dict[str, np.ndarray]:
    """What a figure shows of one request ``label``: its LR input as blocks on the 1 mm grid,
    each method's result and the truth."""
    from .evaluation import views_at

    return {"LR (blocks)": nearest_up(srs[("LR", label)], gt.shape), **views_at(srs, methods, label), "GT": gt}


def slice_profile_table(profile: str, subject: str, gt: np.ndarray, methods: Sequence[Method],
                        thick: Sequence[float], axis: int, slice_profiles: Sequence[str], stride: int,
                        metrics: Sequence[str] = ("psnr", "ssim", "lpips")) -> pd.DataFrame:
    """Every method at thick-slice requests along ``axis`` of each thickness in ``thick`` (mm),
    the LR made with each of ``slice_profiles``: the scores of
    :func:`arssr_core.study.evaluation.score_grid` with a ``slice_profile`` column."""
    from .evaluation import score_grid

    requests = thick_requests(thick, [axis])
    tables = [score_grid(gt, thick_grid(profile, subject, gt, methods, requests, slice_profile=prof),
                         stride=stride, metrics=tuple(metrics)).assign(slice_profile=prof)
              for prof in slice_profiles]
    return pd.concat(tables, ignore_index=True)


#: Captions of the two sides of :func:`slice_sharpness`' table, by its column.
SHARPNESS_CAPTIONS = {
    "gradient_ratio": "Gradient energy along the thick axis relative to the truth (1: as sharp; above 1: sharper)",
    "psnr": "PSNR (dB) of the same results",
}


def sharpness_tables(sharp: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """:func:`slice_sharpness`' table as wide tables, one per value (gradient ratio, PSNR):
    ``[(value, caption, table)]``, rows (subject, slice profile), one column per method."""
    return [(value, caption, sharp.pivot_table(index=["subject", "slice_profile"], columns="method", values=value,
                                               sort=False))
            for value, caption in SHARPNESS_CAPTIONS.items()]


def clinical_thick_keys(requests: Mapping[str, Sequence[float]], thick: Sequence[float] = (3.0, 5.0)) -> list[str]:
    """The requests thick along one axis only (1 x 1 x 3 and 1 x 1 x 5 mm, every axis): the
    clinical case issue 15 sets the 0.5 dB target on."""
    return [k for k, f in requests.items() if sorted(f)[:2] == [1.0, 1.0] and max(f) in tuple(thick)]


def verdicts(profile: str, table: pd.DataFrame, intervals: pd.DataFrame, requests: Mapping[str, Sequence[float]],
             iso: Sequence[float], real: Sequence[Mapping], real_table: pd.DataFrame) -> pd.DataFrame:
    """The study's own thick-slice claims (beyond the paper): ArSSR-thick beats cubic and its
    isotropic control by at least 0.5 dB at 1x1x3 and 1x1x5 mm, loses at most 0.1 dB to the
    control at the isotropic scales ``iso``, the paper's ArSSR beats cubic on thick slices, and
    ArSSR-thick is sharper than cubic on each real thick-slice scan brought to 1 mm."""
    from . import claims
    from .experiments import budget_caveat, continued_caveat

    caveat = " ".join([budget_caveat(profile), continued_caveat(profile),
                       "Beyond the paper: the paper makes no thick-slice claim."])
    thick_keys = clinical_thick_keys(requests)
    iso_keys = [request_label([s] * 3) for s in iso]
    rows = [claims.claim_threshold(table, "ArSSR-thick", other, "psnr", 0.5,
                                   f"ArSSR-thick beats {other} by at least 0.5 dB PSNR at 1x1x3 and 1x1x5 mm, every axis",
                                   thick_keys, intervals, caveat) for other in ("Cubic", "ArSSR-iso")]
    rows.append(claims.claim_threshold(table, "ArSSR-thick", "ArSSR-iso", "psnr", -0.1,
                                       "ArSSR-thick loses at most 0.1 dB PSNR to ArSSR-iso at x2 to x4",
                                       iso_keys, intervals, caveat))
    rows.append(claims.claim_beats(table[table["scale"].isin(thick_keys)], "ArSSR", "Cubic", ["psnr"],
                                   "The paper's ArSSR (isotropic training) beats cubic on thick slices", intervals, caveat=caveat))
    for s in real:
        t = real_table[real_table["scan"] == s["name"]].rename(columns={"request": "scale"})
        rows.append(claims.claim_beats(t, "ArSSR-thick", "Cubic", ["psi", "lpc_si"],
                                       f"{s['title']} to 1 mm: ArSSR-thick is sharper than cubic (PSI, LPC-SI)", caveat=caveat))
    return claims.verdict_table(rows)
