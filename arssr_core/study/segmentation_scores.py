"""The segmentation experiment's steps (notebook 06, paper section 4.5, Table 4): each SR
volume's Dice against the segmentation of the ground truth, per region and averaged, with the
PSNR that says which networks left cubic's level; the paired intervals of ArSSR against every
other method; and the verdicts of section 4.5, each test subject judged apart.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from . import claims, curves, evaluation
from .evaluation import Method


def dice_and_psnr(subjects: Sequence[Mapping[str, Any]], srs_by: Mapping[str, dict]
                  ) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Every SR volume's Dice per region against the segmentation of its ground truth
    (:func:`arssr_core.study.evaluation.segmentation_dice`, each subject's excluded region left
    out) with its PSNR on the same voxels, one row per (subject, method, scale, region); and
    ``{subject: {(method, scale): labels}}`` for the figures and the intervals."""
    parts, labels_by = [], {}
    for s in subjects:
        dice, labels_by[s["name"]] = evaluation.segmentation_dice(s["gt"], srs_by[s["name"]], s["priors"],
                                                                  exclude=s["exclude"])
        psnr = evaluation.score_grid(s["gt"], srs_by[s["name"]], metrics=("psnr",), exclude=s["exclude"])
        parts.append(dice.merge(psnr, on=["method", "scale"]).assign(subject=s["name"]))
    return pd.concat(parts, ignore_index=True), labels_by


def mean_dice(dice_long: pd.DataFrame) -> pd.DataFrame:
    """The mean Dice over the regions and the PSNR, one row per (subject, method, scale)."""
    return (dice_long.groupby(["subject", "method", "scale"], sort=False)
            .agg(dice=("dice", "mean"), psnr=("psnr", "first")).reset_index())


def dice_tables(dice_long: pd.DataFrame, means: pd.DataFrame, subjects: Sequence[Mapping[str, Any]]
                ) -> list[tuple[str, pd.DataFrame]]:
    """The tables a reader sees, as ``(caption, table)``: for each subject, Table 4 at each scale
    (method by region) and the mean Dice (method by scale)."""
    out = []
    for s in subjects:
        mine = dice_long[dice_long["subject"] == s["name"]]
        for x, at_scale in mine.groupby("scale", sort=True):
            out.append((f"Table 4, {s['title']}, x{x:g}: Dice per region against the segmentation of the ground truth",
                        at_scale.pivot_table(index="method", columns="region", values="dice", sort=False)))
        out.append((f"{s['title']}: mean Dice over the six regions",
                    means[means["subject"] == s["name"]].pivot_table(index="method", columns="scale", values="dice",
                                                                   sort=False)))
    return out


def shown_labels(labels: Mapping[tuple[str, float], Any], methods: Sequence[Method], scale: float
                 ) -> dict[str, Any]:
    """The segmentations a figure shows: the ground truth's (``"GT"``), then each method's at
    ``scale`` (``"<method> x<scale>"``) where it has one."""
    s = float(scale)
    return {"GT": labels[("GT", 0.0)], **{f"{m.name} x{s:g}": labels[(m.name, s)] for m in methods if (m.name, s) in labels}}


def arssr_intervals(subjects: Sequence[Mapping[str, Any]], labels_by: Mapping[str, dict], others: Sequence[str]
                    ) -> pd.DataFrame:
    """Paired block-bootstrap intervals of ArSSR's Dice minus each of ``others``', per region and
    for the mean, on each subject (:func:`arssr_core.study.evaluation.dice_intervals`)."""
    return pd.concat([evaluation.dice_intervals(s["gt"], labels_by[s["name"]], "ArSSR", m, exclude=s["exclude"])
                      .assign(subject=s["name"]) for s in subjects for m in others], ignore_index=True)


def _not_above_cubic(table: pd.DataFrame, method: str) -> dict[float, str]:
    """The scales where ``method`` does not beat cubic's PSNR (none for cubic itself)."""
    return {} if method == "Cubic" else claims.not_above_cubic(table, method)


def verdicts(profile: str, means: pd.DataFrame, dice_long: pd.DataFrame, intervals: pd.DataFrame,
             methods: Sequence[Method], titles: Mapping[str, str]) -> pd.DataFrame:
    """For each other method: ArSSR's segmentation is closer to the ground truth's (mean Dice),
    and in every region; each test subject judged apart and kept where they agree. A network that
    does not beat cubic's PSNR on the volume makes its comparisons there untestable."""
    caveat = curves.comparison_caveat(profile, methods)
    regions, region_iv = evaluation.by_region(dice_long), evaluation.by_region(intervals[intervals["region"] != "mean"])
    rows = []
    for m in (x.name for x in methods if x.name != "ArSSR"):
        rows.append(claims.per_subject(means, intervals[intervals["region"] == "mean"], lambda t, iv, m=m: claims.claim_beats(
            t, "ArSSR", m, ["dice"], f"ArSSR's segmentation is closer to the GT's than {m}'s (mean Dice)", iv,
            untestable=_not_above_cubic(t, m), caveat=caveat), titles))
        rows.append(claims.per_subject(regions, region_iv, lambda t, iv, m=m: claims.claim_beats(
            t, "ArSSR", m, ["dice"], f"ArSSR's segmentation is closer to the GT's than {m}'s in every region (Dice per region)",
            iv, untestable=_not_above_cubic(t, m), caveat=caveat), titles))
    return claims.verdict_table(rows)
