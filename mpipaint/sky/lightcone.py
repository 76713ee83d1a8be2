"""Light-cone geometry: the periodic box of each snapshot tiled around an observer, each comoving-distance
shell taken from the snapshot nearest in comoving distance, and the halos seen in a region of the sky.

Positions are comoving kpc. The observer sits at `observer` (a point of the box, in box units) of the
replica n = (0, 0, 0); replica n is the box shifted by n L. Shell edges lie halfway (in comoving distance)
between consecutive snapshots, the first starting at D(zmin) and the last ending at D(zmax). With a seed,
each replica's halos are turned by a random permutation of the box axes and reflections about the box's
centre (drawn from the seed and the replica alone), so that one structure does not repeat along a line of
sight; without one, every replica is the box itself.

Sky coordinates: the replica frame's x, y, z are equatorial: RA = atan2(y, x) in [0, 360) deg, Dec =
asin(z / D). The octant is x, y, z >= 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpipaint.maps.geometry import IMAGE_AXES

SKY_KINDS = ("full", "octant", "cone")


@dataclass(frozen=True)
class Sky:
    """Which directions the light-cone keeps: the full sky, the octant, or a cone of `radius_deg` about
    (ra_deg, dec_deg)."""

    kind: str = "full"
    ra_deg: float = 0.0
    dec_deg: float = 0.0
    radius_deg: float = 180.0

    def __post_init__(self):
        if self.kind not in SKY_KINDS:
            raise ValueError(f"sky must be one of {SKY_KINDS}, not {self.kind!r}")
        if self.kind == "cone" and not (0.0 < self.radius_deg <= 180.0 and -90.0 <= self.dec_deg <= 90.0):
            raise ValueError(f"a cone needs 0 < RADIUS <= 180 deg and -90 <= DEC <= 90, got RA {self.ra_deg}, "
                             f"DEC {self.dec_deg}, RADIUS {self.radius_deg}")

    @property
    def solid_angle_sr(self) -> float:
        if self.kind == "full":
            return 4.0 * np.pi
        if self.kind == "octant":
            return 0.5 * np.pi
        return 2.0 * np.pi * (1.0 - np.cos(np.radians(self.radius_deg)))

    def _axis(self) -> np.ndarray:
        ra, dec = np.radians(self.ra_deg), np.radians(self.dec_deg)
        return np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])

    def contains(self, directions) -> np.ndarray:
        """Per unit vector (N, 3): whether it points into the region."""
        if self.kind == "full":
            return np.ones(len(directions), bool)
        if self.kind == "octant":
            return (directions >= 0.0).all(axis=1)
        return directions @ self._axis() >= np.cos(np.radians(self.radius_deg))

    def may_reach(self, lower, upper) -> bool:
        """Whether any direction of the region can point into the axis-aligned box [lower, upper) (relative
        to the observer): a cheap test that lets whole replicas be skipped."""
        if self.kind == "full":
            return True
        if self.kind == "octant":
            return bool((np.asarray(upper) > 0.0).all())
        centre, half_diagonal = 0.5 * (lower + upper), 0.5 * np.linalg.norm(upper - lower)
        distance = np.linalg.norm(centre)
        if distance <= half_diagonal:
            return True
        opening = np.arcsin(min(1.0, half_diagonal / distance))
        return bool(np.arccos(np.clip(centre @ self._axis() / distance, -1, 1))
                    <= np.radians(self.radius_deg) + opening)


def shell_edges(snapshot_distances, d_min: float, d_max: float) -> np.ndarray:
    """Edges [comoving kpc] of the shell each snapshot fills, in the order given (increasing distance):
    halfway between neighbours, clipped to [d_min, d_max]."""
    distances = np.asarray(snapshot_distances, np.float64)
    middles = 0.5 * (distances[1:] + distances[:-1])
    return np.clip(np.concatenate([[d_min], middles, [d_max]]), d_min, d_max)


def replicas_reaching(observer, box: float, d_lo: float, d_hi: float, sky: Sky) -> np.ndarray:
    """(M, 3) integer offsets of the replicas whose box holds points at distances [d_lo, d_hi) from the
    observer (comoving kpc) in a direction of `sky`, in lexicographic order."""
    if d_hi <= d_lo:
        return np.empty((0, 3), np.int64)
    reach = int(np.ceil(d_hi / box)) + 1
    steps = np.arange(-reach, reach + 1)
    offsets = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    lower = offsets * box - np.asarray(observer, np.float64)
    upper = lower + box
    nearest = np.linalg.norm(np.clip(0.0, lower, upper), axis=1)  # the box point nearest the observer
    farthest = np.linalg.norm(np.maximum(np.abs(lower), np.abs(upper)), axis=1)
    keep = (nearest < d_hi) & (farthest >= d_lo)
    keep &= np.array([sky.may_reach(lo, hi) for lo, hi in zip(lower, upper)]) if keep.any() else keep
    return offsets[keep]


def replica_turn(seed: int | None, offset) -> tuple[np.ndarray, np.ndarray]:
    """(permutation, signs) of replica `offset`: new axis i is old axis permutation[i], times signs[i];
    the identity without a seed. Drawn from the seed and the offset alone (any rank, any order)."""
    if seed is None:
        return np.arange(3), np.ones(3)
    rng = np.random.default_rng([int(seed), *(int(k) + (1 << 20) for k in offset)])
    return rng.permutation(3), rng.choice([-1.0, 1.0], 3)


def place(centres, box: float, offset, turn, observer) -> np.ndarray:
    """Comoving positions of a snapshot's halo centres (N, 3) in replica `offset`, turned, relative to the
    observer."""
    permutation, signs = turn
    inside = (np.asarray(centres, np.float64) % box - 0.5 * box)[:, permutation] * signs + 0.5 * box
    return inside + np.asarray(offset, np.float64) * box - np.asarray(observer, np.float64)


def turned(vectors, turn) -> np.ndarray:
    """Vectors (velocities) of the box in a turned replica's frame."""
    permutation, signs = turn
    return np.asarray(vectors, np.float64)[:, permutation] * signs


