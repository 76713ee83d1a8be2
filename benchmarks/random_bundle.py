"""A bundle of untrained weights written with numpy alone (no TensorFlow): the cost of inference and paint
does not depend on the weights, and a GPU node with JAX only can time them."""
from pathlib import Path

import numpy as np

from mpipaint.model.bundle import save_bundle
from mpipaint.model.norm import Normalisation
from mpipaint.model.unet import weight_shapes


def random_weights(architecture: dict, seed: int = 0) -> list[np.ndarray]:
    """Weight arrays for build_unet(**architecture): He-normal kernels; biases and batch-norm constants 1
    (a valid variance)."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape).astype(np.float32) if len(shape) == 4
            else np.ones(shape, np.float32) for shape in weight_shapes(architecture)]


NORM = Normalisation("minmax", "log", 0.0, 10.0, 1.0)  # maps of 1 to 1e10 [units] into 0..1, in and out


def unet_architecture(npix: int, base_filters: int = 64, depth: int = 4) -> dict:
    """build_unet's arguments: the paper's Table A1 U-net at base 64, depth 4."""
    return {"image_size": npix, "base_filters": base_filters, "depth": depth, "head": "minmax", "mask": False}


def random_meta(npix: int, deposition_mode: str = "group") -> dict:
    """bundle.json's fields of an untrained X-ray bundle of npix^2 maps over 4 Mpc (NORM in and out)."""
    return {"target": "xray", "target_units": "erg/s/kpc^2", "npix": npix, "width_kpc": 4000.0,
            "deposition_mode": deposition_mode, "mask": False, "input_normalisation": NORM.to_dict(),
            "target_normalisation": NORM.to_dict(), "trainset": "none: untrained weights for timing"}


def write_random_bundle(path, npix: int, base_filters: int = 64, depth: int = 4, seed: int = 0,
                        deposition_mode: str = "group") -> Path:
    """An X-ray bundle of unet_architecture at `npix` with random_weights, for maps of `deposition_mode`."""
    architecture = unet_architecture(npix, base_filters, depth)
    return save_bundle(path, random_weights(architecture, seed), architecture, random_meta(npix, deposition_mode))
