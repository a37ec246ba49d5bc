"""DICOM in: a scanner's series converted to NIfTI with ``dcm2niix`` before super-resolution.

``dcm2niix`` (Li et al. 2016; the ``dcm2niix`` package on PyPI ships the binary) is the
field's converter: it reads classic one-file-per-slice series and enhanced multi-frame files,
and writes the image with its world placement (the NIfTI affine, RAS) and orientation kept.
:func:`convert_series` runs it on a folder (or one file) into a scratch folder and returns
the NIfTI of the one series found there; several series, or none, are refused with a message
that names the folder and what it holds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import DataError

DICOM_SUFFIXES = (".dcm", ".ima", ".dicom")


def dcm2niix_path() -> str:
    """The ``dcm2niix`` executable: beside this Python (the PyPI package), else on ``PATH``."""
    here = Path(sys.executable).with_name("dcm2niix")
    found = str(here) if here.exists() else shutil.which("dcm2niix")
    if not found:
        raise DataError("dcm2niix is not installed: `pip install dcm2niix` (it is a dependency of arssr)")
    return found


def is_dicom(path: str | Path) -> bool:
    """True for a folder (a DICOM series) or a file with a DICOM suffix or the ``DICM`` marker."""
    p = Path(path)
    if p.is_dir():
        return True
    if p.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(p, "rb") as f:
            return f.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def convert_series(path: str | Path, workdir: str | Path) -> Path:
    """Convert the DICOM series in ``path`` (a folder, or one file of it) to one NIfTI in
    ``workdir``; return its path. Raises :class:`DataError` naming ``path`` when it holds no
    image series or more than one."""
    src = Path(path)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    if src.is_file():  # dcm2niix reads folders: give it one holding just this file
        single = work / "input"
        single.mkdir(exist_ok=True)
        shutil.copy2(src, single / src.name)
        src_dir = single
    else:
        src_dir = src
    out = work / "nifti"
    out.mkdir(exist_ok=True)
    proc = subprocess.run([dcm2niix_path(), "-z", "y", "-b", "n", "-f", "%s_%d", "-o", str(out), str(src_dir)],
                          capture_output=True, text=True)
    found = sorted(out.glob("*.nii.gz"))
    if not found and "Unable to find any DICOM" in proc.stdout + proc.stderr:
        raise DataError(f"{path}: no DICOM image series found")
    if proc.returncode != 0 and not found:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise DataError(f"{path}: dcm2niix could not convert it ({' / '.join(tail) or 'no output'})")
    if not found:
        raise DataError(f"{path}: no DICOM image series found")
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:6]) + (" ..." if len(found) > 6 else "")
        raise DataError(f"{path}: holds {len(found)} image series ({names}); give the folder of one series")
    return found[0]
