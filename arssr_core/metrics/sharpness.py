"""No-reference sharpness: PSI (Feichtenhofer et al. 2013) and LPC-SI (Hassen et al. 2013).

Both follow the authors' MATLAB files as GNU Octave 7.3 (image package 2.14) runs
them, step by step (the functions below say which step is which). Written here in numpy, vectorised over
stacks of slices:

* :func:`psi` / :func:`lpc_si` on a 2D image reproduce the reference code. PSI
  wants 8-bit grey values (uint8, or integers in 0..255); LPC-SI takes the values
  as they are and expects the 0-255 scale (its constant ``C = 2`` is absolute).
* On a 3D volume the volume is first min-max mapped to 0-255 (rounded to uint8
  for PSI), then the metric is the mean over the foreground slices (``ref`` not
  constant; ``ref`` defaults to the volume) of all three orientations, pooled:
  every slice counts once. ``stride`` keeps every k-th foreground slice.

Documented values rather than errors: a constant 2D image scores 0 for both
metrics (PSI finds no edge; LPC-SI finds no energy); so does a constant SR slice
picked by a non-constant GT slice. A 2D image smaller than 96 x 96 (PSI: three
32-pixel blocks each way, the outer ring is skipped) or 16 x 16 (LPC-SI) raises
:class:`DataError`, as does a volume with no foreground slice.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from ..errors import DataError
from .checks import as_array, same_shape, value_range
from .slices import orientation_stacks
from ..store import stored

# ----------------------------------------------------------------------------- PSI

PSI_BLOCK = 32
PSI_MIN_SIZE = 3 * PSI_BLOCK


def sobel_edges(img: np.ndarray) -> np.ndarray:
    """Octave ``edge(I, "Sobel")`` with the automatic threshold, for uint8 images.

    ``img``: ``(H, W)`` or ``(n, H, W)`` integers 0..255. Returns a bool array of the
    same shape. As Octave (image 2.14) does: image / 255, Sobel kernel / 8, both
    directions filtered with replicate padding, squared strength ``gx^2 + gy^2``
    set to 0 where it is <= 4 x its mean, then thinned to pixels that are a strict
    local maximum horizontally or vertically (zero outside the image).

    The float arithmetic copies Octave's order of operations (``conv2`` adds the
    kernel taps column by column from the right, bottom to top; ``mean`` sums in
    column-major order) so that ties between neighbours break as they do there:
    the strengths come out bit-identical on ``camera``.
    """
    v = np.asarray(img)
    squeeze = v.ndim == 2
    if squeeze:
        v = v[None]
    n, h, w = v.shape
    a = np.pad(v.astype(np.float64) / 255, ((0, 0), (1, 1), (1, 1)), mode="edge")

    def tap(di: int, dj: int) -> np.ndarray:
        return a[:, di : di + h, dj : dj + w]

    # correlation with [1 2 1; 0 0 0; -1 -2 -1] / 8 and with its transpose,
    # taps in Octave's order (columns right to left, rows bottom to top)
    g1 = -0.125 * tap(2, 2) + 0.125 * tap(0, 2)
    g1 = g1 + -0.25 * tap(2, 1)
    g1 = g1 + 0.25 * tap(0, 1)
    g1 = g1 + -0.125 * tap(2, 0)
    g1 = g1 + 0.125 * tap(0, 0)
    g2 = -0.125 * tap(2, 2) + -0.25 * tap(1, 2)
    g2 = g2 + -0.125 * tap(0, 2)
    g2 = g2 + 0.125 * tap(2, 0)
    g2 = g2 + 0.25 * tap(1, 0)
    g2 = g2 + 0.125 * tap(0, 0)
    s = g1**2 + g2**2
    total = np.cumsum(s.transpose(0, 2, 1).reshape(n, -1), axis=1)[:, -1]  # sequential sum
    thresh2 = 4 * (total / (h * w))
    s[s <= thresh2[:, None, None]] = 0
    z = np.zeros((n, h, 1))
    zr = np.zeros((n, 1, w))
    left = np.concatenate([z, s[:, :, :-1]], axis=2)
    right = np.concatenate([s[:, :, 1:], z], axis=2)
    up = np.concatenate([zr, s[:, :-1]], axis=1)
    down = np.concatenate([s[:, 1:], zr], axis=1)
    bw = ((s > left) & (s > right)) | ((s > up) & (s > down))
    return bw[0] if squeeze else bw


def _runs(v: np.ndarray, cmp_up, cmp_down) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of monotone runs walking up and down each column of ``v`` ``(n, H, W)``.

    ``up[i]`` counts the steps ``k -> k-1`` from row ``i`` while ``cmp_up(v[k-1], v[k])``
    holds; ``down[i]`` the steps ``k -> k+1`` while ``cmp_down(v[k+1], v[k])`` holds.
    A run that reaches the first (last) row has length ``i`` (``H-1-i``).
    """
    h = v.shape[1]
    up = np.zeros(v.shape, dtype=np.int32)
    down = np.zeros(v.shape, dtype=np.int32)
    for i in range(1, h):
        up[:, i] = np.where(cmp_up(v[:, i - 1], v[:, i]), up[:, i - 1] + 1, 0)
    for i in range(h - 2, -1, -1):
        down[:, i] = np.where(cmp_down(v[:, i + 1], v[:, i]), down[:, i + 1] + 1, 0)
    return up, down


