"""The projection backends: a group of halos' DM particles -> their maps along every axis, made where the
nets run. One dict, one signature: `PROJECTORS[backend](spec, axes, batch_size)` gives an object with
`project(halos)`, `masses(maps)` and `on_host(maps)`, keyed by paint's inference backend (`--backend`)."""
from __future__ import annotations

import numpy as np

from mpipaint.maps.gas import dm_maps
from mpipaint.maps.geometry import MapSpec
from mpipaint.science import summaries


class HostProjector:
    """Maps on the host (maps.cic, float64) for the TensorFlow chain, (N, npix, npix) [Msun/kpc^2]."""

    def __init__(self, spec: MapSpec, axes, batch_size: int = 1):
        """`batch_size` is the device's concern (whole batches there); the host makes exactly N maps."""
        self.spec, self.axes = spec, tuple(axes)

    def project(self, halos) -> np.ndarray:
        """`halos`: (positions [kpc], masses [Msun], halo-table row) per halo, at least one."""
        return np.concatenate([dm_maps(positions, masses, self.spec.geometries(row, self.axes))
                               for positions, masses, row in halos])

    def masses(self, maps) -> np.ndarray:
        """(N,) DM mass in each of a group's maps [Msun]."""
        return summaries.totals("dm", maps, maps, self.spec.pixel_area)

    def on_host(self, maps) -> np.ndarray:
        return maps


def _device_projector(spec: MapSpec, axes, batch_size: int):
    from mpipaint.maps.device_projection import DeviceProjector  # noqa: PLC0415 - JAX only where chosen

    return DeviceProjector(spec, axes, batch_size)


PROJECTORS = {"tf": HostProjector, "jax": _device_projector}
