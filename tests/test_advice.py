"""The CLI's method advice: decided on the held-out validation slabs by a stated rule, and the
CLI's default and help follow it."""

import pandas as pd
import pytest

from arssr_core.infer.command import ADVICE, DEFAULT_METHOD, EPILOG
from arssr_core.study.advice import method_choice, recommended, request_kind, validation_table


def _val(scores: dict[str, list[float]], requests=("1x1x3", "1x1x5", "x3")) -> pd.DataFrame:
    """Two slabs; ``scores[method]`` holds PSNR per (slab, request) in that order."""
    rows = []
    for method, vals in scores.items():
        cells = [(s, r) for s in ("a", "b") for r in requests]
        rows += [{"subject": s, "method": method, "scale": r, "psnr": v} for (s, r), v in zip(cells, vals)]
    return pd.DataFrame(rows)


def test_request_kinds():
    assert request_kind("x3") == "isotropic" and request_kind("x2.5") == "isotropic"
    assert request_kind("1x1x3") == "thick slices" and request_kind("3x1x1") == "thick slices"


def test_the_rule_on_a_constructed_table():
    val = _val({"Cubic": [30, 26, 27, 40, 34, 35],
                "ArSSR": [31, 27, 28, 38, 34.05, 35.5],     # below cubic on slab b at 1x1x3 (-2 dB)
                "ArSSR-iso": [31.5, 27.5, 28.2, 39.5, 34.5, 35.6],
                "ArSSR-thick": [31.55, 27.5, 28.1, 39.5, 34.5, 35.6]})  # level with iso on thick slices
    c = method_choice(val).set_index(["kind", "method"])
    assert recommended(c.reset_index(), "isotropic") == "arssr-iso"
    assert c.loc[("thick slices", "arssr-thick"), "advice"].startswith(("recommended", "level"))
    assert c.loc[("thick slices", "arssr"), "advice"].startswith("not recommended")
    assert "below cubic in 1 of 4 cells (down to -2.00 dB)" in c.loc[("thick slices", "arssr"), "advice"]
    assert c.loc[("isotropic", "arssr"), "gain_vs_cubic"] == pytest.approx(0.75)
    assert c.loc[("thick slices", "arssr-iso"), "cells_below_cubic"] == 1  # 39.5 < 40 by 0.5 dB


def test_the_cli_default_and_help_follow_the_validation_slabs():
    """The committed validation table decides: the default is the recommended method for both
    kinds of request, and the help calls no method best that the slabs do not recommend."""
    choice = method_choice(validation_table("cpu"))
    for kind in ("isotropic", "thick slices"):
        assert recommended(choice, kind) == DEFAULT_METHOD
    line = {ln.split()[0]: ln for ln in EPILOG.splitlines() if ln.startswith("  arssr") or ln.startswith("  cubic")}
    assert "best" in line[DEFAULT_METHOD]
    thick = choice[(choice["kind"] == "thick slices") & (choice["method"] == "arssr-thick")]["advice"].iloc[0]
    if thick.startswith("not recommended"):
        assert "best" not in line["arssr-thick"] and "lost to" in line["arssr-thick"]


def test_the_cli_warns_about_every_method_the_slabs_do_not_recommend_for_its_kind():
    """A method recommended for no kind of request (but cubic, the reference, and arssr, the
    paper's model the study evaluates) carries a note when chosen."""
    choice = method_choice(validation_table("cpu"))
    never = {m for m, rows in choice.groupby("method") if not rows["advice"].str.startswith("recommended").any()}
    assert never - {"cubic", "arssr"} == set(ADVICE)
