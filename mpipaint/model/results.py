"""What a painting chain returns (`Painted`): shared by the host chain (`model.infer`) and the device chain
(`model.jax_chain`), which each import it and not each other."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Painted:
    """One target painted on N DM maps by K ensemble members."""

    totals: np.ndarray  # (K, N) each member's summary of each map (science.summaries.SUMMARY)
    dm_outside: np.ndarray  # (N,) largest fraction, over members, of DM pixels above the fitted input range
    at_bound: np.ndarray  # (N,) largest fraction, over members, of output pixels at the upper bound
    images: np.ndarray | None = None  # (K, N, npix, npix) physical maps, bounded; None where not kept

    @property
    def mean_images(self) -> np.ndarray:
        return self.images.mean(axis=0)

    def select(self, maps) -> "Painted":
        """The part of this result that belongs to `maps` (an index or slice over the N maps)."""
        return Painted(self.totals[:, maps], self.dm_outside[maps], self.at_bound[maps],
                       None if self.images is None else self.images[:, maps])
