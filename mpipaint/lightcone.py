"""`mpipaint lightcone`: painted catalogs of several snapshots of one box -> a light-cone catalog.

Each snapshot fills the comoving-distance shell nearest it (`sky.lightcone`); the work units, (snapshot,
replica) pairs, are dealt to ranks, each rank spills its units' rows in batches of a few MB
(`io.lightcone.SpilledRows`) and rank 0 copies them in unit order into the catalog, so memory per rank is a
batch and the file is the same for any rank count. Per halo: sky position, cosmological and observed redshift (with the line-of-sight
peculiar velocity where the painted catalog has halo velocities, else z_obs = z_cos and
`velocity_known` = 0), distances, the painted values of the projection nearest the line of sight,
observer-frame 0.5-2 keV flux with its APEC K-correction (`sky.observed`), and seeded realisations.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mpipaint import __version__
from mpipaint.cosmology import Cosmology
from mpipaint.errors import InputError
from mpipaint.io.lightcone import (LightconeCatalog, SpilledRows, check_output, read_halo_list,
                                   remove_spill_directory, spill_directory, write_lightcone)
from mpipaint.io.painted import PER_HALO, PER_HALO_VECTORS, PaintedCatalog, halo_maps
from mpipaint.options import LightconeOptions
from mpipaint.parallel import COMM, get_logger, my_share
from mpipaint.science.summaries import SUMMARY
from mpipaint.io.arf import read_arf
from mpipaint.sky import lightcone as geometry
from mpipaint.io.skymaps import write_healpix
from mpipaint.sky.absorption import transmission
from mpipaint.sky.healpix import painted_map_maps, point_source_maps
from mpipaint.sky.observed import energy_flux, lognormal_draws, observed_redshift
from mpipaint.sky.spectra import SPECTRA_METALLICITY_SOLAR, ObservedBand

ROWS_PER_MAP_CHUNK = 1 << 18  # light-cone rows read at a time to make the sky maps


SKY_LAYERS = {  # HEALPix column -> (light-cone column spread on the sky, painted map that shapes it, units, mode key)
    "XRAY_SB": ("flux_x", "map_xray", "erg/s/cm^2/sr", "MAPMODE"),
    "Y": ("y_sr", "map_y", "", "YMAPMODE"),  # Y [sr] per steradian: the mean Compton-y over each pixel
}


def _sky_maps(options: LightconeOptions, snapshots, layers: dict) -> tuple[dict, np.ndarray]:
    """({HEALPix column: map}, halo counts) of the written light-cone, read back in chunks of rows in file
    order (the same sums for any rank count). `layers`: {column: with_maps} for columns of SKY_LAYERS: each
    halo's value spread as its painted map (with_maps) or put into the pixel of its centre."""
    paths = {snapshot.snapshot: snapshot.path for snapshot in snapshots}
    sums, counts = dict.fromkeys(layers, 0.0), 0.0
    names = ("ra", "dec", "comoving_distance", "snapshot", "halo_id", "axis", "replica",
             *dict.fromkeys(SKY_LAYERS[column][0] for column in layers))
    with LightconeCatalog(options.out) as lc:
        for start in range(0, len(lc), ROWS_PER_MAP_CHUNK):
            rows = {name: lc.column(name, slice(start, start + ROWS_PER_MAP_CHUNK)) for name in names}
            if any(layers.values()):  # where on the sky each map pixel lands: only for layers spread as maps
                ra, dec = np.radians(rows["ra"]), np.radians(rows["dec"])
                centres = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=1)
                along = geometry.rows_image_directions(rows["axis"], rows["replica"], options.shuffle_replicas)
            for column, with_maps in layers.items():
                value, map_name = SKY_LAYERS[column][:2]
                if not with_maps:
                    part, halos = point_source_maps(options.healpix, rows["ra"], rows["dec"], rows[value])
                else:
                    part, halos = 0.0, 0.0
                    for number in np.unique(rows["snapshot"]):
                        mine = np.flatnonzero(rows["snapshot"] == number)
                        images, pixel = halo_maps(paths[int(number)], map_name, rows["halo_id"][mine],
                                                  rows["axis"][mine])
                        maps = painted_map_maps(options.healpix, centres[mine] * rows["comoving_distance"][mine, None],
                                                rows[value][mine], images, along[mine], np.full(len(mine), pixel))
                        part, halos = part + maps[0], halos + maps[1]
                sums[column] = sums[column] + part
            counts = counts + halos  # any layer's: each halo is counted at its centre's pixel
    return sums, counts


