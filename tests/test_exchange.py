"""The slab read strategy: halo membership by index range, by particle ID and by periodic cube against brute
force, and cube-mode training maps that are the same for 1 and 2 ranks and hold exactly the cube's particles."""
import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import run_mpipaint
from mpipaint.io.halotable import read_halo_table
from mpipaint.io.particle_types import DM
from mpipaint.io.snapshot import Snapshot, find_snapshot
from mpipaint.maps.geometry import MapSpec
from mpipaint.parallel import balance_by_cost
from mpipaint.halos.cube_search import CubeSearch
from mpipaint.halos.slabs import IDDirectory, members_by_range
from one_map import dm_map


def brute_force_cube(positions, centres, width, box):
    d = positions[:, None, :] - centres[None, :, :]
    d -= box * np.round(d / box)
    return np.argwhere(np.all(np.abs(d) <= width / 2, axis=2))


@pytest.mark.parametrize("width", [150.0, 400.0, 600.0])  # 3, 2 and 1 cells per side
def test_cube_membership_matches_brute_force(width):
    """Every (particle, halo) pair with the particle in the halo's periodic cube, and no other, for any
    number of cells per side; halos on the box's edges and on cell boundaries, particles just outside [0, box)."""
    rng = np.random.default_rng(5)
    box = 1000.0
    positions = np.vstack([rng.uniform(0, box, (20000, 3)), rng.uniform(-1e-6, 0, (50, 3)),
                           box + rng.uniform(0, 1e-6, (50, 3))])
    centres = np.vstack([rng.uniform(0, box, (30, 3)), [[2.0, 998.0, 500.0], [999.0, 1.0, 0.5]],
                         [[width, 2 * width, 0.0], [box / 3, box / 2, box / 6]]])  # on cell boundaries
    search = CubeSearch(centres, width, box)
    particle, halo = search.members(positions)
    found = sorted(zip(particle.tolist(), halo.tolist()))
    expected = sorted(map(tuple, brute_force_cube(positions, centres, width, box).tolist()))
    assert found == expected and len(found) > 1000


def test_cube_membership_from_code_units_is_that_of_the_physical_positions():
    """Float32 positions in code units (ckpc/h at a = 0.5, h = 0.7) with their factor to physical kpc give
    the pairs brute force finds for the physical float64 positions, on both paths of the search (particles in
    file order, and sorted by cell where the halos' grid outgrows a cache)."""
    rng = np.random.default_rng(8)
    to_kpc, box = 0.5 / 0.7, 1000.0
    code = rng.uniform(0, box / to_kpc, (20000, 3)).astype(np.float32)
    physical = code.astype(np.float64) * to_kpc
    for halos in (40, 40000):
        centres = rng.uniform(0, box, (halos, 3))
        search = CubeSearch(centres, 150.0, box)
        particle, halo = search.members(code, to_kpc)
        if halos < 100:
            expected = sorted(map(tuple, brute_force_cube(physical, centres, 150.0, box).tolist()))
        else:  # brute force is too big here: the same search on the physical positions
            expected = sorted(zip(*map(list, search.members(physical))))
        assert search.sort_particles == (halos > 100)
        assert sorted(zip(particle.tolist(), halo.tolist())) == expected and len(expected) > 100


def test_a_halo_search_reused_over_chunks_of_any_size_finds_each_chunks_pairs():
    """One search serves every chunk of a paint with work arrays kept between chunks: a large chunk, a
    small one and a large one again each give their own pairs (brute force's on the file-order path, a fresh
    search's on the sorted path, where brute force is too big), and what one chunk returned is not changed
    by the next."""
    rng = np.random.default_rng(9)
    box, width = 1000.0, 150.0
    for halos in (40, 40000):
        centres = rng.uniform(0, box, (halos, 3))
        search = CubeSearch(centres, width, box)
        assert search.sort_particles == (halos > 100)
        results, chunks = [], [rng.uniform(0, box, (n, 3)) for n in (6000, 500, 8000)]
        for positions in chunks:
            results.append(search.members(positions))
        for positions, (particle, halo) in zip(chunks, results):
            expected = brute_force_cube(positions, centres, width, box) if halos < 100 else \
                np.array(CubeSearch(centres, width, box).members(positions)).T
            assert sorted(zip(particle.tolist(), halo.tolist())) == sorted(map(tuple, expected.tolist()))
            assert len(particle) > 50


def test_a_halo_search_grid_grows_with_the_halos_and_finds_every_pair():
    """1e5 halos in a box 2000 cube widths across: a grid of at most one cell per halo (46^3, not capped and
    not 2000^3), and every pair found, brute force over the halos for a sample of particles in and near cubes."""
    rng = np.random.default_rng(1)
    box, width = 2_000_000.0, 1000.0
    centres = rng.uniform(0, box, (100_000, 3))
    search = CubeSearch(centres, width, box)
    assert search.ncell == 46 and len(search.cell_start) == 46**3 + 1
    positions = (centres[:1000] + rng.uniform(-0.6 * width, 0.6 * width, (1000, 3))) % box
    particle, halo = search.members(positions)
    found = sorted(zip(particle.tolist(), halo.tolist()))
    expected = [(first + p, h) for first in range(0, len(positions), 100)  # brute force, 100 particles at a time
                for p, h in brute_force_cube(positions[first:first + 100], centres, width, box).tolist()]
    assert found == sorted(expected)
    assert 500 < len(found) < 1000  # a particle within 0.6 widths per axis lies in its own cube with p = 0.58


