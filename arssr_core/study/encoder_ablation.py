"""The encoder ablation's steps after scoring (notebook 07, paper section 4.6, Table 5): the
paired intervals between every two encoders (and cubic) on each test subject, and the verdicts
of "the encoder choice barely matters" at equal time (each subject judged apart) and at equal
steps (Colin27's snapshots).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from . import claims, curves, evaluation
from .evaluation import Method

#: "Barely matters": the spread of the encoders within these margins (PSNR in dB, SSIM).
SPREAD = (("psnr", 0.5), ("ssim", 0.01))


def labelled(runs: Mapping[str, str]) -> dict[str, str]:
    """The ablation's runs ``{encoder: checkpoint}`` under their display names ``ArSSR-<encoder>``."""
    return {f"ArSSR-{e}": str(p) for e, p in runs.items()}


def encoder_methods(runs: Mapping[str, str]) -> list[Method]:
    """Cubic, then ArSSR with each encoder's checkpoint of ``runs`` ``{encoder: checkpoint}``."""
    return [evaluation.cubic_method(), *[Method(name, "arssr", p) for name, p in labelled(runs).items()]]


def encoder_names(methods: Sequence[Method]) -> list[str]:
    """The ArSSR variants among ``methods`` (one per encoder), in their order."""
    return [m.name for m in methods if m.kind == "arssr"]


def encoder_intervals(terms_by: Mapping[str, dict], names: Sequence[str]) -> pd.DataFrame:
    """Paired block and slice intervals of every two encoders and of each against cubic, on each
    test subject (``terms_by``: :func:`arssr_core.study.evaluation.subject_terms`), with a
    ``subject`` column."""
    return pd.concat([evaluation.paired_intervals(terms_by[n], a, b).assign(subject=n)
                      for n in terms_by for i, a in enumerate(names) for b in [*names[i + 1:], "Cubic"]],
                     ignore_index=True)


def verdicts(profile: str, table: pd.DataFrame, intervals: pd.DataFrame, equal_steps: pd.DataFrame,
             methods: Sequence[Method], titles: Mapping[str, str]) -> pd.DataFrame:
    """Section 4.6's reading that the encoder choice barely matters: at equal time (Table 5, PSNR
    within 0.5 dB and SSIM within 0.01, each test subject judged apart and kept where they agree),
    and at each equal step count of the snapshots (PSNR within 0.5 dB). An encoder that does not
    beat cubic is untestable; the caveat names the budgets and the runs still improving."""
    names = encoder_names(methods)
    caveat = curves.comparison_caveat(profile, methods)
    unit = {"psnr": " dB"}
    rows = [claims.per_subject(table, intervals, lambda t, iv, m=m, tol=tol: claims.claim_small_spread(
                t, names, m, tol, f"The encoder choice barely matters ({m.upper()} within {tol:g}{unit.get(m, '')}, equal time)",
                untestable=[n for n in names if claims.not_above_cubic(t, n, intervals=iv)], caveat=caveat, intervals=iv),
                titles)
            for m, tol in SPREAD]
    for step in sorted(set(equal_steps["step"]) - {0}):
        at = equal_steps[equal_steps["step"] == step]
        rows.append(claims.claim_small_spread(
            at, names, "psnr", 0.5, f"The encoder choice barely matters (PSNR within 0.5 dB, equal steps: {step})",
            untestable=[n for n in names if claims.not_above_cubic(at, n)], caveat=caveat))
    return claims.verdict_table(rows)
