"""The paper's claims as data: quoted verbatim, judged cell by cell with intervals under the
paper's own quantifier."""

import re

import pandas as pd
import pytest

from arssr_core.study.paper_claims import CLAIMS, PaperClaim, judge_cells, judge_pair, paper_text, verdict


def _section(text: str, number: str) -> str:
    """The text of section ``number`` (from its heading to the next numbered heading)."""
    start = re.search(rf"^{re.escape(number)} ", text, re.M).start()
    nxt = re.search(r"^\d\.\d(\.\d)? ", text[start + 4:], re.M)
    return text[start: start + 4 + nxt.start()] if nxt else text[start:]


def test_every_claim_quotes_its_section_verbatim():
    text = paper_text()
    assert {c.section for c in CLAIMS} == {"4.2", "4.3", "4.4", "4.5", "4.6"}
    for c in CLAIMS:
        assert c.quote in _section(text, c.section), (c.section, c.quote[:60])
    assert sum(c.section == "4.6" for c in CLAIMS) == 3  # the three encoder rankings


@pytest.mark.parametrize("quantifier", ["most", "generally", "none stated"])
def test_most_gives_each_of_the_four_statuses(quantifier):
    assert verdict(["for", "for", "for", "against"], quantifier) == "held"  # more than half
    assert verdict(["for", "for", "against", "against"], quantifier) == "did not hold"  # half at best
    assert verdict(["for", "inconclusive", "inconclusive", "against"], quantifier) == "inconclusive"
    assert verdict(["for", "for", "inconclusive", "inconclusive"], quantifier) == "inconclusive"  # could be 4 of 4
    assert verdict([], quantifier) == "untestable"


def test_all_and_all_but_one():
    assert verdict(["for"] * 3, "all") == "held"
    assert verdict(["for", "for", "inconclusive"], "all") == "inconclusive"
    assert verdict(["for", "for", "against"], "all") == "did not hold"
    assert verdict(["for", "for", "against"], "all but one") == "held"  # the paper names its one exception
    assert verdict(["for", "against", "against"], "all but one") == "did not hold"


def test_a_comparison_without_an_interval_decides_nothing():
    assert judge_pair(None, "psnr") == "inconclusive"
    assert judge_pair((0.5, 0.3, 0.7), "psnr") == "for"
    assert judge_pair((0.05, 0.01, 0.09), "psnr") == "inconclusive"  # below the 0.1 dB margin
    assert judge_pair((-0.5, -0.7, -0.3), "psnr") == "against"


def _table():
    scores = pd.DataFrame({"method": ["Cubic", "A", "B"] * 2, "scale": [2, 2, 2, 3, 3, 3],
                           "psnr": [28, 30, 29, 26, 27, 27.5], "lpips": [0.2, 0.1, 0.15, 0.3, 0.2, 0.25]})
    iv = pd.DataFrame([  # a minus b; B-A stored the other way round
        {"a": "A", "b": "Cubic", "scale": 2, "metric": "psnr", "diff": 2.0, "lo": 1.8, "hi": 2.2},
        {"a": "B", "b": "A", "scale": 2, "metric": "psnr", "diff": -1.0, "lo": -1.2, "hi": -0.8},
        {"a": "A", "b": "Cubic", "scale": 3, "metric": "psnr", "diff": 1.0, "lo": 0.8, "hi": 1.2},
        {"a": "B", "b": "A", "scale": 3, "metric": "psnr", "diff": 0.5, "lo": 0.3, "hi": 0.7},
        {"a": "A", "b": "Cubic", "scale": 2, "metric": "lpips", "diff": -0.1, "lo": -0.12, "hi": -0.08},
        {"a": "B", "b": "A", "scale": 2, "metric": "lpips", "diff": 0.05, "lo": 0.04, "hi": 0.06},
    ])
    return scores, iv


