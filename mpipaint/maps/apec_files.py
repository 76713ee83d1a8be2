"""Where the AtomDB APEC 3.0.8 tables live, and their checksums (installed by scripts/fetch_apec.py)."""
from __future__ import annotations

import os
from pathlib import Path

from mpipaint.errors import InputError

APEC_VERSION = "3.0.8"
APEC_SHA256 = {
    "apec_v3.0.8_coco.fits": "4bffd0110e954c9777f5c1e3cf4f91add7e4b6d67b0a8fd113eb520e4ff44b47",
    "apec_v3.0.8_line.fits": "ce137f8876fb7a428bd271c7638955507ba8a1e04239d55faa8e833c22ccd45f",
}


def apec_dir() -> Path:
    """$MPIPAINT_APEC_DIR, else ~/.local/share/mpipaint/apec."""
    return Path(os.environ.get("MPIPAINT_APEC_DIR", Path.home() / ".local" / "share" / "mpipaint" / "apec"))


def require_apec_tables() -> Path:
    """The APEC directory, or a clear error: there is no silent fallback to a bremsstrahlung-only model."""
    directory = apec_dir()
    missing = [name for name in APEC_SHA256 if not (directory / name).exists()]
    if missing:
        raise InputError(f"{directory}: APEC {APEC_VERSION} tables {missing} not found; run "
                         "`python scripts/fetch_apec.py` or set MPIPAINT_APEC_DIR. mpipaint does not fall back "
                         "to a bremsstrahlung-only emissivity (2-3x low below 2 keV)")
    return directory
