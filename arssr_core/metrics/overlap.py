"""Overlap of two label volumes: Dice per label."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import DataError
from .checks import as_array, same_shape


def dice(a: object, b: object, labels: Iterable[int] | None = None) -> dict[int, float]:
    """Dice ``2 |A & B| / (|A| + |B|)`` for each label, between label arrays ``a`` and ``b``.

    ``a``, ``b``: same-shape integer label arrays (2D or 3D). ``labels``: the labels to
    score; default every non-zero label found in either. A label absent from both
    gives ``nan`` (undefined, not 0 or 1).
    """
    x = as_array(a, "a")
    y = as_array(b, "b")
    same_shape(x, y, ("a", "b"))
    for arr, name in ((x, "a"), (y, "b")):
        if np.issubdtype(arr.dtype, np.floating) and not np.array_equal(arr, np.round(arr)):
            raise DataError(f"{name}: label volume must hold integers, got non-integer values")
    if labels is None:
        labels = [v for v in np.union1d(np.unique(x), np.unique(y)).tolist() if v != 0]
    out: dict[int, float] = {}
    for lab in labels:
        ia, ib = x == lab, y == lab
        denom = int(ia.sum()) + int(ib.sum())
        key = int(lab)
        out[key] = float("nan") if denom == 0 else 2.0 * int(np.count_nonzero(ia & ib)) / denom
    return out
