"""`mpipaint export-fits`: the maps of a painted catalog (`paint --maps`) as FITS images for mock X-ray
pipelines (soxs, pyxsim users).

One file per halo and projection axis, `halo_<id>_snap<NNN>_<axis>.fits`: an empty primary HDU with the
halo's metadata, then one image HDU per map (`DM`, and `XRAY`, `GAS`, `TEMPERATURE`, `Y` as painted) with its
`BUNIT`. Image axis 1 and 2 are the box axes named in `IMAXIS1`/`IMAXIS2` (yt's convention); a linear
world coordinate system gives offsets from the halo centre in physical kpc.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.outputs import make_parent
from mpipaint.io.painted import PaintedCatalog
from mpipaint.maps.geometry import AXIS_NAMES, IMAGE_AXES, MapSpec


def _header(halo: dict, axis: int, spec: MapSpec, emission_model: str) -> dict:
    """Halo, map and provenance keywords, (value, comment) pairs."""
    npix, width, pixel = spec.npix, spec.width_kpc, spec.pixel_kpc
    return {
        "HALOID": (int(halo["halo_id"]), "group index in the box's catalog"),
        "SNAPSHOT": (int(halo["snapshot"]), "snapshot number"),
        "REDSHIFT": (float(halo["redshift"]), "redshift of the snapshot"),
        "M200C": (float(halo["m200c"]), "[Msun] from the group catalog"),
        "PROJAXIS": (AXIS_NAMES[axis], "line of sight (box axis)"),
        "IMAXIS1": (AXIS_NAMES[IMAGE_AXES[axis][0]], "box axis along image axis 1"),
        "IMAXIS2": (AXIS_NAMES[IMAGE_AXES[axis][1]], "box axis along image axis 2"),
        "WIDTH": (width, "[kpc] physical map width"),
        "PIXSCALE": (pixel, "[kpc/pixel] physical"),
        "DEPMODE": (spec.deposition_mode, "particles mapped: group (FoF) or cube"),
        "EMISMODL": (emission_model, "X-ray emission model of the training maps"),
        "CTYPE1": ("LINEAR", ""), "CTYPE2": ("LINEAR", ""), "CUNIT1": ("kpc", ""), "CUNIT2": ("kpc", ""),
        "CRPIX1": (0.5 * npix + 0.5, "halo centre"), "CRPIX2": (0.5 * npix + 0.5, "halo centre"),
        "CRVAL1": (0.0, "[kpc] offset from the halo centre"), "CRVAL2": (0.0, "[kpc] offset from the halo centre"),
        "CDELT1": (pixel, "[kpc]"), "CDELT2": (pixel, "[kpc]"),
    }


def export_fits(painted_path, out_dir, halo_id: int | None = None) -> list[Path]:
    """Write FITS files for halo `halo_id` (a group index), or every halo when None; returns their paths."""
    from astropy.io import fits  # noqa: PLC0415

    out_dir = Path(out_dir)
    written = []
    with PaintedCatalog(painted_path) as catalog:
        maps = catalog.map_names
        if "map_dm" not in maps:
            raise InputError(f"{painted_path}: no maps stored (paint with --maps to export FITS images)")
        halos = {name: catalog.column(name) for name in ("halo_id", "snapshot", "redshift", "m200c")}
        rows = np.arange(len(catalog)) if halo_id is None else np.flatnonzero(halos["halo_id"] == halo_id)
        if not len(rows):
            raise InputError(f"{painted_path}: no halo with halo_id {halo_id}")
        emission_model = str(catalog.attr("emission_model", ""))
        make_parent(out_dir / "first.fits")
        for row in rows:
            halo = {name: values[row] for name, values in halos.items()}
            images = {name: catalog.maps(name, row) for name in maps}
            for k, axis in enumerate(catalog.axes):
                header = _header(halo, axis, catalog.spec, emission_model)
                hdus = [fits.PrimaryHDU()]
                for key, value in header.items():
                    hdus[0].header[key] = value
                for name in maps:
                    image = fits.ImageHDU(np.ascontiguousarray(images[name][k].T), name=name[4:].upper())
                    for key, value in header.items():
                        image.header[key] = value
                    image.header["BUNIT"] = (catalog.units(name), "physical units")
                    hdus.append(image)
                path = out_dir / f"halo_{int(halo['halo_id'])}_snap{int(halo['snapshot']):03d}_{AXIS_NAMES[axis]}.fits"
                fits.HDUList(hdus).writeto(path, overwrite=True)
                written.append(path)
    return written
