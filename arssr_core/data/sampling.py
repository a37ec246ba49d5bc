"""Training and validation samples as the paper draws them (Wu et al. 2022, section 4.1.3).

ArSSR sample: a random ``crop``^3 HR crop of a training volume, a scale
``s = round(U(2, 4.04), 1)``, the HR patch = the first ``round(lr_size * s)`` voxels per
axis of the crop, the LR patch = cubic-spline zoom by ``1/s`` (``lr_size``^3), and ``k``
HR voxel coordinates drawn without replacement with their intensities (a patch of fewer
than ``k`` voxels gives each once and then repeats, so that every sample has ``k``).

Anisotropic sample (beyond the paper, :class:`Anisotropic`): with probability ``fraction``
the scale differs per axis, as in a thick-slice clinical series: one axis (at random) at a
thick-slice factor ``round(U(thick), 1)``, the other two at an in-plane factor
``round(U(inplane), 1)`` no larger; the HR patch is ``round(lr_size * s)`` voxels per axis
and the LR is degraded with a slice profile drawn from ``profiles`` (:mod:`.degrade`). The
other samples are the paper's isotropic draw.

Baseline sample (per-scale CNNs): an HR patch at the model's one scale and its LR
cubic-upsampled back onto the HR grid.

Every sample is a pure function of ``(seed, epoch, index)``, so a run that resumes
after an interruption sees exactly the data it would have seen. An item is asked for by
``index`` (the dataset's current epoch) or by the pair ``(epoch, index)``, so that one
loader, with its worker started once, can serve a whole run across epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .coords import coords_of_indices
from .degrade import SLICE_PROFILES, downsample, resize_cubic


def draw_scale(rng: np.random.Generator, low: float = 2.0, high: float = 4.04) -> float:
    """The paper's scale draw: ``round(U(low, high), 1)``."""
    return float(np.round(rng.uniform(low, high), 1))


@dataclass(frozen=True)
class Anisotropic:
    """How often and how a training sample's scale differs per axis (see the module doc)."""

    fraction: float = 0.5
    thick: tuple[float, float] = (2.0, 5.04)
    inplane: tuple[float, float] = (1.0, 4.04)
    profiles: tuple[str, ...] = ("cubic",)

    def __post_init__(self) -> None:
        bad = [p for p in self.profiles if p not in SLICE_PROFILES]
        if bad or not self.profiles:
            raise ValueError(f"slice profiles {list(self.profiles)}: choose from {SLICE_PROFILES}")
        if not 0.0 <= self.fraction <= 1.0 or min(self.thick + self.inplane) < 1.0:
            raise ValueError(f"anisotropic sampling {self}: fraction in [0, 1], factors >= 1")

    @classmethod
    def from_config(cls, cfg: dict | None) -> "Anisotropic | None":
        """From a profile's ``sampling`` mapping (None or empty: isotropic only, the paper)."""
        if not cfg:
            return None
        return cls(fraction=float(cfg.get("fraction", 0.5)), thick=tuple(cfg.get("thick", (2.0, 5.04))),
                   inplane=tuple(cfg.get("inplane", (1.0, 4.04))), profiles=tuple(cfg.get("profiles", ("cubic",))))


def draw_anisotropic(rng: np.random.Generator, spec: Anisotropic, axes: Sequence[int] = (0, 1, 2)
                     ) -> tuple[tuple[float, float, float], str]:
    """(per-axis scales, slice profile) of one thick-slice sample: the thick axis drawn from
    ``axes``, its factor from ``spec.thick``, the in-plane factor from ``spec.inplane`` capped by
    the thick one."""
    thick = float(np.round(rng.uniform(*spec.thick), 1))
    inplane = min(float(np.round(rng.uniform(*spec.inplane), 1)), thick)
    axis = int(axes[int(rng.integers(len(axes)))])
    scales = [inplane] * 3
    scales[axis] = thick
    return (scales[0], scales[1], scales[2]), str(spec.profiles[int(rng.integers(len(spec.profiles)))])


def random_crop(volume: np.ndarray, size: Sequence[int], rng: np.random.Generator,
                min_foreground: float = 0.0, threshold: float = 0.05, tries: int = 20) -> np.ndarray:
    """A random crop of ``size``; retried up to ``tries`` times until at least
    ``min_foreground`` of its voxels exceed ``threshold`` (the last try is kept)."""
    size = [min(int(s), n) for s, n in zip(size, volume.shape)]
    for _ in range(max(1, tries)):
        start = [int(rng.integers(0, n - s + 1)) for s, n in zip(size, volume.shape)]
        crop = volume[tuple(slice(a, a + s) for a, s in zip(start, size))]
        if min_foreground <= 0 or np.mean(crop > threshold) >= min_foreground:
            break
    return np.ascontiguousarray(crop)


def augment_patch(patch: np.ndarray, rng: np.random.Generator, gamma: tuple[float, float] = (0.7, 1.4),
                  flip: bool = True) -> np.ndarray:
    """Cheap per-patch augmentation before degradation: random flips and a gamma change
    of contrast (intensities stay in [0, 1])."""
    if flip:
        for ax in range(3):
            if rng.random() < 0.5:
                patch = np.flip(patch, ax)
    if gamma is not None:
        g = float(np.exp(rng.uniform(np.log(gamma[0]), np.log(gamma[1]))))
        patch = np.clip(patch, 0.0, 1.0) ** g
    return np.ascontiguousarray(patch, dtype=np.float32)


