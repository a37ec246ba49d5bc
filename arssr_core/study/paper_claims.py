"""The paper's claims in its own words, judged cell by cell with intervals.

Each :class:`PaperClaim` quotes one sentence of sections 4.2-4.6 of the paper verbatim (a test
finds every quote in ``shared/paper/arssr_paper.txt``), keeps the paper's quantifier ("all",
"most", "generally", or "all but one" where the paper names its one exception) and says how
the study reads it: which method should win, against which methods, on which metrics and
scales, in which results table. A claim of kind "worsens" says instead that each of some methods
gets worse on some metrics as the scale grows; its cells are each method's change from the
smallest scale to a larger one, with the paired slice interval of that change
(:func:`arssr_core.study.evaluation.sharpness_change_intervals`).

A *cell* is one metric at one scale (and subject or region where the table has them). In a
cell the claimed winner is compared with each other method through a paired 95% interval of
the study's tables (``*_intervals``): *for* when the difference favours the winner by at least
the metric's margin (:data:`arssr_core.study.claims.MARGINS`) with the interval clear of zero,
*against* when it favours the other method that way, else *inconclusive*; a comparison with no
interval is inconclusive whatever its point estimate, so no verdict rests on one. A cell is
*for* when every comparison in it is, *against* when one is.

Multiplicity: a claim is judged over many comparisons (cells x compared methods), and at 95%
each, one of twenty would clear zero by chance. Every comparison of a claim is therefore judged
at the family-wise 95% level of the claim's ``m`` comparisons with an interval (Bonferroni:
each interval widened to ``1 - 0.05 / m``, :func:`family_interval`).

A claim's verdict from its cells (``n`` of them):

* all: *held* when every cell is for; *did not hold* when a cell is against; else *inconclusive*;
* all but one: *held* when at most one cell is not for; *did not hold* when two are against;
* most, generally, none stated (a sentence with no quantifier, read as a tendency): *held* when
  more than half the cells are for; *did not hold* when the cells
  for, even with every inconclusive one counted for, are at most half; else *inconclusive*;
* *untestable* when no cell can be judged (the table or the methods are missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..paths import REPO_ROOT, results_dir
from .claims import MARGINS
from .curves import trend_table, trends_caveat
from .methods import METHODS
from .evaluation import BETTER, metric_label

QUANTIFIERS = ("all", "all but one", "most", "generally", "none stated")
KINDS = ("beats", "worsens")


@dataclass(frozen=True)
class PaperClaim:
    """One checkable claim of the paper: its section, its sentence (verbatim), its quantifier,
    and how the study reads it (``winner`` better than each of ``others`` on ``metrics`` at
    ``scales`` in ``table``; ``sign=-1``: worse instead). ``where`` filters the table's rows
    (``{"region": "whole"}``); ``cells_by`` are the columns besides scale and metric that make
    a cell (subject, region). ``kind="worsens"``: each method of ``others`` is worse at each
    larger scale than at the table's base scale (``winner`` unused; ``table`` holds the changes
    with their intervals; ``cells_by`` includes "method")."""

    section: str
    quote: str
    quantifier: str
    reading: str
    table: str
    intervals: str | None
    winner: str
    metrics: tuple[str, ...]
    others: tuple[str, ...] | None = None
    scales: tuple[float, ...] | None = None
    sign: int = 1
    where: Mapping[str, object] = field(default_factory=dict)
    cells_by: tuple[str, ...] = ()
    scale_col: str = "scale"  # the table's column of scales or requests (05: ``request``)
    kind: str = "beats"

    def __post_init__(self) -> None:
        if self.quantifier not in QUANTIFIERS:
            raise ValueError(f"{self.section}: quantifier {self.quantifier!r} is not one of {QUANTIFIERS}")
        if self.kind not in KINDS:
            raise ValueError(f"{self.section}: kind {self.kind!r} is not one of {KINDS}")
        if self.kind == "worsens" and (not self.others or "method" not in self.cells_by):
            raise ValueError(f"{self.section}: a 'worsens' claim names its methods (others) and has 'method' in cells_by")


_PERCEPTUAL = ("lpips", "psi", "lpc_si")
_SHARPNESS = ("psi", "lpc_si")  # the no-reference sharpness indices: lower is blurrier
_CNNS = tuple(m.display for m in METHODS.values() if m.kind == "baseline")  # SRCNN3D, DCSRN, ResCNN

#: The checkable claims of sections 4.2-4.6, in the paper's order.
CLAIMS: tuple[PaperClaim, ...] = (
    PaperClaim("4.2", "Specifically, the SISR results from cubic interpolation are extremely blurry and with severe "
               "artifacts; while SRCNN3D [10], DCSRN [11], and ResCNN [12] models recover limited fine details in HR "
               "image and their results get more blurred with the up-sample scale increasing.", "none stated",
               "each per-scale CNN's PSI and LPC-SI (sharpness) are lower at x3 and at x4 than at x2",
               "03_sharpness_change_intervals", "03_sharpness_change_intervals", "", _SHARPNESS, others=_CNNS,
               cells_by=("method",), kind="worsens"),
    PaperClaim("4.2", "In terms of PSNR and SSIM [44], ResCNN [12] achieves the best performance for all the scale "
               "cases, while our ArSSR model only scores higher than cubic interpolation.", "all",
               "ResCNN has the highest PSNR and SSIM of the five methods at x2, x3, x4",
               "03_main_test", "03_intervals", "ResCNN", ("psnr", "ssim"), scales=(2, 3, 4)),
    PaperClaim("4.2", "In terms of PSNR and SSIM [44], ResCNN [12] achieves the best performance for all the scale "
               "cases, while our ArSSR model only scores higher than cubic interpolation.", "all",
               "ArSSR's PSNR and SSIM are above cubic's at x2, x3, x4",
               "03_main_test", "03_intervals", "ArSSR", ("psnr", "ssim"), others=("Cubic",), scales=(2, 3, 4)),
    PaperClaim("4.2", "In terms of PSNR and SSIM [44], ResCNN [12] achieves the best performance for all the scale "
               "cases, while our ArSSR model only scores higher than cubic interpolation.", "all",
               "ArSSR's PSNR and SSIM are below each per-scale CNN's at x2, x3, x4 (it *only* beats cubic)",
               "03_main_test", "03_intervals", "ArSSR", ("psnr", "ssim"), others=_CNNS, scales=(2, 3, 4), sign=-1),
    PaperClaim("4.2", "For LPIPS [45], LPC-SI [47], and PSI [46], we observe that the ArSSR provides the best "
               "performance in most of the scale cases.", "most",
               "ArSSR is the best of the five methods in LPIPS, LPC-SI and PSI in most scale cases",
               "03_main_test", "03_intervals", "ArSSR", _PERCEPTUAL, scales=(2, 3, 4)),
    PaperClaim("4.2", "To be more specific, the improvement from the ArSSR model is more significant with the "
               "up-sample scale increasing, which is consistent with the above qualitative results.", "none stated",
               "ArSSR's lead in LPIPS, LPC-SI and PSI over each other method is larger at x3 and at x4 than at x2",
               "03_scale_change", "03_scale_change_intervals", "ArSSR", _PERCEPTUAL),
    PaperClaim("4.3", "While the SISR results from the three deep-learning-based models dramatically become more "
               "blurry with the up-sampling scale increasing.", "none stated",
               "on the lesion brains, each per-scale CNN's PSI and LPC-SI (sharpness) are lower at x3 and at x4 than "
               "at x2 (the study tests the direction, not \"dramatically\")",
               "04_sharpness_change_intervals", "04_sharpness_change_intervals", "", _SHARPNESS, others=_CNNS,
               cells_by=("subject", "method"), kind="worsens"),
    PaperClaim("4.3", "Similar to the quantitative result on the test set of the HCP-1200 dataset [43], in terms of "
               "PSNR and SSIM[44], the proposed ArSSR model has low scores; while in terms of LPIPS [45], PSI [46], "
               "and LCP-SI [47], the ArSSR model obtain the best performance in the most of the scales.", "most",
               "on the lesion brains, ArSSR is the best method in LPIPS, PSI and LPC-SI at most scales",
               "04_lesion", "04_intervals", "ArSSR", _PERCEPTUAL, where={"region": "whole"}, cells_by=("subject",)),
    PaperClaim("4.3", "Similar to the quantitative result on the test set of the HCP-1200 dataset [43], in terms of "
               "PSNR and SSIM[44], the proposed ArSSR model has low scores; while in terms of LPIPS [45], PSI [46], "
               "and LCP-SI [47], the ArSSR model obtain the best performance in the most of the scales.", "none stated",
               "on the lesion brains, ArSSR's PSNR and SSIM are below each per-scale CNN's (its \"low scores\")",
               "04_lesion", "04_intervals", "ArSSR", ("psnr", "ssim"), others=_CNNS, sign=-1, where={"region": "whole"},
               cells_by=("subject",)),
    PaperClaim("4.4", "We can see that our ArSSR model generally obtains the best performance at three "
               "up-sampling scales.", "generally",
               "on the real LR scans, ArSSR has the highest PSI and LPC-SI of cubic, ResCNN and ArSSR",
               "05_real_lr", "05_real_lr_intervals", "ArSSR", ("psi", "lpc_si"), others=("Cubic", "ResCNN"), cells_by=("scan",),
               scale_col="request"),
    PaperClaim("4.5", "Except for that when the scale , ResCNN [12] slightly outperforms the ArSSR model on the "
               "segmentation region of the While Matter (Dice: vs ), our ArSSR model achieves the best performance "
               "on all segmentation regions at all up-sampling scales.", "all but one",
               "ArSSR's segmentation has the highest Dice of the five methods in every region at every scale, "
               "but for one (region, scale)",
               "06_segmentation_dice", "06_dice_intervals", "ArSSR", ("dice",), cells_by=("region",)),
    PaperClaim("4.6", "In terms of PSNR and SSIM [44], the ArSSR model with the ResCNN [12] encoder network achieves "
               "the highest scores for all the scales.", "all",
               "ArSSR with the ResCNN encoder has the highest PSNR and SSIM of the three encoders",
               "07_encoder_ablation", "07_intervals", "ArSSR-rescnn", ("psnr", "ssim"), others=("ArSSR-srresnet", "ArSSR-rdn")),
    PaperClaim("4.6", "In terms of LPIPS [45] and PSI [46], the ArSSR model with the RDN [24] encoder network "
               "obtains the best performance for all the scales.", "all",
               "ArSSR with the RDN encoder has the best LPIPS and PSI of the three encoders",
               "07_encoder_ablation", "07_intervals", "ArSSR-rdn", ("lpips", "psi"), others=("ArSSR-rescnn", "ArSSR-srresnet")),
    PaperClaim("4.6", "While for LPC-SI [47], the ArSSR model with the SRResNet [22] encoder network produces the "
               "highest scores for all the scales.", "all",
               "ArSSR with the SRResNet encoder has the highest LPC-SI of the three encoders",
               "07_encoder_ablation", "07_intervals", "ArSSR-srresnet", ("lpc_si",), others=("ArSSR-rescnn", "ArSSR-rdn")),
)


def paper_text(path: Path | None = None) -> str:
    """The paper's text (``shared/paper/arssr_paper.txt`` beside the repository)."""
    return (path or REPO_ROOT.parent / "shared" / "paper" / "arssr_paper.txt").read_text()


