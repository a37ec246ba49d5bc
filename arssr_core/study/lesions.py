"""The lesion experiment's steps after scoring (notebook 04, paper section 4.3, Table 2): the
lesion volumes, ArSSR's paired intervals against cubic and each per-scale CNN, how each method's
sharpness changes with scale, and the verdicts of section 4.3, one set per lesion volume.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from . import claims, curves, evaluation
from .evaluation import Method


def volume_table(subjects: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per lesion volume: its title, id, kind (real or synthetic), shape and lesion voxels."""
    return pd.DataFrame([{"subject": s["title"], "id": s["name"], "kind": s["kind"], "shape": s["gt"].shape,
                          "lesion voxels": int(s["mask"].sum())} for s in subjects])


def intervals_and_sharpness(subjects: Sequence[Mapping[str, Any]], srs_by: Mapping[str, dict],
                            methods: Sequence[Method], stride: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ArSSR's paired intervals against cubic and each per-scale CNN (per brain block and slice
    of the whole volume), and each method's change of PSI and LPC-SI from x2 (section 4.3: the
    CNNs "become more blurry"), each with a ``subject`` column."""
    others = ["Cubic", *[m.name for m in methods if m.kind == "baseline"]]
    terms = evaluation.subject_terms(subjects, srs_by, stride)
    intervals = pd.concat([evaluation.paired_intervals(terms[n], "ArSSR", b).assign(subject=n)
                           for n in terms for b in others], ignore_index=True)
    sharpness = pd.concat([evaluation.sharpness_change_intervals(terms[n], [m.name for m in methods]).assign(subject=n)
                           for n in terms], ignore_index=True)
    return intervals, sharpness


def verdicts(profile: str, table: pd.DataFrame, intervals: pd.DataFrame, methods: Sequence[Method],
             titles: Mapping[str, str]) -> pd.DataFrame:
    """For each lesion volume: ArSSR beats cubic on every metric (whole volume) and inside the
    lesion (PSNR, SSIM, no interval: the lesion is a few blocks), and scores better LPIPS, PSI and
    LPC-SI than each per-scale CNN (untestable where the CNN does not beat cubic)."""
    caveat = curves.comparison_caveat(profile, methods)
    baselines = [m.name for m in methods if m.kind == "baseline"]
    rows = []
    for subj in table["subject"].unique():
        name = titles[subj]
        whole = table[(table["subject"] == subj) & (table["region"] == "whole")]
        lesion = table[(table["subject"] == subj) & (table["region"] == "lesion")]
        iv = intervals[intervals["subject"] == subj]
        rows.append(claims.claim_beats(whole, "ArSSR", "Cubic", ["psnr", "ssim", "lpips", "psi", "lpc_si"],
                                       f"{name}: ArSSR beats cubic on every metric", iv, caveat=caveat))
        rows.append(claims.claim_beats(lesion, "ArSSR", "Cubic", ["psnr", "ssim"], f"{name}: ArSSR beats cubic inside the lesion",
                                       caveat=caveat))
        for b in baselines:
            rows.append(claims.claim_beats(whole, "ArSSR", b, ["lpips", "psi", "lpc_si"],
                                           f"{name}: ArSSR scores better LPIPS, PSI, LPC-SI than {b}", iv,
                                           untestable=claims.not_above_cubic(whole, b), caveat=caveat))
    return claims.verdict_table(rows)