def _edge_widths(v: np.ndarray) -> np.ndarray:
    """PSI edge widths ``(n, H, W)`` (0 where none) of uint8 stack ``v`` ``(n, H, W)``."""
    n, h, w = v.shape
    vi = v.astype(np.int16)
    x = v.astype(np.float64) / 255
    ix = np.concatenate(
        [x[:, :, 1:2] - x[:, :, 0:1], 0.5 * (x[:, :, 2:] - x[:, :, :-2]), x[:, :, -1:] - x[:, :, -2:-1]],
        axis=2,
    )
    iy = np.concatenate(
        [x[:, 1:2] - x[:, 0:1], 0.5 * (x[:, 2:] - x[:, :-2]), x[:, -1:] - x[:, -2:-1]], axis=1
    )
    phi = np.arctan2(iy, ix) * 180 / np.pi
    edges = sobel_edges(v) & ~((ix == 0) & (iy == 0))
    widths = np.zeros((n, h, w))
    rows = np.arange(h)[None, :, None]
    # Case A: gradient points up (phi ~ -90): brighter above, walk up while rising,
    # down while falling. Case B (phi ~ +90): the mirror image.
    for centre, rising_up in ((-90.0, True), (90.0, False)):
        sel = edges & (np.abs(phi - centre) < 8)
        if not sel.any():
            continue
        if rising_up:
            up, down = _runs(vi, np.greater, np.less)
        else:
            up, down = _runs(vi, np.less, np.greater)
        valid = sel & (up != rows) & (down != (h - 1 - rows))
        k, i, j = np.nonzero(valid)
        wu, wd = up[k, i, j], down[k, i, j]
        top, bottom = x[k, i - wu, j], x[k, i + wd, j]
        hi, lo = (top, bottom) if rising_up else (bottom, top)
        phi2 = (phi[k, i, j] - centre) * np.pi / 180
        width = (wu + wd) / np.cos(phi2)
        big = width >= 3
        width[big] -= (hi[big] - lo[big]) / width[big]
        widths[k, i, j] = width
    return widths