def _oriented(iv: pd.DataFrame, winner: str, other: str, metric: str, cell: Mapping[str, object],
              sign: int) -> tuple[float, float, float] | None:
    """The paired interval of ``winner`` minus ``other`` in ``cell``, turned so that a positive
    value supports the claim (higher-is-better metrics as they are, LPIPS turned round, ``sign``
    -1 for a claim that the winner is worse); None where the table has no such interval."""
    if iv is None or not len(iv):
        return None
    rows = iv[iv["metric"] == metric]
    for col, val in cell.items():
        if col in rows.columns:
            rows = rows[rows[col].astype(str) == str(val)] if col != "scale" or not _is_number(val) else \
                rows[pd.to_numeric(rows[col], errors="coerce").round(3) == round(float(val), 3)]
    fwd = rows[(rows["a"] == winner) & (rows["b"] == other)]
    back = rows[(rows["a"] == other) & (rows["b"] == winner)]
    if len(fwd):
        d, lo, hi = (float(fwd.iloc[0][k]) for k in ("diff", "lo", "hi"))
    elif len(back):
        d, lo, hi = (-float(back.iloc[0][k]) for k in ("diff", "hi", "lo"))
    else:
        return None
    s = sign * BETTER.get(metric, 1)
    return (d * s, lo * s, hi * s) if s > 0 else (d * s, hi * s, lo * s)


