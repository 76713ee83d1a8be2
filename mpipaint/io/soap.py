"""SOAP halo catalogs (SWIFT/FLAMINGO's `halo_properties_NNNN.hdf5`): one HDF5 file whose `Header` says
Code = "SOAP", halo properties in groups by aperture (`InputHalos`, `BoundSubhalo`, `SO/200_crit`, ...).

Read, in swiftsimio's conventions: every dataset's value times its attribute "Conversion factor to physical
CGS (including cosmological corrections)" (the a-scale exponent already applied; times h to its "h-scale
exponent", 0 in SWIFT) is physical CGS, made kpc, Msun, km/s here. Centre: InputHalos/HaloCentre (the halo
finder's centre); M200c and R200c: SO/200_crit/TotalMass and SORadius; velocity: the bound subhalo's
CentreOfMassVelocity. Hosts only by default: InputHalos/IsCentral = 1. Box and cosmology from the file's
Header and Cosmology. SOAP's catalog carries no membership (that is in separate membership files), so its
halos are painted from `cube` deposition.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from mpipaint import units as u
from mpipaint.cosmology import Cosmology
from mpipaint.errors import InputError
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog, layout
from mpipaint.io.hdf5 import open_hdf5, require_attr, require_dataset

TO_PHYSICAL_CGS = "Conversion factor to physical CGS (including cosmological corrections)"
H_EXPONENT = "h-scale exponent"
CENTRE, IS_CENTRAL = "InputHalos/HaloCentre", "InputHalos/IsCentral"
M200C, R200C = "SO/200_crit/TotalMass", "SO/200_crit/SORadius"
VELOCITY = "BoundSubhalo/CentreOfMassVelocity"
CGS_PER_UNIT = {"kpc": u.KPC_CM, "Msun": u.MSUN_G, "km/s": u.KM_CM}


def physical(f: h5py.File, name: str, unit: str, hubble: float) -> np.ndarray:
    """Dataset `name` in physical `unit` (kpc, Msun or km/s) from its own conversion attributes."""
    dataset = require_dataset(f, name)
    factor = dataset.attrs.get(TO_PHYSICAL_CGS)
    if factor is None:
        raise InputError(f"{f.filename}: '{name}' has no attribute {TO_PHYSICAL_CGS!r}: its units are unknown")
    h_exponent = float(np.ravel(dataset.attrs.get(H_EXPONENT, [0.0]))[0])
    return dataset[()].astype(np.float64) * (float(np.ravel(factor)[0]) * hubble**h_exponent / CGS_PER_UNIT[unit])


def read_soap(path, hosts_only: bool = True) -> HaloCatalog:
    """The halos of a SOAP catalog, with the box and cosmology its Header and Cosmology state."""
    path = Path(path)
    with open_hdf5(path) as f:
        header, cosmology_group = require_dataset_group(f, "Header"), require_dataset_group(f, "Cosmology")
        a = float(np.ravel(require_attr(header, "Scale-factor", "SOAP Header attribute"))[0])
        h = float(np.ravel(require_attr(cosmology_group, "h", "SOAP Cosmology attribute"))[0])
        omega_m = float(np.ravel(require_attr(cosmology_group, "Omega_m", "SOAP Cosmology attribute"))[0])
        omega_lambda = float(np.ravel(require_attr(cosmology_group, "Omega_lambda", "SOAP Cosmology attribute"))[0])
        box_comoving_mpc = float(np.ravel(require_attr(header, "BoxSize", "SOAP Header attribute"))[0])
        central = require_dataset(f, IS_CENTRAL)[()].astype(bool)
        keep = central if hosts_only else np.ones(len(central), bool)
        centre = physical(f, CENTRE, "kpc", h)[keep]
        m200c = physical(f, M200C, "Msun", h)[keep]
        r200c = physical(f, R200C, "kpc", h)[keep]
        velocity = physical(f, VELOCITY, "km/s", h)[keep] if VELOCITY in f else None
        index = (require_dataset(f, "InputHalos/HaloCatalogueIndex")[()] if "InputHalos/HaloCatalogueIndex" in f
                 else np.arange(len(central)))[keep]
    cosmology = Cosmology.at_scale_factor(a, h, omega_m, omega_lambda, box_comoving_mpc * 1e3 * a)
    return HaloCatalog(path, SOAP.name, cosmology, index.astype(np.int64), centre, m200c, r200c, m200c, "m200c",
                       velocity_kms=velocity)


def require_dataset_group(f: h5py.File, name: str) -> h5py.Group:
    group = f.get(name)
    if not isinstance(group, h5py.Group):
        raise InputError(f"{f.filename}: group '{name}' missing: not a SOAP catalog")
    return group


def _mismatch(path: Path) -> str | None:
    found = layout(path)
    return None if found == "soap catalog" else f"{found}, not HDF5 whose Header says Code = SOAP"


def _read(path, snapshot, mass_column, hosts_only) -> HaloCatalog:
    if mass_column != "m200c":
        raise InputError(f"{path}: this catalog's cut uses m200c, not {mass_column!r}")
    return read_soap(path, hosts_only)


SOAP = CatalogKind("SOAP", _mismatch, _read)