def _psi_from_widths(widths: np.ndarray, percentile: float) -> np.ndarray:
    """Block pooling of PSI: one score per image of ``widths`` ``(n, H, W)``."""
    n, h, w = widths.shape
    rb, cb = h // PSI_BLOCK, w // PSI_BLOCK
    blocks = widths[:, : rb * PSI_BLOCK, : cb * PSI_BLOCK].reshape(n, rb, PSI_BLOCK, cb, PSI_BLOCK)
    blocks = blocks[:, 1 : rb - 1, :, 1 : cb - 1, :]
    wsum = blocks.sum(axis=(2, 4))
    cnt = np.count_nonzero(blocks, axis=(2, 4))
    quota = percentile / 100
    out = np.zeros(n)
    for k in range(n):
        used = wsum[k] >= 2
        avg = np.sort(wsum[k][used] / cnt[k][used])
        avg = avg[avg != 0]
        m = math.ceil(avg.size * quota)
        if m > 0:
            out[k] = m / avg[:m].sum()
    return out


def psi_stack(stack: np.ndarray, percentile: float = 22, chunk: int = 32) -> np.ndarray:
    """PSI of each uint8 image in ``stack`` ``(n, H, W)``: array of ``n`` scores (1/pixels).

    Works on ``chunk`` images at a time to bound memory.
    """
    if stack.shape[1] < PSI_MIN_SIZE or stack.shape[2] < PSI_MIN_SIZE:
        raise DataError(
            f"PSI needs images of at least {PSI_MIN_SIZE} x {PSI_MIN_SIZE} pixels "
            f"(3 blocks of {PSI_BLOCK}, outer ring skipped); got {stack.shape[1]} x {stack.shape[2]}"
        )
    parts = [
        _psi_from_widths(_edge_widths(stack[i : i + chunk]), percentile)
        for i in range(0, stack.shape[0], chunk)
    ]
    return np.concatenate(parts)


def _to_uint8_2d(img: np.ndarray, name: str) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if np.all((img >= 0) & (img <= 255) & (img == np.round(img))):
        return img.astype(np.uint8)
    raise DataError(
        f"{name}: PSI on a 2D image wants 8-bit grey values (uint8 or integers 0..255), "
        f"got dtype {img.dtype} with range [{img.min():g}, {img.max():g}]; pass a 3D "
        "volume (min-max mapped to 0-255 for you) or convert the slice first"
    )


# -------------------------------------------------------------------------- LPC-SI

LPC_SCALES = (1.0, 1.5, 2.0)
LPC_WEIGHTS = (1, -3, 2)  # of the scales' phases: the phasor product u1 conj(u2)^3 u3^2 below
LPC_NORIENT = 8
LPC_C = 2.0
LPC_BETA = 1e-4
LPC_MIN_SIZE = 16


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Kovesi's frequency grid normalised to +-0.5 (odd sizes divide by n-1), not shifted."""

    def rng(n: int) -> np.ndarray:
        if n % 2:
            return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
        return np.arange(-n / 2, n / 2) / n

    return np.meshgrid(rng(cols), rng(rows))


@lru_cache(maxsize=8)
def log_gabor_bank(rows: int, cols: int) -> np.ndarray:
    """LPC-SI's log-Gabor filters, ``(3 scales, 8 orientations, rows, cols)`` float64.

    Frequency domain, zero frequency at ``[0, 0]``; cached per image shape (read-only).
    """
    x, y = _grid(rows, cols)
    radius = np.fft.ifftshift(np.sqrt(x**2 + y**2))
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    radius[0, 0] = 1.0
    sint, cost = np.sin(theta), np.cos(theta)
    lp = np.fft.ifftshift(1.0 / (1.0 + (np.sqrt(x**2 + y**2) / 0.45) ** (2 * 15)))
    sigma_on_f, min_wavelength = 0.75, 4
    radial = []
    for s in LPC_SCALES:
        fo = 1.0 / (min_wavelength * s)
        g = np.exp((-(np.log(radius / fo)) ** 2) / (2 * np.log(sigma_on_f) ** 2)) * lp
        g[0, 0] = 0.0
        radial.append(g)
    theta_sigma = np.pi / LPC_NORIENT / 1.5
    bank = np.empty((len(LPC_SCALES), LPC_NORIENT, rows, cols))
    for o in range(LPC_NORIENT):
        ang = o * np.pi / LPC_NORIENT
        ds = sint * np.cos(ang) - cost * np.sin(ang)
        dc = cost * np.cos(ang) + sint * np.sin(ang)
        spread = np.exp((-np.abs(np.arctan2(ds, dc)) ** 2) / (2 * theta_sigma**2))
        for s in range(len(LPC_SCALES)):
            bank[s, o] = radial[s] * spread
    bank.flags.writeable = False
    return bank