def judge_pair(oriented: tuple[float, float, float] | None, metric: str) -> str:
    """``for`` / ``against`` / ``inconclusive`` for one oriented paired interval (None: no interval)."""
    if oriented is None:
        return "inconclusive"
    d, lo, hi = oriented
    margin = MARGINS.get(metric, 0.0)
    if lo > 0 and d >= margin:
        return "for"
    if hi < 0 and d <= -margin:
        return "against"
    return "inconclusive"


def family_interval(oriented: tuple[float, float, float] | None, m: int) -> tuple[float, float, float] | None:
    """A 95% interval ``(d, lo, hi)`` widened to the family-wise 95% level of ``m`` comparisons
    (Bonferroni: each at ``1 - 0.05 / m``): each half-width scaled by ``z(1 - 0.025/m) / z(0.975)``,
    the normal approximation of the bootstrap percentile interval (its asymmetry kept)."""
    from scipy.stats import norm

    if oriented is None or m <= 1:
        return oriented
    d, lo, hi = oriented
    k = float(norm.ppf(1 - 0.025 / m) / norm.ppf(0.975))
    return d, d - (d - lo) * k, d + (hi - d) * k


def judge_cells(claim: PaperClaim, scores: pd.DataFrame, intervals: pd.DataFrame | None) -> pd.DataFrame:
    """One row per cell of ``claim``: its keys, metric, the comparisons made (with their
    oriented intervals or "no interval") and the cell's judgement. Multiplicity: the claim's
    comparisons are judged at the family-wise 95% level over all of them
    (:func:`family_interval`), so one "against" among many is not a chance finding at 5% each."""
    t = scores
    for col, val in claim.where.items():
        t = t[t[col].astype(str) == str(val)]
    if claim.scales is not None:
        t = t[pd.to_numeric(t["scale"], errors="coerce").round(3).isin([round(float(s), 3) for s in claim.scales])]
    if claim.scale_col != "scale":
        t = t.rename(columns={claim.scale_col: "scale"})
    keys = [*claim.cells_by, "scale"]
    found = []  # (cell, metric, [(other, oriented 95% interval, point difference)])
    for cell_vals, group in t.groupby(keys, sort=False):
        cell = dict(zip(keys, cell_vals if isinstance(cell_vals, tuple) else (cell_vals,)))
        present = set(group["method"])
        if claim.winner not in present:
            continue
        others = [m for m in (claim.others or sorted(present - {claim.winner}, key=list(group["method"]).index))
                  if m in present and m != claim.winner]
        if not others:
            continue
        for metric in claim.metrics:
            if metric not in group.columns or group[metric].isna().all():
                continue
            point = group.set_index("method")[metric]
            found.append((cell, metric, [(o, _oriented(intervals, claim.winner, o, metric, cell, claim.sign),
                                          claim.sign * BETTER.get(metric, 1) * float(point[claim.winner] - point[o]))
                                         for o in others]))
    family = sum(iv is not None for _, _, comps in found for _, iv, _ in comps)
    rows = []
    for cell, metric, comps in found:
        pairs = []
        for o, o_iv, d in comps:
            wide = family_interval(o_iv, family)
            pairs.append((o, wide, judge_pair(wide, metric), d))
        verdicts = [j for _, _, j, _ in pairs]
        judgement = "against" if "against" in verdicts else "for" if all(j == "for" for j in verdicts) \
            else "inconclusive"
        rows.append({**cell, "metric": metric, "judgement": judgement, "family": family,
                     "points_for": all(d > 0 for _, _, _, d in pairs),  # every point estimate the claimed way
                     "missing": [o for o, iv, _, _ in pairs if iv is None],
                     "comparisons": ", ".join(  # what kept the cell from being for
                         f"vs {o} " + (f"{d:+.3g} (no interval)" if iv is None else
                                       f"{iv[0]:+.3g} [{iv[1]:+.3g}, {iv[2]:+.3g}]") + f" {j}"
                         for o, iv, j, d in pairs if j != "for")})
    return pd.DataFrame(rows)


