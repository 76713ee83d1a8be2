"""What one number per halo and projection means: the sums and means of painted (and true) maps that the
painted catalog stores, training calibrates and evaluation compares. Science, not I/O: the catalog writer
(io/painted.py), train, evaluate, calibrate and the demo all take them from here."""
from __future__ import annotations

import numpy as np

SUMMARY = {  # target -> (dataset, units, description)
    "dm": ("mdm_proj", "Msun", "projected dark-matter mass in the map"),
    "xray": ("lx", "erg/s", "0.5-2 keV rest-frame luminosity: sum of the painted X-ray map"),
    "gas": ("mgas", "Msun", "hot-gas mass: sum of the painted gas map"),
    "temperature": ("t_mean", "keV", "mean painted temperature over pixels holding dark matter"),
}


def summarise(target: str, image: np.ndarray, dm_image: np.ndarray, pixel_area: float) -> float:
    """The per-halo number of one painted map (see SUMMARY)."""
    if target == "temperature":
        holds_dm = dm_image > 0
        return float(image[holds_dm].mean()) if holds_dm.any() else 0.0
    return float(image.sum(dtype=np.float64) * pixel_area)


def totals(target: str, images, dm_images, pixel_area: float) -> np.ndarray:
    """`summarise` of each map of a stack (images and their DM maps along the first axis)."""
    return np.array([summarise(target, image, d, pixel_area) for image, d in zip(images, dm_images)])