def _unit(m: np.ndarray) -> np.ndarray:
    """``m / |m|``, with 1 where ``m == 0`` (angle 0, as MATLAB's ``angle(0)``)."""
    a = np.abs(m)
    zero = a == 0
    return np.where(zero, 1.0, m / np.where(zero, 1.0, a))


def lpc_map_stack(stack: np.ndarray) -> np.ndarray:
    """LPC sharpness maps ``(n, H, W)`` of float images ``stack`` ``(n, H, W)`` (0-255 scale).

    The phase coherence ``cos(sum_s w_s angle(M_s))`` only matters where the energy
    is positive (a few per cent of the pixels), so it is computed there only, as
    the real part of the product of unit phasors ``u_1 conj(u_2)^3 u_3^2``.
    """
    n, h, w = stack.shape
    bank = log_gabor_bank(h, w)
    b = int(math.floor(min(h, w) / 16 + 0.5))
    f = sfft.fft2(stack.astype(np.float64), workers=-1)
    num = np.zeros((n, h, w))
    den = np.zeros((n, h, w))
    buf = np.empty((n, len(LPC_SCALES), h, w), dtype=np.complex128)
    for o in range(LPC_NORIENT):
        np.multiply(f[:, None], bank[:, o][None], out=buf)
        m = sfft.ifft2(buf, workers=-1, overwrite_x=True)  # (n, scales, H, W)
        e = np.abs(m[:, 0])
        centre = e[:, b : h - b, b : w - b].reshape(n, -1)
        thr = centre.mean(axis=1) + 2 * centre.std(axis=1, ddof=1)
        e -= thr[:, None, None]
        np.maximum(e, 0.0, out=e)
        den += e
        k, i, j = np.nonzero(e)
        u1, u2, u3 = (_unit(m[k, s, i, j]) for s in range(3))
        coh = (u1 * np.conj(u2) ** 3 * u3**2).real
        num[k, i, j] += np.maximum(coh, 0.0) * e[k, i, j]
    return num / (den + LPC_C)


def _pool(values: np.ndarray, beta: float = LPC_BETA) -> float:
    """LPC-SI pooling: descending sort, weights ``exp(-(i/(N-1))/beta)``, weighted mean."""
    n = values.size
    k = min(n, int(math.ceil(60 * beta * (n - 1))) + 2)  # later weights < exp(-60)
    top = -np.sort(-np.partition(values, n - k)[n - k :]) if k < n else -np.sort(-values)
    u = np.exp(-(np.arange(k) / (n - 1)) / beta)
    return float(np.sum(top * u) / np.sum(u))


def lpc_si_stack(stack: np.ndarray, chunk: int = 8) -> np.ndarray:
    """LPC-SI of each image in ``stack`` ``(n, H, W)`` (0-255 scale): array of ``n`` scores."""
    n, h, w = stack.shape
    if min(h, w) < LPC_MIN_SIZE:
        raise DataError(f"LPC-SI needs images of at least {LPC_MIN_SIZE} x {LPC_MIN_SIZE} pixels; got {h} x {w}")
    b = int(math.floor(min(h, w) / 16 + 0.5))
    out = np.zeros(n)
    flat = stack.reshape(n, -1)
    const = flat.max(axis=1) == flat.min(axis=1)
    todo = np.flatnonzero(~const)
    for start in range(0, todo.size, chunk):
        idx = todo[start : start + chunk]
        maps = lpc_map_stack(stack[idx])
        for k, mp in zip(idx, maps):
            out[k] = _pool(mp[b : h - b, b : w - b].ravel())
    return out