def judge_change_cells(claim: PaperClaim, changes: pd.DataFrame) -> pd.DataFrame:
    """The cells of a "worsens" claim: one per (``cells_by``, scale, metric) row of ``changes``
    (a method's change from its base scale, ``diff`` with its paired interval ``lo``, ``hi``)
    for the claim's methods, turned so that a positive value is a worse result at the larger
    scale, and judged like a comparison (:func:`judge_pair`) at the family-wise level of all of
    them. Columns as :func:`judge_cells`'s."""
    t = changes[changes["method"].isin(claim.others or ()) & changes["metric"].isin(claim.metrics)]
    for col, val in claim.where.items():
        t = t[t[col].astype(str) == str(val)]
    if claim.scales is not None:
        t = t[pd.to_numeric(t["scale"], errors="coerce").round(3).isin([round(float(s), 3) for s in claim.scales])]
    found = []
    for _, r in t.iterrows():
        s = -BETTER.get(str(r["metric"]), 1)  # worse at the larger scale supports the claim
        d, lo, hi = float(r["diff"]) * s, float(r["lo"]) * s, float(r["hi"]) * s
        found.append((r, None if pd.isna(lo) or pd.isna(hi) else (d, min(lo, hi), max(lo, hi)), d))
    family = sum(iv is not None for _, iv, _ in found)
    rows = []
    for r, iv, d in found:
        wide = family_interval(iv, family)
        j = judge_pair(wide, str(r["metric"]))
        rows.append({**{c: r[c] for c in claim.cells_by}, "scale": r["scale"], "metric": r["metric"], "judgement": j,
                     "family": family, "points_for": d > 0, "missing": [] if iv is not None else [str(r["method"])],
                     "comparisons": "" if j == "for" else (
                         f"worse by {d:+.3g} from x{float(r['from']):g} " + ("(no interval)" if wide is None else
                                                                          f"[{wide[1]:+.3g}, {wide[2]:+.3g}]") + f" {j}")})
    return pd.DataFrame(rows)