def test_range_membership_matches_brute_force():
    starts, counts = np.array([0, 100, 250, 900]), np.array([100, 120, 0, 50])
    particle, halo = members_by_range(starts, counts, 80, 930)
    owner = np.full(1000, -1)
    for h, (a, n) in enumerate(zip(starts, counts)):
        owner[a:a + n] = h
    inside = np.flatnonzero(owner[80:930] >= 0)
    np.testing.assert_array_equal(particle, inside)
    np.testing.assert_array_equal(halo, owner[80:930][inside])


class ListedIDs:
    """Member-ID lists held in memory, as a catalog kind's reader gives them (`path`, `total`, `read`)."""

    def __init__(self, ids):
        self.path, self.ids, self.total = "in memory", np.asarray(ids, np.uint64), len(ids)

    def read(self, lo, hi):
        return self.ids[lo:hi]


def test_id_membership_matches_brute_force_with_nested_halos_and_64_bit_ids():
    """Every (particle, halo) pair whose ID the halo lists, once per halo for particles of nested halos (an AHF
    host and its subhalo), IDs above 2^53 carried bit-exact, unneeded halos and non-members left out; the
    fields arrive with their particle."""
    rng = np.random.default_rng(11)
    ids = np.unique(rng.integers(2**60, 2**63, 6000, dtype=np.uint64))[:5000]
    assert len(ids) == 5000 and (ids.astype(np.float64).astype(np.uint64) != ids).any()  # not float64-exact
    ranges = [(0, 400), (400, 300), (700, 1), (701, 0), (701, 600)]  # halo 4 lists halo 0's first 200 again
    member_list = np.concatenate([ids[:700], ids[700:701], ids[1000:1400], ids[:200]])
    halos = pd.DataFrame({"member_offset": [r[0] for r in ranges], "member_count": [r[1] for r in ranges]})
    needed = np.array([0, 2, 3, 4])  # halo 1 is painted already
    directory = IDDirectory(ListedIDs(member_list), halos, needed)
    shuffled = rng.permutation(len(ids))
    values = {"Masses": np.arange(len(ids), dtype=np.float64)[shuffled]}
    records = directory.members(ids[shuffled], 10, values, [("Masses", 1, np.dtype(np.float64))])
    got = sorted((int(h), int(i) - 10) for h, i in records[:, :2])
    position = {int(pid): k for k, pid in enumerate(ids[shuffled])}
    expected = sorted((h, position[int(pid)]) for h in needed for pid in member_list[ranges[h][0]:sum(ranges[h])])
    assert got == expected and len(got) == 400 + 1 + 600
    np.testing.assert_array_equal(records[:, 2], values["Masses"][records[:, 1].astype(np.int64) - 10])


def test_lpt_balances_costs():
    owned = balance_by_cost([7, 5, 4, 3, 3, 2], 2)
    assert owned == [[0, 3, 5], [1, 2, 4]]  # loads 12 and 12


@pytest.fixture(scope="module")
def cube_maps(universe, tmp_path_factory):
    out = tmp_path_factory.mktemp("cube")
    run_mpipaint("select", universe / "FP" / "output", "--snap", "99", "--min-m200c", "2e14",
                 "--out", out / "halos.hdf5")
    args = (universe / "FP" / "output", "--halos", out / "halos.hdf5", "--npix", "32", "--deposition-mode", "cube")
    run_mpipaint("prepare", *args, "--out", out / "one.hdf5")
    run_mpipaint("prepare", *args, "--out", out / "two.hdf5", "--chunk-particles", "40000", ranks=2)
    return out


def test_cube_maps_are_the_same_for_one_and_two_ranks(cube_maps):
    with h5py.File(cube_maps / "one.hdf5") as a, h5py.File(cube_maps / "two.hdf5") as b:
        assert a.attrs["deposition_mode"] == "cube" and sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)


def test_cube_maps_hold_exactly_the_particles_of_the_periodic_cube(cube_maps, universe):
    """Every DM map equals the CIC map of the particles found by brute force over the whole snapshot,
    including halos whose cube crosses the box edge."""
    table = read_halo_table(cube_maps / "halos.hdf5")
    snapshot = Snapshot(find_snapshot(universe / "FP" / "output", 99))
    positions, masses = snapshot.read(DM, "Coordinates"), snapshot.read(DM, "Masses")
    box = snapshot.box_size_kpc
    crossing = 0
    with h5py.File(cube_maps / "one.hdf5") as f:
        width = float(f.attrs["width_kpc"])
        for h in range(len(table)):
            row = table.iloc[h]
            centre = row[["centre_x", "centre_y", "centre_z"]].to_numpy(float)
            d = positions - centre
            d -= box * np.round(d / box)
            inside = np.flatnonzero(np.all(np.abs(d) <= width / 2, axis=1))
            crossing += bool(np.any((centre < width / 2) | (centre > box - width / 2)))
            for k, geometry in enumerate(MapSpec(32, width).geometries(row, (0, 1, 2))):
                expected = dm_map(positions[inside], masses[inside], geometry)
                np.testing.assert_allclose(f["dm"][3 * h + k], expected.astype(np.float32), rtol=1e-6, atol=0)
    assert crossing >= 1
