"""Inference with a model bundle: DM surface-density maps in, the bundle's target in physical units out.

Inputs are normalised with the bundle's full-physics constants (never refitted on the maps at hand, as the
paper does for DMO inputs), run through the model in fixed-size batches by one compiled tf.function
(a short last batch is padded, so there is a single trace), and mapped back with the exact inverse, which
bounds every pixel (`Normalisation.z_max`), times the bundle's `total_scale` (its offset of map totals on
the training halos removed; at most a factor 10**MAX_TOTAL_OFFSET_DEX = 2 either way).

`EnsemblePredictor` runs all bundles of one target (a deep ensemble, or a single bundle) on the same maps
and reports, per map, how far it lies outside what the bundles were trained on: the fraction of DM pixels
brighter than the fitted input range and the fraction of output pixels at the bound (`norm.out_of_range`
turns them into the catalog's flag).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpipaint.model.bundle import Bundle
from mpipaint.model.keras_env import inference_precision, place_on_devices
from mpipaint.parallel import node_local


def setup_inference(precision: str = "fp32", backend: str = "tf") -> str:
    """One GPU per rank by node-local rank, else (TensorFlow) the node's cores shared by its ranks;
    deterministic TensorFlow ops. Returns the precision to load bundles at (keras_env.inference_precision)."""
    if backend == "jax":
        import jax  # noqa: PLC0415 - no TensorFlow on this path

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if not gpus:
            return inference_precision(precision, None)
        gpu = gpus[node_local()[0] % len(gpus)]
        jax.config.update("jax_default_device", gpu)
        capability = tuple(int(v) for v in str(getattr(gpu, "compute_capability", "0.0")).split(".")[:2])
        return inference_precision(precision, capability)
    import tensorflow as tf  # noqa: PLC0415 - bundle.py has set TF_USE_LEGACY_KERAS already

    tf.config.experimental.enable_op_determinism()
    if not place_on_devices(tf, *node_local()):
        return inference_precision(precision, None)
    details = tf.config.experimental.get_device_details(tf.config.get_visible_devices("GPU")[0])
    return inference_precision(precision, details.get("compute_capability", (0, 0)))


class Predictor:
    """Callable: (N, npix, npix) DM maps [Msun/kpc^2] -> (N, npix, npix) target maps [bundle's units]."""

    def __init__(self, bundle: Bundle, batch_size: int = 8):
        """`batch_size`: maps per call of the net (a short last batch is padded)."""
        self.bundle, self.batch_size = bundle, batch_size
        self.masked = bool(bundle.meta.get("mask"))
        model = bundle.model
        if bundle.backend == "jax":
            self._run = model  # jit-compiled, returns numpy
        else:
            import tensorflow as tf  # noqa: PLC0415

            compiled = tf.function(lambda inputs: model(inputs, training=False))
            self._run = lambda inputs: compiled(inputs).numpy()

    def normalised_inputs(self, dm_maps):
        dm_maps = np.asarray(dm_maps, dtype=np.float64)
        x = self.bundle.input_norm.forward(dm_maps)[..., None].astype(np.float32)
        mask = (dm_maps > 0)[..., None].astype(np.float32)
        return x, mask

    def predict_normalised(self, dm_maps) -> np.ndarray:
        """The model's output in normalised (0..1) space, shape (N, npix, npix)."""
        x, mask = self.normalised_inputs(dm_maps)
        n, out = len(x), []
        for start in range(0, n, self.batch_size):
            xb, mb = x[start:start + self.batch_size], mask[start:start + self.batch_size]
            pad = self.batch_size - len(xb)
            if pad:
                xb = np.concatenate([xb, np.zeros((pad,) + xb.shape[1:], xb.dtype)])
                mb = np.concatenate([mb, np.zeros((pad,) + mb.shape[1:], mb.dtype)])
            result = self._run({"dm": xb, "mask": mb} if self.masked else xb)
            out.append(result[:self.batch_size - pad, ..., 0])
        return np.concatenate(out) if out else np.empty((0,) + x.shape[1:3], np.float32)

    def to_physical(self, z) -> np.ndarray:
        """Normalised output -> physical map: the exact (bounded) inverse, times the bundle's total_scale."""
        return self.bundle.target_norm.inverse(z) * self.bundle.total_scale

    def __call__(self, dm_maps) -> np.ndarray:
        return self.to_physical(self.predict_normalised(dm_maps))


@dataclass
class Painted:
    """One target painted on N DM maps by K ensemble members."""

    images: np.ndarray  # (K, N, npix, npix) physical maps, bounded
    dm_outside: np.ndarray  # (N,) largest fraction, over members, of DM pixels above the fitted input range
    at_bound: np.ndarray  # (N,) largest fraction, over members, of output pixels at the upper bound

    @property
    def mean_images(self) -> np.ndarray:
        return self.images.mean(axis=0)

    def select(self, maps) -> "Painted":
        """The part of this result that belongs to `maps` (an index or slice over the N maps)."""
        return Painted(self.images[:, maps], self.dm_outside[maps], self.at_bound[maps])


class EnsemblePredictor:
    """Callable: (N, npix, npix) DM maps -> Painted, from every bundle of one target."""

    def __init__(self, bundles: list[Bundle], batch_size: int = 8):
        self.members = [Predictor(b, batch_size) for b in bundles]

    def __call__(self, dm_maps) -> Painted:
        dm_maps = np.asarray(dm_maps, dtype=np.float64)
        images, outside, at_bound = [], [], []
        for member in self.members:
            z = member.predict_normalised(dm_maps)
            images.append(member.to_physical(z))
            outside.append(member.bundle.input_norm.outside_fraction(dm_maps))
            at_bound.append(member.bundle.target_norm.at_bound(z))
        return Painted(np.stack(images), np.max(outside, axis=0), np.max(at_bound, axis=0))