def test_cells_turn_intervals_to_the_claims_side():
    scores, iv = _table()
    claim = PaperClaim("4.2", "q", "most", "A is best", "t", "iv", "A", ("psnr", "lpips"))
    cells = judge_cells(claim, scores, iv).set_index(["scale", "metric"])["judgement"]
    assert cells[(2, "psnr")] == "for"  # beats cubic and B (stored as B - A)
    assert cells[(3, "psnr")] == "against"  # B ahead at x3
    assert cells[(2, "lpips")] == "for"  # lower LPIPS is better: turned round
    assert cells[(3, "lpips")] == "inconclusive"  # no interval at x3
    worse = PaperClaim("4.2", "q", "all", "A below B", "t", "iv", "A", ("psnr",), others=("B",), sign=-1)
    w = judge_cells(worse, scores, iv).set_index("scale")["judgement"]
    assert w[2] == "against" and w[3] == "for"


def test_the_published_scorecard_reads_the_inverted_claim_the_right_way():
    """§4.2 says ArSSR only beats cubic in PSNR and SSIM: the study's reading is that ArSSR is
    below the per-scale CNNs there, not that it has the highest PSNR."""
    below = [c for c in CLAIMS if c.section == "4.2" and c.sign == -1]
    assert len(below) == 1 and set(below[0].others) == {"SRCNN3D", "DCSRN", "ResCNN"}
    assert not any("highest PSNR" in c.reading and c.winner == "ArSSR" for c in CLAIMS)


def test_a_claims_comparisons_are_judged_at_the_family_wise_level():
    """Multiplicity: an interval that just clears zero at 95% decides one comparison, but not one
    of twenty (Bonferroni: widened to 1 - 0.05/20); the widening keeps the point estimate."""
    from arssr_core.study.paper_claims import family_interval

    assert family_interval((0.5, 0.3, 0.7), 1) == (0.5, 0.3, 0.7)
    d, lo, hi = family_interval((0.5, 0.3, 0.8), 20)
    k = 3.0233 / 1.95996  # z(1 - 0.025/20) / z(0.975)
    assert d == 0.5 and lo == pytest.approx(0.5 - 0.2 * k, rel=1e-3) and hi == pytest.approx(0.5 + 0.3 * k, rel=1e-3)
    scales = list(range(2, 12))  # ten cells, two comparisons each: a family of 20
    scores = pd.DataFrame([{"method": m, "scale": s, "psnr": 30.0} for s in scales for m in ("A", "B", "C")])
    iv = pd.DataFrame([{"a": "A", "b": o, "scale": s, "metric": "psnr", "diff": 0.3, "lo": 0.05, "hi": 0.55}
                       for s in scales for o in ("B", "C")])
    many = judge_cells(PaperClaim("4.2", "q", "all", "A best", "t", "iv", "A", ("psnr",)), scores, iv)
    assert set(many["judgement"]) == {"inconclusive"} and set(many["family"]) == {20}
    one = judge_cells(PaperClaim("4.2", "q", "all", "A best", "t", "iv", "A", ("psnr",), others=("B",), scales=(2,)),
                      scores, iv)
    assert one["judgement"].tolist() == ["for"]  # alone, the same interval decides


def test_claims_vs_measured_puts_the_papers_sentences_first_and_labels_the_studys_own():
    from arssr_core.study.paper_claims import claims_vs_measured

    c = CLAIMS[0]
    card = pd.DataFrame([{"section": c.section, "paper": c.quote, "quantifier": c.quantifier, "reading": c.reading,
                          "verdict": "held", "evidence": "e", "caveat": "k"}])
    own = pd.DataFrame({"notebook": ["07", "03", "09"], "claim": ["x", "y", "z"], "verdict": ["held"] * 3,
                        "evidence": ["e"] * 3, "caveat": ["k"] * 3})
    df = claims_vs_measured(card, own)
    assert list(df["source"]) == ["paper", "study's own", "study's own", "study's own"]
    assert df.loc[0, "paper"] in paper_text() and df.loc[0, "notebook"] == "03" and df.loc[0, "claim"] == c.reading
    assert list(df["section"][1:]) == ["4.2", "4.6", "beyond the paper"]  # the study's own by the experiment's section
    assert (df["paper"][1:] == "").all() and set(df.columns) >= {"section", "paper", "quantifier", "verdict", "caveat"}


