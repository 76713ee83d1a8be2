"""`mpipaint select`: halo catalog(s) -> halo table (see `mpipaint.io.halotable` for the schema).

Snapshots are dealt to MPI ranks, each selected by `halos.select`; rank 0 gathers and writes, so the table
is the same for any rank count.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from mpipaint import __version__
from mpipaint.errors import InputError
from mpipaint.halos.select import select_rockstar, select_subfind
from mpipaint.io.halotable import SCHEMA, write_halo_table
from mpipaint.options import SelectOptions
from mpipaint.parallel import COMM, get_logger, my_share


def _work_units(options: SelectOptions):
    if options.catalog_type == "subfind":
        return [(options.source, int(n)) for n in options.snapshots]
    files = [p.strip() for p in options.source.split(",") if p.strip()]
    snaps = list(options.snapshots) or [-1] * len(files)
    if len(snaps) != len(files):
        raise InputError(f"{len(files)} Rockstar lists but {len(snaps)} snapshot numbers: give one per list")
    return list(zip(files, (int(s) for s in snaps)))


def _catalog_attrs(parts, work) -> dict:
    """What the parts' catalogs record beyond rows (`halos.select.membership_attrs`): one table can name one
    catalog's member-ID lists, so catalogs with such lists are selected one snapshot per table."""
    kinds = {tuple(sorted(part.attrs.items())) for part in parts}
    if len(kinds) > 1:
        raise InputError(f"{work[0][0]}: the snapshots' catalogs record different memberships or mass definitions "
                         f"({[dict(k) for k in kinds]}): select one snapshot per halo table")
    return dict(kinds.pop()) if kinds else {}


def run_select(options: SelectOptions) -> pd.DataFrame | None:
    """Select on all ranks (snapshots dealt round-robin); rank 0 writes the table and returns it."""
    log = get_logger()
    work = _work_units(options)
    mine = []
    for index, (source, snapnum) in my_share(enumerate(work)):
        if options.catalog_type == "subfind":
            part = select_subfind(source, snapnum, options.min_m200c, options.dmo)
        else:
            part = select_rockstar(source, snapnum, options.min_m200c, options.mass_column, not options.subhalos,
                                   options.box)
        log.info("snapshot %d: %d halos with M200c >= %.3g Msun", snapnum, len(part), options.min_m200c)
        mine.append((index, part))
    gathered = COMM.gather(mine, root=0)
    if COMM.rank != 0:
        return None
    parts = [part for _, part in sorted((p for rank_parts in gathered for p in rank_parts), key=lambda p: p[0])]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({c: [] for c in SCHEMA})
    write_halo_table(options.out, table, {**_catalog_attrs(parts, work),
        "source": str(options.source), "catalog_type": options.catalog_type,
        "dmo_source": str(options.dmo or ""), "min_m200c_msun": options.min_m200c,
        "snapshots": np.asarray([n for _, n in work], dtype=np.int64), "mpipaint_version": __version__})
    log.info("wrote %d halos to %s", len(table), options.out)
    return table