def _write_sky_maps(options: LightconeOptions, snapshots, schema: dict) -> None:
    """OUT_healpix.fits: the HEALPix maps of every SKY_LAYERS column the light-cone has values for, each
    from painted maps where every snapshot stored them (`paint --maps`), else as point sources."""
    layers = {column: all(SKY_LAYERS[column][1] in snapshot.map_names for snapshot in snapshots)
              for column in SKY_LAYERS if SKY_LAYERS[column][0] in schema}
    if not layers:
        return
    sky_path = healpix_path(options.out)
    sums, counts = _sky_maps(options, snapshots, layers)
    modes = {SKY_LAYERS[column][3]: "MAPS" if with_maps else "POINT" for column, with_maps in layers.items()}
    write_healpix(sky_path, {**{column: (sums[column], SKY_LAYERS[column][2]) for column in layers},
                             "HALOS": (counts, "count")},
                  {**modes, "BAND_E1": options.band[0], "BAND_E2": options.band[1], "ZMIN": options.zmin,
                   "ZMAX": options.zmax, "LCFILE": Path(options.out).name})
    get_logger().info("wrote HEALPix maps %s (NSIDE %d, halos as %s) to %s", ", ".join(layers), options.healpix,
                      ", ".join(f"{k} {v}" for k, v in modes.items()), sky_path)


def healpix_path(out) -> Path:
    """Where `--healpix` writes its maps: OUT_healpix.fits beside the light-cone."""
    return Path(out).with_name(Path(out).stem + "_healpix.fits")


COSMOLOGY_ATTRS = ("scale_factor", "hubble", "omega_m", "omega_lambda", "box_size_kpc")
REPLICA_KEY_OFFSET = 1 << 20  # replica offsets made non-negative for seed keys


class PaintedSnapshot:
    """What the light-cone needs of one painted catalog, read once: its cosmology, comoving centres and
    velocities, and every per-axis column with its units and description."""

    def __init__(self, path):
        self.path = Path(path)
        with PaintedCatalog(path) as catalog:
            missing = [key for key in COSMOLOGY_ATTRS if catalog.attr(key) is None]
            if missing:
                raise InputError(f"{path}: painted catalog without the cosmology attributes {missing} (painted "
                                 "by an older mpipaint: paint it again to build a light-cone from it)")
            a, h, om, ol, box = (float(catalog.attr(key)) for key in COSMOLOGY_ATTRS)
            self.snapshot = int(catalog.attr("snapshot", -1))
            redshift = catalog.column("redshift")
            self.cosmology = Cosmology(a, float(redshift[0]) if len(redshift) else 1.0 / a - 1.0, h, om, ol, box)
            self.box_ckpc = box / a
            self.axes = catalog.axes
            self.pixel_ckpc = catalog.spec.pixel_kpc / a
            self.map_names = set(catalog.map_names)
            self.halo_id = catalog.column("halo_id")
            self.centre_ckpc = catalog.column("centre") / a
            unknown = np.full((len(redshift), 3), np.nan)
            self.velocity = catalog.column("velocity") if "velocity" in catalog else unknown
            self.per_halo = {name: (catalog.column(name), catalog.units(name)) for name in ("m200c", "r200c")}
            self.per_axis = {}
            for name, dset in catalog.file.items():
                if (dset.ndim == 2 and name not in PER_HALO_VECTORS and name not in PER_HALO
                        and dset.shape[1] == len(self.axes)):
                    self.per_axis[name] = (dset[()], str(dset.attrs.get("units", "")),
                                           str(dset.attrs.get("description", "")))

    @property
    def distance_kpc(self) -> float:
        return float(self.cosmology.comoving_distance_kpc(self.cosmology.redshift))


