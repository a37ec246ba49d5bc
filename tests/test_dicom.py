"""DICOM in (dcm2niix) with world placement checked against an independent reader, and
headers that cannot place an output refused before any work."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from arssr_core.cli import main
from arssr_core.errors import DataError
from arssr_core.infer.dicom import convert_series, is_dicom

pydicom = pytest.importorskip("pydicom")
DATA = Path(nib.__file__).parent / "nicom" / "tests" / "data"
#: Real scanner files shipped with nibabel's own tests: a Siemens EPI series of two mosaic
#: volumes (36 x 36 x 48 each) and a Philips 3D MPRAGE (enhanced multi-frame, 256 x 256 x 176;
#: its pixel data blanked in the test copy, its geometry real). No registry ships a 3D series
#: with its pixels, so placement is checked on the MPRAGE's geometry.
MOSAIC = [DATA / "0.dcm", DATA / "1.dcm"]
MPRAGE = DATA / "philips_mprage.dcm.gz"


def _folder(tmp_path: Path, name: str, files: list[Path]) -> Path:
    if not all(p.exists() for p in files):
        pytest.skip("nibabel's DICOM test files are not installed")
    d = tmp_path / name
    d.mkdir()
    for p in files:
        if p.suffix == ".gz":
            import gzip

            with gzip.open(p) as f, open(d / p.stem, "wb") as g:
                shutil.copyfileobj(f, g)
        else:
            shutil.copy(p, d / p.name)
    return d


def test_the_voxel_grid_lands_on_the_dicom_grid_in_world_space(tmp_path):
    """The converted MPRAGE's voxel centres are the DICOM's (nibabel's own DICOM reader gives
    the DICOM grid in LPS): one-to-one, up to an axis permutation and flips."""
    from nibabel.nicom import dicomwrappers

    d = _folder(tmp_path, "mprage", [MPRAGE])
    nii = nib.load(convert_series(d, tmp_path / "work"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = dicomwrappers.wrapper_from_data(pydicom.dcmread(d / "philips_mprage.dcm"))
    to_dicom = np.linalg.inv(w.affine) @ np.diag([-1.0, -1.0, 1.0, 1.0]) @ nii.affine  # NIfTI ijk -> DICOM ijk
    perm = np.rint(to_dicom[:3, :3])
    assert np.allclose(to_dicom[:3, :3], perm, atol=1e-3) and sorted(np.abs(perm).sum(0)) == [1, 1, 1]
    corners = np.array([[i, j, k, 1] for i in (0, nii.shape[0] - 1) for j in (0, nii.shape[1] - 1)
                        for k in (0, nii.shape[2] - 1)], float) @ to_dicom.T
    assert np.allclose(corners[:, :3], np.rint(corners[:, :3]), atol=1e-2)
    assert sorted(np.rint(corners[:, :3]).min(0)) == [0, 0, 0]  # the same box, corner for corner
    assert sorted(np.rint(corners[:, :3]).max(0) + 1) == sorted(w.image_shape)


def test_upsample_takes_a_dicom_folder_and_keeps_its_field_of_view(tmp_path, capsys):
    d = _folder(tmp_path, "mprage", [MPRAGE])
    out = tmp_path / "sr.nii.gz"
    rc = main(["upsample", str(d), "-o", str(out), "--scale", "1", "1", "1.5", "--method", "cubic", "-q"])
    assert rc == 0, capsys.readouterr().err
    img, ref = nib.load(out), nib.load(convert_series(d, tmp_path / "ref"))
    assert img.shape == (ref.shape[0], ref.shape[1], round(ref.shape[2] * 1.5))
    face = lambda a, shape: (a @ [-0.5, -0.5, -0.5, 1.0], a @ [*(np.array(shape) - 0.5), 1.0])  # noqa: E731
    for p, q in zip(face(img.affine, img.shape), face(ref.affine, ref.shape)):
        assert np.allclose(p, q, atol=1e-3)  # the outer voxel faces coincide in world space
    assert is_dicom(d / "philips_mprage.dcm") and not is_dicom(out)


def test_a_4d_series_is_refused_by_name(tmp_path, capsys):
    d = _folder(tmp_path, "epi", MOSAIC)
    rc = main(["upsample", str(d), "-o", str(tmp_path / "sr.nii.gz"), "--scale", "2", "--method", "cubic", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "expected a 3D volume" in err and not (tmp_path / "sr.nii.gz").exists()


def test_a_folder_with_no_series_or_several_is_refused_by_name(tmp_path):
    series = _folder(tmp_path, "epi", MOSAIC)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty: no DICOM image series found"):
        convert_series(empty, tmp_path / "w1")
    mixed = tmp_path / "mixed"
    shutil.copytree(series, mixed)
    mri = Path(pydicom.__file__).parent / "data" / "test_files" / "MR_small.dcm"
    if not mri.exists():
        pytest.skip("pydicom's test files are not installed")
    shutil.copy(mri, mixed / "other.dcm")
    with pytest.raises(DataError, match="mixed: holds 2 image series"):
        convert_series(mixed, tmp_path / "w2")


def test_a_header_that_cannot_place_an_output_is_refused_before_any_work(tmp_path, capsys):
    img = nib.Nifti1Image(np.ones((8, 8, 8), np.float32), None)
    img.header.set_sform(np.diag([1.0, 0.0, 1.0, 1.0]), code=1)  # a zero voxel size along the second axis
    bad = tmp_path / "flat.nii.gz"
    nib.save(img, bad)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc = main(["upsample", str(bad), "-o", str(out_dir / "sr.nii.gz"), "--scale", "2", "--method", "cubic", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "flat.nii.gz: the header's voxel-to-world matrix cannot be inverted" in err
    assert list(out_dir.iterdir()) == []
