"""The whole chain on the device, for the JAX backend: a group of halos' particles -> DM maps by CIC
(`DeviceProjector`), and per bundle (`DevicePredictor`) forward normalisation with the counts of pixels
above the fitted input range and of invalid ones, the net, the bounded inverse with the count of pixels at
the bound, and each map's sums, in one jit-compiled function. Only these numbers come back to the host,
and the maps themselves only where they are kept (paint --maps, evaluate): on one H100 the host's
projection, normalisation, inverse and copies of the maps cost more than the net (BENCHMARKS.md, "GPU: one
H100"). Particles go over as float32 offsets, 12 bytes each, instead of three maps of npix^2 floats a halo.

The transforms are `norm.Normalisation.forward_and_outside` and `inverse_and_at_bound` (numba, float64 on
the host: the TensorFlow chain, `infer.Predictor`) in jax.numpy, in float32 on the device; the clouds are
`maps.cic`'s. Float32 cannot hold physical X-ray surface brightness (up to ~1e40 erg/s/kpc^2), so the
device computes each pixel relative to the top of the fitted range (at most 10**BOUND_DEX = 2), and the
host multiplies the float64 sums, and the maps, by that reference. Sums run along each row on the device
(npix values) and over rows on the host in float64. Scatter-adds on a GPU add in no fixed order, so DM maps
made there agree between runs to float32 rounding, not bit for bit.
"""
from __future__ import annotations

import functools

import numpy as np

from mpipaint.maps.geometry import IMAGE_AXES, MapSpec
from mpipaint.model.bundle import Bundle
from mpipaint.model.norm import AT_BOUND_TOLERANCE, Normalisation, check_pixels
from mpipaint.model.results import Painted, padded
from mpipaint.science import summaries