class _Seeded(Dataset):
    """Base: ``len(volumes) * samples_per_volume`` items per epoch, each seeded by (seed, epoch, index)."""

    def __init__(self, volumes: Sequence[np.ndarray], samples_per_volume: int, seed: int):
        if not volumes:
            raise ValueError("no training volumes")
        self.volumes = [np.asarray(v, dtype=np.float32) for v in volumes]
        self.samples_per_volume = int(samples_per_volume)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.volumes) * self.samples_per_volume

    def _rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), int(index)])

    def _key(self, key: int | tuple[int, int]) -> tuple[np.random.Generator, int]:
        """(generator, index) of an item asked for by ``index`` or ``(epoch, index)``."""
        epoch, index = key if isinstance(key, (tuple, list)) else (None, key)
        return self._rng(index, epoch), int(index)


class ArSSRPatches(_Seeded):
    """Items: ``lr`` (1, L, L, L), ``coords`` (k, 3) in (-1, 1), ``values`` (k,), ``scale`` (3,)
    per axis. ``anisotropic`` (None: the paper's isotropic draw only) mixes in thick-slice samples."""

    def __init__(self, volumes: Sequence[np.ndarray], samples_per_volume: int = 6, crop: int = 40,
                 lr_size: int = 10, scale_range: tuple[float, float] = (2.0, 4.04), k: int = 8000,
                 seed: int = 0, min_foreground: float = 0.0, augment: bool = False,
                 anisotropic: Anisotropic | None = None):
        super().__init__(volumes, samples_per_volume, seed)
        self.crop, self.lr_size, self.k = int(crop), int(lr_size), int(k)
        self.scale_range = tuple(scale_range)
        self.min_foreground, self.augment = float(min_foreground), bool(augment)
        self.anisotropic = anisotropic
        if anisotropic is not None:
            need = int(round(self.lr_size * anisotropic.thick[1]))
            self._thick_axes = [tuple(ax for ax in range(3) if v.shape[ax] >= need) for v in self.volumes]
            small = [v.shape for v, axes in zip(self.volumes, self._thick_axes) if not axes]
            if small:
                raise ValueError(f"volumes {small} are too small on every axis for a thick-slice patch of {need} voxels")

    def make(self, rng: np.random.Generator, volume: np.ndarray, scale: float | Sequence[float],
             profile: str = "cubic") -> dict[str, torch.Tensor]:
        """One sample from ``volume`` at ``scale`` (one value: the paper's sample; three: per
        axis, LR degraded with slice ``profile``) with the given generator."""
        scales = np.atleast_1d(np.asarray(scale, dtype=float))
        if scales.size == 1:
            crop = random_crop(volume, (self.crop,) * 3, rng, self.min_foreground)
            n = int(round(self.lr_size * float(scales[0])))
            hr = crop[:n, :n, :n]
            scales = np.repeat(scales, 3)
        else:
            hr = random_crop(volume, [int(round(self.lr_size * s)) for s in scales], rng, self.min_foreground)
        if self.augment:
            hr = augment_patch(hr, rng)
        lr = downsample(hr, tuple(scales) if len(set(scales.tolist())) > 1 else float(scales[0]), profile=profile)
        flat = rng.choice(hr.size, size=min(self.k, hr.size), replace=False)
        if flat.size < self.k:  # a patch smaller than k (thin in-plane): every voxel, then repeats, k in all
            flat = np.concatenate([flat, rng.choice(hr.size, size=self.k - flat.size, replace=True)])
        idx = np.stack(np.unravel_index(flat, hr.shape), -1)
        return {
            "lr": torch.from_numpy(lr[None].astype(np.float32)),
            "coords": torch.from_numpy(coords_of_indices(idx, hr.shape)),
            "values": torch.from_numpy(hr.reshape(-1)[flat].astype(np.float32)),
            "scale": torch.tensor(scales, dtype=torch.float32),
        }

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        rng, index = self._key(key)
        v = index // self.samples_per_volume
        spec = self.anisotropic
        if spec is not None and rng.random() < spec.fraction:
            scales, profile = draw_anisotropic(rng, spec, self._thick_axes[v])
            return self.make(rng, self.volumes[v], scales, profile)
        return self.make(rng, self.volumes[v], draw_scale(rng, *self.scale_range))


class BaselinePatches(_Seeded):
    """Items: ``inp`` (1, n, n, n) cubic-upsampled LR on the HR grid and ``target`` (1, n, n, n),
    ``n = round(round(patch / s) * s)`` so that the LR grid is whole."""

    def __init__(self, volumes: Sequence[np.ndarray], scale: float, samples_per_volume: int = 6,
                 patch: int = 24, seed: int = 0, min_foreground: float = 0.0, augment: bool = False):
        super().__init__(volumes, samples_per_volume, seed)
        self.scale = float(scale)
        self.lr_n = max(2, int(round(patch / self.scale)))
        self.n = int(round(self.lr_n * self.scale))
        self.min_foreground, self.augment = float(min_foreground), bool(augment)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        rng, index = self._key(key)
        volume = self.volumes[index // self.samples_per_volume]
        hr = random_crop(volume, (self.n,) * 3, rng, self.min_foreground)
        if self.augment:
            hr = augment_patch(hr, rng)
        lr = downsample(hr, self.scale)
        up = resize_cubic(lr, hr.shape)
        return {"inp": torch.from_numpy(up[None]), "target": torch.from_numpy(hr[None].copy())}


def fixed_samples(dataset: _Seeded, n: int, epoch: int = 999_999_999) -> list[dict[str, torch.Tensor]]:
    """``n`` samples frozen with a fixed epoch tag: the validation set (never changes)."""
    old = dataset.epoch
    dataset.epoch = epoch
    try:
        out = [dataset[i % len(dataset)] for i in range(n)]
    finally:
        dataset.epoch = old
    return out


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack a list of samples into a batch."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