def test_a_lead_that_grows_with_scale_has_a_slice_interval():
    """scale_change_intervals: ArSSR's lead over B grows by 0.05 a slice from x2 to x4 (noise
    shared by both methods cancels in the pairing); the lead at x3 does not change."""
    import numpy as np

    from arssr_core.study.evaluation import scale_change, scale_change_intervals

    rng = np.random.default_rng(0)
    base = rng.normal(0.3, 0.05, 200)
    terms = {("ArSSR", 2.0): {"lpips": base - 0.02}, ("B", 2.0): {"lpips": base},
             ("ArSSR", 3.0): {"lpips": base + 0.1 - 0.02}, ("B", 3.0): {"lpips": base + 0.1},
             ("ArSSR", 4.0): {"lpips": base + 0.2 - 0.07 + rng.normal(0, 0.01, 200)}, ("B", 4.0): {"lpips": base + 0.2}}
    iv = scale_change_intervals(terms, "ArSSR", ["B"], metrics=("lpips",)).set_index("scale")
    assert abs(iv.loc[4.0, "diff"] + 0.05) < 0.005 and iv.loc[4.0, "hi"] < 0  # LPIPS: lower is better, lead grows
    assert abs(iv.loc[3.0, "diff"]) < 1e-9
    table = pd.DataFrame({"method": ["ArSSR", "B"] * 2, "scale": [2.0, 2.0, 4.0, 4.0], "lpips": [0.28, 0.3, 0.43, 0.5]})
    ch = scale_change(table, ["lpips"]).set_index("method")
    assert ch.loc["ArSSR", "lpips"] - ch.loc["B", "lpips"] == pytest.approx(-0.05)


def test_sharpness_change_has_a_paired_slice_interval():
    """sharpness_change_intervals: B's PSI falls by 0.02 a slice from x2 to x4 (slice-to-slice
    spread shared by both scales cancels in the pairing); A's does not change."""
    import numpy as np

    from arssr_core.study.evaluation import sharpness_change_intervals

    rng = np.random.default_rng(1)
    base = rng.normal(0.4, 0.1, 150)
    terms = {("A", 2.0): {"psi": base}, ("A", 4.0): {"psi": base + rng.normal(0, 0.001, 150)},
             ("B", 2.0): {"psi": base}, ("B", 3.0): {"psi": base - 0.01}, ("B", 4.0): {"psi": base - 0.02}}
    ch = sharpness_change_intervals(terms, ["A", "B"], metrics=("psi",)).set_index(["method", "scale"])
    assert ch.loc[("B", 4.0), "diff"] == pytest.approx(-0.02) and ch.loc[("B", 4.0), "hi"] < 0
    assert ch.loc[("A", 4.0), "lo"] < 0 < ch.loc[("A", 4.0), "hi"]
    assert set(ch["from"]) == {2.0} and ("A", 3.0) not in ch.index  # only the scales a method has


def test_a_worsens_claim_judges_each_methods_change_with_its_interval():
    from arssr_core.study.paper_claims import judge_change_cells

    changes = pd.DataFrame([
        {"method": "C1", "scale": 4.0, "from": 2.0, "metric": "psi", "diff": -0.03, "lo": -0.04, "hi": -0.02},  # blurrier
        {"method": "C1", "scale": 4.0, "from": 2.0, "metric": "lpc_si", "diff": 0.02, "lo": 0.01, "hi": 0.03},  # sharper
        {"method": "C2", "scale": 4.0, "from": 2.0, "metric": "psi", "diff": -0.002, "lo": -0.01, "hi": 0.006},
        {"method": "C2", "scale": 4.0, "from": 2.0, "metric": "lpc_si", "diff": -0.03, "lo": float("nan"), "hi": float("nan")},
        {"method": "ArSSR", "scale": 4.0, "from": 2.0, "metric": "psi", "diff": -0.05, "lo": -0.06, "hi": -0.04},
    ])
    claim = PaperClaim("4.2", "q", "none stated", "the CNNs blur", "t", "t", "", ("psi", "lpc_si"), others=("C1", "C2"),
                       cells_by=("method",), kind="worsens")
    cells = judge_change_cells(claim, changes).set_index(["method", "metric"])["judgement"]
    assert len(cells) == 4  # ArSSR is not one of the claim's methods
    assert cells[("C1", "psi")] == "for" and cells[("C1", "lpc_si")] == "against"
    assert cells[("C2", "psi")] == "inconclusive"  # interval spans zero
    assert cells[("C2", "lpc_si")] == "inconclusive"  # no interval, whatever the point estimate
    assert verdict(list(cells), claim.quantifier) == "inconclusive"
    with pytest.raises(ValueError):
        PaperClaim("4.2", "q", "all", "r", "t", "t", "", ("psi",), kind="worsens")  # names no methods