class DevicePredictor:
    """`launch` (DM maps [Msun/kpc^2], returns before the device has finished) and `collect` (-> Painted,
    one member) for a bundle whose model is a jax_unet.JaxUnet; the same interface as infer.Predictor."""

    def __init__(self, bundle: Bundle, batch_size: int = 8, keep_maps: bool = True):
        """`batch_size`: maps per call (a short last batch is padded); `keep_maps`: send the maps back too."""
        import jax  # noqa: PLC0415 - only where this backend is chosen

        self.bundle, self.batch_size, self.keep_maps = bundle, batch_size, keep_maps
        self.npix, self.target = int(bundle.meta["npix"]), bundle.meta["target"]
        self.pixel_area = MapSpec.from_attrs(bundle.meta).pixel_area
        target_norm = bundle.target_norm
        # physical value of a device value of 1, times the bundle's calibration of totals
        self.reference = (10.0**target_norm.high if target_norm.space == "log" else 1.0) * bundle.total_scale
        self._chain = jax.jit(functools.partial(
            _chain, bundle.model.apply, bundle.input_norm, target_norm, bool(bundle.meta.get("mask")),
            self.target in summaries.MEAN_OVER_DM, keep_maps))

    def launch(self, dm_maps) -> tuple:
        """Start the chain on every batch of `dm_maps` (DeviceMaps, or maps on the host: float32 on the way,
        half the bytes to copy) and return at once (JAX dispatches asynchronously): a handle for `collect`."""
        if not isinstance(dm_maps, DeviceMaps):
            dm_maps = DeviceMaps.from_host(dm_maps, self.batch_size, self.pixel_area)
        params = self.bundle.model.params
        return ([self._chain(params, dm_maps.array[start:start + self.batch_size])
                 for start in range(0, len(dm_maps.array), self.batch_size)], dm_maps)

    def collect(self, launched, out=None) -> Painted:
        """Wait for a `launch` and give its Painted; the physical maps (if kept) go into `out` if given."""
        batches, dm_maps = launched
        n = dm_maps.count
        invalid, outside, at_bound, row_sums, dm_pixels, *maps = (
            np.concatenate([np.asarray(batch[k]) for batch in batches])[:n] for k in range(len(batches[0])))
        if invalid.any():
            check_pixels(dm_maps.host(), "map")  # names what is wrong, as the host chain does
        sums = row_sums.sum(axis=1, dtype=np.float64) * self.reference
        totals = summaries.from_sum(self.target, sums, dm_pixels, self.pixel_area)
        images = None
        if self.keep_maps:
            images = np.multiply(maps[0], self.reference, out=np.empty(maps[0].shape) if out is None else out,
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


class DeviceMaps:
    """DM maps [Msun/kpc^2] on the device: `array` (M, npix, npix) float32, M a whole number of batches, the
    first `count` of them real; `totals` and `host` bring back what a catalog needs."""

    def __init__(self, array, row_sums, count: int):
        """`row_sums`: (M, npix) sums of each map's rows of pixel masses [Msun] (on the device or not)."""
        self.array, self.count, self._row_sums = array, count, row_sums

    @classmethod
    def from_host(cls, maps, batch_size: int, pixel_area: float) -> "DeviceMaps":
        """Maps (N, npix, npix) from the host, padded with empty maps to whole batches (at least one)."""
        import jax.numpy as jnp  # noqa: PLC0415

        maps = np.asarray(maps)
        whole = padded(maps.astype(np.float32), whole_batches(len(maps), batch_size))
        return cls(jnp.asarray(whole), maps.sum(axis=2) * pixel_area, len(maps))

    def __len__(self) -> int:
        return self.count

    def totals(self) -> np.ndarray:
        """(count,) projected DM mass of each map [Msun] (summaries.SUMMARY['dm']), summed over rows in
        float64."""
        return np.asarray(self._row_sums)[:self.count].sum(axis=1, dtype=np.float64)

    def host(self) -> np.ndarray:
        """The maps on the host, (count, npix, npix) float64 (paint --maps, error messages)."""
        return np.asarray(self.array[:self.count], dtype=np.float64)


class DeviceProjector:
    """`project`: a group of halos' DM particles -> their maps along every axis (DeviceMaps), by CIC on the
    device (the interface of paint.HostProjector): the clouds of `maps.cic` (each particle a one-pixel square
    shared among the four nearest pixel centres, dropped when it leaves the map or the depth) added up in
    float32, PARTICLE_CHUNK particles per call, so that one compiled function serves every group."""

    def __init__(self, spec: MapSpec, axes, batch_size: int):
        """`batch_size`: maps per call of the nets (the DeviceMaps hold whole batches)."""
        import jax  # noqa: PLC0415

        self.spec, self.axes, self.batch_size = spec, tuple(axes), batch_size
        self._deposit = jax.jit(functools.partial(_deposit, spec.npix, spec.width_kpc, self.axes),
                                static_argnames="half_depth")
        self._finish = jax.jit(functools.partial(_finish, spec.npix, spec.width_kpc))

    def project(self, halos) -> DeviceMaps:
        """`halos`: (positions [kpc], masses [Msun], halo-table row) per halo, at least one; returns at once."""
        import jax.numpy as jnp  # noqa: PLC0415

        geometries = [self.spec.geometries(row, self.axes)[0] for _, _, row in halos]  # centre, box and depth
        offsets = [g.offsets(positions) for (positions, _, _), g in zip(halos, geometries)]  # float64 wrap
        counts = [len(d) for d in offsets]
        total = sum(counts)
        d = np.concatenate(offsets)
        masses = np.concatenate([np.broadcast_to(m, (c,)) for (_, m, _), c in zip(halos, counts)])
        slots = np.repeat(np.arange(len(halos), dtype=np.int32), counts)
        count = len(halos) * len(self.axes)
        half_depth = 0.5 * float(geometries[0].depth)
        grid = jnp.zeros(whole_batches(count, self.batch_size) * (self.spec.npix + 2) ** 2, jnp.float32)
        for start in range(0, total, PARTICLE_CHUNK):
            stop = min(start + PARTICLE_CHUNK, total)
            chunk_d, chunk_m = np.zeros((PARTICLE_CHUNK, 3), np.float32), np.zeros(PARTICLE_CHUNK, np.float32)
            chunk_s = np.zeros(PARTICLE_CHUNK, np.int32)  # padding: mass 0 in slot 0
            chunk_d[:stop - start], chunk_m[:stop - start] = d[start:stop], masses[start:stop]
            chunk_s[:stop - start] = slots[start:stop]
            grid = self._deposit(grid, chunk_d, chunk_m, chunk_s, half_depth=half_depth)
        return DeviceMaps(*self._finish(grid), count)

    def masses(self, maps: DeviceMaps) -> np.ndarray:
        """(N,) DM mass in each of a group's maps [Msun]."""
        return maps.totals()

    def on_host(self, maps: DeviceMaps) -> np.ndarray:
        """A group's maps on the host, (N, npix, npix) float64."""
        return maps.host()


def whole_batches(count: int, batch_size: int) -> int:
    """Maps that hold `count` maps in whole batches of `batch_size` (at least one batch)."""
    return max(1, -(-count // batch_size)) * batch_size


PARTICLE_CHUNK = 1 << 16  # particles per device call of the CIC (786 kB of offsets)


def _deposit(npix: int, width: float, axes: tuple, grid, offsets, masses, slots, half_depth: float):
    """`grid` (maps of (npix + 2)^2 pixels with a one-pixel border, flat) plus the clouds of particles at
    `offsets` (P, 3) [kpc] from their halo's centre, of halo slot `slots` (map slot * len(axes) + k along
    axes[k])."""
    import jax.numpy as jnp  # noqa: PLC0415

    stride, scale = npix + 2, npix / width
    offset, end = 0.5 * npix + 0.5, npix + 1.0  # pixel centres at i + 0.5, shifted by the border
    for k, axis in enumerate(axes):
        across, down = IMAGE_AXES[axis]
        x = offsets[:, across] * scale + offset
        y = offsets[:, down] * scale + offset
        keep = (jnp.abs(offsets[:, axis]) <= half_depth) & (x >= 0) & (y >= 0) & (x < end) & (y < end)
        x, y = jnp.where(keep, x, 0.0), jnp.where(keep, y, 0.0)
        xi, yi = jnp.floor(x), jnp.floor(y)
        fx, fy = x - xi, y - yi
        weight = jnp.where(keep, masses, 0.0)
        corner = ((slots * len(axes) + k) * stride + xi.astype(jnp.int32)) * stride + yi.astype(jnp.int32)
        left, right = weight - weight * fx, weight * fx
        grid = grid.at[jnp.concatenate([corner, corner + 1, corner + stride, corner + stride + 1])].add(
            jnp.concatenate([left - left * fy, left * fy, right - right * fy, right * fy]))
    return grid


def _finish(npix: int, width: float, grid):
    """The maps without their border, per kpc^2 (pixel area (width / npix)^2), and their row sums of pixel
    masses."""
    stride = npix + 2
    mass = grid.reshape(-1, stride, stride)[:, 1:-1, 1:-1]
    return mass * (npix / width) ** 2, mass.sum(axis=2)
