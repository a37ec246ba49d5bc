"""A user's own T1 collection: HCP-1200 or BIDS folder discovery and the paper's split.

Layouts:

- ``hcp``: ``<root>/<subject>/T1w/T1w_acpc_dc_restore_brain.nii.gz`` (the HCP-1200
  minimally pre-processed, skull-stripped T1w the paper uses);
- ``bids``: ``<root>/sub-*/anat/*_T1w.nii.gz`` or ``<root>/sub-*/ses-*/anat/*_T1w.nii.gz``
  (``.nii`` too); a subject may hold several runs or sessions, which stay together.

Split: subjects sorted by name, shuffled with a fixed seed (``numpy.random.default_rng(seed)
.permutation``), then cut 780 / 111 / 222 (train / val / test), the paper's split of
the 1113 HCP-1200 subjects with a T1w. With another number of subjects ``N`` the same
proportions apply: ``n_train = round(780 N / 1113)``, ``n_val = round(111 N / 1113)``,
``n_test = N - n_train - n_val``, each at least 1 when ``N >= 3``. The split is by
subject, so no subject's scans cross roles, and it depends only on the subject names
and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

#: The paper's split of HCP-1200 (train, val, test).
PAPER_SPLIT = (780, 111, 222)
HCP_FILE = "T1w/T1w_acpc_dc_restore_brain.nii.gz"
SPLIT_SEED = 2022


@dataclass(frozen=True)
class Scan:
    """One T1 volume of a user's collection with its split role."""

    subject: str
    path: Path
    role: str  # "train" | "val" | "test"
    layout: str  # "hcp" | "bids"

    @property
    def name(self) -> str:
        stem = self.path.name.split(".nii")[0]
        return self.subject if self.layout == "hcp" else stem


def find_hcp(root: str | Path) -> dict[str, list[Path]]:
    """``{subject: [T1w file]}`` of an HCP-1200 folder (subjects without the file are skipped)."""
    root = Path(root)
    return {p.parent.parent.name: [p] for p in sorted(root.glob(f"*/{HCP_FILE}"))}


def find_bids(root: str | Path) -> dict[str, list[Path]]:
    """``{subject: [T1w files]}`` of a BIDS folder (all sessions and runs)."""
    root = Path(root)
    out: dict[str, list[Path]] = {}
    for pattern in ("sub-*/anat/*_T1w.nii*", "sub-*/ses-*/anat/*_T1w.nii*"):
        for p in sorted(root.glob(pattern)):
            if p.name.endswith((".nii", ".nii.gz")):
                sub = p.relative_to(root).parts[0]
                out.setdefault(sub, []).append(p)
    return {k: sorted(v) for k, v in sorted(out.items())}


def detect_layout(root: str | Path) -> str:
    """``hcp`` or ``bids`` from what the folder holds; :class:`DataError` if neither."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data root is not a folder")
    if find_hcp(root):
        return "hcp"
    if find_bids(root):
        return "bids"
    raise DataError(
        f"{root}: neither an HCP-1200 folder (<subject>/{HCP_FILE}) nor a BIDS folder (sub-*/anat/*_T1w.nii.gz)"
    )


def split_sizes(n: int, proportions: tuple[int, int, int] = PAPER_SPLIT) -> tuple[int, int, int]:
    """Train/val/test counts of ``n`` subjects in the paper's proportions (exact for 1113)."""
    if n < 3:
        raise DataError(f"{n} subject(s): need at least 3 for a train/val/test split")
    total = sum(proportions)
    n_train = max(1, int(round(proportions[0] * n / total)))
    n_val = max(1, int(round(proportions[1] * n / total)))
    n_train = min(n_train, n - n_val - 1)
    return n_train, n_val, n - n_train - n_val


def split_subjects(subjects: list[str], seed: int = SPLIT_SEED) -> dict[str, str]:
    """``{subject: role}``: sorted, shuffled with ``seed``, cut in the paper's proportions."""
    subs = sorted(set(subjects))
    n_train, n_val, _ = split_sizes(len(subs))
    order = [subs[i] for i in np.random.default_rng(seed).permutation(len(subs))]
    return {s: ("train" if i < n_train else "val" if i < n_train + n_val else "test") for i, s in enumerate(order)}


def discover(root: str | Path, layout: str = "auto", seed: int = SPLIT_SEED) -> list[Scan]:
    """Every T1 scan of a user's folder with its role, sorted by role then subject."""
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "hcp":
        found = find_hcp(root)
    elif layout == "bids":
        found = find_bids(root)
    else:
        raise DataError(f"unknown layout '{layout}': use auto, hcp or bids")
    if not found:
        raise DataError(f"{root}: no T1w volumes found for the {layout} layout")
    roles = split_subjects(list(found), seed)
    rank = {"train": 0, "val": 1, "test": 2}
    scans = [Scan(s, p, roles[s], layout) for s, paths in found.items() for p in paths]
    return sorted(scans, key=lambda sc: (rank[sc.role], sc.subject, str(sc.path)))
