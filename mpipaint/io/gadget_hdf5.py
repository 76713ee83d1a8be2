"""The HDF5 Gadget family: Illustris/TNG/AREPO, Gadget-4 and SWIFT snapshots, one chunk file at a time.

All three keep particles in `PartType<k>/<field>` datasets and counts in a `Header` group; they differ in
where cosmology and units live and in field names, which is what tells them apart from a file's content:
- SWIFT: a `Cosmology` group and a `Scale-factor` header attribute; units in `Units` (no h anywhere; comoving
  positions, peculiar velocities, comoving internal energy), gas fields in plural (`Densities`, ...);
- Gadget-4: cosmology in `Parameters`, not in the header; units in `Parameters`/`Units` (TNG's if absent);
- Illustris/TNG/AREPO: cosmology in the header (ckpc/h, 1e10 Msun/h, km/s sqrt(a) unless stated).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from mpipaint import units as u
from mpipaint.errors import InputError
from mpipaint.io.hdf5 import OpenFiles, metadata_named, open_hdf5, read_slice, require_attr
from mpipaint.io.particle_types import NTYPES, SnapshotFormat, SnapshotHeader, counts_from_words, per_type

# SWIFT's names of the fields TNG names otherwise (same quantity; units converted by CodeUnits)
SWIFT_FIELD_NAMES = {"Density": "Densities", "InternalEnergy": "InternalEnergies",
                     "SmoothingLength": "SmoothingLengths", "GFM_Metallicity": "MetalMassFractions"}
# SWIFT stores u comoving: u_physical = a^(-3 (gamma - 1)) u (its datasets' "a-scale exponent")
SWIFT_ENERGY_A_EXPONENT = -3.0 * (u.ADIABATIC_INDEX - 1.0)


def _has_swift_cosmology(f) -> bool:
    return "Cosmology" in f and "Scale-factor" in f["Header"].attrs


def _has_gadget4_parameters(f) -> bool:
    return "Parameters" in f and "HubbleParam" not in f["Header"].attrs


def _mismatch(path: Path, want) -> str | None:
    """None if `path` is an HDF5 snapshot file (a Header with particle counts) of which `want(file)` holds."""
    if not h5py.is_hdf5(path):
        return "not an HDF5 file"
    # attributes are asked for by name only: HDF5 can crash listing the attributes of a damaged header
    with open_hdf5(path) as f, metadata_named(path, "the header"):
        header = f.get("Header")
        if not isinstance(header, h5py.Group):
            return "HDF5 without a 'Header' group"
        if "NumPart_ThisFile" not in header.attrs and "NumPart_Total" not in header.attrs:
            return "its Header has no NumPart_ThisFile or NumPart_Total (a group catalog?)"
        return None if want(f) else "its cosmology is not where this flavour keeps it"


def _first_present(groups, name, what):
    for group in groups:
        if group is not None and name in group.attrs:
            return group.attrs[name]
    return require_attr(groups[0], name, what)


def _attr_or(groups, name, default):
    for group in groups:
        if group is not None and name in group.attrs:
            return group.attrs[name]
    return default


def _scalar(group, name: str, what: str) -> float:
    return float(np.ravel(require_attr(group, name, what))[0])


def _total_counts(header) -> np.ndarray:
    return counts_from_words(require_attr(header, "NumPart_Total", "header attribute"),
                             header.attrs.get("NumPart_Total_HighWord", np.zeros(NTYPES)))


def read_header(h5file) -> tuple[SnapshotHeader, u.CodeUnits]:
    """Header and code units of an open snapshot file of any flavour of the family."""
    with metadata_named(h5file.filename, "the header"):
        if h5file.get("Header") is None:
            raise InputError(f"{h5file.filename}: group 'Header' missing: not a Gadget/AREPO snapshot")
        if _has_swift_cosmology(h5file):
            return _swift_header(h5file)
        return _gadget_header(h5file, "gadget4" if _has_gadget4_parameters(h5file) else "tng")


def _gadget_header(h5file, flavour: str) -> tuple[SnapshotHeader, u.CodeUnits]:
    """Illustris/TNG/AREPO (cosmology in Header) or Gadget-4 (in Parameters); units from Units, then
    Parameters, then Header, else TNG's."""
    header, params = h5file["Header"], h5file.get("Parameters")
    cosmo_groups = [header, params]
    scale_factor = float(require_attr(header, "Time", "header attribute"))
    hubble = float(_first_present(cosmo_groups, "HubbleParam", "header attribute"))
    hdr = SnapshotHeader(
        box_size=float(_first_present(cosmo_groups, "BoxSize", "header attribute")),
        hubble=hubble,
        scale_factor=scale_factor,
        redshift=float(require_attr(header, "Redshift", "header attribute")),
        mass_table=np.asarray(require_attr(header, "MassTable", "header attribute"), dtype=np.float64),
        num_part_total=_total_counts(header),
        num_files=int(require_attr(header, "NumFilesPerSnapshot", "header attribute")),
        omega_m=float(_first_present(cosmo_groups, "Omega0", "header attribute")),
        omega_lambda=float(_first_present(cosmo_groups, "OmegaLambda", "header attribute")),
        flavour=flavour,
    )
    unit_groups = [h5file.get("Units"), params, header]
    code = u.CodeUnits(length_cm=float(_attr_or(unit_groups, "UnitLength_in_cm", u.TNG_UNIT_LENGTH_CM)),
                       mass_g=float(_attr_or(unit_groups, "UnitMass_in_g", u.TNG_UNIT_MASS_G)),
                       velocity_cm_s=float(_attr_or(unit_groups, "UnitVelocity_in_cm_per_s",
                                                    u.TNG_UNIT_VELOCITY_CM_S)),
                       hubble=hubble, scale_factor=scale_factor,
                       comoving=bool(_attr_or([params], "ComovingIntegrationOn", 1)))
    return hdr, code


