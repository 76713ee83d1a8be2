"""Single-map and normalised-output forms of the package's batched functions, as the tests and benchmarks
ask for them."""
from mpipaint.maps.cic import cic_project_axes
from mpipaint.maps.gas import dm_maps


def cic_project(positions, weights, geometry):
    """Projected sum of `weights` per pixel of particles at `positions` [kpc] on one map (npix x npix)."""
    return cic_project_axes(positions, weights, [geometry])[0]


def dm_map(positions, masses, geometry):
    """Projected DM surface density [Msun/kpc^2] on one map."""
    return dm_maps(positions, masses, [geometry])[0]


def normalised_output(predictor, dm_maps_in):
    """A host-chain predictor's net output in normalised (0..1) space, shape (N, npix, npix)."""
    return predictor.collect_normalised(predictor.launch(dm_maps_in))