def _check_one_box(snapshots) -> None:
    """The snapshots must be of one box and one background: a light-cone through two runs is not one."""
    first = snapshots[0]
    for other in snapshots[1:]:
        if not np.isclose(other.box_ckpc, first.box_ckpc, rtol=1e-6):
            raise InputError(f"{other.path}: a box of {other.box_ckpc:.6g} comoving kpc, but {first.path} is one "
                             f"of {first.box_ckpc:.6g}: the snapshots of a light-cone come from one box")
        if not np.allclose(other.cosmology.background, first.cosmology.background, rtol=1e-6):
            raise InputError(f"{other.path}: cosmology (h, Omega_m, Omega_Lambda) {other.cosmology.background}, "
                             f"but {first.path} has {first.cosmology.background}")
    for other in snapshots[1:]:
        if set(other.per_axis) != set(first.per_axis):
            raise InputError(f"{other.path}: painted columns {sorted(other.per_axis)}, but {first.path} has "
                             f"{sorted(first.per_axis)}: paint the snapshots of a light-cone with the same bundles")
    numbers = [s.snapshot for s in snapshots]
    if len(set(numbers)) != len(numbers):
        raise InputError(f"snapshot numbers {numbers} repeat among {[str(s.path) for s in snapshots]}")


Z_OBS_MARGIN = 0.02  # the X-ray tables reach this far past zmax (peculiar velocities of up to 6000 km/s)


def observed_band(options: LightconeOptions) -> ObservedBand:
    """The run's K-corrections, absorbed fractions and photons per erg on a (T, z) grid."""
    return ObservedBand(options.band, options.zmax + Z_OBS_MARGIN,
                        transmission(options.nh) if options.nh > 0 else None,
                        read_arf(options.arf) if options.arf else None)


def _unit_rows(snapshot: PaintedSnapshot, offset, options: LightconeOptions, d_lo: float, d_hi: float,
               band: ObservedBand) -> dict:
    """The rows of one (snapshot, replica) work unit: every halo in the shell [d_lo, d_hi) and the sky."""
    box, observer = snapshot.box_ckpc, np.asarray(options.observer) * snapshot.box_ckpc
    turn = geometry.replica_turn(options.shuffle_replicas, offset)
    positions = geometry.place(snapshot.centre_ckpc, box, offset, turn, observer)
    ra, dec, distance, directions = geometry.sky_coordinates(positions)
    keep = np.flatnonzero((distance >= d_lo) & (distance < d_hi) & options.sky_region.contains(directions))
    seen = {"ra": ra[keep], "dec": dec[keep], "comoving_distance": distance[keep],
            "z_cos": snapshot.cosmology.redshift_at_distance(distance[keep])}
    return _halo_rows(snapshot, keep, seen, directions[keep], turn, offset, options, band)


def _halo_rows(snapshot: PaintedSnapshot, keep, seen: dict, directions, turn, offset, options: LightconeOptions,
               band: ObservedBand) -> dict:
    """Rows of halos `keep` of a painted snapshot seen at `seen` (ra, dec, comoving distance, z_cos) along
    unit vectors `directions` of a replica turned by `turn`: redshifts, distances, painted values, fluxes."""
    cosmology, z_cos = snapshot.cosmology, seen["z_cos"]
    v_los = np.einsum("ij,ij->i", geometry.turned(snapshot.velocity[keep], turn), directions)
    known = np.isfinite(v_los)
    z_obs = np.where(known, observed_redshift(z_cos, np.where(known, v_los, 0.0)), z_cos)
    axis = geometry.nearest_axis(directions, turn, snapshot.axes)
    rows = {**seen, "z_obs": z_obs, "v_los": np.where(known, v_los, np.nan), "velocity_known": known.astype(np.uint8),
            "d_l": cosmology.luminosity_distance_kpc(z_cos), "d_a": cosmology.angular_diameter_distance_kpc(z_cos),
            "snapshot": np.full(len(keep), snapshot.snapshot, np.int32), "halo_id": snapshot.halo_id[keep],
            "replica": np.broadcast_to(np.asarray(offset, np.int64), (len(keep), 3)).copy(),
            "axis": np.asarray(snapshot.axes, np.int8)[axis]}
    rows.update({name: values[keep] for name, (values, _) in snapshot.per_halo.items()})
    rows.update({name: values[keep, axis] for name, (values, _, _) in snapshot.per_axis.items()})
    _observed_flux(rows, options, band)
    if options.draws:
        _draws(rows, options, band)
    _sky_compton_y(rows)
    return rows