# ------------------------------------------------------------------------ public API


def _volume_scores(x: np.ndarray, ref: np.ndarray | None, stride: int, kind: str,
                   skip: np.ndarray | None = None) -> float:
    return float(np.mean(_slice_scores(x, ref, stride, kind, skip)))


@stored()
def _slice_scores(x: np.ndarray, ref: np.ndarray | None, stride: int, kind: str,
                  skip: np.ndarray | None = None) -> np.ndarray:
    lo, hi = value_range(x, "volume") if ref is None else (float(x.min()), float(x.max()))
    if ref is None:
        ref = x
    scaled = (x.astype(np.float64) - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros(x.shape)
    if kind == "psi":
        scaled = np.floor(scaled + 0.5).astype(np.uint8)
    scores, small = [], []
    minimum = PSI_MIN_SIZE if kind == "psi" else LPC_MIN_SIZE
    for axis, (stack,) in orientation_stacks((scaled,), ref, stride, skip):
        if min(stack.shape[1:]) < minimum:  # an orientation whose slices are too small is skipped
            small.append(f"axis {axis}: {stack.shape[1]} x {stack.shape[2]}")
            continue
        scores.append(psi_stack(stack) if kind == "psi" else lpc_si_stack(stack))
    if not scores:
        if small:
            raise DataError(f"{kind}: every orientation's slices are smaller than {minimum} x {minimum} pixels "
                            f"({'; '.join(small)})")
        raise DataError("volume has no foreground slice (every slice of the reference is constant)")
    return np.concatenate(scores)


def sharpness_slices(x: object, kind: str, *, ref: object = None, stride: int = 1,
                     skip: np.ndarray | None = None) -> np.ndarray:
    """The per-slice values whose mean is :func:`psi` (``kind="psi"``) or :func:`lpc_si`
    (``"lpc_si"``) of a 3D volume: every foreground slice of the three orientations (none that
    holds a voxel of ``skip``), in order (what a paired slice bootstrap resamples)."""
    if kind not in ("psi", "lpc_si"):
        raise DataError(f"sharpness kind is 'psi' or 'lpc_si', not '{kind}'")
    a = as_array(x, "volume", ndims=(3,))
    return _slice_scores(a, _check_ref(a, ref), stride, kind, skip)


def _check_ref(x: np.ndarray, ref: object) -> np.ndarray | None:
    if ref is None:
        return None
    r = as_array(ref, "ref", ndims=(3,))
    same_shape(x, r, ("volume", "ref"))
    return r


def psi(x: object, *, ref: object = None, stride: int = 1, percentile: float = 22,
        skip: np.ndarray | None = None) -> float:
    """Perceptual Sharpness Index (1/pixels; higher is sharper).

    ``x``: 2D uint8 image ``(H, W)`` -> the reference PSI; or 3D volume -> mean PSI over
    foreground slices of the three orientations (see module docstring).
    """
    a = as_array(x, "volume")
    if a.ndim == 2:
        return float(psi_stack(_to_uint8_2d(a, "image")[None], percentile)[0])
    r = _check_ref(a, ref)
    if percentile != 22:
        raise DataError("psi: a custom percentile is only supported on 2D images")
    return _volume_scores(a, r, stride, "psi", skip)


def lpc_si(x: object, *, ref: object = None, stride: int = 1, skip: np.ndarray | None = None) -> float:
    """Local Phase Coherence Sharpness Index (0..1; higher is sharper).

    ``x``: 2D image ``(H, W)`` on the 0-255 scale -> the reference LPC-SI; or 3D volume
    -> mean over foreground slices of the three orientations (see module docstring).
    """
    a = as_array(x, "volume")
    if a.ndim == 2:
        return float(lpc_si_stack(a.astype(np.float64)[None])[0])
    return _volume_scores(a, _check_ref(a, ref), stride, "lpc_si", skip)
