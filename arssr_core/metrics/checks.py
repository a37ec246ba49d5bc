"""Input checks shared by the metrics: every problem becomes a :class:`DataError` naming it."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def as_array(x: object, name: str, ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Return ``x`` as a finite real numpy array with one of ``ndims`` dimensions.

    Raises :class:`DataError` for other dimension counts, empty or non-numeric
    arrays, complex values, and NaN or infinite values.
    """
    try:
        a = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise DataError(f"{name}: cannot be read as an array ({exc})") from exc
    if a.ndim not in ndims:
        want = " or ".join(f"{d}D" for d in ndims)
        raise DataError(f"{name}: expected a {want} array, got shape {a.shape}")
    if a.size == 0:
        raise DataError(f"{name}: array is empty (shape {a.shape})")
    if a.dtype == bool:
        a = a.astype(np.uint8)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DataError(f"{name}: expected real numbers, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise DataError(f"{name}: contains {bad} NaN or infinite value(s)")
    return a


def same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("sr", "gt")) -> None:
    """Raise :class:`DataError` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise DataError(
            f"shape mismatch: {names[0]} has shape {a.shape}, {names[1]} has shape {b.shape}"
        )


def value_range(a: np.ndarray, name: str) -> tuple[float, float]:
    """``(min, max)`` of ``a`` as floats; raises :class:`DataError` if ``a`` is constant."""
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        raise DataError(f"{name}: volume is constant (all values {lo:g}); it has no range to use")
    return lo, hi


def minmax(a: np.ndarray, name: str, top: float = 1.0) -> np.ndarray:
    """Map ``a`` linearly onto ``[0, top]`` (float64); constant input raises :class:`DataError`."""
    lo, hi = value_range(a, name)
    return (a.astype(np.float64) - lo) * (top / (hi - lo))