def verdict(judgements: Sequence[str], quantifier: str) -> str:
    """A claim's status from its cells' judgements under the paper's quantifier (module docstring)."""
    n = len(judgements)
    if n == 0:
        return "untestable"
    n_for = sum(j == "for" for j in judgements)
    n_against = sum(j == "against" for j in judgements)
    n_open = n - n_for - n_against
    if quantifier == "all":
        return "held" if n_for == n else "did not hold" if n_against else "inconclusive"
    if quantifier == "all but one":
        return "held" if n_for >= n - 1 else "did not hold" if n_against >= 2 else "inconclusive"
    if n_for > n / 2:  # most, generally
        return "held"
    return "did not hold" if n_for + n_open <= n / 2 else "inconclusive"


def _cell_name(row: Mapping[str, object], claim: PaperClaim) -> str:
    bits = [str(row[c]).replace("_", " ") for c in claim.cells_by] + [f"x{float(row['scale']):g}" if _is_number(row["scale"])
                                                    else str(row["scale"]), metric_label(str(row["metric"]))]
    return " ".join(bits)


def _is_number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
        return True
    except (TypeError, ValueError):
        return False


def claim_runs(profile: str, claim: PaperClaim, names: Sequence[str]) -> list[tuple[str, Path]]:
    """``[(name, run folder)]`` of the trained models among ``names`` (display names of a claim's
    methods): ArSSR's run, each per-scale CNN's run at each of its scales, the ablation
    encoders' runs (``ArSSR-<encoder>``); cubic has none."""
    from ..profiles import load_profile
    from .curves import method_runs
    from .evaluation import arssr_method, baseline_methods
    from .experiments import pretrained_dir, run_dir, run_tag

    runs: list[tuple[str, Path]] = []
    baselines = {m.name: m for m in baseline_methods(profile)}
    for name in names:
        if name == "ArSSR":
            runs += method_runs(profile, arssr_method(profile))
        elif name in baselines:
            runs += [(n, r) for n, r in method_runs(profile, baselines[name])
                     if claim.scales is None or any(n.endswith(f" x{float(s):g}") for s in claim.scales)]
        elif name.startswith("ArSSR-"):
            tag = run_tag("ablation", name.split("-", 1)[1])
            runs.append((name, pretrained_dir(load_profile(profile), tag) or run_dir(profile, tag)))
    return [(n, r) for n, r in runs if (Path(r) / "validation.csv").is_file()]


