"""The halo catalogs mpipaint reads, and which kind a path is, told from its content: every kind is asked,
exactly one must recognise the path; `open_halo_catalog` is how `select` and `paint --catalog` read halos.

Adding a kind is one module that defines a `halo_catalog.CatalogKind` (its `mismatch` and reader into
`HaloCatalog`) and one line in KINDS.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mpipaint.errors import InputError
from mpipaint.io.abacus import COMPASO
from mpipaint.io.ahf import AHF
from mpipaint.io.gadget3_groups import GADGET3_FOF
from mpipaint.io.gadget3_subfind import GADGET3_SUBFIND
from mpipaint.io.group_catalog import GROUP_CATALOG
from mpipaint.io.halo_catalog import CatalogKind, HaloCatalog
from mpipaint.io.halolists import PLAIN_TABLE, ROCKSTAR
from mpipaint.io.halotable import HALO_TABLE
from mpipaint.io.registry import the_one_recognising
from mpipaint.io.soap import SOAP
from mpipaint.io.velociraptor import VELOCIRAPTOR

KINDS = (GROUP_CATALOG, GADGET3_FOF, GADGET3_SUBFIND, COMPASO, AHF, SOAP, VELOCIRAPTOR, HALO_TABLE, ROCKSTAR, PLAIN_TABLE)
SAME_BOX_RTOL = 1e-4  # a catalog's scale factor and box side against its snapshot's (headers' rounding)


def catalog_kind(path: Path) -> CatalogKind:
    """The one kind that recognises `path`; none or several is an error naming the path and the kinds tried."""
    if not path.exists():
        raise InputError(f"{path}: catalog not found")
    return the_one_recognising(path, KINDS, lambda kind: kind.name, "halo catalog", "kind")


def open_halo_catalog(path, snapshot=None, mass_column: str = "m200c", hosts_only: bool = True) -> HaloCatalog:
    """The halos of the catalog at `path` (any kind of KINDS). With `snapshot` (io.snapshot.Snapshot), the
    halos must be of its time and box, and header values a list lacks come from it; `mass_column` names the
    mass a cut uses and `hosts_only` drops subhalos where the kind has them."""
    path = Path(path)
    halos = catalog_kind(path).read(path, snapshot, mass_column, hosts_only)
    if snapshot is not None:
        a, box = snapshot.header.scale_factor, snapshot.box_size_kpc
        if not np.isclose(halos.cosmology.scale_factor, a, rtol=SAME_BOX_RTOL):
            raise InputError(f"{path}: halos at a={halos.cosmology.scale_factor:.6g}, but {snapshot.path} is at "
                             f"a={a:.6g}")
        if not np.isclose(halos.cosmology.box_size_kpc, box, rtol=SAME_BOX_RTOL):
            raise InputError(f"{path}: halos in a box of {halos.cosmology.box_size_kpc:.6g} kpc, but {snapshot.path} "
                             f"is a box of {box:.6g} kpc (physical): a list of another run?")
    return halos


def open_member_ids(path):
    """The member-ID lists of the catalog at `path` (a kind whose membership is by particle ID: `path`,
    `total`, `read(lo, hi)` -> uint64), which a halo table's `member_offset` / `member_count` index."""
    kind = catalog_kind(Path(path))
    if kind.member_ids is None:
        raise InputError(f"{path}: a {kind.name} gives membership by snapshot order, not member-ID lists")
    return kind.member_ids(Path(path))