def test_the_blur_claims_read_the_cnns_sharpness():
    blur = [c for c in CLAIMS if c.kind == "worsens"]
    assert [c.section for c in blur] == ["4.2", "4.3"]
    for c in blur:
        assert set(c.others) == {"SRCNN3D", "DCSRN", "ResCNN"} and set(c.metrics) == {"psi", "lpc_si"}
        assert "blur" in c.quote


def test_the_scorecard_as_read_folds_the_section_into_the_quote():
    from arssr_core.study.paper_claims import as_read

    card = pd.DataFrame([{"section": "4.2", "paper": "A sentence.", "verdict": "held"}])
    shown = as_read(card)
    assert list(shown.columns) == ["paper", "verdict"] and shown.loc[0, "paper"] == "§4.2 “A sentence.”"


def test_a_paper_claim_on_two_test_subjects_stands_only_where_they_agree(tmp_path, monkeypatch):
    from arssr_core.study.paper_claims import judge

    monkeypatch.setenv("ARSSR_RESULTS", str(tmp_path))
    tables = tmp_path / "cpu" / "tables"
    tables.mkdir(parents=True)
    scores = pd.DataFrame([{"subject": s, "method": m, "scale": 2.0, "psnr": 30.0} for s in ("one", "two")
                           for m in ("A", "B")])
    claim = PaperClaim("4.2", "q", "all", "A best", "03_t", "03_iv", "A", ("psnr",))
    scores.to_csv(tables / "03_t.csv", index=False)

    def write(lo_two):
        pd.DataFrame([{"subject": s, "a": "A", "b": "B", "scale": 2.0, "metric": "psnr", "diff": 0.5, "lo": lo,
                       "hi": 0.8} for s, lo in (("one", 0.3), ("two", lo_two))]).to_csv(tables / "03_iv.csv", index=False)

    write(0.3)
    agree = judge(claim, "cpu")
    assert agree["verdict"] == "held" and "one: held, two: held" in agree["caveat"]
    write(-0.1)
    split = judge(claim, "cpu")
    assert split["verdict"] == "inconclusive" and "disagree" in split["caveat"]
    assert split["evidence"].startswith("one: held") and "two: inconclusive" in split["evidence"]
    from arssr_core.data import catalog

    monkeypatch.setattr(catalog, "titles", lambda profile: {"one": "Subject One"})  # the catalog's titles
    named = judge(claim, "cpu")
    assert named["evidence"].startswith("Subject One: held") and "two: inconclusive" in named["evidence"]
    assert "test subjects: Subject One, two" in named["caveat"]


def test_verdict_counts_tally_each_source_by_verdict():
    from arssr_core.study.paper_claims import verdict_counts

    summary = pd.DataFrame({"source": ["paper", "paper", "paper", "study"],
                            "verdict": ["held", "inconclusive", "held", "did not hold"]})
    counts = verdict_counts(summary)
    assert counts.loc["paper", "held"] == 2 and counts.loc["paper", "did not hold"] == 0
    assert counts.loc["study", "did not hold"] == 1 and counts.loc["study", "held"] == 0
    assert int(counts.to_numpy().sum()) == len(summary)