def _sky_compton_y(rows: dict) -> None:
    """y_sr (and y_sr_draws): the painted cylindrical Y [physical kpc^2] over d_A^2, the integrated Compton-y
    of the 4 Mpc square on the sky [sr], where the catalog paints y."""
    name = SUMMARY["y"][0]
    for suffix in ("", "_draws"):
        if name + suffix in rows:
            values = rows[name + suffix]
            rows["y_sr" + suffix] = values / (rows["d_a"] ** 2).reshape((-1,) + (1,) * (values.ndim - 1))


def _listed_rows(snapshot: PaintedSnapshot, listed: dict, options: LightconeOptions, band: ObservedBand) -> dict:
    """Rows of a user's light-cone list (`io.lightcone.read_halo_list`) that name halos of this snapshot, at
    the list's positions and redshifts; its x, y, z are taken to be the box's axes for the nearest
    projection."""
    mine = np.flatnonzero(listed["snapshot"] == snapshot.snapshot)
    order = np.argsort(snapshot.halo_id)
    where = np.searchsorted(snapshot.halo_id, listed["halo_id"][mine], sorter=order)
    found = (where < len(order)) & (snapshot.halo_id[order[np.minimum(where, len(order) - 1)]]
                                    == listed["halo_id"][mine])
    if not found.all():
        first = mine[np.argmin(found)]
        raise InputError(f"{options.halos}: row {first} names halo {listed['halo_id'][first]} of snapshot "
                         f"{snapshot.snapshot}, which {snapshot.path} has not painted ({int((~found).sum())} such "
                         "rows)")
    keep = order[where]
    ra, dec = np.radians(listed["ra"][mine]), np.radians(listed["dec"][mine])
    directions = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=1)
    z_cos = listed["z"][mine]
    seen = {"ra": listed["ra"][mine], "dec": listed["dec"][mine],
            "comoving_distance": snapshot.cosmology.comoving_distance_kpc(z_cos), "z_cos": z_cos}
    return _halo_rows(snapshot, keep, seen, directions, geometry.replica_turn(None, (0, 0, 0)),
                      geometry.USER_LIST_REPLICA, options, band)


def _observed_flux(rows: dict, options: LightconeOptions, band: ObservedBand) -> None:
    """k_corr and flux_x where the catalog paints both Lx and the temperature the K-correction needs; with
    --nh the absorbed flux, with --arf the count rate (of the absorbed spectrum)."""
    lx, kt = SUMMARY["xray"][0], SUMMARY["temperature"][0]
    if lx not in rows or kt not in rows:
        return
    rows["k_corr"] = band(band.k_corr, rows[kt], rows["z_obs"])
    rows["flux_x"] = energy_flux(rows[lx], rows["k_corr"], rows["d_l"], rows["z_cos"], rows["z_obs"])
    received = rows["flux_x"]
    if options.nh > 0:
        received = rows["flux_x_absorbed"] = energy_flux(rows[lx], band(band.k_absorbed, rows[kt], rows["z_obs"]),
                                                         rows["d_l"], rows["z_cos"], rows["z_obs"])
    if options.arf:
        rows["rate"] = received * band(band.photons_per_erg, rows[kt], rows["z_obs"])


