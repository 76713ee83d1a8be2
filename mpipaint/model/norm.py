"""Normalisation of maps to the U-net's 0..1 range, fitted on full-physics training maps only and applied
unchanged to DMO and lower-resolution inputs (the paper, section 2.1).

Transforms (per map kind):
  space 'log':    y = log10(x)   space 'linear': y = x (the paper's T_lin model)
  scheme 'minmax': z = (y - min) / (max - min)          fitted min and max of y
  scheme '4sigma': z = (y - (mu - 4 sigma)) / (8 sigma)  fitted mean and std of y, clipped to 0..1

Pixels: NaN or negative values are refused (InputError): a physical map cannot hold them. Zero pixels
(empty of particles or of hot gas) are statistics-free: the constants are fitted on positive pixels only,
a zero maps to z = 0, and z <= 0 maps back to x = 0. The inverse is exact inside the fitted range; the
'4sigma' clip is not invertible (about 0.01 % of pixels fall outside mu +- 4 sigma).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mpipaint.errors import InputError


@dataclass(frozen=True)
class Normalisation:
    """Fitted constants of one map kind; serialisable with `asdict` / `Normalisation(**d)`."""

    scheme: str  # 'minmax' or '4sigma'
    space: str  # 'log' or 'linear'
    low: float  # y mapped to z = 0
    high: float  # y mapped to z = 1
    floor: float  # smallest positive training pixel (physical units)

    def forward(self, x) -> np.ndarray:
        """Physical map(s) -> normalised values in 0..1 (zeros -> 0), float64 so `inverse` is exact."""
        x = check_pixels(np.asarray(x, dtype=np.float64), "map")
        positive = x > 0
        y = np.where(positive, self._to_space(np.where(positive, x, 1.0)), self.low)
        z = (y - self.low) / (self.high - self.low)
        z = np.where(positive, z, 0.0)
        if self.scheme == "4sigma":
            z = np.clip(z, 0.0, 1.0)
        return z

    def inverse(self, z) -> np.ndarray:
        """Normalised map(s) -> physical units (float64); z <= 0 -> 0."""
        z = np.asarray(z, dtype=np.float64)
        y = self.low + z * (self.high - self.low)
        x = 10.0**y if self.space == "log" else y
        return np.where(z > 0, x, 0.0)

    def _to_space(self, x):
        return np.log10(x) if self.space == "log" else x

    def to_dict(self) -> dict:
        return asdict(self)


def check_pixels(x: np.ndarray, what: str) -> np.ndarray:
    if np.isnan(x).any():
        raise InputError(f"{what}: NaN pixels; maps must be finite and non-negative")
    if (x < 0).any():
        raise InputError(f"{what}: negative pixels (min {x.min():g}); maps must be non-negative")
    return x


class RunningStats:
    """Min, max, mean and std of transformed positive pixels, accumulated image by image (float64)."""

    def __init__(self, space: str):
        self.space = space
        self.count, self.total, self.total_sq = 0, 0.0, 0.0
        self.low, self.high, self.floor = np.inf, -np.inf, np.inf

    def add(self, image, what="map"):
        x = check_pixels(np.asarray(image, dtype=np.float64), what)
        x = x[x > 0]
        if x.size == 0:
            return
        y = np.log10(x) if self.space == "log" else x
        self.count += y.size
        self.total += y.sum()
        self.total_sq += (y * y).sum()
        self.low, self.high = min(self.low, y.min()), max(self.high, y.max())
        self.floor = min(self.floor, x.min())

    def fit(self, scheme: str) -> Normalisation:
        if self.count == 0:
            raise InputError("no positive pixels in the training maps: cannot fit a normalisation")
        if scheme == "minmax":
            low, high = self.low, self.high
        elif scheme == "4sigma":
            mean = self.total / self.count
            std = np.sqrt(max(self.total_sq / self.count - mean**2, 0.0))
            low, high = mean - 4 * std, mean + 4 * std
        else:
            raise ValueError(f"scheme must be 'minmax' or '4sigma', not {scheme!r}")
        if not high > low:
            raise InputError("training maps have a single pixel value: cannot normalise")
        return Normalisation(scheme=scheme, space=self.space, low=float(low), high=float(high),
                             floor=float(self.floor))
