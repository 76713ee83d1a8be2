"""The independent reference for gas X-ray luminosities: pyxsim + yt on a snapshot file (tests and
benchmarks compare mpipaint's APEC table path with it)."""
import numpy as np

from mpipaint import units as u
from mpipaint.maps.apec_files import APEC_VERSION, require_apec_tables
from mpipaint.maps.xray import BAND_KEV


def pyxsim_luminosities(snapshot_file):
    """Per-cell 0.5-2 keV luminosity [erg/s] of every gas cell of a snapshot, in file order, and the cells'
    ParticleIDs, from pyxsim's APEC CIESourceModel (same APEC 3.0.8 files) on yt's own load of the snapshot."""
    import pyxsim  # noqa: PLC0415 - heavy imports only where the reference is asked for
    import yt  # noqa: PLC0415

    ds = yt.load(str(snapshot_file))
    source = pyxsim.CIESourceModel("apec", BAND_KEV[0], BAND_KEV[1], 1000, ("gas", "metallicity"),
                                   model_root=str(require_apec_tables()), model_vers=APEC_VERSION,
                                   h_fraction=u.HYDROGEN_MASS_FRACTION)
    source.make_source_fields(ds, *BAND_KEV)
    everything = ds.all_data()
    name = f"xray_luminosity_{BAND_KEV[0]}_{BAND_KEV[1]}_keV"
    return everything[("gas", name)].to_value("erg/s"), everything[("PartType0", "ParticleIDs")].d.astype(np.uint64)
