"""`mpipaint export-fits`: the maps of a painted catalog (`paint --maps`) as FITS images for mock X-ray
pipelines (soxs, pyxsim users).

One file per halo and projection axis, `halo_<id>_snap<NNN>_<axis>.fits`: an empty primary HDU with the
halo's metadata, then one image HDU per map (`DM`, and `XRAY`, `GAS`, `TEMPERATURE` as painted) with its
`BUNIT`. Image axis 1 and 2 are the box axes named in `IMAXIS1`/`IMAXIS2` (yt's convention); a linear
world coordinate system gives offsets from the halo centre in physical kpc.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.hdf5 import open_hdf5
from mpipaint.io.outputs import make_parent
from mpipaint.maps.geometry import AXIS_NAMES, IMAGE_AXES, MapSpec


def _header(f, row: int, axis: int, spec: MapSpec) -> dict:
    """Halo, map and provenance keywords, (value, comment) pairs."""
    npix, width, pixel = spec.npix, spec.width_kpc, spec.pixel_kpc
    return {
        "HALOID": (int(f["halo_id"][row]), "group index in the box's catalog"),
        "SNAPSHOT": (int(f["snapshot"][row]), "snapshot number"),
        "REDSHIFT": (float(f["redshift"][row]), "redshift of the snapshot"),
        "M200C": (float(f["m200c"][row]), "[Msun] from the group catalog"),
        "PROJAXIS": (AXIS_NAMES[axis], "line of sight (box axis)"),
        "IMAXIS1": (AXIS_NAMES[IMAGE_AXES[axis][0]], "box axis along image axis 1"),
        "IMAXIS2": (AXIS_NAMES[IMAGE_AXES[axis][1]], "box axis along image axis 2"),
        "WIDTH": (width, "[kpc] physical map width"),
        "PIXSCALE": (pixel, "[kpc/pixel] physical"),
        "DEPMODE": (spec.deposition_mode, "particles mapped: group (FoF) or cube"),
        "EMISMODL": (str(f.attrs.get("emission_model", "")), "X-ray emission model of the training maps"),
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
    with open_hdf5(painted_path) as f:
        if not bool(f.attrs.get("complete", False)):
            raise InputError(f"{painted_path}: painted catalog is incomplete (re-run the paint job to finish it)")
        maps = sorted(name for name in f if name.startswith("map_"))
        if "map_dm" not in maps:
            raise InputError(f"{painted_path}: no maps stored (paint with --maps to export FITS images)")
        ids = f["halo_id"][()]
        rows = np.arange(len(ids)) if halo_id is None else np.flatnonzero(ids == halo_id)
        if not len(rows):
            raise InputError(f"{painted_path}: no halo with halo_id {halo_id}")
        axes, spec = f.attrs["axes"], MapSpec.from_attrs(f.attrs)
        make_parent(out_dir / "first.fits")
        for row in rows:
            for k, axis in enumerate(axes):
                header = _header(f, row, int(axis), spec)
                hdus = [fits.PrimaryHDU()]
                for key, value in header.items():
                    hdus[0].header[key] = value
                for name in maps:
                    image = fits.ImageHDU(np.ascontiguousarray(f[name][row, k].T), name=name[4:].upper())
                    for key, value in header.items():
                        image.header[key] = value
                    image.header["BUNIT"] = (str(f[name].attrs["units"]), "physical units")
                    hdus.append(image)
                path = out_dir / f"halo_{int(ids[row])}_snap{int(f['snapshot'][row]):03d}_{AXIS_NAMES[int(axis)]}.fits"
                fits.HDUList(hdus).writeto(path, overwrite=True)
                written.append(path)
    return written
