"""Writes small Gadget-2 binary snapshots (SnapFormat 1 or 2, either byte order, one or several files) for
the reader's tests, from the format's definition (Gadget-2 user guide, section 6) and independently of
mpipaint's reader."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# Gadget-2's block order; per block the particle types it holds ('mass': types without a MassTable entry)
ORDER = (("POS ", "all"), ("VEL ", "all"), ("ID  ", "all"), ("MASS", "mass"), ("U   ", (0,)), ("RHO ", (0,)),
         ("NE  ", (0,)), ("NH  ", (0,)), ("HSML", (0,)), ("SFR ", (0,)))


def _record(handle, payload: bytes, order: str) -> None:
    marker = struct.pack(order + "i", len(payload))
    handle.write(marker + payload + marker)


def _header(npart, npart_total, mass_table, cosmology: dict, num_files: int, flags: dict, order: str) -> bytes:
    high = [n >> 32 for n in npart_total]
    low = [n & 0xFFFFFFFF for n in npart_total]
    packed = struct.pack(order + "6i6dddii6Iiiddddii6Ii", *npart, *mass_table, cosmology["time"],
                         cosmology["redshift"], flags.get("sfr", 0), 0, *low, flags.get("cooling", 0), num_files,
                         cosmology["box_size"], cosmology["omega0"], cosmology["omega_lambda"], cosmology["hubble"],
                         0, 0, *high, 0)
    return packed + b"\0" * (256 - len(packed))


def write_gadget_binary(path, particles: dict, mass_table, cosmology: dict, snap_format: int = 1, order: str = "<",
                        num_files: int = 1, flags=None) -> list[Path]:
    """Write `particles` ({ptype: {block name: array}}, block names as in ORDER without padding) as a Gadget
    binary snapshot at `path` (one file) or `path.K` (num_files > 1), each type split evenly over files.
    Returns the files written."""
    flags = flags or {}
    path = Path(path)
    totals = [len(particles[t]["POS"]) if t in particles else 0 for t in range(6)]
    files = [path] if num_files == 1 else [path.with_name(f"{path.name}.{k}") for k in range(num_files)]
    for k, file in enumerate(files):
        pieces = {t: {name: np.array_split(values, num_files)[k] for name, values in blocks.items()}
                  for t, blocks in particles.items()}
        npart = [len(pieces[t]["POS"]) if t in pieces else 0 for t in range(6)]
        with open(file, "wb") as handle:
            blocks = [("HEAD", _header(npart, totals, mass_table, cosmology, num_files, flags, order))]
            for padded, covers in ORDER:
                name = padded.strip()
                types = [t for t in range(6) if npart[t] > 0 and (covers == "all" or (covers == "mass" and
                         mass_table[t] == 0) or (isinstance(covers, tuple) and t in covers))]
                if not types or any(name not in pieces[t] for t in types):
                    continue
                data = np.concatenate([pieces[t][name] for t in types])
                blocks.append((name, data.astype(data.dtype.newbyteorder(order)).tobytes()))
            for name, payload in blocks:
                if snap_format == 2:
                    _record(handle, name.ljust(4).encode() + struct.pack(order + "i", len(payload) + 8), order)
                _record(handle, payload, order)
    return files


def write_gadget3_fof(directory, snapnum: int, lengths, positions, velocities, masses, length_type, mass_type,
                      member_ids, num_files: int = 1, order: str = "<", id_dtype="u4", sfr=None) -> Path:
    """Write Gadget-III FoF files, groups_NNN/group_tab_NNN.K and group_ids_NNN.K (P-Gadget3's fof.c layout,
    as Pylians' readfof reads it), groups split evenly over `num_files`, each file's IDs those of its groups.
    Returns the groups_NNN directory."""
    directory = Path(directory) / f"groups_{snapnum:03d}"
    directory.mkdir(parents=True)
    lengths = np.asarray(lengths, np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    total_groups, total_ids = len(lengths), int(lengths.sum())
    for k, groups in enumerate(np.array_split(np.arange(total_groups), num_files)):
        n = len(groups)
        first = int(offsets[groups[0]]) if n else total_ids
        nids = int(lengths[groups].sum())
        head = struct.pack(order + "iiiqi", n, total_groups, nids, total_ids, num_files)
        arrays = [(lengths[groups], "i4"), (offsets[groups], "i4"), (np.asarray(masses)[groups], "f4"),
                  (np.asarray(positions)[groups], "f4"), (np.asarray(velocities)[groups], "f4"),
                  (np.asarray(length_type)[groups], "i4"), (np.asarray(mass_type)[groups], "f4")]
        if sfr is not None:
            arrays.append((np.asarray(sfr)[groups], "f4"))
        with open(directory / f"group_tab_{snapnum:03d}.{k}", "wb") as handle:
            handle.write(head)
            for values, kind in arrays:
                handle.write(np.ascontiguousarray(values, dtype=np.dtype(order + kind)).tobytes())
        with open(directory / f"group_ids_{snapnum:03d}.{k}", "wb") as handle:
            handle.write(head + struct.pack(order + "i", first))
            ids = np.asarray(member_ids)[first:first + nids]
            handle.write(np.ascontiguousarray(ids, dtype=np.dtype(order + id_dtype)).tobytes())
    return directory


SUBFIND_GROUP_ORDER = (("GroupLen", "u4"), ("GroupOffset", "u4"), ("GroupMass", "f4"), ("GroupPos", "f4"),
                       ("Group_M_Mean200", "f4"), ("Group_R_Mean200", "f4"), ("Group_M_Crit200", "f4"),
                       ("Group_R_Crit200", "f4"), ("Group_M_TopHat200", "f4"), ("Group_R_TopHat200", "f4"),
                       ("Group_VelDisp", "f4"), ("GroupContaminationCount", "u4"), ("GroupContaminationMass", "f4"),
                       ("GroupNsubs", "u4"), ("GroupFirstSub", "u4"))
SUBFIND_SUB_ORDER = (("SubLen", "u4"), ("SubOffset", "u4"), ("SubParent", "u4"), ("SubMass", "f4"), ("SubPos", "f4"),
                     ("SubVel", "f4"), ("SubCM", "f4"), ("SubSpin", "f4"), ("SubVelDisp", "f4"), ("SubVmax", "f4"),
                     ("SubVmaxRad", "f4"), ("SubHalfMassRad", "f4"), ("SubMostBoundID", None), ("SubGrNr", "u4"),
                     ("SubMassType", "f4"))


def write_gadget3_subfind(directory, snapnum: int, groups: dict, subs: dict, member_ids, num_files: int = 1,
                          order: str = "<", id_dtype="u4") -> Path:
    """Write Gadget-III Subfind files, groups_NNN/subhalo_tab_NNN.K and subhalo_ids_NNN.K (P-Gadget3's
    subfind.c layout, as Pylians' readsubf reads it): `groups` and `subs` hold every field of
    SUBFIND_GROUP_ORDER / SUBFIND_SUB_ORDER that the run stores (Group_VelDisp and SubMassType optional);
    groups split evenly over the files, each subhalo in its group's file, each file's IDs its groups'."""
    directory = Path(directory) / f"groups_{snapnum:03d}"
    directory.mkdir(parents=True, exist_ok=True)
    lengths = np.asarray(groups["GroupLen"], np.int64)
    offsets = np.asarray(groups["GroupOffset"], np.int64)
    total_ids, total_groups, total_subs = int(lengths.sum()), len(lengths), len(subs["SubLen"])
    for k, mine in enumerate(np.array_split(np.arange(total_groups), num_files)):
        my_subs = np.flatnonzero(np.isin(subs["SubGrNr"], mine))
        first = int(offsets[mine[0]]) if len(mine) else total_ids
        nids = int(lengths[mine].sum())
        head = struct.pack(order + "iiiqi", len(mine), total_groups, nids, total_ids, num_files)
        with open(directory / f"subhalo_tab_{snapnum:03d}.{k}", "wb") as handle:
            handle.write(head + struct.pack(order + "ii", len(my_subs), total_subs))
            for fields, rows, layout in ((groups, mine, SUBFIND_GROUP_ORDER), (subs, my_subs, SUBFIND_SUB_ORDER)):
                for name, kind in layout:
                    if name in fields:
                        values = np.asarray(fields[name])[rows]
                        handle.write(np.ascontiguousarray(values, np.dtype(order + (kind or id_dtype))).tobytes())
        with open(directory / f"subhalo_ids_{snapnum:03d}.{k}", "wb") as handle:
            handle.write(head + struct.pack(order + "i", first))
            handle.write(np.ascontiguousarray(np.asarray(member_ids)[first:first + nids],
                                              np.dtype(order + id_dtype)).tobytes())
    return directory
