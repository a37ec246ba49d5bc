"""The real low-resolution scans' steps after super-resolving them (notebook 05, paper section
4.4, Table 3): the scans, ArSSR's paired sharpness intervals against the other methods, how
closely each method's intensity profiles agree across scales, and the verdicts of section 4.4
with the simulated acquisition pair's.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import claims, curves, evaluation
from .evaluation import Method

#: The no-reference sharpness metrics: the only ones a scan without ground truth allows.
SHARPNESS = ("psi", "lpc_si")


def scan_table(subjects: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per real LR scan: its title, id, LR shape and voxel size in mm."""
    return pd.DataFrame([{"scan": s["title"], "id": s["name"], "LR shape": s["lr"].shape, "voxel size (mm)": s["voxel_size"]}
                         for s in subjects])


def sharpness_intervals(terms_by: Mapping[str, dict], methods: Sequence[Method]) -> pd.DataFrame:
    """ArSSR's paired slice-bootstrap intervals of PSI and LPC-SI against every other method, on
    each scan (over the slices every method of a request shares), with a ``scan`` column."""
    others = [m.name for m in methods if m.name != "ArSSR"]
    return pd.concat([evaluation.paired_intervals(terms_by[n], "ArSSR", b, metrics=SHARPNESS).assign(scan=n)
                      for n in terms_by for b in others], ignore_index=True)


def scale_factors(scales: Sequence[float]) -> dict[str, float]:
    """``{request name: factor}`` of the isotropic requests (``"x2": 2.0``, ...)."""
    return {f"x{k:g}": float(k) for k in scales}


def profile_consistency(subjects: Sequence[Mapping[str, Any]], srs_by: Mapping[str, dict], scales: Sequence[float]
                        ) -> pd.DataFrame:
    """How much each method's intensity profile through the centre changes across the scales, per
    scan (:func:`arssr_core.study.evaluation.profile_consistency`), with a ``scan`` column."""
    return pd.concat([evaluation.profile_consistency(s["lr"], s["voxel_size"], srs_by[s["name"]], scale_factors(scales))
                      .assign(scan=s["name"]) for s in subjects], ignore_index=True)


def consistency_lines(subject: Mapping[str, Any], srs: Mapping[tuple[str, str], np.ndarray], scales: Sequence[float],
                      methods: Sequence[str] = ("ArSSR", "ResCNN")) -> dict[str, Any]:
    """``{"<method> <request>": profile}``: the line through the scan's centre for ``methods`` at
    every scale, for one plot (:func:`arssr_core.study.evaluation.centre_profiles`)."""
    return {f"{m} {r}": evaluation.centre_profiles(subject["lr"], subject["voxel_size"], srs, r, f)[m]
            for m in methods for r, f in scale_factors(scales).items() if (m, r) in srs}


def verdicts(profile: str, table: pd.DataFrame, intervals: pd.DataFrame, consistency: pd.DataFrame,
             sim_table: pd.DataFrame, sim_intervals: pd.DataFrame, methods: Sequence[Method],
             titles: Mapping[str, str]) -> pd.DataFrame:
    """For each scan: ArSSR is sharper than cubic (PSI, LPC-SI) and than ResCNN where ResCNN ran;
    ArSSR's profiles agree across scales more closely than ResCNN's (section 4.4); and, on the
    simulated pair, ArSSR beats cubic against the noisy HR reference."""
    caveat = curves.comparison_caveat(profile, methods)
    rows = []
    for scan in table["scan"].unique():
        t = table[table["scan"] == scan].rename(columns={"request": "scale"})
        iv = intervals[intervals["scan"] == scan]
        rows.append(claims.claim_beats(t, "ArSSR", "Cubic", list(SHARPNESS),
                                       f"{titles[scan]}: ArSSR is sharper than cubic (PSI, LPC-SI)", iv, caveat=caveat))
        if "ResCNN" in set(t["method"]):
            rows.append(claims.claim_beats(t, "ArSSR", "ResCNN", list(SHARPNESS), f"{titles[scan]}: ArSSR is sharper than ResCNN",
                                           iv, caveat=caveat))
    rows.append(claims.claim_beats(consistency.replace({"scan": titles}).rename(columns={"scan": "scale"}), "ArSSR", "ResCNN",
                                   ["profile_spread"], "ArSSR's intensity profiles agree across scales more closely than the "
                                   "per-scale ResCNN's (§4.4)", caveat=caveat))
    rows.append(claims.claim_beats(sim_table, "ArSSR", "Cubic", ["psnr", "ssim", "lpips"],
                                   "simulated pair: ArSSR beats cubic against the noisy HR reference", sim_intervals, caveat=caveat))
    return claims.verdict_table(rows)
