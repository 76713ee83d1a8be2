"""The device projection, for the JAX backend: a group of halos' particles -> DM maps by CIC on the device
(`DeviceProjector`), kept there as `DeviceMaps` for the device chain (`model.jax_chain`). Particles go over
as float32 offsets, 12 bytes each, instead of three maps of npix^2 floats a halo. Scatter-adds on a GPU add
in no fixed order, so DM maps made there agree between runs to float32 rounding, not bit for bit."""
from __future__ import annotations

import functools

import numpy as np

from mpipaint.maps.batches import padded, whole_batches
from mpipaint.maps.geometry import IMAGE_AXES, MapSpec


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
    device (the interface of projection.HostProjector): the clouds of `maps.cic` (each particle a one-pixel square
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
