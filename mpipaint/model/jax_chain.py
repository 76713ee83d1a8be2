"""The rest of the chain on the device, for the JAX backend: from DM maps on the device
(`maps.device_projection`), per bundle (`DevicePredictor`) forward normalisation with the counts of pixels
above the fitted input range and of invalid ones, the net, the bounded inverse with the count of pixels at
the bound, and each map's sums, in one jit-compiled function. Only these numbers come back to the host,
and the maps themselves only where they are kept (paint --maps, evaluate): on one H100 the host's
projection, normalisation, inverse and copies of the maps cost more than the net (BENCHMARKS.md, "GPU: one
H100").

The transforms are `norm.Normalisation.forward_and_outside` and `inverse_and_at_bound` (numba, float64 on
the host: the TensorFlow chain, `infer.Predictor`) in jax.numpy, in float32 on the device. Float32 cannot
hold physical X-ray surface brightness (up to ~1e40 erg/s/kpc^2), so the device computes each pixel
relative to the top of the fitted range (at most 10**BOUND_DEX = 2), and the host multiplies the float64
sums, and the maps, by that reference. Sums run along each row on the device (npix values) and over rows
on the host in float64.
"""
from __future__ import annotations

import functools

import numpy as np

from mpipaint.maps.device_projection import DeviceMaps
from mpipaint.model.bundle import Bundle
from mpipaint.model.norm import AT_BOUND_TOLERANCE, Normalisation, check_pixels
from mpipaint.model.results import Painted
from mpipaint.science import summaries


class DevicePredictor:
    """`launch` (DM maps [Msun/kpc^2], returns before the device has finished) and `collect` (-> Painted,
    one member) for a bundle whose model is a jax_unet.JaxUnet; the same interface as infer.Predictor."""

    def __init__(self, bundle: Bundle, batch_size: int = 8, keep_maps: bool = True):
        """`batch_size`: maps per call (a short last batch is padded); `keep_maps`: send the maps back too."""
        import jax  # noqa: PLC0415 - only where this backend is chosen

        self.bundle, self.batch_size, self.keep_maps = bundle, batch_size, keep_maps
        self.npix, self.target, self.pixel_area = bundle.spec.npix, bundle.target, bundle.spec.pixel_area
        target_norm = bundle.target_norm
        # physical value of a device value of 1, before the bundle's calibration of totals
        self.reference = 10.0**target_norm.high if target_norm.space == "log" else 1.0
        self._chain = jax.jit(functools.partial(
            _chain, bundle.model.apply, bundle.input_norm, target_norm, bundle.masked,
            self.target in summaries.MEAN_OVER_DM, keep_maps))

    def launch(self, dm_maps, redshift: float | None = None) -> tuple:
        """Start the chain on every batch of `dm_maps` (DeviceMaps, or maps on the host: float32 on the way,
        half the bytes to copy) of halos at `redshift` (it picks the bundle's total calibration) and return at
        once (JAX dispatches asynchronously): a handle for `collect`."""
        if not isinstance(dm_maps, DeviceMaps):
            dm_maps = DeviceMaps.from_host(dm_maps, self.batch_size, self.pixel_area)
        params = self.bundle.model.params
        return ([self._chain(params, dm_maps.array[start:start + self.batch_size])
                 for start in range(0, len(dm_maps.array), self.batch_size)], dm_maps,
                self.reference * self.bundle.total_scale(redshift))

    def collect(self, launched, out=None) -> Painted:
        """Wait for a `launch` and give its Painted; the physical maps (if kept) go into `out` if given."""
        batches, dm_maps, reference = launched
        n = dm_maps.count
        invalid, outside, at_bound, row_sums, dm_pixels, *maps = (
            np.concatenate([np.asarray(batch[k]) for batch in batches])[:n] for k in range(len(batches[0])))
        if invalid.any():
            check_pixels(dm_maps.host(), "map")  # names what is wrong, as the host chain does
        sums = row_sums.sum(axis=1, dtype=np.float64) * reference
        totals = summaries.from_sum(self.target, sums, dm_pixels, self.pixel_area)
        images = None
        if self.keep_maps:
            images = np.multiply(maps[0], reference, out=np.empty(maps[0].shape) if out is None else out,
                                 dtype=np.float64)  # in float32 the product would overflow
            images = images[None]
        pixels = self.npix * self.npix
        return Painted(totals[None], outside / pixels, at_bound / pixels, images)


def _chain(net, input_norm: Normalisation, target_norm: Normalisation, masked: bool, over_dm: bool,
           keep_maps: bool, params, dm):
    """Per map of `dm` (B, S, S) float32: invalid (NaN or negative) pixels, pixels above the fitted input
    range, output pixels at the bound, row sums of the output relative to the reference (over pixels that
    hold DM where `over_dm`), pixels that hold DM, [the output maps relative to the reference]."""
    import jax.numpy as jnp  # noqa: PLC0415

    holds = dm > 0
    y = jnp.log10(jnp.where(holds, dm, 1.0)) if input_norm.space == "log" else dm
    z = jnp.where(holds, jnp.maximum((y - input_norm.low) / (input_norm.high - input_norm.low), 0.0), 0.0)
    if input_norm.scheme == "4sigma":
        z = jnp.minimum(z, 1.0)
    mask = holds[..., None].astype(jnp.float32) if masked else None
    t = net(params, z[..., None].astype(jnp.float32), mask)[..., 0].astype(jnp.float32)
    z_max, span = target_norm.z_max, target_norm.high - target_norm.low
    clipped = jnp.minimum(t, z_max)
    relative = 10.0 ** ((clipped - 1.0) * span) if target_norm.space == "log" else target_norm.low + clipped * span
    relative = jnp.where(t > 0, relative, 0.0)  # z <= 0 or NaN -> 0
    counted = jnp.where(holds, relative, 0.0) if over_dm else relative
    per_map = (jnp.sum(~(dm >= 0), axis=(1, 2)), jnp.sum(holds & (y > input_norm.high), axis=(1, 2)),
               jnp.sum(t >= z_max - AT_BOUND_TOLERANCE, axis=(1, 2)), counted.sum(axis=2),
               jnp.sum(holds, axis=(1, 2)))
    return per_map + ((relative,) if keep_maps else ())