def _cells(claim: PaperClaim, scores: pd.DataFrame, intervals: pd.DataFrame | None) -> pd.DataFrame:
    return judge_change_cells(claim, scores) if claim.kind == "worsens" else judge_cells(claim, scores, intervals)


def _evidence(claim: PaperClaim, cells: pd.DataFrame) -> str:
    n = {j: int((cells["judgement"] == j).sum()) for j in ("for", "against", "inconclusive")}
    shown = pd.concat([cells[cells["judgement"] == "against"], cells[cells["judgement"] == "inconclusive"]]).head(3)
    return (f"{n['for']} of {len(cells)} cells for, {n['against']} against, {n['inconclusive']} inconclusive "
            f"(point estimates the reading's way in {int(cells['points_for'].sum())})"
            + ("; " + "; ".join(f"{_cell_name(r, claim)}: {r['comparisons']}" for _, r in shown.iterrows())
               if len(shown) else ""))


def _by_subject(claim: PaperClaim, scores: pd.DataFrame, intervals: pd.DataFrame | None
                ) -> list[tuple[str | None, pd.DataFrame]]:
    """``[(subject, cells)]``: the claim judged on each test subject of a table with a ``subject``
    column that is not one of the claim's cells (the main test's subjects), else once."""
    if "subject" not in scores.columns or "subject" in claim.cells_by or scores["subject"].nunique() <= 1:
        return [(None, _cells(claim, scores, intervals))]
    out = []
    for subj in dict.fromkeys(scores["subject"]):
        iv = intervals
        if intervals is not None and "subject" in intervals.columns:
            iv = intervals[intervals["subject"] == subj]
        out.append((str(subj), _cells(claim, scores[scores["subject"] == subj], iv)))
    return out


def judge(claim: PaperClaim, profile: str) -> dict:
    """The scorecard row of one claim: section, the paper's sentence, its quantifier, the study's
    reading, the verdict, the deciding evidence and a caveat that names what decided it. A table
    of several test subjects is judged on each: the verdict stands only where they agree, else
    it is inconclusive and the caveat says so."""
    tables = results_dir(profile) / "tables"
    path = tables / f"{claim.table}.csv"
    row = {"section": claim.section, "paper": claim.quote, "quantifier": claim.quantifier,
           "reading": claim.reading}
    if not path.exists():
        return {**row, "verdict": "untestable", "evidence": f"no table {claim.table}",
                "caveat": f"notebook {claim.table[:2]} has not run"}
    scores = pd.read_csv(path)
    iv_path = tables / f"{claim.intervals}.csv" if claim.intervals else None
    intervals = pd.read_csv(iv_path) if iv_path is not None and iv_path.exists() else None
    judged = [(subj, cells, verdict(list(cells["judgement"]) if len(cells) else [], claim.quantifier))
              for subj, cells in _by_subject(claim, scores, intervals)]
    if not any(len(cells) for _, cells, _ in judged):
        return {**row, "verdict": "untestable", "evidence": "no cell with the claimed methods",
                "caveat": f"{claim.table} lacks {claim.winner or ', '.join(claim.others or ())} "
                          "or the methods it is compared with"}
    from ..data.catalog import titles as catalog_titles

    titles = catalog_titles(profile)
    judged = [(titles.get(subj, subj), cells, st) for subj, cells, st in judged]  # a reader's name for each subject
    statuses = [st for _, _, st in judged]
    status = statuses[0] if len(set(statuses)) == 1 else "inconclusive"
    if len(judged) == 1:
        evidence = _evidence(claim, judged[0][1])
    else:
        evidence = " | ".join(f"{subj}: {st}, " + (_evidence(claim, cells) if len(cells) else "no cell")
                              for subj, cells, st in judged)
    cells = pd.concat([c for _, c, _ in judged if len(c)], ignore_index=True)
    caveat = []
    if len(judged) > 1:
        caveat.append("judged on each test subject (" + ", ".join(f"{subj}: {st}" for subj, _, st in judged) + ")"
                      + ("" if len(set(statuses)) == 1 else ": the subjects disagree, so the claim is inconclusive"))
    caveat.append(f"each comparison judged at the family-wise 95% level of the claim's {int(cells['family'].iloc[0])} "
                  "comparisons with an interval (Bonferroni)" + (" on each subject" if len(judged) > 1 else ""))
    without = sorted({o for m in cells["missing"] for o in m})
    if without:
        caveat.append(f"no paired interval against {', '.join(without)} in {claim.intervals or 'any table'}: "
                      "those comparisons count as inconclusive")
    if claim.kind == "worsens":
        caveat.append("a cell is one method's change from x2, paired over the same slices; PSI and LPC-SI are "
                      "no-reference indices, and any method's output loses sharpness as its LR input holds less "
                      "detail (cubic's and ArSSR's changes are in the same table)")
    if claim.table == "03_scale_change":
        caveat.append("a cell is a scale's change from x2: the lead there minus the lead at x2, paired over "
                      "the same slices")
    names = list(claim.others or ()) if claim.kind == "worsens" else \
        [claim.winner, *(claim.others or sorted(set(scores["method"]) - {claim.winner}))]
    trends = trends_caveat(trend_table(claim_runs(profile, claim, names))).rstrip(".")
    caveat.append(trends[:1].lower() + trends[1:])
    subjects = ", ".join(dict.fromkeys(titles.get(x, x) for x in scores["subject"].astype(str))) \
        if "subject" in scores.columns else ""
    caveat.append({"03": f"test subjects: {subjects or 'Colin27'}",
                   "04": "one real tumour scan and one brain with synthetic lesions",
                   "05": "real scans without ground truth, sharpness indices only",
                   "06": f"test subjects: {subjects or 'Colin27'}, each segmented on a 112³ cube",
                   "07": f"test subjects: {subjects or 'Colin27'}; ablation encoders at equal CPU time"}.get(claim.table[:2], ""))
    return {**row, "verdict": status, "evidence": evidence,
            "caveat": "; ".join(c for c in caveat if c) + "."}


