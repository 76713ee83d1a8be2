"""Turn a grouped particle model (halos -> subhalo components -> particles, physical units) into a TNG
snapshot, its FoF/Subfind catalog and offsets: particles ordered by group, then subhalo, then unbound;
groups ranked by particle count; M200c/R200c measured by spherical overdensity around the centre."""
from __future__ import annotations

import numpy as np

from mpipaint import units as u
from mpipaint.example import tng_writer
from mpipaint.io.particle_types import DM, NTYPES
from mpipaint.maps.geometry import minimum_image

_FLOAT32_FIELDS = ("Masses", "Density", "InternalEnergy", "ElectronAbundance", "StarFormationRate",
                   "GFM_Metallicity", "Velocities")


def spherical_overdensity(distances, masses, rho_crit, delta=200.0):
    """(M_delta, R_delta): the largest radius whose enclosed mean density is >= delta * rho_crit."""
    order = np.argsort(distances)
    r, enclosed = distances[order], np.cumsum(masses[order])
    dense = enclosed / (4.0 / 3.0 * np.pi * np.maximum(r, 1e-12) ** 3) >= delta * rho_crit
    if not dense.any():
        return 0.0, 0.0
    last = np.flatnonzero(dense)[-1]
    return float(enclosed[last]), float(r[last])


def _periodic_mean(positions, weights, reference, box):
    d = minimum_image(positions - reference, box)
    return (reference + np.average(d, axis=0, weights=weights)) % box


def _stack(components, ptype, name, width):
    arrays = [c.parts[ptype][name] for c in components if ptype in c.parts]
    return np.concatenate(arrays) if arrays else np.empty((0,) + width)


def _catalog(model, box_kpc, rho_crit):
    """Group and subhalo tables (physical units) and per-type offsets, for halos ranked by size."""
    halos = sorted(model.halos, key=lambda h: -sum(c.count(t) for c in h for t in range(NTYPES)))
    groups = {k: [] for k in ("pos", "cm", "mass", "mass_type", "len_type", "first_sub", "nsubs", "m200", "r200")}
    subs = {k: [] for k in ("pos", "cm", "mass", "mass_type", "len_type", "group", "halfmass")}
    for index, halo in enumerate(halos):
        centre = halo[0].centre
        coords = np.concatenate([c.parts[t]["Coordinates"] for c in halo for t in c.parts])
        masses = np.concatenate([c.parts[t]["Masses"] for c in halo for t in c.parts])
        d = minimum_image(coords - centre, box_kpc)
        m200, r200 = spherical_overdensity(np.linalg.norm(d, axis=1), masses, rho_crit)
        groups["first_sub"].append(sum(len(h) for h in halos[:index]))
        groups["nsubs"].append(len(halo))
        groups["pos"].append(centre)
        groups["cm"].append(_periodic_mean(coords, masses, centre, box_kpc))
        groups["m200"].append(m200)
        groups["r200"].append(r200)
        group_len, group_mass = np.zeros(NTYPES, np.int64), np.zeros(NTYPES)
        for component in halo:
            len_type = np.array([component.count(t) for t in range(NTYPES)])
            mass_type = np.array([component.parts[t]["Masses"].sum() if t in component.parts else 0.0
                                  for t in range(NTYPES)])
            c_coords = np.concatenate([component.parts[t]["Coordinates"] for t in component.parts])
            c_mass = np.concatenate([component.parts[t]["Masses"] for t in component.parts])
            dc = minimum_image(c_coords - component.centre, box_kpc)
            radius = np.linalg.norm(dc, axis=1)
            subs["pos"].append(component.centre)
            subs["cm"].append(_periodic_mean(c_coords, c_mass, component.centre, box_kpc))
            subs["mass"].append(mass_type.sum())
            subs["mass_type"].append(mass_type)
            subs["len_type"].append(len_type)
            subs["group"].append(index)
            subs["halfmass"].append(np.median(radius) if len(radius) else 0.0)
            group_len += len_type
            group_mass += mass_type
        groups["len_type"].append(group_len)
        groups["mass_type"].append(group_mass)
        groups["mass"].append(group_mass.sum())
    groups = {k: np.array(v) for k, v in groups.items()}
    subs = {k: np.array(v) for k, v in subs.items()}
    group_offsets = np.vstack([np.zeros(NTYPES, np.int64), np.cumsum(groups["len_type"], axis=0)[:-1]])
    sub_offsets = np.vstack([np.zeros(NTYPES, np.int64), np.cumsum(subs["len_type"], axis=0)[:-1]])
    return halos, groups, subs, group_offsets, sub_offsets


