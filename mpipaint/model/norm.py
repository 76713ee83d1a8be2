"""Normalisation of maps to the U-net's 0..1 range, fitted on full-physics training maps only and applied
unchanged to DMO and lower-resolution inputs (the paper, section 2.1).

Transforms (per map kind):
  space 'log':    y = log10(x)   space 'linear': y = x (the paper's T_lin model)
  scheme 'minmax': z = (y - min) / (max - min)          fitted min and max of y, min raised to
                                                        max - range_dex in log space
  scheme '4sigma': z = (y - (mu - 4 sigma)) / (8 sigma)  fitted mean and std of y, clipped to 0..1

Pixels: NaN or negative values are refused (InputError): a physical map cannot hold them. Zero pixels
(empty of particles or of hot gas) are statistics-free: the constants are fitted on positive pixels only,
a zero maps to z = 0, and z <= 0 maps back to x = 0. The inverse is exact inside the fitted range; the
'4sigma' clip is not invertible (about 0.01 % of pixels fall outside mu +- 4 sigma).

Range: in log space a few faint pixels (SPH kernel edges, 1e-17 of the peak surface brightness) set the
paper's minmax range: 17.8 dex for X-ray on the example, so an output error of 0.02 in z is a factor 2.3
at the peak, where Lx comes from. `range_dex` (default 8) caps the fitted range below the brightest pixel;
fainter pixels map to 0 like empty ones (on the example they hold < 1e-7 of Lx and Mgas).

Bounds: a network can output any z, and a log-space z above the trained range is exponentiated without
limit. `inverse_and_at_bound` clips z to `z_max`: the top of the fitted range plus BOUND_DEX in log space
(a pixel may exceed the brightest fitted training value by at most a factor 10**BOUND_DEX = 2), twice the
top in linear space, and the top itself for '4sigma'. `inverse_and_at_bound` and `forward_and_outside`
also measure how much of a map sits at that bound or outside the fitted range.

Speed: `forward_and_outside` and `inverse_and_at_bound` are one parallel numba pass over the pixels each,
so that the host's transforms do not cap a GPU's painting (BENCHMARKS.md, "Why these rules").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np

from mpipaint.errors import InputError

BOUND_DEX = float(np.log10(2.0))  # log-space predictions may exceed the fitted top by at most this [dex]
AT_BOUND_TOLERANCE = 1e-4  # normalised units: an output this close to z_max counts as at the bound
DEFAULT_RANGE_DEX = 8.0  # 'minmax' in log space: at most this many dex below the brightest training pixel
SCHEMES, SPACES = ("minmax", "4sigma"), ("log", "linear")
MAX_LOG_CONSTANT = 100.0  # |log10| of any fitted constant: physical maps lie far inside (X-ray peaks ~1e42)


@dataclass(frozen=True)
class Normalisation:
    """Fitted constants of one map kind; serialisable with `asdict` / `Normalisation(**d)`."""

    scheme: str  # 'minmax' or '4sigma'
    space: str  # 'log' or 'linear'
    low: float  # y mapped to z = 0
    high: float  # y mapped to z = 1
    floor: float  # smallest positive training pixel (physical units)

    def forward(self, x, dtype=np.float64) -> np.ndarray:
        """Physical map(s) -> normalised values in 0..1 (zeros -> 0), float64 so the inverse is exact
        (float32 for a net's input)."""
        return self.forward_and_outside(x, dtype)[0]

    def forward_and_outside(self, x, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """`forward` of map(s) `x`, and the fraction of each map's pixels (last two axes) brighter than the
        fitted range, where the network extrapolates, in one pass over the pixels. Fainter pixels map to z = 0
        like empty ones, a case it was trained on (CIC fringes of a single particle fall below the fitted range
        in most FP maps)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        maps = x.reshape((1,) * (2 - x.ndim) + x.shape)  # a scalar or a row counts as one map
        rows = maps.reshape(-1, maps.shape[-1])
        z = np.empty(rows.shape, dtype=dtype)
        outside, invalid = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
        _forward_rows(rows, self.space == "log", self.low, self.high, self.scheme == "4sigma", z, outside, invalid)
        if invalid.any():
            check_pixels(x, "map")
        fraction = outside.reshape(maps.shape[:-1]).sum(axis=-1) / (maps.shape[-2] * maps.shape[-1])
        return z.reshape(x.shape), fraction

    @property
    def z_max(self) -> float:
        """The largest normalised value that `inverse_and_at_bound` passes on (see the module docstring)."""
        if self.scheme == "4sigma":
            return 1.0
        if self.space == "log":
            return 1.0 + BOUND_DEX / (self.high - self.low)
        return (2.0 * self.high - self.low) / (self.high - self.low)

    def inverse_and_at_bound(self, z, scale: float = 1.0, out=None) -> tuple[np.ndarray, np.ndarray]:
        """Normalised map(s) -> physical units (float64) times `scale`, into `out` if given (z <= 0 or NaN -> 0,
        z clipped to z_max), and the fraction of each map's pixels (last two axes) at that upper bound, in one
        pass over the pixels."""
        z = np.ascontiguousarray(z, dtype=np.float32 if np.asarray(z).dtype == np.float32 else np.float64)
        maps = z.reshape((1,) * (2 - z.ndim) + z.shape)
        rows = maps.reshape(-1, maps.shape[-1])
        x = np.empty(z.shape, dtype=np.float64) if out is None else out
        bound = np.zeros(len(rows), np.int64)
        _inverse_rows(rows, self.space == "log", self.low, self.high, self.z_max, float(scale),
                      self.z_max - AT_BOUND_TOLERANCE, x.reshape(rows.shape), bound)
        return x, bound.reshape(maps.shape[:-1]).sum(axis=-1) / (maps.shape[-2] * maps.shape[-1])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def checked(cls, values, where: str) -> "Normalisation":
        """The normalisation that `values` (a bundle's JSON) describe, if train could have written it: known
        scheme and space, finite numeric constants with high > low within MAX_LOG_CONSTANT (log space) or
        10**MAX_LOG_CONSTANT (linear), floor > 0; so that every painted pixel is a bounded number. Anything
        else is an InputError naming `where`."""
        if not isinstance(values, dict) or set(values) != {"scheme", "space", "low", "high", "floor"}:
            raise InputError(f"{where}: needs exactly scheme, space, low, high and floor, got {values!r}")
        if values["scheme"] not in SCHEMES or values["space"] not in SPACES:
            raise InputError(f"{where}: scheme must be one of {SCHEMES} and space one of {SPACES}, got "
                             f"{values['scheme']!r}, {values['space']!r}")
        numbers = [values[k] for k in ("low", "high", "floor")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in numbers):
            raise InputError(f"{where}: low, high and floor must be finite numbers, got {numbers}")
        limit = MAX_LOG_CONSTANT if values["space"] == "log" else 10.0**MAX_LOG_CONSTANT
        low, high, floor = (float(v) for v in numbers)
        if not (-limit <= low < high <= limit and 0 < floor <= 10.0**MAX_LOG_CONSTANT):
            raise InputError(f"{where}: needs -{limit:g} <= low < high <= {limit:g} and 0 < floor <= "
                             f"1e{MAX_LOG_CONSTANT:g}, got low {low:g}, high {high:g}, floor {floor:g}")
        return cls(values["scheme"], values["space"], low, high, floor)


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _forward_rows(x, log_space, low, high, clip_top, z, outside, invalid):
    """Normalise rows of pixels into `z`; per row, count pixels above `high` (in space) and NaN or negative
    ones (which map to 0 here; the caller refuses them)."""
    span = high - low
    for r in numba.prange(x.shape[0]):
        above, bad = 0, 0
        for p in range(x.shape[1]):
            v = x[r, p]
            t = 0.0
            if v > 0.0:
                y = np.log10(v) if log_space else v
                above += y > high
                t = max((y - low) / span, 0.0)
                if clip_top:
                    t = min(t, 1.0)
            elif not v == 0.0:
                bad += 1
            z[r, p] = t
        outside[r], invalid[r] = above, bad


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _inverse_rows(z, log_space, low, high, z_max, scale, bound_level, x, bound):
    """Physical values of rows of normalised pixels into `x` (see Normalisation.inverse_and_at_bound); per row, the
    count of pixels at or above `bound_level`."""
    span = high - low
    for r in numba.prange(z.shape[0]):
        at_bound = 0
        for p in range(z.shape[1]):
            t = np.float64(z[r, p])
            at_bound += t >= bound_level
            value = 0.0
            if t > 0.0:  # False for NaN
                y = low + min(t, z_max) * span
                value = (10.0**y if log_space else y) * scale
            x[r, p] = value
        bound[r] = at_bound


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

    def fit(self, scheme: str, range_dex: float = DEFAULT_RANGE_DEX) -> Normalisation:
        if self.count == 0:
            raise InputError("no positive pixels in the training maps: cannot fit a normalisation")
        if scheme == "minmax":
            low, high = self.low, self.high
            if self.space == "log":
                low = max(low, high - range_dex)
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