def scorecard(profile: str, claims: Sequence[PaperClaim] = CLAIMS) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS`, judged from the profile's results tables, in the paper's order."""
    return pd.DataFrame([judge(c, profile) for c in claims])


#: The paper's section each notebook's experiment belongs to (09 goes beyond the paper).
NOTEBOOK_SECTIONS = {"01": "4.2", "02": "4.2", "03": "4.2", "04": "4.3", "05": "4.4", "06": "4.5", "07": "4.6"}
SOURCES = ("paper", "study's own")
COLUMNS = ["section", "source", "paper", "quantifier", "claim", "verdict", "evidence", "caveat", "notebook"]


def claims_vs_measured(scorecard_rows: pd.DataFrame, study_verdicts: pd.DataFrame) -> pd.DataFrame:
    """Every verdict in one table: the paper's claims (:func:`scorecard`: its sentence quoted, its
    quantifier, the study's reading as ``claim``) first, in the paper's order, then the claims the
    study adds (``source`` "study's own", no sentence of the paper; quantifier "all": each holds
    only if every comparison it makes does), sorted by the paper section their experiment belongs to.
    ``study_verdicts``: :func:`arssr_core.study.report.gather_verdicts`."""
    paper = scorecard_rows.rename(columns={"reading": "claim"}).assign(
        source="paper", notebook=[next((c.table[:2] for c in CLAIMS if c.quote == q and c.reading == r), "")
                                  for q, r in zip(scorecard_rows["paper"], scorecard_rows["reading"])])
    own = study_verdicts.assign(
        notebook=study_verdicts["notebook"].astype(str).str[:2],
        section=study_verdicts["notebook"].astype(str).str[:2].map(NOTEBOOK_SECTIONS).fillna("beyond the paper"),
        source="study's own", paper="", quantifier="all")
    own = own.sort_values("section", kind="stable")
    return pd.concat([paper, own], ignore_index=True).reindex(columns=COLUMNS)


def as_read(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard (:func:`scorecard`) for a page: the section folded into the quoted sentence
    ("§4.2 “...”"), so that the table fits a book's column."""
    return card.assign(paper="§" + card["section"].astype(str) + " “" + card["paper"].astype(str) + "”").drop(
        columns="section")


def verdict_counts(summary: pd.DataFrame) -> pd.DataFrame:
    """How many verdicts of each kind (columns) the paper's claims and the study's own (rows) got,
    from :func:`claims_vs_measured`'s table; a kind no verdict has is left out."""
    return summary.groupby(["source", "verdict"]).size().unstack(fill_value=0)