def _swift_header(h5file) -> tuple[SnapshotHeader, u.CodeUnits]:
    """SWIFT: cosmology from its Cosmology group, units from its Units group."""
    header, cosmology, units = h5file["Header"], h5file["Cosmology"], h5file.get("Units")
    if units is None:
        raise InputError(f"{h5file.filename}: group 'Units' missing from a SWIFT snapshot")
    scale_factor = _scalar(header, "Scale-factor", "header attribute")
    hdr = SnapshotHeader(
        box_size=_scalar(header, "BoxSize", "header attribute"), hubble=_scalar(cosmology, "h", "cosmology attribute"),
        scale_factor=scale_factor, redshift=_scalar(header, "Redshift", "header attribute"),
        mass_table=per_type(require_attr(header, "MassTable", "header attribute")).astype(np.float64),
        num_part_total=_total_counts(header), num_files=int(_scalar(header, "NumFilesPerSnapshot", "header attribute")),
        omega_m=_scalar(cosmology, "Omega_m", "cosmology attribute"),
        omega_lambda=_scalar(cosmology, "Omega_lambda", "cosmology attribute"), flavour="swift")
    length_cm = _scalar(units, "Unit length in cgs (U_L)", "SWIFT unit")
    code = u.CodeUnits(length_cm, _scalar(units, "Unit mass in cgs (U_M)", "SWIFT unit"),
                       length_cm / _scalar(units, "Unit time in cgs (U_t)", "SWIFT unit"), hubble=1.0,
                       scale_factor=scale_factor, comoving=bool(cosmology.attrs.get("Cosmological run", [1])[0]),
                       velocity_sqrt_a=False, energy_a_exponent=SWIFT_ENERGY_A_EXPONENT)
    return hdr, code


def _rows(group) -> int:
    """Particles a PartType group holds: the length of its first dataset (0 for none)."""
    first = next((item for item in (group or {}).values() if isinstance(item, h5py.Dataset)), None)
    return 0 if first is None else len(first)


class HDF5Chunk:
    """One HDF5 file of a snapshot; its particles are read through the snapshot's few open files (thousands of
    chunks stay closed)."""

    def __init__(self, path: Path, open_files: OpenFiles, field_names: dict | None = None):
        self.path, self.open_files, self.field_names = path, open_files, field_names or {}
        with open_hdf5(path) as f:
            self.header, self.units = read_header(f)
            self.counts = per_type(require_attr(f["Header"], "NumPart_ThisFile", "header attribute")).astype(np.int64)
            self.stored = np.array([_rows(f.get(f"PartType{t}")) for t in range(NTYPES)], np.int64)

    def _name(self, ptype: int, field: str) -> str:
        return f"PartType{ptype}/{self.field_names.get(field, field)}"

    def has(self, ptype: int, field: str) -> bool:
        with open_hdf5(self.path) as f:
            return self._name(ptype, field) in f

    def row_format(self, ptype: int, field: str) -> tuple[tuple, np.dtype]:
        dset = self.open_files.dataset(self.path, self._name(ptype, field))  # the read that follows uses it
        return dset.shape[1:], dset.dtype

    def read_into(self, ptype: int, field: str, lo: int, hi: int, out: np.ndarray) -> None:
        read_slice(self.open_files.dataset(self.path, self._name(ptype, field)), lo, hi, out=out)


TNG = SnapshotFormat("tng", "Illustris/TNG/AREPO HDF5",
                     lambda path: _mismatch(path, lambda f: not (_has_swift_cosmology(f)
                                                                 or _has_gadget4_parameters(f))),
                     HDF5Chunk)
GADGET4 = SnapshotFormat("gadget4", "Gadget-4 HDF5",
                         lambda path: _mismatch(path, lambda f: _has_gadget4_parameters(f)
                                                and not _has_swift_cosmology(f)),
                         HDF5Chunk)
SWIFT = SnapshotFormat("swift", "SWIFT HDF5", lambda path: _mismatch(path, _has_swift_cosmology),
                       lambda path, open_files: HDF5Chunk(path, open_files, SWIFT_FIELD_NAMES))