def _draws(rows: dict, options: LightconeOptions, band: ObservedBand) -> None:
    """`<q>_draws` (N x K) of every painted quantity q with a `<q>_sigma_dex`, and `flux_x_draws` from the
    drawn Lx and temperature; each row's deviates keyed by (seed, quantity, snapshot, halo, replica)."""
    keys = np.column_stack([rows["snapshot"], rows["halo_id"], rows["replica"] + REPLICA_KEY_OFFSET])
    for index, (target, (name, _, _)) in enumerate(SUMMARY.items()):
        if name in rows and f"{name}_sigma_dex" in rows:
            rows[f"{name}_draws"] = lognormal_draws(rows[name], rows[f"{name}_sigma_dex"],
                                                    [(index, *key) for key in keys], options.seed, options.draws)
    lx, kt = SUMMARY["xray"][0], SUMMARY["temperature"][0]
    if f"{lx}_draws" in rows:
        drawn_kt = rows.get(f"{kt}_draws", rows[kt][:, None])
        rows["flux_x_draws"] = energy_flux(rows[f"{lx}_draws"], band(band.k_corr, drawn_kt, rows["z_obs"][:, None]),
                                           rows["d_l"][:, None], rows["z_cos"][:, None], rows["z_obs"][:, None])


COLUMN_UNITS = {  # name -> (units, description) of the light-cone's own columns
    "ra": ("deg", "right ascension in the replica frame (x, y, z equatorial)"),
    "dec": ("deg", "declination"),
    "comoving_distance": ("ckpc", "comoving distance from the observer"),
    "z_cos": ("", "cosmological redshift at the comoving distance"),
    "z_obs": ("", "observed redshift: z_cos with the line-of-sight peculiar velocity (z_cos where unknown)"),
    "v_los": ("km/s", "line-of-sight peculiar velocity, positive away (NaN: unknown)"),
    "velocity_known": ("", "1: z_obs includes the halo's peculiar velocity; 0: the catalog has none"),
    "d_l": ("kpc", "cosmological luminosity distance (1 + z_cos) D_M"),
    "d_a": ("kpc", "angular-diameter distance D_M / (1 + z_cos)"),
    "snapshot": ("", "snapshot the halo comes from"),
    "halo_id": ("", "halo id in that snapshot's catalog"),
    "replica": ("", "integer offset of the box replica (x, y, z)"),
    "axis": ("", "box axis of the painted projection nearest the line of sight (0=x 1=y 2=z)"),
    "k_corr": ("", f"APEC K-correction L(rest band (1 + z_obs)) / L(rest 0.5-2 keV) at t_mean, "
                   f"Z = {SPECTRA_METALLICITY_SOLAR} solar"),
    "flux_x": ("erg/s/cm^2", "observer-frame energy flux in the file's band_kev, K-corrected, unabsorbed"),
    "flux_x_absorbed": ("erg/s/cm^2", "flux_x through the Galactic column nh_cm2 (tbabs)"),
    "rate": ("counts/s", "count rate in band_kev through the instrument's ARF (of the absorbed spectrum)"),
    "flux_x_draws": ("erg/s/cm^2", "flux_x of each realisation (drawn Lx and temperature)"),
    "y_sr": ("sr", "integrated Compton-y on the sky: y_int / d_a^2 (the painted map's 4 Mpc square)"),
    "y_sr_draws": ("sr", "y_sr of each realisation (drawn y_int)"),
}


def _schema(snapshot: PaintedSnapshot, options: LightconeOptions, band: ObservedBand) -> dict:
    """{name: (dtype, trailing shape, units, description)} of every light-cone column: the rows of no halo."""
    seen = {"ra": np.empty(0), "dec": np.empty(0), "comoving_distance": np.empty(0), "z_cos": np.empty(0)}
    rows = _halo_rows(snapshot, np.empty(0, np.int64), seen, np.empty((0, 3)), geometry.replica_turn(None, (0, 0, 0)),
                      (0, 0, 0), options, band)
    known = {name: (unit, "") for name, (_, unit) in snapshot.per_halo.items()}
    known.update({name: (unit, text) for name, (_, unit, text) in snapshot.per_axis.items()})
    for name in rows:
        base = name[:-len("_draws")] if name.endswith("_draws") else None
        if base in known and name not in COLUMN_UNITS:
            known[name] = (known[base][0], f"lognormal realisations of {base} (sigma: {base}_sigma_dex)")
    return {name: (values.dtype, values.shape[1:], *(COLUMN_UNITS.get(name) or known[name]))
            for name, values in rows.items()}