def write_model(run_dir, snapnum, model, meta, num_files, flavour="tng"):
    """Write one run's snapshot, group catalog and (TNG flavour) offsets file."""
    a, h = meta["scale_factor"], meta["hubble"]
    code = u.CodeUnits(u.TNG_UNIT_LENGTH_CM, u.TNG_UNIT_MASS_G, u.TNG_UNIT_VELOCITY_CM_S, h, a)
    box_kpc = float(code.length_to_kpc(meta["box_size"]))
    rho_crit = u.critical_density_msun_kpc3(h, meta["omega_m"], meta["omega_lambda"], meta["redshift"])
    halos, groups, subs, group_offsets, sub_offsets = _catalog(model, box_kpc, rho_crit)
    components = [c for halo in halos for c in halo] + [model.background]
    particles, mass_table = {}, np.zeros(NTYPES)
    for ptype in range(NTYPES):
        present = [c for c in components if ptype in c.parts]
        if not present:
            continue
        names = present[0].parts[ptype].keys()
        fields = {name: _stack(present, ptype, name, ()) for name in names}
        particles[ptype] = _to_code_units(fields, code)
        if ptype == DM:
            mass_table[DM] = float(particles[DM].pop("Masses")[0])
    file_offsets = tng_writer.write_snapshot(run_dir, snapnum, particles, {**meta, "mass_table": mass_table},
                                             num_files, flavour)
    group_table = {
        "GroupPos": code.to_code("Coordinates", groups["pos"]), "GroupCM": code.to_code("Coordinates", groups["cm"]),
        "GroupMass": code.to_code("Masses", groups["mass"]).astype(np.float32),
        "GroupMassType": code.to_code("Masses", groups["mass_type"]).astype(np.float32),
        "GroupLen": groups["len_type"].sum(axis=1).astype(np.int32),
        "GroupLenType": groups["len_type"].astype(np.int32),
        "GroupFirstSub": groups["first_sub"].astype(np.int32), "GroupNsubs": groups["nsubs"].astype(np.int32),
        "Group_M_Crit200": code.to_code("Masses", groups["m200"]).astype(np.float32),
        "Group_R_Crit200": code.to_code("Coordinates", groups["r200"]).astype(np.float32),
    }
    sub_table = {
        "SubhaloPos": code.to_code("Coordinates", subs["pos"]), "SubhaloCM": code.to_code("Coordinates", subs["cm"]),
        "SubhaloMass": code.to_code("Masses", subs["mass"]).astype(np.float32),
        "SubhaloMassType": code.to_code("Masses", subs["mass_type"]).astype(np.float32),
        "SubhaloLen": subs["len_type"].sum(axis=1).astype(np.int32),
        "SubhaloLenType": subs["len_type"].astype(np.int32), "SubhaloGrNr": subs["group"].astype(np.int32),
        "SubhaloHalfmassRad": code.to_code("Coordinates", subs["halfmass"]).astype(np.float32),
    }
    if flavour == "gadget4":
        group_table["GroupOffsetType"] = group_offsets.astype(np.int64)
        sub_table["SubhaloOffsetType"] = sub_offsets.astype(np.int64)
    tng_writer.write_group_catalog(run_dir, snapnum, group_table, sub_table, meta, num_files, flavour)
    if flavour == "tng":
        tng_writer.write_offsets(run_dir, snapnum, group_offsets, sub_offsets, num_files, file_offsets)


def _to_code_units(fields, code):
    """Physical model fields to stored snapshot fields; Temperature becomes InternalEnergy."""
    out = {}
    for name, values in fields.items():
        if name == "Temperature":
            name = "InternalEnergy"
            values = u.internal_energy_from_temperature(values, fields["ElectronAbundance"]) / code.velocity_cm_s**2
        else:
            values = code.to_code(name, values)
        out[name] = values.astype(np.float32) if name in _FLOAT32_FIELDS else values
    return out
