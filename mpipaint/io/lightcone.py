"""The light-cone catalog written by `mpipaint lightcone`: one row per halo seen on the sky, one 1-D (or
N x K, for realisations) dataset per column, each with `units` and `description` attributes; the shells
(`shell_edges_kpc`, `shell_snapshots`), the cosmology, observer and sky as root attributes. Written
whole and renamed into place (`outputs.create_complete`), so a file there is always complete."""
from __future__ import annotations

import numpy as np

from mpipaint.io.hdf5 import FinishedFile, require_dataset
from mpipaint.io.outputs import create_complete, existing_output

KIND = "light-cone catalog"


def write_lightcone(path, columns: dict, shells: dict, attrs: dict) -> None:
    """`columns`: {name: (array, units, description)}; `shells`: {name: (array, units, description)}."""
    existing_output(path, KIND, contains="ra")

    def lay_out(f):
        for name, (values, unit, description) in {**columns, **shells}.items():
            dset = f.create_dataset(name, data=np.asarray(values))
            dset.attrs.update({"units": unit, "description": description})
        f.attrs.update(attrs)
        f.attrs["complete"] = True

    create_complete(path, lay_out)


class LightconeCatalog(FinishedFile):
    """A light-cone catalog open for reading (a context manager)."""

    kind = KIND
    finish_hint = "re-run mpipaint lightcone"

    def _check(self) -> None:
        for name in ("ra", "dec", "z_cos", "z_obs", "snapshot", "halo_id", "replica"):
            require_dataset(self.file, name)

    def column(self, name: str) -> np.ndarray:
        return require_dataset(self.file, name)[()]

    def __len__(self) -> int:
        return len(self.file["ra"])
