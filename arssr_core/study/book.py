"""Build the Jupyter Book (1.x, offline) from a profile's executed notebooks and results.

The committed ``book/`` folder holds the hand-written pages and ``_config.yml``; the
build stages them with the executed notebooks of ``results/<profile>/notebooks/`` and a
generated results page (every CSV table and PNG figure) into
``book/_build/<profile>/src`` and builds HTML into ``book/_build/<profile>/html``.
A smoke-profile book carries a warning on every page that its numbers are not results.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import yaml

from ..errors import ArssrError
from ..paths import REPO_ROOT, results_dir

BOOK_DIR = REPO_ROOT / "book"
PAGES_BEFORE = ["intro"]
PAGES_AFTER = ["results", "reproduction", "rerun", "limitations"]

SMOKE_BANNER = (
    "```{warning}\nThis page was built with the **smoke** profile: tiny crops and a few training "
    "steps, for tests and CI. **Its numbers mean nothing** and are not results of the study. "
    "The study's results are in the book built with the `cpu` profile.\n```\n"
)


STALE_BANNER = (
    "```{{caution}}\nThis page's results were computed **before {reason}**: its numbers are those of an "
    "earlier state of the study, kept until `make reproduce` reruns it. The provenance box below says when "
    "it ran.\n```\n"
)


def stale_reason(name: str, record: dict | None) -> str | None:
    """Why the executed notebook ``name`` no longer matches the current state, as the end of
    "computed before ...", or None when it matches: its code, profile or source changed since
    (its record's key); it used the training seeds and a seed has finished since
    (:func:`arssr_core.study.pipeline.census_unchanged`); or it read an input file (weights,
    data) whose content here differs from the recorded one. Input files this machine does not
    have (a fresh clone before ``arssr data prepare``) cannot be checked: they do not make a
    page stale."""
    from .pipeline import census_unchanged, input_path, inputs_unchanged, record_key

    src = REPO_ROOT / "notebooks" / name
    if not record or not src.exists():
        return None
    if record.get("key") != record_key(src, record):
        return "the current code, profile or notebook (its run record's key no longer matches)"
    if not census_unchanged(record):
        return ("the training seeds that have finished since (it scores every finished seed, and its record "
                "lists fewer)")
    here = {k: v for k, v in (record.get("inputs") or {}).items() if input_path(k).is_file()}
    changed = [k for k, v in here.items() if not inputs_unchanged({**record, "inputs": {k: v}})]
    if changed:
        shown = ", ".join(f"`{k}`" for k in changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        return f"the current content of {'an input file' if len(changed) == 1 else 'input files'} it read ({shown})"
    return None


def is_stale(name: str, record: dict | None) -> bool:
    """True when :func:`stale_reason` has a reason: the page's results are not the current state's."""
    return stale_reason(name, record) is not None


def _banner(profile: str) -> str:
    from ..profiles import load_profile

    return SMOKE_BANNER if load_profile(profile).get("plumbing_only") else ""


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _is_residue(out: dict) -> bool:
    """Progress bars (tqdm's widget or stderr text) and object reprs of paths: nothing a
    reader of the page needs."""
    if out.get("output_type") == "stream" and out.get("name") == "stderr":
        return True
    data = out.get("data", {})
    if "application/vnd.jupyter.widget-view+json" in data:
        return True
    text = "".join(data.get("text/plain", "")) if list(data) == ["text/plain"] else ""
    return text.startswith(("PosixPath(", "WindowsPath("))


def _roots() -> list[str]:
    """The absolute folders a page's printed paths start with (longest first): shown relative."""
    from ..paths import data_root, results_dir

    roots = {str(REPO_ROOT), str(data_root()), str(results_dir("x").parent), str(results_dir("x").parent.parent)}
    return sorted((r.rstrip("/") + "/" for r in roots if r not in ("", "/")), key=len, reverse=True)


#: An absolute path's prefix up to one of the repository's top folders, as printed on the machine
#: that ran a notebook (another machine's checkout: its root is not this one's).
_FOREIGN_ROOT = re.compile(r"(?<![\w.~])/(?:[^/\s'\"]+/)+?(?=(?:data|results|checkpoints|notebooks|book)/)")


def _relative(text: str, roots: list[str]) -> str:
    for r in roots:
        text = text.replace(r, "")
    return _FOREIGN_ROOT.sub("", text)


def run_with(params: dict, record: dict | None, commit: str, defaults: str = "") -> str:
    """The provenance box of a page: the parameters it was run with (papermill's overrides, then
    the notebook's own parameters cell), when and how long it ran, where, at which commit."""
    ps = ", ".join(f"`{k} = {v!r}`" for k, v in params.items()) or "the defaults"
    bits = [f"**Run with** {ps}"]
    if record:
        took = (f", reading {record['cache_reads']} results (super-resolved volumes, atlas priors, stored scores and segmentations) "
                f"from that machine's result cache, where this notebook, an earlier one or an earlier run had stored them; run "
                f"alone on a fresh clone, it computes them all, which takes longer"
                if record.get("cache_reads") else "")
        bits.append(f"executed {record.get('finished', '?')} in {float(record.get('seconds', 0)):.0f} s{took}")
        if record.get("machine"):
            bits.append(f"on {record['machine']}")
    bits.append(f"book built at commit `{commit}`")
    cell = f"\n\nThe notebook's parameters cell (papermill overrides it):\n\n```python\n{defaults.strip()}\n```" if defaults else ""
    return "````{admonition} Provenance\n:class: note\n" + " · ".join(bits) + cell + "\n````\n"


_FIGURE_NAME = re.compile(r"save_figure\(\s*\w+\s*,\s*\w+\s*,\s*f?[\"']([^\"'{]+)")


def _figure_captions(cell: dict, seen: list[int]) -> dict | None:
    """A numbered caption (:data:`CAPTIONS`) under a code cell that draws figures, one line per
    figure it writes (``save_figure(fig, profile, "name")``); ``seen`` counts the page's figures."""
    images = sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
    names = _FIGURE_NAME.findall(_source(cell))
    if not images or not names:
        return None
    first = seen[0] + 1
    seen[0] += images
    page = seen[1] if len(seen) > 1 else 0  # figures are numbered per page: "Figure 3.2" is page 03's second
    number = f"Figure {page}.{first}" if images == 1 else f"Figures {page}.{first}-{page}.{seen[0]}"
    text = " ".join(dict.fromkeys(caption(n.rstrip("_")) for n in names))
    return {"cell_type": "markdown", "metadata": {}, "source": f"**{number}.** {text}\n"}


#: The text of a table cell that is one long path (no space, a "/", 25 characters or more).
_LONG_PATH_CELL = re.compile(r"(<td[^>]*>)([^<\s]*/[^<\s]*)<(?=/td>)")


def breakable(text: str, longer_than: int = 24) -> str:
    """``text`` with a line-break opportunity (``<wbr>``, invisible, not copied) after each "/"
    when it is a path: no space, a "/", more than ``longer_than`` characters; else as it is."""
    if len(text) > longer_than and " " not in text and "/" in text:
        return text.replace("/", "/<wbr>")
    return text


def _break_path(m: re.Match) -> str:
    """A table cell's path (:data:`_LONG_PATH_CELL`) made :func:`breakable`."""
    return m.group(1) + breakable(m.group(2)) + "<"


def prepare_notebook(src: Path, dst: Path, profile: str, record: dict | None = None, commit: str = "?") -> None:
    """Stage an executed notebook for the book: the parameters shown once, as a provenance
    box (parameters, date, time taken, machine, commit) under the title; code cells folded
    (``hide-input``); progress bars and path reprs dropped; the smoke warning where due."""
    nb = json.loads(src.read_text())
    roots = _roots()
    cells, params = [], (nb.get("metadata", {}).get("papermill", {}) or {}).get("parameters", {})
    figures_seen = [0, int(src.name[:2]) if src.name[:2].isdigit() else 0]  # figures so far, page number
    defaults = ""
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags:
            defaults = _source(cell)
        if "parameters" in tags or "injected-parameters" in tags:
            continue  # shown in the provenance box
        if cell["cell_type"] == "code":
            cell.setdefault("metadata", {})["tags"] = sorted(set(tags) | {"hide-input"})
            quiet = "remove-stdout" in tags  # a setup cell whose printed lines are a log, not a result
            cell["outputs"] = [o for o in cell.get("outputs", []) if not _is_residue(o)
                               and not (quiet and o.get("output_type") == "stream" and o.get("name") == "stdout")]
            for o in cell["outputs"]:  # printed paths relative to the repository (or data/results root)
                if "text" in o:
                    o["text"] = _relative("".join(o["text"]) if isinstance(o["text"], list) else o["text"], roots)
                for mime in ("text/plain", "text/html"):
                    if mime in o.get("data", {}):
                        v = o["data"][mime]
                        o["data"][mime] = _relative("".join(v) if isinstance(v, list) else v, roots)
                if "text/html" in o.get("data", {}):  # a long path in a table cell wraps at its folders
                    o["data"]["text/html"] = _LONG_PATH_CELL.sub(_break_path, o["data"]["text/html"])
        cells.append(cell)
        caption_cell = _figure_captions(cell, figures_seen) if cell["cell_type"] == "code" else None
        if caption_cell:
            cells.append(caption_cell)
    reason = stale_reason(src.name, record)
    stale = STALE_BANNER.format(reason=reason) if reason else ""
    box = {"cell_type": "markdown", "metadata": {}, "source": stale + run_with(params, record, commit, defaults)}
    first = 1 if cells and cells[0]["cell_type"] == "markdown" and _source(cells[0]).startswith("#") else 0
    cells.insert(first, box)
    if _banner(profile):
        cells.insert(0, {"cell_type": "markdown", "metadata": {}, "source": _banner(profile)})
    nb["cells"] = cells
    nb.get("metadata", {}).pop("widgets", None)  # widget views are dropped: no widget script from a CDN
    dst.write_text(json.dumps(nb))


#: The experiments of the Results page: notebook prefix -> (title, what its tables hold).
EXPERIMENTS = {
    "00": ("Data", "The volumes of the study: where each comes from, its size, voxel size and role."),
    "01": ("Training ArSSR (paper 4.1.3)", "ArSSR-RDN against cubic interpolation on the whole test volume."),
    "02": ("Per-scale baselines (4.1.4)", "The baselines' runs, each at its own scale against cubic, and the "
           "learning curves of every compared model (validation PSNR against its training time)."),
    "03": ("Main test (4.2, Table 1)", "Every method at every scale on the whole test volume, paired bootstrap "
           "intervals, scale consistency and the computed verdicts."),
    "04": ("Lesions (4.3, Table 2)", "The real tumour scan and the synthetic-lesion brain, whole volume (or cube) "
           "and inside the lesion masks, with intervals and verdicts."),
    "05": ("Real LR scans (4.4, Table 3)", "Sharpness indices of the super-resolved real scans (no ground truth), "
           "the consistency of their profiles across scales, and the simulated acquisition pair."),
    "06": ("Segmentation (4.5, Table 4)", "Dice per region of each method's segmentation against the ground "
           "truth's, with block-bootstrap intervals and verdicts."),
    "07": ("Encoder ablation (4.6, Table 5)", "The three encoders at equal time and at equal steps, with cubic "
           "and the untrained start."),
    "08": ("Claims vs measured", "Every verdict of the study with its evidence and caveat."),
    "09": ("Thick slices (beyond the paper)", "Thick-slice requests (1x1x2 to 1x1x5 mm along each axis, "
           "mixed ones, and x2 to x4) on a brain-centred region of the test subject: cubic, ArSSR, and ArSSR-RDN trained "
           "further on thick-slice samples or, as its control, on the paper's samples; other slice "
           "profiles; a real 2x2x3 mm scan to 1 mm."),
}

#: Captions of the figures, by name prefix (the longest matching prefix wins).
CAPTIONS = {
    "00_data": "Slices of the study's volumes (notebook 00).",
    "00_data_train": "The training volumes and their pseudo-subjects (augmented anatomy and contrast): "
                     "sagittal, coronal and axial slices.",
    "00_data_val": "The validation slabs: the posterior part of each training volume, held out.",
    "00_data_test": "The test subjects (Colin27, and MRBrainTumor2 skull-stripped by ROBEX with its tumour), never "
                    "used in training.",
    "00_data_lesion": "The lesion volumes with their lesion masks (the real tumour scan; Colin27 with "
                      "synthetic white-matter lesions), slices through a lesion.",
    "00_data_lesion_wm": "The synthetic lesions inside the white-matter mask they were drawn in (colours in "
                         "the legend).",
    "00_data_real_lr": "The real low-resolution scans of paper 4.4 (no ground truth), at their own voxel size.",
    "00_data_simulated": "The simulated acquisition pair: Colin27 and its low-resolution version made by "
                         "keeping the centre of k-space.",
    "00_data_pairs": "Training pairs as the sampler makes them: LR input, HR target and the error of cubic "
                     "interpolation (colour bar: absolute intensity difference, data range 1).",
    "01_training_curves": "ArSSR's training loss and validation PSNR over its optimiser steps.",
    "01_examples": "ArSSR and cubic interpolation on the test subject at each scale, with the ground truth.",
    "02_learning_curves": "Validation PSNR of every compared run against idle-CPU minutes of training: one panel "
                          "per scale for the per-scale networks (shared held-out samples; dotted: cubic "
                          "interpolation on them; dashed: a further training seed), and ArSSR on its own samples, "
                          "whose scales are mixed. A curve still rising at its end had not finished learning.",
    "02_training_curves": "Training loss and validation PSNR of the per-scale baselines.",
    "03_metrics_vs_scale": "Each metric against the scale, every method (paper Fig 5 analogue); each panel "
                           "says whether higher or lower is better. The per-scale networks exist at x2, x3, x4 only.",
    "03_intervals": "How much of each difference is noise: every paired difference (first method minus second) with "
                    "its bootstrap 95% interval, one panel per metric, signed so that right of zero means the first "
                    "method is better (LPIPS turned round). The grey band is the margin below which a difference does "
                    "not count; an open marker is a difference whose interval reaches into the band or across zero.",
    "03_orthogonal": "Orthogonal slices of every method's x4 result (paper Fig 6 analogue).",
    "03_seed_scores": "Each training seed's PSNR and SSIM against the scale (a dot per seed, the line through their "
                      "mean), one colour per model; the legend gives the number of seeds.",
    "03_profile": "Intensity along a line through the test volume: ground truth and every method.",
    "04_lesion": "Every method at x4 around a lesion (paper Fig 7 analogue), one figure per lesion volume in the "
                 "order of the tables above (first the real tumour, then the synthetic lesions): the three views "
                 "through a voxel inside the largest lesion, the lesion outlined in red; the last row enlarges the "
                 "yellow box.",
    "04_intervals": "ArSSR against every other method on each lesion volume (rows: first the real tumour, then the "
                    "synthetic lesions): paired differences with their bootstrap 95% intervals, signed so that right "
                    "of zero means ArSSR is better; grey band: the margin; open marker: not beyond it.",
    "05_profile": "Intensity along a line through a real LR scan and its super-resolved versions (Fig 8).",
    "05_consistency": "One line through a real scan at x2, x3 and x4: ArSSR and the per-scale ResCNN.",
    "05_views": "Orthogonal slices of a real LR scan super-resolved by every method.",
    "06_segmentation": "Six-region segmentations of the ground truth and of every method's x4 result (Fig 9).",
    "07_examples": "The three encoders at x2 and x4 (paper Fig 10 analogue).",
    "07_metrics_vs_scale": "Each metric against the scale for the three encoders and cubic.",
    "07_training_curves": "Training loss and validation PSNR of the three encoders.",
    "08_any_scale": "One ArSSR model, one LR input, four output grids (paper Fig 1 analogue).",
    "09_psnr_vs_thickness": "PSNR on the test region against the slice thickness of the input "
                            "(1 mm in-plane), one panel per thick axis, every method.",
    "09_intervals": "ArSSR-thick against cubic (upper lines) and against its isotropic control ArSSR-iso (lower "
                    "lines) per request: paired differences with bootstrap 95% intervals over brain blocks, right of "
                    "zero means ArSSR-thick is better; grey band: the margin; open marker: not beyond it. This study's "
                    "target (not the paper's) is a gain of at least 0.5 dB PSNR over both at 1x1x3 and 1x1x5.",
    "09_views": "The thickest axial request: the LR input shown as blocks on the 1 mm grid, every "
                "method and the ground truth, with a zoomed box (lower row).",
    "09_real": "The real 2x2x3 mm scan brought to 1 mm by every method (no ground truth).",
    "09_validation_slabs": "PSNR gain of ArSSR-thick over cubic (left) and over its isotropic control ArSSR-iso "
                           "(right) on each of the four held-out validation slabs, per request (factors in voxels "
                           "of each slab; point values, no intervals); above zero ArSSR-thick is better.",
}


def caption(stem: str) -> str:
    """The caption of a results figure (:data:`CAPTIONS`, longest matching prefix)."""
    keys = [k for k in CAPTIONS if stem.startswith(k)]
    return CAPTIONS[max(keys, key=len)] if keys else f"Figure written by notebook {stem[:2]}."


#: One sentence per table of the Results page: what it holds and how to read it.
TABLE_NOTES = {
    "00_data_volumes": "Every prepared volume: its role, where it comes from, its grid and normalisation.",
    "00_data_lesions": "Each lesion: the real tumour and the synthetic white-matter blobs (radius, volume, contrast).",
    "01_arssr_vs_cubic_rdn": "ArSSR-RDN against cubic interpolation on the whole test volume; higher PSNR and SSIM are better.",
    "02_baseline_runs": "How each per-scale baseline was trained: steps, batch, learning rate, precision and its validation PSNR.",
    "02_baselines_vs_cubic": "Each baseline at its own scale against cubic on the whole test volume.",
    "02_learning_curves": "The learning curves: every compared run's validation PSNR at each validation of its "
                          "training (step, fraction of its budget, idle-CPU minutes), its seeds included.",
    "02_budget_leaders": "Who leads at each budget, on validation: the per-scale networks' PSNR on their shared "
                         "held-out samples at a third, two thirds and the whole of their budgets, with cubic.",
    "02_late_trends": "Was each compared run still improving when its budget ended? The straight line through its "
                      "validation PSNR over its last third of steps: the gain it makes there (dB) with its 95% interval; "
                      "rising: the interval is above zero.",
    "03_main_test": "Table 1: every method at every scale, five metrics (arrows: which way is better). PSNR and SSIM on "
                    "the brain: the 32³ blocks of the test volume that are at least half brain, the voxels the "
                    "intervals resample; LPIPS, PSI and LPC-SI over every 4th foreground slice.",
    "03_scale_change": "Each method's change of each perceptual metric from x2 to x3 and x4 (the value at the scale "
                       "minus at x2): two methods' difference is how much one's lead grows with scale (§4.2).",
    "03_scale_change_intervals": "How ArSSR's lead over each method changes from x2 (lead at the scale minus lead at "
                                 "x2, metric units), with paired slice-bootstrap 95% intervals.",
    "03_sharpness_change_intervals": "Each method's change of the sharpness indices PSI and LPC-SI from x2 to each "
                                     "larger scale (the mean over slices at the scale minus at x2; negative: "
                                     "blurrier), with paired slice-bootstrap 95% intervals (§4.2: the CNNs' results "
                                     "\"get more blurred\").",
    "03_seed_scores": "Each training seed of each model on the test subject (seed 0: the committed run; other seeds "
                      "appear once their runs are finished and published).",
    "03_extra_scales": "ArSSR at scales no per-scale network can do, with cubic for reference.",
    "03_scale_consistency": "Each SR volume down-sampled again and compared with its LR input (PSNR, dB). Cubic "
                            "scores far higher because B-spline interpolation passes through its samples, so "
                            "down-sampling nearly undoes it: a high value means little detail was added, not a "
                            "better result.",
    "03_intervals": "Paired bootstrap 95% intervals of each difference behind the verdicts (a minus b; units: what was "
                    "resampled; seeds: training runs of a and b, '1/1' meaning blocks or slices only).",
    "03_verdicts": "The main test's verdicts on the paper's claims, with the evidence and caveat of each.",
    "07_intervals": "Paired bootstrap 95% intervals between the encoders (and each against cubic) on the test subject.",
    "04_lesion": "Table 2: every method on the lesion volumes, whole volume and inside the lesion masks.",
    "04_intervals": "Paired bootstrap 95% intervals of ArSSR against every other method on each lesion volume.",
    "05_real_lr_intervals": "Paired slice-bootstrap 95% intervals of ArSSR against each other method on each real "
                            "scan (PSI, LPC-SI), over the slices all methods of a request share.",
    "04_sharpness_change_intervals": "On each lesion volume, each method's change of PSI and LPC-SI from x2 to x3 and "
                                     "x4 (negative: blurrier), with paired slice-bootstrap 95% intervals (§4.3).",
    "04_verdicts": "The lesion experiment's verdicts.",
    "05_real_lr": "Table 3: sharpness indices (PSI, LPC-SI; higher is sharper) of the super-resolved real LR scans, "
                  "which have no ground truth.",
    "05_profile_consistency": "How much one line through a real scan changes between the x2, x3 and x4 results "
                              "(lower spread: more consistent across scales).",
    "05_simulated_pair": "The simulated acquisition pair: every method against the noisy HR reference.",
    "05_simulated_intervals": "ArSSR minus cubic on the simulated pair, with bootstrap 95% intervals.",
    "05_verdicts": "The real-scan experiment's verdicts.",
    "06_segmentation_dice": "Table 4 in long form: Dice of each region, method and scale against the ground truth's segmentation.",
    "06_segmentation_mean_dice": "The mean Dice over the six regions per method and scale.",
    "06_dice_intervals": "Block-bootstrap 95% intervals of ArSSR's Dice minus each other method's, per region and scale.",
    "06_verdicts": "The segmentation experiment's verdicts.",
    "07_ablation_runs": "How each encoder's ArSSR was trained (equal idle-CPU time as steps).",
    "07_encoder_ablation": "Table 5: the three encoders at equal time, every metric, whole test volume.",
    "07_equal_steps": "The encoders' test PSNR at equal optimiser steps.",
    "07_verdicts": "The encoder ablation's verdicts.",
    "08_claims_vs_measured": "Every verdict in one table: the paper's claims (section, sentence quoted, quantifier) "
                             "first, then the study's own claims, labelled.",
    "08_paper_claims": "The paper's claims in its own words (sections 4.2-4.6, quoted), each judged cell by cell "
                       "with intervals under the paper's quantifier; the front page shows them in the paper's order.",
    "09_thick_slices": "Thick-slice requests on the test region: every method at every request.",
    "09_intervals": "Paired bootstrap 95% intervals of the thick-slice comparisons.",
    "09_slice_profiles": "The thick-slice requests under other slice profiles (cubic, Gaussian).",
    "09_validation_slabs": "Every method on the four held-out validation slabs: the evidence the CLI's method "
                           "advice is decided on.",
    "09_slice_sharpness": "Sharpness along the thick axis relative to the truth (1: as sharp), with PSNR.",
    "09_real_thick": "Sharpness indices of the real thick-slice scan brought to 1 mm (no ground truth).",
    "09_verdicts": "The thick-slice experiment's verdicts (this study's own targets, not the paper's).",
}

#: Tables with more rows than this are folded on the Results page (a click opens them).
FOLD_ROWS = 20
#: Room for a table in the book's column at a 1280 px window (px; 676 measured in Chromium, less a margin
#: for the estimate of :func:`column_width_px`).
TABLE_ROOM_PX = 620


def _shown(v: object) -> str:
    """A cell as the book's tables print it (numbers to four places, integers whole)."""
    if isinstance(v, float) and not pd.isna(v):
        return f"{v:.4f}"
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


def column_width_px(name: object, values: pd.Series) -> int:
    """A generous estimate of a column's width in the book's compact tables (0.8 rem type):
    its longest unbreakable piece of text (header words and cells break at spaces and at
    ``<wbr>``) at 7 px a character, plus the cell padding (a little wider than Chromium lays out)."""
    pieces = [w for w in str(name).split()] + [t for v in values for t in
                                               _shown(v).replace("<wbr>", " ").split()]
    return 7 * max((len(t) for t in pieces), default=1) + 10


def column_groups(df: pd.DataFrame, room: int = TABLE_ROOM_PX) -> list[list[str]]:
    """The columns of ``df`` in groups that each fit ``room`` px, every group led by the first
    column (the row's name); one group when the whole table fits."""
    first, rest = df.columns[0], list(df.columns[1:])
    widths = {c: column_width_px(c, df[c]) for c in df.columns}
    groups, cur, used = [], [], widths[first]
    for c in rest:
        if cur and used + widths[c] > room:
            groups.append([first, *cur])
            cur, used = [], widths[first]
        cur.append(c)
        used += widths[c]
    groups.append([first, *cur])
    return groups


def _whole_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with float columns that hold only whole numbers (steps, counts) as integers:
    "4250", not "4250.0000"."""
    out = df.copy()
    for c in out.select_dtypes("float").columns:
        v = out[c].dropna()
        if len(v) and (v == v.round()).all() and v.abs().max() < 2 ** 53:
            out[c] = out[c].astype("int64") if len(v) == len(out) else \
                out[c].map(lambda x: "" if pd.isna(x) else str(int(x)))
    return out


class _TableText(HTMLParser):
    """The cell texts of every ``<table>`` of a page: a list per table of rows of cells, with
    a space where a ``<wbr>`` lets a line break (hidden ``<style>`` text left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.caption: list[str] = []
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
            self.caption.append("")
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables and self.tables[-1]:
            self._cell = []
        elif tag == "wbr" and self._cell is not None:
            self._cell.append(" ")
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption and self.caption:
            self.caption[-1] += data


def estimated_table_widths(page_html: str) -> list[tuple[str, int]]:
    """``(caption, px)`` for every table of a built page: the sum over its columns of
    :func:`column_width_px` of the column's cells (a generous estimate of Chromium's layout,
    for a check that needs no browser)."""
    parser = _TableText()
    parser.feed(page_html)
    out = []
    for cap, rows in zip(parser.caption, parser.tables):
        ncol = max((len(r) for r in rows), default=0)
        cols = [[r[i] for r in rows if i < len(r)] for i in range(ncol)]
        out.append((cap.strip(), sum(column_width_px("", pd.Series(c, dtype=object)) for c in cols)))
    return out


def results_page(profile: str) -> str:
    """Markdown page with every table (CSV) and figure (PNG, captioned) of a profile, grouped by
    experiment: a sentence per experiment and per table, wide tables split into column groups
    that fit the page, long ones folded, each with a link to its CSV."""
    from .report import table

    res = results_dir(profile)
    lines = [f"# Results ({profile} profile)\n", _banner(profile),
             f"Every table and figure that the notebooks wrote under `results/{profile}/`, "
             "as computed by the code (nothing here is typed in by hand), grouped by experiment. "
             "In score tables an arrow says whether higher or lower is better. Tables longer than "
             f"{FOLD_ROWS} rows are folded: click to open them. Each table links to its CSV file.\n"]
    csvs = sorted((res / "tables").glob("*.csv"))
    figs = sorted((res / "figures").glob("*.png"))
    for prefix, (title, what) in EXPERIMENTS.items():
        mine = [c for c in csvs if c.name.startswith(prefix)]
        pics = [f for f in figs if f.name.startswith(prefix)]
        if not mine and not pics:
            continue
        lines += [f"\n## {prefix} · {title}\n", what + "\n"]
        for csv in mine:
            df, restated = _without_restated(pd.read_csv(csv, dtype={"notebook": str}))  # "03", not 3
            df = _breakable_paths(_whole_numbers(df))
            note = TABLE_NOTES.get(csv.stem, "")
            dropped = (f" Not shown: {', '.join(restated)} (parts of the first column)." if restated else "")
            lines.append(f"**{csv.stem}** ({len(df)} rows; [CSV](tables/{csv.name})). {note}{dropped}\n")
            groups = column_groups(df)
            html = "".join("<div class=\"result-table\">" + table(df[cols], None if len(groups) == 1 else
                                                                   f"columns {i + 1} of {len(groups)}").to_html()
                           + "</div>" for i, cols in enumerate(groups))
            if len(df) > FOLD_ROWS:
                html = f"<details><summary>{csv.stem}: {len(df)} rows</summary>{html}</details>"
            lines += ["```{raw} html\n" + html + "\n```\n"]
        for fig in pics:  # Sphinx numbers them ("Fig. 3")
            lines += [f"```{{figure}} figures/{fig.name}\n:name: fig-{fig.stem}\n:width: 100%\n\n"
                      f"{caption(fig.stem)} (`{fig.stem}`)\n```\n"]
    return "\n".join(lines)


def _without_restated(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``df`` without the text columns that only restate its first (an ``id`` such as
    ``train/mni152``): every value a part of that row's first cell (``train``, ``mni152``) or
    that cell with an ending (``train/mni152.nii.gz``); and the names of those left out. A
    wide table (the data catalog) then fits the page."""
    if df.shape[1] < 2 or len(df) == 0:
        return df, []
    first = df.iloc[:, 0].astype(str)

    def restates(col: pd.Series) -> bool:
        if col.isna().any() or pd.api.types.is_numeric_dtype(col):
            return False
        return all(v in f.split("/") or (v.startswith(f) and v != f) for v, f in zip(col.astype(str), first))

    drop = [c for c in df.columns[1:] if restates(df[c])]
    return df.drop(columns=drop), drop


def _breakable_paths(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell :func:`breakable`: a file path wraps at its folders instead of
    widening the table."""
    out = df.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].map(lambda v: breakable(v) if isinstance(v, str) else v)
    return out


def reproduction_page(profile: str, shown: int = 150) -> str:
    """Markdown page of the reproduction report (``results/<profile>/reproduction.json`` and
    ``.csv``, :mod:`arssr_core.study.reproduction`): what was compared with what, the count per table,
    and the disagreements (the first ``shown``)."""
    from .reproduction import DEFAULT_REL, TOLERANCES, summary_text
    from .report import table

    res = results_dir(profile)
    lines = [f"# Reproduction report ({profile} profile)\n", _banner(profile)]
    if not (res / "reproduction.json").exists():
        return "\n".join(lines + ["No report yet: `make reproduce` (or `arssr check`) writes one after a run.\n"])
    summary = json.loads((res / "reproduction.json").read_text())
    from .evaluation import BETTER, metric_label

    tol = ", ".join(f"{metric_label(k) if k in BETTER else k.replace('_', ' ')} {v:g}" for k, v in TOLERANCES.items() if v)
    lines += [
        "After every run, `arssr reproduce` compares each number and verdict of every table it wrote "
        "with the same table as published in the repository (the committed `results/` at the git "
        "revision named below); `arssr check --against REV` does so at any time. Rows are matched on "
        "their identifying columns (method, scale, region, ...). Quantities agree within an absolute "
        f"tolerance: {tol}; other numbers within {DEFAULT_REL:.1%}; verdicts word for word; timings "
        "and free text are not compared. The experiments evaluate the committed weights in fp32 on "
        "every machine (the profile's `eval.precision`), which CPUs with and without native bf16 compute "
        "alike (ArSSR-RDN's PSNR on the test cube equal to four decimals); the tolerances absorb a "
        "different BLAS or thread count. In bf16 the same weights give other numbers (0.2-0.4 dB PSNR "
        "on a 96³ brain cube): a run limited to AVX2 (fp32) of the study as once published in bf16 "
        "disagreed in 322 of 2935 cells and 4 verdicts, which is why the publication is fp32.\n",
        f"**This report** ({summary.get('date', '?')}): " + summary_text(summary) + "\n",
        "When the publisher's own run is compared with the results published before it, the "
        "disagreements are what the new run changed (new weights, code or data), not failures; a claim "
        "or row whose wording changed counts twice there, once as a published row missing from the "
        "reproduction and once as a row the published table does not have.\n",
    ]
    per = pd.DataFrame([{"table": k, "compared with": v.get("commit", summary.get("commit", "?")),
                         "compared": v["cells"], "disagree": v["disagree"]}
                        for k, v in summary.get("per_table", {}).items()])
    if len(per):
        lines += ["```{raw} html\n<div class=\"result-table\">" + table(per, "Cells compared per table")
                  .to_html() + "</div>\n```\n"]
    if summary.get("unpublished"):
        lines.append("Tables with no published version: " + ", ".join(f"`{u}`" for u in summary["unpublished"]) + ".\n")
    csv = res / "reproduction.csv"
    if csv.exists() and csv.stat().st_size:
        bad = pd.read_csv(csv, dtype=str).fillna("")
        for col in ("table", "row", "column"):  # long names wrap at their "_" and "=" instead of widening the table
            if col in bad:
                bad[col] = bad[col].map(lambda v: v.replace("_", "_<wbr>").replace("=", "=<wbr>"))
        if len(bad):
            lines += [f"## Disagreements ({len(bad)}{f', the first {shown} shown' if len(bad) > shown else ''})\n",
                      "```{raw} html\n<div class=\"result-table\">" +
                      table(bad.head(shown), "Each disagreement: published and reproduced value").to_html() +
                      "</div>\n```\n"]
    return "\n".join(lines)


def method_advice(profile: str) -> str:
    """The CLI's method advice as computed from the profile's validation-slab table
    (:func:`arssr_core.study.advice.method_choice`), as a page's HTML table; a sentence where
    there is no such table yet."""
    from .advice import method_choice, validation_table
    from .report import table

    try:
        choice = method_choice(validation_table(profile))
    except FileNotFoundError:
        return "*(No validation table yet: notebook 09 writes it.)*\n"
    shown = choice.rename(columns={"mean_psnr": "mean PSNR (dB)", "gain_vs_cubic": "vs cubic (dB)",
                                   "worst_vs_cubic": "worst vs cubic", "gain_vs_recommended": "vs recommended",
                                   "cells_below_cubic": "cells below cubic"})
    return ("```{raw} html\n<div class=\"result-table\">" + table(shown, "PSNR on the held-out validation slabs "
            "per kind of request, and the advice it gives", decimals=2).to_html() + "</div>\n```\n")


def table1_sentence(profile: str, scales: tuple[float, ...] = (2, 3, 4)) -> str:
    """The front page's sentence on Table 1 at the whole budget, from notebook 03's tables, for
    every test subject: each method's PSNR on the subject's brain blocks at ``scales``, and
    ArSSR's PSNR lead over ResCNN there with its paired interval (``03_intervals``)."""
    tables = results_dir(profile) / "tables"
    path = tables / "03_main_test.csv"
    if not path.exists():
        return "*(Table 1 at the whole budget: notebook 03 computes it.)*"
    t = pd.read_csv(path)
    iv_all = pd.read_csv(tables / "03_intervals.csv") if (tables / "03_intervals.csv").exists() else None
    subjects = list(dict.fromkeys(t["subject"].astype(str))) if "subject" in t.columns else [None]
    parts = []
    for subject in subjects:
        part = _table1_part(t if subject is None else t[t["subject"].astype(str) == subject], iv_all, subject,
                            scales, _subject_title(profile, subject))
        if part:
            parts.append(part)
    if not parts:
        return ""
    return "At the whole budget, Table 1 of notebook 03 (fp32, the kept weights) reads: " + "; ".join(parts) + "."


def _subject_title(profile: str, subject: str | None) -> str:
    """A test subject's title in the prepared catalog (its name where there is none)."""
    from ..data.catalog import titles

    return "the test subject" if subject is None else titles(profile).get(subject, subject)


def _table1_part(t: pd.DataFrame, iv: pd.DataFrame | None, subject: str | None, scales: tuple[float, ...],
                 title: str) -> str:
    """One subject's clause of :func:`table1_sentence`."""
    t = t[t["scale"].astype(float).isin([float(s) for s in scales])]
    psnr = t.pivot_table(index="method", columns="scale", values="psnr")
    order = [m for m in ("ArSSR", "ResCNN", "DCSRN", "SRCNN3D", "Cubic") if m in psnr.index]
    if not order:
        return ""

    def row(m: str) -> str:
        return " / ".join(f"{psnr.loc[m, c]:.2f}" for c in psnr.columns)

    xs = " / ".join(f"x{float(c):g}" for c in psnr.columns)
    said = f"{order[0]} {row(order[0])} dB at {xs}, " + ", ".join(f"{m} {row(m)}" for m in order[1:])
    lead = ""
    if iv is not None and {"ArSSR", "ResCNN"} <= set(order):
        if subject is not None and "subject" in iv.columns:
            iv = iv[iv["subject"].astype(str) == subject]
        iv = iv[(iv["metric"] == "psnr") & (iv["a"] == "ResCNN") & (iv["b"] == "ArSSR")]
        iv = iv[iv["scale"].astype(float).isin([float(s) for s in scales])]
        cells = [f"{-r.diff:+.2f} [{-r.hi:+.2f}, {-r.lo:+.2f}]" for r in iv.itertuples()]
        seeded = [f"x{float(r.scale):g}" for r in iv.itertuples()
                  if "seeds" in iv.columns and any(int(k) > 1 for k in str(r.seeds).split("/") if k.isdigit())]
        how = (f"; at {', '.join(seeded)} over training seeds and blocks together" if seeded else "")
        if cells:
            lead = f", and ArSSR's PSNR lead over ResCNN is {' / '.join(cells)} dB (paired 95% intervals{how})"
    return f"on {title}, PSNR on its brain blocks: {said}{lead}"


def thick_slices_sentence(profile: str) -> str:
    """The front page's sentence on thick slices, from notebook 09's ``09_thick_slices`` (PSNR
    by request): the paper's ArSSR against cubic at 3 and 5 mm slices (range over the three
    axes), and ArSSR-thick against its isotropic control at 3, 5 and 2 mm and at x2-x4."""
    path = results_dir(profile) / "tables" / "09_thick_slices.csv"
    if not path.exists():
        return "*(The thick-slice results: notebook 09 computes them.)*"
    psnr = pd.read_csv(path).pivot_table(index="scale", columns="method", values="psnr")

    def span(a: str, b: str, mm: int) -> str:
        reqs = [r for r in (f"1x1x{mm}", f"1x{mm}x1", f"{mm}x1x1") if r in psnr.index]
        if not reqs or a not in psnr.columns or b not in psnr.columns:
            return "n/a"
        d = (psnr.loc[reqs, a] - psnr.loc[reqs, b]).round(2)
        return f"{d.min():+.2f} to {d.max():+.2f} dB"

    iso = [r for r in ("x2", "x3", "x4") if r in psnr.index]
    if {"ArSSR-thick", "ArSSR-iso"} <= set(psnr.columns) and iso:
        scales = " / ".join(f"{psnr.loc[r, 'ArSSR-thick'] - psnr.loc[r, 'ArSSR-iso']:+.2f}" for r in iso)
        at_iso = f" and {scales} dB at isotropic {' / '.join(iso)}"
    else:
        at_iso = ""
    return ("On a brain-centred 96³ cube of Colin27 degraded by the paper's cubic sampling (PSNR on its brain "
            f"blocks, fp32), the paper's isotropic ArSSR-RDN beats cubic by {span('ArSSR', 'Cubic', 3)} at 3 mm "
            f"slices (by axis) and {span('ArSSR', 'Cubic', 5)} at 5 mm; ArSSR-thick differs from its control by "
            f"{span('ArSSR-thick', 'ArSSR-iso', 3)} at 3 mm, {span('ArSSR-thick', 'ArSSR-iso', 5)} at 5 mm, "
            f"{span('ArSSR-thick', 'ArSSR-iso', 2)} at 2 mm{at_iso}.")


def seeds_sentence(profile: str) -> str:
    """The limitations page's sentence on training seeds, from notebook 03's ``03_seed_scores``
    (what was scored, not what is training): each model with several seeds and the scales it
    has them at; every other model is one run (seed 0)."""
    path = results_dir(profile) / "tables" / "03_seed_scores.csv"
    if not path.exists():
        return "*(Which models have several training seeds: notebook 03 lists them in `03_seed_scores`.)*"
    df = pd.read_csv(path)
    df = df[df["method"] != "Cubic"]
    several, one = [], []
    for method, g in df.groupby("method", sort=False):
        by_scale = g.groupby("scale")["seed"].apply(lambda s: tuple(sorted(set(int(k) for k in s))))
        if max(len(v) for v in by_scale) == 1:
            one.append(method)
            continue
        groups: dict[tuple[int, ...], list[float]] = {}
        for scale, seeds in by_scale.items():
            groups.setdefault(seeds, []).append(float(scale))
        several.append(f"{method} has " + "; ".join(
            f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
            + ("" if len(groups) == 1 else " at " + "/".join(f"x{x:g}" for x in xs)) for seeds, xs in groups.items()))
    if not several:
        return "Every model is one training run (seed 0)."
    rest = (f"{one[0]} is one training run (seed 0)." if len(one) == 1 else
            f"{', '.join(one)} are one training run each (seed 0)." if one else "no model is a single run.")
    return f"In notebook 03, {'; '.join(several)}; {rest}"


def budget_leaders_sentence(profile: str) -> str:
    """The front page's sentence on who leads at each budget, from notebook 02's
    ``02_budget_leaders`` (validation PSNR of the per-scale networks on their shared held-out
    samples at fractions of their budgets, :func:`arssr_core.study.learning_curves.leaders`):
    the leader per scale at each fraction, and any network that ends below cubic interpolation."""
    path = results_dir(profile) / "tables" / "02_budget_leaders.csv"
    if not path.exists():
        return "*(Who leads at each budget: notebook 02 measures it on validation.)*"
    df = pd.read_csv(path)
    nets = df[df["method"] != "Cubic"]
    if nets.empty:
        return ""
    xs = " / ".join(f"x{s:g}" for s in sorted(nets["scale"].unique()))

    fracs = sorted(df["fraction"].unique())
    words = {1 / 3: "a third", 2 / 3: "two thirds", 1.0: "the whole"}
    word = lambda f: next((w for k, w in words.items() if abs(k - f) < 1e-3), f"{f:.0%}")  # noqa: E731
    lead = {f: nets[((nets["fraction"] - f).abs() < 1e-3) & nets["leads"].astype(bool)].sort_values("scale")
            for f in fracs}
    names = {f: list(dict.fromkeys(r["method"])) for f, r in lead.items()}
    values = {f: " / ".join(f"{v:.2f}" for v in r["val_psnr"]) for f, r in lead.items()}
    if len({tuple(n) for n in names.values()}) == 1 and len(names[fracs[0]]) == 1:  # one leader throughout
        said = (f"{names[fracs[0]][0]} led at every scale at {', '.join(word(f) for f in fracs[:-1])} and "
                f"{word(fracs[-1])} of the budget ({xs}: " + "; ".join(f"{values[f]} dB" for f in fracs) + ")")
    else:
        said = "; ".join(f"at {word(f)} of the budget the leader was "
                         + ", ".join(f"{r.method} at x{r.scale:g} ({r.val_psnr:.2f} dB)" for r in lead[f].itertuples())
                         for f in fracs)
    end = df[(df["fraction"] - 1).abs() < 1e-3]
    cub = end[end["method"] == "Cubic"].set_index("scale")["val_psnr"]
    below = [f"{r.method} at x{r.scale:g} ({r.val_psnr:.2f} vs {cub[r.scale]:.2f} dB)"
             for r in end[end["method"] != "Cubic"].itertuples() if r.scale in cub.index and r.val_psnr < cub[r.scale]]
    return ("On validation (notebook 02's learning curves: the per-scale networks' shared held-out samples, "
            "never a test subject), " + said + "."
            + (f" Ending below cubic interpolation on the same samples: {', '.join(below)}." if below else ""))


def late_trends(profile: str) -> str:
    """The front page's sentence on whether the compared runs had stopped improving, from notebook
    02's ``02_late_trends`` (validation PSNR over each run's last third of steps,
    :mod:`arssr_core.study.curves`)."""
    path = results_dir(profile) / "tables" / "02_late_trends.csv"
    if not path.exists():
        return "*(Whether each run had stopped improving: notebook 02 measures it.)*"
    df = pd.read_csv(path).dropna(subset=["gain_db"])
    if df.empty:
        return "*(No compared run has enough validation points for a trend.)*"
    rising, other = df[df["state"] == "rising"], df[df["state"] != "rising"]

    def said(rows: pd.DataFrame) -> str:
        return ", ".join(f"{r.model} {r.gain_db:+.2f} dB [{r.lo:+.2f}, {r.hi:+.2f}]" for r in rows.itertuples())

    if rising.empty:
        return (f"No compared run's validation PSNR still rose over its last third of steps ({said(df)}, the gain "
                "of the fitted line with its 95% interval), so these rankings are close to where the recipes settle.")
    return (f"{len(rising)} of the {len(df)} compared runs were still improving when their budgets ended (validation "
            f"PSNR over the last third of steps, the gain of the fitted line with its 95% interval: {said(rising)})"
            + (f"; the others were flat or falling ({said(other)})" if len(other) else "")
            + ", so these are rankings at this budget, not where the methods would settle.")


def _verdict_table(profile: str, name: str, **read) -> tuple[pd.DataFrame | None, str]:
    """A profile's verdict table ``name`` (None where it is not written yet) and its counts as
    bold text in the order of :data:`arssr_core.study.claims.STATUSES` ("**1 held**, ...")."""
    from .claims import STATUSES

    path = results_dir(profile) / "tables" / f"{name}.csv"
    if not path.exists():
        return None, ""
    df = pd.read_csv(path, **read)
    counts = df["verdict"].value_counts()
    return df, ", ".join(f"**{counts.get(v, 0)} {v}**" for v in STATUSES)


def paper_scorecard(profile: str, pages: dict[str, str]) -> str:
    """The front page's scorecard: the paper's claims in its words, in its order
    (``08_paper_claims.csv``, :mod:`arssr_core.study.paper_claims`): each sentence once, then per
    reading the verdict under the paper's quantifier and the count of cells behind it."""
    df, counted = _verdict_table(profile, "08_paper_claims", dtype={"section": str})
    if df is None:
        return ""
    page = pages.get("08", "08_figures")
    lines = ["## The paper's claims, in its words\n",
             "Each checkable sentence of the paper's sections 4.2 to 4.6, quoted, with the paper's own "
             "quantifier; under it, how the study reads it and the verdict, judged cell by cell (a metric at a "
             "scale) with paired 95% intervals, widened to the family-wise 95% level of the claim's comparisons "
             "(Bonferroni). A comparison without an interval decides nothing. "
             + counted + f" (the evidence and caveats: notebook {{doc}}`08 <notebooks/{page}>`). A gap in a quotation "
             "(\"when the scale , ResCNN\") is a number our copy of the paper's text lacks.\n"]
    for quote, rows in df.groupby("paper", sort=False):
        lines.append(f"\n**§{rows['section'].iloc[0]}** “{quote}”\n")
        for r in rows.itertuples():
            lines.append(f"- *{r.reading}* ({quantifier_label(r.quantifier)}): **{r.verdict}**; "
                         f"{evidence_counts(r.evidence)}.")
    return "\n".join(lines) + "\n"


def quantifier_label(quantifier: str) -> str:
    """The paper's quantifier as the scorecard prints it: the word in quotes, or, for a sentence
    that has none, what the study reads it as (more than half of its cells)."""
    if quantifier == "none stated":
        return "no quantifier in the sentence: read as most cells"
    return f"paper: “{quantifier}”"


def evidence_counts(evidence: object) -> str:
    """The counts of a verdict's evidence without its cell-by-cell details: the text before the
    first ``;`` of each subject's clause (clauses are joined by `` | ``), so that a claim judged on
    several subjects shows every subject's count, not only the first's."""
    return "; ".join(clause.split(";")[0].strip() for clause in str(evidence).split(" | "))


def verdict_summary(profile: str, pages: dict[str, str], stale: bool = False) -> str:
    """The front page's summary: how many of the paper's claims held, did not hold, were
    inconclusive or untestable (``08_claims_vs_measured.csv``), each claim linking to the page
    that computed it (``pages``: notebook prefix -> page name)."""
    from .claims import STATUSES

    df, counted = _verdict_table(profile, "08_claims_vs_measured", dtype={"notebook": str, "section": str})
    if df is None:
        return ""
    if "source" in df.columns:  # the paper's claims are on the scorecard above: the study's own here
        df = df[df["source"] == "study's own"].reset_index(drop=True)
        counts = df["verdict"].value_counts()
        counted = ", ".join(f"**{counts.get(v, 0)} {v}**" for v in STATUSES)
    lines = ["## The study's own claims\n",
             "Questions the study adds to the paper's (some stricter than the paper's sentences, such as "
             "\"every metric at every scale\" where the paper says \"most\"; the scorecard above is the paper's "
             "word), as computed by the notebooks (notebook 08 has the evidence and the caveat of each): " + counted +
             ". *Held* and *did not hold* need a difference beyond the margin with a 95% interval clear of "
             "zero; *inconclusive* is anything in between; *untestable* means the setup, not the method, "
             "decides it.\n"]
    from .report import shared_caveat  # the caveat the verdict tables write once

    marked, common = shared_caveat(df)
    if common:
        every = marked["caveat"].fillna("").astype(str).str.startswith("†").all()
        lines.append(f"```{{note}}\nWhat {'every' if every else 'almost every'} verdict rests on: "
                     f"{common} A *did not hold* says what this budget and this test subject show, not that the "
                     "claim is false at the paper's budget and data.\n```\n")
    if stale:
        lines.append("```{caution}\nThese verdicts come from a run of notebook 08 that predates the current "
                     "code, profile or input data; pages marked the same way are awaiting their rerun.\n```\n")
    for v in STATUSES:
        sub = df[df["verdict"] == v]
        if len(sub):
            lines.append(f"\n**{v.capitalize()}** ({len(sub)}):\n")
            lines += [f"- {r.claim} (notebook {{doc}}`{r.notebook} <notebooks/{pages.get(r.notebook, r.notebook)}>`)"
                      for r in sub.itertuples()]
    return "\n".join(lines) + "\n"


def build_book(profile: str = "cpu") -> Path:
    """Stage and build the book; returns the path of the built ``index.html``."""
    res = results_dir(profile)
    executed = sorted((res / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise ArssrError(f"no executed notebooks in {res / 'notebooks'}: run `make reproduce PROFILE={profile}` first")
    stage = BOOK_DIR / "_build" / profile / "src"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "notebooks").mkdir(parents=True)
    pages = {nb.stem[:2]: nb.stem for nb in executed}
    records = json.loads((res / "notebooks" / "runs.json").read_text()) if (res / "notebooks" / "runs.json").exists() else {}
    for page in PAGES_BEFORE + ["rerun", "limitations"]:
        text = (BOOK_DIR / f"{page}.md").read_text()
        head, _, rest = text.partition("\n")
        summary = ""
        if page == "intro":
            name = f"{pages.get('08', '08_figures')}.ipynb"
            summary = paper_scorecard(profile, pages) + verdict_summary(profile, pages, is_stale(name, records.get(name)))
            rest = rest.replace("{late-trends}", late_trends(profile)).replace("{table1}", table1_sentence(profile)) \
                .replace("{budget-leaders}", budget_leaders_sentence(profile)) \
                .replace("{thick-slices}", thick_slices_sentence(profile))
        if page == "rerun":
            rest = rest.replace("{method-advice}", method_advice(profile))
        if page == "limitations":
            rest = rest.replace("{seeds}", seeds_sentence(profile))
        (stage / f"{page}.md").write_text(head + "\n\n" + _banner(profile) + summary + rest)
    if (res / "figures").exists():
        shutil.copytree(res / "figures", stage / "figures")
    if (BOOK_DIR / "_static").exists():  # the book's CSS (tables that fit or scroll)
        shutil.copytree(BOOK_DIR / "_static", stage / "_static")
    (stage / "results.md").write_text(results_page(profile))
    if (res / "tables").exists():  # the Results page links each table's CSV: tables/<name>.csv in the built book
        shutil.copytree(res / "tables", stage / "extra" / "tables")
    (stage / "reproduction.md").write_text(reproduction_page(profile))
    commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"
    for nb in executed:
        prepare_notebook(nb, stage / "notebooks" / nb.name, profile, records.get(nb.name), commit)
    cfg = yaml.safe_load((BOOK_DIR / "_config.yml").read_text())
    cfg["title"] = f"{cfg.get('title', 'arssr')} ({profile} profile)"
    cfg.setdefault("sphinx", {}).setdefault("config", {})["html_extra_path"] = ["extra"]
    (stage / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    toc = {"format": "jb-book", "root": "intro",
           "parts": [{"caption": "Experiments", "chapters": [{"file": f"notebooks/{nb.stem}"} for nb in executed]},
                     {"caption": "Results and use", "chapters": [{"file": p} for p in PAGES_AFTER]}]}
    (stage / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    out = BOOK_DIR / "_build" / profile
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(stage), "--path-output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ArssrError(f"jupyter-book build failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    index = out / "_build" / "html" / "index.html"
    if not index.exists():
        raise ArssrError(f"jupyter-book ran but wrote no {index}")
    for page in index.parent.rglob("*.html"):
        _drop_duplicate_scripts(page)
    return index


def _drop_duplicate_scripts(page: Path) -> None:
    """Jupyter Book 1.x emits sphinx-thebe's inline ``const THEBE_JS_URL`` script twice, a
    SyntaxError in the browser console; keep the first copy of any repeated inline script."""
    lines = page.read_text().split("\n")
    seen: set[str] = set()
    out = []
    for line in lines:
        s = line.strip()
        if s.startswith("<script>") and s.endswith("</script>"):
            if s in seen:
                continue
            seen.add(s)
        out.append(line)
    page.write_text("\n".join(out))