def image_directions(image_axes, turn) -> np.ndarray:
    """(2, 3) unit vectors, in the replica frame, along a painted map's first and second index: the box axes
    `image_axes` turned with the replica."""
    return turned(np.eye(3)[list(image_axes)], turn)


USER_LIST_REPLICA = (-1, -1, -1)  # the `replica` of rows from a user's own light-cone list: not turned


def rows_image_directions(axes, replicas, seed: int | None) -> np.ndarray:
    """(N, 2, 3): per light-cone row, `image_directions` of its painted projection along box axis `axes[k]`
    in replica `replicas[k]` turned by `seed` (`--shuffle-replicas`)."""
    return np.stack([image_directions(IMAGE_AXES[int(a)], replica_turn(None if tuple(r) == USER_LIST_REPLICA
                                                                        else seed, r))
                     for a, r in zip(axes, replicas)]).reshape(-1, 2, 3)


def tangent_plane_matrix(ra_deg: float, dec_deg: float, along, pixel_ckpc: float, distance_ckpc: float) -> np.ndarray:
    """The FITS CD matrix [deg per pixel] of a painted map seen at (ra, dec) and comoving distance: FITS
    axis 1 runs along the map's second index, axis 2 along its first (`along`, from `image_directions`);
    rows are the east and north components of the gnomonic (TAN) projection at the map's centre, to first
    order in the map's size (4 Mpc at >= 100 Mpc: 1e-3 and below), foreshortening of a tilted map included."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    east = np.array([-np.sin(ra), np.cos(ra), 0.0])
    north = np.array([-np.sin(dec) * np.cos(ra), -np.sin(dec) * np.sin(ra), np.cos(dec)])
    first, second = np.asarray(along, np.float64)
    scale = np.degrees(pixel_ckpc / distance_ckpc)
    return scale * np.array([[east @ second, east @ first], [north @ second, north @ first]])


def nearest_axis(directions, turn, painted_axes) -> np.ndarray:
    """Per line of sight (unit vectors in the replica frame), the index into `painted_axes` of the painted
    projection whose box axis lies nearest it."""
    permutation, signs = turn
    in_box = np.empty_like(directions)
    in_box[:, permutation] = directions * signs  # the line of sight in the snapshot's own axes
    return np.argmax(np.abs(in_box[:, list(painted_axes)]), axis=1)


def sky_coordinates(positions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ra [deg] in [0, 360), dec [deg], comoving distance [kpc], unit vectors) of positions relative to the
    observer."""
    distance = np.linalg.norm(positions, axis=1)
    directions = positions / np.maximum(distance, 1e-300)[:, None]
    ra = np.degrees(np.arctan2(directions[:, 1], directions[:, 0])) % 360.0
    ra[ra >= 360.0] = 0.0  # a hair below 0 wraps to 360.0 in floating point
    dec = np.degrees(np.arcsin(np.clip(directions[:, 2], -1.0, 1.0)))
    return ra, dec, distance, directions
