"""Read back the prepared datasets: the records of ``catalog.json`` and their volumes.

:func:`records` filters the records (role, kind, name); :func:`volume_table` gives the overview
as a pandas DataFrame; :func:`load` reads one record's volume (and masks) as a
:class:`~arssr_core.data.nifti.Volume`. Paths in records are relative to the profile's
prepared folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..paths import prepared_dir
from .nifti import Volume, load_volume

CATALOG = "catalog.json"

#: Columns of :func:`volume_table`, in order.
COLUMNS = ["id", "role", "name", "kind", "subject", "source", "shape", "voxel_size", "normalisation",
           "masks", "file", "note"]


def catalog_path(profile: str) -> Path:
    return prepared_dir(profile) / CATALOG


def load_catalog(profile: str) -> dict[str, Any]:
    """The whole ``catalog.json`` of a profile; :class:`DataError` if it was never prepared."""
    path = catalog_path(profile)
    if not path.exists():
        raise DataError(f"{path}: no catalog; run `arssr data prepare --profile {profile}` first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: unreadable catalog ({e})") from None


def records(profile: str, role: str | None = None, kind: str | None = None,
            name: str | None = None) -> list[dict[str, Any]]:
    """The records of a profile, filtered by ``role``, ``kind`` and/or ``name``."""
    out = load_catalog(profile)["records"]
    for key, val in (("role", role), ("kind", kind), ("name", name)):
        if val is not None:
            out = [r for r in out if r[key] == val]
    return out


def titles(profile: str, role: str = "test") -> dict[str, str]:
    """Each record's name for a reader (its ``title``, else its name), by name; empty where the
    profile was never prepared (callers then show the names)."""
    try:
        return {r["name"]: r.get("title", r["name"]) for r in records(profile, role=role)}
    except DataError:
        return {}


def record(profile: str, rec_id: str) -> dict[str, Any]:
    """One record by id (``"<role>/<name>"``)."""
    for r in load_catalog(profile)["records"]:
        if r["id"] == rec_id:
            return r
    raise DataError(f"{catalog_path(profile)}: no record '{rec_id}'")


def file_path(profile: str, rec: dict[str, Any], mask: str | None = None) -> Path:
    """Absolute path of a record's volume, or of one of its masks (``"lesion"``, ``"wm"``)."""
    if mask is None:
        return prepared_dir(profile) / rec["file"]
    if mask not in rec.get("masks", {}):
        raise DataError(f"record {rec['id']} has no '{mask}' mask; it has {sorted(rec.get('masks', {}))}")
    return prepared_dir(profile) / rec["masks"][mask]


def load(profile: str, rec: dict[str, Any] | str) -> Volume:
    """The volume of a record (or record id)."""
    rec = record(profile, rec) if isinstance(rec, str) else rec
    return load_volume(file_path(profile, rec))


def load_mask(profile: str, rec: dict[str, Any] | str, mask: str = "lesion") -> np.ndarray:
    """A record's mask as a boolean array."""
    rec = record(profile, rec) if isinstance(rec, str) else rec
    return load_volume(file_path(profile, rec, mask)).data > 0.5


def volume_table(profile: str) -> pd.DataFrame:
    """One row per record: id, role, kind (real/simulated/synthetic), source, shape, voxel size..."""
    rows = []
    for r in load_catalog(profile)["records"]:
        row = {c: r.get(c, "") for c in COLUMNS}
        row["shape"] = " x ".join(str(n) for n in r["shape"])
        row["voxel_size"] = " x ".join(f"{v:g}" for v in r["voxel_size"])
        row["masks"] = ", ".join(sorted(r.get("masks", {})))
        if r.get("alias_of"):
            row["note"] = f"{r.get('note', '')} ({r['alias_of']})"
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def figure_items(profile: str, role: str | None = None, ids: list[str] | None = None,
                 masks: Sequence[str] | None = ("lesion",)) -> list[dict[str, Any]]:
    """Volumes of a role (or of the given record ids) as items for :func:`arssr_core.study.viz.volumes_figure`:
    ``{"title", "data", "voxel_size", "masks"}``, aliases skipped; ``masks`` names the masks
    to overlay (None: all)."""
    recs = [record(profile, i) for i in ids] if ids is not None else records(profile, role)
    items = []
    for r in recs:
        if r.get("alias_of") and ids is None:
            continue
        vol = load(profile, r)
        ms = {k: load_mask(profile, r, k) for k in r.get("masks", {}) if masks is None or k in masks}
        items.append({"title": f"{r['id']}\n{r['kind']}, {' x '.join(f'{v:g}' for v in r['voxel_size'])} mm",
                      "data": vol.data, "voxel_size": vol.voxel_size, "masks": ms, "record": r})
    return items


def lesion_list(profile: str) -> pd.DataFrame:
    """One row per lesion of every lesion record: synthetic ones with their drawn size and
    contrast, real ones with the size of their mask."""
    rows = []
    for r in records(profile, "lesion"):
        vox = float(np.prod(r["voxel_size"]))
        if "lesions" in r:
            for i, les in enumerate(r["lesions"]["lesions"]):
                rows.append({"record": r["id"], "kind": r["kind"], "lesion": i + 1, "contrast": les["contrast"],
                             "radius_mm": round(les["radius_mm"], 2), "voxels": les["voxels"],
                             "volume_ml": round(les["voxels"] * vox / 1000, 3),
                             "intensity": round(les["intensity"], 3)})
        else:
            m = load_mask(profile, r, "lesion")
            rows.append({"record": r["id"], "kind": r["kind"], "lesion": 1, "contrast": "enhancing tumour",
                         "radius_mm": None, "voxels": int(m.sum()), "volume_ml": round(m.sum() * vox / 1000, 3),
                         "intensity": round(float(load(profile, r).data[m].mean()), 3) if m.any() else None})
    return pd.DataFrame(rows)