def _spill_my_units(options: LightconeOptions, snapshots, edges, band: ObservedBand, directory) -> tuple[dict, int]:
    """This rank's share of the work units, made in turn and spilled in batches: ({unit index: where its
    rows are spilled}, the number of units of all ranks). Units: (snapshot, replica) pairs of the tiled box, or the
    snapshots of a user's own list."""
    box = snapshots[0].box_ckpc
    observer = np.asarray(options.observer) * box
    if options.halos is None:
        units = [(k, tuple(offset)) for k in range(len(snapshots))
                 for offset in geometry.replicas_reaching(observer, box, edges[k], edges[k + 1], options.sky_region)]

        def make(unit):
            k, offset = unit
            return _unit_rows(snapshots[k], offset, options, edges[k], edges[k + 1], band)
    else:
        listed = read_halo_list(options.halos, [s.snapshot for s in snapshots])
        units = list(range(len(snapshots)))

        def make(k):
            return _listed_rows(snapshots[k], listed, options, band)
    spilled = SpilledRows(directory, COMM.rank, COMM.size)
    try:
        for index, unit in my_share(enumerate(units)):
            spilled.add(index, make(unit))
    finally:
        mine = spilled.close()
    return mine, len(units)


def run_lightcone(options: LightconeOptions) -> None:
    log = get_logger()
    if COMM.rank == 0:
        check_output(options.out)
    snapshots = [PaintedSnapshot(path) for path in options.painted]
    _check_one_box(snapshots)
    snapshots.sort(key=lambda s: s.distance_kpc)
    cosmology = snapshots[0].cosmology
    d_min, d_max = (float(d) for d in cosmology.comoving_distance_kpc([options.zmin, options.zmax]))
    edges = geometry.shell_edges([s.distance_kpc for s in snapshots], d_min, d_max)
    band = observed_band(options)
    directory = COMM.bcast(spill_directory(options.out) if COMM.rank == 0 else None, root=0)
    try:
        mine, unit_count = _spill_my_units(options, snapshots, edges, band, directory)
        gathered = COMM.gather(mine, root=0)
        if COMM.rank != 0:
            return
        units = {index: where for rank_units in gathered for index, where in rank_units.items()}
        if not sum(where[-1] for where in units.values()):
            raise InputError(f"{', '.join(map(str, options.painted))}: no halo lies in the light-cone (z "
                             f"{options.zmin}..{options.zmax}, sky {options.sky})")
        shells = {"shell_edges_kpc": (edges, "ckpc", "comoving-distance edges of the shells, nearest first"),
                  "shell_snapshots": (np.array([s.snapshot for s in snapshots], np.int32), "",
                                      "the snapshot filling each shell")}
        total = write_lightcone(options.out, _schema(snapshots[0], options, band), units, shells,
                                _file_attrs(options, cosmology, snapshots[0].box_ckpc))
    finally:
        if COMM.rank == 0:
            remove_spill_directory(directory)
    if options.healpix is not None:
        _write_sky_maps(options, snapshots, _schema(snapshots[0], options, band))
    log.info("wrote %d light-cone halos from %d snapshots and %d work units to %s", total, len(snapshots),
             unit_count, options.out)


def _file_attrs(options: LightconeOptions, cosmology: Cosmology, box_ckpc: float) -> dict:
    """The light-cone's root attributes: the cosmology, observer, sky, band and realisations it was made with."""
    return {"mpipaint_version": __version__, "painted": [str(Path(p).resolve()) for p in options.painted],
            "hubble": cosmology.hubble, "omega_m": cosmology.omega_m, "omega_lambda": cosmology.omega_lambda,
            "box_size_ckpc": box_ckpc, "observer_box_units": np.asarray(options.observer), "zmin": options.zmin,
            "zmax": options.zmax, "sky": options.sky, "sky_solid_angle_sr": options.sky_region.solid_angle_sr,
            "cone_deg": np.asarray(options.cone if options.cone is not None else (), np.float64),
            "shuffle_replicas": -1 if options.shuffle_replicas is None else options.shuffle_replicas,
            "band_kev": np.asarray(options.band), "spectra_metallicity_solar": SPECTRA_METALLICITY_SOLAR,
            "nh_cm2": options.nh, "arf": str(Path(options.arf).resolve()) if options.arf else "",
            "draws": options.draws, "seed": options.seed}
