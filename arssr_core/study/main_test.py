"""The main test's steps after scoring (notebook 03, paper section 4.2, Table 1): what each test
subject's scores cover, the method pairs compared, each subject's interval terms, every training
seed's scores with the intervals over seeds and blocks, how each lead changes with scale, and the
verdicts of section 4.2's claims, each subject judged apart (a verdict holds where they agree).

Every function takes the outputs of :func:`arssr_core.study.evaluation.main_test` (``table``,
``srs_by``, ``subjects``) and returns tables; the notebook displays and saves them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from . import claims, curves, evaluation, seeds
from .evaluation import Method

#: The perceptual metrics of section 4.2's "ArSSR provides the best performance" and the sharpness ones.
PERCEPTUAL = ("lpips", "psi", "lpc_si")
FIDELITY = ("psnr", "ssim")


def scoring_note(subject: Mapping[str, Any], stride: int) -> str:
    """One line on what a test subject's scores cover: its shape, the brain blocks behind PSNR and
    SSIM (how many, their side in voxels, the share of the brain's voxels), the region left out
    (MRBrainTumor2's tumour and rim) and the slice stride of the slice-wise metrics."""
    region = evaluation.scoring_region(subject["gt"], subject.get("exclude"))
    left_out = "" if subject.get("exclude") is None else \
        " (the tumour and its rim left out, and every slice through them)"
    return (f"{subject['title']}: {subject['gt'].shape} voxels; PSNR and SSIM on {region['blocks']} blocks of "
            f"{region['side']}³ voxels, {region['brain_covered']:.0%} of the brain's voxels{left_out}; "
            f"slice-wise metrics on every {stride}th foreground slice")


def compared_pairs(methods: Sequence[Method]) -> list[tuple[str, str]]:
    """The (a, b) method names whose paired intervals the verdicts read: ArSSR against cubic,
    each per-scale CNN against ArSSR and against cubic, and the CNNs among themselves (section
    4.2: "ResCNN achieves the best performance")."""
    baselines = [m.name for m in methods if m.kind == "baseline"]
    return ([("ArSSR", "Cubic")] + [(b, ref) for b in baselines for ref in ("ArSSR", "Cubic")]
            + [(x, y) for i, x in enumerate(baselines) for y in baselines[i + 1:]])


def seed_scores_and_intervals(profile: str, subjects: Sequence[Mapping[str, Any]], table: pd.DataFrame,
                              terms_by: dict[str, dict], groups: dict[str, list[Method]],
                              pairs: Sequence[tuple[str, str]], scales: Sequence[float], stride: int
                              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every training seed's scores and the intervals of ``pairs``, each with a ``subject``
    column (:func:`arssr_core.study.seeds.subject_seeds` per subject: over seeds and blocks where
    a model has several seeds, block- or slice-only where not). ``terms_by`` gains the extra
    seeds' terms."""
    parts = [seeds.subject_seeds(profile, s, table, terms_by[s["name"]], groups, pairs, scales, stride)
             for s in subjects]
    scores, intervals = ([x.assign(subject=s["name"]) for x, s in zip(part, subjects)] for part in zip(*parts))
    return pd.concat(scores, ignore_index=True), pd.concat(intervals, ignore_index=True)


def seed_spread_by_subject(seed_scores: pd.DataFrame, subjects: Sequence[Mapping[str, Any]]
                           ) -> list[tuple[str, pd.DataFrame]]:
    """``[(subject's title, its spread over training seeds)]``: mean and range per model and
    scale (:func:`arssr_core.study.seeds.seed_spread`)."""
    return [(s["title"], seeds.seed_spread(seed_scores[seed_scores["subject"] == s["name"]].drop(columns="subject")))
            for s in subjects]


def scale_changes(table: pd.DataFrame, terms_by: Mapping[str, dict], methods: Sequence[Method]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """How the results change from x2, each with a ``subject`` column: every method's change of
    each perceptual metric (:func:`~arssr_core.study.evaluation.scale_change`); how ArSSR's lead
    over cubic and each CNN in them changes, with paired slice-bootstrap intervals (section 4.2:
    "more significant with the up-sample scale increasing"); each method's change of PSI and
    LPC-SI (section 4.2: the CNNs "get more blurred")."""
    names = [m.name for m in methods]
    baselines = [m.name for m in methods if m.kind == "baseline"]
    subjects = list(terms_by)
    change = pd.concat([evaluation.scale_change(table[table["subject"] == n].drop(columns="subject"), list(PERCEPTUAL))
                        .assign(subject=n) for n in subjects], ignore_index=True)
    lead = pd.concat([evaluation.scale_change_intervals(terms_by[n], "ArSSR", ["Cubic", *baselines]).assign(subject=n)
                      for n in subjects], ignore_index=True)
    sharpness = pd.concat([evaluation.sharpness_change_intervals(terms_by[n], names).assign(subject=n)
                           for n in subjects], ignore_index=True)
    return change, lead, sharpness


def verdicts(profile: str, table: pd.DataFrame, intervals: pd.DataFrame, methods: Sequence[Method],
             titles: Mapping[str, str]) -> pd.DataFrame:
    """The verdicts of the main test, each judged on every test subject (titles: ``{subject:
    reader's name}``) and kept where they agree: ArSSR beats cubic on every metric at every scale;
    each per-scale CNN scores higher PSNR and SSIM than ArSSR; ArSSR scores better LPIPS, PSI and
    LPC-SI than each CNN. A CNN that does not beat cubic at a scale is untestable there; each
    caveat names the budgets and the compared runs still improving
    (:func:`arssr_core.study.curves.comparison_caveat`)."""
    arssr = next(m for m in methods if m.kind == "arssr")
    rows = [claims.per_subject(table, intervals, lambda t, iv: claims.claim_beats(
        t, "ArSSR", "Cubic", [*FIDELITY, *PERCEPTUAL], "ArSSR beats cubic interpolation on every metric at every scale",
        iv, caveat=curves.comparison_caveat(profile, [arssr])), titles)]
    for b in (m for m in methods if m.kind == "baseline"):
        caveat = curves.comparison_caveat(profile, [arssr, b])
        for a, c, metrics, claim in ((b.name, "ArSSR", FIDELITY, f"{b.name} (per scale) scores higher PSNR and SSIM than ArSSR"),
                                     ("ArSSR", b.name, PERCEPTUAL, f"ArSSR scores better LPIPS, PSI and LPC-SI than {b.name}")):
            rows.append(claims.per_subject(table, intervals, lambda t, iv, a=a, c=c, metrics=metrics, claim=claim:
                                           claims.claim_beats(t, a, c, list(metrics), claim, iv,
                                                              untestable=claims.not_above_cubic(t, b.name, intervals=iv),
                                                              caveat=caveat), titles))
    return claims.verdict_table(rows)
